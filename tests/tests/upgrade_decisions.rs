//! `upgrade finish`'s decisions, driven in memory against the model of
//! macOS's extension lifecycle (`system_tests::macos_sim::model`, the same
//! model the simulated Mac of `macos_upgrade.rs` runs on).

use std::time::Duration;

use system_tests::macos_sim::{
    app::SimPlatform,
    model::{AppIdentity, Approval, Mac, Service, CONNECT_MS, CONNECT_RULE, SAVE_MS},
};
use vpn_app::upgrade::{
    finish, finish_command, Attendance, FinishOptions, Limits, Outcome, Prepared, RepairPolicy,
    SavedConfiguration, UpgradePlatform, UpgradeReport, UpgradeState, VpnSession,
};

const PROVIDER: &str = "com.example.demovpn.tunnel";
const GROUP: &str = "ABCDE12345.group.com.example.demovpn";

fn app(version: &str) -> AppIdentity {
    AppIdentity {
        bundle_id: "com.example.demovpn".into(),
        version: version.into(),
        service_name: format!("{GROUP}.tunnel.{version}"),
        provider_id: PROVIDER.into(),
        team_id: "ABCDE12345".into(),
        product_name: "Demo VPN".into(),
        extension_groups: vec![GROUP.into()],
    }
}

/// Version 2 installed and active, its configuration "home" saved; the
/// pkg put version 3's app in place and its ticket was ingested.
fn upgraded() -> SimPlatform<Mac> {
    let mut mac = Mac {
        provider_id: PROVIDER.into(),
        extension: Some(app("2").extension()),
        ..Mac::default()
    };
    mac.app_profiles.insert("home".into(), "key-of-home".into());
    mac.add_service(Service {
        id: "A".into(),
        name: "Demo VPN".into(),
        app_id: "com.example.demovpn".into(),
        provider_id: PROVIDER.into(),
        profile: "home".into(),
        key: "key-of-home".into(),
        status: "Disconnected".into(),
        enabled: true,
        server: "vpn.example.com".into(),
        ..Service::default()
    });
    SimPlatform {
        mac,
        app: app("3"),
        ingested_at_launch: true,
    }
}

fn connected(mut platform: SimPlatform<Mac>) -> SimPlatform<Mac> {
    platform.mac.services[0].status = "Connected".into();
    platform.mac.engine = Some("home".into());
    platform
}

fn was_up() -> UpgradeState {
    UpgradeState {
        tunnel_was_up: true,
        prepared: Some(Prepared {
            tunnel_was_up: true,
            profile: Some("home".into()),
            version: "2".into(),
            configuration: Some(home_configuration()),
        }),
        ..UpgradeState::default()
    }
}

/// What version 2's `prepare` recorded of "Demo VPN".
fn home_configuration() -> SavedConfiguration {
    SavedConfiguration {
        name: "Demo VPN".into(),
        server: "vpn.example.com".into(),
        profile: Some("home".into()),
        on_demand: false,
        on_demand_rules: None,
    }
}

fn run(
    platform: &mut SimPlatform<Mac>,
    state: &UpgradeState,
    policy: RepairPolicy,
) -> UpgradeReport {
    finish(
        platform,
        &mut state.clone(),
        policy,
        Attendance::Attended,
        Limits::default(),
    )
}

fn calls(platform: &SimPlatform<Mac>) -> Vec<String> {
    platform.mac.calls_of("app")
}

fn configuration(platform: &SimPlatform<Mac>) -> Option<(String, String)> {
    platform
        .mac
        .ours(PROVIDER)
        .next()
        .map(|s| (s.profile.clone(), s.key.clone()))
}

fn home() -> Option<(String, String)> {
    Some(("home".into(), "key-of-home".into()))
}

#[test]
fn a_versioned_upgrade_with_the_tunnel_stopped_needs_no_repair() {
    let mut mac = upgraded();
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy);
    assert!(!report.repaired);
    assert_eq!(calls(&mac), ["activate", "handshake", "resume"]);
    assert_eq!(configuration(&mac), home());
}

#[test]
fn replacing_while_connected_is_repaired_and_the_tunnel_restored() {
    let mut mac = connected(upgraded());
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert!(mac.mac.tunnel_connected() && !mac.mac.xpc_invalidated);
    // Deactivation deleted the configuration; it was saved again, with
    // the same keys.
    assert_eq!(configuration(&mac), home());
    assert!(calls(&mac).contains(&"save_configuration".to_string()));
}

#[test]
fn an_unchanged_service_name_and_an_uningested_ticket_are_repaired() {
    for breakage in [
        |platform: &mut SimPlatform<Mac>| platform.app.service_name = app("2").service_name,
        |platform: &mut SimPlatform<Mac>| platform.ingested_at_launch = false,
    ] {
        let mut mac = upgraded();
        breakage(&mut mac);
        let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
        assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
        assert!(report.repaired && report.tunnel_restored);
        assert_eq!(configuration(&mac), home());
    }
}

#[test]
fn without_repair_the_model_shows_the_bug() {
    // The harness can see what it claims to fix: the plain replace leaves
    // the app unable to reach the extension.
    let mut mac = connected(upgraded());
    let report = run(&mut mac, &was_up(), RepairPolicy::Never);
    assert!(
        matches!(&report.outcome, Outcome::Unhealthy { reason } if reason.contains("invalidated")),
        "{report:#?}"
    );
    assert!(mac.mac.xpc_invalidated);
}

#[test]
fn approval_is_waited_for_and_a_refusal_is_reported_without_changes() {
    let mut mac = upgraded();
    mac.mac.approval = Approval::AfterMs(30_000);
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.steps.iter().any(|s| s.contains("waiting up to")));
    assert_eq!(mac.mac.user_wait_ms, 30_000);

    let mut mac = upgraded();
    mac.mac.approval = Approval::Denies;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::ApprovalPending);
    assert_eq!(
        mac.mac.extension.as_ref().unwrap().version,
        "2",
        "nothing replaced without approval"
    );
    assert_eq!(configuration(&mac), home());
    assert_eq!(
        Duration::from_millis(mac.mac.simulated_ms),
        Limits::default().approval,
        "bounded by the limit"
    );
}

#[test]
fn a_reboot_is_reported_and_the_tunnel_runs_on_the_old_extension_until_then() {
    // `prepare` quiesced the old extension; no repair is tried, and the
    // control channel (the new version's service name) cannot reach it.
    let mut mac = upgraded();
    mac.mac.reboot_on_activate = true;
    mac.mac.quiesced = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::RebootRequired);
    assert!(report.tunnel_restored && !report.repaired);
    assert_eq!(calls(&mac), ["activate", "connect"]);
    assert_eq!(mac.mac.extension.as_ref().unwrap().version, "2");
    assert!(mac.mac.tunnel_connected());

    let mut stopped = upgraded();
    stopped.mac.reboot_on_activate = true;
    let report = run(
        &mut stopped,
        &UpgradeState::default(),
        RepairPolicy::OnFailure,
    );
    assert_eq!(report.outcome, Outcome::RebootRequired);
    assert!(!report.tunnel_restored);
    assert_eq!(calls(&stopped), ["activate"]);
}

#[test]
fn the_always_policy_cycles_a_healthy_extension_too() {
    let mut mac = upgraded();
    let report = run(&mut mac, &was_up(), RepairPolicy::Always);
    assert_eq!(report.outcome, Outcome::Healthy);
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(
        calls(&mac),
        [
            "activate",
            "handshake",
            "deactivate",
            "activate",
            "handshake",
            "resume",
            "save_configuration",
            "connect",
            "tunnel_status"
        ]
    );
}

#[test]
fn the_report_is_json_with_the_outcome_at_the_top() {
    let mut mac = connected(upgraded());
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "healthy");
    assert_eq!(json["repaired"], true);
    assert!(json["steps"].as_array().unwrap().len() >= 6, "{json}");
    // At the top of the file as written: postinstall reads the first
    // `"outcome":` line, before any step.
    let text = serde_json::to_string_pretty(&report).unwrap();
    assert!(
        text.starts_with("{\n  \"outcome\": \"healthy\",\n"),
        "{text}"
    );
}

#[test]
fn a_failed_activation_is_reported_with_its_reason() {
    let mut mac = upgraded();
    mac.mac.activation_error = Some("the app must be in /Applications".into());
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(
        report.outcome,
        Outcome::Unhealthy {
            reason: "the app must be in /Applications".into()
        }
    );
    assert_eq!(mac.mac.extension.as_ref().unwrap().version, "2");
}

#[test]
fn sysextd_refuses_a_service_name_outside_the_extensions_app_groups() {
    // The scheme of the earlier releases: team + extension id + version,
    // under no app group.
    let mut mac = upgraded();
    mac.app.service_name = format!("ABCDE12345.{PROVIDER}.3");
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    let Outcome::Unhealthy { reason } = &report.outcome else {
        panic!("activation must fail: {:?}", report.outcome);
    };
    assert!(
        reason.contains("OSSystemExtensionErrorDomain Code=9")
            && reason.contains("extension category returned error"),
        "{reason}"
    );
    assert_eq!(mac.mac.extension.as_ref().unwrap().version, "2");
    // A group that is only a string prefix, without its dot, is no parent.
    mac.app.service_name = format!("{GROUP}tunnel.3");
    assert!(mac.app.category_check().is_err());
    mac.app.service_name = format!("{GROUP}.tunnel.3");
    assert!(mac.app.category_check().is_ok());
}

#[test]
fn a_session_the_system_shows_connected_with_no_engine_is_not_healthy() {
    // A same-version reinstall after an old `prepare` that stopped only
    // the engine: the system still shows the session Connected, so
    // `startVPNTunnel` starts nothing. Only the extension can tell.
    let mut mac = connected(upgraded());
    mac.mac.extension.as_mut().unwrap().version = "3".into();
    mac.mac.stop_engine();
    assert!(mac.mac.session_connected() && !mac.mac.tunnel_connected());
    let limits = Limits {
        connect: Duration::from_secs(2),
        ..Limits::default()
    };
    let report = finish(
        &mut mac,
        &mut was_up(),
        RepairPolicy::OnFailure,
        Attendance::Attended,
        limits,
    );
    let Outcome::Unhealthy { reason } = &report.outcome else {
        panic!("{report:#?}");
    };
    assert!(
        reason.contains("the extension's engine does not work"),
        "{reason}"
    );
    assert!(!report.tunnel_restored);
}

#[test]
fn a_protocol_skew_is_repaired_like_an_invalidated_connection() {
    let mut mac = upgraded();
    mac.mac.protocol_skew = true;
    mac.mac.extension.as_mut().unwrap().version = "3".into();
    let report = run(&mut mac, &UpgradeState::default(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired);
    assert!(report.steps.iter().any(|s| s.contains("ProtocolSkew")));
}

#[test]
fn a_quiesced_extension_that_was_not_replaced_is_resumed() {
    // A reinstall of the same version: `upgrade prepare` quiesced the
    // extension, and activation replaces nothing.
    let mut mac = upgraded();
    mac.mac.extension.as_mut().unwrap().version = "3".into();
    mac.mac.quiesced = true;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(!report.repaired && report.tunnel_restored);
    assert!(!mac.mac.quiesced);
}

#[test]
fn a_repair_saves_the_configuration_as_prepare_recorded_it() {
    // Deactivation deletes the configuration, and the system keeps no copy:
    // what comes back is what the old app recorded, On Demand and all.
    let mut mac = connected(upgraded());
    let recorded = SavedConfiguration {
        name: "Office (Berlin)".into(),
        on_demand: true,
        on_demand_rules: Some(CONNECT_RULE.into()),
        ..home_configuration()
    };
    {
        let ours = &mut mac.mac.services[0];
        ours.name = recorded.name.clone();
        // `prepare` turned On Demand off before it stopped the session.
        ours.on_demand_rules = recorded.on_demand_rules.clone();
    }
    let mut state = was_up();
    state.prepared.as_mut().unwrap().configuration = Some(recorded.clone());
    let report = run(&mut mac, &state, RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(mac.configuration().unwrap(), Some(recorded));
    assert_eq!(configuration(&mac), home(), "the keys are the app's");
}

#[test]
fn without_prepare_the_configuration_is_read_before_the_repair_deletes_it() {
    // The old app had no `prepare`: nothing recorded. `finish` reads the
    // configuration before it deactivates anything.
    let mut mac = connected(upgraded());
    mac.mac.services[0].name = "Home, as the user named it".into();
    let before = mac.configuration().unwrap().unwrap();
    let state = UpgradeState {
        tunnel_was_up: true,
        ..UpgradeState::default()
    };
    let report = run(&mut mac, &state, RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(mac.configuration().unwrap(), Some(before));
}

#[test]
fn a_configuration_gone_with_nothing_recorded_is_reported_not_guessed() {
    // An earlier run deactivated the extension (deleting the configuration)
    // and failed before it saved it again; the state file predates
    // `prepare`'s record of it.
    let mut mac = upgraded();
    mac.mac.services.clear();
    let mut state = was_up();
    state.prepared.as_mut().unwrap().configuration = None;
    let report = run(&mut mac, &state, RepairPolicy::OnFailure);
    let Outcome::Unhealthy { reason } = &report.outcome else {
        panic!("{report:#?}");
    };
    assert!(
        reason.contains("its VPN configuration is gone and none was recorded"),
        "{reason}"
    );
    assert!(mac.mac.services.is_empty(), "nothing made up");
}

#[test]
fn on_demand_that_prepare_turned_off_is_turned_back_on() {
    let mut mac = upgraded();
    mac.mac.services[0].on_demand_rules = Some(CONNECT_RULE.into());
    let recorded = SavedConfiguration {
        on_demand: true,
        on_demand_rules: Some(CONNECT_RULE.into()),
        ..home_configuration()
    };
    let mut state = was_up();
    state.prepared.as_mut().unwrap().configuration = Some(recorded.clone());
    let report = run(&mut mac, &state, RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(!report.repaired);
    assert!(mac.mac.services[0].on_demand);
    assert!(report
        .steps
        .iter()
        .any(|s| s == "VPN On Demand turned back on"));
}

#[test]
fn unattended_a_repair_is_left_for_the_user_and_the_configuration_kept() {
    let mut mac = connected(upgraded());
    let report = finish(
        &mut mac,
        &mut was_up(),
        RepairPolicy::OnFailure,
        Attendance::Unattended,
        Limits::default(),
    );
    let Outcome::Unhealthy { reason } = &report.outcome else {
        panic!("{report:#?}");
    };
    assert!(reason.contains("it is left for the user"), "{reason}");
    assert!(!calls(&mac).contains(&"deactivate".to_string()));
    assert_eq!(configuration(&mac), home(), "nothing deleted");
}

#[test]
fn the_state_file_of_the_previous_format_is_finished_by_this_build() {
    // Written before `prepare` recorded the configuration: the new app
    // reads it before the repair deletes it, and restores the tunnel with
    // the profile the old app recorded.
    let fixture = system_tests::workspace_root()
        .join("tests/fixtures/upgrade-state/schema-1-without-configuration.json");
    let mut mac = connected(upgraded());
    mac.mac.services[0].name = "Demo VPN".into();
    let before = mac.configuration().unwrap();
    let record = tempfile::tempdir().unwrap();
    let options = FinishOptions {
        state: Some(fixture),
        policy: RepairPolicy::OnFailure,
        report: None,
        once: true,
        upgrade_id: None,
        attendance: Attendance::Attended,
        finished_record: record.path().join("finished-upgrades"),
        limits: Limits::default(),
    };
    let report = finish_command(&mut mac, &options).unwrap();
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(mac.configuration().unwrap(), before);
    assert_eq!(mac.mac.engine.as_deref(), Some("home"));
    assert_eq!(
        std::fs::read_to_string(&options.finished_record).unwrap(),
        "20261123T101500Z-4711\n"
    );
}

#[test]
fn a_repair_waits_for_the_administrators_password_deactivation_asks_for() {
    let mut mac = connected(upgraded());
    mac.mac.deactivation_approval = Approval::AfterMs(5_000);
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::Healthy, "{report:#?}");
    assert!(report.repaired && report.tunnel_restored);
    assert_eq!(mac.mac.user_wait_ms, 5_000);
    assert!(report
        .steps
        .iter()
        .any(|s| s.starts_with("repair: deactivate: waiting up to")));

    // Refused: nothing is deleted, and the user is asked again later.
    let mut mac = connected(upgraded());
    mac.mac.deactivation_approval = Approval::Denies;
    let report = run(&mut mac, &was_up(), RepairPolicy::OnFailure);
    assert_eq!(report.outcome, Outcome::ApprovalPending, "{report:#?}");
    assert_eq!(configuration(&mac), home());
    assert!(mac.mac.extension.is_some());
}

#[test]
fn saving_and_connecting_take_the_time_real_systems_take() {
    // The simulated clock advances by what a save and a connect cost on
    // a real Mac (each cited in the model), so the downtime the upgrade
    // tests print is not script overhead alone.
    let mut platform = upgraded();
    let before = platform.mac.simulated_ms;
    platform.save(&home_configuration()).unwrap();
    assert_eq!(platform.mac.simulated_ms - before, SAVE_MS);
    let before = platform.mac.simulated_ms;
    platform
        .connect(Some("home"), Duration::from_secs(5))
        .unwrap();
    let took = platform.mac.simulated_ms - before;
    assert!(
        (CONNECT_MS..CONNECT_MS + 100).contains(&took),
        "connected after {took} ms"
    );
}
