//! The build-pkg pipeline: config -> executables -> bundle -> sign (and
//! notarize the app) -> product archive -> pkg signature (and notarize the
//! pkg), with nothing left at the output path unless every step succeeded;
//! a signed pkg whose notarization failed is kept, to resume on.
//!
//! [`build`] is one straight line of [`stages`], each returning a typed
//! artefact.

pub mod stages;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use notary::{api_key::TokenSource, file_digest::sha256_file, NotarizeOptions, NotaryError};

use crate::{
    bundle::BundleError,
    config::Release,
    doctor::{self, Finding, Severity},
    executables::{ExecutableSource, ExecutablesError},
    pkg::{self, ArchiveInputs, PkgError},
    progress::Progress,
    provisioning::{self, ProvisioningError},
    report::{BuildReport, PayloadReport, StepTimings},
    signing::{self, Purpose, SignOptions, SigningError, SigningIdentity},
};
use stages::PayloadArchiver;

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

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("output directory {path} is not writable")]
    OutputDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password for {path} is not set")]
    MissingPassword { path: PathBuf, env: &'static str },
    #[error("the release has {} problem(s) that stop a build; the first: {}", .0.len(), describe(&.0[0]))]
    Findings(Vec<Finding>),
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

impl BuildError {
    /// What to change, in one line. Notary errors are left to the caller,
    /// which knows how its user resumes a submission.
    pub fn help(&self) -> Option<String> {
        match self {
            Self::OutputDir { .. } => Some("create it or pass a writable --output-dir".into()),
            Self::MissingPassword { env, .. } => Some(format!(
                "export ${env} (passwords are read from the environment only, never from flags)"
            )),
            Self::Findings(findings) => Some(format!(
                "{} (`installer-tool doctor` lists every problem)",
                findings[0].fix
            )),
            Self::Signing(error) => error.help(),
            Self::Provisioning(error) => error.help(),
            Self::Executables(error) => error.help(),
            Self::Bundle(error) => error.help(),
            Self::Package(_) | Self::Notary(_) | Self::Write { .. } => None,
        }
    }
}

fn describe(finding: &Finding) -> String {
    format!(
        "[{}] {} `{}`: {}",
        finding.id,
        finding.file.display(),
        finding.field,
        finding.problem
    )
}

/// Stops a build on what doctor reports as errors. A `--dev` build may
/// carry debugging entitlements: it is signed ad-hoc for a developer's own
/// machine.
fn check_findings(
    request: &BuildRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), BuildError> {
    let errors: Vec<Finding> = doctor::release_findings(&request.release, now)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| !(request.dev && f.id == doctor::DEBUGGING_ENTITLEMENT))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(BuildError::Findings(errors))
    }
}

/// The identity `choice` names, checked for `purpose` and the release's team.
pub fn load_identity(
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

/// What every stage reads: the request, the identities and the work
/// directory.
struct Pipeline<'a> {
    request: &'a BuildRequest,
    release: &'a Release,
    work: &'a Path,
    app_identity: Option<SigningIdentity>,
    app_options: SignOptions,
    installer_identity: SigningIdentity,
    pkg_timestamp_url: Option<String>,
    inputs: ArchiveInputs,
    progress: &'a dyn Progress,
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
    check_findings(request, chrono::Utc::now())?;
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
    let pipeline = Pipeline {
        request,
        release,
        work: work.path(),
        app_options: SignOptions {
            timestamp_url: timestamp_url(&request.timestamp, app_identity.as_ref()),
            signing_time: epoch.and_then(|e| chrono::DateTime::from_timestamp(e, 0)),
        },
        app_identity,
        pkg_timestamp_url: timestamp_url(&request.timestamp, Some(&installer_identity)),
        installer_identity,
        inputs: ArchiveInputs {
            epoch: epoch.unwrap_or(0),
            threads: request.threads,
            level: request.compression_level,
        },
        progress,
    };

    let assembled = pipeline.assemble()?;
    let assemble_ms = assembled.ms;
    let (signed_app_ms, notarized_app, payload) = std::thread::scope(|scope| {
        let (archiver, expected_bytes) = PayloadArchiver::start(
            scope,
            &assembled,
            work.path().join("Payload"),
            pkg::payload_settings(&pipeline.inputs),
            progress,
        )?;
        progress.begin("payload", Some(expected_bytes));
        let signed_app = pipeline.sign_app(assembled, archiver.resource_digests())?;
        let signed_app_ms = signed_app.ms;
        let notarized_app = pipeline.notarize_app(signed_app)?;
        let payload = archiver.finish(&notarized_app)?;
        progress.end();
        Ok::<_, BuildError>((signed_app_ms, notarized_app, payload))
    })?;
    let payload_ms = payload.ms;
    let signed_pkg = pipeline.sign_pkg(payload)?;
    let notarized_pkg = pipeline.notarize_pkg(&signed_pkg)?;

    let (pkg_size, pkg_sha256) =
        sha256_file(&notarized_pkg.path).map_err(|source| BuildError::Write {
            path: notarized_pkg.path.clone(),
            source,
        })?;
    let identities = vec![
        match &pipeline.app_identity {
            Some(identity) => identity.summary(
                Purpose::Application,
                pipeline.app_options.timestamp_url.is_some(),
            ),
            None => signing::ad_hoc_summary(),
        },
        pipeline
            .installer_identity
            .summary(Purpose::Installer, pipeline.pkg_timestamp_url.is_some()),
    ];
    let product = signed_pkg.product;
    Ok(BuildReport {
        schema_version: BuildReport::SCHEMA_VERSION,
        pkg: notarized_pkg.path,
        pkg_size,
        pkg_sha256,
        unsigned_pkg: notarized_pkg.unsigned,
        uninstaller: notarized_pkg.uninstaller,
        product: release.name.clone(),
        version: release.version.to_string(),
        app_bundle_id: release.app.bundle_id.to_string(),
        extension_bundle_id: release.extension.bundle_id.to_string(),
        service_name: release.service_name.to_string(),
        executables: request.executables.describe(),
        stand_ins: request.executables == ExecutableSource::StandIns,
        identities,
        notarization: notarized_app
            .notarization
            .into_iter()
            .chain(notarized_pkg.notarization)
            .collect(),
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
            sign_app_ms: signed_app_ms,
            payload_ms,
            package_ms: signed_pkg.package_ms,
            sign_pkg_ms: signed_pkg.sign_ms,
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
