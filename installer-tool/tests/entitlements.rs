//! Entitlements as build-pkg loads and checks them, through the library's
//! public API: team prefixes expanded, the App Store values and missing
//! keys refused with the fix, the app group the service name lives under.

use installer_tool::entitlements::*;

const APP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>com.apple.developer.networking.networkextension</key><array><string>packet-tunnel-provider-systemextension</string></array>
<key>com.apple.developer.system-extension.install</key><true/>
<key>com.apple.developer.team-identifier</key><string>ABCDE12345</string>
<key>com.apple.security.application-groups</key><array><string>$(TeamIdentifierPrefix)group.vpn</string></array>
</dict></plist>"#;

fn load(text: &str, role: Role) -> Result<Entitlements, EntitlementsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.entitlements");
    std::fs::write(&path, text).unwrap();
    Entitlements::load(
        &path,
        role,
        &"ABCDE12345".parse().unwrap(),
        &"com.example.vpn".parse().unwrap(),
    )
}

#[test]
fn good_app_file_expands_the_team_prefix() {
    let e = load(APP, Role::App).unwrap();
    assert_eq!(e.app_groups(), ["ABCDE12345.group.vpn"]);
    assert!(e.to_xml().contains("ABCDE12345.group.vpn"));
}

/// The fix an error offers, which its message leaves to the caller.
fn fix_of(err: &EntitlementsError) -> String {
    let help = err
        .help()
        .unwrap_or_else(|| panic!("no fix offered for: {err}"));
    assert!(!help.is_empty() && !err.to_string().contains("help:"));
    help
}

#[test]
fn app_store_value_is_refused_with_the_fix() {
    let text = APP.replace(
        "packet-tunnel-provider-systemextension",
        "packet-tunnel-provider",
    );
    let err = load(&text, Role::App).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("App Store value"), "{msg}");
    assert!(fix_of(&err).contains("packet-tunnel-provider-systemextension"));
}

#[test]
fn install_entitlement_belongs_to_the_app_only() {
    assert!(load(APP, Role::Extension)
        .unwrap_err()
        .to_string()
        .contains("set on the extension"));
    let text = APP.replace(
        "<key>com.apple.developer.system-extension.install</key><true/>",
        "",
    );
    assert!(load(&text, Role::App)
        .unwrap_err()
        .to_string()
        .contains("missing"));
}

#[test]
fn mismatched_team_is_refused() {
    let text = APP.replace("<string>ABCDE12345</string>", "<string>ZZZZZ99999</string>");
    assert!(load(&text, Role::App)
        .unwrap_err()
        .to_string()
        .contains("ZZZZZ99999"));
    let text = APP.replace("$(TeamIdentifierPrefix)group.vpn", "group.vpn");
    assert!(load(&text, Role::App)
        .unwrap_err()
        .to_string()
        .contains("not prefixed by the team id"));
}

#[test]
fn malformed_file_names_itself() {
    let msg = load("<plist><dict><key>a</key>", Role::App)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("x.entitlements") && msg.contains("not a valid property list"),
        "{msg}"
    );
}

/// The extension's entitlements: the app's without the install
/// entitlement, with `groups` (plist `<string>`s) as its app groups.
fn extension_with_groups(groups: &str) -> Entitlements {
    load(
        &APP.replace(
            "<key>com.apple.developer.system-extension.install</key><true/>",
            "",
        )
        .replace("<string>$(TeamIdentifierPrefix)group.vpn</string>", groups),
        Role::Extension,
    )
    .unwrap()
}

#[test]
fn groups_must_overlap() {
    // Distinct files for the app and the extension, each loaded for its
    // own role; only the extension's groups vary.
    let app = load(APP, Role::App).unwrap();
    // No group in common: refused, naming both lists and the fix.
    let other = extension_with_groups("<string>$(TeamIdentifierPrefix)group.other</string>");
    assert_eq!(other.app_groups(), ["ABCDE12345.group.other"]);
    let err = check_shared_groups(&app, &other).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("shares no group with the app")
            && msg.contains("ABCDE12345.group.vpn")
            && msg.contains("ABCDE12345.group.other"),
        "{msg}"
    );
    fix_of(&err);
    // The app has a group and the extension none: refused too.
    let none = extension_with_groups("");
    assert!(none.app_groups().is_empty());
    assert!(check_shared_groups(&app, &none).is_err());
    assert!(check_shared_groups(&none, &app).is_err());
    // One group shared among others: accepted, in either order of listing.
    let overlapping = extension_with_groups(
        "<string>$(TeamIdentifierPrefix)group.own</string><string>$(TeamIdentifierPrefix)group.vpn</string>",
    );
    assert_ne!(overlapping.app_groups(), app.app_groups());
    assert!(check_shared_groups(&app, &overlapping).is_ok());
    // Neither declares any group: nothing to share, accepted.
    let app_without = load(
        &APP.replace("<string>$(TeamIdentifierPrefix)group.vpn</string>", ""),
        Role::App,
    )
    .unwrap();
    assert!(check_shared_groups(&app_without, &none).is_ok());
}

#[test]
fn the_service_group_is_one_the_extension_has_and_the_app_shares() {
    let app = load(APP, Role::App).unwrap();
    let both = extension_with_groups("<string>$(TeamIdentifierPrefix)group.own</string><string>$(TeamIdentifierPrefix)group.vpn</string>");
    assert_eq!(
        mach_service_group(&app, &both).unwrap(),
        "ABCDE12345.group.vpn"
    );
    let err = mach_service_group(&app, &extension_with_groups("")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(APP_GROUPS) && msg.contains("NEMachServiceName"),
        "{msg}"
    );
    fix_of(&err);
}
