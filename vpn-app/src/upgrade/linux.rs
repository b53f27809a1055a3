//! The upgrade's platform calls on Linux, where the "system extension" is
//! the service process: activation replaces whatever extension runs with
//! the installed binary (stop, start), there is no approval to wait for, and
//! profiles live in the extension's state directory, which deactivation
//! leaves alone.

use std::{path::Path, time::Duration};

use vpn_ipc::message::{Request, Response, TunnelState, TunnelStatus};

use super::{Handshake, RequestOutcome, SavedConfiguration, UpgradePlatform, VpnSession};
use crate::{channel::ready_at, extension_process};

pub struct LinuxUpgrade<'a> {
    pub socket: &'a Path,
}

impl LinuxUpgrade<'_> {
    fn request(&self, request: Request) -> Result<Response, String> {
        let mut client = ready_at(self.socket).map_err(|e| format!("{e:#}"))?;
        client.request(request).map_err(|e| e.to_string())
    }
}

impl UpgradePlatform for LinuxUpgrade<'_> {
    fn tunnel_connected(&mut self) -> bool {
        matches!(
            self.request(Request::Status),
            Ok(Response::Status(status)) if status.state == TunnelState::Connected
        )
    }

    fn activate(&mut self) -> RequestOutcome {
        let replaced = extension_process::stop(self.socket)
            .and_then(|_| extension_process::ensure_running(self.socket));
        match replaced {
            Ok(_) => RequestOutcome::Done,
            Err(e) => RequestOutcome::Failed(format!("{e:#}")),
        }
    }

    fn deactivate(&mut self) -> RequestOutcome {
        match extension_process::stop(self.socket) {
            Ok(_) => RequestOutcome::Done,
            Err(e) => RequestOutcome::Failed(format!("{e:#}")),
        }
    }

    fn wait_for_approval(&mut self, _limit: Duration) -> RequestOutcome {
        // Linux never asks.
        RequestOutcome::Done
    }

    fn handshake(&mut self) -> Handshake {
        super::channel_handshake(self.socket)
    }

    fn resume(&mut self) -> Result<(), String> {
        super::channel_resume(self.socket)
    }

    fn connect(&mut self, profile: Option<&str>, limit: Duration) -> Result<(), String> {
        // Linux has no VPN configuration of its own to start: the profile
        // comes from `upgrade prepare`.
        let profile = profile
            .ok_or("the tunnel was up but its profile was not recorded")?
            .to_string();
        match self.request(Request::Start { profile })? {
            Response::Started => {}
            other => {
                return Err(format!(
                    "the extension refused to start the tunnel: {other:?}"
                ))
            }
        }
        let start = std::time::Instant::now();
        loop {
            if let Response::Status(status) = self.request(Request::Status)? {
                if status.state == TunnelState::Connected {
                    return Ok(());
                }
            }
            if start.elapsed() > limit {
                return Err(format!("the tunnel did not connect within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn tunnel_status(&mut self) -> Result<TunnelStatus, String> {
        super::channel_status(self.socket)
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Linux has no system VPN configuration or session apart from the
/// service: its profiles live in its state directory, which nothing here
/// deletes, and the control channel's Stop ends its tunnel.
pub struct LinuxSession;

impl VpnSession for LinuxSession {
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String> {
        // The service stands for the configuration, and is always there.
        Ok(Some(SavedConfiguration::default()))
    }

    fn save(&mut self, _configuration: &SavedConfiguration) -> Result<(), String> {
        Ok(())
    }

    fn stop(&mut self, _limit: Duration) -> Result<(), String> {
        Ok(())
    }
}

impl VpnSession for LinuxUpgrade<'_> {
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String> {
        LinuxSession.configuration()
    }

    fn save(&mut self, configuration: &SavedConfiguration) -> Result<(), String> {
        LinuxSession.save(configuration)
    }

    fn stop(&mut self, limit: Duration) -> Result<(), String> {
        LinuxSession.stop(limit)
    }
}
