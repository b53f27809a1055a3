//! `installer-tool verify` on the pkgs build-pkg writes, on a pkg another
//! tool built, and on pkgs altered after the fact, one alteration each: a
//! flipped payload byte, a signature that does not match, a pkg signed
//! again by another team, a changed byte in an executable, a stripped
//! signature, a missing `hostArchitectures`, a script that lost its mode,
//! a payload file whose mode is not the BOM's, an app and extension that
//! name different XPC services.

use std::{path::Path, process::Command};

use apple_xar::reader::XarReader;
use system_tests::{demo_pkg, installer_tool, verify_findings, workspace_root};

/// `verify --json`: the exit code and `(id, file)` of each finding.
fn verify(pkg: &Path) -> (i32, Vec<(String, String)>) {
    let (code, findings) = verify_findings(pkg);
    let findings = findings
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (code, findings)
}

/// The findings besides the demo pkg's own warnings, in order.
fn beyond_demo_warnings(findings: &[(String, String)]) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|(id, _)| !DEMO_WARNINGS.contains(&id.as_str()))
        .cloned()
        .collect()
}

fn ids(findings: &[(String, String)]) -> Vec<&str> {
    let mut ids: Vec<&str> = findings.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    ids
}

/// What verify says of the demo pkg as built here: nothing but that its
/// self-signed identity is not Apple's, that its signature has no
/// time-stamp (build-pkg asks Apple's server for Apple's identities only)
/// and that no ticket is stapled.
const DEMO_WARNINGS: [&str; 3] = [
    "certificate-not-from-apple",
    "no-stapled-ticket",
    "no-timestamp",
];

#[test]
fn the_demo_pkg_verifies_and_the_text_report_says_so() {
    let built = demo_pkg();
    let (code, findings) = verify(&built.pkg);
    assert_eq!(code, 0, "{findings:?}");
    assert_eq!(ids(&findings), DEMO_WARNINGS);
    let text = Command::new(installer_tool())
        .arg("verify")
        .arg(&built.pkg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("0 error(s), 3 warning(s)"), "{text}");
    assert!(text.contains("warning[no-stapled-ticket]"), "{text}");
}

#[test]
fn a_pkg_another_tool_built_is_read_and_judged() {
    let classic = workspace_root().join("tests/fixtures/classic-mkbom-xar.pkg");
    let (code, findings) = verify(&classic);
    assert_eq!(code, 1, "unsigned is an error: {findings:?}");
    // Its executable carries only the linker's ad-hoc signature.
    assert_eq!(
        ids(&findings),
        ["code-signature", "no-stapled-ticket", "unsigned"]
    );
    assert!(findings.contains(&("code-signature".into(), "classic.pkg/Payload".into())));
}

/// A copy of the demo pkg in `dir`, with `alter` applied to its bytes.
fn altered(dir: &Path, alter: impl FnOnce(&mut Vec<u8>)) -> std::path::PathBuf {
    let mut bytes = std::fs::read(&demo_pkg().pkg).unwrap();
    alter(&mut bytes);
    let path = dir.join("altered.pkg");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_flipped_payload_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = &demo_pkg().pkg;
    let reader = XarReader::new(std::fs::File::open(pkg).unwrap()).unwrap();
    let payload = reader
        .find_file("DemoVPN.pkg/Payload")
        .unwrap()
        .expect("a payload");
    let data = payload.data.unwrap();
    let at = (reader.heap_start_offset() + data.offset + data.length / 2) as usize;
    let path = altered(dir.path(), |bytes| bytes[at] ^= 0x01);
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    let errors = beyond_demo_warnings(&findings);
    assert_eq!(
        errors[0],
        (
            "file-checksum".to_string(),
            "DemoVPN.pkg/Payload".to_string()
        )
    );
    // The TOC and its signatures still hold; what else is said is of the
    // payload: it no longer inflates, or a file in it changed (and then no
    // longer matches the BOM). Which one depends on where the flip lands in
    // the deflate stream, which differs from build to build.
    assert!(
        errors
            .iter()
            .all(|(_, file)| file == "DemoVPN.pkg/Payload" || file == "DemoVPN.pkg/Bom"),
        "{errors:?}"
    );
}

#[test]
fn a_signature_that_does_not_match_the_checksum_is_named() {
    // The RSA signature's bytes changed (as a TOC re-signed by another key
    // would read against this certificate): the CMS one still holds.
    let dir = tempfile::tempdir().unwrap();
    let reader = XarReader::new(std::fs::File::open(&demo_pkg().pkg).unwrap()).unwrap();
    let signature = reader
        .table_of_contents()
        .find_signature(apple_xar::table_of_contents::SignatureStyle::Rsa)
        .expect("an RSA signature");
    let at = (reader.heap_start_offset() + signature.offset + signature.size / 2) as usize;
    let path = altered(dir.path(), |bytes| bytes[at] ^= 0x01);
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert_eq!(ids(&beyond_demo_warnings(&findings)), ["rsa-signature"]);
}

/// The demo pkg's files written again as a new, unsigned archive, with
/// `edit` applied to each `(path, bytes)` first.
fn rebuilt(dir: &Path, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> std::path::PathBuf {
    let mut reader = XarReader::new(std::fs::File::open(&demo_pkg().pkg).unwrap()).unwrap();
    let mut writer = flatpkg::xar::XarWriter::new("2026-01-01T00:00:00");
    let files = reader.files().unwrap();
    for (path, file) in files {
        if file.data.is_none() {
            continue;
        }
        let bytes = reader.get_file_data_from_path(&path).unwrap().unwrap();
        writer.add_compressed(&path, &edit(&path, bytes)).unwrap();
    }
    let path = dir.join("rebuilt.pkg");
    let mut out = std::fs::File::create(&path).unwrap();
    writer.finish().unwrap().write_to(&mut out).unwrap();
    path
}

/// The demo pkg rebuilt with `edit` applied to its payload's cpio bytes.
fn payload_edited(dir: &Path, edit: impl Fn(&mut Vec<u8>)) -> std::path::PathBuf {
    rebuilt(dir, |path, bytes| {
        if path == "DemoVPN.pkg/Payload" {
            edit_gzipped_cpio(&bytes, &edit)
        } else {
            bytes
        }
    })
}

/// Where `needle` starts in `haystack`, at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> usize {
    from + haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} is in the payload", String::from_utf8_lossy(needle)))
}

/// `gzipped` (a pkg's Scripts or Payload) inflated, changed by `edit`,
/// and deflated again.
fn edit_gzipped_cpio(gzipped: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gzipped), &mut cpio).unwrap();
    edit(&mut cpio);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &cpio).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_stripped_signature_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = rebuilt(dir.path(), |_, bytes| bytes);
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert_eq!(ids(&findings), ["no-stapled-ticket", "unsigned"]);
}

#[test]
fn a_missing_host_architectures_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = rebuilt(dir.path(), |path, bytes| {
        if path != "Distribution" {
            return bytes;
        }
        String::from_utf8(bytes)
            .unwrap()
            .replace(" hostArchitectures=\"arm64,x86_64\"", "")
            .into_bytes()
    });
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert!(
        findings.contains(&("host-architectures".into(), "Distribution".into())),
        "{findings:?}"
    );
}

#[test]
fn a_script_that_is_not_executable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = rebuilt(dir.path(), |path, bytes| {
        if path != "DemoVPN.pkg/Scripts" {
            return bytes;
        }
        // The odc header's mode field (6 octal digits at offset 18) of the
        // entry named `./postinstall` or `postinstall`, made 0644.
        edit_gzipped_cpio(&bytes, |cpio| {
            let name = cpio
                .windows(12)
                .position(|w| w == b"postinstall\0")
                .expect("postinstall in Scripts");
            let header = cpio[..name]
                .windows(6)
                .rposition(|w| w == b"070707")
                .unwrap();
            cpio[header + 18..header + 24].copy_from_slice(b"100644");
        })
    });
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert!(
        findings.contains(&("script-not-executable".into(), "DemoVPN.pkg/Scripts".into())),
        "{findings:?}"
    );
}

#[test]
fn a_pkg_signed_again_by_another_team_is_named() {
    // The demo's files, signed by team ZZZZZ99999: every signature holds,
    // but the pkg is not the team of the code inside it.
    let dir = tempfile::tempdir().unwrap();
    let unsigned = rebuilt(dir.path(), |_, bytes| bytes);
    let other = installer_tool::signing::SigningIdentity::self_signed(
        installer_tool::signing::Purpose::Installer,
        &"ZZZZZ99999".parse().unwrap(),
        "Someone Else",
    )
    .unwrap();
    let path = dir.path().join("other-team.pkg");
    installer_tool::signing::sign_package(
        std::fs::File::open(&unsigned).unwrap(),
        &path,
        &other,
        None,
    )
    .unwrap();
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert_eq!(ids(&beyond_demo_warnings(&findings)), ["team-mismatch"]);
}

#[test]
fn a_changed_byte_in_an_executable_fails_its_code_signature() {
    // One byte of vpn-app's code, past its headers: the page's hash in the
    // CodeDirectory no longer matches.
    let dir = tempfile::tempdir().unwrap();
    let path = payload_edited(dir.path(), |cpio| {
        let name = b"./Applications/DemoVPN.app/Contents/MacOS/vpn-app\0";
        let at = find(cpio, name, 0);
        cpio[at + name.len() + 0x4010] ^= 0x01;
    });
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert!(
        findings.contains(&("code-signature".into(), "DemoVPN.pkg/Payload".into())),
        "{findings:?}"
    );
    // The BOM's cksum of the file no longer holds either.
    assert!(
        findings.contains(&("bom-payload-mismatch".into(), "DemoVPN.pkg/Bom".into())),
        "{findings:?}"
    );
}

#[test]
fn a_payload_that_disagrees_with_its_bom_is_named() {
    // Installer installs the payload but records the BOM: a file whose
    // mode differs is reported with the path and both modes.
    let dir = tempfile::tempdir().unwrap();
    let path = payload_edited(dir.path(), |cpio| {
        let at = find(cpio, b"./Applications/DemoVPN.app/Contents/Info.plist\0", 0);
        // The odc header (76 bytes) ends where the name starts; its mode
        // is six octal digits at offset 18.
        let mode = at - 76 + 18;
        assert_eq!(&cpio[mode..mode + 6], b"100644");
        cpio[mode..mode + 6].copy_from_slice(b"100600");
    });
    let (code, all) = verify_findings(&path);
    let mismatches: Vec<&serde_json::Value> = all
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("bom-"))
        .collect();
    assert_eq!(mismatches.len(), 1, "{all:#?}");
    let finding = mismatches[0];
    assert_eq!(finding["id"], "bom-payload-mismatch");
    assert_eq!(finding["file"], "DemoVPN.pkg/Bom");
    assert_eq!(
        finding["field"],
        "Applications/DemoVPN.app/Contents/Info.plist"
    );
    assert_eq!(
        finding["problem"],
        "mode 100644 in the BOM, 100600 in the payload"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_service_name_the_two_bundles_do_not_share_is_named() {
    // The app's Info.plist names the service of another release than its
    // extension's: the app would look up a service nobody serves.
    let dir = tempfile::tempdir().unwrap();
    let path = payload_edited(dir.path(), |cpio| {
        let key = find(cpio, b"<key>VPNExtensionMachServiceName</key>", 0);
        let value = b"tunnel.1.0.0</string>";
        let at = find(cpio, value, key);
        cpio[at..at + value.len()].copy_from_slice(b"tunnel.0.9.0</string>");
    });
    let (code, all) = verify_findings(&path);
    let problems: Vec<&str> = all
        .iter()
        .filter(|f| f["id"] == "service-name")
        .map(|f| f["problem"].as_str().unwrap())
        .collect();
    let ours = "ABCDE12345.group.com.example.demovpn.tunnel";
    assert!(
        problems.contains(
            &format!("names the service {ours}.1.0.0, Applications/DemoVPN.app names {ours}.0.9.0")
                .as_str()
        ),
        "{problems:?}"
    );
    assert!(
        problems.contains(
            &format!("{ours}.0.9.0 is not versioned with the bundle's CFBundleVersion 1.0.0")
                .as_str()
        ),
        "{problems:?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_file_that_is_not_a_pkg_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pkg");
    std::fs::write(&path, "not a xar archive").unwrap();
    let (code, findings) = verify(&path);
    assert_eq!(code, 1);
    assert_eq!(ids(&findings), ["malformed"]);
}

#[test]
fn a_signature_pointing_outside_its_mach_o_is_a_finding_not_a_crash() {
    // Found by the verify fuzz target: apple-codesign slices the file where
    // LC_CODE_SIGNATURE says, and panicked.
    let pkg = workspace_root().join("tests/fixtures/fuzz-found/signature-outside-linkedit.pkg");
    let output = std::process::Command::new(installer_tool())
        .args(["verify", "--json"])
        .arg(&pkg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, findings) = verify_findings(&pkg);
    assert_eq!(code, 1);
    let finding = findings
        .iter()
        .find(|f| f["id"] == "code-signature")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(
        finding["field"],
        "Applications/Classic.app/Contents/MacOS/Classic"
    );
    assert!(
        finding["problem"]
            .as_str()
            .unwrap()
            .contains("lies outside __LINKEDIT"),
        "{finding:#}"
    );
}
