//! Runs a parsed command: builds the request from flags, renders progress
//! and the outcome (text or JSON), maps failures to exit codes.

use std::{
    io::IsTerminal,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use installer_tool::{
    build::{self, BuildRequest, IdentityChoice, NotarizeRequest, Timestamp},
    config::Release,
    executables::ExecutableSource,
    progress::{ArchiveProgress, NoProgress, NotaryProgress, Progress},
    report::BuildReport,
};
use notary::{
    api_key::{ApiKeySource, TokenSource, DEFAULT_TOKEN_LIFETIME},
    staple::LookupPatience,
    Endpoints, NotarizeOptions, NotarizeReport, NotaryError, StapleReport,
};
use serde::Serialize;

use crate::cli::{BuildPkgArgs, Cli, Command, EndpointArgs, NotarizeArgs, NotaryArgs, StapleArgs};

/// The build failed; the message says why.
const EXIT_FAILURE: u8 = 1;
const ERROR_SCHEMA_VERSION: u32 = 1;

pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.verbose);
    match cli.command {
        Command::BuildPkg(args) => {
            let json = args.json;
            finish(build_pkg(args), json, print_report)
        }
        Command::Notarize(args) => {
            let json = args.json;
            finish(notarize(args), json, print_notarization)
        }
        Command::Staple(args) => {
            let json = args.json;
            finish(staple(args), json, |report: &StapleReport| {
                println!(
                    "stapled {} (ticket {})",
                    report.path.display(),
                    report.ticket_record
                )
            })
        }
    }
}

/// Prints the outcome (text or JSON) and maps it to the exit code.
fn finish<R: Serialize>(
    outcome: anyhow::Result<R>,
    json: bool,
    print: impl FnOnce(&R),
) -> ExitCode {
    match outcome {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            } else {
                print(&report);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
            let refusal = error.chain().find_map(|e| {
                let notary = e.downcast_ref::<NotaryError>().or_else(|| match e
                    .downcast_ref::<build::BuildError>()?
                {
                    build::BuildError::Notary(notary) => Some(notary),
                    _ => None,
                });
                match notary? {
                    NotaryError::NotAccepted { id, status, issues } => Some((id, status, issues)),
                    _ => None,
                }
            });
            if json {
                let mut value = serde_json::json!({
                    "schema_version": ERROR_SCHEMA_VERSION,
                    "error": error.to_string(),
                    "causes": causes,
                });
                if let Some((id, status, issues)) = refusal {
                    value["submission_id"] = id.as_str().into();
                    value["status"] = status.as_str().into();
                    value["issues"] = serde_json::to_value(issues).expect("issues serialise");
                }
                println!("{value:#}");
            }
            eprintln!("error: {error}");
            for cause in causes {
                eprintln!("  caused by: {cause}");
            }
            if let Some((_, _, issues)) = refusal {
                eprintln!("issues:");
                for issue in issues {
                    eprintln!("  - {issue}");
                }
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn init_logging(verbose: u8) {
    // apple-codesign reports routine progress as warnings; keep it quiet
    // unless asked.
    let default = match verbose {
        0 => "warn,apple_codesign=error,apple_xar=error",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INSTALLER_TOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Bars only for a person watching: a terminal, outside CI, without --json.
fn shows_progress(is_terminal: bool, is_ci: bool, json: bool) -> bool {
    is_terminal && !is_ci && !json
}

struct BarProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl ArchiveProgress for BarProgress {
    fn archived(&self, bytes: u64) {
        self.advance(bytes);
    }
}

impl NotaryProgress for BarProgress {
    fn begin(&self, step: &'static str, total: Option<u64>) {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:>10} {spinner} {elapsed}")
                    .expect("valid template"),
            ),
        };
        bar.set_message(step);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.inc(bytes);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }

    fn status(&self, message: &str) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.set_message(message.to_string());
        }
    }
}

/// Bars for a person at a terminal, nothing otherwise.
fn with_progress<T>(json: bool, run: impl FnOnce(&dyn Progress) -> T) -> T {
    let is_ci = std::env::var_os("CI").is_some();
    if shows_progress(std::io::stderr().is_terminal(), is_ci, json) {
        run(&BarProgress {
            bar: Mutex::new(None),
        })
    } else {
        run(&NoProgress)
    }
}

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
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
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
            staple: true,
            ticket,
        },
    })
}

fn notarize(args: NotarizeArgs) -> anyhow::Result<NotarizeReport> {
    let mut request = notary_request(&args.notary)?;
    request.options.submission_id = args.submission_id.clone();
    request.options.staple = !args.no_staple;
    let report = with_progress(args.json, |progress| {
        notary::notarize(&args.path, &request.tokens, &request.options, progress)
    })
    .with_context(|| format!("failed to notarize {}", args.path.display()))?;
    Ok(report)
}

fn staple(args: StapleArgs) -> anyhow::Result<StapleReport> {
    let (endpoints, ticket) = endpoints(&args.endpoints);
    let options = NotarizeOptions {
        endpoints,
        ticket,
        ..NotarizeOptions::default()
    };
    let report = with_progress(args.json, |progress| {
        notary::staple(&args.path, &options, progress)
    })
    .with_context(|| format!("failed to staple {}", args.path.display()))?;
    Ok(report)
}

fn print_notarization(report: &NotarizeReport) {
    println!(
        "{} {}: submission {} {}",
        report.kind,
        report.path.display(),
        report.submission_id,
        report.status
    );
    for issue in &report.issues {
        println!("  - {issue}");
    }
    match &report.ticket_record {
        Some(record) => println!("  stapled ticket {record}"),
        None => println!("  not stapled"),
    }
}

fn build_pkg(args: BuildPkgArgs) -> anyhow::Result<BuildReport> {
    let release = Release::load(&args.config).with_context(|| {
        format!(
            "failed to load the release config {}",
            args.config.display()
        )
    })?;
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
    let request = BuildRequest {
        output_dir: args
            .output_dir
            .clone()
            .unwrap_or_else(|| release.output_dir.clone()),
        release,
        executables,
        app_identity: identity(&args.app_p12, "INSTALLER_TOOL_APP_P12_PASSWORD"),
        installer_identity: identity(&args.installer_p12, "INSTALLER_TOOL_INSTALLER_P12_PASSWORD"),
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
    };
    let report = with_progress(args.json, |progress| build::build(&request, progress))
        .context("failed to build the pkg")?;
    Ok(report)
}

fn print_report(report: &BuildReport) {
    println!("wrote {}", report.pkg.display());
    println!(
        "  {} {} ({} bytes, sha256 {})",
        report.product, report.version, report.pkg_size, report.pkg_sha256
    );
    println!("  extension service name: {}", report.service_name);
    println!("  executables: {}", report.executables);
    for identity in &report.identities {
        println!(
            "  {:?} signature: {} ({:?}{})",
            identity.purpose,
            identity.subject.as_deref().unwrap_or("ad-hoc"),
            identity.origin,
            if identity.timestamped {
                ", time-stamped"
            } else {
                ""
            }
        );
    }
    for notarization in &report.notarization {
        println!(
            "  notarized {}: submission {} {}{}",
            notarization.kind,
            notarization.submission_id,
            notarization.status,
            if notarization.stapled {
                ", ticket stapled"
            } else {
                ""
            }
        );
    }
    if let Some(unsigned) = &report.unsigned_pkg {
        println!("  unsigned product archive: {}", unsigned.display());
    }
    println!(
        "  payload: {} entries, {} bytes -> {} bytes gzip; {} ms in all",
        report.payload.entries,
        report.payload.content_size,
        report.payload.compressed_size,
        report.timings.total_ms
    );
}

#[cfg(test)]
mod tests {
    use super::shows_progress;

    #[test]
    fn progress_only_for_people_at_a_terminal() {
        assert!(shows_progress(true, false, false));
        assert!(!shows_progress(false, false, false));
        assert!(!shows_progress(true, true, false));
        assert!(!shows_progress(true, false, true));
    }
}
