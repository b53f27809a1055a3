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
