//! What the menu bar app last saw of the system: the model's input,
//! gathered by the platform layer (on macOS from
//! `OSSystemExtensionRequest`, `NETunnelProviderManager`, the extension's
//! `Status` over XPC and `SMAppService`).

use vpn_ipc::message::TunnelStatus;

use crate::system_extension::InstalledExtension;

/// The system extension, from a properties request's installed copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExtensionState {
    /// Not asked yet.
    #[default]
    Unknown,
    Active,
    /// Submitted, and waiting for the user in System Settings.
    AwaitingApproval,
    /// No enabled copy, and none waiting.
    NotInstalled,
    /// The last request failed; the text says why.
    Failed(String),
}

impl ExtensionState {
    /// From `OSSystemExtensionProperties` of every installed copy: one
    /// enabled copy is enough (the replaced one lingers while it stops).
    pub fn from_installed(copies: &[InstalledExtension]) -> Self {
        if copies.iter().any(|c| c.enabled) {
            Self::Active
        } else if copies.iter().any(|c| c.awaiting_approval) {
            Self::AwaitingApproval
        } else {
            Self::NotInstalled
        }
    }
}

/// The VPN configuration's session: `NEVPNStatus`, or no configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Session {
    /// The app has no VPN configuration (nothing imported and connected yet).
    #[default]
    NoConfiguration,
    Disconnected,
    Connecting,
    Connected,
    Reasserting,
    Disconnecting,
}

impl Session {
    /// `NEVPNStatus`'s raw value (NetworkExtension's `NEVPNConnection.h`:
    /// Invalid 0, Disconnected 1, Connecting 2, Connected 3, Reasserting 4,
    /// Disconnecting 5). Invalid is a configuration that cannot run, which
    /// for the user is one not set up; an unknown value reads as
    /// disconnected.
    pub fn from_ne_status(raw: isize) -> Self {
        match raw {
            0 => Self::NoConfiguration,
            2 => Self::Connecting,
            3 => Self::Connected,
            4 => Self::Reasserting,
            5 => Self::Disconnecting,
            _ => Self::Disconnected,
        }
    }

    /// Up, or on its way up: Disconnect applies.
    pub fn is_up(self) -> bool {
        matches!(self, Self::Connecting | Self::Connected | Self::Reasserting)
    }
}

/// Launch at Login: `SMAppService.Status` of the main app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoginItem {
    #[default]
    Off,
    On,
    /// Registered, but the user turned it off in System Settings.
    RequiresApproval,
    /// `notFound`: the app is not where the system can register it.
    Unavailable,
}

impl LoginItem {
    /// `SMAppServiceStatus`'s raw value (ServiceManagement's
    /// `SMAppService.h`: notRegistered 0, enabled 1, requiresApproval 2,
    /// notFound 3).
    pub fn from_sm_status(raw: isize) -> Self {
        match raw {
            1 => Self::On,
            2 => Self::RequiresApproval,
            3 => Self::Unavailable,
            _ => Self::Off,
        }
    }
}

/// One look at everything the menu shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub extension: ExtensionState,
    pub session: Session,
    /// The profile the VPN configuration starts.
    pub configured_profile: Option<String>,
    /// The extension's own status; `None` when it did not answer.
    pub tunnel: Option<TunnelStatus>,
    /// The stored profiles, sorted.
    pub profiles: Vec<String>,
    pub login_item: LoginItem,
}

impl Observed {
    /// The profile the tunnel runs (or last ran): the extension knows best,
    /// the configuration is what starts next.
    pub fn active_profile(&self) -> Option<&str> {
        self.tunnel
            .as_ref()
            .and_then(|t| t.profile.as_deref())
            .filter(|_| self.session.is_up())
            .or(self.configured_profile.as_deref())
    }
}
