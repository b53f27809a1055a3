//! The host app's command line. On Linux it talks to the extension's
//! service process over the control socket; the macOS app, the extension
//! lifecycle and the upgrade commands are separate work.

mod cli;

use std::{process::ExitCode, time::Duration};

use anyhow::{bail, Context};
use clap::Parser;
use cli::{Cli, Command, ExtensionCommand};
use serde_json::json;
use vpn_ipc::{
    message::{Request, Response},
    session::HandshakeOutcome,
    unix::Client,
};

const SCHEMA_VERSION: u32 = 1;
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(report) => {
            if json {
                println!("{:#}", report.json);
            } else {
                println!("{}", report.text);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            if json {
                println!(
                    "{:#}",
                    json!({"schema_version": SCHEMA_VERSION, "error": format!("{error:#}")})
                );
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connects and says hello; a build or protocol mismatch is reported, not
/// papered over (after an upgrade it means the old extension still runs).
fn connect(cli: &Cli) -> anyhow::Result<(Client, HandshakeOutcome)> {
    let mut client = Client::connect(&cli.socket, Duration::from_secs(5)).with_context(|| {
        format!(
            "is the extension running? (socket {})",
            cli.socket.display()
        )
    })?;
    let outcome = client
        .hello(VERSION, VERSION)
        .context("handshake with the extension failed")?;
    Ok((client, outcome))
}

fn ready(cli: &Cli) -> anyhow::Result<Client> {
    match connect(cli)? {
        (client, HandshakeOutcome::Current { .. }) => Ok(client),
        (_, other) => bail!("the extension cannot serve this app: {other:?}"),
    }
}

fn expect(response: Response, wanted: fn(&Response) -> bool) -> anyhow::Result<Response> {
    match response {
        Response::Error { code, message } => bail!("the extension refused ({code:?}): {message}"),
        other if wanted(&other) => Ok(other),
        other => bail!("unexpected reply from the extension: {other:?}"),
    }
}

/// What a command reports: a versioned JSON object for `--json`, a line of
/// text otherwise.
struct Report {
    json: serde_json::Value,
    text: String,
}

fn report(mut json: serde_json::Value, text: String) -> Report {
    json["schema_version"] = SCHEMA_VERSION.into();
    Report { json, text }
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
            let text = format!(
                "{:?}{}",
                status.state,
                status
                    .profile
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            Ok(report(
                json!({"state": status.state, "profile": status.profile, "last_handshake": status.last_handshake}),
                text,
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
                ready(&cli)?.request(Request::SetConfig {
                    profile: profile.clone(),
                    config,
                })?,
                |r| *r == Response::ConfigSaved,
            )?;
            let text = format!("imported profile {profile}");
            Ok(report(json!({ "profile": profile }), text))
        }
        Command::Connect { profile } => {
            expect(
                ready(&cli)?.request(Request::Start {
                    profile: profile.clone(),
                })?,
                |r| *r == Response::Started,
            )?;
            Ok(report(
                json!({ "profile": profile }),
                format!("connecting {profile}"),
            ))
        }
        Command::Disconnect => {
            expect(ready(&cli)?.request(Request::Stop)?, |r| {
                *r == Response::Stopped
            })?;
            Ok(report(json!({}), "disconnected".into()))
        }
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
            let text = format!("extension: {state} {detail}");
            Ok(report(
                json!({"app_build": VERSION, "extension": state, "detail": detail}),
                text,
            ))
        }
    }
}
