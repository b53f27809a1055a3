//! The extension's commands: `extension status|activate|deactivate`.

use serde::Serialize;
use serde_json::json;
use vpn_app::{
    channel::connect_at,
    cli::Cli,
    report::{report, Report},
    VERSION,
};
#[cfg(target_os = "linux")]
use vpn_app::{channel::expect, extension_process};
#[cfg(target_os = "linux")]
use vpn_ipc::message::{Request, Response};
use vpn_ipc::session::HandshakeOutcome;

#[cfg(target_os = "linux")]
use super::ready;

#[derive(Serialize)]
struct ExtensionStatus {
    app_build: &'static str,
    /// `current`, `other-build`, `protocol-skew` or `refused`.
    extension: &'static str,
    detail: serde_json::Value,
    /// macOS: the copies installed; elsewhere null.
    installed: serde_json::Value,
}

#[cfg(target_os = "linux")]
#[derive(Serialize)]
struct Started {
    started: String,
}

#[cfg(target_os = "linux")]
#[derive(Serialize)]
struct Stopped {
    stopped: String,
}

/// How an `OSSystemExtensionRequest` ended.
#[cfg(target_os = "macos")]
#[derive(Serialize)]
struct RequestReport {
    outcome: String,
}

/// The handshake's answer, and the copies macOS has installed.
pub fn status(cli: &Cli) -> anyhow::Result<Report> {
    let (_, outcome) = connect_at(&cli.socket)?;
    let (state, detail) = match &outcome {
        HandshakeOutcome::Current {
            protocol,
            ext_version,
        } => (
            "current",
            json!({"protocol": protocol, "ext_version": ext_version}),
        ),
        HandshakeOutcome::OtherBuild {
            protocol,
            ext_build,
        } => (
            "other-build",
            json!({"protocol": protocol, "ext_build": ext_build}),
        ),
        HandshakeOutcome::ProtocolSkew { message } => {
            ("protocol-skew", json!({"message": message}))
        }
        HandshakeOutcome::Refused { code, message } => {
            ("refused", json!({"code": code, "message": message}))
        }
    };
    let installed = installed_copies();
    let mut text = format!("extension: {state} {detail}");
    if !installed.is_null() {
        text += &format!("\ninstalled: {installed}");
    }
    let fields = ExtensionStatus {
        app_build: VERSION,
        extension: state,
        detail,
        installed,
    };
    Ok(report(&fields, text))
}

#[cfg(target_os = "linux")]
pub fn activate(cli: &Cli) -> anyhow::Result<Report> {
    let started = extension_process::ensure_running(&cli.socket)?;
    Ok(report(
        &Started {
            started: format!("{started:?}"),
        },
        format!("extension running ({started:?})"),
    ))
}

#[cfg(target_os = "linux")]
pub fn deactivate(cli: &Cli) -> anyhow::Result<Report> {
    // The tunnel goes down through the extension first, so routes and the
    // interface are removed by the engine rather than by the process dying.
    if let Ok(mut client) = ready(cli) {
        expect(client.request(Request::Stop)?, |r| *r == Response::Stopped)?;
    }
    let stopped = extension_process::stop(&cli.socket)?;
    Ok(report(
        &Stopped {
            stopped: format!("{stopped:?}"),
        },
        format!("extension stopped ({stopped:?})"),
    ))
}

/// The copies of the extension macOS has installed (a properties request).
#[cfg(target_os = "macos")]
fn installed_copies() -> serde_json::Value {
    use vpn_app::macos::system_extension::{submit, RequestKind};
    let copies = vpn_app::macos::app_bundle()
        .map_err(|e| format!("{e:#}"))
        .and_then(|bundle| submit(RequestKind::Properties, &bundle.extension_id).properties());
    match copies {
        Ok(copies) => json!(copies),
        Err(error) => json!({ "error": error }),
    }
}

/// Only macOS installs extension copies of its own.
#[cfg(not(target_os = "macos"))]
fn installed_copies() -> serde_json::Value {
    serde_json::Value::Null
}

/// An `OSSystemExtensionRequest` from the app in /Applications.
#[cfg(target_os = "macos")]
fn system_extension_request(
    kind: vpn_app::macos::system_extension::RequestKind,
) -> anyhow::Result<Report> {
    use vpn_app::{macos::system_extension::request, upgrade::RequestOutcome};
    let bundle = vpn_app::macos::app_bundle()?;
    let (mut outcome, pending) = request(kind, &bundle.extension_id);
    if outcome == RequestOutcome::NeedsApproval {
        eprintln!("allow the extension in System Settings > General > Login Items & Extensions");
        outcome = pending.outcome(vpn_app::upgrade::Limits::default().approval);
    }
    let text = format!("{kind:?}: {outcome:?}");
    let fields = RequestReport {
        outcome: format!("{outcome:?}"),
    };
    let mut report = report(&fields, text);
    report.failed = !matches!(
        outcome,
        RequestOutcome::Done | RequestOutcome::WillCompleteAfterReboot
    );
    Ok(report)
}

#[cfg(target_os = "macos")]
pub fn activate(_cli: &Cli) -> anyhow::Result<Report> {
    system_extension_request(vpn_app::macos::system_extension::RequestKind::Activate)
}

#[cfg(target_os = "macos")]
pub fn deactivate(_cli: &Cli) -> anyhow::Result<Report> {
    system_extension_request(vpn_app::macos::system_extension::RequestKind::Deactivate)
}
