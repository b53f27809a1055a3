//! Readers we did not write, run over our artefacts: bsdtar, GNU cpio,
//! openssl, and apple-codesign's verifier.

use std::{
    path::Path,
    process::{Command, Output},
};

use crate::{codesig, run_ok};

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
