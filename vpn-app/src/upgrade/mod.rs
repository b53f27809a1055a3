//! `upgrade finish`: what the new app does, as the console user, after the
//! pkg replaced it (DESIGN.md, "The upgrade protocol"). Plain Rust over the
//! [`UpgradePlatform`] trait, so the whole decision logic runs in tests
//! against a model of macOS's extension lifecycle ([`model`]); the macOS
//! implementation of the trait only makes the calls.
//!
//! The steps, each bounded in time:
//! 1. activate the extension, answering `.replace`; wait (bounded) for the
//!    user's approval when asked; stop at "after reboot" and say so;
//! 2. handshake over the versioned service name;
//! 3. when the policy says so (by default: the handshake failed), repair:
//!    deactivate, reactivate, re-save the VPN configuration (deactivation
//!    deletes it), handshake again;
//! 4. bring the tunnel back if it was up before the upgrade.

// On macOS the platform calls come with the macOS platform layer; until
// then this logic runs on Linux and in tests only.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(test)]
mod model;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What `upgrade prepare` recorded before the old version was replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeState {
    pub tunnel_was_up: bool,
    pub profile: Option<String>,
    pub previous_version: Option<String>,
}

/// When to cycle the extension (DESIGN.md, a release-config setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RepairPolicy {
    /// Deactivate + reactivate only when the handshake fails: deactivation
    /// deletes the VPN configuration and may prompt the user.
    #[default]
    OnFailure,
    Always,
    Never,
}

/// How a system extension request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    Done,
    /// The user must allow it in System Settings; [`UpgradePlatform::wait_for_approval`]
    /// says when they did.
    NeedsApproval,
    /// Only macOS says this (Linux restarts a process).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
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
pub trait UpgradePlatform {
    fn activate(&mut self) -> RequestOutcome;
    fn deactivate(&mut self) -> RequestOutcome;
    /// Waits up to `limit` for the user to approve the pending request.
    fn wait_for_approval(&mut self, limit: Duration) -> RequestOutcome;
    fn handshake(&mut self) -> Handshake;
    /// Saves the VPN configuration for `profile` (again).
    fn save_configuration(&mut self, profile: Option<&str>) -> Result<(), String>;
    fn has_configuration(&mut self) -> bool;
    /// Starts the tunnel and waits up to `limit` for it to connect.
    fn connect(&mut self, limit: Duration) -> Result<(), String>;
    fn sleep(&mut self, duration: Duration);
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

/// How the upgrade ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The app reaches the current extension; the tunnel is as it was.
    Healthy,
    /// macOS finishes the replacement at the next restart.
    RebootRequired,
    /// The user has not approved the extension (yet).
    ApprovalPending,
    /// Still broken after everything the policy allows; `reason` says what.
    Unhealthy { reason: String },
}

/// The JSON report `upgrade finish` prints: the outcome and every step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpgradeReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub repaired: bool,
    pub tunnel_restored: bool,
    pub steps: Vec<String>,
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

pub fn finish(
    platform: &mut impl UpgradePlatform,
    state: &UpgradeState,
    policy: RepairPolicy,
    limits: Limits,
) -> UpgradeReport {
    let mut run = Run {
        platform,
        limits,
        steps: Vec::new(),
    };
    let activation = run.platform.activate();
    let activation = run.request("activate (replace)", activation);
    if let Some(outcome) = stop_on(&activation) {
        return report(outcome, false, false, run.steps);
    }
    let mut handshake = run.handshake();
    let repair = match policy {
        RepairPolicy::Always => true,
        RepairPolicy::OnFailure => handshake != Handshake::Current,
        RepairPolicy::Never => false,
    };
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
    // Deactivation deleted the VPN configuration; so may a user. Either way
    // the tunnel needs one before it can come back.
    if state.profile.is_some() && !run.platform.has_configuration() {
        let saved = run.platform.save_configuration(state.profile.as_deref());
        run.log(format!("VPN configuration saved again: {saved:?}"));
        if let Err(reason) = saved {
            return report(Outcome::Unhealthy { reason }, repair, false, run.steps);
        }
    }
    let mut restored = false;
    if state.tunnel_was_up {
        let connect = run.limits.connect;
        let connected = run.platform.connect(connect);
        run.log(format!("tunnel restored: {connected:?}"));
        match connected {
            Ok(()) => restored = true,
            Err(reason) => return report(Outcome::Unhealthy { reason }, repair, false, run.steps),
        }
    }
    report(Outcome::Healthy, repair, restored, run.steps)
}
