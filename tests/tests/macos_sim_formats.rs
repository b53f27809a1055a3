//! The simulated macOS's tools print what the real ones print: lines
//! that users pasted (shared/macos-reality/command-outputs.md, each with
//! its source below), reproduced from the same fields by the fake's
//! formatter, byte for byte.

use system_tests::macos_sim::tools::nc_list_line;

/// Tailscale's packet tunnel, macOS 26.5; the poster replaced the UUID,
/// which moves nothing after it (github.com/tailscale/tailscale issue 19776).
const TAILSCALE: &str = r#"* (Connected)      [uuid here] VPN (io.tailscale.ipn.macsys) "Tailscale"                      [VPN:io.tailscale.ipn.macsys]"#;
/// Built-in L2TP (github.com/mrodalgaard/alfred-network-workflow issue 19).
const L2TP: &str = r#"* (Disconnected)   E3A8F336-CCEB-4A29-B50A-FBAD41D84A71 PPP --> L2TP       "My VPN"                         [PPP:L2TP]"#;
/// A 32-character name, cut with its closing quote (a Go parser's comment,
/// find_string id 6943429901).
const CUT: &str = r#"* (Disconnected)   9901A465-C7EA-4592-B97D-29DAA672C158 IPSec              "[VIP] JP - Tokyo 194-Nydus-IPSe [IPSec]"#;
/// Cisco IPSec, connected (a shell script's comment, find_string id 40249955963).
const CISCO: &str = r#"* (Connected)      199F727B-C91D-4A6E-8A0B-4745179895F2 IPSec              "VPN (Cisco IPSec)"              [IPSec]"#;

#[test]
fn scutil_nc_list_lines_match_real_output() {
    assert_eq!(
        nc_list_line(
            true,
            "Connected",
            "[uuid here]",
            "VPN (io.tailscale.ipn.macsys)",
            "Tailscale",
            ("VPN", Some("io.tailscale.ipn.macsys")),
        ),
        TAILSCALE
    );
    assert_eq!(
        nc_list_line(
            true,
            "Disconnected",
            "E3A8F336-CCEB-4A29-B50A-FBAD41D84A71",
            "PPP --> L2TP",
            "My VPN",
            ("PPP", Some("L2TP")),
        ),
        L2TP
    );
    assert_eq!(
        nc_list_line(
            true,
            "Disconnected",
            "9901A465-C7EA-4592-B97D-29DAA672C158",
            "IPSec",
            "[VIP] JP - Tokyo 194-Nydus-IPSec",
            ("IPSec", None),
        ),
        CUT
    );
    assert_eq!(
        nc_list_line(
            true,
            "Connected",
            "199F727B-C91D-4A6E-8A0B-4745179895F2",
            "IPSec",
            "VPN (Cisco IPSec)",
            ("IPSec", None),
        ),
        CISCO
    );
}

#[test]
fn scutil_cuts_names_of_31_characters_or_more() {
    // nc.c pads the quoted name to MAX(length of the name, 32): 30
    // characters keep both quotes, 31 lose the closing one, 32 or more
    // lose their last character too.
    let field = |name: &str| {
        let line = nc_list_line(
            true,
            "Connected",
            "ID",
            "VPN (a.b)",
            name,
            ("VPN", Some("a.b")),
        );
        line["* (Connected)      ID VPN (a.b)          ".len()..line.len() - " [VPN:a.b]".len()]
            .to_string()
    };
    let thirty = "x".repeat(30);
    assert_eq!(field(&thirty), format!("\"{thirty}\""));
    assert_eq!(field(&"y".repeat(31)), format!("\"{}", "y".repeat(31)));
    assert_eq!(field(&"z".repeat(40)), format!("\"{}", "z".repeat(39)));
    assert_eq!(field("short"), format!("{:32}", "\"short\""));
    // A disabled service skips the status lookup.
    assert!(nc_list_line(
        false,
        "Connected",
        "ID",
        "VPN (a.b)",
        "n",
        ("VPN", Some("a.b"))
    )
    .starts_with("  (Invalid)        ID "));
}

/// pgrep(1) and pkill(1) of BSD and macOS: "0: One or more processes were
/// matched. 1: No processes were matched." The scripts log what they did
/// rather than test the status, so the fakes' own statuses are held to it
/// here.
#[test]
fn pgrep_and_pkill_exit_1_when_nothing_matched() {
    use system_tests::macos_sim::{
        harness::SimMac,
        model::{Mac, RunningApp},
    };
    let sim = SimMac::new(Mac::default());
    let status =
        |tool: &str, args: &[&str]| sim.command(tool).args(args).output().unwrap().status.code();
    assert_eq!(status("pgrep", &["-f", "^/Applications/X$"]), Some(1));
    assert_eq!(
        status("pkill", &["-TERM", "-f", "^/Applications/X$"]),
        Some(1)
    );
    sim.update(|mac| {
        mac.running_apps.push(RunningApp {
            pid: 7,
            bundle_id: "x".into(),
            executable: "/Applications/X".into(),
            args: Vec::new(),
            ignores_term: false,
        })
    });
    assert_eq!(status("pgrep", &["-f", "^/Applications/X$"]), Some(0));
    assert_eq!(
        status("pkill", &["-TERM", "-f", "^/Applications/X$"]),
        Some(0)
    );
    assert!(sim.mac().running_apps.is_empty());
}

/// `systemextensionsctl list` as macOS 15 and later prints it (§3b's
/// header lines, verbatim), its rows TAB-separated (§3a).
#[test]
fn systemextensionsctl_lists_as_macos_15_does() {
    use system_tests::macos_sim::{
        harness::SimMac,
        model::{Extension, Mac},
    };
    let sim = SimMac::new(Mac {
        provider_id: "com.example.demovpn.tunnel".into(),
        extension: Some(Extension {
            version: "1.0.0".into(),
            service_name: String::new(),
            team_id: "ABCDE12345".into(),
        }),
        ..Mac::default()
    });
    let output = sim
        .command("systemextensionsctl")
        .arg("list")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "2 extension(s)");
    assert_eq!(lines[1], "--- com.apple.system_extension.network_extension (Go to 'System Settings > General > Login Items & Extensions > Network Extensions' to modify these system extension(s))");
    assert_eq!(
        lines[2],
        "enabled\tactive\tteamID\tbundleID (version)\tname\t[state]"
    );
    assert!(lines.contains(
        &"*\t*\tABCDE12345\tcom.example.demovpn.tunnel (1.0.0/1.0.0)\t[activated enabled]"
    ));
}
