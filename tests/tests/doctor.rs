//! `installer-tool doctor` on a copy of the workspace's release: silent on
//! the release as it is, and each finding triggered by the one change that
//! should raise it, with its id, file, field and fix.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use plist::Value;
use system_tests::{
    build_ok, build_pkg, demo_pkg, installer_tool,
    json_shape::json_shape,
    make_p12,
    profiles::{profile_plist, project_with_profiles, write_profile},
    release_config_copy, workspace_root, CertKind, P12_PASSWORD, TEAM_ID,
};

/// `installer-tool doctor --json` on `config` with `args`: its exit code
/// and findings.
fn doctor(config: &Path, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let output = Command::new(installer_tool())
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .args(args)
        .env_remove("INSTALLER_TOOL_API_KEY")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    let findings = report["findings"].as_array().unwrap().clone();
    (output.status.code().unwrap(), findings)
}

/// The one finding there is, with its id.
fn only(findings: &[serde_json::Value], id: &str) -> serde_json::Value {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["id"], id, "{findings:#?}");
    assert!(
        !findings[0]["fix"].as_str().unwrap().is_empty(),
        "{findings:#?}"
    );
    findings[0].clone()
}

fn project_root(config: &Path) -> PathBuf {
    config.parent().unwrap().to_path_buf()
}

/// Grants `get-task-allow` in the project's `file` under `signing/`; its path.
fn grant_get_task_allow(config: &Path, file: &str) -> PathBuf {
    let entitlements = project_root(config).join("signing").join(file);
    let text = std::fs::read_to_string(&entitlements).unwrap();
    std::fs::write(
        &entitlements,
        text.replacen(
            "<dict>",
            "<dict>\n\t<key>com.apple.security.get-task-allow</key>\n\t<true/>",
            1,
        ),
    )
    .unwrap();
    entitlements
}

#[test]
fn the_release_as_it_is_has_no_findings() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let key = dir.path().join("key.json");
    std::fs::write(&key, "{}").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let previous = demo_pkg().pkg.to_str().unwrap().to_string();
    let (code, findings) = doctor(
        &config,
        &["--api-key", key.to_str().unwrap(), "--previous", &previous],
    );
    assert_eq!((code, findings), (0, vec![]));
}

#[test]
fn a_config_that_does_not_load_is_one_finding_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let text = std::fs::read_to_string(&config).unwrap();
    let broken = text.replace(
        "provider-class = \"PacketTunnelProvider\"",
        "provider-class = \"Packet-Tunnel\"",
    );
    assert_ne!(broken, text);
    std::fs::write(&config, broken).unwrap();
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 1);
    let finding = only(&findings, "config");
    assert_eq!(finding["field"], "extension.provider-class");
    assert_eq!(finding["file"], config.to_str().unwrap());
}

#[test]
fn every_problem_that_stops_the_config_loading_is_a_finding_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let text = std::fs::read_to_string(&config).unwrap();
    let broken = text
        .replace("com.example.demovpn.tunnel", "com.other.tunnel")
        .replace("executable = \"vpn-app\"", "executable = \"bin/vpn-app\"")
        .replace("minimum-macos = \"13.0\"", "minimum-macos = \"10.15\"");
    assert_ne!(broken, text);
    std::fs::write(&config, broken).unwrap();
    // A third problem in another file: an entitlement the loader refuses.
    let entitlements = project_root(&config).join("signing/extension.entitlements");
    let plist = std::fs::read_to_string(&entitlements).unwrap();
    std::fs::write(
        &entitlements,
        plist.replace(
            "packet-tunnel-provider-systemextension",
            "packet-tunnel-provider",
        ),
    )
    .unwrap();
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 1);
    let fields: Vec<&str> = findings
        .iter()
        .map(|f| {
            assert_eq!(f["id"], "config", "{f:#}");
            assert!(!f["fix"].as_str().unwrap().is_empty(), "{f:#}");
            f["field"].as_str().unwrap()
        })
        .collect();
    for field in [
        "extension.bundle-id",
        "app.executable",
        "product.minimum-macos",
        "com.apple.developer.networking.networkextension",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
}

#[test]
fn a_debugging_entitlement_is_an_error_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let entitlements = grant_get_task_allow(&config, "app.entitlements");
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(
        "doctor-json-findings",
        json_shape(&serde_json::json!({ "findings": findings }))
    );
    let finding = only(&findings, "debugging-entitlement");
    assert_eq!(finding["field"], "com.apple.security.get-task-allow");
    assert_eq!(finding["file"], entitlements.to_str().unwrap());
    assert_eq!(finding["severity"], "error");
}

#[test]
fn build_pkg_stops_on_what_doctor_calls_an_error_but_a_dev_build_may_debug() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    grant_get_task_allow(&config, "extension.entitlements");
    let out = dir.path().join("out");
    let output = build_pkg(&out)
        .args(["--stand-ins", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[debugging-entitlement]")
            && stderr.contains("com.apple.security.get-task-allow")
            && stderr.contains("help: remove"),
        "{stderr}"
    );
    let left = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "nothing built");

    build_ok(
        "build-pkg --dev with get-task-allow",
        build_pkg(&out)
            .args(["--stand-ins", "--dev", "--config"])
            .arg(&config),
    );
}

/// A project whose two profiles are good, the app's expiring in `days`.
fn project_with_app_profile_expiring_in(dir: &Path, days: i64) -> PathBuf {
    let config = project_with_profiles(dir);
    let signing = project_root(&config).join("signing");
    for (bundle, file, expires_in) in [
        ("com.example.demovpn", "DemoVPN.provisionprofile", days),
        (
            "com.example.demovpn.tunnel",
            "DemoVPN_Tunnel.provisionprofile",
            365,
        ),
    ] {
        let mut plist = profile_plist(bundle, b"any certificate");
        let expires = std::time::SystemTime::now()
            .checked_add(std::time::Duration::from_secs(
                expires_in.max(0) as u64 * 86_400,
            ))
            .unwrap()
            - std::time::Duration::from_secs(if expires_in < 0 { 86_400 } else { 0 });
        plist.insert("ExpirationDate".into(), Value::Date(expires.into()));
        write_profile(&signing.join(file), &plist);
    }
    config
}

#[test]
fn a_profile_expiring_within_30_days_is_a_warning_and_an_expired_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = project_with_app_profile_expiring_in(&dir.path().join("soon"), 10);
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 0, "warnings alone exit 0");
    let finding = only(&findings, "profile-expires-soon");
    assert_eq!(finding["severity"], "warning");
    assert!(finding["file"]
        .as_str()
        .unwrap()
        .ends_with("DemoVPN.provisionprofile"));

    let config = project_with_app_profile_expiring_in(&dir.path().join("expired"), -1);
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 1);
    let finding = only(&findings, "profile");
    assert_eq!(finding["field"], "ExpirationDate");

    // Good for a year: silent.
    let config = project_with_app_profile_expiring_in(&dir.path().join("good"), 365);
    assert_eq!(doctor(&config, &[]), (0, vec![]));
}

#[test]
fn a_notary_key_others_can_read_is_a_warning_and_a_missing_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let key = dir.path().join("AuthKey.p8");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, findings) = doctor(&config, &["--api-key", key.to_str().unwrap()]);
    assert_eq!(code, 0);
    let finding = only(&findings, "notary-key");
    assert_eq!(finding["severity"], "warning");
    assert!(finding["fix"].as_str().unwrap().contains("chmod 600"));

    let missing = dir.path().join("missing.p8");
    let (code, findings) = doctor(&config, &["--api-key", missing.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(only(&findings, "notary-key")["severity"], "error");
}

#[test]
fn a_version_not_above_the_previous_pkgs_is_an_error() {
    // The demo pkg carries the workspace version; a release at the same
    // version would leave the installed extension in place.
    let dir = tempfile::tempdir().unwrap();
    let version = demo_pkg().report["version"].as_str().unwrap().to_string();
    let config = release_config_copy(dir.path(), &version);
    let previous = demo_pkg().pkg.to_str().unwrap().to_string();
    let (code, findings) = doctor(&config, &["--previous", &previous]);
    assert_eq!(code, 1);
    // Both bundles, both keys.
    assert_eq!(findings.len(), 4, "{findings:#?}");
    for finding in &findings {
        assert_eq!(finding["id"], "version-not-greater");
        assert_eq!(finding["field"], "workspace.package.version");
    }

    let not_a_pkg = dir.path().join("old.pkg");
    std::fs::write(&not_a_pkg, b"not a pkg").unwrap();
    let (code, findings) = doctor(&config, &["--previous", not_a_pkg.to_str().unwrap()]);
    assert_eq!(code, 1);
    only(&findings, "previous-pkg");
}

#[test]
fn the_signing_identities_are_held_to_their_kind_team_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let app = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let installer = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
    let other_team = make_p12(dir.path(), CertKind::Application, "ZZZZZ99999");
    let run = |app: &Path, installer: &Path, passwords: bool| {
        let mut command = Command::new(installer_tool());
        command
            .args(["doctor", "--json", "--config"])
            .arg(&config)
            .arg("--app-p12")
            .arg(app)
            .arg("--installer-p12")
            .arg(installer)
            .env_remove("INSTALLER_TOOL_API_KEY")
            .env_remove("INSTALLER_TOOL_APP_P12_PASSWORD")
            .env_remove("INSTALLER_TOOL_INSTALLER_P12_PASSWORD");
        if passwords {
            command
                .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
                .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD);
        }
        let output = command.output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let findings: Vec<(String, String)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["problem"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (output.status.code().unwrap(), findings)
    };
    let ids = |findings: &[(String, String)]| -> Vec<String> {
        let mut ids: Vec<String> = findings.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    };

    // The right pair: only what a 30-day test identity is, twice.
    let (code, findings) = run(&app, &installer, true);
    assert_eq!(code, 0, "{findings:#?}");
    assert_eq!(
        ids(&findings),
        [
            "certificate-expires-soon",
            "certificate-expires-soon",
            "certificate-not-from-apple",
            "certificate-not-from-apple"
        ]
    );

    // Swapped: each named for the kind it is.
    let (code, findings) = run(&installer, &app, true);
    assert_eq!(code, 1);
    let problems: Vec<&str> = findings
        .iter()
        .filter(|(id, _)| id == "certificate")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(problems.len(), 2, "{findings:#?}");
    for wanted in [
        "holds a developer-id-installer certificate, but --app-p12 needs a developer-id-application",
        "holds a developer-id-application certificate, but --installer-p12 needs a developer-id-installer",
    ] {
        assert!(problems.iter().any(|p| p.contains(wanted)), "{problems:?}");
    }

    // Another team's identity.
    let (code, findings) = run(&other_team, &installer, true);
    assert_eq!(code, 1);
    assert!(
        findings
            .iter()
            .any(|(id, p)| id == "certificate" && p.contains("ZZZZZ99999")),
        "{findings:#?}"
    );

    // No password where build-pkg reads it.
    let (code, findings) = run(&app, &installer, false);
    assert_eq!(code, 1);
    assert!(
        findings
            .iter()
            .any(|(id, p)| id == "certificate" && p.contains("$INSTALLER_TOOL_APP_P12_PASSWORD")),
        "{findings:#?}"
    );
}

#[test]
fn a_minimum_macos_older_than_an_api_the_app_calls_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = release_config_copy(dir.path(), "2.0.0");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("minimum-macos = \"13.0\""), "{text}");
    // 12.x loads (a system network extension needs 11), but Launch at
    // Login's SMAppService came with 13.
    std::fs::write(
        &config,
        text.replace("minimum-macos = \"13.0\"", "minimum-macos = \"12.6\""),
    )
    .unwrap();
    let (code, findings) = doctor(&config, &[]);
    assert_eq!(code, 1);
    let finding = only(&findings, "minimum-macos-below-apis");
    assert_eq!(finding["field"], "product.minimum-macos");
    assert_eq!(finding["file"], config.to_str().unwrap());
    let problem = finding["problem"].as_str().unwrap();
    assert!(
        problem.contains("macOS 12.6") && problem.contains("SMAppService"),
        "{problem}"
    );
    assert_eq!(finding["fix"], "set `minimum-macos = \"13.0\"` or later");
}

#[test]
fn every_api_the_minimum_macos_is_held_to_is_called_by_the_app() {
    let mut sources = String::new();
    let mut dirs = vec![workspace_root().join("vpn-app/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources += &std::fs::read_to_string(path).unwrap();
            }
        }
    }
    for api in vpn_release::macos_apis::APIS {
        assert!(
            sources.contains(api.symbol),
            "{} ({}) is no longer called: update vpn-release/src/macos_apis.rs",
            api.name,
            api.symbol
        );
    }
}
