//! The workspace under test: where it is, a copy of its release config, its
//! binaries as the running cargo builds them, and commands run to success.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// The workspace root (holds `release.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A copy of the workspace's release config, entitlements and installer
/// pages under `dir/project`, its workspace at `version`, for a test to
/// change; the copy's `release.toml`.
pub fn release_config_copy(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join("project");
    std::fs::create_dir_all(root.join("signing")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!("[workspace]\n[workspace.package]\nversion = \"{version}\"\n"),
    )
    .unwrap();
    for file in [
        "release.toml",
        "signing/app.entitlements",
        "signing/extension.entitlements",
    ] {
        std::fs::copy(workspace_root().join(file), root.join(file)).unwrap();
    }
    copy_tree(&workspace_root().join("installer"), &root.join("installer"));
    root.join("release.toml")
}

/// [`release_config_copy`] with its table `[table]` replaced by `body`
/// (TOML); comments are not kept.
pub fn release_config_with(dir: &Path, version: &str, table: &str, body: &str) -> PathBuf {
    let config = release_config_copy(dir, version);
    let mut document: toml::Table =
        toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let body: toml::Table =
        toml::from_str(body).unwrap_or_else(|e| panic!("[{table}] {body}: {e}"));
    document.insert(table.to_string(), toml::Value::Table(body));
    std::fs::write(&config, toml::to_string(&document).unwrap()).unwrap();
    config
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The workspace's binaries, built once per test process by the cargo
/// running the tests. The build selects what `cargo test --workspace`
/// selects, so features unify the same way and nothing is compiled twice;
/// it is never a stale binary from an earlier build.
fn binaries() -> &'static HashMap<String, PathBuf> {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BINARIES.get_or_init(|| cargo_build(&["--workspace", "--all-targets"]))
}

/// Runs `cargo build <args>` in the workspace and returns the binaries it
/// made, by name.
fn cargo_build(args: &[&str]) -> HashMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-q", "--message-format=json"])
        .args(args);
    // Variables cargo sets for this test process only; build scripts that
    // watch them (ring watches CARGO_MANIFEST_DIR) would rebuild.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            command.env_remove(key);
        }
    }
    let output = run_ok(&format!("cargo build {args:?}"), &mut command);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["target"]["kind"][0] == "bin" && v["profile"]["test"] == false)
        .filter_map(|v| {
            let name = v["target"]["name"].as_str()?.to_string();
            Some((name, PathBuf::from(v["executable"].as_str()?)))
        })
        .collect()
}

/// Path of one of the workspace's binaries (`installer-tool`, `vpn-app`, ...).
pub fn binary(name: &str) -> &'static Path {
    binaries()
        .get(name)
        .unwrap_or_else(|| panic!("cargo built no binary named {name}"))
}

/// A release build of one of the workspace's binaries, for benchmarks.
pub fn release_binary(name: &str) -> PathBuf {
    cargo_build(&["--release", "--workspace", "--bin", name])
        .remove(name)
        .unwrap_or_else(|| panic!("cargo built no binary named {name}"))
}

pub fn installer_tool() -> &'static Path {
    binary("installer-tool")
}

/// `installer-tool verify --json PKG`: its exit code and findings (the
/// report's schema checked).
pub fn verify_findings(pkg: &Path) -> (i32, Vec<serde_json::Value>) {
    let output = Command::new(installer_tool())
        .args(["verify", "--json"])
        .arg(pkg)
        .output()
        .expect("installer-tool runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {output:?}"));
    assert_eq!(report["schema_version"], 1);
    let findings = report["findings"].as_array().expect("findings").clone();
    (output.status.code().expect("an exit code"), findings)
}

/// Runs `command`, describing it in the panic message if it fails.
pub fn run_ok(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a shell pipeline with `sh -c`.
pub fn sh(what: &str, script: &str) -> Output {
    run_ok(what, Command::new("sh").args(["-c", script]))
}

/// zig as installer-tool finds it: `zig` on PATH, else PyPI's `ziglang`.
pub use installer_tool::toolchain::zig_command as zig;
