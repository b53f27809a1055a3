//! `vpn-app doctor`: what a support engineer would check first, each with a
//! verdict and the detail that explains it. It never changes anything.

use std::path::Path;

use serde::Serialize;
use vpn_ipc::{
    message::{Request, Response, TunnelState},
    session::HandshakeOutcome,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check that applies; later checks are skipped when an earlier
/// one makes them meaningless (no extension, no tunnel to look at).
pub fn run(socket: &Path, app_version: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    #[cfg(target_os = "linux")]
    checks.push(if Path::new("/dev/net/tun").exists() {
        check("tun device", Verdict::Ok, "/dev/net/tun is present")
    } else {
        check(
            "tun device",
            Verdict::Fail,
            "/dev/net/tun is missing: load the tun module (modprobe tun)",
        )
    });

    let mut client = match vpn_app::channel::open(socket) {
        Ok(client) => {
            checks.push(check(
                "control channel",
                Verdict::Ok,
                "the extension accepts connections",
            ));
            client
        }
        Err(e) => {
            checks.push(check("control channel", Verdict::Fail, format!("{e:#}")));
            return checks;
        }
    };
    match client.hello(app_version, app_version) {
        Ok(HandshakeOutcome::Current { ext_version, protocol }) => checks.push(check(
            "extension",
            Verdict::Ok,
            format!("version {ext_version}, the same build as this app, protocol {protocol}"),
        )),
        Ok(HandshakeOutcome::OtherBuild { ext_build, protocol }) => checks.push(check(
            "extension",
            Verdict::Warn,
            format!(
                "build {ext_build} answers, this app is {app_version} (protocol {protocol} in common): \
                 an upgrade has not finished; restart the extension"
            ),
        )),
        Ok(HandshakeOutcome::ProtocolSkew { message }) => {
            checks.push(check("extension", Verdict::Fail, message));
            return checks;
        }
        Ok(HandshakeOutcome::Refused { code, message }) => {
            checks.push(check("extension", Verdict::Fail, format!("refused ({code:?}): {message}")));
            return checks;
        }
        Err(e) => {
            checks.push(check("extension", Verdict::Fail, format!("no handshake: {e}")));
            return checks;
        }
    }
    checks.push(match client.request(Request::Status) {
        Ok(Response::Status(status)) => {
            let profile = status.profile.as_deref().unwrap_or("no profile");
            match status.state {
                TunnelState::Connected => check(
                    "tunnel",
                    Verdict::Ok,
                    match status.last_handshake {
                        Some(at) => format!(
                            "connected ({profile}), last handshake {} s ago",
                            seconds_since(at)
                        ),
                        None => format!("connected ({profile})"),
                    },
                ),
                TunnelState::Disconnected => check("tunnel", Verdict::Ok, "disconnected"),
                TunnelState::Error => check(
                    "tunnel",
                    Verdict::Fail,
                    format!(
                        "stopped on its own ({profile}): {}",
                        status.error.as_deref().unwrap_or("no reason given")
                    ),
                ),
                state => check(
                    "tunnel",
                    Verdict::Warn,
                    format!(
                        "{state:?} ({profile}): no handshake with the peer yet; \
                         check its endpoint, keys and that UDP reaches it"
                    ),
                ),
            }
        }
        Ok(other) => check(
            "tunnel",
            Verdict::Fail,
            format!("unexpected reply {other:?}"),
        ),
        Err(e) => check("tunnel", Verdict::Fail, format!("no status: {e}")),
    });
    checks
}

/// Seconds from `epoch_seconds` (since the Unix epoch) to now.
/// `doctor`: one line per check; fails when any check does.
pub fn report(cli: &vpn_app::cli::Cli) -> vpn_app::report::Report {
    let checks = run(&cli.socket, vpn_app::VERSION);
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let text = checks
        .iter()
        .map(|c| {
            let verdict = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            format!("{verdict}  {}: {}", c.name, c.detail)
        })
        .collect::<Vec<_>>()
        .join("\n");
    #[derive(Serialize)]
    struct Doctor {
        checks: Vec<Check>,
        healthy: bool,
    }
    let fields = Doctor {
        checks,
        healthy: !failed,
    };
    let mut report = vpn_app::report::report(&fields, text);
    report.failed = failed;
    report
}

pub fn seconds_since(epoch_seconds: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(epoch_seconds)
}
