//! Same inputs + SOURCE_DATE_EPOCH give a byte-identical unsigned pkg,
//! whatever the machine's core count; another epoch gives other bytes.

use std::path::PathBuf;

use system_tests::{build_ok, build_pkg, make_p12, CertKind, P12_PASSWORD, TEAM_ID};

#[test]
fn unsigned_pkg_is_byte_identical_across_builds() {
    let dir = tempfile::tempdir().unwrap();
    let app = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let installer = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
    let build = |name: &str, epoch: &str, threads: &str| -> (Vec<u8>, serde_json::Value) {
        let report = build_ok(
            "build-pkg --keep-unsigned",
            build_pkg(&dir.path().join(name))
                .args([
                    "--stand-ins",
                    "--keep-unsigned",
                    "--threads",
                    threads,
                    "--app-p12",
                ])
                .arg(&app)
                .arg("--installer-p12")
                .arg(&installer)
                .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
                .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD)
                .env("SOURCE_DATE_EPOCH", epoch),
        );
        let unsigned = PathBuf::from(report["unsigned_pkg"].as_str().expect("unsigned pkg kept"));
        (std::fs::read(unsigned).unwrap(), report)
    };
    let (first, report) = build("a", "1700000000", "1");
    let (second, _) = build("b", "1700000000", "2");
    assert!(
        first == second,
        "unsigned pkgs differ between identical builds"
    );
    let (other, _) = build("c", "1700000001", "2");
    assert!(first != other, "the epoch must show in the archive");
    // The signed pkg is a different file, and it exists.
    assert!(PathBuf::from(report["pkg"].as_str().unwrap()).exists());
}
