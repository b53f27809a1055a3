//! Harnesses shared by the cross-crate system tests: the `installer-tool`
//! binary, external readers (bsdtar, 7z, cpio, openssl) run with a
//! description, and throw-away signing identities made by openssl the way a
//! vendor's p12 is made (certificate + key, password protected).

pub mod apple_stubs;
pub mod codesig;
pub mod json_shape;
pub mod macos_sim;
pub mod netns;
pub mod notary_standin;
pub mod xar_layout;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// The workspace root (holds `release.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A copy of the workspace's release config and entitlements under
/// `dir/project`, its workspace at `version`, for a test to change; the
/// copy's `release.toml`.
pub fn release_config_copy(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join("project");
    std::fs::create_dir_all(root.join("signing")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!("[workspace]\n[workspace.package]\nversion = \"{version}\"\n"),
    )
    .unwrap();
    for file in [
        "release.toml",
        "signing/app.entitlements",
        "signing/extension.entitlements",
    ] {
        std::fs::copy(workspace_root().join(file), root.join(file)).unwrap();
    }
    root.join("release.toml")
}

/// The workspace's binaries, built once per test process by the cargo
/// running the tests. The build selects what `cargo test --workspace`
/// selects, so features unify the same way and nothing is compiled twice;
/// it is never a stale binary from an earlier build.
fn binaries() -> &'static std::collections::HashMap<String, PathBuf> {
    static BINARIES: OnceLock<std::collections::HashMap<String, PathBuf>> = OnceLock::new();
    BINARIES.get_or_init(|| cargo_build(&["--workspace", "--all-targets"]))
}

/// Runs `cargo build <args>` in the workspace and returns the binaries it
/// made, by name.
fn cargo_build(args: &[&str]) -> std::collections::HashMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-q", "--message-format=json"])
        .args(args);
    // Variables cargo sets for this test process only; build scripts that
    // watch them (ring watches CARGO_MANIFEST_DIR) would rebuild.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            command.env_remove(key);
        }
    }
    let output = run_ok(&format!("cargo build {args:?}"), &mut command);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["target"]["kind"][0] == "bin" && v["profile"]["test"] == false)
        .filter_map(|v| {
            let name = v["target"]["name"].as_str()?.to_string();
            Some((name, PathBuf::from(v["executable"].as_str()?)))
        })
        .collect()
}

/// Path of one of the workspace's binaries (`installer-tool`, `vpn-app`, ...).
pub fn binary(name: &str) -> &'static Path {
    binaries()
        .get(name)
        .unwrap_or_else(|| panic!("cargo built no binary named {name}"))
}

/// A release build of one of the workspace's binaries, for benchmarks.
pub fn release_binary(name: &str) -> PathBuf {
    cargo_build(&["--release", "--workspace", "--bin", name])
        .remove(name)
        .unwrap_or_else(|| panic!("cargo built no binary named {name}"))
}

pub fn installer_tool() -> &'static Path {
    binary("installer-tool")
}

/// Runs `command`, describing it in the panic message if it fails.
pub fn run_ok(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Extracts the xar archive `pkg` into `into` with bsdtar.
pub fn unpack_xar(pkg: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    run_ok(
        "bsdtar -x",
        Command::new("bsdtar")
            .arg("-xf")
            .arg(pkg)
            .arg("-C")
            .arg(into),
    );
}

/// Unpacks a gzipped cpio archive (a Payload or Scripts) into `into` with
/// GNU cpio.
pub fn unpack_cpio_gz(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    run_ok(
        "gzip -dc | cpio -id",
        Command::new("sh")
            .current_dir(into)
            .args(["-c", "gzip -dc \"$1\" | cpio -idm --quiet", "sh"])
            .arg(archive),
    );
}

/// The SHA-256 fingerprint of a PEM certificate, as openssl prints it.
pub fn fingerprint(certificate: &Path) -> String {
    let output = run_ok(
        "openssl x509 -fingerprint",
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(certificate),
    );
    String::from_utf8(output.stdout).expect("openssl prints text")
}

/// `openssl cms -verify` of a detached DER signature over `content`, writing
/// the signer's certificate to `signer`. `-noverify` skips only the chain
/// walk (openssl refuses Apple's critical Developer ID extension); the
/// signature itself is checked.
pub fn cms_verify(cms: &Path, content: &Path, signer: &Path) -> Output {
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
        .arg(cms)
        .arg("-content")
        .arg(content)
        .arg("-signer")
        .arg(signer)
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl runs")
}

/// Runs a shell pipeline with `sh -c`.
pub fn sh(what: &str, script: &str) -> Output {
    run_ok(what, Command::new("sh").args(["-c", script]))
}

/// zig as installer-tool finds it: `zig` on PATH, else PyPI's `ziglang`.
pub use installer_tool::toolchain::zig_command as zig;

pub const TEAM_ID: &str = "ABCDE12345";
pub const P12_PASSWORD: &str = "correct horse battery staple";

/// Which Developer ID certificate to make.
#[derive(Clone, Copy, Debug)]
pub enum CertKind {
    Application,
    Installer,
}

/// Makes a p12 holding a self-signed certificate shaped like Apple's
/// Developer ID certificates (team id in OU, the Developer ID extension and
/// EKU), with openssl.
pub fn make_p12(dir: &Path, kind: CertKind, team: &str) -> PathBuf {
    let (label, name, extensions) = match kind {
        CertKind::Application => (
            "application",
            "Developer ID Application",
            "extendedKeyUsage = critical, codeSigning\n1.2.840.113635.100.6.1.13 = critical, DER:0500\n",
        ),
        CertKind::Installer => (
            "installer",
            "Developer ID Installer",
            "extendedKeyUsage = critical, 1.2.840.113635.100.4.13\n1.2.840.113635.100.6.1.14 = critical, DER:0500\n",
        ),
    };
    let config = dir.join(format!("{label}-{team}.cnf"));
    std::fs::write(
        &config,
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n\
             [dn]\nCN = {name}: System Tests ({team})\nOU = {team}\nO = System Tests\nC = US\n\
             [ext]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\n{extensions}"
        ),
    )
    .unwrap();
    let key = dir.join(format!("{label}-{team}.key"));
    let cert = dir.join(format!("{label}-{team}.crt"));
    let p12 = dir.join(format!("{label}-{team}.p12"));
    run_ok(
        "openssl req (test identity)",
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-config",
            ])
            .arg(&config)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    run_ok(
        "openssl pkcs12 (test identity)",
        Command::new("openssl")
            .args([
                "pkcs12",
                "-export",
                "-passout",
                &format!("pass:{P12_PASSWORD}"),
                "-inkey",
            ])
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-out")
            .arg(&p12),
    );
    p12
}

/// A `Command` for `installer-tool build-pkg` on the workspace's release
/// config, writing into `out`.
pub fn build_pkg(out: &Path) -> Command {
    let mut command = Command::new(installer_tool());
    command
        .current_dir(workspace_root())
        .args(["build-pkg", "--json", "--output-dir"])
        .arg(out)
        .env("CI", "true")
        .env_remove("INSTALLER_TOOL_APP_P12")
        .env_remove("INSTALLER_TOOL_INSTALLER_P12")
        .env_remove("INSTALLER_TOOL_OUTPUT_DIR")
        .env_remove("INSTALLER_TOOL_PREBUILT")
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

/// Runs a build and returns its JSON report.
pub fn build_ok(what: &str, command: &mut Command) -> serde_json::Value {
    let output = run_ok(what, command);
    serde_json::from_slice(&output.stdout).expect("build-pkg --json prints JSON")
}

/// The demo pkg built once per test process with openssl-made p12
/// identities, with its report and an extraction of everything in it.
pub struct BuiltPkg {
    pub dir: tempfile::TempDir,
    pub report: serde_json::Value,
    pub pkg: PathBuf,
    /// `bsdtar -x` of the pkg.
    pub extracted: PathBuf,
    /// The payload unpacked by GNU cpio.
    pub payload: PathBuf,
    pub app_cert: PathBuf,
    pub installer_cert: PathBuf,
}

impl BuiltPkg {
    pub fn component(&self) -> PathBuf {
        self.extracted.join(
            self.report["payload"]["component"]
                .as_str()
                .expect("component in report"),
        )
    }

    pub fn app(&self) -> PathBuf {
        self.payload.join("Applications/DemoVPN.app")
    }

    pub fn extension(&self) -> PathBuf {
        self.app()
            .join("Contents/Library/SystemExtensions/com.example.demovpn.tunnel.systemextension")
    }
}

pub fn demo_pkg() -> &'static BuiltPkg {
    static BUILT: OnceLock<BuiltPkg> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let app_p12 = make_p12(dir.path(), CertKind::Application, TEAM_ID);
        let installer_p12 = make_p12(dir.path(), CertKind::Installer, TEAM_ID);
        let out = dir.path().join("out");
        let report = build_ok(
            "build-pkg of the demo VPN",
            build_pkg(&out)
                .args(["--stand-ins", "--app-p12"])
                .arg(&app_p12)
                .arg("--installer-p12")
                .arg(&installer_p12)
                .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
                .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD),
        );
        let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
        let extracted = dir.path().join("extracted");
        unpack_xar(&pkg, &extracted);
        let payload = dir.path().join("payload");
        let component = extracted.join(report["payload"]["component"].as_str().unwrap());
        unpack_cpio_gz(&component.join("Payload"), &payload);
        BuiltPkg {
            app_cert: dir.path().join(format!("application-{TEAM_ID}.crt")),
            installer_cert: dir.path().join(format!("installer-{TEAM_ID}.crt")),
            dir,
            report,
            pkg,
            extracted,
            payload,
        }
    })
}

/// What `rcodesign verify` checks of a signed (not ad-hoc) Mach-O, through
/// the same library, and per slice that the code hashes recomputed from the
/// file equal those the CodeDirectory records: once through that library
/// and once independently of it ([`codesig`]: goblin and sha2 hashing each
/// page up to codeLimit).
pub fn assert_signature_verifies(name: &str, data: &[u8]) {
    codesig::assert_page_hashes_match(name, data);
    let problems = apple_codesign::verify_macho_data(data);
    assert!(
        problems.is_empty(),
        "{name}: {:?}",
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()
    );
    for (index, macho) in apple_codesign::MachFile::parse(data)
        .unwrap()
        .iter_macho()
        .enumerate()
    {
        let signature = macho.code_signature().unwrap().expect("signed");
        let cd = signature
            .code_directory()
            .unwrap()
            .expect("a CodeDirectory");
        let computed = macho
            .code_digests(cd.digest_type, cd.page_size as usize)
            .unwrap();
        let recorded: Vec<Vec<u8>> = cd.code_digests.iter().map(|d| d.to_vec()).collect();
        assert_eq!(
            computed, recorded,
            "{name} slice {index}: code hashes match the CodeDirectory"
        );
    }
}

/// The entitlements signed into each slice of a Mach-O, parsed as property
/// lists (what amfid and sysextd read, not the file we asked to sign with).
/// Panics when a slice has no signature or no entitlements.
pub fn signed_entitlements(name: &str, data: &[u8]) -> Vec<plist::Dictionary> {
    apple_codesign::MachFile::parse(data)
        .unwrap_or_else(|e| panic!("{name} is not Mach-O: {e}"))
        .iter_macho()
        .map(|macho| {
            let signature = macho
                .code_signature()
                .unwrap()
                .unwrap_or_else(|| panic!("{name} is not signed"));
            let blob = signature
                .entitlements()
                .unwrap()
                .unwrap_or_else(|| panic!("{name} has no entitlements"));
            plist::Value::from_reader_xml(blob.as_str().as_bytes())
                .unwrap_or_else(|e| panic!("{name}: entitlements are not a plist: {e}"))
                .into_dictionary()
                .unwrap_or_else(|| panic!("{name}: entitlements are not a dictionary"))
        })
        .collect()
}
