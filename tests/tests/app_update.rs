//! `vpn-app update check|install` against a local HTTPS feed (Python's
//! http.server behind TLS, trusted through curl's CA bundle), with feeds
//! written by `installer-tool appcast` and pkgs built by `build-pkg`. The
//! installed app is the real `vpn-app` in a bundle whose Info.plist comes
//! from a built pkg. Stand-ins play what only a Mac has: `pkgutil
//! --check-signature` prints the Mac's verdict in pkgutil's published
//! format (the scenario picks the team), `pkgutil --expand` expands with
//! bsdtar, and `installer` and `open` record how they were called.
//!
//! Each tampering the issue lists is refused with its reason and nothing
//! reaches Installer: a pkg signed with another key, one altered byte, an
//! older pkg announced as newer, a pkg of another team.

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

use serde_json::Value;
use system_tests::{appcast, binary, run_ok, stand_in_release, update_key, TEAM_ID};

/// An HTTPS server for `root` on a free loopback port.
struct FeedServer {
    child: Child,
    port: u16,
    ca: PathBuf,
}

impl FeedServer {
    fn start(dir: &Path, root: &Path) -> Self {
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        run_ok(
            "openssl req (feed server)",
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", "/CN=localhost"])
                .args(["-addext", "subjectAltName=DNS:localhost"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        let script = "import functools, http.server, ssl, sys\n\
            root, cert, key = sys.argv[1:4]\n\
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)\n\
            server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)\n\
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
            context.load_cert_chain(cert, key)\n\
            server.socket = context.wrap_socket(server.socket, server_side=True)\n\
            print(server.server_address[1], flush=True)\n\
            server.serve_forever()\n";
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(root)
            .arg(&cert)
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Self {
            child,
            port,
            ca: cert,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}/{path}", self.port)
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pkgutil's `--check-signature` output for a Developer ID Installer pkg of
/// `team`, in the format of published real output (nudge issue 410).
fn pkgutil_verdict(team: &str) -> String {
    format!(
        "Package \"DemoVPN.pkg\":\n\
         \x20  Status: signed by a developer certificate issued by Apple for distribution\n\
         \x20  Notarization: trusted by the Apple notary service\n\
         \x20  Signed with a trusted timestamp on: 2026-11-30 12:00:00 +0000\n\
         \x20  Certificate Chain:\n\
         \x20   1. Developer ID Installer: Demo VPN ({team})\n\
         \x20      Expires: 2031-06-04 16:44:29 +0000\n\
         \x20      SHA256 Fingerprint:\n\
         \x20          45 19 B4 3D 00 F5 5E C6 31 38 D4 03 DE 1F 3C 54 23 90 EA E3 D8 2E \n\
         \x20          59 C1 84 38 46 FB DF E1 4F 5B\n\
         \x20      ------------------------------------------------------------------------\n\
         \x20   2. Developer ID Certification Authority\n"
    )
}

struct Mac {
    dir: PathBuf,
    server: FeedServer,
    app: PathBuf,
    tools: PathBuf,
    record: PathBuf,
    verdict: PathBuf,
}

impl Mac {
    /// `vpn-app --json update <args>` of the installed app.
    fn update(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.tools.display(),
            std::env::var("PATH").unwrap()
        );
        Command::new(&self.app)
            .arg("--json")
            .arg("update")
            .args(args)
            .env("PATH", path)
            .env("CURL_CA_BUNDLE", &self.server.ca)
            .env("PKGUTIL_VERDICT", &self.verdict)
            .env("TMPDIR", self.dir.join("tmp"))
            .output()
            .expect("vpn-app runs")
    }

    fn installer_calls(&self) -> String {
        std::fs::read_to_string(&self.record).unwrap_or_default()
    }

    /// `update install` from `feed` is refused, saying `reason`, and
    /// Installer is never called.
    fn refuses(&self, what: &str, feed: &str, reason: &str) {
        let out = self.update(&["install", "--feed", feed]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{what}: installed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.contains(reason),
            "{what}: no {reason:?} in:\n{stderr}"
        );
        assert_eq!(self.installer_calls(), "", "{what}: Installer was called");
    }
}

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The demo at `version`, its app reading `feed` and trusting `key`.
fn release(dir: &Path, version: &str, feed: &str, key: &str) -> PathBuf {
    stand_in_release(
        dir,
        &format!("release-{version}-{}", &key[..6].replace('/', "_")),
        version,
        &format!("feed-url = \"{feed}\"\npublic-ed-key = \"{key}\"\n"),
    )
}

/// Publishes `pkg` (as `served`, its bytes, under its own name) in folder
/// `name` of the server, with a feed `appcast` signs with `key`.
fn publish(mac: &Mac, name: &str, pkg: &Path, key: &Path, served: Option<Vec<u8>>) -> String {
    let folder = mac.dir.join("www").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let feed = folder.join("appcast.xml");
    run_ok(
        "appcast",
        &mut appcast(pkg, key, &mac.server.url(&format!("{name}/")), &feed),
    );
    let bytes = served.unwrap_or_else(|| std::fs::read(pkg).unwrap());
    std::fs::write(folder.join(pkg.file_name().unwrap()), bytes).unwrap();
    mac.server.url(&format!("{name}/appcast.xml"))
}

#[test]
fn only_a_genuine_newer_release_of_the_same_team_reaches_installer() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let server = FeedServer::start(dir, &www);
    let feed = server.url("good/appcast.xml");
    let (key, public) = update_key(dir, "update.key");
    let (other_key, other_public) = update_key(dir, "other.key");

    // The installed 1.0.0: the real vpn-app, its Info.plist from the pkg.
    let installed = release(dir, "1.0.0", &feed, &public);
    let expanded = dir.join("installed");
    std::fs::create_dir_all(&expanded).unwrap();
    run_ok(
        "bsdtar -x (installed pkg)",
        Command::new("bsdtar")
            .arg("-xf")
            .arg(&installed)
            .arg("-C")
            .arg(&expanded),
    );
    let contents = dir.join("Applications/DemoVPN.app/Contents");
    std::fs::create_dir_all(contents.join("MacOS")).unwrap();
    let component = std::fs::read_dir(&expanded)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pkg"))
        .expect("a component package");
    run_ok(
        "bsdtar -x (Info.plist)",
        Command::new("sh").arg("-c").arg(format!(
            "bsdtar -xOf '{}' ./Applications/DemoVPN.app/Contents/Info.plist > '{}'",
            component.join("Payload").display(),
            contents.join("Info.plist").display()
        )),
    );
    let app = contents.join("MacOS/vpn-app");
    std::fs::copy(binary("vpn-app"), &app).unwrap();

    let tools = dir.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let record = dir.join("installer-calls");
    script(
        &tools.join("pkgutil"),
        "#!/bin/sh\ncase \"$1\" in\n\
         --check-signature) cat \"$PKGUTIL_VERDICT\" ;;\n\
         --expand) mkdir \"$3\" && exec bsdtar -xf \"$2\" -C \"$3\" ;;\n\
         *) exit 2 ;;\nesac\n",
    );
    for name in ["installer", "open"] {
        script(
            &tools.join(name),
            &format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", record.display()),
        );
    }
    let verdict = dir.join("verdict");
    std::fs::write(&verdict, pkgutil_verdict(TEAM_ID)).unwrap();
    let mac = Mac {
        dir: dir.to_path_buf(),
        server,
        app,
        tools,
        record,
        verdict,
    };

    let newer = release(dir, "1.1.0", &feed, &public);
    let current = publish(&mac, "current", &installed, &key, None);
    let out = mac.update(&["check", "--feed", &current]);
    let offer: Value =
        serde_json::from_slice(&run_ok_output("check (current)", out).stdout).unwrap();
    assert_eq!(offer["available"], Value::Null, "{offer:#}");
    assert_eq!(offer["running"], "1.0.0");

    // Each tampering, refused before Installer sees anything.
    let rekeyed = release(dir, "1.1.0", &feed, &other_public);
    let wrong_key = publish(&mac, "wrong-key", &rekeyed, &other_key, None);
    mac.refuses("another key", &wrong_key, "not what the update key signed");

    let mut altered = std::fs::read(&newer).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    let altered = publish(&mac, "altered", &newer, &key, Some(altered));
    mac.refuses(
        "an altered byte",
        &altered,
        "not what the update key signed",
    );

    let older = release(dir, "0.9.0", &feed, &public);
    let downgrade = publish(&mac, "downgrade", &older, &key, None);
    let feed_path = dir.join("www/downgrade/appcast.xml");
    let announced = std::fs::read_to_string(&feed_path)
        .unwrap()
        .replace("\"0.9.0\"", "\"1.1.0\"");
    std::fs::write(&feed_path, announced).unwrap();
    mac.refuses(
        "an older pkg announced as newer",
        &downgrade,
        "0.9.0, not newer than the running 1.0.0",
    );

    let good = publish(&mac, "good", &newer, &key, None);
    std::fs::write(&mac.verdict, pkgutil_verdict("ZZZZZ99999")).unwrap();
    mac.refuses(
        "another team",
        &good,
        "signed by team ZZZZZ99999, this app's team is ABCDE12345",
    );
    std::fs::write(&mac.verdict, pkgutil_verdict(TEAM_ID)).unwrap();

    mac.refuses(
        "a plain-http feed",
        &good.replace("https://", "http://"),
        "not https",
    );

    // The genuine release: offered from the app's own SUFeedURL, then
    // downloaded, checked and handed to installer (the tests run as root).
    let out = mac.update(&["check"]);
    let offer: Value = serde_json::from_slice(&run_ok_output("check", out).stdout).unwrap();
    assert_eq!(offer["feed"], feed);
    assert_eq!(offer["available"]["version"], "1.1.0", "{offer:#}");
    let out = mac.update(&["install"]);
    let installed: Value = serde_json::from_slice(&run_ok_output("install", out).stdout).unwrap();
    assert_eq!(installed["version"], "1.1.0");
    assert_eq!(installed["handed_to"], "installer");
    assert_eq!(
        installed["signer"],
        format!("Developer ID Installer: Demo VPN ({TEAM_ID})")
    );
    let pkg = installed["pkg"].as_str().unwrap();
    assert_eq!(
        mac.installer_calls(),
        format!("installer -pkg {pkg} -target /\n")
    );
    assert_eq!(std::fs::read(pkg).unwrap(), std::fs::read(&newer).unwrap());
}

/// `output` of a run that must have succeeded.
fn run_ok_output(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
