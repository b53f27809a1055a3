//! The tunnel's commands: `status`, `import`, `profiles`, `connect`,
//! `disconnect`, `logs`.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use vpn_app::{
    channel::expect,
    cli::Cli,
    menu_bar::text::human_bytes,
    report::{report, Report},
};
use vpn_ipc::message::{Request, Response, TunnelStatus};

use super::{doctor, ready, ready_starting};

/// The profile `import` saved or `connect` starts.
#[derive(Serialize)]
struct Profile {
    profile: String,
}

#[derive(Serialize)]
struct Profiles {
    profiles: Vec<String>,
}

#[derive(Serialize)]
struct Disconnected {}

#[derive(Serialize)]
struct Logs {
    lines: Vec<String>,
}

pub fn status(cli: &Cli) -> anyhow::Result<Report> {
    let reply = expect(ready(cli)?.request(Request::Status)?, |r| {
        matches!(r, Response::Status(_))
    })?;
    let Response::Status(status) = reply else {
        unreachable!("checked above")
    };
    let text = status_text(&status);
    Ok(report(&status, text))
}

pub fn import(cli: &Cli, file: &Path, name: Option<&str>) -> anyhow::Result<Report> {
    let config =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let profile = match name {
        Some(name) => name.to_string(),
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("name the profile with --name")?
            .to_string(),
    };
    expect(
        ready_starting(cli)?.request(Request::SetConfig {
            profile: profile.clone(),
            config,
        })?,
        |r| *r == Response::ConfigSaved,
    )?;
    let text = format!("imported profile {profile}");
    Ok(report(&Profile { profile }, text))
}

pub fn profiles(cli: &Cli) -> anyhow::Result<Report> {
    let profiles = stored_profiles(cli)?;
    let text = if profiles.is_empty() {
        "no profiles: import one with `vpn-app import FILE.conf`".to_string()
    } else {
        profiles.join("\n")
    };
    Ok(report(&Profiles { profiles }, text))
}

/// The profiles the extension stores, sorted.
pub fn stored_profiles(cli: &Cli) -> anyhow::Result<Vec<String>> {
    let reply = expect(ready(cli)?.request(Request::Profiles)?, |r| {
        matches!(r, Response::Profiles { .. })
    })?;
    let Response::Profiles { names } = reply else {
        unreachable!("checked above")
    };
    Ok(names)
}

pub fn connect(cli: &Cli, profile: &str) -> anyhow::Result<Report> {
    start_tunnel(cli, profile)?;
    Ok(report(
        &Profile {
            profile: profile.to_string(),
        },
        format!("connecting {profile}"),
    ))
}

pub fn disconnect(cli: &Cli) -> anyhow::Result<Report> {
    stop_tunnel(cli)?;
    Ok(report(&Disconnected {}, "disconnected".into()))
}

pub fn logs(cli: &Cli, lines: u32) -> anyhow::Result<Report> {
    let reply = expect(ready(cli)?.request(Request::Logs { lines })?, |r| {
        matches!(r, Response::Logs { .. })
    })?;
    let Response::Logs { lines } = reply else {
        unreachable!("checked above")
    };
    let text = lines.join("\n");
    Ok(report(&Logs { lines }, text))
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
            human_bytes(status.stats.rx_bytes),
            human_bytes(status.stats.tx_bytes)
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
