//! The control service: what the extension does with the requests the
//! session rules let through. It owns the one running tunnel.

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use vpn_ipc::{
    message::{
        ErrorCode, PeerStatus, Request, Response, TunnelState as WireState, TunnelStats,
        TunnelStatus,
    },
    session::Service,
};

use crate::{
    engine::{Engine, EngineStatus, TunnelConfig, TunnelState},
    log_ring::LogRing,
    platform::{NetworkSettings, TunnelDevices},
    profiles::{ProfileError, ProfileStore},
};

/// The most log lines one `Logs` request gets.
const MAX_LOG_LINES: u32 = 1000;
/// A log line longer than this is cut (a peer's error can quote a lot).
const MAX_LOG_LINE_BYTES: usize = 1024;
/// What the lines of one `Logs` reply may take, as JSON: the frame, less
/// room for the envelope.
const LOG_REPLY_BYTES: usize = vpn_ipc::framing::MAX_FRAME_LEN - 1024;

/// The newest of `lines` that fit in one reply, oldest first, each cut to
/// [`MAX_LOG_LINE_BYTES`]: `logs --lines 1000` of long lines gets as many
/// as fit instead of a reply over the frame.
fn lines_within_reply(lines: Vec<String>) -> Vec<String> {
    let mut budget = LOG_REPLY_BYTES;
    let mut kept: Vec<String> = lines
        .into_iter()
        .rev()
        .map(|mut line| {
            if line.len() > MAX_LOG_LINE_BYTES {
                let mut cut = MAX_LOG_LINE_BYTES;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push_str(" [cut]");
            }
            line
        })
        .take_while(|line| {
            // As JSON: quoted, escaped, and a comma.
            let cost = serde_json::to_string(line).map_or(usize::MAX, |j| j.len() + 1);
            budget = budget.saturating_sub(cost);
            budget > 0
        })
        .collect();
    kept.reverse();
    kept
}

pub struct ControlService<D: TunnelDevices> {
    profiles: ProfileStore,
    devices: D,
    logs: LogRing,
    runtime: tokio::runtime::Runtime,
    tunnel: Mutex<Option<Running>>,
}

struct Running {
    profile: String,
    engine: Engine,
}

fn error(code: ErrorCode, message: impl ToString) -> Response {
    Response::Error {
        code,
        message: message.to_string(),
    }
}

fn profile_error(e: ProfileError) -> Response {
    match e {
        ProfileError::Missing(_) => error(ErrorCode::NoSuchProfile, e),
        ProfileError::BadName(_) => error(ErrorCode::InvalidConfig, e),
        ProfileError::Io { .. } => error(ErrorCode::Internal, e),
    }
}

/// A profile's text as a tunnel configuration, or the reply refusing it.
fn parse(profile: &str, text: &str) -> Result<TunnelConfig, Box<Response>> {
    text.parse().map_err(|e| {
        Box::new(error(
            ErrorCode::InvalidConfig,
            format!("profile {profile}, {e}"),
        ))
    })
}

fn epoch_seconds(time: Option<SystemTime>) -> Option<u64> {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

fn wire_state(state: TunnelState) -> WireState {
    match state {
        TunnelState::Disconnected => WireState::Disconnected,
        TunnelState::Connecting => WireState::Connecting,
        TunnelState::Connected => WireState::Connected,
        TunnelState::Reconnecting => WireState::Reconnecting,
        TunnelState::Disconnecting => WireState::Disconnecting,
        TunnelState::Error => WireState::Error,
    }
}

fn wire_stats(status: &EngineStatus) -> TunnelStats {
    let totals = status.totals();
    TunnelStats {
        rx_bytes: totals.rx_bytes,
        tx_bytes: totals.tx_bytes,
        rx_packets: totals.rx_packets,
        tx_packets: totals.tx_packets,
    }
}

impl<D: TunnelDevices> ControlService<D> {
    pub fn new(profiles: ProfileStore, devices: D, logs: LogRing) -> std::io::Result<Self> {
        // Two workers: one per direction of the packet loop on a 2-core box,
        // and no more threads than the work needs in the extension.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tunnel")
            .enable_all()
            .build()?;
        Ok(Self {
            profiles,
            devices,
            logs,
            runtime,
            tunnel: Mutex::new(None),
        })
    }

    fn start(&self, profile: &str) -> Response {
        let text = match self.profiles.load(profile) {
            Ok(text) => text,
            Err(e) => return profile_error(e),
        };
        let config = match parse(profile, &text) {
            Ok(config) => config,
            Err(reply) => return *reply,
        };
        let mut tunnel = self.tunnel.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = tunnel.take() {
            tracing::info!(
                profile = running.profile,
                "stopping the running tunnel first"
            );
            self.runtime.block_on(running.engine.stop());
        }
        // The device is opened inside the runtime: its async I/O registers
        // with this runtime's reactor.
        let started = self.runtime.block_on(async {
            let settings = NetworkSettings::resolve(&config)
                .await
                .map_err(|e| error_chain(&e))?;
            let tun = self
                .devices
                .open(&settings)
                .map_err(|e| format!("cannot open the tunnel device: {e}"))?;
            Engine::start(&config, &settings.endpoints, tun)
                .await
                .map_err(|e| format!("cannot start the tunnel: {}", error_chain(&e)))
        });
        match started {
            Ok(engine) => {
                tracing::info!(profile, "tunnel started");
                *tunnel = Some(Running {
                    profile: profile.to_string(),
                    engine,
                });
                Response::Started
            }
            Err(message) => error(ErrorCode::Internal, message),
        }
    }

    fn stop(&self) -> Response {
        let running = self.tunnel.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(running) = running {
            let status = self.runtime.block_on(running.engine.stop());
            tracing::info!(profile = running.profile, totals = ?status.totals(), "tunnel stopped");
        }
        Response::Stopped
    }

    fn status(&self) -> TunnelStatus {
        let tunnel = self.tunnel.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = tunnel.as_ref() else {
            return TunnelStatus::default();
        };
        let status = running.engine.status();
        TunnelStatus {
            state: wire_state(status.state),
            profile: Some(running.profile.clone()),
            last_handshake: epoch_seconds(status.last_handshake()),
            error: status.error.clone(),
            stats: wire_stats(&status),
            peers: status
                .peers
                .iter()
                .map(|p| PeerStatus {
                    public_key: p.public_key.map(|k| k.to_string()).unwrap_or_default(),
                    endpoint: p.endpoint.map(|e| e.to_string()),
                    last_handshake: epoch_seconds(p.last_handshake),
                    rx_bytes: p.rx_bytes,
                    tx_bytes: p.tx_bytes,
                })
                .collect(),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message += &format!(": {cause}");
        source = cause.source();
    }
    message
}

impl<D: TunnelDevices> Service for ControlService<D> {
    fn handle(&self, request: &Request) -> Response {
        match request {
            Request::Status => Response::Status(self.status()),
            Request::Stats => Response::Stats(self.status().stats),
            Request::Logs { lines } => Response::Logs {
                lines: lines_within_reply(self.logs.tail((*lines).min(MAX_LOG_LINES) as usize)),
            },
            // A profile is checked before it is stored: a broken file is
            // refused with its line now, not when the user connects.
            Request::SetConfig { profile, config } => match parse(profile, config) {
                Ok(_) => match self.profiles.save(profile, config) {
                    Ok(()) => Response::ConfigSaved,
                    Err(e) => profile_error(e),
                },
                Err(reply) => *reply,
            },
            Request::Profiles => match self.profiles.list() {
                Ok(names) => Response::Profiles { names },
                Err(e) => profile_error(e),
            },
            Request::Start { profile } => self.start(profile),
            Request::Stop => self.stop(),
            // The session rules answer these before the service sees them.
            Request::Hello { .. } | Request::Quiesce | Request::Resume => {
                error(ErrorCode::Internal, "handled by the session")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vpn_ipc::message::ResponseEnvelope;

    use super::*;

    #[test]
    fn a_thousand_long_log_lines_fit_in_one_frame_newest_kept() {
        let lines: Vec<String> = (0..1000)
            .map(|n| format!("{n:04} \u{1b}é{}", "x".repeat(5000)))
            .collect();
        let kept = lines_within_reply(lines);
        assert!(kept.len() > 10, "{}", kept.len());
        assert!(kept.last().unwrap().starts_with("0999 "));
        assert!(kept
            .iter()
            .all(|l| l.len() <= MAX_LOG_LINE_BYTES + 6 && l.ends_with("[cut]")));
        let reply = ResponseEnvelope {
            id: u64::MAX,
            response: Response::Logs { lines: kept },
        };
        // At the limit, and not over: the reply goes out as it is.
        let json = reply.to_json();
        assert!(
            json.len() <= vpn_ipc::framing::MAX_FRAME_LEN,
            "{}",
            json.len()
        );
        assert!(json.len() > vpn_ipc::framing::MAX_FRAME_LEN - 2 * MAX_LOG_LINE_BYTES);
        assert_eq!(reply.to_json_within_frame(), json);

        let short: Vec<String> = vec!["one".into(), "two".into()];
        assert_eq!(lines_within_reply(short.clone()), short);
    }
}
