//! The Mac as the upgrade sees it: VPN configurations (what `scutil --nc`
//! lists), the active system extension, the app's XPC connection to it,
//! running apps and the console user; with the extension lifecycle rules of
//! DESIGN.md:
//! - replacing the extension while the tunnel is connected, the first
//!   activation of a version whose notarization ticket was not ingested
//!   before the app launched, and a Mach service name unchanged across
//!   versions each leave the app's XPC connection invalidated until
//!   deactivate + reactivate;
//! - deactivation removes the VPN configuration (the app's own store of
//!   profiles and keys survives, but the configuration's settings are gone
//!   unless the app recorded them);
//! - VPN On Demand brings a stopped session back within about a second;
//! - activation may need the user's approval, or a reboot;
//! - the system's VPN session (NEVPNConnection, what `scutil --nc` shows)
//!   is one thing, our engine inside the extension another. The session
//!   starts the engine (the provider's `startTunnel`) and stopping the
//!   session stops it (`stopTunnel`), but the engine stopped over our own
//!   control channel leaves the session Connected: NetworkExtension ends a
//!   session only through `stopVPNTunnel` or the provider's
//!   `cancelTunnelWithError` (NEPacketTunnelProvider documentation). Traffic
//!   flows only while both are up.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use vpn_app::upgrade::{Handshake, RequestOutcome, SavedConfiguration};
use vpn_ipc::message::{TunnelState, TunnelStatus};

/// Milliseconds since the epoch: one clock for every process of the
/// simulation.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConsoleUser {
    pub name: String,
    pub uid: u32,
}

/// A VPN configuration (`NETunnelProviderManager`), as `scutil --nc` sees it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub name: String,
    /// The app that saved it (`scutil --nc list` shows this one).
    pub app_id: String,
    /// `NEProviderBundleIdentifier` (`scutil --nc show`).
    pub provider_id: String,
    pub profile: String,
    /// Stands for the profile's keys: must come through an upgrade intact.
    pub key: String,
    pub status: String,
    /// Turned on in System Settings; `scutil --nc list` shows a service
    /// that is not as `(Invalid)`.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// When a `Disconnecting` service reaches `Disconnected`.
    #[serde(default)]
    pub disconnected_at_ms: Option<u64>,
    /// The provider protocol's `serverAddress`.
    #[serde(default)]
    pub server: String,
    /// `isOnDemandEnabled`.
    #[serde(default)]
    pub on_demand: bool,
    /// `onDemandRules`, opaque to the app; the simulation reads a rule
    /// list that names [`CONNECT_RULE`] as one that connects.
    #[serde(default)]
    pub on_demand_rules: Option<String>,
    /// When On Demand brings the session back after a stop.
    #[serde(default)]
    pub reconnect_at_ms: Option<u64>,
    /// When a `Connecting` session is up ([`CONNECT_MS`]).
    #[serde(default)]
    pub connected_at_ms: Option<u64>,
}

/// From `startVPNTunnel` to the provider starting, with the session
/// Connecting meanwhile: the macOS WireGuard app logged "connection status
/// changed to 'connecting'" at 09:54:55.602 and its provider "Starting
/// tunnel from the app" at 09:54:56.286 (angristan/wireguard-install
/// issue 20, 2019), 684 ms.
pub const CONNECT_MS: u64 = 684;

/// From calling `saveToPreferences` to the save's end: Tailscale's app
/// logged "Saving configuration Tailscale Tunnel with existing signature"
/// at 01:15:19.435604 and "Successfully saved configuration Tailscale
/// Tunnel" at 01:15:19.451144 on macOS Catalina (tailscale/tailscale issue
/// 6046, 2022), 15.5 ms. One sample, of a configuration saved before (a
/// first save also waits for the user to allow it).
pub const SAVE_MS: u64 = 16;

/// How the simulation writes an `NEOnDemandRuleConnect` in
/// [`Service::on_demand_rules`].
pub const CONNECT_RULE: &str = "NEOnDemandRuleConnect";

/// How long On Demand takes to bring a stopped session back: "Within about
/// one second of disconnecting, the connection re-enables on its own"
/// (tailscale/tailscale issue 20481, macOS; the same second in
/// gaomd/docker-ikev2-vpn-server issue 44). Nothing a script can run turns
/// it off: Apple's scutil has no such command (configd, scutil.tproj/nc.c),
/// and vendors turn `isOnDemandEnabled` off and save before they stop
/// (wireguard-apple, StatusMenu.swift and TunnelsManager.swift).
pub const ON_DEMAND_RECONNECT_MS: u64 = 1000;

impl Service {
    /// Whether On Demand reconnects it after a stop.
    fn on_demand_connects(&self) -> bool {
        self.on_demand
            && self
                .on_demand_rules
                .as_deref()
                .is_some_and(|rules| rules.contains(CONNECT_RULE))
    }

    /// What the app reads back from `NETunnelProviderManager`.
    pub fn saved(&self) -> SavedConfiguration {
        SavedConfiguration {
            name: self.name.clone(),
            server: self.server.clone(),
            profile: Some(self.profile.clone()),
            on_demand: self.on_demand,
            on_demand_rules: self.on_demand_rules.clone(),
        }
    }
}

fn enabled() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Extension {
    pub version: String,
    pub service_name: String,
    /// The team of its signature: `systemextensionsctl list` shows it.
    #[serde(default)]
    pub team_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunningApp {
    pub pid: u32,
    pub bundle_id: String,
    pub executable: String,
    /// Its arguments: none for the app LaunchServices started, `upgrade
    /// finish ...` for an upgrade in progress.
    #[serde(default)]
    pub args: Vec<String>,
    /// Handles SIGTERM and does not exit (a hung handler); SIGKILL ends it.
    pub ignores_term: bool,
}

impl RunningApp {
    /// What `pgrep -f` matches: the arguments joined by spaces.
    pub fn command_line(&self) -> String {
        std::iter::once(self.executable.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the user does when macOS asks them to allow the extension.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Approval {
    /// macOS does not ask.
    #[default]
    NotAsked,
    /// Allows it in System Settings after this many milliseconds.
    AfterMs(u64),
    /// Never allows it.
    Denies,
}

/// The app that makes the requests: what its bundle says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppIdentity {
    pub bundle_id: String,
    pub version: String,
    /// `VPNExtensionMachServiceName`, the embedded extension's
    /// `NEMachServiceName`.
    pub service_name: String,
    pub provider_id: String,
    /// The team of the embedded extension's signature.
    pub team_id: String,
    pub product_name: String,
    /// `com.apple.security.application-groups` signed into the embedded
    /// extension's executable.
    pub extension_groups: Vec<String>,
}

impl AppIdentity {
    /// The extension this app embeds, as activation installs it.
    pub fn extension(&self) -> Extension {
        Extension {
            version: self.version.clone(),
            service_name: self.service_name.clone(),
            team_id: self.team_id.clone(),
        }
    }

    /// sysextd's category check of a network extension: its
    /// `NEMachServiceName` must be a descendant of an app group the
    /// extension is entitled to. Apple DTS: "If your app group is GGG, the
    /// string prefix we look for is GGG., including the trailing dot"
    /// (forums.developer.apple.com thread 708017); otherwise activation
    /// fails with OSSystemExtensionErrorDomain code 9, "extension category
    /// returned error" (github.com/daily-co/daily-virtual-camera issue 9).
    pub fn category_check(&self) -> Result<(), String> {
        let under_a_group = self
            .extension_groups
            .iter()
            .any(|group| self.service_name.starts_with(&format!("{group}.")));
        if under_a_group {
            Ok(())
        } else {
            Err(format!(
                "Error Domain=OSSystemExtensionErrorDomain Code=9 \"validation failed\" \
                 UserInfo={{NSLocalizedDescriptionName=validation failed, \
                 NSLocalizedFailureReason=extension category returned error}}: \
                 NEMachServiceName {} is under none of the app groups {:?}",
                self.service_name, self.extension_groups
            ))
        }
    }
}

/// One call of a fake tool or of the simulated app's platform.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Call {
    pub at_ms: u64,
    pub tool: String,
    pub args: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Mac {
    /// The provider of the VPN under test; other VPNs may be configured.
    pub provider_id: String,
    pub console: Option<ConsoleUser>,
    pub services: Vec<Service>,
    pub extension: Option<Extension>,
    pub xpc_invalidated: bool,
    /// The profile our engine runs in the extension, if it runs.
    pub engine: Option<String>,
    /// `upgrade prepare` quiesced the running extension.
    pub quiesced: bool,
    /// App versions whose stapled ticket macOS ingested.
    pub ingested: Vec<String>,
    /// Gatekeeper allows App Store apps only: `spctl --assess` rejects.
    #[serde(default)]
    pub gatekeeper_app_store_only: bool,
    pub approval: Approval,
    pub approval_pending: bool,
    /// What the user does when a deactivation asks for an administrator's
    /// password: it does unless MDM made the extension removable
    /// (RemovableSystemExtensions, com.apple.system-extension-policy).
    #[serde(default)]
    pub deactivation_approval: Approval,
    #[serde(default)]
    pub deactivation_pending: bool,
    pub reboot_on_activate: bool,
    /// What an activation that waits for the restart installs then.
    #[serde(default)]
    pub after_restart: Option<Extension>,
    pub activation_error: Option<String>,
    /// The active extension speaks no protocol the app does.
    pub protocol_skew: bool,
    /// The app's own store: profile name -> key. Deactivation keeps it.
    pub app_profiles: BTreeMap<String, String>,
    pub running_apps: Vec<RunningApp>,
    /// Extensions deactivated since the last restart: `systemextensionsctl
    /// list` shows them `[terminated waiting to uninstall on reboot]`
    /// until then (shared/macos-reality §3g).
    #[serde(default)]
    pub uninstalling: Vec<Extension>,
    /// The app is registered for Launch at Login
    /// (`SMAppService.mainApp`).
    #[serde(default)]
    pub login_item: bool,
    /// Labels of the launch daemons bootstrapped into the system domain.
    #[serde(default)]
    pub launch_daemons: Vec<String>,
    pub scutil_hangs: bool,
    /// App versions that predate `upgrade prepare`.
    pub legacy_versions: Vec<String>,
    /// (time, connected) at every change of the tunnel.
    pub tunnel_log: Vec<(u64, bool)>,
    /// Time spent waiting for the user (approval), excluded from downtime.
    pub user_wait_ms: u64,
    /// Simulated time: what in-memory runs "slept".
    pub simulated_ms: u64,
    pub calls: Vec<Call>,
    pub next_id: u32,
}

impl Mac {
    pub fn record(&mut self, tool: &str, args: &[String]) {
        self.calls.push(Call {
            at_ms: now_ms(),
            tool: tool.into(),
            args: args.to_vec(),
        });
    }

    /// The tools a test called, in order, with their arguments.
    pub fn calls_of(&self, tool: &str) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| c.tool == tool)
            .map(|c| c.args.join(" "))
            .collect()
    }

    /// Whether the system shows the VPN under test connected (other VPNs
    /// may be): `NEVPNConnection.status`, `scutil --nc`.
    pub fn session_connected(&self) -> bool {
        self.ours(&self.provider_id)
            .any(|s| s.status == "Connected")
    }

    /// Whether the tunnel carries traffic: the session is up and our
    /// engine runs behind it.
    pub fn tunnel_connected(&self) -> bool {
        self.session_connected() && self.engine.is_some()
    }

    /// What our engine says of itself (the control channel's `Status`): a
    /// running engine has just completed a handshake.
    pub fn engine_status(&self) -> TunnelStatus {
        TunnelStatus {
            state: if self.engine.is_some() {
                TunnelState::Connected
            } else {
                TunnelState::Disconnected
            },
            profile: self.engine.clone(),
            last_handshake: self.engine.as_ref().map(|_| now_ms() / 1000),
            ..TunnelStatus::default()
        }
    }

    /// Our engine stops (a `Stop` over the control channel); the system's
    /// session is not told.
    pub fn stop_engine(&mut self) {
        self.engine = None;
        self.note_tunnel();
    }

    /// Settles services whose disconnection has had its time, and brings
    /// back those On Demand reconnects. On Demand starts the provider
    /// whether or not `upgrade prepare` quiesced it: quiescing closes the
    /// control channel to new work, not the system's `startTunnel`.
    pub fn settle(&mut self) {
        let now = self.now();
        let extension_runs = self.extension.is_some();
        let mut engine = None;
        for service in &mut self.services {
            if service.disconnected_at_ms.is_some_and(|at| at <= now) {
                service.status = "Disconnected".into();
                service.disconnected_at_ms = None;
            }
            if service.connected_at_ms.is_some_and(|at| at <= now) {
                service.connected_at_ms = None;
                service.status = "Connected".into();
                if service.provider_id == self.provider_id {
                    engine = Some(service.profile.clone());
                }
            }
            if service.reconnect_at_ms.is_some_and(|at| at <= now) {
                service.reconnect_at_ms = None;
                if service.on_demand_connects() && extension_runs {
                    service.status = "Connected".into();
                    service.disconnected_at_ms = None;
                    if service.provider_id == self.provider_id {
                        engine = Some(service.profile.clone());
                    }
                }
            }
        }
        if engine.is_some() {
            self.engine = engine;
            self.note_tunnel();
        }
    }

    fn note_tunnel(&mut self) {
        let connected = self.tunnel_connected();
        if self.tunnel_log.last().map(|(_, up)| *up) != Some(connected) {
            let now = self.now();
            self.tunnel_log.push((now, connected));
        }
    }

    /// The model's clock: the wall clock, plus what in-memory runs slept.
    pub fn now(&self) -> u64 {
        now_ms() + self.simulated_ms
    }

    pub fn ours<'a>(&'a self, provider_id: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .iter()
            .filter(move |s| s.provider_id == provider_id)
    }

    /// `scutil --nc stop` or `stopVPNTunnel`: the system calls the
    /// provider's `stopTunnel`, so the engine stops at once; the status says
    /// Disconnected a moment later.
    pub fn stop_service(&mut self, id: &str) {
        let now = self.now();
        for service in self.services.iter_mut().filter(|s| s.id == id) {
            if service.status != "Disconnected" {
                service.status = "Disconnecting".into();
                service.disconnected_at_ms = Some(now + 300);
                service.connected_at_ms = None;
                if service.on_demand_connects() {
                    service.reconnect_at_ms = Some(now + ON_DEMAND_RECONNECT_MS);
                }
                if service.provider_id == self.provider_id {
                    self.engine = None;
                }
            }
        }
        self.note_tunnel();
    }

    pub fn add_service(&mut self, service: Service) {
        self.services.push(service);
        self.note_tunnel();
    }

    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08X}-0000-4000-8000-{:012X}", self.next_id, self.next_id)
    }

    fn activate_now(&mut self, app: &AppIdentity, ingested_at_launch: bool) -> RequestOutcome {
        let first = self.extension.as_ref().map(|e| &e.version) != Some(&app.version);
        if first {
            let replacing = self.extension.as_ref();
            let connected = self.tunnel_connected();
            let replaced_badly =
                replacing.is_some_and(|old| connected || old.service_name == app.service_name);
            if replaced_badly || !ingested_at_launch {
                self.xpc_invalidated = true;
            }
            if replacing.is_some() {
                // The old extension process is gone, and its tunnel with it.
                let ours = self
                    .services
                    .iter_mut()
                    .filter(|s| s.provider_id == app.provider_id);
                for service in ours {
                    service.status = "Disconnected".into();
                    service.disconnected_at_ms = None;
                }
                self.extension_process_ended();
            }
            self.extension = Some(app.extension());
        }
        RequestOutcome::Done
    }

    /// `OSSystemExtensionRequest.activationRequest`, answering `.replace`.
    pub fn activate(&mut self, app: &AppIdentity, ingested_at_launch: bool) -> RequestOutcome {
        if let Err(error) = app.category_check() {
            return RequestOutcome::Failed(error);
        }
        if self.reboot_on_activate {
            self.after_restart = Some(app.extension());
            return RequestOutcome::WillCompleteAfterReboot;
        }
        if let Some(error) = &self.activation_error {
            return RequestOutcome::Failed(error.clone());
        }
        if self.approval != Approval::NotAsked {
            self.approval_pending = true;
            return RequestOutcome::NeedsApproval;
        }
        self.activate_now(app, ingested_at_launch)
    }

    /// A restart: a pending activation completes, every session and the
    /// engine are down, and the extension starts afresh.
    pub fn restart(&mut self) {
        self.reboot_on_activate = false;
        if let Some(extension) = self.after_restart.take() {
            self.extension = Some(extension);
        }
        for service in &mut self.services {
            service.status = "Disconnected".into();
            service.disconnected_at_ms = None;
            service.reconnect_at_ms = None;
        }
        self.xpc_invalidated = false;
        self.running_apps.clear();
        self.uninstalling.clear();
        self.extension_process_ended();
    }

    /// What the user does about the request that waits for them.
    fn pending_approval(&self) -> Approval {
        if self.deactivation_pending {
            self.deactivation_approval
        } else {
            self.approval
        }
    }

    /// How long the app will wait, within `limit`, for the user.
    pub fn approval_wait(&self, limit: Duration) -> Duration {
        match self.pending_approval() {
            Approval::AfterMs(ms) => Duration::from_millis(ms).min(limit),
            _ => limit,
        }
    }

    /// After [`Self::approval_wait`]: approved in time, or still pending.
    pub fn conclude_approval(
        &mut self,
        limit: Duration,
        app: &AppIdentity,
        ingested_at_launch: bool,
    ) -> RequestOutcome {
        let waited = self.approval_wait(limit);
        self.user_wait_ms += waited.as_millis() as u64;
        let approved = matches!(
            self.pending_approval(),
            Approval::AfterMs(ms) if Duration::from_millis(ms) <= limit
        );
        if !approved {
            return RequestOutcome::NeedsApproval;
        }
        if self.deactivation_pending {
            self.deactivation_pending = false;
            return self.deactivate_now(app);
        }
        self.approval = Approval::NotAsked;
        self.approval_pending = false;
        self.activate_now(app, ingested_at_launch)
    }

    /// `OSSystemExtensionRequest.deactivationRequest`: once the user gave
    /// an administrator's password, if asked, the extension goes, and its
    /// VPN configurations with it.
    pub fn deactivate(&mut self, app: &AppIdentity) -> RequestOutcome {
        if self.deactivation_approval != Approval::NotAsked {
            self.deactivation_pending = true;
            return RequestOutcome::NeedsApproval;
        }
        self.deactivate_now(app)
    }

    fn deactivate_now(&mut self, app: &AppIdentity) -> RequestOutcome {
        self.uninstalling.extend(self.extension.take());
        self.services.retain(|s| s.provider_id != app.provider_id);
        self.xpc_invalidated = false;
        self.extension_process_ended();
        RequestOutcome::Done
    }

    /// The extension's process is gone (replaced, deactivated, or the Mac
    /// restarted): its engine, its quiesce and what it spoke with it.
    fn extension_process_ended(&mut self) {
        self.engine = None;
        self.quiesced = false;
        self.protocol_skew = false;
        self.note_tunnel();
    }

    /// `NETunnelProviderManager.removeFromPreferences` on each of ours:
    /// its session ends with it.
    pub fn remove_configurations(&mut self, app: &AppIdentity) -> usize {
        let before = self.services.len();
        self.services.retain(|s| s.provider_id != app.provider_id);
        let removed = before - self.services.len();
        if removed > 0 && self.provider_id == app.provider_id {
            self.engine = None;
            self.note_tunnel();
        }
        removed
    }

    /// `Hello` over the versioned service name.
    pub fn handshake(&self, app: &AppIdentity) -> Handshake {
        match &self.extension {
            _ if self.xpc_invalidated => Handshake::Unreachable("connection invalidated".into()),
            None => Handshake::Unreachable("no extension is active".into()),
            Some(_) if self.protocol_skew => {
                Handshake::ProtocolSkew("extension speaks protocol 0-0".into())
            }
            Some(extension) if extension.version != app.version => {
                Handshake::OtherBuild(extension.version.clone())
            }
            Some(_) => Handshake::Current,
        }
    }

    pub fn resume(&mut self) -> Result<(), String> {
        if self.xpc_invalidated || self.extension.is_none() {
            return Err("no connection to the extension".into());
        }
        self.quiesced = false;
        Ok(())
    }

    /// Ours, as `loadAllFromPreferences` finds it: the first whose
    /// provider is the app's extension.
    pub fn configuration(&self, app: &AppIdentity) -> Option<SavedConfiguration> {
        self.ours(&app.provider_id).next().map(Service::saved)
    }

    /// `NETunnelProviderManager.saveToPreferences`: updates ours, or creates
    /// it. It saves what the app gives and nothing else: the system keeps no
    /// copy of a configuration that deactivation deleted. The keys stay in
    /// the app's store, where the provider finds them by profile name.
    pub fn save_configuration(&mut self, app: &AppIdentity, wanted: &SavedConfiguration) {
        let profile = wanted.profile.clone().unwrap_or_default();
        let key = self.app_profiles.get(&profile).cloned().unwrap_or_default();
        let index = match self
            .services
            .iter()
            .position(|s| s.provider_id == app.provider_id)
        {
            Some(index) => index,
            None => {
                let id = self.new_id();
                self.services.push(Service {
                    id,
                    app_id: app.bundle_id.clone(),
                    provider_id: app.provider_id.clone(),
                    status: "Disconnected".into(),
                    enabled: true,
                    ..Service::default()
                });
                self.services.len() - 1
            }
        };
        let service = &mut self.services[index];
        service.name = wanted.name.clone();
        service.server = wanted.server.clone();
        service.profile = profile;
        service.key = key;
        service.on_demand = wanted.on_demand;
        service.on_demand_rules = wanted.on_demand_rules.clone();
        if !wanted.on_demand {
            service.reconnect_at_ms = None;
        }
    }

    /// `startVPNTunnel` on our configuration (the one for `profile` when
    /// given): the system starts a session, Connecting for [`CONNECT_MS`],
    /// whose provider then starts our engine, quiesced or not (the provider's `startTunnel` starts the
    /// engine directly; the quiesce closes only the control channel,
    /// vpn-extension/src/platform/macos/provider.rs). A session that is up already is left as it is, engine or
    /// not (`startVPNTunnel` starts nothing then).
    pub fn connect(&mut self, app: &AppIdentity, profile: Option<&str>) -> Result<(), String> {
        let now = self.now();
        if self.extension.is_none() || self.xpc_invalidated {
            return Err("the extension is not reachable".into());
        }
        let service = self
            .services
            .iter_mut()
            .filter(|s| s.provider_id == app.provider_id)
            .find(|s| profile.is_none_or(|p| p == s.profile))
            .ok_or("no VPN configuration to start")?;
        if !self.app_profiles.contains_key(&service.profile) {
            // The provider's startTunnel finds no keys for it.
            return Err(format!("the app has no profile {:?}", service.profile));
        }
        if service.status != "Connected" && service.connected_at_ms.is_none() {
            service.status = "Connecting".into();
            service.disconnected_at_ms = None;
            service.connected_at_ms = Some(now + CONNECT_MS);
        }
        Ok(())
    }

    /// The tunnel's downtime from `since`: from going down (or `since`, if
    /// it was down already) to coming back (or to now), less the time
    /// spent waiting for the user.
    pub fn downtime_since(&self, since: u64) -> Option<Duration> {
        let down_already = self
            .tunnel_log
            .iter()
            .rev()
            .find(|(at, _)| *at < since)
            .is_some_and(|(_, up)| !up);
        let down = if down_already {
            since
        } else {
            self.tunnel_log
                .iter()
                .find(|(at, up)| *at >= since && !up)?
                .0
        };
        let back = self
            .tunnel_log
            .iter()
            .find(|(at, up)| *at >= down && *up)
            .map_or_else(now_ms, |(at, _)| *at);
        Some(Duration::from_millis(
            back.saturating_sub(down).saturating_sub(self.user_wait_ms),
        ))
    }
}
