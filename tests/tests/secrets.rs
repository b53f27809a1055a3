//! Signing secrets never reach the tools a build runs. cargo and zig run
//! whatever a dependency's build script or a compiler says, with the
//! environment they were given, so each is replaced here by a spy that
//! records its environment before doing its job.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use installer_tool::toolchain::zig_invocation;
use system_tests::{
    build_ok, build_pkg, installer_tool, make_p12, workspace_root, CertKind, P12_PASSWORD, TEAM_ID,
};

/// Secrets a CI job would have in its environment besides ours.
const THEIR_SECRETS: [(&str, &str); 3] = [
    ("CARGO_REGISTRY_TOKEN", "cio-token-5a1t"),
    ("GITHUB_TOKEN", "ghs-token-5a1t"),
    ("DEPLOY_PASSWORD", "deploy-pass-5a1t"),
];

/// A script at `path` that appends its environment to `record` and then
/// runs `then` with its arguments.
fn spy(path: &Path, record: &Path, then: &str) {
    std::fs::write(
        path,
        format!("#!/bin/sh\nenv >> '{}'\n{then}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn assert_no_secrets(record: &Path, ours: &[&str]) {
    let seen = std::fs::read_to_string(record).expect("the spy ran");
    for line in seen.lines() {
        assert!(!line.starts_with("INSTALLER_TOOL_"), "a child saw {line:?}");
    }
    for secret in ours.iter().chain(THEIR_SECRETS.iter().map(|(_, v)| v)) {
        assert!(!seen.contains(secret), "a child saw the secret {secret}");
    }
}

#[test]
fn zig_never_sees_the_p12_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("zig-env");
    let zig = dir.path().join("zig-spy");
    spy(
        &zig,
        &record,
        &format!("exec {} \"$@\"", zig_invocation().join(" ")),
    );
    // The stand-ins are compiled by zig, with the identities and their
    // passwords in build-pkg's own environment.
    let app_p12 = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let installer_p12 = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
    build_ok(
        "build-pkg with p12 identities and a zig spy",
        build_pkg(&dir.path().join("out"))
            .arg("--stand-ins")
            .arg("--app-p12")
            .arg(&app_p12)
            .arg("--installer-p12")
            .arg(&installer_p12)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
            .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD)
            .env("ZIG", &zig)
            .envs(THEIR_SECRETS),
    );
    assert_no_secrets(&record, &[P12_PASSWORD]);
}

#[test]
fn cargo_never_sees_our_variables_or_the_ci_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("cargo-env");
    let cargo = dir.path().join("cargo-spy");
    // The spy stops there: what cargo would hand a build script is what
    // it was given.
    spy(&cargo, &record, "exit 3");
    let output = Command::new(installer_tool())
        .current_dir(workspace_root())
        .args(["check-macos", "--target-dir"])
        .arg(dir.path().join("target"))
        .env("INSTALLER_TOOL_CROSS_CARGO", &cargo)
        .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
        .env("INSTALLER_TOOL_API_KEY", dir.path().join("AuthKey.p8"))
        .envs(THEIR_SECRETS)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "the spy fails the check, and that must show"
    );
    assert_no_secrets(&record, &[P12_PASSWORD, "AuthKey.p8"]);
    let seen = std::fs::read_to_string(&record).unwrap();
    assert!(seen.contains("RUSTC_BOOTSTRAP=1"), "{seen}");
}
