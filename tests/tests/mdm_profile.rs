//! `installer-tool mdm-profile`: the configuration profile MDM pushes with
//! the pkg. Judged by readers we did not write: Python's plistlib reads
//! it, Apple's own payload schemas (tests/fixtures/device-management) say
//! which keys, types and values are valid, openssl checks the signature,
//! and apple-codesign's policy code derives the designated requirement the
//! VPN payload pins.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use system_tests::{
    installer_tool, make_p12, release_config_with, run_ok, workspace_root, CertKind, P12_PASSWORD,
    TEAM_ID,
};

const PRIVATE_KEY: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const TUNNEL: &str = "[Interface]\n\
    PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
    Address = 10.64.0.2/32\n\
    DNS = 10.64.0.1\n\
    \n\
    [Peer]\n\
    PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n\
    Endpoint = vpn.example.net:51820\n\
    AllowedIPs = 0.0.0.0/0, ::/0\n";

/// A copy of the release config whose `[mdm]` table is `mdm`.
fn config_with_mdm(dir: &Path, mdm: &str) -> PathBuf {
    release_config_with(dir, "1.0.0", "mdm", mdm)
}

fn mdm_profile(config: &Path, output: &Path, extra: &[&str]) -> Output {
    Command::new(installer_tool())
        .arg("mdm-profile")
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(output)
        .args(extra)
        .env_remove("INSTALLER_TOOL_APP_P12")
        .env_remove("INSTALLER_TOOL_APP_P12_PASSWORD")
        .output()
        .expect("installer-tool runs")
}

/// `mdm-profile` run to success.
fn written(config: &Path, output: &Path, extra: &[&str]) -> Output {
    let out = mdm_profile(config, output, extra);
    assert!(
        out.status.success(),
        "mdm-profile failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The profile as Python's plistlib reads it, as JSON.
fn read_plist(path: &Path) -> Value {
    let out = run_ok(
        "plistlib",
        Command::new("python3")
            .arg("-c")
            .arg(
                "import json, plistlib, sys\n\
             print(json.dumps(plistlib.load(open(sys.argv[1], 'rb')), default=str))",
            )
            .arg(path),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Apple's schemas' verdict: Ok, or the violations it printed.
fn schema_check(profile: &Path) -> Result<(), String> {
    let root = workspace_root();
    let out = Command::new("python3")
        .arg(root.join("tests/scripts/mobileconfig_schema.py"))
        .arg(root.join("tests/fixtures/device-management"))
        .arg(profile)
        .output()
        .expect("python3 runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

fn payload<'a>(profile: &'a Value, payload_type: &str) -> &'a Value {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["PayloadType"] == payload_type)
        .unwrap_or_else(|| panic!("no {payload_type} payload in {profile:#}"))
}

/// Apple's designated requirement of Developer ID code, as apple-codesign's
/// policy derives it, in the text `codesign -d -r-` prints (comments
/// dropped, `certificate 0` is the leaf).
fn developer_id_requirement(identifier: &str) -> String {
    let expression = apple_codesign::CodeRequirementExpression::And(
        Box::new(apple_codesign::CodeRequirementExpression::Identifier(
            identifier.to_string().into(),
        )),
        Box::new(apple_codesign::developer_id_signed_expression(TEAM_ID)),
    );
    expression
        .to_string()
        .replace(" /* exists */", "")
        .replace("certificate 0[", "certificate leaf[")
        .replace(['(', ')'], "")
}

#[test]
fn the_profile_pre_approves_the_extension_and_configures_the_vpn_by_apples_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_mdm(
        dir.path(),
        "organization = \"Example Inc.\"\non-demand = \"outside-trusted-wifi\"\n\
         trusted-ssids = [\"Office\", \"Home Wi-Fi\"]\n",
    );
    let tunnel = dir.path().join("office.conf");
    std::fs::write(&tunnel, TUNNEL).unwrap();
    let output = dir.path().join("DemoVPN.mobileconfig");
    written(&config, &output, &["--tunnel", tunnel.to_str().unwrap()]);

    schema_check(&output)
        .unwrap_or_else(|violations| panic!("the profile breaks Apple's schemas:\n{violations}"));
    let profile = read_plist(&output);
    assert_eq!(profile["PayloadType"], "Configuration");
    assert_eq!(profile["PayloadIdentifier"], "com.example.demovpn.profile");
    assert_eq!(profile["PayloadOrganization"], "Example Inc.");
    assert_eq!(profile["PayloadScope"], "System");
    let types: Vec<&str> = profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PayloadType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "com.apple.system-extension-policy",
            "com.apple.vpn.managed",
            "com.apple.servicemanagement",
            "com.apple.notificationsettings"
        ]
    );

    let policy = payload(&profile, "com.apple.system-extension-policy");
    let extension = serde_json::json!({ TEAM_ID: ["com.example.demovpn.tunnel"] });
    assert_eq!(policy["AllowedSystemExtensions"], extension);
    assert_eq!(policy["RemovableSystemExtensions"], extension);
    assert_eq!(
        policy["AllowedSystemExtensionTypes"],
        serde_json::json!({ TEAM_ID: ["NetworkExtension"] })
    );

    let vpn = payload(&profile, "com.apple.vpn.managed");
    assert_eq!(vpn["VPNType"], "VPN");
    assert_eq!(vpn["VPNSubType"], "com.example.demovpn");
    assert_eq!(vpn["UserDefinedName"], "Demo VPN");
    let settings = &vpn["VPN"];
    assert_eq!(
        settings["ProviderBundleIdentifier"],
        "com.example.demovpn.tunnel"
    );
    assert_eq!(settings["ProviderType"], "packet-tunnel");
    assert_eq!(
        settings["ProviderDesignatedRequirement"],
        developer_id_requirement("com.example.demovpn.tunnel")
    );
    // Without mdm.remote-address, the tunnel's endpoint names the server.
    assert_eq!(settings["RemoteAddress"], "vpn.example.net:51820");
    assert_eq!(settings["OnDemandEnabled"], 1);
    assert_eq!(
        settings["OnDemandRules"],
        serde_json::json!([
            {"Action": "Disconnect", "InterfaceTypeMatch": "WiFi", "SSIDMatch": ["Office", "Home Wi-Fi"]},
            {"Action": "Connect"}
        ])
    );
    // The tunnel travels as the file is, under the keys the extension reads.
    assert_eq!(
        vpn["VendorConfig"][vpn_release::provider_configuration::WG_QUICK],
        TUNNEL
    );
    assert_eq!(
        vpn["VendorConfig"][vpn_release::provider_configuration::PROFILE],
        "office"
    );

    let login_items = payload(&profile, "com.apple.servicemanagement");
    assert_eq!(
        login_items["Rules"][0]["RuleType"], "TeamIdentifier",
        "{login_items:#}"
    );
    assert_eq!(login_items["Rules"][0]["RuleValue"], TEAM_ID);
    let notifications = payload(&profile, "com.apple.notificationsettings");
    assert_eq!(
        notifications["NotificationSettings"][0]["BundleIdentifier"],
        "com.example.demovpn"
    );
    assert_eq!(
        notifications["NotificationSettings"][0]["NotificationsEnabled"],
        true
    );
}

#[test]
fn the_schema_check_names_what_a_broken_profile_gets_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_mdm(
        dir.path(),
        "remote-address = \"vpn.example.com\"\non-demand = \"always\"\n",
    );
    let output = dir.path().join("p.mobileconfig");
    written(&config, &output, &[]);
    schema_check(&output).unwrap();
    // A boolean where Apple's schema wants the integer 1, and a misspelt key.
    let text = std::fs::read_to_string(&output).unwrap();
    let broken = text
        .replacen(
            "<key>OnDemandEnabled</key>\n\t\t\t\t<integer>1</integer>",
            "<key>OnDemandEnabled</key>\n\t\t\t\t<true/>",
            1,
        )
        .replacen("<key>VPNSubType</key>", "<key>VPNSubtype</key>", 1);
    assert_ne!(broken, text, "the edits apply");
    std::fs::write(&output, broken).unwrap();
    let violations = schema_check(&output).unwrap_err();
    assert!(
        violations.contains("VPN.OnDemandEnabled: is a boolean, the schema says <integer>"),
        "{violations}"
    );
    assert!(
        violations.contains("VPNSubtype: is not a key of this payload's schema"),
        "{violations}"
    );
}

#[test]
fn identifiers_stay_and_uuids_are_fresh_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_mdm(dir.path(), "remote-address = \"vpn.example.com\"\n");
    let (first, second) = (
        dir.path().join("1.mobileconfig"),
        dir.path().join("2.mobileconfig"),
    );
    written(&config, &first, &[]);
    written(&config, &second, &[]);
    let ids = |path: &Path| {
        let profile = read_plist(path);
        let mut pairs = vec![(
            profile["PayloadIdentifier"].as_str().unwrap().to_string(),
            profile["PayloadUUID"].as_str().unwrap().to_string(),
        )];
        for payload in profile["PayloadContent"].as_array().unwrap() {
            pairs.push((
                payload["PayloadIdentifier"].as_str().unwrap().to_string(),
                payload["PayloadUUID"].as_str().unwrap().to_string(),
            ));
        }
        pairs
    };
    let (a, b) = (ids(&first), ids(&second));
    let uuid =
        regex::Regex::new("^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
            .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for ((id_a, uuid_a), (id_b, uuid_b)) in a.iter().zip(&b) {
        assert_eq!(id_a, id_b, "identifiers are stable");
        assert!(uuid.is_match(uuid_a), "{uuid_a} is an upper-case v4 UUID");
        assert!(
            seen.insert(uuid_a.clone()) && seen.insert(uuid_b.clone()),
            "every UUID is new"
        );
    }
    // Identifiers are unique within the profile (CommonPayloadKeys.yaml).
    let unique: std::collections::BTreeSet<_> = a.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), a.len());
}

#[test]
fn a_signed_profile_holds_itself_and_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_mdm(dir.path(), "remote-address = \"vpn.example.com\"\n");
    let p12 = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let output = dir.path().join("signed.mobileconfig");
    let report = run_ok(
        "mdm-profile --sign-p12",
        Command::new(installer_tool())
            .args(["mdm-profile", "--json", "--config"])
            .arg(&config)
            .arg("--output")
            .arg(&output)
            .arg("--sign-p12")
            .arg(&p12)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD),
    );
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["signed_by"]["purpose"], "application", "{report:#}");

    let content = dir.path().join("content.plist");
    let signer = dir.path().join("signer.pem");
    run_ok(
        "openssl cms -verify",
        Command::new("openssl")
            .args([
                "cms",
                "-verify",
                "-noverify",
                "-binary",
                "-inform",
                "DER",
                "-in",
            ])
            .arg(&output)
            .arg("-out")
            .arg(&content)
            .arg("-signer")
            .arg(&signer),
    );
    let profile = read_plist(&content);
    assert_eq!(profile["PayloadIdentifier"], "com.example.demovpn.profile");
    schema_check(&content).unwrap();
    // The signer is the p12's certificate.
    let fingerprint = |pem: &Path| {
        run_ok(
            "openssl x509 -fingerprint",
            Command::new("openssl")
                .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
                .arg(pem),
        )
        .stdout
    };
    let certificate = p12.with_extension("crt");
    assert_eq!(fingerprint(&signer), fingerprint(&certificate));

    // An Installer identity is refused, naming the kind it needs.
    let installer = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
    let refused = Command::new(installer_tool())
        .args(["mdm-profile", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(dir.path().join("other.mobileconfig"))
        .arg("--sign-p12")
        .arg(&installer)
        .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("Developer ID Application"), "{stderr}");
    assert!(!dir.path().join("other.mobileconfig").exists());
}

#[test]
fn bad_input_is_named_with_its_fix_and_the_previous_profile_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("DemoVPN.mobileconfig");
    std::fs::write(&output, "the previous profile").unwrap();
    let no_key = dir.path().join("broken.conf");
    std::fs::write(&no_key, "[Peer]\nEndpoint = vpn.example.net:51820\n").unwrap();
    let badly_named = dir.path().join("office vpn.conf");
    std::fs::write(&badly_named, TUNNEL).unwrap();
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "on-demand = \"outside-trusted-wifi\"\nremote-address = \"vpn.example.com\"\n",
            &[],
            &[
                "release.toml",
                "mdm.trusted-ssids",
                "help: list the Wi-Fi names",
            ],
        ),
        (
            "",
            &[],
            &["mdm.remote-address", "help: set [mdm] remote-address"],
        ),
        (
            "",
            &["--tunnel", no_key.to_str().unwrap()],
            &["broken.conf", "PrivateKey", "help: pass the tunnel's .conf"],
        ),
        (
            "",
            &["--tunnel", badly_named.to_str().unwrap()],
            &[
                "office vpn.conf",
                "not named like a profile",
                "help: name the file",
            ],
        ),
    ];
    for (index, (mdm, extra, expected)) in cases.into_iter().enumerate() {
        let case = dir.path().join(format!("case{index}"));
        let config = config_with_mdm(&case, mdm);
        let out = mdm_profile(&config, &output, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {index} succeeded");
        for wanted in expected {
            assert!(
                stderr.contains(wanted),
                "case {index}: no {wanted:?} in:\n{stderr}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "the previous profile",
            "case {index} touched the previous profile"
        );
    }
}

#[test]
fn a_profile_with_a_tunnel_is_private_and_its_key_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_mdm(dir.path(), "");
    let tunnel = dir.path().join("office.conf");
    std::fs::write(&tunnel, TUNNEL).unwrap();
    let private = dir.path().join("private.mobileconfig");
    for json in [false, true] {
        let mut extra = vec!["--tunnel", tunnel.to_str().unwrap()];
        if json {
            extra.push("--json");
        }
        let out = written(&config, &private, &extra);
        for stream in [&out.stdout, &out.stderr] {
            assert!(!String::from_utf8_lossy(stream).contains(PRIVATE_KEY));
        }
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "a profile with a private key is its owner's only"
        );
    }
    let public = dir.path().join("public.mobileconfig");
    let config = config_with_mdm(
        &dir.path().join("public"),
        "remote-address = \"vpn.example.com\"\n",
    );
    written(&config, &public, &[]);
    let mode = std::fs::metadata(&public).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}
