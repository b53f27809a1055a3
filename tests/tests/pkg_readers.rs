//! The demo pkg as seen by readers we did not write: bsdtar, 7z, GNU cpio,
//! openssl, apple-flat-package and apple-bom.

use std::{path::Path, process::Command};

use system_tests::{
    cms_verify, demo_pkg, fingerprint, run_ok, sh, unpack_cpio_gz,
    xar_layout::{cms_signature, element, heap_element, xar_layout},
};

fn stdout(output: std::process::Output) -> String {
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// One line of GNU `cpio -itv --numeric-uid-gid`.
#[derive(Debug)]
struct CpioEntry {
    mode: String,
    uid: u32,
    gid: u32,
    size: usize,
    path: String,
    link_target: Option<String>,
}

/// GNU cpio's verbose listing of a gzipped payload, one entry a line (the
/// name may hold spaces; a symlink ends in ` -> target`).
fn cpio_listing(payload: &Path) -> Vec<CpioEntry> {
    let listing = stdout(sh(
        "gzip -dc Payload | cpio -itv",
        &format!(
            "gzip -dc '{}' | cpio -itv --numeric-uid-gid --quiet",
            payload.display()
        ),
    ));
    // mode, links, uid, gid, size, month, day, year or time, name.
    let line_format =
        regex::Regex::new(r"^(\S+)\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\d+\s+\S+\s(.*)$")
            .unwrap();
    listing
        .lines()
        .map(|line| {
            let fields = line_format
                .captures(line)
                .unwrap_or_else(|| panic!("not a cpio -itv line: {line:?}"));
            let mode = fields[1].to_string();
            let (path, link_target) = match fields[5].split_once(" -> ") {
                Some((path, target)) if mode.starts_with('l') => {
                    (path.to_string(), Some(target.to_string()))
                }
                _ => (fields[5].to_string(), None),
            };
            CpioEntry {
                uid: fields[2].parse().unwrap(),
                gid: fields[3].parse().unwrap(),
                size: fields[4].parse().unwrap(),
                mode,
                path,
                link_target,
            }
        })
        .collect()
}

const ARCHIVE_FILES: [&str; 5] = [
    "Distribution",
    "DemoVPN.pkg/Bom",
    "DemoVPN.pkg/PackageInfo",
    "DemoVPN.pkg/Payload",
    "DemoVPN.pkg/Scripts",
];

#[test]
fn bsdtar_and_7z_list_the_product_archive() {
    let built = demo_pkg();
    let bsdtar = stdout(run_ok(
        "bsdtar -tf",
        Command::new("bsdtar").arg("-tf").arg(&built.pkg),
    ));
    let listed: Vec<&str> = bsdtar.lines().collect();
    for file in ARCHIVE_FILES {
        assert!(
            listed.contains(&file),
            "bsdtar does not list {file}: {listed:?}"
        );
    }
    let seven = stdout(run_ok("7z l", Command::new("7z").arg("l").arg(&built.pkg)));
    for file in ARCHIVE_FILES {
        assert!(seven.contains(file), "7z does not list {file}:\n{seven}");
    }
    // 7z also checks the stored checksums when testing the archive.
    let tested = stdout(run_ok("7z t", Command::new("7z").arg("t").arg(&built.pkg)));
    assert!(tested.contains("Everything is Ok"), "{tested}");
}

#[test]
fn toc_checksum_and_both_signatures_verify_with_openssl() {
    let built = demo_pkg();
    let bytes = std::fs::read(&built.pkg).unwrap();
    let layout = xar_layout(&bytes);
    let work = built.dir.path().join("openssl");
    std::fs::create_dir_all(&work).unwrap();
    let write = |name: &str, data: &[u8]| {
        let path = work.join(name);
        std::fs::write(&path, data).unwrap();
        path
    };

    let toc = write("toc.z", &layout.toc_compressed);
    let sha1 = run_ok(
        "openssl dgst -sha1",
        Command::new("openssl")
            .args(["dgst", "-sha1", "-binary"])
            .arg(&toc),
    )
    .stdout;
    let stored = heap_element(&bytes, &layout, "<checksum");
    assert_eq!(stored.len(), 20);
    assert_eq!(
        sha1, stored,
        "the TOC checksum is the SHA-1 of the compressed TOC"
    );
    let digest = write("digest", stored);

    let cert_b64: String = element(
        &layout.toc_xml,
        "<signature style=\"RSA\"",
        "X509Certificate",
    )
    .split_whitespace()
    .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        cert_b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let cert = write("toc-cert.pem", pem.as_bytes());
    let subject = stdout(run_ok(
        "openssl x509 -subject",
        Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&cert),
    ));
    assert!(
        subject.contains("Developer ID Installer: System Tests (ABCDE12345)"),
        "{subject}"
    );
    // The certificate in the TOC is the installer identity we passed in.
    assert_eq!(fingerprint(&cert), fingerprint(&built.installer_cert));

    let rsa = write(
        "rsa.sig",
        heap_element(&bytes, &layout, "<signature style=\"RSA\""),
    );
    let public = work.join("public.pem");
    run_ok(
        "openssl x509 -pubkey",
        Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&public),
    );
    let rsa_verify = |content: &Path| {
        Command::new("openssl")
            .args([
                "pkeyutl",
                "-verify",
                "-pubin",
                "-pkeyopt",
                "digest:sha1",
                "-inkey",
            ])
            .arg(&public)
            .arg("-in")
            .arg(content)
            .arg("-sigfile")
            .arg(&rsa)
            .output()
            .expect("openssl runs")
    };
    let verified = rsa_verify(&digest);
    assert!(
        verified.status.success()
            && stdout(verified.clone()).contains("Signature Verified Successfully"),
        "RSA signature of the TOC checksum: {verified:?}"
    );

    let cms = write("cms.der", &cms_signature(&bytes).1);
    let signer = work.join("signer.pem");
    let verified = cms_verify(&cms, &digest, &signer);
    assert!(
        verified.status.success(),
        "CMS signature of the TOC checksum: {verified:?}"
    );
    assert_eq!(fingerprint(&signer), fingerprint(&built.installer_cert));

    // A flipped byte in the TOC checksum must fail both checks.
    let mut tampered = stored.to_vec();
    tampered[0] ^= 1;
    let tampered = write("tampered", &tampered);
    let rsa_check = rsa_verify(&tampered);
    assert!(!rsa_check.status.success());
    let cms_check = cms_verify(&cms, &tampered, &work.join("tampered-signer.pem"));
    assert!(!cms_check.status.success());
}

#[test]
fn gnu_cpio_lists_the_bundle_with_modes_and_owners() {
    let built = demo_pkg();
    let payload = built.component().join("Payload");
    let listing = stdout(sh(
        "gzip -dc Payload | cpio -itv",
        &format!(
            "gzip -dc '{}' | cpio -itv --numeric-uid-gid --quiet",
            payload.display()
        ),
    ));
    let line = |path: &str| -> Vec<String> {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")) || l.contains(&format!(" {path} -> ")))
            .unwrap_or_else(|| panic!("cpio does not list {path}:\n{listing}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let app = "./Applications/DemoVPN.app/Contents";
    let ext = format!(
        "{app}/Library/SystemExtensions/com.example.demovpn.tunnel.systemextension/Contents"
    );
    for (path, mode) in [
        (".".to_string(), "drwxr-xr-x"),
        ("./Applications".to_string(), "drwxrwxr-x"),
        (app.to_string(), "drwxr-xr-x"),
        (format!("{app}/Info.plist"), "-rw-r--r--"),
        (format!("{app}/MacOS/vpn-app"), "-rwxr-xr-x"),
        (format!("{app}/_CodeSignature/CodeResources"), "-rw-r--r--"),
        (format!("{ext}/Info.plist"), "-rw-r--r--"),
        (format!("{ext}/MacOS/vpn-extension"), "-rwxr-xr-x"),
    ] {
        let fields = line(&path);
        assert_eq!(fields[0], mode, "{path}");
        assert_eq!(
            (fields[2].as_str(), fields[3].as_str()),
            ("0", "80"),
            "{path} owned 0:80"
        );
    }
    // One gzip member: gzip itself says so when testing the file.
    sh(
        "gzip -t Payload",
        &format!("gzip -t '{}'", payload.display()),
    );
}

#[test]
fn scripts_archive_holds_executable_posix_scripts() {
    let built = demo_pkg();
    let scripts = built.component().join("Scripts");
    let listing = stdout(sh(
        "gzip -dc Scripts | cpio -itv",
        &format!("gzip -dc '{}' | cpio -itv --quiet", scripts.display()),
    ));
    for (name, mode) in [
        ("./preinstall", "-rwxr-xr-x"),
        ("./postinstall", "-rwxr-xr-x"),
        ("./upgrade-lib.sh", "-rw-r--r--"),
    ] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{listing}"));
        assert!(line.starts_with(mode), "{line}");
    }
    let dir = built.dir.path().join("scripts-checked");
    unpack_cpio_gz(&scripts, &dir);
    for name in ["preinstall", "postinstall", "upgrade-lib.sh"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            text.contains("1.0.0") && !text.contains("{{"),
            "{name} is rendered"
        );
        run_ok("sh -n", Command::new("sh").arg("-n").arg(dir.join(name)));
        if name == "postinstall" {
            assert!(text.contains("REPAIR_POLICY=\"on-failure\""), "{text}");
        }
        // -x follows `. upgrade-lib.sh` from the scripts' own folder.
        run_ok(
            "shellcheck",
            Command::new("shellcheck")
                .args(["-x", "-P", "SCRIPTDIR"])
                .arg(dir.join(name)),
        );
    }
}

#[test]
fn apple_flat_package_parses_package_info_and_distribution() {
    let built = demo_pkg();
    let mut reader =
        apple_flat_package::PkgReader::new(std::fs::File::open(&built.pkg).unwrap()).unwrap();
    let distribution = reader.distribution().unwrap().expect("a Distribution");
    let options = distribution.options.as_ref().unwrap();
    assert_eq!(options.host_architecutres.as_deref(), Some("arm64,x86_64"));
    assert!(distribution.domains.as_ref().unwrap().enable_local_system);
    assert!(
        !distribution
            .domains
            .as_ref()
            .unwrap()
            .enable_current_user_home
    );
    // The title is localized: the key of each language's Localizable.strings
    // (tests/tests/installer_pages.rs).
    assert_eq!(
        distribution.title.as_ref().map(|t| t.title.as_str()),
        Some("SU_TITLE")
    );
    // apple-flat-package's VolumeCheck never matches `allowed-os-versions`
    // (its serde attribute is `rename`, not `rename_all`): read the text.
    assert!(distribution.volume_check.is_some());
    let text = std::fs::read_to_string(built.extracted.join("Distribution")).unwrap();
    assert!(text.contains("<os-version min=\"13.0\"/>"), "{text}");
    let pkg_ref = distribution
        .pkg_ref
        .iter()
        .find(|r| r.version.is_some())
        .unwrap();
    assert_eq!(pkg_ref.id, "com.example.demovpn.pkg");
    assert_eq!(pkg_ref.version.as_deref(), Some("1.0.0"));

    let components = reader.component_packages().unwrap();
    assert_eq!(components.len(), 1);
    let info = components[0].package_info().expect("PackageInfo");
    assert_eq!(info.identifier, "com.example.demovpn.pkg");
    assert_eq!(info.version, "1.0.0");
    assert_eq!(info.install_location.as_deref(), Some("/"));
    assert_eq!(info.auth, "root");
    // The bundle lists, read with an XML parser: apple-flat-package models
    // each list as a single bundle reference.
    let text = std::fs::read_to_string(built.component().join("PackageInfo")).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    let listed = |list: &str| -> Vec<&str> {
        document
            .descendants()
            .filter(|n| n.has_tag_name(list))
            .flat_map(|n| n.children())
            .filter_map(|b| b.attribute("id"))
            .collect()
    };
    let both = ["com.example.demovpn", "com.example.demovpn.tunnel"];
    assert_eq!(listed("upgrade-bundle"), both, "replaced whole on upgrade");
    assert_eq!(listed("bundle-version"), both);
    assert_eq!(listed("strict-identifier"), both);
    assert!(
        listed("relocate").is_empty(),
        "no relocation: the app always lands in /Applications"
    );
    assert_eq!(
        document.root_element().attribute("relocatable"),
        Some("false")
    );
    let paths: Vec<&str> = document
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("bundle"))
        .filter_map(|b| b.attribute("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "./Applications/DemoVPN.app",
            "./Applications/DemoVPN.app/Contents/Library/SystemExtensions/com.example.demovpn.tunnel.systemextension"
        ]
    );
    assert_eq!(info.scripts.scripts.len(), 2);
    // Installer's progress counts the payload's entries: what GNU cpio
    // lists in the Payload (directories and "." included), not what our
    // own report says.
    let payload = info.payload.as_ref().unwrap();
    let listed = cpio_listing(&built.component().join("Payload"));
    assert!(listed.iter().any(|e| e.path == "."), "{listed:?}");
    assert_eq!(
        payload.number_of_files,
        listed.len() as u64,
        "numberOfFiles against the entries GNU cpio lists in the Payload"
    );
}

#[test]
fn bom_lists_exactly_the_payload() {
    let built = demo_pkg();
    let component = built.component();
    let bom = std::fs::read(component.join("Bom")).unwrap();
    let parsed = apple_bom::ParsedBom::parse(&bom).unwrap();
    type Row = (String, String, u32, u32, usize, Option<String>);
    let bom_paths: Vec<Row> = parsed
        .paths()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.path().to_string(),
                p.symbolic_mode(),
                p.user_id(),
                p.group_id(),
                p.size(),
                p.link_name().map(str::to_string),
            )
        })
        .collect();
    // Both sides print the type as `ls` does (`d`, `-`, `l`); a symlink's
    // size is its target's length on both, and its target is compared too.
    let mut cpio: Vec<_> = cpio_listing(&component.join("Payload"))
        .into_iter()
        .map(|e| (e.path, e.mode, e.uid, e.gid, e.size, e.link_target))
        .collect();
    let mut bom_sorted = bom_paths.clone();
    bom_sorted.sort();
    cpio.sort();
    assert_eq!(bom_sorted, cpio);
    assert!(bom_paths.len() > 10);
}
