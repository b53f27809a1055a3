//! The app and the extension as real processes on Linux, talking over the
//! control socket: the extension (`serve`) in a network namespace with
//! Debian's wireguard-go as its peer in another, the app (`vpn-app`) as a
//! user runs it: import, connect, status with handshake and bytes,
//! disconnect, and profiles that survive a restart of both processes.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Output, time::Duration};

use system_tests::{
    binary,
    netns::{
        ping_until_reply, unique, wait_until, Lab, Netns, WgKeys, WgPeer, WireguardGo, A_UNDERLAY,
    },
};

fn start_extension(ns: &Netns, dir: &Path, interface: &str) -> u32 {
    let socket = dir.join("control.sock");
    let _ = std::fs::remove_file(&socket);
    let mut command = ns.command(binary("vpn-extension"));
    command
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--interface", interface]);
    let pid = ns.spawn(command, &dir.join(format!("extension-{}.log", unique(""))));
    wait_until("the extension to listen", Duration::from_secs(10), || {
        socket.exists()
    });
    pid
}

fn app(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let output = std::process::Command::new(binary("vpn-app"))
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

fn app_ok(dir: &Path, args: &[&str]) -> serde_json::Value {
    let (output, json) = app(dir, args);
    assert!(output.status.success(), "vpn-app {args:?}: {output:?}");
    assert_eq!(json["schema_version"], 1);
    json
}

fn app_error(dir: &Path, args: &[&str]) -> String {
    let (output, json) = app(dir, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "vpn-app {args:?}: {output:?}"
    );
    json["error"].as_str().unwrap().to_string()
}

fn wait_connected(dir: &Path) -> serde_json::Value {
    let mut status = serde_json::Value::Null;
    wait_until("status to say connected", Duration::from_secs(20), || {
        status = app_ok(dir, &["status"]);
        status["state"] == "connected"
    });
    status
}

#[test]
fn the_app_connects_the_extension_to_wireguard_go_and_both_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let lab = Lab::new();
    let (go_keys, our_keys) = (WgKeys::generate(), WgKeys::generate());
    let _go = WireguardGo::start(
        &lab.a,
        dir,
        &go_keys,
        51820,
        &["10.77.0.1/24"],
        &WgPeer {
            public: &our_keys.public,
            allowed_ips: "10.77.0.2/32",
            endpoint: None,
            keepalive: None,
        },
    );
    let interface = unique("vk");
    let extension = start_extension(&lab.b, dir, &interface);
    assert_eq!(
        app_ok(dir, &["extension", "status"])["extension"],
        "current"
    );

    // A broken file is refused with its line, and nothing is stored.
    let broken = dir.join("broken.conf");
    std::fs::write(&broken, "[Interface]\nPrivateKey = not-a-key\n").unwrap();
    let error = app_error(dir, &["import", broken.to_str().unwrap()]);
    assert!(
        error.contains("line 2") && error.contains("PrivateKey"),
        "{error}"
    );
    assert!(!dir.join("state/profiles/broken.conf").exists());

    let config = dir.join("home.conf");
    std::fs::write(
        &config,
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = 10.77.0.2/24\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = 10.77.0.1/32\nEndpoint = {A_UNDERLAY}:51820\n",
            our_keys.private, go_keys.public
        ),
    )
    .unwrap();
    assert_eq!(
        app_ok(dir, &["import", config.to_str().unwrap()])["profile"],
        "home"
    );
    let stored = dir.join("state/profiles/home.conf");
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(app_ok(dir, &["status"])["state"], "disconnected");
    assert!(app_error(dir, &["connect", "missing"]).contains("NoSuchProfile"));

    app_ok(dir, &["connect", "home"]);
    let status = wait_connected(dir);
    assert_eq!(status["profile"], "home");
    assert!(
        status["last_handshake"].as_u64().unwrap() > 1_700_000_000,
        "{status}"
    );
    assert_eq!(status["peers"][0]["public_key"], go_keys.public.as_str());
    assert_eq!(
        status["peers"][0]["endpoint"],
        format!("{A_UNDERLAY}:51820")
    );
    ping_until_reply(&lab.b, "10.77.0.1", Duration::from_secs(20));
    ping_until_reply(&lab.a, "10.77.0.2", Duration::from_secs(20));
    let status = app_ok(dir, &["status"]);
    let stats = &status["stats"];
    assert!(stats["rx_bytes"].as_u64().unwrap() >= 84 * 2, "{status}");
    assert!(stats["tx_bytes"].as_u64().unwrap() >= 84 * 2, "{status}");
    assert!(stats["rx_packets"].as_u64().unwrap() >= 2, "{status}");

    // Disconnect tears the interface down.
    app_ok(dir, &["disconnect"]);
    assert_eq!(app_ok(dir, &["status"])["state"], "disconnected");
    let link = lab
        .b
        .command("ip")
        .args(["link", "show", &interface])
        .output()
        .unwrap();
    assert!(!link.status.success(), "{interface} outlived disconnect");

    // Both processes restart (the app runs once per command anyway): the
    // profile and its keys are still there, and connect works again.
    lab.b.kill(extension, "-TERM");
    start_extension(&lab.b, dir, &interface);
    app_ok(dir, &["connect", "home"]);
    wait_connected(dir);
    ping_until_reply(&lab.b, "10.77.0.1", Duration::from_secs(20));
    app_ok(dir, &["disconnect"]);
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

/// Kills the extension that `vpn-app` started (it is nobody's child here).
struct StartedExtension(std::path::PathBuf);

impl Drop for StartedExtension {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-f", &format!("serve --socket {}", self.0.display())])
            .status();
    }
}

#[test]
fn the_app_starts_the_extension_itself_and_reports_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let lab = Lab::new();
    let (go_keys, our_keys) = (WgKeys::generate(), WgKeys::generate());
    let _go = WireguardGo::start(
        &lab.a,
        dir,
        &go_keys,
        51820,
        &["10.77.0.1/24"],
        &WgPeer {
            public: &our_keys.public,
            allowed_ips: "10.77.0.2/32",
            endpoint: None,
            keepalive: None,
        },
    );
    let socket = dir.join("control.sock");
    let _cleanup = StartedExtension(socket.clone());
    // The app runs on the host in `b`, as root, with no extension running.
    let app_in_b = |args: &[&str]| {
        let output = lab
            .b
            .command(binary("vpn-app"))
            .env("VPN_STATE_DIR", dir.join("state"))
            .env("VPN_INTERFACE", unique("vk"))
            .arg("--socket")
            .arg(&socket)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("vpn-app {args:?} printed no JSON ({e}): {output:?}"));
        (output, json)
    };
    let (output, json) = app_in_b(&["--no-start", "status"]);
    assert_eq!(output.status.code(), Some(1), "{json}");
    let (output, json) = app_in_b(&["doctor"]);
    assert_eq!(output.status.code(), Some(1), "{json}");
    assert_eq!(json["healthy"], false);
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "control channel" && c["verdict"] == "fail"),
        "{json}"
    );

    let config = dir.join("home.conf");
    std::fs::write(
        &config,
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = 10.77.0.2/24\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = 10.77.0.1/32\nEndpoint = {A_UNDERLAY}:51820\n",
            our_keys.private, go_keys.public
        ),
    )
    .unwrap();
    let (output, _) = app_in_b(&["import", config.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("started the extension (AsChild)"),
        "{output:?}"
    );
    let (output, _) = app_in_b(&["connect", "home"]);
    assert!(output.status.success(), "{output:?}");
    wait_until("the tunnel to connect", Duration::from_secs(20), || {
        app_in_b(&["status"]).1["state"] == "connected"
    });
    ping_until_reply(&lab.b, "10.77.0.1", Duration::from_secs(20));

    let (output, json) = app_in_b(&["doctor"]);
    assert!(output.status.success(), "{json}");
    assert_eq!(json["healthy"], true);
    let tunnel = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tunnel")
        .unwrap()
        .clone();
    assert!(
        tunnel["verdict"] == "ok"
            && tunnel["detail"]
                .as_str()
                .unwrap()
                .contains("connected (home)"),
        "{json}"
    );

    let (output, json) = app_in_b(&["logs", "--lines", "50"]);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.iter().any(|l| l.contains("serving")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("tunnel started")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("to=connected")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains(&our_keys.private)),
        "a private key reached the log"
    );

    // Deactivate takes the tunnel down and stops the process; activate
    // starts it again, and the profile is still there.
    let (output, json) = app_in_b(&["extension", "deactivate"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        json["stopped"].as_str().unwrap().starts_with("Terminated"),
        "{json}"
    );
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_err());
    let (output, json) = app_in_b(&["extension", "activate"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json["started"], "AsChild");
    let (output, _) = app_in_b(&["--no-start", "connect", "home"]);
    assert!(output.status.success(), "{output:?}");
    ping_until_reply(&lab.b, "10.77.0.1", Duration::from_secs(20));
    app_in_b(&["extension", "deactivate"]);
}
