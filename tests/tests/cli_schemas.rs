//! Snapshots of what people and CI scripts read from our commands: the
//! `--help` of every command and subcommand (found by walking the help
//! itself, so a new command cannot go unsnapshotted), and the shape of the
//! `--json` documents build-pkg prints, success and failure alike. The
//! notary's, the upgrade's and the app's documents are snapshotted where
//! their tests make them (notarization.rs, macos_upgrade.rs,
//! control_channel.rs). A change to any of them shows as a snapshot diff
//! to review (`cargo insta review`).

use std::{path::Path, process::Command};

use system_tests::{binary, build_ok, build_pkg, installer_tool, json_shape::json_shape};

/// `program args... --help`. clap shows the value of a flag's environment
/// variable when it is set, so ours are cleared.
fn help(program: &Path, args: &[&str]) -> String {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars() {
        if key.starts_with("INSTALLER_TOOL_") || key.starts_with("VPN_") {
            command.env_remove(key);
        }
    }
    let output = command.args(args).arg("--help").output().unwrap();
    assert!(output.status.success(), "{args:?} --help failed");
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Snapshots the help of `name` and of every subcommand below it.
fn snapshot_help_tree(name: &str, program: &Path, args: Vec<String>) {
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = help(program, &borrowed);
    let snapshot = [name]
        .into_iter()
        .chain(borrowed.iter().copied())
        .collect::<Vec<_>>()
        .join("-");
    insta::assert_snapshot!(format!("help-{snapshot}"), text);
    for sub in subcommands(&text) {
        let mut deeper = args.clone();
        deeper.push(sub);
        snapshot_help_tree(name, program, deeper);
    }
}

#[test]
fn every_help_text() {
    snapshot_help_tree("installer-tool", installer_tool(), Vec::new());
    snapshot_help_tree("vpn-app", binary("vpn-app"), Vec::new());
    snapshot_help_tree("vpn-extension", binary("vpn-extension"), Vec::new());
}

#[test]
fn help_walk_finds_nested_commands() {
    // The walk must reach two levels down, or a nested command would
    // escape its snapshot.
    let app = help(binary("vpn-app"), &[]);
    assert!(subcommands(&app).contains(&"upgrade".to_string()), "{app}");
    let upgrade = help(binary("vpn-app"), &["upgrade"]);
    assert!(
        subcommands(&upgrade).contains(&"finish".to_string()),
        "{upgrade}"
    );
}

#[test]
fn vpn_app_without_a_command_is_a_usage_error_off_macos() {
    // On macOS that is the menu bar app; here it must not pretend to be.
    let output = Command::new(binary("vpn-app")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: vpn-app"));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the menu bar app is macOS's"),
        "{output:?}"
    );
}

#[test]
fn build_pkg_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let report = build_ok(
        "build-pkg --stand-ins --json",
        build_pkg(&dir.path().join("out")).arg("--stand-ins"),
    );
    insta::assert_snapshot!("build-pkg-json", json_shape(&report));
}

#[test]
fn error_json_schema() {
    // An output "directory" that is a file: a failure that carries a fix.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    std::fs::write(&file, b"").unwrap();
    let output = build_pkg(&file).arg("--stand-ins").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_snapshot!("build-pkg-json-failed", json_shape(&error));
}
