//! The app's side of an upgrade (DESIGN.md, "The upgrade protocol"):
//! [`prepare`], what the old app does before the pkg replaces it, and
//! [`finish`], what the new app does after, as the console user. Plain Rust
//! over [`ControlClient`] and the [`UpgradePlatform`] trait, so the whole
//! decision logic runs in tests against a model of macOS's extension
//! lifecycle (the simulated Mac under `tests/src/macos_sim/`); the macOS
//! implementation of the trait only makes the calls.
//!
//! `finish`'s steps, each bounded in time:
//! 1. activate the extension, answering `.replace`; wait (bounded) for the
//!    user's approval when asked; at "after reboot", bring the tunnel back
//!    on the extension installed before, and say that a restart finishes
//!    the upgrade;
//! 2. handshake over the versioned service name;
//! 3. when the policy says so (by default: the handshake failed), repair:
//!    deactivate, reactivate, handshake again;
//! 4. let a quiesced extension that was not replaced take work again, and
//!    save the VPN configuration as `prepare` recorded it (or as it was
//!    when `finish` started) if deactivation deleted it or On Demand was
//!    turned off;
//! 5. bring the tunnel back if it was up before the upgrade (as the state
//!    file says, as the platform sees it before anything changes, or as an
//!    earlier run of this upgrade that stopped for the user saw it), and
//!    confirm it through the extension's own status: the system may show a
//!    session Connected with no engine behind it.

pub mod command;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use vpn_ipc::{
    message::{Request, Response, TunnelState, TunnelStatus},
    transport::ControlClient,
};
use vpn_release::paths::tunnel_was_up_line;

use crate::channel::expect;

/// The state and report types are the contract's: the pkg scripts write and read them too.
pub use vpn_release::upgrade_state::{
    Outcome, Prepared, SavedConfiguration, UpgradeReport, UpgradeState,
};

/// The system's side of our VPN, apart from the extension's engine: on
/// macOS our `NETunnelProviderManager` (the VPN configuration) and its
/// `NEVPNConnection` (the session). Stopping our engine over the control
/// channel does not end the session: the system would go on showing
/// Connected and routing into a tunnel nobody serves.
pub trait VpnSession {
    /// Our VPN configuration as the system keeps it; `None` when there is
    /// none (deactivation deleted it, or it was never saved).
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String>;
    /// Saves ours as `configuration` says, creating it if needed.
    fn save(&mut self, configuration: &SavedConfiguration) -> Result<(), String>;
    /// Ends the session (`stopVPNTunnel`), waiting up to `limit` for
    /// Disconnected. Nothing to do when it is not up.
    fn stop(&mut self, limit: Duration) -> Result<(), String>;
}

/// How long `prepare` waits for the system to end the session.
const SESSION_STOP_LIMIT: Duration = Duration::from_secs(10);

/// The old app, before its replacement: records whether the tunnel is up,
/// with which profile and VPN configuration; turns On Demand off, since it
/// would bring the session back within a second of its end and the
/// extension would be replaced while connected; ends the system's session
/// and the engine, and quiesces the extension (its other clients are
/// closed and it takes no new work). `finish` turns On Demand back on.
pub fn prepare(
    client: &mut dyn ControlClient,
    session: &mut dyn VpnSession,
) -> anyhow::Result<Prepared> {
    let Response::Status(status) = expect(client.request(Request::Status)?, |r| {
        matches!(r, Response::Status(_))
    })?
    else {
        unreachable!("checked above")
    };
    let configuration = session
        .configuration()
        .map_err(|e| anyhow::anyhow!("cannot read the VPN configuration: {e}"))?;
    if let Some(on_demand) = configuration.as_ref().filter(|c| c.on_demand) {
        let off = SavedConfiguration {
            on_demand: false,
            ..on_demand.clone()
        };
        session
            .save(&off)
            .map_err(|e| anyhow::anyhow!("cannot turn VPN On Demand off: {e}"))?;
    }
    session
        .stop(SESSION_STOP_LIMIT)
        .map_err(|e| anyhow::anyhow!("cannot end the VPN session: {e}"))?;
    // The session's end stopped the engine through the provider; Stop
    // makes sure, and comes before Quiesce: a quiesced extension takes no
    // more requests that change the tunnel.
    expect(client.request(Request::Stop)?, |r| *r == Response::Stopped)?;
    expect(client.request(Request::Quiesce)?, |r| {
        *r == Response::Quiesced
    })?;
    Ok(Prepared {
        tunnel_was_up: matches!(
            status.state,
            TunnelState::Connected | TunnelState::Connecting | TunnelState::Reconnecting
        ),
        profile: status.profile,
        version: crate::VERSION.to_string(),
        configuration,
    })
}

/// How old the last handshake of a working tunnel can be: WireGuard
/// rejects a session older than this (REJECT_AFTER_TIME, 180 s, in the
/// protocol paper), so a tunnel whose last handshake is older is not one.
const FRESH_HANDSHAKE: Duration = Duration::from_secs(180);

/// Whether the extension's status shows a working tunnel: its engine
/// connected, with a handshake within [`FRESH_HANDSHAKE`] of `now` (seconds
/// since the epoch).
fn engine_works(status: &TunnelStatus, now: u64) -> bool {
    status.state == TunnelState::Connected
        && status
            .last_handshake
            .is_some_and(|at| now.saturating_sub(at) <= FRESH_HANDSHAKE.as_secs())
}

/// When to cycle the extension: the release's choice (DESIGN.md).
pub use vpn_release::RepairPolicy;

/// How a system extension request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    Done,
    /// The user must allow it in System Settings; [`UpgradePlatform::wait_for_approval`]
    /// says when they did.
    NeedsApproval,
    /// macOS finishes the request at the next restart.
    WillCompleteAfterReboot,
    Failed(String),
}

/// What the handshake over the control channel found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    Current,
    /// An extension of another build answered: the old one still runs.
    OtherBuild(String),
    ProtocolSkew(String),
    /// No answer: the connection is invalidated (the upgrade bug) or the
    /// extension is not running.
    Unreachable(String),
}

/// The calls `upgrade finish` makes; on macOS `OSSystemExtensionRequest`,
/// `NETunnelProviderManager` and XPC.
pub trait UpgradePlatform: VpnSession {
    /// Whether the tunnel is up now, before anything changes: the state
    /// file cannot always tell (scutil hung, the old app had no `prepare`).
    fn tunnel_connected(&mut self) -> bool;
    fn activate(&mut self) -> RequestOutcome;
    fn deactivate(&mut self) -> RequestOutcome;
    /// Waits up to `limit` for the user to approve the pending request.
    fn wait_for_approval(&mut self, limit: Duration) -> RequestOutcome;
    fn handshake(&mut self) -> Handshake;
    /// Lets the extension take work again if `upgrade prepare` quiesced it
    /// and it is still the one running (a reinstall replaces nothing).
    fn resume(&mut self) -> Result<(), String>;
    /// Starts the tunnel (with `profile` where the platform has no VPN
    /// configuration that names it) and waits up to `limit` for it to
    /// connect.
    fn connect(&mut self, profile: Option<&str>, limit: Duration) -> Result<(), String>;
    /// The extension's own status over the control channel.
    fn tunnel_status(&mut self) -> Result<TunnelStatus, String>;
    fn sleep(&mut self, duration: Duration);
}

/// The handshake over the control channel, as every platform does it.
pub(crate) fn channel_handshake(socket: &std::path::Path) -> Handshake {
    use vpn_ipc::session::HandshakeOutcome;
    match crate::channel::connect_at(socket).map(|(_, outcome)| outcome) {
        Ok(HandshakeOutcome::Current { .. }) => Handshake::Current,
        Ok(HandshakeOutcome::OtherBuild { ext_build, .. }) => Handshake::OtherBuild(ext_build),
        Ok(HandshakeOutcome::ProtocolSkew { message }) => Handshake::ProtocolSkew(message),
        Ok(HandshakeOutcome::Refused { code, message }) => {
            Handshake::Unreachable(format!("refused ({code:?}): {message}"))
        }
        Err(e) => Handshake::Unreachable(format!("{e:#}")),
    }
}

/// `Status` over the control channel.
pub(crate) fn channel_status(socket: &std::path::Path) -> Result<TunnelStatus, String> {
    let mut client = crate::channel::ready_at(socket).map_err(|e| format!("{e:#}"))?;
    match client.request(Request::Status).map_err(|e| e.to_string())? {
        Response::Status(status) => Ok(status),
        other => Err(format!("the extension did not say its status: {other:?}")),
    }
}

/// `Resume` over the control channel.
pub(crate) fn channel_resume(socket: &std::path::Path) -> Result<(), String> {
    let mut client = crate::channel::ready_at(socket).map_err(|e| format!("{e:#}"))?;
    match client.request(Request::Resume).map_err(|e| e.to_string())? {
        Response::Resumed => Ok(()),
        other => Err(format!("the extension did not resume: {other:?}")),
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub approval: Duration,
    pub connect: Duration,
    /// Handshakes tried after a (re)activation: the new extension takes a
    /// moment to start listening.
    pub handshake_attempts: u32,
    pub handshake_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            approval: Duration::from_secs(120),
            connect: Duration::from_secs(20),
            handshake_attempts: 10,
            handshake_interval: Duration::from_millis(500),
        }
    }
}

struct Run<'a, P: UpgradePlatform> {
    platform: &'a mut P,
    limits: Limits,
    steps: Vec<String>,
}

impl<P: UpgradePlatform> Run<'_, P> {
    fn log(&mut self, step: String) {
        tracing::info!("{step}");
        self.steps.push(step);
    }

    /// A request, with the bounded wait for approval when asked.
    fn request(&mut self, what: &str, outcome: RequestOutcome) -> RequestOutcome {
        let outcome = if outcome == RequestOutcome::NeedsApproval {
            self.log(format!(
                "{what}: waiting up to {:?} for approval in System Settings",
                self.limits.approval
            ));
            self.platform.wait_for_approval(self.limits.approval)
        } else {
            outcome
        };
        self.log(format!("{what}: {outcome:?}"));
        outcome
    }

    fn handshake(&mut self) -> Handshake {
        let mut handshake = self.platform.handshake();
        for _ in 1..self.limits.handshake_attempts {
            if handshake == Handshake::Current {
                break;
            }
            self.platform.sleep(self.limits.handshake_interval);
            handshake = self.platform.handshake();
        }
        self.log(format!("handshake: {handshake:?}"));
        handshake
    }

    /// Waits up to the connect limit for the extension to say that its
    /// engine works.
    fn confirm_tunnel(&mut self) -> Result<(), String> {
        let attempts = (self.limits.connect.as_millis()
            / self.limits.handshake_interval.as_millis().max(1))
        .max(1);
        let mut last = Err("not asked".to_string());
        for attempt in 0..attempts {
            if attempt > 0 {
                self.platform.sleep(self.limits.handshake_interval);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            last = self.platform.tunnel_status();
            if last.as_ref().is_ok_and(|status| engine_works(status, now)) {
                self.log("tunnel confirmed by the extension: connected, fresh handshake".into());
                return Ok(());
            }
        }
        let seen = match last {
            Ok(status) => format!(
                "{:?}, last handshake {:?}",
                status.state, status.last_handshake
            ),
            Err(e) => e,
        };
        Err(format!(
            "the system reports the tunnel connected, but the extension's engine does not work within {:?}: {seen}",
            self.limits.connect
        ))
    }

    /// Saves our VPN configuration as `recorded` says when the system lost
    /// it (a repair's deactivation deletes it) or when `prepare` turned its
    /// On Demand off. Without one the tunnel cannot come back: an error
    /// when it was up.
    fn restore_configuration(
        &mut self,
        recorded: Option<&SavedConfiguration>,
        was_up: bool,
    ) -> Result<(), String> {
        let current = self
            .platform
            .configuration()
            .map_err(|e| format!("cannot read the VPN configuration: {e}"))?;
        match (recorded, current) {
            (Some(recorded), None) => {
                self.platform.save(recorded)?;
                self.log("VPN configuration saved again, as before the upgrade".into());
            }
            (Some(recorded), Some(current)) if recorded.on_demand && !current.on_demand => {
                self.platform.save(recorded)?;
                self.log("VPN On Demand turned back on".into());
            }
            (None, None) if was_up => {
                return Err("the tunnel was up, but its VPN configuration is gone and none was recorded to save again".into());
            }
            _ => {}
        }
        Ok(())
    }

    /// macOS replaces the extension at the next restart. Until then the
    /// installed one runs, quiesced by `prepare`, behind the Mach service
    /// name of its own version, which this app does not use. The system
    /// still starts its provider (`startTunnel` ignores the quiesce, which
    /// closes only the control channel), so the tunnel comes back on it
    /// rather than staying down until the restart; the system's session
    /// status is then the only check there is.
    fn until_restart(
        mut self,
        recorded: Option<&SavedConfiguration>,
        profile: Option<&str>,
        was_up: bool,
    ) -> UpgradeReport {
        let mut restored = false;
        let configured = self.restore_configuration(recorded, was_up);
        if was_up {
            let connect = self.limits.connect;
            let connected = configured.and_then(|()| self.platform.connect(profile, connect));
            self.log(format!(
                "until the restart, the tunnel runs on the extension installed before: {connected:?}"
            ));
            restored = connected.is_ok();
        }
        self.log("restart the Mac to finish the upgrade: macOS replaces the extension then".into());
        report(Outcome::RebootRequired, false, restored, self.steps)
    }
}

/// Where a request stopped the upgrade, if it did.
fn stop_on(outcome: &RequestOutcome) -> Option<Outcome> {
    match outcome {
        RequestOutcome::Done => None,
        RequestOutcome::NeedsApproval => Some(Outcome::ApprovalPending),
        RequestOutcome::WillCompleteAfterReboot => Some(Outcome::RebootRequired),
        RequestOutcome::Failed(reason) => Some(Outcome::Unhealthy {
            reason: reason.clone(),
        }),
    }
}

fn report(
    outcome: Outcome,
    repaired: bool,
    tunnel_restored: bool,
    steps: Vec<String>,
) -> UpgradeReport {
    UpgradeReport {
        outcome,
        repaired,
        tunnel_restored,
        steps,
    }
}

/// Who may answer a prompt while `finish` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Attendance {
    /// Someone ran the installer or the app.
    #[default]
    Attended,
    /// The login agent of an install nobody was logged in for (an MDM
    /// push, say): nobody asked for this run, so no step that can prompt,
    /// and nothing that deletes the VPN configuration, which an MDM
    /// profile may have installed and the app cannot recreate.
    Unattended,
}

/// The upgrade as the new app finishes it; see the module's steps.
///
/// A tunnel found up before anything changes, which `state` did not say
/// (preinstall could not ask `scutil`, the old app had no `prepare`), is
/// added to `state`: a run that stops for the user records it for the
/// next one.
pub fn finish(
    platform: &mut impl UpgradePlatform,
    state: &mut UpgradeState,
    policy: RepairPolicy,
    attendance: Attendance,
    limits: Limits,
) -> UpgradeReport {
    let mut run = Run {
        platform,
        limits,
        steps: Vec::new(),
    };
    if !state.tunnel_was_up() && run.platform.tunnel_connected() {
        run.log("the tunnel is up before the replacement: it will be restored".into());
        state.tunnel_was_up = true;
    }
    let was_up = state.tunnel_was_up();
    // Read before anything changes: a repair's deactivation deletes it,
    // and an old app without `prepare` recorded nothing.
    let recorded = match state.configuration() {
        Some(recorded) => Some(recorded.clone()),
        None => match run.platform.configuration() {
            Ok(found) => found,
            Err(e) => {
                run.log(format!("cannot read the VPN configuration: {e}"));
                None
            }
        },
    };
    let activation = run.platform.activate();
    let activation = run.request("activate (replace)", activation);
    if activation == RequestOutcome::WillCompleteAfterReboot {
        return run.until_restart(recorded.as_ref(), state.profile(), was_up);
    }
    if let Some(outcome) = stop_on(&activation) {
        return report(outcome, false, false, run.steps);
    }
    let mut handshake = run.handshake();
    let repair = match policy {
        RepairPolicy::Always => true,
        RepairPolicy::OnFailure => handshake != Handshake::Current,
        RepairPolicy::Never => false,
    };
    if repair && attendance == Attendance::Unattended {
        // Deactivation asks for an administrator's password unless MDM
        // allows its removal, and it deletes the VPN configuration.
        let reason = format!(
            "a repair (deactivate, reactivate) is needed ({handshake:?}), and it can prompt and deletes the VPN configuration: it is left for the user, who can run `upgrade finish` from the app"
        );
        return report(Outcome::Unhealthy { reason }, false, false, run.steps);
    }
    if repair {
        let deactivation = run.platform.deactivate();
        let deactivation = run.request("repair: deactivate", deactivation);
        if let Some(outcome) = stop_on(&deactivation) {
            return report(outcome, false, false, run.steps);
        }
        let activation = run.platform.activate();
        let activation = run.request("repair: activate", activation);
        if let Some(outcome) = stop_on(&activation) {
            return report(outcome, false, false, run.steps);
        }
        handshake = run.handshake();
    }
    if handshake != Handshake::Current {
        let reason = format!("the app cannot talk to the extension: {handshake:?}");
        return report(Outcome::Unhealthy { reason }, repair, false, run.steps);
    }
    // An older extension does not know `Resume`; if it stays quiesced,
    // connecting below says so.
    let resumed = run.platform.resume();
    run.log(format!("resume: {resumed:?}"));
    if let Err(reason) = run.restore_configuration(recorded.as_ref(), was_up) {
        return report(Outcome::Unhealthy { reason }, repair, false, run.steps);
    }
    let mut restored = false;
    if was_up {
        let connect = run.limits.connect;
        let connected = run.platform.connect(state.profile(), connect);
        run.log(format!("tunnel restored: {connected:?}"));
        match connected.and_then(|()| run.confirm_tunnel()) {
            Ok(()) => restored = true,
            Err(reason) => return report(Outcome::Unhealthy { reason }, repair, false, run.steps),
        }
    }
    report(Outcome::Healthy, repair, restored, run.steps)
}

/// How `upgrade finish` was asked to run.
#[derive(Clone, Debug)]
pub struct FinishOptions {
    /// The state file from preinstall (none: a fresh install).
    pub state: Option<PathBuf>,
    pub policy: RepairPolicy,
    /// Also write the report here (postinstall waits for it).
    pub report: Option<PathBuf>,
    /// Do nothing when `finished_record` names this upgrade already.
    pub once: bool,
    /// Do nothing unless the state file is that of this upgrade: a login
    /// agent expires with the upgrade it was installed for.
    pub upgrade_id: Option<String>,
    pub attendance: Attendance,
    /// Where this user's finished upgrades are recorded.
    pub finished_record: PathBuf,
    pub limits: Limits,
}

/// Where a user's finished upgrades are recorded by default: the user's
/// own state, since the state file is root's. On macOS, in the app's folder
/// of the user's Library, where the next install's preinstall looks.
pub fn default_finished_record() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    #[cfg(target_os = "macos")]
    return Ok(finished_record_in(&home, &crate::macos::app_bundle()?.id));
    #[cfg(not(target_os = "macos"))]
    Ok(std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/state"))
        .join("vpn-app/finished-upgrades"))
}

/// The finished record of the app `app_id` on macOS, under a user's `home`.
pub fn finished_record_in(home: &Path, app_id: &str) -> PathBuf {
    home.join(vpn_release::paths::DataPaths::of_installed(app_id).finished_record())
}

/// `upgrade finish` as a command: reads the state file, runs [`finish`]
/// (unless `--once` finds it done), records a healthy upgrade and writes
/// the report where asked.
pub fn finish_command(
    platform: &mut impl UpgradePlatform,
    options: &FinishOptions,
) -> anyhow::Result<UpgradeReport> {
    let mut state = match &options.state {
        // A login agent's upgrade whose state file the next install
        // retired (or replaced) is over.
        Some(path) if options.upgrade_id.is_some() && !path.exists() => UpgradeState::default(),
        Some(path) => read_state(path)?,
        None => UpgradeState::default(),
    };
    if let Some(id) = options
        .upgrade_id
        .as_ref()
        .filter(|id| state.upgrade_id.as_ref() != Some(id))
    {
        let result = report(
            Outcome::AlreadyFinished,
            false,
            false,
            vec![format!("upgrade {id} is no longer pending: nothing to do")],
        );
        return write_report(options, result);
    }
    let record = std::fs::read_to_string(&options.finished_record).unwrap_or_default();
    let recorded = |line: &str| record.lines().any(|l| l == line);
    let finished_before = match &state.upgrade_id {
        Some(id) if options.once => recorded(id),
        _ => false,
    };
    // An earlier run of this upgrade saw the tunnel up, then stopped for
    // the user: the tunnel is down now, but it is theirs to get back.
    if let Some(id) = &state.upgrade_id {
        state.tunnel_was_up |= recorded(&tunnel_was_up_line(id));
    }
    let said_up = state.tunnel_was_up();
    let result = if finished_before {
        report(
            Outcome::AlreadyFinished,
            false,
            false,
            vec![format!(
                "upgrade {} was finished before: nothing to do",
                state.upgrade_id.as_deref().unwrap_or_default()
            )],
        )
    } else {
        finish(
            platform,
            &mut state,
            options.policy,
            options.attendance,
            options.limits,
        )
    };
    if let Some(id) = &state.upgrade_id {
        if result.outcome == Outcome::Healthy {
            append_record(&options.finished_record, id)?;
        } else if !result.outcome.is_success() && state.tunnel_was_up() && !said_up {
            append_record(&options.finished_record, &tunnel_was_up_line(id))?;
        }
    }
    write_report(options, result)
}

/// Writes `result` where `--report` asks, and returns it.
fn write_report(options: &FinishOptions, result: UpgradeReport) -> anyhow::Result<UpgradeReport> {
    if let Some(path) = &options.report {
        let mut json = serde_json::to_vec_pretty(&result)?;
        json.push(b'\n');
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(result)
}

fn read_state(path: &Path) -> anyhow::Result<UpgradeState> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    UpgradeState::from_state_file(&bytes).with_context(|| {
        format!(
            "{} is neither the preinstall's state file nor `upgrade prepare` output (remove it to start afresh)",
            path.display()
        )
    })
}

fn append_record(record: &Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = record.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
        .and_then(|mut file| writeln!(file, "{line}"))
        .with_context(|| format!("cannot record the upgrade in {}", record.display()))
}
