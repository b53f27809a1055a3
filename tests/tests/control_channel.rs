//! The app and the extension as real processes on Linux, talking over the
//! control socket: the extension in a network namespace with Debian's
//! wireguard-go as its peer in another, the app (`vpn-app`) as a user runs
//! it: import, connect, status with handshake and bytes, disconnect, logs,
//! doctor, starting and stopping the extension, the upgrade commands, and
//! profiles that survive a restart of both processes.

use std::{os::unix::fs::PermissionsExt, process::Output, time::Duration};

use system_tests::{
    binary,
    json_shape::json_shape,
    netns::{
        ping_until_reply, unique, wait_until, EndSpec, Lab, PeerSpec, WgKeys, WireguardGo,
        A_UNDERLAY,
    },
};

/// Snapshots the shape of one of `vpn-app`'s `--json` documents: what a
/// script may rely on.
fn schema(name: &str, json: &serde_json::Value) {
    insta::assert_snapshot!(format!("vpn-app-{name}"), json_shape(json));
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

/// wireguard-go in `a` (10.77.0.1, waiting to be contacted); in `b` a host
/// where the app runs as root with no extension running yet; the profile
/// `home` for it in `home.conf`.
struct AppHost {
    // Fields drop in order: the extension goes first, the namespaces last.
    _extension: StartedExtension,
    _go: WireguardGo,
    lab: Lab,
    dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    interface: String,
    config: std::path::PathBuf,
    our_private: String,
    go_public: String,
}

impl AppHost {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::new();
        let (go_keys, our_keys) = (WgKeys::generate(), WgKeys::generate());
        let go = WireguardGo::start(&EndSpec {
            ns: &lab.a,
            dir: dir.path(),
            keys: &go_keys,
            listen_port: 51820,
            addresses: vec!["10.77.0.1/24".into()],
            peer: PeerSpec {
                public: &our_keys.public,
                allowed_ips: vec!["10.77.0.2/32".into()],
                endpoint: None,
            },
        });
        let config = dir.path().join("home.conf");
        std::fs::write(
            &config,
            format!(
                "[Interface]\nPrivateKey = {}\nAddress = 10.77.0.2/24\n\
                 [Peer]\nPublicKey = {}\nAllowedIPs = 10.77.0.1/32\nEndpoint = {A_UNDERLAY}:51820\n",
                our_keys.private, go_keys.public
            ),
        )
        .unwrap();
        let socket = dir.path().join("control.sock");
        Self {
            _extension: StartedExtension(socket.clone()),
            _go: go,
            lab,
            socket,
            interface: unique("vk"),
            config,
            our_private: our_keys.private,
            go_public: go_keys.public,
            dir,
        }
    }

    /// Starts `vpn-extension serve` in `b` by hand, as an init system
    /// would; returns its pid.
    fn serve(&self) -> u32 {
        let _ = std::fs::remove_file(&self.socket);
        let mut command = self.lab.b.command(binary("vpn-extension"));
        command
            .arg("serve")
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--interface", &self.interface]);
        let log = self
            .dir
            .path()
            .join(format!("extension-{}.log", unique("")));
        let pid = self.lab.b.spawn(command, &log);
        wait_until("the extension to listen", Duration::from_secs(10), || {
            self.socket.exists()
        });
        pid
    }

    /// `vpn-app --json ARGS` on the host in `b`.
    fn app(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let output = self
            .lab
            .b
            .command(binary("vpn-app"))
            .env("VPN_STATE_DIR", self.dir.path().join("state"))
            .env("VPN_INTERFACE", &self.interface)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("vpn-app {args:?} printed no JSON ({e}): {output:?}"));
        (output, json)
    }

    fn app_ok(&self, args: &[&str]) -> serde_json::Value {
        let (output, json) = self.app(args);
        assert!(output.status.success(), "vpn-app {args:?}: {output:?}");
        assert_eq!(json["schema_version"], 1);
        json
    }

    fn app_error(&self, args: &[&str]) -> String {
        let (output, json) = self.app(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "vpn-app {args:?}: {output:?}"
        );
        json["error"].as_str().unwrap().to_string()
    }

    fn wait_connected(&self) -> serde_json::Value {
        let mut status = serde_json::Value::Null;
        wait_until("status to say connected", Duration::from_secs(20), || {
            status = self.app_ok(&["status"]);
            status["state"] == "connected"
        });
        status
    }

    fn import_and_connect(&self) {
        self.app_ok(&["import", self.config.to_str().unwrap()]);
        self.app_ok(&["connect", "home"]);
        self.wait_connected();
        ping_until_reply(&self.lab.b, "10.77.0.1", Duration::from_secs(20));
    }
}

#[test]
fn the_app_connects_the_extension_to_wireguard_go_and_both_survive_restarts() {
    let host = AppHost::new();
    let extension = host.serve();
    let json = host.app_ok(&["extension", "status"]);
    schema("extension-status", &json);
    assert_eq!(json["extension"], "current");

    // A broken file is refused with its line, and nothing is stored.
    let broken = host.dir.path().join("broken.conf");
    std::fs::write(&broken, "[Interface]\nPrivateKey = not-a-key\n").unwrap();
    let (_, json) = host.app(&["import", broken.to_str().unwrap()]);
    schema("error", &json);
    let error = host.app_error(&["import", broken.to_str().unwrap()]);
    assert!(
        error.contains("line 2") && error.contains("PrivateKey"),
        "{error}"
    );
    let profiles = host.dir.path().join("state/profiles");
    assert!(!profiles.join("broken.conf").exists());

    let json = host.app_ok(&["import", host.config.to_str().unwrap()]);
    schema("import", &json);
    assert_eq!(json["profile"], "home");
    let json = host.app_ok(&["profiles"]);
    schema("profiles", &json);
    assert_eq!(json["profiles"], serde_json::json!(["home"]));
    let mode = std::fs::metadata(profiles.join("home.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let json = host.app_ok(&["status"]);
    schema("status-disconnected", &json);
    assert_eq!(json["state"], "disconnected");
    assert!(host
        .app_error(&["connect", "missing"])
        .contains("NoSuchProfile"));

    schema("connect", &host.app_ok(&["connect", "home"]));
    let status = host.wait_connected();
    assert_eq!(status["profile"], "home");
    assert!(
        status["last_handshake"].as_u64().unwrap() > 1_700_000_000,
        "{status}"
    );
    assert_eq!(status["peers"][0]["public_key"], host.go_public.as_str());
    assert_eq!(
        status["peers"][0]["endpoint"],
        format!("{A_UNDERLAY}:51820")
    );
    ping_until_reply(&host.lab.b, "10.77.0.1", Duration::from_secs(20));
    ping_until_reply(&host.lab.a, "10.77.0.2", Duration::from_secs(20));
    let status = host.app_ok(&["status"]);
    schema("status-connected", &status);
    let stats = &status["stats"];
    assert!(stats["rx_bytes"].as_u64().unwrap() >= 84 * 2, "{status}");
    assert!(stats["tx_bytes"].as_u64().unwrap() >= 84 * 2, "{status}");
    assert!(stats["rx_packets"].as_u64().unwrap() >= 2, "{status}");

    // Disconnect tears the interface down.
    schema("disconnect", &host.app_ok(&["disconnect"]));
    assert_eq!(host.app_ok(&["status"])["state"], "disconnected");
    let link = host
        .lab
        .b
        .command("ip")
        .args(["link", "show", &host.interface])
        .output()
        .unwrap();
    assert!(
        !link.status.success(),
        "{} outlived disconnect",
        host.interface
    );

    // Both processes restart (the app runs once per command anyway): the
    // profile and its keys are still there, and connect works again.
    host.lab.b.kill(extension, "-TERM");
    host.serve();
    host.app_ok(&["--no-start", "connect", "home"]);
    host.wait_connected();
    ping_until_reply(&host.lab.b, "10.77.0.1", Duration::from_secs(20));
    host.app_ok(&["disconnect"]);
}

#[test]
fn app_without_an_extension_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary("vpn-app"))
        .arg("--socket")
        .arg(dir.path().join("control.sock"))
        .args(["--json", "--no-start", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("is the extension running") && error.contains("control.sock"),
        "{error}"
    );
}

fn check<'a>(doctor: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {doctor}"))
}

#[test]
fn the_app_starts_the_extension_itself_and_reports_on_it() {
    let host = AppHost::new();
    let (output, json) = host.app(&["--no-start", "status"]);
    assert_eq!(output.status.code(), Some(1), "{json}");
    let (output, json) = host.app(&["doctor"]);
    assert_eq!(output.status.code(), Some(1), "{json}");
    assert_eq!(json["healthy"], false);
    assert_eq!(check(&json, "control channel")["verdict"], "fail");

    let (output, _) = host.app(&["import", host.config.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("started the extension (AsChild)"),
        "{stderr}"
    );
    host.import_and_connect();

    let json = host.app_ok(&["doctor"]);
    schema("doctor", &json);
    assert_eq!(json["healthy"], true);
    let tunnel = check(&json, "tunnel");
    assert_eq!(tunnel["verdict"], "ok");
    assert!(
        tunnel["detail"]
            .as_str()
            .unwrap()
            .contains("connected (home)"),
        "{json}"
    );

    let json = host.app_ok(&["logs", "--lines", "50"]);
    schema("logs", &json);
    let lines: Vec<&str> = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for wanted in ["serving", "tunnel started", "to=connected"] {
        assert!(
            lines.iter().any(|l| l.contains(wanted)),
            "{wanted}: {lines:?}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.contains(&host.our_private)),
        "a private key reached the log"
    );

    // Deactivate takes the tunnel down and stops the process; activate
    // starts it again, and the profile is still there.
    let json = host.app_ok(&["extension", "deactivate"]);
    schema("extension-deactivate", &json);
    assert!(
        json["stopped"].as_str().unwrap().starts_with("Terminated"),
        "{json}"
    );
    assert!(std::os::unix::net::UnixStream::connect(&host.socket).is_err());
    let json = host.app_ok(&["extension", "activate"]);
    schema("extension-activate", &json);
    assert_eq!(json["started"], "AsChild");
    host.app_ok(&["--no-start", "connect", "home"]);
    ping_until_reply(&host.lab.b, "10.77.0.1", Duration::from_secs(20));
    host.app_ok(&["extension", "deactivate"]);
}

#[test]
fn upgrade_prepare_and_finish_bring_the_tunnel_back_through_a_restart() {
    let host = AppHost::new();
    host.import_and_connect();

    // The old app: record, bring down, quiesce.
    let state = host.app_ok(&["upgrade", "prepare"]);
    schema("upgrade-prepare", &state);
    assert_eq!(state["tunnel_was_up"], true, "{state}");
    assert_eq!(state["profile"], "home");
    assert_eq!(host.app_ok(&["status"])["state"], "disconnected");
    let (output, json) = host.app(&["--no-start", "connect", "home"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        json["error"].as_str().unwrap().contains("Quiesced"),
        "{json}"
    );
    let state_file = host.dir.path().join("upgrade-state.json");
    std::fs::write(&state_file, state.to_string()).unwrap();

    // The new app: the quiesced extension is replaced, the connection
    // checked, the tunnel restored.
    let report = host.app_ok(&["upgrade", "finish", "--state", state_file.to_str().unwrap()]);
    schema("upgrade-finish", &report);
    assert_eq!(report["outcome"], "healthy", "{report}");
    assert_eq!(report["tunnel_restored"], true, "{report}");
    assert_eq!(report["repaired"], false, "{report}");
    ping_until_reply(&host.lab.b, "10.77.0.1", Duration::from_secs(20));

    // Policy `always` cycles the extension and still ends healthy.
    let report = host.app_ok(&[
        "upgrade",
        "finish",
        "--state",
        state_file.to_str().unwrap(),
        "--policy",
        "always",
    ]);
    assert_eq!(report["outcome"], "healthy", "{report}");
    assert_eq!(report["repaired"], true, "{report}");
    ping_until_reply(&host.lab.b, "10.77.0.1", Duration::from_secs(20));

    // A state file that is not one is refused by name.
    std::fs::write(&state_file, "{not json").unwrap();
    let (output, json) = host.app(&["upgrade", "finish", "--state", state_file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("upgrade-state.json"),
        "{json}"
    );
    host.app_ok(&["extension", "deactivate"]);
}
