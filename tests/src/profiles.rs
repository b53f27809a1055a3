//! Provisioning profiles for the tests, made as the developer portal makes
//! them: an XML plist inside CMS SignedData, signed by openssl with a
//! throwaway key instead of Apple's (a writer we did not write, for a
//! reader we did), and a release config that names them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use plist::{Dictionary, Value};

use crate::{release_config_copy, run_ok, TEAM_ID};

pub const NETWORK_EXTENSION: &str = "com.apple.developer.networking.networkextension";

/// A copy of the workspace's release config and entitlements, both
/// `provisioning-profile` keys uncommented.
pub fn project_with_profiles(dir: &Path) -> PathBuf {
    let config = release_config_copy(dir, "3.0.0");
    let text = std::fs::read_to_string(&config).unwrap();
    let with_profiles = text
        .replace(
            "# provisioning-profile = \"signing/DemoVPN.provisionprofile\"",
            "provisioning-profile = \"signing/DemoVPN.provisionprofile\"",
        )
        .replace(
            "# provisioning-profile = \"signing/DemoVPN_Tunnel.provisionprofile\"",
            "provisioning-profile = \"signing/DemoVPN_Tunnel.provisionprofile\"",
        );
    assert_eq!(
        with_profiles.matches("\nprovisioning-profile = ").count(),
        2,
        "release.toml no longer shows the profile keys as comments:\n{text}"
    );
    std::fs::write(&config, with_profiles).unwrap();
    config
}

/// A Developer ID profile for `bundle` as the portal writes it, listing
/// `certificate`.
pub fn profile_plist(bundle: &str, certificate: &[u8]) -> Dictionary {
    let strings = |items: &[&str]| Value::Array(items.iter().map(|s| Value::from(*s)).collect());
    let mut entitlements = Dictionary::new();
    entitlements.insert(
        "com.apple.application-identifier".into(),
        format!("{TEAM_ID}.{bundle}").into(),
    );
    entitlements.insert("com.apple.developer.team-identifier".into(), TEAM_ID.into());
    entitlements.insert(
        NETWORK_EXTENSION.into(),
        strings(&[
            "packet-tunnel-provider-systemextension",
            "app-proxy-provider-systemextension",
        ]),
    );
    entitlements.insert(
        "com.apple.developer.system-extension.install".into(),
        true.into(),
    );
    let mut plist = Dictionary::new();
    plist.insert("Name".into(), format!("{bundle} Developer ID").into());
    plist.insert("TeamIdentifier".into(), strings(&[TEAM_ID]));
    plist.insert(
        "DeveloperCertificates".into(),
        Value::Array(vec![Value::Data(certificate.to_vec())]),
    );
    let in_a_year = std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 86_400);
    plist.insert("ExpirationDate".into(), Value::Date(in_a_year.into()));
    plist.insert("ProvisionsAllDevices".into(), true.into());
    plist.insert("Entitlements".into(), entitlements.into());
    plist
}

/// Writes `plist` wrapped in CMS SignedData (content inside) to `path`.
pub fn write_profile(path: &Path, plist: &Dictionary) {
    let dir = path.parent().unwrap();
    let (key, cert, xml) = (
        dir.join("profile-signer.key"),
        dir.join("profile-signer.crt"),
        dir.join("profile.plist"),
    );
    if !cert.exists() {
        run_ok(
            "openssl req (profile signer)",
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=Test Provisioning Profile Signing"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
    }
    Value::Dictionary(plist.clone()).to_file_xml(&xml).unwrap();
    run_ok(
        "openssl cms -sign (profile)",
        Command::new("openssl")
            .args(["cms", "-sign", "-nodetach", "-binary", "-outform", "DER"])
            .arg("-in")
            .arg(&xml)
            .arg("-signer")
            .arg(&cert)
            .arg("-inkey")
            .arg(&key)
            .arg("-out")
            .arg(path),
    );
}
