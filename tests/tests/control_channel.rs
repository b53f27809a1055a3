//! The app and the extension as real processes on Linux, talking over the
//! control socket: handshake, import, status, connect, disconnect, and
//! profiles that survive a restart of the extension.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

use system_tests::binary;

struct Extension(Child);

impl Drop for Extension {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_extension(dir: &Path) -> Extension {
    let socket = dir.join("control.sock");
    let _ = std::fs::remove_file(&socket);
    let child = Command::new(binary("vpn-extension"))
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .spawn()
        .expect("start vpn-extension");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the extension never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Extension(child)
}

fn app(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let output = Command::new(binary("vpn-app"))
        .arg("--socket")
        .arg(dir.join("control.sock"))
        .arg("--json")
        .args(args)
        .output()
        .expect("run vpn-app");
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("vpn-app {args:?} printed no JSON ({e}): {output:?}"));
    (output, json)
}

#[test]
fn app_and_extension_processes_talk_over_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("home.conf");
    std::fs::write(&config, "[Interface]\nPrivateKey = c2VjcmV0\n").unwrap();

    let extension = start_extension(dir.path());
    let (output, json) = app(dir.path(), &["extension", "status"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json["extension"], "current");
    assert_eq!(json["schema_version"], 1);

    let (output, json) = app(dir.path(), &["import", config.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json["profile"], "home");
    let stored = dir.path().join("state/profiles/home.conf");
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let (output, json) = app(dir.path(), &["status"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json["state"], "disconnected");

    // No engine yet: connect says so plainly, and fails.
    let (output, json) = app(dir.path(), &["connect", "home"]);
    assert!(!output.status.success());
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no tunnel engine yet"),
        "{json}"
    );
    let (output, json) = app(dir.path(), &["connect", "missing"]);
    assert!(!output.status.success());
    assert!(
        json["error"].as_str().unwrap().contains("NoSuchProfile"),
        "{json}"
    );
    let (output, _) = app(dir.path(), &["disconnect"]);
    assert!(output.status.success(), "{output:?}");

    // The profile survives a restart of the extension.
    drop(extension);
    let _extension = start_extension(dir.path());
    let (_, json) = app(dir.path(), &["connect", "home"]);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no tunnel engine yet"),
        "{json}"
    );
}

#[test]
fn app_without_an_extension_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let (output, json) = app(dir.path(), &["status"]);
    assert_eq!(output.status.code(), Some(1));
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("is the extension running") && error.contains("control.sock"),
        "{error}"
    );
}
