//! A model of macOS's system extension lifecycle as the upgrade sees it,
//! with the invalidation rules of DESIGN.md, driving the real `finish`:
//! - replacing the extension while the tunnel is connected, the first
//!   activation of a version whose notarization ticket was not ingested,
//!   and a Mach service name unchanged across versions each leave the app's
//!   XPC connection invalidated until deactivate + reactivate;
//! - deactivation removes the VPN configuration;
//! - activation may need the user's approval, or a reboot.

use std::time::Duration;

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Approval {
    NotAsked,
    /// The user approves after this long.
    After(Duration),
    Denies,
}

struct SimulatedMac {
    /// The version of the active extension, if any.
    active: Option<&'static str>,
    /// The version the new app carries.
    new: &'static str,
    service_name_versioned: bool,
    ticket_ingested: bool,
    tunnel_connected: bool,
    xpc_invalidated: bool,
    configuration: Option<String>,
    approval: Approval,
    approval_pending: bool,
    reboot_on_activate: bool,
    /// Activation fails with this (the app outside /Applications, say).
    activation_error: Option<&'static str>,
    /// The active extension speaks no protocol version the app does.
    protocol_skew: bool,
    elapsed: Duration,
    calls: Vec<&'static str>,
}

impl SimulatedMac {
    /// Version 2 installed and running normally; the pkg put version 3's
    /// app in place.
    fn upgraded() -> Self {
        Self {
            active: Some("2"),
            new: "3",
            service_name_versioned: true,
            ticket_ingested: true,
            tunnel_connected: false,
            xpc_invalidated: false,
            configuration: Some("home".into()),
            approval: Approval::NotAsked,
            approval_pending: false,
            reboot_on_activate: false,
            activation_error: None,
            protocol_skew: false,
            elapsed: Duration::ZERO,
            calls: Vec::new(),
        }
    }

    fn activate_now(&mut self) -> RequestOutcome {
        let replacing = self.active.is_some_and(|v| v != self.new);
        if (replacing && (self.tunnel_connected || !self.service_name_versioned))
            || !self.ticket_ingested
        {
            self.xpc_invalidated = true;
        }
        if replacing {
            // The old extension process is gone, and its tunnel with it.
            self.tunnel_connected = false;
        }
        self.active = Some(self.new);
        // First launch ingests the ticket.
        self.ticket_ingested = true;
        RequestOutcome::Done
    }
}

impl UpgradePlatform for SimulatedMac {
    fn activate(&mut self) -> RequestOutcome {
        self.calls.push("activate");
        if self.reboot_on_activate {
            return RequestOutcome::WillCompleteAfterReboot;
        }
        if let Some(error) = self.activation_error {
            return RequestOutcome::Failed(error.into());
        }
        if self.approval != Approval::NotAsked {
            self.approval_pending = true;
            return RequestOutcome::NeedsApproval;
        }
        self.activate_now()
    }

    fn deactivate(&mut self) -> RequestOutcome {
        self.calls.push("deactivate");
        self.active = None;
        self.protocol_skew = false;
        self.configuration = None;
        self.tunnel_connected = false;
        self.xpc_invalidated = false;
        RequestOutcome::Done
    }

    fn wait_for_approval(&mut self, limit: Duration) -> RequestOutcome {
        self.calls.push("wait_for_approval");
        assert!(self.approval_pending);
        match self.approval {
            Approval::After(delay) if delay <= limit => {
                self.elapsed += delay;
                self.approval_pending = false;
                self.approval = Approval::NotAsked;
                self.activate_now()
            }
            _ => {
                self.elapsed += limit;
                RequestOutcome::NeedsApproval
            }
        }
    }

    fn handshake(&mut self) -> Handshake {
        self.calls.push("handshake");
        match self.active {
            _ if self.xpc_invalidated => Handshake::Unreachable("connection invalidated".into()),
            Some(_) if self.protocol_skew => Handshake::ProtocolSkew("extension speaks 0-0".into()),
            Some(version) if version == self.new => Handshake::Current,
            Some(version) => Handshake::OtherBuild(version.into()),
            None => Handshake::Unreachable("no extension".into()),
        }
    }

    fn save_configuration(&mut self, profile: Option<&str>) -> Result<(), String> {
        self.calls.push("save_configuration");
        self.configuration = profile.map(str::to_string);
        Ok(())
    }

    fn has_configuration(&mut self) -> bool {
        self.configuration.is_some()
    }

    fn connect(&mut self, _limit: Duration) -> Result<(), String> {
        self.calls.push("connect");
        if self.configuration.is_none() || self.active.is_none() {
            return Err("no VPN configuration to start".into());
        }
        self.tunnel_connected = true;
        Ok(())
    }

    fn sleep(&mut self, duration: Duration) {
        self.elapsed += duration;
    }
}

fn was_up() -> UpgradeState {
    UpgradeState {
        tunnel_was_up: true,
        profile: Some("home".into()),
        previous_version: Some("2".into()),
    }
}

fn run(mac: &mut SimulatedMac, state: &UpgradeState, policy: RepairPolicy) -> UpgradeReport {
    finish(mac, state, policy, Limits::default())
}

#[test]
fn a_versioned_upgrade_with_the_tunnel_stopped_needs_no_repair() {
    let mut mac = SimulatedMac::upgraded();
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy);
    assert!(!report.repaired);
    assert_eq!(mac.calls, ["activate", "handshake"]);
    assert_eq!(mac.configuration.as_deref(), Some("home"));
}

#[test]
fn replacing_while_connected_is_repaired_and_the_tunnel_restored() {
    let mut mac = SimulatedMac::upgraded();
    mac.tunnel_connected = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert!(mac.tunnel_connected && !mac.xpc_invalidated);
    // Deactivation deleted the configuration; it was saved again.
    assert_eq!(mac.configuration.as_deref(), Some("home"));
    assert!(mac.calls.contains(&"save_configuration"));
}

#[test]
fn an_unchanged_service_name_and_an_uningested_ticket_are_repaired() {
    for breakage in [
        |mac: &mut SimulatedMac| mac.service_name_versioned = false,
        |mac: &mut SimulatedMac| mac.ticket_ingested = false,
    ] {
        let mut mac = SimulatedMac::upgraded();
        breakage(&mut mac);
        let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
        assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
        assert!(report.repaired && report.tunnel_restored);
    }
}

#[test]
fn without_repair_the_model_shows_the_bug() {
    // The harness can see what it claims to fix: the plain replace leaves
    // the app unable to reach the extension.
    let mut mac = SimulatedMac::upgraded();
    mac.tunnel_connected = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::Never);
    assert!(
        matches!(&report.outcome, Outcome::Unhealthy { reason } if reason.contains("invalidated")),
        "{report:#?}"
    );
    assert!(mac.xpc_invalidated);
}

#[test]
fn approval_is_waited_for_and_a_refusal_is_reported_without_changes() {
    let mut mac = SimulatedMac::upgraded();
    mac.approval = Approval::After(Duration::from_secs(30));
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.steps.iter().any(|s| s.contains("waiting up to")));

    let mut mac = SimulatedMac::upgraded();
    mac.approval = Approval::Denies;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::ApprovalPending);
    assert_eq!(mac.active, Some("2"), "nothing replaced without approval");
    assert_eq!(mac.configuration.as_deref(), Some("home"));
    assert_eq!(
        mac.elapsed,
        Limits::default().approval,
        "bounded by the limit"
    );
}

#[test]
fn a_reboot_is_reported_and_nothing_else_is_tried() {
    let mut mac = SimulatedMac::upgraded();
    mac.reboot_on_activate = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::RebootRequired);
    assert_eq!(mac.calls, ["activate"]);
}

#[test]
fn the_always_policy_cycles_a_healthy_extension_too() {
    let mut mac = SimulatedMac::upgraded();
    let report = run(&mut mac, &was_up(), RepairPolicy::Always);
    assert_eq!(report.outcome, Outcome::Healthy);
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(
        mac.calls,
        [
            "activate",
            "handshake",
            "deactivate",
            "activate",
            "handshake",
            "save_configuration",
            "connect"
        ]
    );
}

#[test]
fn the_report_is_json_with_the_outcome_at_the_top() {
    let mut mac = SimulatedMac::upgraded();
    mac.tunnel_connected = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "healthy");
    assert_eq!(json["repaired"], true);
    assert!(json["steps"].as_array().unwrap().len() >= 6, "{json}");
}

#[test]
fn a_failed_activation_is_reported_with_its_reason() {
    let mut mac = SimulatedMac::upgraded();
    mac.activation_error = Some("the app must be in /Applications");
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(
        report.outcome,
        Outcome::Unhealthy {
            reason: "the app must be in /Applications".into()
        }
    );
    assert_eq!(mac.active, Some("2"));
}

#[test]
fn a_protocol_skew_is_repaired_like_an_invalidated_connection() {
    let mut mac = SimulatedMac::upgraded();
    mac.protocol_skew = true;
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired);
    assert!(report.steps.iter().any(|s| s.contains("ProtocolSkew")));
}
