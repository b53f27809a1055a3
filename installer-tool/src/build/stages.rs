//! The stages of build-pkg, each taking the artefact of the one before and
//! returning its own:
//!
//! ```text
//! Assembled -> SignedApp -> NotarizedApp -> Payload -> SignedPkg -> NotarizedPkg
//! ```
//!
//! The payload is the one stage that starts early: what signing leaves alone
//! is compressed by a [`PayloadArchiver`] while the app is signed and
//! notarized, and what they wrote is archived once they are done. The
//! archiver's read of each resource also gives the signer its digests
//! ([`ResourceDigests`]), so no resource is read twice.

use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    thread::{Scope, ScopedJoinHandle},
    time::Instant,
};

use flatpkg::payload::{ArchiveSettings, ArchiveSummary, ArchiveWriter};
use flatpkg::tree::TreeEntry;
use notary::{NotarizeReport, NotaryProgress};

use super::{millis, BuildError, Pipeline};
use crate::{
    bundle::{self, AssembledApp},
    executables,
    pkg::{self, signing_split, PkgError, ProductSummary},
    progress::{ArchiveProgress, Progress},
    signing::{self, BundleSigning, ResourceDigester, ResourceDigests},
};

/// The app bundle, unsigned, staged where the payload is taken from (it is
/// signed in place: copying a large bundle once more costs as much as
/// hashing it).
pub struct Assembled {
    pub app: AssembledApp,
    /// The payload's root (it holds `Applications/Name.app`).
    pub stage: PathBuf,
    pub executables_size: u64,
    pub ms: u64,
}

/// The app bundle, signed inside-out.
pub struct SignedApp {
    pub app: AssembledApp,
    pub ms: u64,
}

/// The signed app, with its ticket stapled when it was notarized.
pub struct NotarizedApp {
    pub app: AssembledApp,
    pub notarization: Option<NotarizeReport>,
}

/// The gzipped cpio payload of the signed (and stapled) app.
pub struct Payload {
    pub archive: ArchiveSummary,
    /// From the start of signing to the last byte.
    pub ms: u64,
}

/// The signed product archive, still in the work directory.
pub struct SignedPkg {
    pub path: PathBuf,
    /// The unsigned archive, when asked for.
    pub unsigned: Option<PathBuf>,
    /// The uninstaller pkg, signed with the same identity.
    pub uninstaller: PathBuf,
    pub product: ProductSummary,
    pub package_ms: u64,
    pub sign_ms: u64,
}

/// The pkg at its final path, notarized and stapled when asked for.
pub struct NotarizedPkg {
    pub path: PathBuf,
    pub unsigned: Option<PathBuf>,
    pub uninstaller: PathBuf,
    /// The pkg's, then the uninstaller's (`--notarize`).
    pub notarization: Vec<NotarizeReport>,
}

/// Forwards only what a step waits on, so the app's notarization, which
/// runs under the payload's bar, shows there without taking the bar over.
struct StatusOnly<'a>(&'a dyn Progress);

impl NotaryProgress for StatusOnly<'_> {
    fn begin(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
    fn status(&self, message: &str) {
        self.0.status(message);
    }
}

impl Pipeline<'_> {
    pub fn assemble(&self) -> Result<Assembled, BuildError> {
        let step = Instant::now();
        let executables = executables::provide(&self.request.executables, self.release, self.work)?;
        let stage = self.work.join("stage");
        let app = bundle::assemble(self.release, &executables, &stage.join("Applications"))?;
        Ok(Assembled {
            app,
            stage,
            executables_size: executables.total_size(),
            ms: millis(step),
        })
    }

    /// Signs the app, sealing resources with the digests `digests` gives.
    pub fn sign_app(
        &self,
        assembled: Assembled,
        digests: &ResourceDigests,
    ) -> Result<SignedApp, BuildError> {
        let step = Instant::now();
        let release = self.release;
        signing::sign_app_bundle_in_place(
            &assembled.app.path,
            self.app_identity.as_ref(),
            &BundleSigning {
                app_entitlements: &release.app_entitlements,
                extension_path: &assembled.app.extension_relative,
                extension_entitlements: &release.extension_entitlements,
                team: &release.team_id,
            },
            &self.app_options,
            digests,
        )?;
        Ok(SignedApp {
            app: assembled.app,
            ms: millis(step),
        })
    }

    /// The installed app carries its own ticket: the postinstall has
    /// Gatekeeper ingest it before the first launch.
    pub fn notarize_app(&self, signed: SignedApp) -> Result<NotarizedApp, BuildError> {
        let notarization = match &self.request.notarize {
            Some(notarize) => Some(notary::notarize(
                &signed.app.path,
                &notarize.tokens,
                &notarize.options,
                &StatusOnly(self.progress),
            )?),
            None => None,
        };
        Ok(NotarizedApp {
            app: signed.app,
            notarization,
        })
    }

    /// The product archive around the payload, and the uninstaller, signed.
    /// The unsigned archive is signed straight from its parts; it is written
    /// out only when asked.
    pub fn sign_pkg(&self, payload: Payload) -> Result<SignedPkg, BuildError> {
        let step = Instant::now();
        let release = self.release;
        let stem = format!("{}-{}", release.app.bundle_name, release.version);
        let product = pkg::product_archive(release, payload.archive, self.work, &self.inputs)?;
        let unsigned = if self.request.keep_unsigned {
            let path = self.work.join(format!("{stem}-unsigned.pkg"));
            let mut file = std::fs::File::create(&path).map_err(|source| BuildError::Write {
                path: path.clone(),
                source,
            })?;
            product
                .archive
                .write_to(&mut file)
                .map_err(PkgError::from)?;
            Some(path)
        } else {
            None
        };
        let package_ms = millis(step);

        let step = Instant::now();
        self.progress.begin("sign pkg", None);
        let path = self.work.join(format!("{stem}.pkg"));
        signing::sign_package(
            product.archive.reader().map_err(PkgError::from)?,
            &path,
            &self.installer_identity,
            self.pkg_timestamp_url.as_deref(),
        )?;
        let uninstaller = self.work.join(pkg::uninstaller_file_name(release));
        signing::sign_package(
            pkg::uninstaller_archive(release, self.work, &self.inputs)?
                .reader()
                .map_err(PkgError::from)?,
            &uninstaller,
            &self.installer_identity,
            self.pkg_timestamp_url.as_deref(),
        )?;
        self.progress.end();
        Ok(SignedPkg {
            path,
            unsigned,
            uninstaller,
            product,
            package_ms,
            sign_ms: millis(step),
        })
    }

    /// Moves the pkgs to the output directory, then notarizes them where
    /// they land: if a wait times out, the pkg is there for `notarize
    /// --submission-id` to resume on.
    pub fn notarize_pkg(&self, signed: &SignedPkg) -> Result<NotarizedPkg, BuildError> {
        let persist = |from: &Path| {
            let to = self
                .request
                .output_dir
                .join(from.file_name().expect("work files have names"));
            std::fs::rename(from, &to).map_err(|source| BuildError::Write {
                path: to.clone(),
                source,
            })?;
            Ok::<_, BuildError>(to)
        };
        let unsigned = signed.unsigned.as_deref().map(persist).transpose()?;
        let path = persist(&signed.path)?;
        let uninstaller = persist(&signed.uninstaller)?;
        let mut notarization = Vec::new();
        if let Some(notarize) = &self.request.notarize {
            for pkg in [&path, &uninstaller] {
                notarization.push(notary::notarize(
                    pkg,
                    &notarize.tokens,
                    &notarize.options,
                    self.progress,
                )?);
            }
        }
        Ok(NotarizedPkg {
            path,
            unsigned,
            uninstaller,
            notarization,
        })
    }
}

/// Compresses the payload alongside signing: the files signing does not
/// touch at once, the rest when [`finish`](Self::finish) hands over the
/// signed tree. Every file archived early is checked to be as it was, so a
/// signer that touched more than expected fails the build instead of
/// shipping a payload that disagrees with its signature.
pub struct PayloadArchiver<'scope> {
    stage: PathBuf,
    /// The early files' digests, published as they are archived.
    digests: Arc<ResourceDigests>,
    signed_tree: mpsc::Sender<Vec<TreeEntry>>,
    thread: ScopedJoinHandle<'scope, Result<ArchiveSummary, PkgError>>,
    started: Instant,
}

impl<'scope> PayloadArchiver<'scope> {
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        assembled: &Assembled,
        out: PathBuf,
        settings: ArchiveSettings,
        progress: &'env dyn ArchiveProgress,
    ) -> Result<(Self, u64), BuildError> {
        let started = Instant::now();
        let early = signing_split::untouched_by_signing(pkg::staged_tree(&assembled.stage)?)
            .map_err(PkgError::from)?;
        let expected_bytes = early.iter().map(|e| e.size).sum::<u64>() + assembled.executables_size;
        let (signed_tree, receive) = mpsc::channel::<Vec<TreeEntry>>();
        let digests = Arc::new(ResourceDigests::expecting(&early));
        let published = Arc::clone(&digests);
        let thread = scope.spawn(move || {
            // First: however this thread ends, dropping the digester tells a
            // waiting signer that nothing more comes.
            let mut digester = ResourceDigester::new(&published);
            let mut writer = ArchiveWriter::create(&out, &settings)?;
            writer.append_observed(&early, progress, &mut digester)?;
            drop(digester);
            // A closed channel means a stage failed; its error is reported.
            let signed = receive.recv().map_err(|_| PkgError::Abandoned)?;
            let late = signing_split::remaining_after_signing(&early, signed)?;
            writer.append(&late, progress)?;
            Ok(writer.finish()?)
        });
        let archiver = Self {
            stage: assembled.stage.clone(),
            digests,
            signed_tree,
            thread,
            started,
        };
        Ok((archiver, expected_bytes))
    }

    /// What the signer seals resources with.
    pub fn resource_digests(&self) -> &ResourceDigests {
        &self.digests
    }

    /// Archives what signing and stapling wrote, once `_app` is final.
    pub fn finish(self, _app: &NotarizedApp) -> Result<Payload, BuildError> {
        let signed = pkg::staged_tree(&self.stage)?;
        // The archiver stops receiving only after failing; its error wins.
        let _ = self.signed_tree.send(signed);
        let archive = self.thread.join().expect("the archiver does not panic")?;
        Ok(Payload {
            archive,
            ms: millis(self.started),
        })
    }
}
