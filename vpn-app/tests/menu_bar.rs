//! The menu bar app's model through every state and action, as a user
//! meets them: first run, approval, import, connect, switch, disconnect,
//! repair, an upgrade's outcome, Launch at Login, diagnostics. Each state's
//! menu is kept as a text snapshot (`tests/snapshots/`).

use std::{path::PathBuf, time::Duration};

use vpn_app::menu_bar::{
    Action, AppInfo, Confirmed, Effect, Event, ExtensionState, Icon, LoginItem, MenuBar, Observed,
    Session, Task, TaskOutcome,
};
use vpn_ipc::message::{PeerStatus, TunnelState, TunnelStats, TunnelStatus};
use vpn_release::upgrade_state::{Outcome, UpgradeReport};

const NOW: u64 = 1_800_000_000;

fn app() -> AppInfo {
    AppInfo {
        name: "DemoVPN".into(),
        version: "1.2.0".into(),
        service_name: "group.com.example.demovpn.tunnel.v1-2-0".into(),
    }
}

fn launched(upgrade: Option<UpgradeReport>) -> (MenuBar, Vec<Effect>) {
    let (mut bar, effects) = MenuBar::launch(app(), upgrade);
    bar.set_now(NOW);
    (bar, effects)
}

fn ready_with_profiles(profiles: &[&str]) -> Observed {
    Observed {
        extension: ExtensionState::Active,
        session: Session::Disconnected,
        configured_profile: None,
        tunnel: Some(TunnelStatus::default()),
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        login_item: LoginItem::Off,
    }
}

fn connected(profile: &str, profiles: &[&str]) -> Observed {
    Observed {
        session: Session::Connected,
        configured_profile: Some(profile.into()),
        tunnel: Some(TunnelStatus {
            state: TunnelState::Connected,
            profile: Some(profile.into()),
            last_handshake: Some(NOW - 42),
            error: None,
            stats: TunnelStats {
                rx_bytes: 3 << 20,
                tx_bytes: 1536,
                ..TunnelStats::default()
            },
            peers: vec![PeerStatus {
                public_key: "peer".into(),
                endpoint: Some("192.0.2.1:51820".into()),
                ..PeerStatus::default()
            }],
        }),
        ..ready_with_profiles(profiles)
    }
}

fn snapshot(name: &str, bar: &MenuBar) {
    insta::assert_snapshot!(name, bar.menu().to_text());
}

fn runs(effects: &[Effect]) -> Vec<&Task> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run(task) => Some(task),
            _ => None,
        })
        .collect()
}

fn dialog_titles(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(dialog) => Some(dialog.title.as_str()),
            _ => None,
        })
        .collect()
}

fn notices(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(notice) => Some(notice.title.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn first_run_activates_the_extension_and_walks_the_user_through_approval() {
    let (mut bar, effects) = launched(None);
    assert_eq!(runs(&effects), [&Task::Observe]);
    assert!(notices(&effects).is_empty(), "no upgrade, no notification");
    snapshot("launching", &bar);
    assert!(!bar.may_observe(), "one observation at a time");

    // The extension was never activated: the app asks for it, once.
    let nothing = Observed {
        extension: ExtensionState::NotInstalled,
        ..Observed::default()
    };
    let effects = bar.on(Event::Observed(nothing.clone()));
    assert_eq!(runs(&effects), [&Task::ActivateExtension]);
    snapshot("first-run-activating", &bar);
    assert_eq!(bar.observe_every(false), Duration::from_secs(1));

    let effects = bar.on(Event::Finished(
        Task::ActivateExtension,
        TaskOutcome::NeedsApproval,
    ));
    assert_eq!(dialog_titles(&effects), ["Allow DemoVPN's extension"]);
    let Some(Effect::Show(dialog)) = effects.iter().find(|e| matches!(e, Effect::Show(_))) else {
        unreachable!()
    };
    assert_eq!(dialog.confirm, Some(Confirmed::OpenApprovalSettings));
    assert_eq!(runs(&effects), [&Task::Observe], "it keeps watching");
    assert_eq!(bar.menu().icon, Icon::NeedsAttention);
    snapshot("awaiting-approval", &bar);
    assert_eq!(
        bar.on(Event::Confirmed(Confirmed::OpenApprovalSettings)),
        [Effect::OpenApprovalSettings]
    );

    // Still waiting: neither a second alert nor a second activation.
    let waiting = Observed {
        extension: ExtensionState::AwaitingApproval,
        ..Observed::default()
    };
    let effects = bar.on(Event::Observed(waiting));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(bar.observe_every(false), Duration::from_secs(1));
    assert_eq!(
        bar.menu()
            .enabled_action("Allow the Extension in System Settings…"),
        Some(&Action::OpenApprovalSettings)
    );

    // Allowed: the user is told, and asked to import a tunnel.
    let effects = bar.on(Event::Observed(ready_with_profiles(&[])));
    assert_eq!(notices(&effects), ["DemoVPN is allowed"]);
    assert_eq!(bar.menu().icon, Icon::Disconnected);
    snapshot("allowed-no-tunnels", &bar);
    assert_eq!(bar.observe_every(false), Duration::from_secs(10));
    assert_eq!(bar.observe_every(true), Duration::from_secs(1));

    // Removed later: activation is not resubmitted behind the user's back.
    let effects = bar.on(Event::Observed(nothing));
    assert!(runs(&effects).is_empty(), "{effects:?}");
    assert_eq!(
        bar.menu().enabled_action("Activate the VPN Extension"),
        Some(&Action::ActivateExtension)
    );
}

#[test]
fn a_failed_activation_says_why_and_offers_to_try_again() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(Observed {
        extension: ExtensionState::NotInstalled,
        ..Observed::default()
    }));
    let effects = bar.on(Event::Finished(
        Task::ActivateExtension,
        TaskOutcome::Failed("the app must run from /Applications".into()),
    ));
    assert_eq!(
        dialog_titles(&effects),
        ["The VPN extension could not be activated"]
    );
    snapshot("activation-failed", &bar);
    assert_eq!(
        bar.on(Event::Chose(Action::ActivateExtension)),
        [Effect::Run(Task::ActivateExtension)]
    );
}

#[test]
fn import_takes_conf_files_only_and_shows_the_broken_line() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(ready_with_profiles(&[])));
    assert_eq!(
        bar.on(Event::Chose(Action::Import)),
        [Effect::ChooseConfFiles]
    );

    let effects = bar.on(Event::FilesOpened(vec![
        PathBuf::from("/Users/u/notes.txt"),
        PathBuf::from("/Users/u/home.CONF"),
    ]));
    assert_eq!(dialog_titles(&effects), ["Not a tunnel file"]);
    let task = Task::Import("/Users/u/home.CONF".into());
    assert_eq!(runs(&effects), [&task]);
    snapshot("importing", &bar);

    let effects = bar.on(Event::Finished(
        task.clone(),
        TaskOutcome::Failed("line 2: PrivateKey is not a key".into()),
    ));
    let Some(Effect::Show(dialog)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(dialog.title, "The tunnel was not imported");
    assert_eq!(
        dialog.message,
        "/Users/u/home.CONF: line 2: PrivateKey is not a key"
    );
    assert_eq!(runs(&effects), [&Task::Observe], "the menu catches up");

    bar.on(Event::FilesOpened(vec![PathBuf::from(
        "/Users/u/home.conf",
    )]));
    let effects = bar.on(Event::Finished(
        Task::Import("/Users/u/home.conf".into()),
        TaskOutcome::Done("imported profile home".into()),
    ));
    assert!(dialog_titles(&effects).is_empty());
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    snapshot("one-tunnel-disconnected", &bar);
}

#[test]
fn connecting_switching_and_disconnecting() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(ready_with_profiles(&["home", "office"])));
    snapshot("two-tunnels-disconnected", &bar);

    let effects = bar.on(Event::Chose(Action::Connect("home".into())));
    let connect = Task::Connect {
        profile: "home".into(),
        replacing: None,
    };
    assert_eq!(runs(&effects), [&connect]);
    snapshot("connecting", &bar);
    assert_eq!(bar.menu().icon, Icon::Connecting);
    assert_eq!(
        bar.menu().enabled_action("office"),
        None,
        "one task at a time"
    );
    // A click on the entry as it was drawn before does nothing now.
    assert!(bar
        .on(Event::Chose(Action::Connect("office".into())))
        .is_empty());
    assert!(bar.on(Event::Chose(Action::Repair)).is_empty());
    bar.on(Event::Finished(connect, TaskOutcome::Done(String::new())));
    bar.on(Event::Observed(Observed {
        session: Session::Connecting,
        ..connected("home", &["home", "office"])
    }));
    assert_eq!(bar.menu().icon, Icon::Connecting);

    bar.on(Event::Observed(connected("home", &["home", "office"])));
    let menu = bar.menu();
    assert_eq!(menu.icon, Icon::Connected);
    assert!(
        bar.on(Event::Chose(Action::Connect("home".into())))
            .is_empty(),
        "already connected"
    );
    snapshot("connected", &bar);

    // Choosing the other tunnel switches: the running one is named so
    // the platform stops it first.
    let effects = bar.on(Event::Chose(Action::Connect("office".into())));
    assert_eq!(
        runs(&effects),
        [&Task::Connect {
            profile: "office".into(),
            replacing: Some("home".into()),
        }]
    );
    let effects = bar.on(Event::Finished(
        Task::Connect {
            profile: "office".into(),
            replacing: Some("home".into()),
        },
        TaskOutcome::Failed("the VPN configuration could not be saved".into()),
    ));
    assert_eq!(dialog_titles(&effects), ["office did not connect"]);

    assert_eq!(
        bar.on(Event::Chose(Action::Disconnect)),
        [Effect::Run(Task::Disconnect)]
    );
    bar.on(Event::Finished(
        Task::Disconnect,
        TaskOutcome::Done(String::new()),
    ));
    bar.on(Event::Observed(Observed {
        session: Session::Disconnected,
        ..connected("home", &["home", "office"])
    }));
    let menu = bar.menu();
    assert_eq!(menu.icon, Icon::Disconnected);
    assert_eq!(menu.enabled_action("Disconnect"), None);
    assert_eq!(
        menu.enabled_action("home"),
        Some(&Action::Connect("home".into()))
    );
}

#[test]
fn a_tunnel_that_stopped_on_its_own_needs_attention() {
    let (mut bar, _) = launched(None);
    let mut observed = connected("home", &["home"]);
    observed.session = Session::Disconnected;
    let tunnel = observed.tunnel.as_mut().unwrap();
    tunnel.state = TunnelState::Error;
    tunnel.error = Some("the route to 192.0.2.1 is gone".into());
    bar.on(Event::Observed(observed));
    assert_eq!(bar.menu().icon, Icon::NeedsAttention);
    snapshot("tunnel-error", &bar);
}

#[test]
fn repair_asks_first_then_reports_and_clears_the_attention_once_fixed() {
    let broken = UpgradeReport {
        outcome: Outcome::Unhealthy {
            reason: "the app cannot reach the extension".into(),
        },
        repaired: true,
        tunnel_restored: false,
        steps: vec![],
    };
    let (mut bar, effects) = launched(Some(broken));
    assert_eq!(notices(&effects), ["Action needed: repair the VPN"]);
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    assert_eq!(bar.menu().icon, Icon::NeedsAttention);
    snapshot("repair-needed", &bar);

    let effects = bar.on(Event::Chose(Action::Repair));
    let [Effect::Show(dialog)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(dialog.confirm, Some(Confirmed::Repair));
    assert!(dialog.message.contains("may ask you"), "{}", dialog.message);
    // Nothing runs until the user confirms.
    let effects = bar.on(Event::Confirmed(Confirmed::Repair));
    assert_eq!(runs(&effects), [&Task::Repair]);
    snapshot("repairing", &bar);

    let effects = bar.on(Event::Finished(
        Task::Repair,
        TaskOutcome::Failed("XPC still invalidated".into()),
    ));
    assert_eq!(notices(&effects), ["The repair did not work"]);
    assert!(bar
        .menu()
        .to_text()
        .contains("Repair needed: XPC still invalidated"));

    bar.on(Event::Chose(Action::Repair));
    bar.on(Event::Confirmed(Confirmed::Repair));
    let effects = bar.on(Event::Finished(
        Task::Repair,
        TaskOutcome::Done("healthy".into()),
    ));
    assert_eq!(notices(&effects), ["VPN repaired"]);
    assert_eq!(bar.menu().icon, Icon::Disconnected);
}

#[test]
fn each_upgrade_outcome_tells_the_user_what_happened() {
    let report = |outcome, tunnel_restored| UpgradeReport {
        outcome,
        repaired: false,
        tunnel_restored,
        steps: vec![],
    };
    let cases = [
        (
            report(Outcome::Healthy, true),
            Some("Updated to 1.2.0, VPN restored"),
        ),
        (report(Outcome::Healthy, false), Some("Updated to 1.2.0")),
        (
            report(Outcome::ApprovalPending, false),
            Some("Action needed: approve the extension"),
        ),
        (
            report(Outcome::RebootRequired, false),
            Some("Updated to 1.2.0: restart to finish"),
        ),
        (report(Outcome::AlreadyFinished, false), None),
    ];
    for (report, title) in cases {
        let (mut bar, effects) = launched(Some(report.clone()));
        assert_eq!(notices(&effects), title.as_slice(), "{report:?}");
        bar.on(Event::Observed(ready_with_profiles(&["home"])));
        let attention = matches!(report.outcome, Outcome::RebootRequired);
        assert_eq!(
            bar.menu().icon == Icon::NeedsAttention,
            attention,
            "{report:?}: an active extension ends a wait for approval"
        );
    }
    let (mut bar, _) = launched(Some(report(Outcome::RebootRequired, false)));
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    snapshot("reboot-required", &bar);
}

#[test]
fn check_for_updates_offers_a_newer_release_and_installs_only_when_asked() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    let effects = bar.on(Event::Chose(Action::CheckForUpdates));
    assert_eq!(runs(&effects), [&Task::CheckForUpdates]);
    snapshot("checking-for-updates", &bar);
    // Up to date: said, and nothing else happens.
    let effects = bar.on(Event::Finished(
        Task::CheckForUpdates,
        TaskOutcome::Done(String::new()),
    ));
    assert_eq!(notices(&effects), ["DemoVPN is up to date"]);
    assert!(dialog_titles(&effects).is_empty());

    bar.on(Event::Chose(Action::CheckForUpdates));
    let effects = bar.on(Event::Finished(
        Task::CheckForUpdates,
        TaskOutcome::UpdateAvailable("1.3.0".into()),
    ));
    let Some(Effect::Show(dialog)) = effects.iter().find(|e| matches!(e, Effect::Show(_))) else {
        panic!("{effects:?}")
    };
    assert_eq!(dialog.title, "DemoVPN 1.3.0 is available");
    assert!(
        dialog.message.contains("You have 1.2.0"),
        "{}",
        dialog.message
    );
    assert_eq!(dialog.confirm, Some(Confirmed::InstallUpdate));
    assert!(
        !runs(&effects).contains(&&Task::InstallUpdate),
        "nothing installs unasked"
    );
    let effects = bar.on(Event::Confirmed(Confirmed::InstallUpdate));
    assert_eq!(runs(&effects), [&Task::InstallUpdate]);
    assert!(bar.menu().to_text().contains("Downloading the update…"));

    let effects = bar.on(Event::Finished(
        Task::InstallUpdate,
        TaskOutcome::Failed(
            "refused DemoVPN-1.3.0.pkg: its bytes are not what the update key signed".into(),
        ),
    ));
    assert_eq!(dialog_titles(&effects), ["The update was not installed"]);
}

#[test]
fn launch_at_login_follows_the_service_state() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    assert_eq!(
        bar.on(Event::Chose(Action::ToggleLaunchAtLogin)),
        [Effect::Run(Task::SetLaunchAtLogin(true))]
    );
    bar.on(Event::Finished(
        Task::SetLaunchAtLogin(true),
        TaskOutcome::Done(String::new()),
    ));
    let on = Observed {
        login_item: LoginItem::On,
        ..ready_with_profiles(&["home"])
    };
    bar.on(Event::Observed(on.clone()));
    assert!(bar.menu().to_text().contains("[x] Launch at Login"));
    assert_eq!(
        bar.on(Event::Chose(Action::ToggleLaunchAtLogin)),
        [Effect::Run(Task::SetLaunchAtLogin(false))]
    );
    bar.on(Event::Finished(
        Task::SetLaunchAtLogin(false),
        TaskOutcome::Done(String::new()),
    ));

    // Switched off by the user in System Settings: only they can allow it.
    bar.on(Event::Observed(Observed {
        login_item: LoginItem::RequiresApproval,
        ..on.clone()
    }));
    assert_eq!(
        bar.on(Event::Chose(Action::ToggleLaunchAtLogin)),
        [Effect::OpenLoginItemsSettings]
    );
    snapshot("login-item-requires-approval", &bar);

    bar.on(Event::Observed(Observed {
        login_item: LoginItem::Unavailable,
        ..on
    }));
    assert_eq!(bar.menu().enabled_action("Launch at Login"), None);
}

#[test]
fn diagnostics_about_and_quit() {
    let (mut bar, _) = launched(None);
    bar.on(Event::Observed(ready_with_profiles(&["home"])));
    assert_eq!(
        bar.on(Event::Chose(Action::CopyDiagnostics)),
        [Effect::Run(Task::CollectDiagnostics)]
    );
    let effects = bar.on(Event::Finished(
        Task::CollectDiagnostics,
        TaskOutcome::Done("report".into()),
    ));
    assert_eq!(effects[0], Effect::Copy("report".into()));
    assert_eq!(notices(&effects), ["Diagnostics copied"]);

    let effects = bar.on(Event::Chose(Action::About));
    let [Effect::Show(about)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(about.title, "DemoVPN 1.2.0");
    assert!(about
        .message
        .contains("group.com.example.demovpn.tunnel.v1-2-0"));
    assert_eq!(bar.on(Event::Chose(Action::Quit)), [Effect::Quit]);
}

#[test]
fn the_system_status_codes_map_as_apple_defines_them() {
    use vpn_app::menu_bar::Session as S;
    let sessions: Vec<S> = (0..=6).map(S::from_ne_status).collect();
    assert_eq!(
        sessions,
        [
            S::NoConfiguration,
            S::Disconnected,
            S::Connecting,
            S::Connected,
            S::Reasserting,
            S::Disconnecting,
            S::Disconnected
        ]
    );
    let logins: Vec<LoginItem> = (0..=3).map(LoginItem::from_sm_status).collect();
    assert_eq!(
        logins,
        [
            LoginItem::Off,
            LoginItem::On,
            LoginItem::RequiresApproval,
            LoginItem::Unavailable
        ]
    );
}

#[test]
fn uninstall_asks_first_and_quits_only_once_done() {
    let (mut bar, _) = launched(None);
    // Offered even when the extension is broken: that is when one
    // uninstalls.
    bar.on(Event::Observed(Observed {
        extension: ExtensionState::Failed("validation failed".into()),
        ..ready_with_profiles(&[])
    }));
    assert!(bar.menu().to_text().contains("Uninstall DemoVPN…"));
    let effects = bar.on(Event::Chose(Action::Uninstall));
    let Some(Effect::Show(dialog)) = effects.iter().find(|e| matches!(e, Effect::Show(_))) else {
        panic!("{effects:?}")
    };
    assert_eq!(dialog.title, "Uninstall DemoVPN?");
    assert_eq!(dialog.confirm, Some(Confirmed::Uninstall));
    assert!(runs(&effects).is_empty(), "nothing is removed unasked");

    let effects = bar.on(Event::Confirmed(Confirmed::Uninstall));
    assert_eq!(runs(&effects), [&Task::Uninstall]);
    snapshot("uninstalling", &bar);
    // A refused password leaves the app running, and says why.
    let effects = bar.on(Event::Finished(
        Task::Uninstall,
        TaskOutcome::Failed("the extension's deactivation waits for an administrator's password: nothing else was removed".into()),
    ));
    assert_eq!(dialog_titles(&effects), ["The VPN was not uninstalled"]);
    assert!(!effects.contains(&Effect::Quit));

    bar.on(Event::Confirmed(Confirmed::Uninstall));
    let effects = bar.on(Event::Finished(
        Task::Uninstall,
        TaskOutcome::Done(String::new()),
    ));
    assert_eq!(notices(&effects), ["DemoVPN is uninstalled"]);
    assert_eq!(effects.last(), Some(&Effect::Quit));
    assert!(runs(&effects).is_empty(), "nothing is observed any more");
}
