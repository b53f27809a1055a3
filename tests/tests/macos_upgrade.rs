//! The upgrade on a simulated macOS (`system_tests::macos_sim`): the
//! preinstall and postinstall that build-pkg wrote into the demo pkg run
//! against fake macOS tools, and the app they launch runs the real
//! `upgrade prepare` / `upgrade finish` over the model of the extension
//! lifecycle. Each scenario checks the end state (healthy, or the reason it
//! cannot be), the tunnel, the VPN configuration and its keys, and the
//! install log; each prints the tunnel's downtime.

use std::time::Duration;

use system_tests::{
    json_shape::json_shape,
    macos_sim::{
        harness::{Install, SimMac},
        model::{Approval, Mac, RunningApp, CONNECT_MS, CONNECT_RULE, SAVE_MS},
        scenario::{
            alice, installed, pkg, running_app, service, versioned, APP_ID, NEW, PROVIDER, TEAM,
        },
        tools::{launchd_job, program_arguments, OPEN_OUTSIDE_A_SESSION},
    },
};

/// What the app does when the installed version is installed again: the
/// old app's `prepare` ends the system's session (`stopVPNTunnel`), the new
/// one replaces nothing, resumes the quiesced extension, reconnects and
/// asks the extension whether its engine works.
const SAME_VERSION_CALLS: [&str; 6] = [
    "stop_vpn_tunnel",
    "activate",
    "handshake",
    "resume",
    "connect",
    "tunnel_status",
];

/// The login agent postinstall left, checked; the arguments it gives the
/// app.
fn login_agent_arguments(sim: &SimMac) -> Vec<String> {
    let agent = launchd_job(&sim.agent_plist());
    assert_eq!(
        agent["Label"].as_string(),
        Some("com.example.demovpn.upgrade-finish")
    );
    assert_eq!(agent["RunAtLoad"].as_boolean(), Some(true));
    let arguments = program_arguments(&agent);
    assert_eq!(arguments[..2], ["/usr/bin/open", "-n"]);
    assert!(
        arguments.contains(&sim.state_file().display().to_string()),
        "{arguments:?}"
    );
    assert!(arguments.contains(&"--once".to_string()), "{arguments:?}");
    // The app stays in the menu bar afterwards and says what happened.
    assert!(arguments.contains(&"--stay".to_string()), "{arguments:?}");
    // It expires with its upgrade.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.state_file()).unwrap()).unwrap();
    let id = arguments.iter().position(|a| a == "--upgrade-id").unwrap() + 1;
    assert_eq!(state["upgrade_id"], arguments[id].as_str());
    // Shown under the app in Login Items.
    assert_eq!(
        agent["AssociatedBundleIdentifiers"]
            .as_array()
            .map(|ids| ids
                .iter()
                .filter_map(|id| id.as_string())
                .collect::<Vec<_>>()),
        Some(vec![APP_ID])
    );
    let app = arguments.iter().position(|a| a == "--args").unwrap() + 1;
    arguments[app..].to_vec()
}

/// A login: launchd runs the agent, whose `open` runs the app (waited for
/// here).
fn log_in(sim: &SimMac) -> serde_json::Value {
    sim.update(|mac| mac.console = alice());
    let arguments = login_agent_arguments(sim);
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    sim.run_app(&arguments)
}

fn report(sim: &SimMac) -> serde_json::Value {
    let path = sim.state_file().with_file_name("finish-report.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no report at {}: {e}\n{}",
            path.display(),
            sim.install_log()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The end state every healthy upgrade reaches, and the downtime figure.
fn assert_healthy(scenario: &str, sim: &SimMac, install: &Install, tunnel_was_up: bool) {
    let log = sim.install_log();
    assert!(
        install.succeeded(),
        "{scenario}: {}\n{}\n{log}",
        String::from_utf8_lossy(&install.preinstall.stderr),
        install
            .postinstall
            .as_ref()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default()
    );
    let report = report(sim);
    assert_eq!(
        report["outcome"], "healthy",
        "{scenario}: {report:#}\n{log}"
    );
    let mac = sim.mac();
    assert_eq!(mac.extension.as_ref().unwrap().version, NEW, "{scenario}");
    assert_eq!(mac.extension.as_ref().unwrap().service_name, versioned(NEW));
    assert!(!mac.xpc_invalidated, "{scenario}");
    assert!(!mac.quiesced, "{scenario}: the extension takes work");
    assert_eq!(
        mac.tunnel_connected(),
        tunnel_was_up,
        "{scenario}: {report:#}"
    );
    assert!(
        mac.running_apps
            .iter()
            .all(|a| a.bundle_id != APP_ID || !a.args.is_empty()),
        "{scenario}: the old app was quit"
    );
    // Every step is in the log.
    for step in [
        "preinstall",
        "state recorded",
        "spctl: ",
        "launching the new app as alice",
        "upgrade finish: healthy",
    ] {
        assert!(
            log.contains(step),
            "{scenario}: no `{step}` in the log:\n{log}"
        );
    }
    if tunnel_was_up {
        let downtime = mac
            .downtime_since(install.started_ms)
            .expect("the tunnel went down");
        // Next to what the simulated system alone takes to connect.
        println!(
            "downtime, {scenario}: {} ms (the simulated connect alone: {CONNECT_MS} ms, a save {SAVE_MS} ms)",
            downtime.as_millis()
        );
        assert!(
            downtime < Duration::from_secs(3),
            "{scenario}: {downtime:?} of downtime"
        );
    }
}

/// The configuration "home" with its keys, under whatever name.
fn assert_configuration_kept(sim: &SimMac) {
    let mac = sim.mac();
    let ours: Vec<_> = mac.ours(PROVIDER).collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        (ours[0].profile.as_str(), ours[0].key.as_str()),
        ("home", "key-of-home")
    );
}

#[test]
fn upgrade_2_to_3_with_the_vpn_stopped() {
    let sim = installed("0.9.0", &versioned("0.9.0"), false);
    let install = sim.install(pkg());
    assert_healthy("2 -> 3, VPN stopped", &sim, &install, false);
    assert_configuration_kept(&sim);
    let mac = sim.mac();
    assert!(!mac.calls_of("app").contains(&"deactivate".to_string()));
    // The old app was asked whether it has `upgrade prepare`, then ran it.
    let app_calls = mac.calls_of("vpn-app");
    assert!(
        app_calls.contains(&"upgrade prepare --help".to_string()),
        "{app_calls:?}"
    );
    assert!(
        app_calls.contains(&"--json upgrade prepare".to_string()),
        "{app_calls:?}"
    );
    // The new app finishes, then stays in the menu bar.
    assert!(
        app_calls
            .iter()
            .any(|c| c.starts_with("upgrade finish ") && c.contains(" --stay")),
        "{app_calls:?}"
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sim.state_file().with_file_name("last-upgrade.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["previous_version"], "0.9.0");
    assert_eq!(
        state["prepared"]["version"], NEW,
        "the simulated old app runs this build's code"
    );
}

#[test]
fn upgrade_1_to_3_with_the_vpn_running_under_a_service_the_old_version_named() {
    // Version 1 predates `upgrade prepare` and the versioned service name;
    // it named its VPN configuration differently. Another vendor's VPN is
    // connected too, and must be left alone.
    let sim = installed("0.8.0", &format!("{TEAM}.{PROVIDER}"), true);
    sim.update(|mac| {
        mac.legacy_versions.push("0.8.0".into());
        mac.services[0].name = "DemoVPN (WireGuard)".into();
        let mut other = service(
            "99999999-0000-4000-8000-000000000009",
            "Other VPN",
            "com.other.vpn.ne",
            true,
        );
        other.app_id = "com.other.vpn".into();
        mac.add_service(other);
    });
    let install = sim.install(pkg());
    assert_healthy(
        "1 -> 3, VPN running under an old name",
        &sim,
        &install,
        true,
    );
    assert_configuration_kept(&sim);
    let mac = sim.mac();
    assert_eq!(
        mac.services
            .iter()
            .find(|s| s.name == "Other VPN")
            .unwrap()
            .status,
        "Connected"
    );
    assert!(mac
        .calls_of("scutil")
        .contains(&"--nc stop 1A2B3C4D-0000-4000-8000-000000000001".to_string()));
    assert!(!mac
        .calls_of("scutil")
        .iter()
        .any(|c| c.contains("stop 9999")));
    let log = sim.install_log();
    assert!(
        log.contains("VPN configuration \"DemoVPN (WireGuard)\""),
        "{log}"
    );
    assert!(
        log.contains("has no `upgrade prepare`; stopping the tunnel with scutil"),
        "{log}"
    );
}

#[test]
fn scutil_lines_with_cut_names_a_disabled_service_and_look_alikes() {
    // The old app predates `upgrade prepare`, so `scutil --nc list` is all
    // preinstall has. Its lines (Apple's format, tools.rs) cut our long
    // name and drop its closing quote; a second configuration of ours is
    // disabled and shows `(Invalid)`; two other vendors' VPNs are
    // connected, one saved by an app whose id extends ours, both named
    // like ours.
    let long_name = r#"Demo VPN "Home" \ office, Berlin-Mitte"#;
    let thirty_one = "Demo VPN, thirty-one characters";
    assert_eq!((long_name.len(), thirty_one.len()), (38, 31));
    let sim = installed("0.8.0", &versioned("0.8.0"), true);
    sim.update(|mac| {
        mac.legacy_versions.push("0.8.0".into());
        mac.services[0].name = long_name.into();
        let mut disabled = service(
            "1A2B3C4D-0000-4000-8000-000000000002",
            thirty_one,
            PROVIDER,
            false,
        );
        disabled.enabled = false;
        disabled.profile = "work".into();
        mac.add_service(disabled);
        for (id, app) in [
            (
                "99999999-0000-4000-8000-000000000008",
                "com.example.demovpnx",
            ),
            ("99999999-0000-4000-8000-000000000009", "com.other.vpn"),
        ] {
            let mut other = service(id, long_name, &format!("{app}.ne"), true);
            other.app_id = app.into();
            mac.add_service(other);
        }
    });
    let install = sim.install(pkg());
    assert_healthy("cut names and look-alikes", &sim, &install, true);
    let mac = sim.mac();
    let stops = mac.calls_of("scutil");
    let stops: Vec<&String> = stops.iter().filter(|c| c.contains("stop")).collect();
    assert_eq!(
        stops,
        [
            "--nc stop 1A2B3C4D-0000-4000-8000-000000000001",
            "--nc stop 1A2B3C4D-0000-4000-8000-000000000002"
        ],
        "only ours, by id"
    );
    for other in ["com.example.demovpnx", "com.other.vpn"] {
        let service = mac.services.iter().find(|s| s.app_id == other).unwrap();
        assert_eq!(service.status, "Connected", "{other} left alone");
    }
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sim.state_file().with_file_name("last-upgrade.json")).unwrap(),
    )
    .unwrap();
    let services = state["services"].as_array().unwrap();
    assert_eq!(services.len(), 2, "{state:#}");
    // What scutil showed of each name; `name_complete` is false when it
    // dropped the closing quote, so the name may be cut.
    assert_eq!(services[0]["id"], "1A2B3C4D-0000-4000-8000-000000000001");
    assert_eq!(services[0]["name"], &long_name[..37]);
    assert_eq!(services[0]["name_complete"], false);
    assert_eq!(services[0]["status"], "Connected");
    assert_eq!(services[1]["name"], thirty_one);
    assert_eq!(services[1]["name_complete"], false);
    assert_eq!(services[1]["status"], "Invalid");
    let log = sim.install_log();
    assert!(
        log.contains(&format!(
            "VPN configuration \"{}...\" (1A2B3C4D-0000-4000-8000-000000000001, its name cut by scutil): Connected",
            &long_name[..37]
        )),
        "{log}"
    );
}

#[test]
fn files_a_release_dropped_are_gone_after_the_upgrade() {
    // Installer replaces a bundle whole only when PackageInfo lists it
    // under <upgrade-bundle>; a file left behind in a signed bundle breaks
    // its seal (CodeResources no longer matches).
    let sim = installed("0.9.0", &versioned("0.9.0"), false);
    let app = sim.app_path();
    let dropped = [
        app.join("Contents/Resources/dropped-in-1.0.0.txt"),
        app.join("Contents/Library/SystemExtensions/com.example.demovpn.tunnel.systemextension/Contents/Resources/old.txt"),
    ];
    for file in &dropped {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "shipped by 0.9.0 only").unwrap();
    }
    let install = sim.install(pkg());
    assert_healthy("a release dropped files", &sim, &install, false);
    for file in &dropped {
        assert!(!file.exists(), "{} stayed behind", file.display());
    }
    assert!(app.join("Contents/Info.plist").exists());
}

#[test]
fn open_launches_only_into_the_console_users_session() {
    // As a pkg script runs it: root, outside any user's session.
    let sim = installed(NEW, &versioned(NEW), false);
    let app = sim.app_path();
    let open = |launcher: &[&str]| {
        sim.command(launcher[0])
            .args(&launcher[1..])
            .args(["open", "-n", "-g", "-a"])
            .arg(&app)
            .args(["--args", "status"])
            .output()
            .unwrap()
    };
    for launcher in [&["env"][..], &["sudo", "-u", "alice"]] {
        let output = open(launcher);
        assert!(!output.status.success(), "{launcher:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).trim(),
            OPEN_OUTSIDE_A_SESSION
        );
    }
    let output = open(&["launchctl", "asuser", "501", "sudo", "-u", "alice"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Nobody at the console: there is no session to launch into.
    sim.update(|mac| mac.console = None);
    let output = open(&["launchctl", "asuser", "501", "sudo", "-u", "alice"]);
    assert!(!output.status.success());
}

#[test]
fn first_and_second_upgrade_to_the_same_version() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    let first = sim.install(pkg());
    assert_healthy("2 -> 3, first", &sim, &first, true);
    // The user opens the app again; the same pkg runs a second time.
    let executable = sim.app_executable().display().to_string();
    sim.update(|mac| mac.running_apps.push(running_app(executable, 4343)));
    let calls_before = sim.mac().calls_of("app").len();
    let second = sim.install(pkg());
    assert_healthy("2 -> 3, second", &sim, &second, true);
    assert_configuration_kept(&sim);
    let second_calls = sim.mac().calls_of("app")[calls_before..].to_vec();
    assert_eq!(second_calls, SAME_VERSION_CALLS);
}

#[test]
fn the_app_not_running() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.running_apps.clear());
    let install = sim.install(pkg());
    assert_healthy("app not running", &sim, &install, true);
    assert_configuration_kept(&sim);
    assert!(sim.install_log().contains("the app is not running"));
    assert!(sim.mac().calls_of("pkill").is_empty());
}

#[test]
fn a_fresh_install() {
    let sim = SimMac::new(Mac {
        provider_id: PROVIDER.into(),
        console: alice(),
        ..Mac::default()
    });
    let install = sim.install(pkg());
    assert_healthy("fresh install", &sim, &install, false);
    let log = sim.install_log();
    assert!(
        log.contains(&format!("installing {APP_ID} {NEW} over nothing")),
        "{log}"
    );
    assert!(sim.mac().services.is_empty());
}

#[test]
fn nobody_logged_in_runs_finish_at_the_next_login_once() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| {
        mac.console = None;
        mac.running_apps.clear();
    });
    let install = sim.install(pkg());
    assert!(install.succeeded());
    let log = sim.install_log();
    assert!(
        log.contains("nobody is logged in to run `upgrade prepare`"),
        "{log}"
    );
    assert!(log.contains("nobody is logged in at the console"), "{log}");
    assert!(
        log.contains("`upgrade finish` runs again at the next login"),
        "{log}"
    );
    // The tunnel is down and the old extension still active until then.
    let mac = sim.mac();
    assert!(!mac.tunnel_connected());
    assert_eq!(mac.extension.as_ref().unwrap().version, "0.9.0");

    // Nobody asked for what runs at the login: it repairs nothing.
    assert!(login_agent_arguments(&sim).contains(&"--unattended".to_string()));
    // alice logs in, twice: the first login finishes the upgrade, and
    // after she turns the VPN off, the second does nothing.
    let first = log_in(&sim);
    assert_eq!(first["outcome"], "healthy", "{first:#}");
    assert_eq!(first["tunnel_restored"], true);
    assert!(sim.mac().tunnel_connected());
    assert_configuration_kept(&sim);
    sim.update(|mac| mac.services[0].status = "Disconnected".into());
    let second = log_in(&sim);
    assert_eq!(second["outcome"], "already_finished", "{second:#}");
    assert!(!sim.mac().tunnel_connected());
}

#[test]
fn an_upgrade_a_login_agent_finished_is_not_restored_again_by_the_next_install() {
    // Installed at the login window, finished by the agent at alice's
    // login; she then turns the VPN off. The next install must not turn
    // it back on from the first one's state file.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| {
        mac.console = None;
        mac.running_apps.clear();
    });
    assert!(sim.install(pkg()).succeeded());
    assert_eq!(log_in(&sim)["outcome"], "healthy");
    sim.update(|mac| {
        let id = mac.services[0].id.clone();
        mac.stop_service(&id);
    });
    std::thread::sleep(Duration::from_millis(400));
    let again = sim.install(pkg());
    assert_healthy("after an upgrade the agent finished", &sim, &again, false);
    assert!(
        sim.install_log()
            .contains("was finished at a login: its state is retired"),
        "{}",
        sim.install_log()
    );
}

#[test]
fn at_a_login_after_an_mdm_install_a_repair_is_left_for_the_user() {
    // Pushed at the login window: scutil hangs and the old app predates
    // `prepare`, so the extension is replaced while connected at the next
    // login. The repair it needs can prompt and deletes the configuration
    // (which MDM may have installed): not unattended.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| {
        mac.console = None;
        mac.running_apps.clear();
        mac.scutil_hangs = true;
        mac.legacy_versions.push("0.9.0".into());
    });
    assert!(sim.install(pkg()).succeeded());
    let at_login = log_in(&sim);
    assert_eq!(at_login["outcome"], "unhealthy", "{at_login:#}");
    assert!(
        at_login["reason"]
            .as_str()
            .unwrap()
            .contains("it is left for the user"),
        "{at_login:#}"
    );
    assert!(!sim
        .mac()
        .calls_of("app")
        .contains(&"deactivate".to_string()));
    assert_configuration_kept(&sim);
}

#[test]
fn a_login_agent_expires_with_its_upgrade() {
    let sim = installed("0.9.0", &versioned("0.9.0"), false);
    sim.update(|mac| mac.console = None);
    assert!(sim.install(pkg()).succeeded());
    let arguments = login_agent_arguments(&sim);
    // Another upgrade's state file took its place.
    let state = sim.state_file();
    let text = std::fs::read_to_string(&state).unwrap();
    let id = arguments[arguments.iter().position(|a| a == "--upgrade-id").unwrap() + 1].clone();
    std::fs::write(&state, text.replace(&id, "20270101T000000Z-1")).unwrap();
    sim.update(|mac| mac.console = alice());
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let report = sim.run_app(&arguments);
    assert_eq!(report["outcome"], "already_finished", "{report:#}");
    assert!(sim.mac().calls_of("app").is_empty(), "nothing was done");
    // And once the state file is gone, too.
    std::fs::remove_file(&state).unwrap();
    assert_eq!(sim.run_app(&arguments)["outcome"], "already_finished");
}

#[test]
fn gatekeeper_rejects_the_app_and_no_ticket_is_ingested_before_its_launch() {
    // Gatekeeper allows App Store apps only: postinstall's assessment is
    // rejected and ingests nothing, so the new app's first activation
    // comes before its ticket is ingested (XPC invalidated) and is
    // repaired.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.gatekeeper_app_store_only = true);
    let install = sim.install(pkg());
    let log = sim.install_log();
    assert!(
        log.contains("spctl --assess failed: ")
            && log.contains(": rejected source=Notarized Developer ID"),
        "{log}"
    );
    assert_eq!(report(&sim)["repaired"], true);
    // assert_healthy looks for an `spctl: ` line of an accepted assessment.
    assert!(install.succeeded());
    assert_eq!(report(&sim)["outcome"], "healthy");
    let mac = sim.mac();
    assert!(mac.tunnel_connected() && !mac.xpc_invalidated);
    assert_configuration_kept(&sim);
}

#[test]
fn scutil_hangs() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.scutil_hangs = true);
    let install = sim.install(pkg());
    assert_healthy("scutil hangs", &sim, &install, true);
    assert_configuration_kept(&sim);
    let log = sim.install_log();
    assert!(log.contains("gave up on `scutil` after 5s"), "{log}");
    assert!(log.contains("upgrade prepare: "), "{log}");
    assert!(install.took < Duration::from_secs(20), "{:?}", install.took);
}

/// The repair of an upgrade nothing could stop: the old app predates
/// `prepare` and `scutil` hangs, so the extension is replaced while
/// connected and the new app must deactivate and activate it again.
fn replaced_while_connected() -> SimMac {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| {
        mac.scutil_hangs = true;
        mac.legacy_versions.push("0.9.0".into());
    });
    sim
}

#[test]
fn scutil_hangs_and_the_old_app_predates_prepare() {
    // Nothing can stop the tunnel: the extension is replaced while
    // connected, XPC is invalidated, and the new app repairs it.
    let sim = replaced_while_connected();
    let install = sim.install(pkg());
    let report = report(&sim);
    assert_eq!(report["repaired"], true, "{report:#}");
    assert_healthy("scutil hangs, no prepare", &sim, &install, true);
    // Deactivation deleted the configuration; it was saved again, keys and all.
    assert_configuration_kept(&sim);
    assert!(sim
        .mac()
        .calls_of("app")
        .contains(&"save_configuration".to_string()));
}

#[test]
fn a_repair_whose_deactivation_asks_for_the_administrators_password() {
    // Without MDM's RemovableSystemExtensions, deactivation asks for an
    // administrator's password (model.rs, `deactivation_approval`). The
    // user gives it after a while: the repair goes on, and the wait is the
    // user's, not downtime.
    let sim = replaced_while_connected();
    sim.update(|mac| mac.deactivation_approval = Approval::AfterMs(700));
    let install = sim.install(pkg());
    let report = report(&sim);
    assert_eq!(report["repaired"], true, "{report:#}");
    assert_healthy("deactivation asks, then allowed", &sim, &install, true);
    assert_configuration_kept(&sim);
    assert_eq!(sim.mac().user_wait_ms, 700);
    let steps = report["steps"].to_string();
    assert!(
        steps.contains("repair: deactivate: waiting up to"),
        "{report:#}"
    );
}

/// An install whose repair the user refused the password for: nothing is
/// deleted, and the upgrade is left to finish later.
fn with_the_deactivation_refused() -> SimMac {
    let sim = replaced_while_connected();
    sim.update(|mac| mac.deactivation_approval = Approval::Denies);
    let install = sim.install(pkg());
    assert!(install.succeeded(), "a refusal does not fail the installer");
    let report = report(&sim);
    assert_eq!(report["outcome"], "approval_pending", "{report:#}");
    assert_eq!(report["repaired"], false, "{report:#}");
    // The extension the installer activated stays, unusable, and the
    // configuration with its key is not deleted by a deactivation that
    // never happened.
    let mac = sim.mac();
    assert_eq!(mac.extension.as_ref().unwrap().version, NEW);
    assert!(mac.xpc_invalidated);
    assert!(mac.uninstalling.is_empty(), "{:?}", mac.uninstalling);
    assert_configuration_kept(&sim);
    assert!(sim.state_file().exists(), "the unfinished upgrade is kept");
    assert!(
        sim.agent_plist().exists(),
        "it is finished at the next login"
    );
    sim
}

#[test]
fn a_refused_deactivation_deletes_nothing_and_the_next_login_repairs() {
    // scutil hung and the old app had no `prepare`: only the new app saw
    // the tunnel up, before the refusal. The user started this upgrade, so
    // its login agent is not unattended: at the next login it asks again,
    // and the password given this time finishes the repair and brings the
    // tunnel back.
    let sim = with_the_deactivation_refused();
    assert!(!login_agent_arguments(&sim).contains(&"--unattended".to_string()));
    sim.update(|mac| mac.deactivation_approval = Approval::AfterMs(300));
    assert_repaired_with_the_tunnel_back(&sim, &log_in(&sim));
}

#[test]
fn a_refused_deactivation_then_the_installer_again_brings_the_tunnel_back() {
    let sim = with_the_deactivation_refused();
    sim.update(|mac| mac.deactivation_approval = Approval::AfterMs(300));
    let again = sim.install(pkg());
    assert!(
        sim.install_log()
            .contains("an unfinished earlier upgrade had the tunnel up"),
        "{}",
        sim.install_log()
    );
    // The tunnel has been down since the first install, so the downtime
    // figure of assert_healthy does not apply.
    assert!(again.succeeded());
    assert_repaired_with_the_tunnel_back(&sim, &report(&sim));
}

/// A finish that repaired the extension and brought the tunnel back, with
/// the configuration and its key as before.
fn assert_repaired_with_the_tunnel_back(sim: &SimMac, report: &serde_json::Value) {
    assert_eq!(report["outcome"], "healthy", "{report:#}");
    assert_eq!(report["repaired"], true, "{report:#}");
    assert_eq!(report["tunnel_restored"], true, "{report:#}");
    let mac = sim.mac();
    assert!(mac.tunnel_connected() && !mac.xpc_invalidated);
    assert_configuration_kept(sim);
}

/// Our configuration with VPN On Demand on and a Connect rule.
fn with_on_demand(sim: &SimMac) {
    sim.update(|mac| {
        mac.services[0].on_demand = true;
        mac.services[0].on_demand_rules = Some(CONNECT_RULE.into());
    });
}

#[test]
fn on_demand_is_off_while_the_extension_is_replaced_and_on_again_after() {
    // On Demand brings a stopped session back within a second; left on, it
    // would have the extension replaced while connected (XPC invalidated, a
    // repair, the configuration deleted).
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    with_on_demand(&sim);
    let install = sim.install(pkg());
    assert_healthy("On Demand", &sim, &install, true);
    let report = report(&sim);
    assert_eq!(report["repaired"], false, "{report:#}");
    // What CI and support read: the finish report and the state file (the
    // preinstall's fields, with `upgrade prepare --json` embedded).
    insta::assert_snapshot!("upgrade-finish-report-json", json_shape(&report));
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sim.state_file().with_file_name("last-upgrade.json")).unwrap(),
    )
    .unwrap();
    insta::assert_snapshot!("upgrade-state-json", json_shape(&state));
    assert_configuration_kept(&sim);
    let mac = sim.mac();
    let ours = mac.ours(PROVIDER).next().unwrap();
    assert!(ours.on_demand, "On Demand is back on");
    assert_eq!(ours.on_demand_rules.as_deref(), Some(CONNECT_RULE));
    // Off (prepare's save) before the stop, on (finish's) after the
    // replacement.
    let calls = mac.calls_of("app");
    let at = |call: &str| calls.iter().position(|c| c == call).unwrap();
    assert!(
        at("save_configuration") < at("stop_vpn_tunnel"),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "save_configuration").count(),
        2,
        "{calls:?}"
    );
}

#[test]
fn on_demand_with_an_old_app_without_prepare_ends_repaired_with_on_demand_kept() {
    // Nothing a script can run turns On Demand off, so the session comes
    // back after preinstall's `scutil --nc stop`. What the new app read
    // before anything changed is what it saves after the repair.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    with_on_demand(&sim);
    sim.update(|mac| {
        mac.legacy_versions.push("0.9.0".into());
        mac.services[0].name = "Demo VPN (On Demand)".into();
    });
    let install = sim.install(pkg());
    assert_healthy("On Demand, no prepare", &sim, &install, true);
    assert_configuration_kept(&sim);
    let mac = sim.mac();
    let ours = mac.ours(PROVIDER).next().unwrap();
    assert_eq!(ours.name, "Demo VPN (On Demand)");
    assert!(ours.on_demand);
    assert_eq!(ours.on_demand_rules.as_deref(), Some(CONNECT_RULE));
}

#[test]
fn the_app_ignores_sigterm() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.running_apps[0].ignores_term = true);
    let install = sim.install(pkg());
    assert_healthy("app ignores SIGTERM", &sim, &install, true);
    let log = sim.install_log();
    assert!(log.contains("ending the app (SIGTERM)"), "{log}");
    assert!(log.contains("still running after 3s: killed it"), "{log}");
    let pkills = sim.mac().calls_of("pkill");
    assert_eq!(pkills.len(), 2, "{pkills:?}");
    assert!(pkills[0].starts_with("-TERM -f ^") && pkills[1].starts_with("-KILL -f ^"));
}

#[test]
fn an_upgrade_in_progress_is_not_taken_for_the_app() {
    // The login agent of an earlier install runs `upgrade finish` with the
    // app's executable when the user installs again: preinstall ends the
    // app the user sees, not that.
    let sim = installed("0.9.0", &versioned("0.9.0"), false);
    let executable = sim.app_executable().display().to_string();
    let finishing = RunningApp {
        args: ["upgrade", "finish", "--policy", "on-failure", "--once"]
            .map(String::from)
            .to_vec(),
        ..running_app(executable, 5151)
    };
    sim.update(|mac| mac.running_apps.push(finishing));
    let install = sim.install(pkg());
    assert_healthy("an upgrade in progress", &sim, &install, false);
    let running: Vec<u32> = sim.mac().running_apps.iter().map(|a| a.pid).collect();
    assert_eq!(running, [5151]);
}

#[test]
fn a_second_installation_waits_for_the_first() {
    // MDM installs the pkg while the user double-clicks it: the second
    // run's scripts wait until the first run's postinstall is done, so
    // neither quits, stops or records over the other.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    let first = sim.start_install(pkg());
    assert!(first.preinstall.status.success());
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| sim.install(pkg()));
        let waiting = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            sim.install_log()
                .contains("waiting for another installation to finish (preinstall pid ")
        });
        assert!(waiting, "{}", sim.install_log());
        let first = sim.complete_install(pkg(), first);
        (first, second.join().unwrap())
    });
    assert_healthy("the first of two at once", &sim, &first, true);
    assert_healthy("the second of two at once", &sim, &second, true);
    let log = sim.install_log();
    let first_done = log.find("upgrade finish: healthy").unwrap();
    let second_starts = log
        .find(&format!("installing {APP_ID} {NEW} over {NEW}"))
        .unwrap();
    assert!(first_done < second_starts, "{log}");
    assert!(!sim.state_file().with_file_name("install.lock").exists());
}

#[test]
fn a_lock_left_by_an_installation_that_stopped_halfway_is_taken_over() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    let lock = sim.state_file().with_file_name("install.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "preinstall pid 1, installing 0.9.5\n").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "20 minutes ago"])
        .arg(&lock)
        .status()
        .unwrap();
    assert!(touched.success());
    let install = sim.install(pkg());
    assert_healthy("a stale lock", &sim, &install, true);
    assert!(sim.install_log().contains(
        "taking over the lock of an installation that stopped halfway (preinstall pid 1, installing 0.9.5)"
    ));
}

#[test]
fn paths_and_names_with_spaces_and_quotes() {
    // The volume is "Macintosh HD's "data" copy" in every scenario; here
    // the VPN configuration's name has quotes too, and the state file
    // must still be JSON.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.services[0].name = r#"Home "Office" \ VPN"#.into());
    assert!(sim.volume.display().to_string().contains(' '));
    let install = sim.install(pkg());
    assert_healthy("spaces and quotes", &sim, &install, true);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sim.state_file().with_file_name("last-upgrade.json")).unwrap(),
    )
    .expect("the state file is JSON");
    assert_eq!(state["services"][0]["name"], r#"Home "Office" \ VPN"#);
}

#[test]
fn a_reinstall_of_the_same_version() {
    let sim = installed(NEW, &versioned(NEW), true);
    let install = sim.install(pkg());
    assert_healthy("reinstall", &sim, &install, true);
    assert_configuration_kept(&sim);
    // Without `stop_vpn_tunnel`, `connect` would find the session up and
    // start nothing, and only the extension's own status could tell.
    assert_eq!(sim.mac().calls_of("app"), SAME_VERSION_CALLS);
}

#[test]
fn a_downgrade_is_refused_and_nothing_changes() {
    let sim = installed("1.1.0", &versioned("1.1.0"), true);
    let before = sim.mac();
    let install = sim.install(pkg());
    assert!(!install.preinstall.status.success());
    assert!(install.postinstall.is_none(), "Installer stops");
    let stderr = String::from_utf8_lossy(&install.preinstall.stderr);
    assert!(
        stderr.contains(
            "1.1.0 is installed, newer than this package's 1.0.0: downgrades are refused"
        ),
        "{stderr}"
    );
    let mac = sim.mac();
    assert_eq!(mac.services, before.services, "the tunnel is untouched");
    assert_eq!(mac.running_apps, before.running_apps, "the app still runs");
    assert!(!sim.state_file().exists());
    assert!(sim.install_log().contains("refused: "));
    let info = sim.app_path().join("Contents/Info.plist");
    assert_eq!(
        system_tests::macos_sim::app::plist_dict(&info)["CFBundleVersion"],
        "1.1.0"
    );
}

#[test]
fn the_user_denies_approval_then_a_second_install_converges() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.approval = Approval::Denies);
    let install = sim.install(pkg());
    assert!(install.succeeded(), "a refusal does not fail the installer");
    let report = report(&sim);
    assert_eq!(report["outcome"], "approval_pending", "{report:#}");
    let log = sim.install_log();
    assert!(log.contains("upgrade finish: approval_pending"), "{log}");
    let mac = sim.mac();
    assert_eq!(
        mac.extension.as_ref().unwrap().version,
        "0.9.0",
        "nothing replaced"
    );
    assert!(!mac.tunnel_connected());
    assert!(sim.state_file().exists(), "the unfinished upgrade is kept");
    assert!(
        sim.agent_plist().exists(),
        "it is finished at the next login"
    );

    // The user allows the extension in System Settings, and the installer
    // runs again over the half-finished upgrade: the tunnel the user had
    // comes back.
    sim.update(|mac| mac.approval = Approval::NotAsked);
    let again = sim.install(pkg());
    assert_healthy("approval denied, then granted", &sim, &again, true);
    assert_configuration_kept(&sim);
    assert!(sim
        .install_log()
        .contains("an unfinished earlier upgrade had the tunnel up"));
    assert!(
        !sim.agent_plist().exists(),
        "this install took over from the agent"
    );
}

#[test]
fn an_activation_that_completes_after_a_reboot_is_finished_at_the_next_login() {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.update(|mac| mac.reboot_on_activate = true);
    let install = sim.install(pkg());
    assert!(install.succeeded());
    let report = report(&sim);
    assert_eq!(report["outcome"], "reboot_required", "{report:#}");
    // Until the restart, the tunnel runs on the extension installed before,
    // rather than staying down with it quiesced.
    assert_eq!(report["tunnel_restored"], true, "{report:#}");
    let mac = sim.mac();
    assert!(mac.tunnel_connected());
    assert_eq!(mac.extension.as_ref().unwrap().version, "0.9.0");
    let log = sim.install_log();
    assert!(log.contains("upgrade finish: reboot_required"), "{log}");
    assert!(
        log.contains("restart the Mac to finish the upgrade"),
        "the user is told: {log}"
    );
    assert!(sim.agent_plist().exists());
    // After the restart, at login, the agent finishes the upgrade and
    // brings the tunnel back on the new extension.
    sim.update(Mac::restart);
    let finished = log_in(&sim);
    assert_eq!(finished["outcome"], "healthy", "{finished:#}");
    assert_eq!(finished["tunnel_restored"], true);
    assert_eq!(finished["repaired"], false, "{finished:#}");
    let mac = sim.mac();
    assert_eq!(mac.extension.as_ref().unwrap().version, NEW);
    assert!(mac.tunnel_connected());
    assert_configuration_kept(&sim);
}

#[test]
fn without_orchestration_the_harness_sees_the_invalidated_connection() {
    // The control for every scenario above: the same upgrade with the
    // scripts switched off (the payload replaces the app, the user opens
    // it, it activates and does not repair) leaves XPC invalidated.
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    sim.put_app(&pkg().app, None, None);
    let report = sim.run_app(&["upgrade", "finish", "--policy", "never"]);
    assert_eq!(report["outcome"], "unhealthy", "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("connection invalidated"),
        "{report:#}"
    );
    assert!(sim.mac().xpc_invalidated);
}
