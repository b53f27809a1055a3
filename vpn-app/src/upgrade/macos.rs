//! The upgrade's platform calls on macOS: `OSSystemExtensionRequest` for
//! the extension, `NETunnelProviderManager` for the VPN configuration and
//! the tunnel, XPC for the handshake. The decisions are `finish`'s.

use std::{path::Path, time::Duration};

use vpn_ipc::message::TunnelStatus;

use super::{Handshake, RequestOutcome, SavedConfiguration, UpgradePlatform, VpnSession};
use crate::macos::{
    system_extension::{request, PendingRequest, RequestKind},
    vpn_configuration::{run_loop_for, VpnConfiguration},
    AppBundle,
};

pub struct MacUpgrade<'a> {
    pub bundle: AppBundle,
    /// The Unix socket a development build outside a bundle falls back to.
    pub socket: &'a Path,
    /// A request waiting for the user's approval.
    pending: Option<PendingRequest>,
}

impl<'a> MacUpgrade<'a> {
    pub fn new(bundle: AppBundle, socket: &'a Path) -> Self {
        Self {
            bundle,
            socket,
            pending: None,
        }
    }

    fn vpn_configuration(&self) -> Result<VpnConfiguration, String> {
        VpnConfiguration::find(&self.bundle.extension_id)?
            .ok_or_else(|| "the app has no VPN configuration".to_string())
    }

    fn session(&self) -> MacSession {
        MacSession {
            extension_id: self.bundle.extension_id.clone(),
        }
    }
}

impl VpnSession for MacUpgrade<'_> {
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String> {
        self.session().configuration()
    }

    fn save(&mut self, configuration: &SavedConfiguration) -> Result<(), String> {
        self.session().save(configuration)
    }

    fn stop(&mut self, limit: Duration) -> Result<(), String> {
        self.session().stop(limit)
    }
}

impl UpgradePlatform for MacUpgrade<'_> {
    fn tunnel_connected(&mut self) -> bool {
        self.vpn_configuration().is_ok_and(|c| c.is_connected())
    }

    fn activate(&mut self) -> RequestOutcome {
        let (outcome, pending) = request(RequestKind::Activate, &self.bundle.extension_id);
        if outcome == RequestOutcome::NeedsApproval {
            self.pending = Some(pending);
        }
        outcome
    }

    fn deactivate(&mut self) -> RequestOutcome {
        // Deactivation asks for an administrator's password unless MDM
        // made the extension removable: wait for that answer as for an
        // activation's approval.
        let (outcome, pending) = request(RequestKind::Deactivate, &self.bundle.extension_id);
        if outcome == RequestOutcome::NeedsApproval {
            self.pending = Some(pending);
        }
        outcome
    }

    fn wait_for_approval(&mut self, limit: Duration) -> RequestOutcome {
        match &self.pending {
            Some(pending) => pending.outcome(limit),
            None => RequestOutcome::Failed("no request is waiting for approval".into()),
        }
    }

    fn handshake(&mut self) -> Handshake {
        super::channel_handshake(self.socket)
    }

    fn resume(&mut self) -> Result<(), String> {
        super::channel_resume(self.socket)
    }

    fn connect(&mut self, profile: Option<&str>, limit: Duration) -> Result<(), String> {
        let configuration = self.vpn_configuration()?;
        configuration.start(profile)?;
        configuration.wait_connected(limit)
    }

    fn tunnel_status(&mut self) -> Result<TunnelStatus, String> {
        super::channel_status(self.socket)
    }

    fn sleep(&mut self, duration: Duration) {
        // The run loop keeps NetworkExtension's answers flowing meanwhile.
        run_loop_for(duration);
    }
}

/// Our VPN configuration and its `NEVPNConnection`.
pub struct MacSession {
    pub extension_id: String,
}

impl VpnSession for MacSession {
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String> {
        VpnConfiguration::find(&self.extension_id)?
            .map(|c| c.saved())
            .transpose()
    }

    fn save(&mut self, configuration: &SavedConfiguration) -> Result<(), String> {
        VpnConfiguration::save(&self.extension_id, configuration).map(drop)
    }

    fn stop(&mut self, limit: Duration) -> Result<(), String> {
        match VpnConfiguration::find(&self.extension_id)? {
            Some(configuration) => configuration.stop_and_wait(limit),
            None => Ok(()),
        }
    }
}
