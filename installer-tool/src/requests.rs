//! From parsed flags to the library's requests: defaults, the environment
//! (`SOURCE_DATE_EPOCH`, passwords by variable name), and what a flag
//! combination means. Nothing here runs a step or prints.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use installer_tool::{
    build::{load_identity, BuildRequest, IdentityChoice, NotarizeRequest, Timestamp},
    config::Release,
    doctor::{DoctorRequest, IdentityToCheck},
    executables::ExecutableSource,
    signing::{Purpose, SigningIdentity},
};
use notary::{
    api_key::{ApiKeySource, TokenSource, MAX_TOKEN_LIFETIME},
    staple::LookupPatience,
    Endpoints, NotarizeOptions,
};

use crate::args::{BuildPkgArgs, DoctorArgs, EndpointArgs, NotarizeArgs, NotaryArgs, StapleArgs};

/// The password of the Developer ID Application p12 (`--app-p12`, and
/// `mdm-profile --sign-p12`).
const APP_P12_PASSWORD: &str = "INSTALLER_TOOL_APP_P12_PASSWORD";
const INSTALLER_P12_PASSWORD: &str = "INSTALLER_TOOL_INSTALLER_P12_PASSWORD";

fn endpoints(args: &EndpointArgs) -> (Endpoints, LookupPatience) {
    let defaults = Endpoints::default();
    let endpoints = Endpoints {
        notary: args.notary_url.clone().unwrap_or(defaults.notary),
        s3: args.s3_endpoint.clone(),
        s3_region: args.s3_region.clone(),
        ticket_lookup: args
            .ticket_lookup_url
            .clone()
            .unwrap_or(defaults.ticket_lookup),
    };
    let patience = LookupPatience {
        timeout: Duration::from_secs(args.ticket_timeout),
        ..LookupPatience::default()
    };
    (endpoints, patience)
}

/// The key and options every notarization needs.
fn notary_request(args: &NotaryArgs) -> anyhow::Result<NotarizeRequest> {
    let path = args.api_key.clone().context(
        "no App Store Connect API key\nhelp: pass --api-key FILE (or set INSTALLER_TOOL_API_KEY): \
         the .p8 with --api-issuer and --api-key-id, or the JSON key file of \
         `rcodesign encode-app-store-connect-api-key`",
    )?;
    let lifetime = args
        .token_lifetime
        .map_or(MAX_TOKEN_LIFETIME, Duration::from_secs);
    let tokens = TokenSource::load(
        &ApiKeySource {
            path,
            issuer_id: args.api_issuer.clone(),
            key_id: args.api_key_id.clone(),
        },
        lifetime,
    )?;
    let (endpoints, ticket) = endpoints(&args.endpoints);
    Ok(NotarizeRequest {
        tokens: Arc::new(tokens),
        options: NotarizeOptions {
            endpoints,
            submission_id: None,
            wait_timeout: Duration::from_secs(args.wait_timeout),
            ticket,
            ..NotarizeOptions::default()
        },
    })
}

pub fn notarize(args: &NotarizeArgs) -> anyhow::Result<NotarizeRequest> {
    let mut request = notary_request(&args.notary)?;
    request.options.submission_id = args.submission_id.clone();
    request.options.staple = !args.no_staple;
    Ok(request)
}

pub fn staple(args: &StapleArgs) -> NotarizeOptions {
    let (endpoints, ticket) = endpoints(&args.endpoints);
    NotarizeOptions {
        endpoints,
        ticket,
        ..NotarizeOptions::default()
    }
}

pub fn release(config: &std::path::Path) -> anyhow::Result<Release> {
    Release::load(config)
        .with_context(|| format!("failed to load the release config {}", config.display()))
}

pub fn build_pkg(args: &BuildPkgArgs) -> anyhow::Result<BuildRequest> {
    let release = release(&args.config)?;
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => Some(value.trim().parse::<i64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds since 1970")
        })?),
        Err(_) => None,
    };
    let executables = match (&args.prebuilt, args.stand_ins) {
        (Some(dir), _) => ExecutableSource::Prebuilt(dir.clone()),
        (None, true) => ExecutableSource::StandIns,
        (None, false) => ExecutableSource::default_for_host(),
    };
    let identity = |p12: &Option<std::path::PathBuf>, password_env| match p12 {
        Some(path) => IdentityChoice::P12 {
            path: path.clone(),
            password_env,
        },
        None => IdentityChoice::SelfSigned,
    };
    let timestamp = match (&args.timestamp_url, args.no_timestamp) {
        (_, true) => Timestamp::Off,
        (Some(url), false) => Timestamp::Url(url.clone()),
        (None, false) => Timestamp::Auto,
    };
    Ok(BuildRequest {
        output_dir: args
            .output_dir
            .clone()
            .unwrap_or_else(|| release.output_dir.clone()),
        release,
        executables,
        app_identity: identity(&args.app_p12, APP_P12_PASSWORD),
        installer_identity: identity(&args.installer_p12, INSTALLER_P12_PASSWORD),
        dev: args.dev,
        source_date_epoch,
        timestamp,
        keep_unsigned: args.keep_unsigned,
        notarize: args
            .notarize
            .then(|| notary_request(&args.notary))
            .transpose()?,
        compression_level: args.compression_level,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

/// The identity `mdm-profile --sign-p12` names: the Developer ID
/// Application identity, its password where build-pkg reads it.
pub fn profile_signer(
    p12: Option<&std::path::Path>,
    release: &Release,
) -> anyhow::Result<Option<SigningIdentity>> {
    let Some(path) = p12 else { return Ok(None) };
    let choice = IdentityChoice::P12 {
        path: path.to_path_buf(),
        password_env: APP_P12_PASSWORD,
    };
    Ok(Some(load_identity(&choice, Purpose::Application, release)?))
}

/// `doctor`: the p12s given are checked with their passwords where
/// build-pkg reads them.
pub fn doctor(args: DoctorArgs) -> DoctorRequest {
    let identities = [
        (args.app_p12, APP_P12_PASSWORD, Purpose::Application),
        (
            args.installer_p12,
            INSTALLER_P12_PASSWORD,
            Purpose::Installer,
        ),
    ]
    .into_iter()
    .filter_map(|(p12, password_env, purpose)| {
        Some(IdentityToCheck {
            p12: p12?,
            password_env,
            purpose,
        })
    })
    .collect();
    DoctorRequest {
        config: args.config,
        api_key: args.api_key,
        identities,
        previous: args.previous,
        now: chrono::Utc::now(),
    }
}
