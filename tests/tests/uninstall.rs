//! The uninstaller: the payload-free pkg build-pkg writes next to the pkg,
//! read by readers we did not write, and run on the simulated Mac
//! (`system_tests::macos_sim`) with the app's real `uninstall` behind it:
//! from Installer with someone at the console, with nobody (the
//! deactivation waits for a login, then a launch daemon finishes), from the
//! app's own command, against an app too old to deactivate, and when the
//! user does not give the password. Afterwards nothing of ours is left on
//! the volume, in the home folder, or in the system's VPN and
//! system-extension state.

use std::{process::Command, sync::OnceLock};

use system_tests::{
    demo_pkg,
    macos_sim::{
        harness::{SimMac, UninstallerUnderTest},
        model::{Approval, RunningApp, Service},
        scenario::{alice, installed, pkg, running_app, service, versioned, NEW, PROVIDER, TEAM},
        tools::{launchd_job, program_arguments},
    },
    run_ok, unpack_xar,
};

const OTHER_VENDOR: &str = "com.othervendor.vpn.tunnel";

fn uninstaller() -> &'static UninstallerUnderTest {
    static UNINSTALLER: OnceLock<UninstallerUnderTest> = OnceLock::new();
    UNINSTALLER.get_or_init(|| {
        let built = demo_pkg();
        UninstallerUnderTest::from_built(built, built.dir.path())
    })
}

/// The demo release installed by its own pkg, connected, alice at the
/// console, with another vendor's VPN configured too; the user's data
/// folder holds the upgrades alice's app finished. The app is in the menu
/// bar as the postinstall started it, registered for Launch at Login, and
/// its deactivation asks for an administrator's password, which alice
/// gives (macOS asks unless an MDM profile made the extension removable:
/// upgrade/macos.rs).
fn installed_and_connected() -> SimMac {
    let sim = installed("0.9.0", &versioned("0.9.0"), true);
    let install = sim.install(pkg());
    assert!(install.succeeded(), "{}", sim.install_log());
    let executable = sim.app_executable().display().to_string();
    sim.update(|mac| {
        mac.running_apps.push(RunningApp {
            args: ["upgrade", "finish", "--policy", "on-failure", "--stay"]
                .map(String::from)
                .to_vec(),
            ..running_app(executable, 5151)
        });
        mac.login_item = true;
        mac.deactivation_approval = Approval::AfterMs(300);
        mac.add_service(Service {
            app_id: "com.othervendor.vpn".into(),
            ..service(
                "9F9F9F9F-0000-4000-8000-000000000009",
                "Other VPN",
                OTHER_VENDOR,
                false,
            )
        })
    });
    let receipt = sim
        .volume
        .join("var/db/receipts/com.example.demovpn.pkg.plist");
    assert!(receipt.is_file(), "the install left its receipt");
    assert!(sim.mac().tunnel_connected());
    assert!(
        sim.leftovers().len() > 10,
        "the check below has something to find"
    );
    sim
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Nothing of ours on the volume or in alice's home; our configuration,
/// extension (deactivated, as `systemextensionsctl` shows until the
/// restart), app processes, login item and daemon gone from the system;
/// the other vendor's VPN untouched.
fn assert_nothing_left(sim: &SimMac) {
    let left = sim.leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
    let mac = sim.mac();
    assert!(
        mac.ours(PROVIDER).next().is_none(),
        "a VPN configuration of ours is left: {:?}",
        mac.services
    );
    assert!(
        mac.ours(OTHER_VENDOR).next().is_some(),
        "{:?}",
        mac.services
    );
    assert_eq!(mac.extension, None, "the extension is still active");
    assert_eq!(mac.uninstalling.len(), 1, "{:?}", mac.uninstalling);
    assert_eq!(mac.uninstalling[0].team_id, TEAM);
    assert!(mac.running_apps.is_empty(), "{:?}", mac.running_apps);
    assert!(!mac.login_item, "still registered for Launch at Login");
    assert!(mac.launch_daemons.is_empty(), "{:?}", mac.launch_daemons);
    assert!(!mac.tunnel_connected());
}

/// After a restart, no row of ours in `systemextensionsctl list`.
fn assert_no_extension_after_restart(sim: &SimMac) {
    sim.update(|mac| mac.restart());
    let list = run_ok(
        "systemextensionsctl list",
        sim.command("systemextensionsctl").arg("list"),
    );
    let list = text(&list.stdout);
    assert!(!list.contains(PROVIDER), "{list}");
    assert!(list.contains("com.objective-see.lulu.extension"), "{list}");
}

#[test]
fn uninstaller_pkg_is_signed_and_carries_only_its_scripts() {
    let built = demo_pkg();
    let pkg = &uninstaller().pkg;
    assert_eq!(
        pkg.file_name().unwrap(),
        format!("DemoVPN-Uninstaller-{NEW}.pkg").as_str()
    );
    // bsdtar reads the xar: a Distribution and one component, with no
    // payload (so Installer writes no receipt of it).
    let listing = text(&run_ok("bsdtar -tf", Command::new("bsdtar").arg("-tf").arg(pkg)).stdout);
    let mut entries: Vec<&str> = listing.lines().collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        [
            "DemoVPN-Uninstaller.pkg",
            "DemoVPN-Uninstaller.pkg/PackageInfo",
            "DemoVPN-Uninstaller.pkg/Scripts",
            "Distribution",
        ],
        "{listing}"
    );
    let extracted = built.dir.path().join("uninstaller-checked");
    unpack_xar(pkg, &extracted);
    let package_info =
        std::fs::read_to_string(extracted.join("DemoVPN-Uninstaller.pkg/PackageInfo")).unwrap();
    let document = roxmltree::Document::parse(&package_info).unwrap();
    let info = document.root_element();
    assert_eq!(
        info.attribute("identifier"),
        Some("com.example.demovpn.pkg.uninstaller")
    );
    assert!(
        !info.descendants().any(|n| n.has_tag_name("payload")),
        "{package_info}"
    );
    let distribution = std::fs::read_to_string(extracted.join("Distribution")).unwrap();
    assert!(
        distribution.contains("<title>Demo VPN Uninstaller</title>")
            && distribution.contains("hostArchitectures=\"arm64,x86_64\"")
            && distribution.contains(">#DemoVPN-Uninstaller.pkg</pkg-ref>"),
        "{distribution}"
    );
    // GNU cpio reads the scripts: an executable postinstall and the
    // library it sources, both checked by sh and shellcheck.
    let scripts = extracted.join("DemoVPN-Uninstaller.pkg/Scripts");
    let cpio = text(
        &run_ok(
            "gzip -dc Scripts | cpio -itv",
            Command::new("sh").arg("-c").arg(format!(
                "gzip -dc '{}' | cpio -itv --quiet",
                scripts.display()
            )),
        )
        .stdout,
    );
    for (name, mode) in [
        ("./postinstall", "-rwxr-xr-x"),
        ("./upgrade-lib.sh", "-rw-r--r--"),
    ] {
        let line = cpio
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{cpio}"));
        assert!(line.starts_with(mode), "{line}");
    }
    let postinstall = uninstaller().scripts.join("postinstall");
    run_ok("sh -n", Command::new("sh").arg("-n").arg(&postinstall));
    run_ok(
        "shellcheck",
        Command::new("shellcheck")
            .args(["-x", "-P", "SCRIPTDIR"])
            .arg(&postinstall),
    );
    // The app carries the same script, for its own `uninstall`.
    let carried = built.app().join("Contents/Resources/Uninstaller/uninstall");
    assert_eq!(
        std::fs::read(&carried).unwrap(),
        std::fs::read(&postinstall).unwrap()
    );
    // Signed by the Developer ID Installer identity, as the pkg is: our
    // verify finds no error in it.
    let verify = Command::new(system_tests::installer_tool())
        .args(["verify", "--json"])
        .arg(pkg)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    let errors: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{report:#}");
    assert!(verify.status.success(), "{report:#}");
}

#[test]
fn with_someone_at_the_console_everything_goes_and_a_second_run_is_a_no_op() {
    let sim = installed_and_connected();
    let output = sim.run_uninstaller(uninstaller());
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stderr),
        sim.install_log()
    );
    assert!(
        text(&output.stdout).contains("com.example.demovpn is uninstalled."),
        "{}",
        text(&output.stdout)
    );
    assert_nothing_left(&sim);
    let mac = sim.mac();
    // The app did its part as alice, through the fake launchctl asuser.
    let app_calls = mac.calls_of("app");
    for call in [
        "stop_vpn_tunnel",
        "deactivate",
        "wait_for_approval",
        "remove_configurations",
        "unregister_login_item",
    ] {
        assert!(app_calls.contains(&call.to_string()), "{app_calls:?}");
    }
    assert!(
        mac.calls_of("vpn-app")
            .contains(&"--json uninstall --leave-system-files".to_string()),
        "{:?}",
        mac.calls_of("vpn-app")
    );
    assert!(mac
        .calls_of("pkgutil")
        .iter()
        .any(|c| c.ends_with("--forget com.example.demovpn.pkg")));

    let calls_before = mac.calls.len();
    let again = sim.run_uninstaller(uninstaller());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_nothing_left(&sim);
    let mac = sim.mac();
    let new_tools: Vec<_> = mac.calls[calls_before..]
        .iter()
        .map(|c| c.tool.as_str())
        .collect();
    assert!(
        !new_tools.contains(&"vpn-app") && !new_tools.contains(&"launchctl"),
        "a second run has nothing to ask of anyone: {new_tools:?}"
    );
    assert_no_extension_after_restart(&sim);
}

#[test]
fn with_nobody_logged_in_the_deactivation_waits_for_a_login_then_a_daemon_finishes() {
    let sim = installed_and_connected();
    sim.update(|mac| {
        mac.console = None;
        mac.running_apps.clear();
    });
    let output = sim.run_uninstaller(uninstaller());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let log = sim.install_log();
    assert!(log.contains("nobody is logged in at the console"), "{log}");
    // The tunnel is down and the receipt and upgrade state gone; the app
    // stays, since only it can deactivate its extension.
    let mac = sim.mac();
    assert!(!mac.tunnel_connected());
    assert!(mac.extension.is_some());
    assert!(sim.app_executable().exists());
    assert!(!sim
        .volume
        .join("var/db/receipts/com.example.demovpn.pkg.plist")
        .exists());
    assert!(!sim.state_file().exists());
    let [agent, daemon] = sim.uninstall_jobs();
    assert!(agent.is_file() && daemon.is_file());
    assert_eq!(mac.launch_daemons, ["com.example.demovpn.uninstall"]);

    // Its runs find the extension active: they wait, and say nothing.
    let log = sim.install_log();
    let early = sim.run_launch_daemon().expect("the daemon is loaded");
    assert!(early.status.success(), "{}", text(&early.stderr));
    assert!(sim.app_executable().exists());
    assert_eq!(sim.install_log(), log);

    // alice logs in: the agent opens the app with what it was given.
    sim.update(|mac| mac.console = alice());
    let arguments = program_arguments(&launchd_job(&agent));
    let after = arguments.iter().position(|a| a == "--args").unwrap() + 1;
    let arguments: Vec<&str> = arguments[after..].iter().map(String::as_str).collect();
    let report = sim.run_app(&arguments);
    assert_eq!(report["outcome"], "removed", "{report:#}");

    let last = sim.run_launch_daemon().expect("the daemon is loaded");
    assert!(last.status.success(), "{}", text(&last.stderr));
    assert_nothing_left(&sim);
    assert_eq!(sim.run_launch_daemon().map(|o| o.status), None);
    assert_no_extension_after_restart(&sim);
}

#[test]
fn the_apps_own_uninstall_removes_everything_after_the_password() {
    let sim = installed_and_connected();
    std::fs::create_dir_all(
        sim.home
            .join("Library/Application Support/com.example.demovpn"),
    )
    .unwrap();
    std::fs::write(
        sim.home
            .join("Library/Application Support/com.example.demovpn/finished-upgrades"),
        "20261201T000000Z-1\n",
    )
    .unwrap();
    // What the menu's "Uninstall DemoVPN…" runs, as alice, in the menu bar
    // app itself, which quits once done.
    sim.update(|mac| mac.running_apps.clear());
    let report = sim.run_app(&["uninstall"]);
    assert_eq!(report["outcome"], "removed", "{report:#}");
    assert!(sim
        .mac()
        .calls_of("app")
        .contains(&"run_as_root".to_string()));
    assert_nothing_left(&sim);
    assert_no_extension_after_restart(&sim);
}

#[test]
fn an_app_too_old_to_uninstall_is_removed_and_the_log_says_what_stays() {
    let sim = installed_and_connected();
    sim.update(|mac| mac.legacy_versions.push(NEW.into()));
    let output = sim.run_uninstaller(uninstaller());
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!sim.app_path().exists());
    let mac = sim.mac();
    // Nothing but the app deactivates: the extension stays, said where
    // the user removes it.
    assert!(mac.extension.is_some());
    // Said to whoever ran it, and to the unified log: the install log
    // is gone with the rest.
    let said = "has no `uninstall`: its extension stays active";
    assert!(
        text(&output.stdout).contains(said),
        "{}",
        text(&output.stdout)
    );
    assert!(mac.calls_of("logger").join("\n").contains(said));
}

#[test]
fn a_refused_password_defers_and_a_new_install_calls_the_uninstall_off() {
    let sim = installed_and_connected();
    sim.update(|mac| mac.deactivation_approval = Approval::Denies);
    let output = sim.run_uninstaller(uninstaller());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let log = sim.install_log();
    assert!(log.contains("approval_pending"), "{log}");
    let mac = sim.mac();
    assert!(mac.extension.is_some(), "nothing deactivated");
    assert!(sim.app_executable().exists());
    assert_eq!(mac.launch_daemons, ["com.example.demovpn.uninstall"]);

    // The user thinks better of it and installs again: the uninstall
    // waiting for a login is called off, so its daemon cannot remove this
    // install.
    let install = sim.install(pkg());
    assert!(install.succeeded(), "{}", sim.install_log());
    assert!(sim
        .install_log()
        .contains("called off the uninstall that waited for a login"));
    for job in sim.uninstall_jobs() {
        assert!(!job.exists(), "{}", job.display());
    }
    assert!(sim.mac().launch_daemons.is_empty());
    assert!(sim.app_executable().exists());
    assert_eq!(sim.run_launch_daemon().map(|o| o.status), None);
}
