//! `release.toml` as build-pkg loads it, through the library's public API:
//! the version from the workspace, and each bad input refused naming the
//! file, the field and the fix.

mod common;

use common::{write, GOOD};
use installer_tool::config::*;
use vpn_release::RepairPolicy;

fn load(release: &str) -> Result<Release, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    Release::load(&write(dir.path(), release, "2.3.4"))
}

#[test]
fn good_config_loads_with_workspace_version() {
    let release = load(GOOD).unwrap();
    assert_eq!(release.version.as_str(), "2.3.4");
    // Under the app group the extension's entitlements grant.
    assert_eq!(
        release.service_name.as_str(),
        "ABCDE12345.group.com.example.demovpn.tunnel.2.3.4"
    );
    assert!(release.app_entitlements.path.is_absolute());
    assert_eq!(release.extension.bundle_name, "com.example.demovpn.tunnel");
}

#[test]
fn the_repair_policy_defaults_to_on_failure_and_refuses_other_words() {
    assert_eq!(load(GOOD).unwrap().repair_policy, RepairPolicy::OnFailure);
    let always = format!("{GOOD}\n[upgrade]\nrepair-policy = \"always\"\n");
    assert_eq!(load(&always).unwrap().repair_policy, RepairPolicy::Always);
    let msg = load(&format!(
        "{GOOD}\n[upgrade]\nrepair-policy = \"sometimes\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("repair-policy") && msg.contains("on-failure") && msg.contains("sometimes"),
        "{msg}"
    );
}

#[test]
fn typo_in_a_key_names_it() {
    let err = load(&GOOD.replace("provider-class", "provider-klass")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("provider-klass"), "{msg}");
    assert!(msg.contains("release.toml"), "{msg}");
}

#[test]
fn extension_outside_app_prefix_is_refused_with_help() {
    let err = load(&GOOD.replace("com.example.demovpn.tunnel", "com.other.tunnel")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("extension.bundle-id"), "{msg}");
    let help = err.help().unwrap_or_default();
    assert!(help.contains("com.example.demovpn."), "{help}");
}

#[test]
fn bad_team_id_names_the_value() {
    let msg = load(&GOOD.replace("ABCDE12345", "abc"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("team-id") || msg.contains("`abc`"), "{msg}");
    assert!(msg.contains("10 upper-case"), "{msg}");
}

#[test]
fn bad_workspace_version_points_at_cargo_toml() {
    let dir = tempfile::tempdir().unwrap();
    let msg = Release::load(&write(dir.path(), GOOD, "1.0"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Cargo.toml") && msg.contains("workspace.package.version"),
        "{msg}"
    );
}

#[test]
fn missing_resources_directory_is_refused() {
    let text = GOOD.replace(
        "entitlements = \"signing/app.entitlements\"",
        "entitlements = \"signing/app.entitlements\"\nresources = \"nowhere\"",
    );
    let msg = load(&text).unwrap_err().to_string();
    assert!(
        msg.contains("app.resources") && msg.contains("nowhere"),
        "{msg}"
    );
}

#[test]
fn old_minimum_macos_is_refused() {
    let msg = load(&GOOD.replace("\"13.0\"", "\"10.15\""))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("product.minimum-macos"), "{msg}");
}
