//! The signed executables inside the demo pkg: code hashes against their
//! CodeDirectory (what `rcodesign compute-code-hashes` and `extract
//! code-directory` compare, done with the same library, and again by our own
//! reader, `system_tests::codesig`), CMS signer checked by openssl, the
//! signed entitlements (the 0xfade7171 blob, parsed and compared value by
//! value), hardened runtime and the versioned service name bound through the
//! Info.plist hash.

use std::path::Path;

use apple_codesign::{CodeSignatureFlags, CodeSigningSlot, MachFile};
use plist::{Dictionary, Value};
use sha2::{Digest, Sha256};
use system_tests::{
    assert_signature_verifies, cms_verify, codesig, demo_pkg, fingerprint, signed_entitlements,
    TEAM_ID,
};

const SERVICE_NAME: &str = "ABCDE12345.group.com.example.demovpn.tunnel.1.0.0";

struct Expected<'a> {
    executable: &'a Path,
    info_plist: &'a Path,
    identifier: &'a str,
    /// The whole entitlements dictionary that must be signed in, with the
    /// team prefixes of `signing/*.entitlements` expanded.
    entitlements: Dictionary,
}

/// What `signing/<role>.entitlements` says for the bundle `identifier`,
/// with `$(AppIdentifierPrefix)`, `$(TeamIdentifierPrefix)` and
/// `$(DEVELOPMENT_TEAM)` expanded for the test team.
fn expected_entitlements(identifier: &str, installs_extensions: bool) -> Dictionary {
    let mut dict = Dictionary::new();
    dict.insert(
        "com.apple.application-identifier".into(),
        Value::String(format!("{TEAM_ID}.{identifier}")),
    );
    dict.insert(
        "com.apple.developer.networking.networkextension".into(),
        Value::Array(vec![Value::String(
            "packet-tunnel-provider-systemextension".into(),
        )]),
    );
    if installs_extensions {
        dict.insert(
            "com.apple.developer.system-extension.install".into(),
            Value::Boolean(true),
        );
    }
    dict.insert(
        "com.apple.developer.team-identifier".into(),
        Value::String(TEAM_ID.into()),
    );
    dict.insert(
        "com.apple.security.application-groups".into(),
        Value::Array(vec![Value::String(format!(
            "{TEAM_ID}.group.com.example.demovpn"
        ))]),
    );
    dict
}

fn check_executable(expected: &Expected<'_>) {
    let built = demo_pkg();
    let data = std::fs::read(expected.executable).unwrap();
    let info_plist = std::fs::read(expected.info_plist).unwrap();
    // These are real, non-ad-hoc signatures, so rcodesign's checks apply.
    assert_signature_verifies(expected.identifier, &data);
    let file = MachFile::parse(&data).unwrap();
    let slices: Vec<_> = file.iter_macho().collect();
    assert_eq!(slices.len(), 2, "universal: arm64 and x86_64");
    let independent = codesig::signed_slices(&data);
    assert_eq!(independent.len(), 2);
    let work = tempfile::tempdir().unwrap();
    for (index, macho) in slices.into_iter().enumerate() {
        let signature = macho.code_signature().unwrap().expect("signed");
        let cd = signature
            .code_directory()
            .unwrap()
            .expect("a CodeDirectory");
        assert_eq!(cd.ident, expected.identifier);
        assert_eq!(cd.team_name.as_deref(), Some(TEAM_ID));
        assert!(
            cd.flags.contains(CodeSignatureFlags::RUNTIME),
            "hardened runtime"
        );
        assert_eq!(
            cd.special_digests
                .get(&CodeSigningSlot::Info)
                .map(|d| d.to_vec()),
            Some(Sha256::digest(&info_plist).to_vec()),
            "the Info.plist (with the service name) is bound into the signature"
        );
        // The entitlements blob (0xfade7171) read out of the signature by our
        // own SuperBlob reader, parsed as a plist and compared key by key.
        let signed = &independent[index];
        assert_eq!(
            signed.entitlements(),
            expected.entitlements,
            "{} slice {index}: signed entitlements",
            expected.identifier
        );
        for directory in signed.code_directories() {
            assert_eq!(directory.identifier, expected.identifier);
        }

        // The CMS signature over the CodeDirectory, read by openssl.
        let cms = work.path().join(format!("cms-{index}.der"));
        std::fs::write(&cms, signature.signature_data().unwrap().expect("CMS blob")).unwrap();
        let cd_blob = work.path().join(format!("cd-{index}.bin"));
        std::fs::write(
            &cd_blob,
            signature
                .find_slot(CodeSigningSlot::CodeDirectory)
                .unwrap()
                .data,
        )
        .unwrap();
        let signer = work.path().join(format!("signer-{index}.pem"));
        let verified = cms_verify(&cms, &cd_blob, &signer);
        assert!(
            verified.status.success(),
            "Mach-O CMS signature: {verified:?}"
        );
        assert_eq!(
            fingerprint(&signer),
            fingerprint(&built.app_cert),
            "signed by the identity passed in"
        );
    }
    // apple-codesign's reading of the same blob agrees.
    for read_by_apple_codesign in signed_entitlements(expected.identifier, &data) {
        assert_eq!(read_by_apple_codesign, expected.entitlements);
    }
}

#[test]
fn extension_executable_is_signed_with_its_own_entitlements() {
    let built = demo_pkg();
    let contents = built.extension().join("Contents");
    check_executable(&Expected {
        executable: &contents.join("MacOS/vpn-extension"),
        info_plist: &contents.join("Info.plist"),
        identifier: "com.example.demovpn.tunnel",
        entitlements: expected_entitlements("com.example.demovpn.tunnel", false),
    });
    let info = plist::Value::from_file(contents.join("Info.plist")).unwrap();
    let ne = info.as_dictionary().unwrap()["NetworkExtension"]
        .as_dictionary()
        .unwrap();
    assert_eq!(ne["NEMachServiceName"].as_string(), Some(SERVICE_NAME));
    assert_eq!(
        ne["NEProviderClasses"].as_dictionary().unwrap()
            ["com.apple.networkextension.packet-tunnel"]
            .as_string(),
        Some("PacketTunnelProvider")
    );
    let executable = std::fs::read(built.extension().join("Contents/MacOS/vpn-extension")).unwrap();
    for signed in codesig::signed_slices(&executable) {
        let entitlements = signed.entitlements();
        assert!(
            !entitlements.contains_key("com.apple.developer.system-extension.install"),
            "only the app may install system extensions"
        );
        // sysextd's category check: the Mach service name is a descendant
        // of an app group signed into the extension ("GGG." is the prefix
        // it looks for; Apple DTS, forums thread 708017).
        let groups: Vec<&str> = entitlements["com.apple.security.application-groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(plist::Value::as_string)
            .collect();
        assert!(
            groups
                .iter()
                .any(|g| SERVICE_NAME.starts_with(&format!("{g}."))),
            "{SERVICE_NAME} is under none of {groups:?}"
        );
    }
}

#[test]
fn app_executable_is_signed_and_names_the_same_service() {
    let built = demo_pkg();
    let contents = built.app().join("Contents");
    check_executable(&Expected {
        executable: &contents.join("MacOS/vpn-app"),
        info_plist: &contents.join("Info.plist"),
        identifier: "com.example.demovpn",
        entitlements: expected_entitlements("com.example.demovpn", true),
    });
    let info = plist::Value::from_file(contents.join("Info.plist")).unwrap();
    let info = info.as_dictionary().unwrap();
    assert_eq!(
        info["VPNExtensionMachServiceName"].as_string(),
        Some(SERVICE_NAME)
    );
    // Launched by LaunchServices, it is an accessory app: no Dock icon.
    assert_eq!(info["LSUIElement"].as_boolean(), Some(true));
    assert_eq!(
        info["CFBundleShortVersionString"].as_string(),
        Some("1.0.0")
    );
    assert_eq!(info["CFBundleVersion"].as_string(), Some("1.0.0"));
    // The stand-ins run and say what they are (checked on the arm64 slice's
    // strings: this machine cannot execute Mach-O).
    let data = std::fs::read(contents.join("MacOS/vpn-app")).unwrap();
    assert!(String::from_utf8_lossy(&data).contains("stand-in executable built by installer-tool"));
    assert_eq!(built.report["stand_ins"], true);
}

#[test]
fn app_seal_covers_the_signed_extension() {
    // The extension sits outside codesign's "nested" directories, so the
    // app's CodeResources seals its files by hash, as Apple's codesign does.
    // The hashes must be those of the final, signed files.
    let built = demo_pkg();
    let resources =
        plist::Value::from_file(built.app().join("Contents/_CodeSignature/CodeResources")).unwrap();
    let files2 = resources.as_dictionary().unwrap()["files2"]
        .as_dictionary()
        .unwrap();
    let prefix = "Library/SystemExtensions/com.example.demovpn.tunnel.systemextension/Contents";
    for file in ["MacOS/vpn-extension", "Info.plist"] {
        let key = format!("{prefix}/{file}");
        let sealed = files2
            .get(&key)
            .and_then(|v| v.as_dictionary())
            .and_then(|d| d.get("hash2"))
            .and_then(|h| h.as_data())
            .unwrap_or_else(|| panic!("{key} not sealed: {:?}", files2.keys().collect::<Vec<_>>()));
        let actual =
            Sha256::digest(std::fs::read(built.extension().join("Contents").join(file)).unwrap());
        assert_eq!(sealed, actual.as_slice(), "{key}");
    }
}
