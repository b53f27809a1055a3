//! Runs a parsed command: builds the request from flags, renders progress
//! and the outcome (text or JSON), maps failures to exit codes.

use std::{io::IsTerminal, process::ExitCode, sync::Mutex};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use installer_tool::{
    build::{self, BuildRequest, IdentityChoice, Timestamp},
    config::Release,
    executables::ExecutableSource,
    progress::{NoProgress, Progress},
    report::BuildReport,
};

use crate::cli::{BuildPkgArgs, Cli, Command};

/// The build failed; the message says why.
const EXIT_FAILURE: u8 = 1;
const ERROR_SCHEMA_VERSION: u32 = 1;

pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.verbose);
    let Command::BuildPkg(args) = cli.command;
    let json = args.json;
    match build_pkg(args) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            } else {
                print_report(&report);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
            if json {
                let value = serde_json::json!({
                    "schema_version": ERROR_SCHEMA_VERSION,
                    "error": error.to_string(),
                    "causes": causes,
                });
                println!("{value:#}");
            }
            eprintln!("error: {error}");
            for cause in causes {
                eprintln!("  caused by: {cause}");
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

impl Progress for BarProgress {
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
        compression_level: args.compression_level,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let is_ci = std::env::var_os("CI").is_some();
    let report = if shows_progress(std::io::stderr().is_terminal(), is_ci, args.json) {
        build::build(
            &request,
            &BarProgress {
                bar: Mutex::new(None),
            },
        )
    } else {
        build::build(&request, &NoProgress)
    }
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
