//! `installer-tool build-pkg` on the workspace's release config, and the
//! demo pkg it builds, signed with throw-away identities and unpacked.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use crate::{
    installer_tool, make_p12, run_ok, unpack_cpio_gz, unpack_xar, workspace_root, CertKind,
    P12_PASSWORD, TEAM_ID,
};

/// A `Command` for `installer-tool build-pkg` on the workspace's release
/// config, writing into `out`.
pub fn build_pkg(out: &Path) -> Command {
    let mut command = Command::new(installer_tool());
    command
        .current_dir(workspace_root())
        .args(["build-pkg", "--json", "--output-dir"])
        .arg(out)
        .env("CI", "true")
        .env_remove("INSTALLER_TOOL_APP_P12")
        .env_remove("INSTALLER_TOOL_INSTALLER_P12")
        .env_remove("INSTALLER_TOOL_OUTPUT_DIR")
        .env_remove("INSTALLER_TOOL_PREBUILT")
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

/// Runs a build and returns its JSON report.
pub fn build_ok(what: &str, command: &mut Command) -> serde_json::Value {
    let output = run_ok(what, command);
    serde_json::from_slice(&output.stdout).expect("build-pkg --json prints JSON")
}

/// The demo pkg built once per test process with openssl-made p12
/// identities, with its report and an extraction of everything in it.
pub struct BuiltPkg {
    pub dir: tempfile::TempDir,
    pub report: serde_json::Value,
    pub pkg: PathBuf,
    /// `bsdtar -x` of the pkg.
    pub extracted: PathBuf,
    /// The payload unpacked by GNU cpio.
    pub payload: PathBuf,
    pub app_cert: PathBuf,
    pub installer_cert: PathBuf,
}

impl BuiltPkg {
    pub fn component(&self) -> PathBuf {
        self.extracted.join(
            self.report["payload"]["component"]
                .as_str()
                .expect("component in report"),
        )
    }

    pub fn app(&self) -> PathBuf {
        self.payload.join("Applications/DemoVPN.app")
    }

    pub fn extension(&self) -> PathBuf {
        self.app()
            .join("Contents/Library/SystemExtensions/com.example.demovpn.tunnel.systemextension")
    }
}

/// Builds the demo VPN with stand-ins into `dir/out`, signed with
/// openssl-made Developer ID p12s (made in `dir`) as a release job signs
/// it, plus `extra` flags; its report.
pub fn build_with_p12s(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let app_p12 = make_p12(dir, CertKind::Application, TEAM_ID);
    let installer_p12 = make_p12(dir, CertKind::Installer, TEAM_ID);
    build_ok(
        "build-pkg with p12 identities",
        build_pkg(&dir.join("out"))
            .args(["--stand-ins"])
            .args(extra)
            .arg("--app-p12")
            .arg(&app_p12)
            .arg("--installer-p12")
            .arg(&installer_p12)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
            .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD),
    )
}

/// The demo built with stand-ins at `version` in `dir/<name>`, its
/// config's `[updates]` table being `updates` (TOML, empty for none); the
/// pkg.
pub fn stand_in_release(dir: &Path, name: &str, version: &str, updates: &str) -> PathBuf {
    let project = dir.join(name);
    let config = crate::release_config_with(&project, version, "updates", updates);
    let report = build_ok(
        "build-pkg",
        build_pkg(&project.join("out"))
            .arg("--config")
            .arg(&config)
            .arg("--stand-ins"),
    );
    PathBuf::from(report["pkg"].as_str().expect("the report names the pkg"))
}

/// A new update key at `dir/name` (`generate-update-key`); its path and
/// the public key it printed.
pub fn update_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = run_ok(
        "generate-update-key",
        Command::new(installer_tool())
            .args(["generate-update-key", "--json", "--output"])
            .arg(&path),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let public = report["public_ed_key"]
        .as_str()
        .expect("a public key")
        .to_string();
    (path, public)
}

/// `installer-tool appcast` adding `pkg`, published under `prefix`, to
/// `feed`, signed with `key`.
pub fn appcast(pkg: &Path, key: &Path, prefix: &str, feed: &Path) -> Command {
    let mut command = Command::new(installer_tool());
    command
        .args(["appcast", "--pkg"])
        .arg(pkg)
        .arg("--ed-key")
        .arg(key)
        .args(["--download-url-prefix", prefix, "--output"])
        .arg(feed)
        .env_remove("INSTALLER_TOOL_UPDATE_KEY");
    command
}

pub fn demo_pkg() -> &'static BuiltPkg {
    static BUILT: OnceLock<BuiltPkg> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = build_with_p12s(dir.path(), &[]);
        let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
        let extracted = dir.path().join("extracted");
        unpack_xar(&pkg, &extracted);
        let payload = dir.path().join("payload");
        let component = extracted.join(report["payload"]["component"].as_str().unwrap());
        unpack_cpio_gz(&component.join("Payload"), &payload);
        BuiltPkg {
            app_cert: dir.path().join(format!("application-{TEAM_ID}.crt")),
            installer_cert: dir.path().join(format!("installer-{TEAM_ID}.crt")),
            dir,
            report,
            pkg,
            extracted,
            payload,
        }
    })
}
