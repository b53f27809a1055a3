//! `installer-tool inspect`: what a pkg holds, as a person debugging a
//! release reads it. The payload's entries and modes are held to GNU
//! cpio's own listing of the same payload; the rest to what the demo is.

use std::process::Command;

use serde_json::Value;
use system_tests::{demo_pkg, installer_tool, run_ok, sh, TEAM_ID};

#[test]
fn the_demo_pkg_is_shown_as_gnu_cpio_and_its_config_describe_it() {
    let built = demo_pkg();
    let out = run_ok(
        "inspect --json",
        Command::new(installer_tool())
            .args(["inspect", "--json"])
            .arg(&built.pkg),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inventory = &report["inventory"];
    // The title is a key of each language's Localizable.strings.
    assert_eq!(inventory["title"], "SU_TITLE");
    assert_eq!(inventory["host_architectures"], "arm64,x86_64");
    assert_eq!(inventory["minimum_macos"], "13.0");
    assert_eq!(inventory["ticket_stapled"], false);
    assert!(inventory["signer"]
        .as_str()
        .unwrap()
        .starts_with("Developer ID Installer:"));

    let components = inventory["components"].as_array().unwrap();
    assert_eq!(components.len(), 1);
    let component = &components[0];
    assert_eq!(component["identifier"], "com.example.demovpn.pkg");
    assert_eq!(component["version"], "1.0.0");
    assert_eq!(component["install_location"], "/");

    // `cpio -tv` prints `ls -l`'s mode first and the path last.
    let listing = sh(
        "gzip -dc Payload | cpio -tv",
        &format!(
            "gzip -dc '{}' | cpio -tv --quiet",
            built.component().join("Payload").display()
        ),
    );
    let expected: Vec<(String, String)> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|line| {
            let mode = line.split_whitespace().next()?.to_string();
            let path = line
                .split_whitespace()
                .last()?
                .trim_start_matches("./")
                .to_string();
            (path != ".").then_some((mode, path))
        })
        .collect();
    let shown: Vec<(String, String)> = component["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["mode"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(shown, expected);

    let scripts: Vec<(&str, &str)> = component["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["mode"].as_str().unwrap()))
        .collect();
    for (name, mode) in [
        ("preinstall", "-rwxr-xr-x"),
        ("postinstall", "-rwxr-xr-x"),
        ("upgrade-lib.sh", "-rw-r--r--"),
    ] {
        assert!(
            scripts.contains(&(name, mode)),
            "{name} {mode} in {scripts:?}"
        );
    }

    let executables = inventory["executables"].as_array().unwrap();
    assert_eq!(executables.len(), 2, "{executables:#?}");
    for executable in executables {
        assert_eq!(
            executable["architectures"],
            serde_json::json!(["arm64", "x86_64"])
        );
        assert_eq!(executable["team"], TEAM_ID);
        assert_eq!(executable["hardened_runtime"], true);
        assert!(executable["entitlements"]
            .as_array()
            .unwrap()
            .contains(&Value::from(
                "com.apple.developer.networking.networkextension"
            )));
    }

    let text = run_ok(
        "inspect",
        Command::new(installer_tool())
            .arg("inspect")
            .arg(&built.pkg),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for wanted in [
        "component DemoVPN.pkg: com.example.demovpn.pkg 1.0.0, installs into /",
        "-rwxr-xr-x",
        "Applications/DemoVPN.app/Contents/MacOS/vpn-app",
        "service ABCDE12345.group.com.example.demovpn.tunnel.1.0.0",
        "arm64, x86_64; team ABCDE12345; hardened runtime",
        "ticket: none stapled",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} in:\n{text}");
    }
}

#[test]
fn a_file_that_is_not_a_pkg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.pkg");
    std::fs::write(&path, "hello").unwrap();
    let out = Command::new(installer_tool())
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
