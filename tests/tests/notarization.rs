//! Notarization and stapling end to end against the local stand-in of
//! Apple's services (tests/src/notary_standin): a real S3 server (moto)
//! takes the upload, the notary API checks every token's signature, the
//! ticket lookup answers "Record not found" until a ticket is published.
//! The stapled pkg and app are then judged by bsdtar, openssl,
//! apple-flat-package and rcodesign.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
    time::Duration,
};

use notary::staple::{stapled_ticket, Stapleable};
use sha2::{Digest, Sha256};
use system_tests::{
    binary, build_ok, build_pkg, build_with_p12s, cms_verify, demo_pkg, fingerprint,
    installer_tool,
    json_shape::json_shape,
    make_p12,
    notary_standin::{Behaviour, NotaryStandIn, TimeStampAuthority, UploadTarget},
    run_ok, unpack_cpio_gz, unpack_xar, verify_findings,
    xar_layout::cms_signature,
    CertKind, P12_PASSWORD, TEAM_ID,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What `rcodesign print-signature-info` says of `path`.
fn rcodesign_info(path: &Path) -> String {
    text(
        &run_ok(
            "rcodesign print-signature-info",
            Command::new(binary("rcodesign"))
                .arg("print-signature-info")
                .arg(path),
        )
        .stdout,
    )
}

/// The demo pkg as a release job builds it to notarize: p12 identities and
/// a secure timestamp on every signature, which Apple requires (from a
/// time-stamp authority stand-in; Apple's serves only Apple's identities).
fn timestamped_pkg() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, pkg) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let tsa = TimeStampAuthority::start();
        let report = build_with_p12s(dir.path(), &["--timestamp-url", tsa.url()]);
        let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
        (dir, pkg)
    });
    pkg
}

#[test]
fn verify_finds_the_time_stamp_and_holds_it_to_the_signature() {
    let ids = |pkg: &Path| -> Vec<String> {
        verify_findings(pkg)
            .1
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let stamped = ids(timestamped_pkg());
    assert!(
        !stamped.iter().any(|id| id.contains("timestamp")),
        "{stamped:?}"
    );
    // The demo, signed without one, is warned about.
    assert!(ids(&demo_pkg().pkg).contains(&"no-timestamp".to_string()));
}

/// A private copy of the timestamped demo pkg (stapling writes to it).
fn demo_pkg_copy(dir: &Path) -> PathBuf {
    let pkg = dir.join("DemoVPN.pkg");
    std::fs::copy(timestamped_pkg(), &pkg).unwrap();
    pkg
}

fn notarize(standin: &NotaryStandIn, pkg: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(installer_tool());
    standin
        .configure(&mut command)
        .arg("notarize")
        .arg(pkg)
        .args(args)
        .env("CI", "true");
    command
}

/// Runs a command that must fail cleanly: exit 1, a message, no panic, no key.
fn fails(standin: &NotaryStandIn, command: &mut Command) -> String {
    let output: Output = command.output().expect("installer-tool runs");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for stream in [&stderr, &text(&output.stdout)] {
        assert!(
            !stream.contains(&standin.key.private_base64[..40]),
            "key material leaked: {stream}"
        );
    }
    stderr
}

#[test]
fn build_pkg_notarizes_the_app_then_the_pkg_and_staples_both() {
    let standin = NotaryStandIn::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let app_p12 = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let installer_p12 = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
    let out = dir.path().join("out");
    let mut command = build_pkg(&out);
    standin.configure(&mut command);
    let output = run_ok(
        "build-pkg --notarize",
        command
            .args(["--stand-ins", "--notarize", "--app-p12"])
            .arg(&app_p12)
            .arg("--installer-p12")
            .arg(&installer_p12)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
            .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD),
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_snapshot!("build-pkg-notarize-json", json_shape(&report));
    let notarization = report["notarization"].as_array().unwrap();
    let kinds: Vec<_> = notarization
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["app", "pkg", "pkg"],
        "the app first, then the pkg, then the uninstaller"
    );
    for n in notarization {
        assert_eq!(n["status"], "Accepted");
        assert_eq!(n["stapled"], true);
    }
    let app_record = notarization[0]["ticket_record"].as_str().unwrap();
    let pkg_record = notarization[1]["ticket_record"].as_str().unwrap();
    assert_eq!(standin.records().len(), 3);
    // The uninstaller carries its own ticket.
    let uninstaller = PathBuf::from(report["uninstaller"].as_str().unwrap());
    let uninstaller_record = notarization[2]["ticket_record"].as_str().unwrap();
    assert_eq!(
        stapled_ticket(&uninstaller).unwrap().as_deref(),
        Some(
            standin
                .ticket(uninstaller_record)
                .expect("the stand-in issued it")
                .as_slice()
        )
    );

    // The pkg: its ticket trailer is the last thing in the file.
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    let bytes = std::fs::read(&pkg).unwrap();
    let pkg_ticket = standin.ticket(pkg_record).expect("the stand-in issued it");
    assert_eq!(&bytes[bytes.len() - 16..bytes.len() - 12], b"t8lr");
    assert_eq!(
        u16::from_le_bytes([bytes[bytes.len() - 10], bytes[bytes.len() - 9]]),
        2
    );
    assert_eq!(
        stapled_ticket(&pkg).unwrap().as_deref(),
        Some(pkg_ticket.as_slice())
    );
    assert_eq!(
        report["pkg_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes)),
        "the report describes the stapled file"
    );
    assert_eq!(
        Stapleable::Package(pkg.clone()).record_name().unwrap(),
        pkg_record,
        "stapling leaves the record name alone"
    );

    // Readers we did not write still read the stapled pkg.
    let extracted = dir.path().join("extracted");
    unpack_xar(&pkg, &extracted);
    let (checksum, cms) = cms_signature(&bytes);
    let work = dir.path().join("openssl");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("cms.der"), &cms).unwrap();
    std::fs::write(work.join("checksum"), &checksum).unwrap();
    let verified = cms_verify(
        &work.join("cms.der"),
        &work.join("checksum"),
        &work.join("signer.pem"),
    );
    assert!(
        verified.status.success(),
        "openssl cms -verify: {verified:?}"
    );
    let signer = fingerprint(&work.join("signer.pem"));
    assert_eq!(
        signer,
        fingerprint(&dir.path().join(format!("installer-{TEAM_ID}.crt")))
    );
    let mut reader = apple_flat_package::PkgReader::new(std::fs::File::open(&pkg).unwrap())
        .expect("apple-flat-package reads the stapled pkg");
    assert!(reader.distribution().unwrap().is_some());
    let info = rcodesign_info(&pkg);
    assert!(info.contains("checksum_verifies: true"), "{info}");
    assert!(
        info.contains("Developer ID Installer: System Tests"),
        "{info}"
    );

    // The app inside carries its own ticket, for the app that was notarized.
    let payload = dir.path().join("payload");
    unpack_cpio_gz(&extracted.join("DemoVPN.pkg/Payload"), &payload);
    let app = payload.join("Applications/DemoVPN.app");
    assert_eq!(
        std::fs::read(app.join("Contents/CodeResources")).unwrap(),
        standin.ticket(app_record).expect("the stand-in issued it")
    );
    assert_eq!(
        Stapleable::Bundle(app.clone()).record_name().unwrap(),
        app_record
    );
    let info = rcodesign_info(&app);
    let ticket = info
        .find("path: Contents/CodeResources")
        .map(|at| &info[at..])
        .and_then(|entry| {
            entry
                .lines()
                .take(5)
                .find(|l| l.contains("bundle_code_signature_file"))
        });
    assert_eq!(
        ticket.map(str::trim),
        Some("bundle_code_signature_file: NotarizationTicket"),
        "rcodesign sees the app's ticket: {info}"
    );

    // Stapling again is harmless: the same single trailer.
    let mut again = Command::new(installer_tool());
    standin.configure(&mut again);
    let output = run_ok("staple again", again.arg("staple").arg(&pkg).arg("--json"));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_snapshot!("staple-json", json_shape(&report));
    assert_eq!(std::fs::read(&pkg).unwrap(), bytes);
}

#[test]
fn a_timed_out_wait_resumes_with_the_submission_id() {
    let standin = NotaryStandIn::start(Behaviour {
        processing: Duration::from_secs(4),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let pkg = demo_pkg_copy(dir.path());
    let stderr = fails(
        &standin,
        &mut notarize(&standin, &pkg, &["--wait-timeout", "1"]),
    );
    assert!(stderr.contains("still In Progress"), "{stderr}");
    let id = stderr
        .split("--submission-id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no submission id to resume with: {stderr}"))
        .to_string();
    let output = run_ok(
        "notarize --submission-id",
        &mut notarize(&standin, &pkg, &["--submission-id", &id, "--json"]),
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_snapshot!("notarize-json", json_shape(&report));
    assert_eq!(report["submission_id"], id.as_str());
    assert_eq!(report["status"], "Accepted");
    assert_eq!(report["stapled"], true);
    assert!(stapled_ticket(&pkg).unwrap().is_some());
    assert_eq!(standin.records().len(), 1, "resuming did not submit again");
}

#[test]
fn an_invalid_submission_prints_its_issues_and_leaves_no_pkg() {
    let standin = NotaryStandIn::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut command = build_pkg(&out);
    standin.configure(&mut command);
    // --dev signs the app ad-hoc: Apple refuses that.
    command.args(["--stand-ins", "--dev", "--notarize"]);
    let output = command.output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is Invalid"), "{stderr}");
    assert!(
        stderr.contains("Contents/MacOS/vpn-app: The binary is not signed with a valid Developer ID certificate. [arm64]"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_snapshot!("notarize-json-refused", json_shape(&json));
    assert_eq!(json["status"], "Invalid");
    let issues = json["issues"].as_array().unwrap();
    let arches: std::collections::BTreeSet<_> = issues
        .iter()
        .filter_map(|i| i["architecture"].as_str())
        .collect();
    assert_eq!(arches.into_iter().collect::<Vec<_>>(), ["arm64", "x86_64"]);
    assert!(issues
        .iter()
        .any(|i| i["path"].as_str().unwrap().contains(".systemextension/")));
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

#[test]
fn code_signed_without_a_secure_timestamp_is_refused() {
    // The shared demo pkg is signed with p12 identities but no timestamp
    // (none is asked for an identity not issued by Apple).
    let standin = NotaryStandIn::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("DemoVPN.pkg");
    std::fs::copy(&demo_pkg().pkg, &pkg).unwrap();
    let stderr = fails(&standin, &mut notarize(&standin, &pkg, &[]));
    assert!(stderr.contains("is Invalid"), "{stderr}");
    assert!(
        stderr.contains(
            "Contents/MacOS/vpn-app: The signature does not include a secure timestamp. [arm64]"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("valid Developer ID certificate"),
        "{stderr}"
    );
}

#[test]
fn a_pkg_is_judged_by_the_mach_o_files_in_its_payload() {
    // A --dev pkg: the pkg is signed, the app in its payload ad-hoc. Apple
    // notarizes what the pkg installs, so submitting the pkg alone is
    // refused, naming the payload's executables.
    let standin = NotaryStandIn::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut command = build_pkg(&out);
    let report = build_ok("build-pkg --dev", command.args(["--stand-ins", "--dev"]));
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    let stderr = fails(&standin, &mut notarize(&standin, &pkg, &[]));
    assert!(stderr.contains("is Invalid"), "{stderr}");
    assert!(
        stderr.contains("/Payload/Applications/DemoVPN.app/Contents/MacOS/vpn-app: The binary is not signed with a valid Developer ID certificate. [arm64]"),
        "{stderr}"
    );
    assert_eq!(standin.records().len(), 0, "no ticket");
}

#[test]
fn tokens_are_renewed_during_a_long_wait() {
    let standin = NotaryStandIn::start(Behaviour {
        processing: Duration::from_secs(5),
        ..Behaviour::default()
    });
    // A token that has expired is refused: the check has teeth.
    let key =
        jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(&standin.key.p8).unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(standin.key.key_id.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iat: u64, exp: u64| serde_json::json!({"iss": standin.key.issuer_id, "iat": iat, "exp": exp, "aud": "appstoreconnect-v1"});
    let expired = jsonwebtoken::encode(&header, &claims(now - 10, now - 1), &key).unwrap();
    assert_eq!(standin.status_with_token(&expired), 401);
    let fresh = jsonwebtoken::encode(&header, &claims(now, now + 60), &key).unwrap();
    assert_eq!(
        standin.status_with_token(&fresh),
        404,
        "accepted, and the submission is unknown"
    );

    let dir = tempfile::tempdir().unwrap();
    let pkg = demo_pkg_copy(dir.path());
    // Two-second tokens over a five-second wait.
    run_ok(
        "notarize with short-lived tokens",
        notarize(&standin, &pkg, &["--no-staple"]).env("INSTALLER_TOOL_NOTARY_TOKEN_LIFETIME", "2"),
    );
    let (accepted, refused) = standin.tokens();
    assert!(
        accepted >= 3,
        "tokens renewed while waiting: {accepted} seen"
    );
    assert_eq!(refused, 1, "only the expired token above was refused");
}

#[test]
fn key_problems_are_named_without_showing_the_key() {
    let standin = NotaryStandIn::start(Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let pkg = demo_pkg_copy(dir.path());

    // The right key under another key id: the service answers 401.
    let wrong = dir.path().join("wrong.json");
    let json = std::fs::read_to_string(&standin.key.json).unwrap();
    std::fs::write(&wrong, json.replace(&standin.key.key_id, "WRONGKEY1")).unwrap();
    let stderr = fails(
        &standin,
        notarize(&standin, &pkg, &[]).env("INSTALLER_TOOL_API_KEY", &wrong),
    );
    assert!(
        stderr.contains("refused the API key WRONGKEY1 (HTTP 401"),
        "{stderr}"
    );

    // A .p8 without its ids, then a file that is not a key.
    let p8 = standin.key.p8.clone();
    let stderr = fails(
        &standin,
        notarize(&standin, &pkg, &[]).env("INSTALLER_TOOL_API_KEY", &p8),
    );
    assert!(stderr.contains("--api-issuer and --api-key-id"), "{stderr}");
    let stderr = fails(
        &standin,
        notarize(&standin, &pkg, &["--api-issuer", "i", "--api-key-id", "k"])
            .env("INSTALLER_TOOL_API_KEY", &pkg),
    );
    assert!(
        stderr.contains(&format!(
            "cannot use the App Store Connect API key {}",
            pkg.display()
        )),
        "{stderr}"
    );
    assert_eq!(standin.records().len(), 0);
    assert!(
        stapled_ticket(&pkg).unwrap().is_none(),
        "the pkg is untouched"
    );
}

#[test]
fn an_upload_refused_by_s3_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = demo_pkg_copy(dir.path());
    // moto checks the role's policy and the signature of every request.
    for (upload, expected) in [
        (UploadTarget::OtherBucket, "AccessDenied"),
        (UploadTarget::WrongSecret, "SignatureDoesNotMatch"),
    ] {
        let standin = NotaryStandIn::start(Behaviour {
            upload,
            ..Behaviour::default()
        });
        let stderr = fails(&standin, &mut notarize(&standin, &pkg, &[]));
        assert!(
            stderr.contains("uploading") && stderr.contains(expected),
            "{stderr}"
        );
        assert!(
            !stderr.contains(&standin.s3_secret()),
            "the upload secret stays out: {stderr}"
        );
    }
}

#[test]
fn a_ticket_that_never_appears_ends_with_how_to_staple_later() {
    let standin = NotaryStandIn::start(Behaviour {
        ticket_delay: None,
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let pkg = demo_pkg_copy(dir.path());
    let stderr = fails(
        &standin,
        &mut notarize(&standin, &pkg, &["--ticket-timeout", "3"]),
    );
    assert!(stderr.contains("no notarization ticket for 2/"), "{stderr}");
    assert!(
        stderr.contains(&format!("installer-tool staple {}", pkg.display())),
        "{stderr}"
    );
    assert!(stapled_ticket(&pkg).unwrap().is_none());
}
