//! `installer-tool build-pkg` as a release engineer meets it: bad input gets
//! one clear error naming the file, field and fix; nothing is left at the
//! output path; secrets never show; `--json` and `--dev` behave.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use system_tests::{
    build_ok, build_pkg, codesig, installer_tool, make_p12, release_config_copy, run_ok,
    unpack_cpio_gz, unpack_xar, workspace_root, zig, CertKind, P12_PASSWORD, TEAM_ID,
};

/// Runs a build that must fail; returns stderr after checking the exit code,
/// that the password never shows and that `out` holds no pkg nor leftovers.
fn fails(command: &mut Command, out: &Path) -> String {
    let output: Output = command.output().expect("installer-tool runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected failure, got {:?}\n{stderr}",
        output.status
    );
    assert!(
        !stderr.contains(P12_PASSWORD) && !stdout.contains(P12_PASSWORD),
        "password leaked"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json errors are JSON");
    assert!(json["error"].as_str().is_some());
    if out.exists() {
        let left: Vec<_> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "a failed build left {left:?} in {}",
            out.display()
        );
    }
    stderr
}

fn with_p12s<'a>(command: &'a mut Command, app: &Path, installer: &Path) -> &'a mut Command {
    command
        .arg("--app-p12")
        .arg(app)
        .arg("--installer-p12")
        .arg(installer)
        .env("INSTALLER_TOOL_APP_P12_PASSWORD", P12_PASSWORD)
        .env("INSTALLER_TOOL_INSTALLER_P12_PASSWORD", P12_PASSWORD)
}

/// A copy of the workspace's release config, entitlements and version that
/// a test may break.
fn config_copy(dir: &Path) -> PathBuf {
    release_config_copy(dir, "2.0.0")
}

fn zig_stand_in(dir: &Path, name: &str, target: &str) -> PathBuf {
    let source = dir.join("main.c");
    std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
    let out = dir.join(name);
    run_ok(
        "zig cc (test Mach-O)",
        zig()
            .args(["cc", "-target", target])
            .arg(&source)
            .arg("-o")
            .arg(&out),
    );
    out
}

#[test]
fn missing_and_non_macho_executables_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let prebuilt = dir.path().join("prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    let stderr = fails(build_pkg(&out).arg("--prebuilt").arg(&prebuilt), &out);
    assert!(
        stderr.contains("vpn-app") && stderr.contains("does not exist") && stderr.contains("help:"),
        "{stderr}"
    );

    std::fs::write(prebuilt.join("vpn-app"), "#!/bin/sh\necho not mach-o\n").unwrap();
    let stderr = fails(build_pkg(&out).arg("--prebuilt").arg(&prebuilt), &out);
    assert!(stderr.contains("is not a Mach-O executable"), "{stderr}");
}

#[test]
fn thin_prebuilt_binary_names_the_missing_slice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let prebuilt = dir.path().join("prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    zig_stand_in(&prebuilt, "vpn-app", "aarch64-macos.11.0");
    let stderr = fails(build_pkg(&out).arg("--prebuilt").arg(&prebuilt), &out);
    assert!(
        stderr.contains("lacks the x86_64 slice") && stderr.contains("arm64"),
        "{stderr}"
    );
}

#[test]
fn thin_prebuilt_pairs_are_joined() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let prebuilt = dir.path().join("prebuilt");
    for (arch, target) in [
        ("arm64", "aarch64-macos.11.0"),
        ("x86_64", "x86_64-macos.11.0"),
    ] {
        let sub = dir.path().join(arch);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(&prebuilt).unwrap();
        for name in ["vpn-app", "vpn-extension"] {
            let built = zig_stand_in(&sub, name, target);
            std::fs::copy(built, prebuilt.join(format!("{name}-{arch}"))).unwrap();
        }
    }
    let report = build_ok(
        "build-pkg --prebuilt thin pairs",
        build_pkg(&out).arg("--prebuilt").arg(&prebuilt),
    );
    assert_eq!(report["stand_ins"], false);
    assert!(report["executables"].as_str().unwrap().contains("prebuilt"));
    // Read from the pkg itself: each executable is universal, both slices.
    for executable in packaged_executables(&report, dir.path()) {
        let data = std::fs::read(&executable).unwrap();
        let goblin::mach::Mach::Fat(fat) = goblin::mach::Mach::parse(&data).unwrap() else {
            panic!("{} is not universal", executable.display());
        };
        let mut cpus: Vec<u32> = fat.iter_arches().map(|a| a.unwrap().cputype).collect();
        cpus.sort();
        // CPU_TYPE_X86_64 and CPU_TYPE_ARM64 (mach/machine.h).
        assert_eq!(cpus, [0x0100_0007, 0x0100_000c], "{}", executable.display());
    }
}

/// The app's and the extension's executables, unpacked from the pkg
/// `report` names (xar by bsdtar, the payload by GNU cpio) under `dir`.
fn packaged_executables(report: &serde_json::Value, dir: &Path) -> [PathBuf; 2] {
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    let unpacked = dir.join("unpacked");
    unpack_xar(&pkg, &unpacked);
    let payload = dir.join("payload");
    unpack_cpio_gz(&unpacked.join("DemoVPN.pkg/Payload"), &payload);
    let contents = payload.join("Applications/DemoVPN.app/Contents");
    [
        contents.join("MacOS/vpn-app"),
        contents.join(
            "Library/SystemExtensions/com.example.demovpn.tunnel.systemextension/Contents/MacOS/vpn-extension",
        ),
    ]
}

#[test]
fn identity_problems_are_clear_and_keep_the_password_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let app = make_p12(dir.path(), CertKind::Application, TEAM_ID);
    let installer = make_p12(dir.path(), CertKind::Installer, TEAM_ID);

    // Certificates swapped between the two flags.
    let stderr = fails(
        with_p12s(build_pkg(&out).arg("--stand-ins"), &installer, &app),
        &out,
    );
    assert!(
        stderr.contains("developer-id-installer") && stderr.contains("--app-p12"),
        "{stderr}"
    );

    // A p12 of another team.
    let other = make_p12(dir.path(), CertKind::Application, "ZZZZZ99999");
    let stderr = fails(
        with_p12s(build_pkg(&out).arg("--stand-ins"), &other, &installer),
        &out,
    );
    assert!(
        stderr.contains("team ZZZZZ99999") && stderr.contains(TEAM_ID),
        "{stderr}"
    );

    // Wrong password.
    let stderr = fails(
        with_p12s(build_pkg(&out).arg("--stand-ins"), &app, &installer)
            .env("INSTALLER_TOOL_APP_P12_PASSWORD", "wrong"),
        &out,
    );
    assert!(
        stderr.contains("wrong password") && stderr.contains("INSTALLER_TOOL_APP_P12_PASSWORD"),
        "{stderr}"
    );

    // No password at all.
    let stderr = fails(
        with_p12s(build_pkg(&out).arg("--stand-ins"), &app, &installer)
            .env_remove("INSTALLER_TOOL_INSTALLER_P12_PASSWORD"),
        &out,
    );
    assert!(
        stderr.contains("INSTALLER_TOOL_INSTALLER_P12_PASSWORD") && stderr.contains("not set"),
        "{stderr}"
    );

    // Not a p12 at all, and a missing one.
    let garbage = dir.path().join("garbage.p12");
    std::fs::write(&garbage, b"this is not PKCS#12").unwrap();
    let stderr = fails(
        with_p12s(build_pkg(&out).arg("--stand-ins"), &garbage, &installer),
        &out,
    );
    assert!(
        stderr.contains("garbage.p12") && stderr.contains("not a readable p12"),
        "{stderr}"
    );
    let stderr = fails(
        with_p12s(
            build_pkg(&out).arg("--stand-ins"),
            &dir.path().join("absent.p12"),
            &installer,
        ),
        &out,
    );
    assert!(stderr.contains("absent.p12"), "{stderr}");
}

#[test]
fn config_problems_name_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = config_copy(dir.path());
    let original = std::fs::read_to_string(&config).unwrap();
    // Every problem here is found before anything is built.
    let refused = || {
        fails(
            build_pkg(&out)
                .arg("--config")
                .arg(&config)
                .arg("--stand-ins"),
            &out,
        )
    };

    std::fs::write(
        &config,
        original.replace("com.example.demovpn.tunnel", "com.other.tunnel"),
    )
    .unwrap();
    let stderr = refused();
    assert!(
        stderr.contains("extension.bundle-id") && stderr.contains("help:"),
        "{stderr}"
    );

    std::fs::write(&config, original.replace("team-id", "team_id")).unwrap();
    let stderr = refused();
    assert!(
        stderr.contains("team_id") && stderr.contains("release.toml"),
        "{stderr}"
    );

    std::fs::write(&config, &original).unwrap();
    let entitlements = config
        .parent()
        .unwrap()
        .join("signing/extension.entitlements");
    std::fs::write(
        &entitlements,
        "<?xml version=\"1.0\"?><plist><dict><key>oops</key></plist>",
    )
    .unwrap();
    let stderr = refused();
    assert!(
        stderr.contains("extension.entitlements") && stderr.contains("not a valid property list"),
        "{stderr}"
    );

    let pristine =
        std::fs::read_to_string(workspace_root().join("signing/extension.entitlements")).unwrap();
    let app_store = pristine.replace(
        "packet-tunnel-provider-systemextension",
        "packet-tunnel-provider",
    );
    std::fs::write(&entitlements, app_store).unwrap();
    let stderr = refused();
    assert!(stderr.contains("App Store value"), "{stderr}");

    // No app group for the Mach service name to sit under: sysextd would
    // refuse the extension (code 9), so the build does.
    let start = pristine
        .find("\t<key>com.apple.security.application-groups</key>")
        .unwrap();
    let end = pristine[start..].find("</array>").unwrap() + start + "</array>".len();
    std::fs::write(
        &entitlements,
        format!("{}{}", &pristine[..start], &pristine[end..]),
    )
    .unwrap();
    let stderr = refused();
    assert!(
        stderr.contains("extension.entitlements")
            && stderr.contains("com.apple.security.application-groups")
            && stderr.contains("NEMachServiceName")
            && stderr.contains("help:"),
        "{stderr}"
    );
}

#[test]
fn unwritable_output_dir_is_reported_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = file.join("out");
    let stderr = fails(build_pkg(&out).arg("--stand-ins"), &out);
    assert!(
        stderr.contains("not writable") && stderr.contains("--output-dir"),
        "{stderr}"
    );
}

#[test]
fn dev_mode_signs_the_app_ad_hoc_and_the_pkg_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = build_ok(
        "build-pkg --dev",
        build_pkg(&out).args(["--stand-ins", "--dev"]),
    );
    assert_eq!(report["identities"][0]["origin"]["kind"], "ad-hoc");
    assert_eq!(report["identities"][1]["origin"]["kind"], "self-signed");
    // Read from the signatures themselves: every slice's CodeDirectory is
    // flagged ad-hoc, and no CMS signature (or an empty wrapper) is there.
    let unpack = tempfile::tempdir().unwrap();
    for executable in packaged_executables(&report, unpack.path()) {
        let data = std::fs::read(&executable).unwrap();
        for slice in codesig::signed_slices(&data) {
            for directory in slice.code_directories() {
                assert_ne!(
                    directory.flags & codesig::FLAG_ADHOC,
                    0,
                    "{} is not ad-hoc",
                    executable.display()
                );
            }
            let cms = slice
                .blobs
                .iter()
                .find(|(slot, _)| *slot == codesig::SIGNATURE_SLOT);
            assert!(
                cms.is_none_or(|(_, blob)| blob.len() <= 8),
                "{} carries a CMS signature",
                executable.display()
            );
        }
    }
    assert_eq!(report["identities"][1]["purpose"], "installer");
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    assert!(pkg.exists());
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["DemoVPN-1.0.0.pkg", "DemoVPN-Uninstaller-1.0.0.pkg"],
        "only the pkg and its uninstaller are left"
    );
    // Text output tells a person where the pkg is and that it holds stand-ins.
    let output = run_ok(
        "build-pkg (text)",
        Command::new(installer_tool())
            .current_dir(workspace_root())
            .args(["build-pkg", "--stand-ins", "--dev", "--output-dir"])
            .arg(&out),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!("wrote {}", pkg.display())),
        "{stdout}"
    );
    assert!(stdout.contains("STAND-INS"), "{stdout}");
}

#[test]
fn a_signing_failure_stops_the_archiving_and_leaves_nothing() {
    // Nothing listens on port 1 of loopback: the time-stamp request fails
    // while the payload is being compressed in parallel.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stderr = fails(
        build_pkg(&out).args(["--stand-ins", "--timestamp-url", "http://127.0.0.1:1/ts"]),
        &out,
    );
    assert!(stderr.contains("cannot sign the app bundle"), "{stderr}");
}

#[test]
fn resources_are_packaged_and_the_vendors_files_stay_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = config_copy(dir.path());
    let resources = config.parent().unwrap().join("resources");
    std::fs::create_dir_all(resources.join("docs")).unwrap();
    std::fs::write(resources.join("docs/readme.txt"), b"read me\n").unwrap();
    std::os::unix::fs::symlink("readme.txt", resources.join("docs/link.txt")).unwrap();
    std::fs::create_dir_all(resources.join("bin")).unwrap();
    let helper_dir = dir.path().join("helper");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = zig_stand_in(&helper_dir, "helper", "aarch64-macos.11.0");
    std::fs::copy(&helper, resources.join("bin/helper")).unwrap();
    let helper_before = std::fs::read(resources.join("bin/helper")).unwrap();
    // Provisioning profiles are packaged and checked in provisioning.rs.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "entitlements = \"signing/app.entitlements\"",
        "entitlements = \"signing/app.entitlements\"\nresources = \"resources\"",
    );
    std::fs::write(&config, text).unwrap();

    let report = build_ok(
        "build-pkg with resources",
        build_pkg(&out)
            .arg("--config")
            .arg(&config)
            .arg("--stand-ins"),
    );
    assert_eq!(
        report["version"], "2.0.0",
        "the version comes from the Cargo.toml beside the config"
    );
    let pkg = PathBuf::from(report["pkg"].as_str().unwrap());
    let unpacked = dir.path().join("unpacked");
    unpack_xar(&pkg, &unpacked);
    let payload = dir.path().join("payload");
    unpack_cpio_gz(&unpacked.join("DemoVPN.pkg/Payload"), &payload);
    let packaged = payload.join("Applications/DemoVPN.app/Contents/Resources");
    assert_eq!(
        std::fs::read(packaged.join("docs/readme.txt")).unwrap(),
        b"read me\n"
    );
    assert_eq!(
        std::fs::read_link(packaged.join("docs/link.txt")).unwrap(),
        PathBuf::from("readme.txt")
    );
    // The packaged helper was signed; the vendor's copy was not touched.
    let signed_helper = std::fs::read(packaged.join("bin/helper")).unwrap();
    let signed = apple_codesign::MachFile::parse(&signed_helper).unwrap();
    for macho in signed.iter_macho() {
        let signature = macho.code_signature().unwrap().expect("signed");
        let cd = signature
            .code_directory()
            .unwrap()
            .expect("a CodeDirectory");
        assert_eq!(
            cd.team_name.as_deref(),
            Some(TEAM_ID),
            "signed by our identity, not zig's ad-hoc"
        );
    }
    assert_eq!(
        std::fs::read(resources.join("bin/helper")).unwrap(),
        helper_before
    );
    assert_eq!(
        std::fs::read(resources.join("docs/readme.txt")).unwrap(),
        b"read me\n"
    );
}
