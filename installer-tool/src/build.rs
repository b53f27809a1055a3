//! The build-pkg pipeline: config -> executables -> bundle -> sign (and
//! notarize the app) -> product archive -> pkg signature (and notarize the
//! pkg), with nothing left at the output path unless every step succeeded;
//! a signed pkg whose notarization failed is kept, to resume on.

use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    time::Instant,
};

use flatpkg::{
    payload::{ArchiveSettings, ArchiveSummary, ArchiveWriter},
    tree::TreeEntry,
};
use notary::{api_key::TokenSource, file_digest::sha256_file, NotarizeOptions, NotaryError};

use crate::{
    bundle::{self, BundleError},
    config::Release,
    executables::{self, ExecutableSource, ExecutablesError},
    pkg::{self, signing_split, ArchiveInputs, PkgError},
    progress::{NotaryProgress, Progress},
    provisioning::{self, ProvisioningError},
    report::{BuildReport, PayloadReport, StepTimings},
    signing::{self, BundleSigning, Purpose, SignOptions, SigningError, SigningIdentity},
};

/// Where a signing identity comes from.
#[derive(Clone, Debug)]
pub enum IdentityChoice {
    /// A p12 file and the name of the environment variable holding its password.
    P12 {
        path: PathBuf,
        password_env: &'static str,
    },
    /// A fresh self-signed Developer ID identity (tests, demo).
    SelfSigned,
}

/// Whether signatures get a secure time-stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timestamp {
    /// Apple's server when the identity chains to Apple, none otherwise.
    Auto,
    Url(String),
    Off,
}

#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub release: Release,
    pub executables: ExecutableSource,
    pub app_identity: IdentityChoice,
    pub installer_identity: IdentityChoice,
    /// Sign the app ad-hoc (never the pkg, which cannot be ad-hoc signed).
    pub dev: bool,
    pub output_dir: PathBuf,
    pub source_date_epoch: Option<i64>,
    pub timestamp: Timestamp,
    /// Also keep the unsigned product archive next to the signed one.
    pub keep_unsigned: bool,
    pub threads: usize,
    /// Payload deflate level, 1 (fastest) to 9 (smallest).
    pub compression_level: u32,
    /// Notarize and staple the app before packaging it, then the pkg.
    pub notarize: Option<NotarizeRequest>,
}

/// How `build-pkg --notarize` reaches the notary service.
#[derive(Clone, Debug)]
pub struct NotarizeRequest {
    pub tokens: Arc<TokenSource>,
    pub options: NotarizeOptions,
}

/// Forwards only what a step waits on, so a wait inside another step's
/// progress (the app's notarization under the payload bar) shows up there
/// without taking the bar over.
struct StatusOnly<'a>(&'a dyn Progress);

impl NotaryProgress for StatusOnly<'_> {
    fn begin(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
    fn status(&self, message: &str) {
        self.0.status(message);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "output directory {path} is not writable\nhelp: create it or pass a writable --output-dir"
    )]
    OutputDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password for {path} is not set\nhelp: export ${env} (passwords are read from the environment only, never from flags)")]
    MissingPassword { path: PathBuf, env: &'static str },
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Provisioning(#[from] ProvisioningError),
    #[error(transparent)]
    Executables(#[from] ExecutablesError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Package(#[from] PkgError),
    #[error(transparent)]
    Notary(#[from] NotaryError),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn load_identity(
    choice: &IdentityChoice,
    purpose: Purpose,
    release: &Release,
) -> Result<SigningIdentity, BuildError> {
    match choice {
        IdentityChoice::P12 { path, password_env } => {
            let password = std::env::var(password_env)
                .map(zeroize::Zeroizing::new)
                .map_err(|_| BuildError::MissingPassword {
                    path: path.clone(),
                    env: password_env,
                })?;
            Ok(SigningIdentity::from_p12(
                path,
                &password,
                password_env,
                purpose,
                &release.team_id,
            )?)
        }
        IdentityChoice::SelfSigned => Ok(SigningIdentity::self_signed(
            purpose,
            &release.team_id,
            &format!("{} (self-signed test identity)", release.name),
        )?),
    }
}

fn timestamp_url(choice: &Timestamp, identity: Option<&SigningIdentity>) -> Option<String> {
    match choice {
        Timestamp::Off => None,
        Timestamp::Url(url) => identity.map(|_| url.clone()),
        Timestamp::Auto => identity
            .filter(|i| i.chains_to_apple())
            .map(|_| signing::APPLE_TIMESTAMP_URL.to_string()),
    }
}

fn millis(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Signs the staged app with `sign` while the files signing does not touch
/// (`early`) are compressed, then archives what signing wrote. Signing is
/// hashing on one core; compression wants every core, so this keeps both
/// busy. Returns the payload and how long signing took.
fn sign_while_archiving(
    stage: &Path,
    early: Vec<TreeEntry>,
    payload_path: &Path,
    settings: &ArchiveSettings,
    progress: &dyn Progress,
    sign: impl FnOnce() -> Result<(), BuildError>,
) -> Result<(ArchiveSummary, u64), BuildError> {
    std::thread::scope(|scope| {
        let (late_tx, late_rx) = mpsc::channel::<Vec<TreeEntry>>();
        let early = &early;
        let archiver = scope.spawn(move || -> Result<ArchiveSummary, PkgError> {
            let mut writer = ArchiveWriter::create(payload_path, settings)?;
            writer.append(early, progress)?;
            // A closed channel means signing failed; its error is reported.
            let late = late_rx.recv().map_err(|_| PkgError::Abandoned)?;
            writer.append(&late, progress)?;
            Ok(writer.finish()?)
        });
        let started = Instant::now();
        let late = sign().and_then(|()| {
            let rescanned = pkg::staged_tree(stage)?;
            Ok(signing_split::remaining_after_signing(early, rescanned).map_err(PkgError::from)?)
        });
        let sign_ms = millis(started);
        match late {
            Ok(late) => {
                // The archiver stops receiving only after failing; its error wins.
                let _ = late_tx.send(late);
                let payload = archiver.join().expect("the archiver does not panic")?;
                Ok((payload, sign_ms))
            }
            Err(error) => {
                drop(late_tx);
                let _ = archiver.join();
                Err(error)
            }
        }
    })
}

/// Runs the whole pipeline and returns the report of what was written.
pub fn build(request: &BuildRequest, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let release = &request.release;
    let output_error = |source| BuildError::OutputDir {
        path: request.output_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&request.output_dir).map_err(output_error)?;
    // The work directory lives in the output directory: that proves it is
    // writable before any work is done, and keeps the final rename atomic.
    let work = tempfile::Builder::new()
        .prefix(".installer-tool-")
        .tempdir_in(&request.output_dir)
        .map_err(output_error)?;

    let app_identity = if request.dev && !matches!(request.app_identity, IdentityChoice::P12 { .. })
    {
        None
    } else {
        Some(load_identity(
            &request.app_identity,
            Purpose::Application,
            release,
        )?)
    };
    // The profiles are checked once the certificate they must list is
    // known, before anything is compiled or assembled.
    provisioning::check_release(
        release,
        app_identity.as_ref().map(|i| &i.certificate),
        chrono::Utc::now(),
    )?;
    let installer_identity =
        load_identity(&request.installer_identity, Purpose::Installer, release)?;
    let epoch = request.source_date_epoch;
    let signing_time = epoch.and_then(|e| chrono::DateTime::from_timestamp(e, 0));
    let app_options = SignOptions {
        timestamp_url: timestamp_url(&request.timestamp, app_identity.as_ref()),
        signing_time,
    };
    let pkg_timestamp_url = timestamp_url(&request.timestamp, Some(&installer_identity));

    let step = Instant::now();
    let executables = executables::provide(&request.executables, release, work.path())?;
    // Assembled where the payload is taken from and signed in place there:
    // copying a large bundle once more costs as much as hashing it.
    let stage = work.path().join("stage");
    let assembled = bundle::assemble(release, &executables, &stage.join("Applications"))?;
    let assemble_ms = millis(step);

    let inputs = ArchiveInputs {
        epoch: epoch.unwrap_or(0),
        threads: request.threads,
        level: request.compression_level,
    };
    let step = Instant::now();
    let early =
        signing_split::untouched_by_signing(pkg::staged_tree(&stage)?).map_err(PkgError::from)?;
    let expected_bytes = early.iter().map(|e| e.size).sum::<u64>() + executables.total_size();
    progress.begin("payload", Some(expected_bytes));
    let signing = BundleSigning {
        app_entitlements: &release.app_entitlements,
        extension_path: &assembled.extension_relative,
        extension_entitlements: &release.extension_entitlements,
        team: &release.team_id,
    };
    let mut notarization = Vec::new();
    let (payload, sign_app_ms) = sign_while_archiving(
        &stage,
        early,
        &work.path().join("Payload"),
        &pkg::payload_settings(&inputs),
        progress,
        || {
            signing::sign_app_bundle_in_place(
                &assembled.path,
                app_identity.as_ref(),
                &signing,
                &app_options,
            )?;
            // The installed app carries its own ticket: the postinstall
            // has Gatekeeper ingest it before the first launch.
            if let Some(notarize) = &request.notarize {
                notarization.push(notary::notarize(
                    &assembled.path,
                    &notarize.tokens,
                    &notarize.options,
                    &StatusOnly(progress),
                )?);
            }
            Ok(())
        },
    )?;
    progress.end();
    let payload_ms = millis(step);

    let step = Instant::now();
    let stem = format!("{}-{}", release.app.bundle_name, release.version);
    let product = pkg::product_archive(release, payload, work.path(), &inputs)?;
    // The unsigned archive is signed straight from its parts; it is written
    // out only when asked for.
    let unsigned = if request.keep_unsigned {
        let path = work.path().join(format!("{stem}-unsigned.pkg"));
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
    progress.begin("sign pkg", None);
    let signed = work.path().join(format!("{stem}.pkg"));
    signing::sign_package(
        product.archive.reader().map_err(PkgError::from)?,
        &signed,
        &installer_identity,
        pkg_timestamp_url.as_deref(),
    )?;
    progress.end();
    let sign_pkg_ms = millis(step);

    let persist = |from: &Path| {
        let to = request
            .output_dir
            .join(from.file_name().expect("work files have names"));
        std::fs::rename(from, &to).map_err(|source| BuildError::Write {
            path: to.clone(),
            source,
        })?;
        Ok::<_, BuildError>(to)
    };
    let unsigned_path = unsigned.as_deref().map(persist).transpose()?;
    let final_path = persist(&signed)?;
    // Notarized where it lands: if the wait times out, the pkg is there for
    // `notarize --submission-id` to resume on.
    if let Some(notarize) = &request.notarize {
        notarization.push(notary::notarize(
            &final_path,
            &notarize.tokens,
            &notarize.options,
            progress,
        )?);
    }
    let (pkg_size, pkg_sha256) = sha256_file(&final_path).map_err(|source| BuildError::Write {
        path: final_path.clone(),
        source,
    })?;

    let mut identities = vec![match &app_identity {
        Some(identity) => {
            identity.summary(Purpose::Application, app_options.timestamp_url.is_some())
        }
        None => signing::ad_hoc_summary(),
    }];
    identities.push(installer_identity.summary(Purpose::Installer, pkg_timestamp_url.is_some()));

    Ok(BuildReport {
        schema_version: BuildReport::SCHEMA_VERSION,
        pkg: final_path,
        pkg_size,
        pkg_sha256,
        unsigned_pkg: unsigned_path,
        product: release.name.clone(),
        version: release.version.to_string(),
        app_bundle_id: release.app.bundle_id.to_string(),
        extension_bundle_id: release.extension.bundle_id.to_string(),
        service_name: release.service_name.to_string(),
        executables: request.executables.describe(),
        stand_ins: request.executables == ExecutableSource::StandIns,
        identities,
        notarization,
        payload: PayloadReport {
            component: product.component,
            compressed_size: product.payload.compressed_size,
            content_size: product.payload.content_size,
            entries: product.payload.entries,
            sha1: hex::encode(product.payload.sha1),
            bom_size: product.bom_size,
        },
        timings: StepTimings {
            assemble_ms,
            sign_app_ms,
            payload_ms,
            package_ms,
            sign_pkg_ms,
            total_ms: millis(started),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpn_release::TeamId;

    #[test]
    fn only_apple_issued_identities_get_a_timestamp_by_default() {
        let team: TeamId = "ABCDE12345".parse().unwrap();
        let self_signed = SigningIdentity::self_signed(Purpose::Installer, &team, "Test").unwrap();
        assert_eq!(timestamp_url(&Timestamp::Auto, Some(&self_signed)), None);
        assert_eq!(timestamp_url(&Timestamp::Off, Some(&self_signed)), None);
        assert_eq!(
            timestamp_url(
                &Timestamp::Url("http://ts.example/".into()),
                Some(&self_signed)
            ),
            Some("http://ts.example/".into())
        );
        // Ad-hoc signatures carry no time-stamp whatever is asked.
        assert_eq!(
            timestamp_url(&Timestamp::Url("http://ts.example/".into()), None),
            None
        );
    }
}
