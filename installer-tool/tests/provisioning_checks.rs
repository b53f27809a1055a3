//! The provisioning checks of build-pkg, driven through the library: a
//! profile as the developer portal writes it passes for both bundles, and
//! each way a profile can fall short is refused, naming the key and the fix.
//! (The command-line path, with profiles signed by openssl, is
//! `tests/tests/provisioning.rs`.)

mod common;

use std::path::Path;

use common::{write, GOOD};

use apple_codesign::KnownCertificate;
use chrono::{DateTime, Duration, Utc};
use plist::{Dictionary, Value};
use sha2::{Digest, Sha256};
use vpn_release::{BundleId, TeamId};
use x509_certificate::{KeyAlgorithm, X509CertificateBuilder};

use installer_tool::{
    config::Release,
    entitlements::{
        Entitlements, Role, APP_GROUPS, NETWORK_EXTENSION, PACKET_TUNNEL_SYSTEM_EXTENSION,
        SYSTEM_EXTENSION_INSTALL,
    },
    provisioning::*,
    signing::{Purpose, SigningIdentity},
};

const TEAM: &str = "ABCDE12345";
const APP: &str = "com.example.demovpn";
const EXTENSION: &str = "com.example.demovpn.tunnel";

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn team() -> TeamId {
    TEAM.parse().unwrap()
}

/// The workspace's own entitlements, loaded as build-pkg loads them.
fn entitlements(role: Role) -> (BundleId, Entitlements) {
    let (bundle, file) = match role {
        Role::App => (APP, "app.entitlements"),
        Role::Extension => (EXTENSION, "extension.entitlements"),
    };
    let bundle: BundleId = bundle.parse().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../signing")
        .join(file);
    let loaded = Entitlements::load(&path, role, &team(), &bundle).unwrap();
    (bundle, loaded)
}

/// A throwaway certificate (DER) standing in for the Application identity.
fn developer_certificate() -> Vec<u8> {
    let (certificate, _) = X509CertificateBuilder::default()
        .create_with_random_keypair(KeyAlgorithm::Ed25519)
        .unwrap();
    certificate.constructed_data().to_vec()
}

/// What the developer portal writes into a Developer ID profile for
/// `bundle` whose App ID has the Network Extensions and System
/// Extension capabilities.
fn good_plist(bundle: &str, certificate: &[u8]) -> Dictionary {
    let strings = |items: &[&str]| Value::Array(items.iter().map(|s| Value::from(*s)).collect());
    let mut entitlements = Dictionary::new();
    entitlements.insert(MACOS_APP_ID.into(), format!("{TEAM}.{bundle}").into());
    entitlements.insert("com.apple.developer.team-identifier".into(), TEAM.into());
    entitlements.insert(
        NETWORK_EXTENSION.into(),
        strings(&[
            "packet-tunnel-provider-systemextension",
            "app-proxy-provider-systemextension",
            "content-filter-provider-systemextension",
            "dns-proxy-systemextension",
        ]),
    );
    entitlements.insert(SYSTEM_EXTENSION_INSTALL.into(), true.into());
    entitlements.insert(
        "keychain-access-groups".into(),
        strings(&[&format!("{TEAM}.*")]),
    );
    let mut plist = Dictionary::new();
    plist.insert(
        "Name".into(),
        format!("DemoVPN Developer ID {bundle}").into(),
    );
    plist.insert("Platform".into(), strings(&["OSX"]));
    plist.insert(TEAM_IDENTIFIER.into(), strings(&[TEAM]));
    plist.insert(
        DEVELOPER_CERTIFICATES.into(),
        Value::Array(vec![Value::Data(certificate.to_vec())]),
    );
    plist.insert(
        EXPIRATION_DATE.into(),
        Value::Date(std::time::SystemTime::from(now() + Duration::days(365)).into()),
    );
    plist.insert(PROVISIONS_ALL_DEVICES.into(), true.into());
    plist.insert(ENTITLEMENTS.into(), entitlements.into());
    plist
}

/// The plist wrapped as the portal does: CMS SignedData with the XML
/// inside, signed by a throwaway key.
fn sign(plist: &Dictionary) -> Vec<u8> {
    let (certificate, key) = X509CertificateBuilder::default()
        .create_with_random_keypair(KeyAlgorithm::Ed25519)
        .unwrap();
    provisioning_profile::sign(plist, &key, &certificate).unwrap()
}

fn entitlements_of(plist: &mut Dictionary) -> &mut Dictionary {
    plist
        .get_mut(ENTITLEMENTS)
        .and_then(Value::as_dictionary_mut)
        .unwrap()
}

/// Signs `plist`, decodes it back and checks it for `role`.
fn problems(role: Role, plist: &Dictionary, certificate: &[u8]) -> Vec<Problem> {
    let (bundle, entitlements) = entitlements(role);
    let team = team();
    let profile = ProvisioningProfile::from_der(&sign(plist)).unwrap();
    check(
        &profile,
        &Expected {
            bundle_id: &bundle,
            team: &team,
            entitlements: &entitlements,
            certificate: Some(certificate),
            now: now(),
        },
    )
}

/// The one problem of a profile broken in one way.
fn only_problem(role: Role, plist: &Dictionary, certificate: &[u8]) -> Problem {
    let mut found = problems(role, plist, certificate);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

#[test]
fn good_profiles_pass_for_both_bundles() {
    let certificate = developer_certificate();
    for (role, bundle) in [(Role::App, APP), (Role::Extension, EXTENSION)] {
        let found = problems(role, &good_plist(bundle, &certificate), &certificate);
        assert_eq!(found, [], "{bundle}");
    }
    let decoded = ProvisioningProfile::from_der(&sign(&good_plist(APP, &certificate))).unwrap();
    assert_eq!(decoded.developer_certificates, Some(vec![certificate]));
    assert_eq!(decoded.team_identifiers, Some(vec![TEAM.to_string()]));
    assert_eq!(decoded.provisions_all_devices, Some(true));
    assert_eq!(decoded.expiration_date, Some(now() + Duration::days(365)));
}

#[test]
fn a_missing_entitlement_is_named() {
    let certificate = developer_certificate();
    let mut plist = good_plist(APP, &certificate);
    entitlements_of(&mut plist).remove(SYSTEM_EXTENSION_INSTALL);
    let problem = only_problem(Role::App, &plist, &certificate);
    assert_eq!(
        problem.key,
        format!("Entitlements > {SYSTEM_EXTENSION_INSTALL}")
    );
    assert!(
        problem.problem.contains("missing") && problem.problem.contains("app.entitlements"),
        "{problem:?}"
    );
}

#[test]
fn the_app_store_network_extension_value_does_not_cover_ours() {
    let certificate = developer_certificate();
    let mut plist = good_plist(EXTENSION, &certificate);
    entitlements_of(&mut plist).insert(
        NETWORK_EXTENSION.into(),
        Value::Array(vec!["packet-tunnel-provider".into()]),
    );
    let problem = only_problem(Role::Extension, &plist, &certificate);
    assert_eq!(problem.key, format!("Entitlements > {NETWORK_EXTENSION}"));
    assert!(
        problem.problem.contains(PACKET_TUNNEL_SYSTEM_EXTENSION)
            && problem.help.contains(PACKET_TUNNEL_SYSTEM_EXTENSION),
        "{problem:?}"
    );
}

#[test]
fn a_profile_for_another_app_id_is_refused() {
    let certificate = developer_certificate();
    // The app's profile given for the extension.
    let problem = only_problem(
        Role::Extension,
        &good_plist(APP, &certificate),
        &certificate,
    );
    assert_eq!(problem.key, format!("Entitlements > {MACOS_APP_ID}"));
    assert!(
        problem.problem.contains(&format!("{TEAM}.{EXTENSION}")),
        "{problem:?}"
    );
}

#[test]
fn wildcard_app_ids_cover_what_they_prefix() {
    let certificate = developer_certificate();
    for (pattern, covers) in [
        (format!("{TEAM}.*"), true),
        (format!("{TEAM}.com.example.*"), true),
        (format!("{TEAM}.com.example.demovpn.*"), true),
        (format!("{TEAM}.com.other.*"), false),
        ("ZZZZZ99999.*".to_string(), false),
        (format!("{TEAM}.com.example.demovpn"), false),
    ] {
        let mut plist = good_plist(EXTENSION, &certificate);
        entitlements_of(&mut plist).insert(MACOS_APP_ID.into(), pattern.clone().into());
        let found = problems(Role::Extension, &plist, &certificate);
        assert_eq!(found.is_empty(), covers, "{pattern}: {found:#?}");
    }
    // iOS spells the key without the `com.apple.` prefix.
    let mut plist = good_plist(EXTENSION, &certificate);
    let entitlements = entitlements_of(&mut plist);
    entitlements.remove(MACOS_APP_ID);
    entitlements.insert(APP_ID.into(), format!("{TEAM}.*").into());
    assert_eq!(problems(Role::Extension, &plist, &certificate), []);
    assert!(pattern_allows("*", "anything"));
    assert!(!pattern_allows("ABC.x", "ABC.xy"));
}

#[test]
fn another_team_is_refused() {
    let certificate = developer_certificate();
    let mut plist = good_plist(APP, &certificate);
    plist.insert(
        TEAM_IDENTIFIER.into(),
        Value::Array(vec!["ZZZZZ99999".into()]),
    );
    let problem = only_problem(Role::App, &plist, &certificate);
    assert_eq!(problem.key, TEAM_IDENTIFIER);
    assert!(
        problem.problem.contains("ZZZZZ99999") && problem.help.contains(TEAM),
        "{problem:?}"
    );
}

#[test]
fn a_profile_without_the_signing_certificate_is_refused() {
    let listed = developer_certificate();
    let signing = developer_certificate();
    let problem = only_problem(Role::App, &good_plist(APP, &listed), &signing);
    assert_eq!(problem.key, DEVELOPER_CERTIFICATES);
    let fingerprint = hex::encode_upper(Sha256::digest(&signing));
    assert!(problem.problem.contains(&fingerprint), "{problem:?}");
    assert!(problem.help.contains("--app-p12"), "{problem:?}");
}

#[test]
fn an_expired_profile_is_refused() {
    let certificate = developer_certificate();
    let mut plist = good_plist(APP, &certificate);
    plist.insert(
        EXPIRATION_DATE.into(),
        Value::Date(std::time::SystemTime::from(now() - Duration::days(1)).into()),
    );
    let problem = only_problem(Role::App, &plist, &certificate);
    assert_eq!(problem.key, EXPIRATION_DATE);
    assert!(problem.problem.contains("expired"), "{problem:?}");
}

#[test]
fn only_developer_id_profiles_provision_all_devices() {
    let certificate = developer_certificate();
    let mut missing = good_plist(APP, &certificate);
    missing.remove(PROVISIONS_ALL_DEVICES);
    let mut development = good_plist(APP, &certificate);
    development.insert(PROVISIONS_ALL_DEVICES.into(), false.into());
    for plist in [missing, development] {
        let problem = only_problem(Role::App, &plist, &certificate);
        assert_eq!(problem.key, PROVISIONS_ALL_DEVICES);
        assert!(problem.help.contains("Developer ID"), "{problem:?}");
    }
}

#[test]
fn unrestricted_entitlements_need_no_profile() {
    // App groups are signed but absent from the profile: macOS grants
    // team-prefixed groups without one (TN3125).
    let certificate = developer_certificate();
    let plist = good_plist(APP, &certificate);
    assert!(!entitlements_of(&mut plist.clone()).contains_key(APP_GROUPS));
    assert_eq!(problems(Role::App, &plist, &certificate), []);
}

#[test]
fn the_error_names_the_file_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = developer_certificate();
    let mut plist = good_plist(EXTENSION, &certificate);
    entitlements_of(&mut plist).remove(NETWORK_EXTENSION);
    plist.remove(PROVISIONS_ALL_DEVICES);
    let path = dir.path().join("Tunnel.provisionprofile");
    std::fs::write(&path, sign(&plist)).unwrap();
    let (bundle, entitlements) = entitlements(Role::Extension);
    let team = team();
    let expected = Expected {
        bundle_id: &bundle,
        team: &team,
        entitlements: &entitlements,
        certificate: Some(&certificate),
        now: now(),
    };
    let err = check_file(&path, "extension.provisioning-profile", &expected).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Tunnel.provisionprofile")
            && message.contains(PROVISIONS_ALL_DEVICES)
            && message.contains("1 more problem"),
        "{message}"
    );
    assert!(err.help().is_some_and(|help| !help.is_empty()), "{err:?}");

    std::fs::write(&path, b"profile bytes").unwrap();
    let message = check_file(&path, "extension.provisioning-profile", &expected)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("Tunnel.provisionprofile") && message.contains("not a signed profile"),
        "{message}"
    );
}

#[test]
fn profiles_are_required_only_of_identities_issued_by_apple() {
    assert!(!profiles_required(None));
    let self_signed = SigningIdentity::self_signed(Purpose::Application, &team(), "Test").unwrap();
    assert!(!profiles_required(Some(&self_signed.certificate)));
    // No Apple-issued leaf with its key is at hand; Apple's own Developer
    // ID CA chains to the Apple root just as one would.
    assert!(profiles_required(Some(&*KnownCertificate::DeveloperIdG2)));
}

/// A release like the workspace's, with `app_extra` appended to `[app]`
/// and `extension_extra` to `[extension]`.
fn release(dir: &Path, app_extra: &str, extension_extra: &str) -> Release {
    let app = "entitlements = \"signing/app.entitlements\"";
    let extension = "entitlements = \"signing/extension.entitlements\"";
    let text = GOOD
        .replace(app, &format!("{app}\n{app_extra}"))
        .replace(extension, &format!("{extension}\n{extension_extra}"));
    Release::load(&write(dir, &text, "1.2.3")).unwrap()
}

#[test]
fn an_apple_identity_without_profiles_is_refused_and_a_self_signed_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let without = release(dir.path(), "", "");
    assert!(check_release(&without, None, now()).is_ok());
    let self_signed = SigningIdentity::self_signed(Purpose::Application, &team(), "Test").unwrap();
    assert!(check_release(&without, Some(&self_signed.certificate), now()).is_ok());
    let err = check_release(&without, Some(&*KnownCertificate::DeveloperIdG2), now()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("app.provisioning-profile") && message.contains("issued by Apple"),
        "{message}"
    );
    let help = err.help().unwrap_or_default();
    assert!(help.contains("app.provisioning-profile = "), "{help}");
}

#[test]
fn given_profiles_are_checked_with_any_identity() {
    let dir = tempfile::tempdir().unwrap();
    let self_signed = SigningIdentity::self_signed(Purpose::Application, &team(), "Test").unwrap();
    let certificate = self_signed.certificate.constructed_data();
    let write = |name: &str, plist: &Dictionary| {
        std::fs::create_dir_all(dir.path().join("signing")).unwrap();
        std::fs::write(dir.path().join("signing").join(name), sign(plist)).unwrap();
    };
    write("app.provisionprofile", &good_plist(APP, certificate));
    let mut wrong = good_plist(EXTENSION, certificate);
    entitlements_of(&mut wrong).remove(NETWORK_EXTENSION);
    write("tunnel.provisionprofile", &wrong);
    let release = release(
        dir.path(),
        "provisioning-profile = \"signing/app.provisionprofile\"",
        "provisioning-profile = \"signing/tunnel.provisionprofile\"",
    );
    let message = check_release(&release, Some(&self_signed.certificate), now())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("tunnel.provisionprofile") && message.contains(NETWORK_EXTENSION),
        "{message}"
    );
    write(
        "tunnel.provisionprofile",
        &good_plist(EXTENSION, certificate),
    );
    check_release(&release, Some(&self_signed.certificate), now()).unwrap();
    // Ad-hoc (`--dev`): no certificate to look for, the rest still holds.
    check_release(&release, None, now()).unwrap();
}
