//! What a person or a CI job sees: progress bars at a terminal, the
//! report as text or JSON, and a failure with its causes, its fix and its
//! exit code.

use std::{io::IsTerminal, path::Path, process::ExitCode, sync::Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use installer_tool::{
    appcast::{AppcastError, AppcastReport},
    build,
    config::ConfigError,
    doctor::{self, Finding, Severity},
    executables::ExecutablesError,
    mdm_profile::{MdmError, MdmReport},
    progress::{ArchiveProgress, NoProgress, NotaryProgress, Progress},
    report::BuildReport,
    signing::SigningError,
    updates::{GeneratedKey, UpdateKeyError},
    verify::VerifyReport,
};
use notary::{NotarizeReport, NotaryError, StapleReport};
use serde::Serialize;

/// The command failed; the message says why.
const EXIT_FAILURE: u8 = 1;
const ERROR_SCHEMA_VERSION: u32 = 1;

/// Prints the outcome (text or JSON) and maps it to the exit code.
pub fn finish<R: Serialize>(
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
            let refusal = error.chain().find_map(|e| match notary_error(e)? {
                NotaryError::NotAccepted { id, status, issues } => Some((id, status, issues)),
                _ => None,
            });
            let help = help(&error);
            if json {
                let mut value = serde_json::json!({
                    "schema_version": ERROR_SCHEMA_VERSION,
                    "error": error.to_string(),
                    "causes": causes,
                    "help": help,
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
            if let Some(help) = help {
                eprintln!("help: {help}");
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn notary_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a NotaryError> {
    error.downcast_ref::<NotaryError>().or_else(|| {
        match error.downcast_ref::<build::BuildError>()? {
            build::BuildError::Notary(notary) => Some(notary),
            _ => None,
        }
    })
}

/// The fix of the first error in the chain that knows one. The notary's
/// fixes are said here with this tool's flags.
fn help(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|e| {
        if let Some(notary) = notary_error(e) {
            return Some(match notary {
                NotaryError::ApiKey { .. } => "pass the .p8 downloaded from App Store Connect with --api-issuer and --api-key-id, or the JSON key file of `rcodesign encode-app-store-connect-api-key`".into(),
                NotaryError::MissingKeyIds { .. } => "pass --api-issuer and --api-key-id (App Store Connect > Users and Access > Integrations), or use a JSON key file that carries both".into(),
                NotaryError::Unauthorized { .. } => "check that --api-key-id and --api-issuer belong to this key, that the key is active, and that this machine's clock is right".into(),
                NotaryError::Timeout { id, path, .. } => format!(
                    "resume waiting with `installer-tool notarize --submission-id {id} {}`",
                    path.display()
                ),
                NotaryError::TicketNotFound { path, .. } => format!(
                    "tickets appear some minutes after acceptance; run `installer-tool staple {}` again later",
                    path.display()
                ),
                other => other.help()?,
            });
        }
        if let Some(build) = e.downcast_ref::<build::BuildError>() {
            return build.help();
        }
        if let Some(config) = e.downcast_ref::<ConfigError>() {
            return config.help();
        }
        if let Some(appcast) = e.downcast_ref::<AppcastError>() {
            return appcast.help();
        }
        if let Some(key) = e.downcast_ref::<UpdateKeyError>() {
            return key.help();
        }
        if let Some(mdm) = e.downcast_ref::<MdmError>() {
            return mdm.help();
        }
        if let Some(signing) = e.downcast_ref::<SigningError>() {
            return signing.help();
        }
        e.downcast_ref::<ExecutablesError>()?.help()
    })
}

/// The findings of `doctor` or `verify` about `subject` (`report` is the
/// JSON document), and exit 1 when any is an error (warnings alone exit 0).
pub fn findings(
    subject: &Path,
    findings: &[Finding],
    report: &impl serde::Serialize,
    json: bool,
) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("report serialises")
        );
    } else {
        for finding in findings {
            let severity = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            // Where: the file, the field, both or neither (the subject itself).
            let place = [
                finding.file.display().to_string(),
                if finding.field.is_empty() {
                    String::new()
                } else {
                    format!("`{}`", finding.field)
                },
            ]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
            let place = if place.is_empty() {
                subject.display().to_string()
            } else {
                place
            };
            println!("{severity}[{}]: {place}: {}", finding.id, finding.problem);
            println!("  fix: {}", finding.fix);
        }
        let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
        println!(
            "{}: {} error(s), {} warning(s)",
            subject.display(),
            count(Severity::Error),
            count(Severity::Warning)
        );
    }
    if doctor::has_errors(findings) {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
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
pub fn with_progress<T>(json: bool, run: impl FnOnce(&dyn Progress) -> T) -> T {
    let is_ci = std::env::var_os("CI").is_some();
    if shows_progress(std::io::stderr().is_terminal(), is_ci, json) {
        run(&BarProgress {
            bar: Mutex::new(None),
        })
    } else {
        run(&NoProgress)
    }
}

pub fn print_notarization(report: &NotarizeReport) {
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

pub fn print_report(report: &BuildReport) {
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
    println!("  uninstaller: {}", report.uninstaller.display());
    println!(
        "  payload: {} entries, {} bytes -> {} bytes gzip; {} ms in all",
        report.payload.entries,
        report.payload.content_size,
        report.payload.compressed_size,
        report.timings.total_ms
    );
}

pub fn print_staple(report: &StapleReport) {
    println!(
        "stapled {} (ticket {})",
        report.path.display(),
        report.ticket_record
    );
}

/// `inspect`: the tree a person reads, or the same as JSON; exit 1 only
/// when the file could not be read as a pkg (verify judges the rest).
pub fn inspect(report: &VerifyReport, json: bool) -> ExitCode {
    let malformed = report.findings.iter().any(|f| f.id == "malformed");
    let (errors, warnings) = report
        .findings
        .iter()
        .fold((0, 0), |(e, w), f| match f.severity {
            Severity::Error => (e + 1, w),
            Severity::Warning => (e, w + 1),
        });
    if json {
        let value = serde_json::json!({
            "schema_version": VerifyReport::SCHEMA_VERSION,
            "pkg": report.pkg,
            "inventory": report.inventory,
            "bundles": report.bundles,
            "errors": errors,
            "warnings": warnings,
        });
        println!("{value:#}");
    } else {
        print_inventory(report);
        println!("  verify: {errors} error(s), {warnings} warning(s) (`installer-tool verify` lists them)");
    }
    if malformed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_inventory(report: &VerifyReport) {
    let inventory = &report.inventory;
    let or = |value: &Option<String>, none: &str| value.clone().unwrap_or_else(|| none.into());
    println!("{}", report.pkg.display());
    println!(
        "  signed by: {}{}",
        or(&inventory.signer, "nobody"),
        if inventory.timestamped {
            ", time-stamped"
        } else {
            ", no time-stamp"
        }
    );
    println!(
        "  ticket: {}",
        if inventory.ticket_stapled {
            "stapled"
        } else {
            "none stapled"
        }
    );
    println!(
        "  product: {}, hostArchitectures {}, macOS {} or later",
        or(&inventory.title, "(no title)"),
        or(&inventory.host_architectures, "(none)"),
        or(&inventory.minimum_macos, "(any)")
    );
    for component in &inventory.components {
        println!(
            "  component {}: {} {}, installs into {}",
            if component.path.is_empty() {
                "(top)"
            } else {
                &component.path
            },
            or(&component.identifier, "(no identifier)"),
            or(&component.version, "(no version)"),
            or(&component.install_location, "/")
        );
        for (title, entries) in [
            ("scripts", &component.scripts),
            ("payload", &component.payload),
        ] {
            println!("    {title} ({} entries):", entries.len());
            for entry in entries {
                println!("      {} {:>12}  {}", entry.mode, entry.size, entry.path);
            }
        }
    }
    if !report.bundles.is_empty() {
        println!("  bundles:");
    }
    for bundle in &report.bundles {
        println!(
            "    {}: {} {} ({}), macOS {}+{}{}",
            bundle.path,
            or(&bundle.identifier, "(no identifier)"),
            or(&bundle.short_version, "?"),
            or(&bundle.version, "?"),
            or(&bundle.minimum_system_version, "?"),
            bundle
                .service_name
                .as_ref()
                .map(|s| format!(", service {s}"))
                .unwrap_or_default(),
            bundle
                .feed_url
                .as_ref()
                .map(|f| format!(", updates from {f}"))
                .unwrap_or_default()
        );
    }
    if !inventory.executables.is_empty() {
        println!("  executables:");
    }
    for executable in &inventory.executables {
        println!(
            "    {}: {}; team {}; {}; entitlements: {}",
            executable.path,
            executable.architectures.join(", "),
            or(&executable.team, "(none)"),
            if executable.hardened_runtime {
                "hardened runtime"
            } else {
                "no hardened runtime"
            },
            if executable.entitlements.is_empty() {
                "none".to_string()
            } else {
                executable.entitlements.join(", ")
            }
        );
    }
}

pub fn print_generated_key(report: &GeneratedKey) {
    println!(
        "wrote the update key {} (readable by you only; keep it with your signing secrets)",
        report.key_file.display()
    );
    println!(
        "public key, for release.toml:\n\n[updates]\npublic-ed-key = \"{}\"",
        report.public_ed_key
    );
}

pub fn print_appcast(report: &AppcastReport) {
    println!(
        "{} now offers {} ({}) from {}, {} item(s)",
        report.appcast.display(),
        report.short_version,
        report.version,
        report.url,
        report.items
    );
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
}

pub fn print_mdm_profile(report: &MdmReport) {
    println!("wrote {} ({})", report.profile.display(), report.identifier);
    for payload in &report.payloads {
        println!("  {:<36} {}", payload.payload_type, payload.identifier);
    }
    match &report.signed_by {
        Some(identity) => println!(
            "signed by {}",
            identity.subject.as_deref().unwrap_or("(no common name)")
        ),
        None => println!("unsigned (pass --sign-p12 to sign it)"),
    }
    if report.carries_private_key {
        println!("it carries the tunnel's private key: send it only to the Macs it is for");
    }
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
