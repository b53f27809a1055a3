//! The host app's command line over the `vpn_app` library. On Linux it
//! talks to the extension's service process over the control socket; on
//! macOS over XPC, with the extension's lifecycle and the tunnel through
//! the system (`vpn_app::macos`).

mod doctor;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
#[cfg(target_os = "linux")]
use vpn_app::extension_process;
use vpn_app::{
    channel::{self, connect_at, expect, ready_at},
    cli::{Cli, Command, ExtensionCommand, UpgradeCommand},
    report::{self, report, Report},
    upgrade, VERSION,
};
use vpn_ipc::{
    message::{Request, Response, TunnelStatus},
    session::HandshakeOutcome,
    transport::ControlClient,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    report::print(run(cli), json)
}

fn connect(cli: &Cli) -> anyhow::Result<(Box<dyn ControlClient>, HandshakeOutcome)> {
    connect_at(&cli.socket)
}

/// [`ready`], first starting the extension where the app is the one to do
/// it (Linux), unless `--no-start`.
fn ready_starting(cli: &Cli) -> anyhow::Result<Box<dyn ControlClient>> {
    #[cfg(target_os = "linux")]
    if !cli.no_start {
        let started = extension_process::ensure_running(&cli.socket)?;
        if started != extension_process::Started::AlreadyRunning {
            eprintln!("started the extension ({started:?})");
        }
    }
    ready(cli)
}

fn ready(cli: &Cli) -> anyhow::Result<Box<dyn ControlClient>> {
    ready_at(&cli.socket)
}

fn run(cli: Cli) -> anyhow::Result<Report> {
    match &cli.command {
        Command::Status => {
            let reply = expect(ready(&cli)?.request(Request::Status)?, |r| {
                matches!(r, Response::Status(_))
            })?;
            let Response::Status(status) = reply else {
                unreachable!("checked above")
            };
            Ok(report(
                serde_json::to_value(&status).expect("status serialises"),
                status_text(&status),
            ))
        }
        Command::Import { file, name } => {
            let config = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let profile = match name {
                Some(name) => name.clone(),
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .context("name the profile with --name")?
                    .to_string(),
            };
            expect(
                ready_starting(&cli)?.request(Request::SetConfig {
                    profile: profile.clone(),
                    config,
                })?,
                |r| *r == Response::ConfigSaved,
            )?;
            let text = format!("imported profile {profile}");
            Ok(report(json!({ "profile": profile }), text))
        }
        Command::Connect { profile } => {
            start_tunnel(&cli, profile)?;
            Ok(report(
                json!({ "profile": profile }),
                format!("connecting {profile}"),
            ))
        }
        Command::Disconnect => {
            stop_tunnel(&cli)?;
            Ok(report(json!({}), "disconnected".into()))
        }
        Command::Logs { lines } => {
            let reply = expect(
                ready(&cli)?.request(Request::Logs { lines: *lines })?,
                |r| matches!(r, Response::Logs { .. }),
            )?;
            let Response::Logs { lines } = reply else {
                unreachable!("checked above")
            };
            Ok(report(json!({ "lines": lines }), lines.join("\n")))
        }
        Command::Doctor => {
            let checks = doctor::run(&cli.socket, VERSION);
            let failed = checks.iter().any(|c| c.verdict == doctor::Verdict::Fail);
            let text = checks
                .iter()
                .map(|c| {
                    let verdict = match c.verdict {
                        doctor::Verdict::Ok => "ok  ",
                        doctor::Verdict::Warn => "warn",
                        doctor::Verdict::Fail => "FAIL",
                    };
                    format!("{verdict}  {}: {}", c.name, c.detail)
                })
                .collect::<Vec<_>>()
                .join("\n");
            let mut report = report(json!({ "checks": checks, "healthy": !failed }), text);
            report.failed = failed;
            Ok(report)
        }
        Command::Upgrade {
            command: UpgradeCommand::Prepare,
        } => upgrade::command::prepare_report(
            channel::open(&cli.socket)?.as_mut(),
            vpn_session()?.as_mut(),
            VERSION,
        ),
        Command::Upgrade { command } => {
            let options = upgrade::command::finish_options(
                command,
                upgrade::default_finished_record()?,
                upgrade::Limits::default(),
            )
            .expect("the other upgrade command is matched above");
            finish_on_this_platform(&cli, &options)
        }
        Command::Extension {
            command: ExtensionCommand::Activate,
        } => activate(&cli),
        Command::Extension {
            command: ExtensionCommand::Deactivate,
        } => deactivate(&cli),
        Command::Extension {
            command: ExtensionCommand::Status,
        } => {
            let (_, outcome) = connect(&cli)?;
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
            Ok(report(
                json!({"app_build": VERSION, "extension": state, "detail": detail, "installed": installed}),
                text,
            ))
        }
    }
}

/// `status` for a person: the state, then what a user checks when the
/// tunnel misbehaves (handshake age, traffic, where the peer is).
fn status_text(status: &TunnelStatus) -> String {
    let state = serde_json::to_value(status.state).expect("state serialises");
    let mut text = state.as_str().unwrap_or("unknown").to_string();
    if let Some(profile) = &status.profile {
        text += &format!(" ({profile})");
    }
    if let Some(error) = &status.error {
        text += &format!("\n  error: {error}");
    }
    if let Some(at) = status.last_handshake {
        text += &format!("\n  last handshake: {} s ago", doctor::seconds_since(at));
    }
    if status.profile.is_some() {
        text += &format!(
            "\n  transfer: {} received, {} sent",
            bytes(status.stats.rx_bytes),
            bytes(status.stats.tx_bytes)
        );
    }
    for peer in &status.peers {
        text += &format!(
            "\n  peer {} at {}",
            peer.public_key,
            peer.endpoint.as_deref().unwrap_or("(not yet known)")
        );
    }
    text
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.2} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(target_os = "linux")]
fn activate(cli: &Cli) -> anyhow::Result<Report> {
    let started = extension_process::ensure_running(&cli.socket)?;
    Ok(report(
        json!({ "started": format!("{started:?}") }),
        format!("extension running ({started:?})"),
    ))
}

#[cfg(target_os = "linux")]
fn deactivate(cli: &Cli) -> anyhow::Result<Report> {
    // The tunnel goes down through the extension first, so routes and the
    // interface are removed by the engine rather than by the process dying.
    if let Ok(mut client) = ready(cli) {
        expect(client.request(Request::Stop)?, |r| *r == Response::Stopped)?;
    }
    let stopped = extension_process::stop(&cli.socket)?;
    Ok(report(
        json!({ "stopped": format!("{stopped:?}") }),
        format!("extension stopped ({stopped:?})"),
    ))
}

/// The tunnel is the extension's to start (Linux: over the control channel).
#[cfg(target_os = "linux")]
fn start_tunnel(cli: &Cli, profile: &str) -> anyhow::Result<()> {
    expect(
        ready_starting(cli)?.request(Request::Start {
            profile: profile.to_string(),
        })?,
        |r| *r == Response::Started,
    )?;
    Ok(())
}

#[cfg(target_os = "linux")]
fn stop_tunnel(cli: &Cli) -> anyhow::Result<()> {
    expect(ready(cli)?.request(Request::Stop)?, |r| {
        *r == Response::Stopped
    })?;
    Ok(())
}

/// macOS starts tunnels itself: the VPN configuration is saved to name the
/// profile, then started; the system runs our provider with it.
#[cfg(target_os = "macos")]
fn start_tunnel(_cli: &Cli, profile: &str) -> anyhow::Result<()> {
    use vpn_app::macos::{app_bundle, vpn_configuration::VpnConfiguration};
    let bundle = app_bundle()?;
    // On Demand stays as the user had it.
    let existing = match VpnConfiguration::find(&bundle.extension_id).map_err(anyhow::Error::msg)? {
        Some(existing) => existing.saved().map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    let wanted = vpn_app::upgrade::SavedConfiguration {
        name: bundle.name.clone(),
        server: profile.to_string(),
        profile: Some(profile.to_string()),
        ..existing
    };
    let configuration =
        VpnConfiguration::save(&bundle.extension_id, &wanted).map_err(anyhow::Error::msg)?;
    configuration
        .start(Some(profile))
        .map_err(anyhow::Error::msg)
}

#[cfg(target_os = "macos")]
fn stop_tunnel(_cli: &Cli) -> anyhow::Result<()> {
    use vpn_app::macos::{app_bundle, vpn_configuration::VpnConfiguration};
    if let Some(configuration) =
        VpnConfiguration::find(&app_bundle()?.extension_id).map_err(anyhow::Error::msg)?
    {
        configuration.stop();
    }
    Ok(())
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
        outcome = pending.outcome(upgrade::Limits::default().approval);
    }
    let text = format!("{kind:?}: {outcome:?}");
    let mut report = report(json!({ "outcome": format!("{outcome:?}") }), text);
    report.failed = !matches!(
        outcome,
        RequestOutcome::Done | RequestOutcome::WillCompleteAfterReboot
    );
    Ok(report)
}

#[cfg(target_os = "macos")]
fn activate(_cli: &Cli) -> anyhow::Result<Report> {
    system_extension_request(vpn_app::macos::system_extension::RequestKind::Activate)
}

#[cfg(target_os = "macos")]
fn deactivate(_cli: &Cli) -> anyhow::Result<Report> {
    system_extension_request(vpn_app::macos::system_extension::RequestKind::Deactivate)
}

#[cfg(target_os = "linux")]
fn vpn_session() -> anyhow::Result<Box<dyn upgrade::VpnSession>> {
    Ok(Box::new(upgrade::linux::LinuxSession))
}

#[cfg(target_os = "macos")]
fn vpn_session() -> anyhow::Result<Box<dyn upgrade::VpnSession>> {
    Ok(Box::new(upgrade::macos::MacSession {
        extension_id: vpn_app::macos::app_bundle()?.extension_id,
    }))
}

#[cfg(target_os = "linux")]
fn finish_on_this_platform(cli: &Cli, options: &upgrade::FinishOptions) -> anyhow::Result<Report> {
    let mut platform = upgrade::linux::LinuxUpgrade {
        socket: &cli.socket,
    };
    upgrade::command::finish_report(&mut platform, options)
}

#[cfg(target_os = "macos")]
fn finish_on_this_platform(cli: &Cli, options: &upgrade::FinishOptions) -> anyhow::Result<Report> {
    let mut platform = upgrade::macos::MacUpgrade::new(vpn_app::macos::app_bundle()?, &cli.socket);
    upgrade::command::finish_report(&mut platform, options)
}
