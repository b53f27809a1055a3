//! Provisioning profiles in `build-pkg`: a profile that does not cover what
//! a bundle is signed with is refused before anything is built, naming the
//! file, the key and the fix; good ones end up in the bundles as
//! `Contents/embedded.provisionprofile`. Profiles are made here as the
//! developer portal makes them: an XML plist inside CMS SignedData (signed
//! by openssl with a throwaway key instead of Apple's).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use plist::Value;
use system_tests::{
    build_ok, build_pkg, make_p12,
    profiles::{profile_plist, project_with_profiles, write_profile, NETWORK_EXTENSION},
    run_ok, unpack_cpio_gz, unpack_xar, CertKind, P12_PASSWORD, TEAM_ID,
};

const APP: &str = "com.example.demovpn";
const EXTENSION: &str = "com.example.demovpn.tunnel";

/// The DER certificate of the identity in `p12`.
fn certificate_der(p12: &Path) -> Vec<u8> {
    run_ok(
        "openssl pkcs12 | openssl x509 -outform DER",
        Command::new("sh").args([
            "-c",
            "openssl pkcs12 -in \"$1\" -nokeys -clcerts -passin \"pass:$2\" | openssl x509 -outform DER",
            "sh",
        ])
        .arg(p12)
        .arg(P12_PASSWORD),
    )
    .stdout
}

struct Identities {
    app: PathBuf,
    installer: PathBuf,
}

fn identities(dir: &Path) -> Identities {
    Identities {
        app: make_p12(dir, CertKind::Application, TEAM_ID),
        installer: make_p12(dir, CertKind::Installer, TEAM_ID),
    }
}

fn build(out: &Path, config: &Path, identities: Option<&Identities>) -> Command {
    let mut command = build_pkg(out);
    command.arg("--config").arg(config);
    if let Some(ids) = identities {
        command
            .arg("--app-p12")
            .arg(&ids.app)
            .arg("--installer-p12")
            .arg(&ids.installer)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
            .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD);
    }
    command
}

/// Runs a build that must be refused; returns stderr.
fn refused(command: &mut Command, out: &Path) -> String {
    let output = command.output().expect("installer-tool runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a refusal:\n{stderr}"
    );
    assert!(!stderr.contains(P12_PASSWORD), "password leaked");
    let left: Vec<_> = std::fs::read_dir(out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a refused build left {left:?}");
    stderr
}

#[test]
fn a_profile_that_does_not_cover_the_bundle_is_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let (out, config) = (dir.path().join("out"), project_with_profiles(dir.path()));
    let signing = config.parent().unwrap().join("signing");
    let ids = identities(dir.path());
    let certificate = certificate_der(&ids.app);
    write_profile(
        &signing.join("DemoVPN.provisionprofile"),
        &profile_plist(APP, &certificate),
    );
    // The App Store value only: the system extension is not covered.
    let mut tunnel = profile_plist(EXTENSION, &certificate);
    tunnel
        .get_mut("Entitlements")
        .and_then(Value::as_dictionary_mut)
        .unwrap()
        .insert(
            NETWORK_EXTENSION.into(),
            Value::Array(vec!["packet-tunnel-provider".into()]),
        );
    write_profile(&signing.join("DemoVPN_Tunnel.provisionprofile"), &tunnel);

    // An empty --prebuilt directory: had the executables been looked for
    // first, the refusal would be about them.
    let prebuilt = dir.path().join("prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    let stderr = refused(
        build(&out, &config, Some(&ids))
            .arg("--prebuilt")
            .arg(&prebuilt),
        &out,
    );
    assert!(
        stderr.contains("DemoVPN_Tunnel.provisionprofile")
            && stderr.contains(NETWORK_EXTENSION)
            && stderr.contains("packet-tunnel-provider-systemextension")
            && stderr.contains("help: "),
        "{stderr}"
    );
    assert!(!stderr.contains("does not exist"), "{stderr}");

    // The demo's generated identity is in no profile: a profile given with
    // it is still checked, and its certificate is not listed.
    write_profile(
        &signing.join("DemoVPN_Tunnel.provisionprofile"),
        &profile_plist(EXTENSION, &certificate),
    );
    let stderr = refused(
        build(&out, &config, None).arg("--prebuilt").arg(&prebuilt),
        &out,
    );
    assert!(
        stderr.contains("DemoVPN.provisionprofile") && stderr.contains("DeveloperCertificates"),
        "{stderr}"
    );
}

#[test]
fn good_profiles_are_embedded_in_both_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let (out, config) = (dir.path().join("out"), project_with_profiles(dir.path()));
    let signing = config.parent().unwrap().join("signing");
    let ids = identities(dir.path());
    let certificate = certificate_der(&ids.app);
    let (app_profile, tunnel_profile) = (
        signing.join("DemoVPN.provisionprofile"),
        signing.join("DemoVPN_Tunnel.provisionprofile"),
    );
    write_profile(&app_profile, &profile_plist(APP, &certificate));
    write_profile(&tunnel_profile, &profile_plist(EXTENSION, &certificate));

    let report = build_ok(
        "build-pkg with provisioning profiles",
        build(&out, &config, Some(&ids)).arg("--stand-ins"),
    );
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    let unpacked = dir.path().join("unpacked");
    unpack_xar(&pkg, &unpacked);
    let payload = dir.path().join("payload");
    unpack_cpio_gz(&unpacked.join("DemoVPN.pkg/Payload"), &payload);
    let app = payload.join("Applications/DemoVPN.app/Contents");
    let extension = app.join(format!(
        "Library/SystemExtensions/{EXTENSION}.systemextension/Contents"
    ));
    assert_eq!(
        std::fs::read(app.join("embedded.provisionprofile")).unwrap(),
        std::fs::read(&app_profile).unwrap()
    );
    assert_eq!(
        std::fs::read(extension.join("embedded.provisionprofile")).unwrap(),
        std::fs::read(&tunnel_profile).unwrap()
    );
}
