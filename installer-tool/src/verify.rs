//! `installer-tool verify PKG`: a flat package checked as a user's Mac and
//! Apple's services will check it, ours or another tool's. Every problem
//! is a [`Finding`] naming the file inside the pkg and what differs.
//!
//! This first part covers the archive and the product: the table of
//! contents' checksum, each file's checksum against the heap, both
//! signatures and the kind of certificate, the stapled ticket's presence,
//! the Distribution's `hostArchitectures`, relocation in PackageInfo and
//! the scripts' modes. The Mach-O code signatures and the BOM against the
//! payload come next (issue 14).

use std::{
    fs::File,
    io::Cursor,
    path::{Path, PathBuf},
};

use apple_codesign::{AppleCertificate, CodeSigningCertificateExtension};
use apple_xar::{reader::XarReader, table_of_contents::ChecksumType};
use serde::Serialize;
use sha1::Digest;

use crate::doctor::{Finding, Severity};

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub schema_version: u32,
    pub pkg: PathBuf,
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The Mach-O architectures a universal VPN pkg declares.
const ARCHITECTURES: [&str; 2] = ["arm64", "x86_64"];

struct Checks {
    findings: Vec<Finding>,
}

impl Checks {
    fn add(
        &mut self,
        severity: Severity,
        id: &'static str,
        file: &str,
        field: &str,
        problem: String,
        fix: &str,
    ) {
        self.findings.push(Finding {
            id,
            severity,
            file: PathBuf::from(file),
            field: field.to_string(),
            problem,
            fix: fix.to_string(),
        });
    }

    fn error(&mut self, id: &'static str, file: &str, field: &str, problem: String, fix: &str) {
        self.add(Severity::Error, id, file, field, problem, fix);
    }
}

/// Checks the flat package at `pkg`.
pub fn verify(pkg: &Path) -> VerifyReport {
    let mut checks = Checks {
        findings: Vec::new(),
    };
    if let Err(problem) = check(pkg, &mut checks) {
        checks.error(
            "malformed",
            "",
            "",
            problem,
            "the file is not a readable flat package: rebuild it, or fetch it again",
        );
    }
    VerifyReport {
        schema_version: VerifyReport::SCHEMA_VERSION,
        pkg: pkg.to_path_buf(),
        findings: checks.findings,
    }
}

/// Runs every check; `Err` when the archive cannot be read far enough.
fn check(pkg: &Path, checks: &mut Checks) -> Result<(), String> {
    let file = File::open(pkg).map_err(|e| format!("cannot open {}: {e}", pkg.display()))?;
    let mut reader = XarReader::new(file).map_err(|e| format!("not a xar archive: {e}"))?;
    check_archive(&mut reader, checks)?;
    check_signature(&mut reader, checks);
    let mut file = File::open(pkg).map_err(|e| format!("cannot open {}: {e}", pkg.display()))?;
    match flatpkg::notarization_trailer::last_ticket(&mut file) {
        Ok(Some(_)) => {}
        Ok(None) => checks.add(
            Severity::Warning,
            "no-stapled-ticket",
            "",
            "",
            "no notarization ticket is stapled: a Mac without network cannot tell it was notarized"
                .into(),
            "notarize and staple it (`installer-tool notarize PKG`)",
        ),
        Err(e) => checks.error(
            "stapled-ticket",
            "",
            "",
            format!("the stapled ticket cannot be read: {e}"),
            "staple the ticket again (`installer-tool staple PKG`)",
        ),
    }
    check_product(&mut reader, checks)
}

/// The table of contents' checksum, and each file's archived checksum
/// against its bytes in the heap.
fn check_archive(reader: &mut XarReader<File>, checks: &mut Checks) -> Result<(), String> {
    match reader.verify_table_of_contents_checksum() {
        Ok(true) => {}
        Ok(false) => checks.error(
            "toc-checksum",
            "",
            "checksum",
            "the table of contents does not match its checksum: the archive was altered".into(),
            "rebuild and sign the pkg again",
        ),
        Err(e) => {
            return Err(format!(
                "the table of contents' checksum cannot be read: {e}"
            ))
        }
    }
    let files = reader
        .files()
        .map_err(|e| format!("the table of contents cannot be read: {e}"))?;
    for (path, file) in files {
        let Some(data) = &file.data else { continue };
        let mut heap = Vec::new();
        reader
            .write_file_data_heap_from_file(&file, &mut heap)
            .map_err(|e| format!("{path}: its data cannot be read: {e}"))?;
        let expected = data.archived_checksum.checksum.trim().to_ascii_lowercase();
        let actual = match data.archived_checksum.style {
            ChecksumType::Sha1 => hex::encode(sha1::Sha1::digest(&heap)),
            ChecksumType::Sha256 => hex::encode(sha2::Sha256::digest(&heap)),
            other => {
                checks.add(
                    Severity::Warning,
                    "file-checksum-unchecked",
                    &path,
                    "archived-checksum",
                    format!("its checksum style `{other}` is not one verify reads"),
                    "use sha1 or sha256 checksums",
                );
                continue;
            }
        };
        if actual != expected {
            checks.error(
                "file-checksum",
                &path,
                "archived-checksum",
                format!("its bytes hash to {actual}, the table of contents says {expected}"),
                "the file was altered after the pkg was built: rebuild it",
            );
        }
    }
    Ok(())
}

/// Both signatures, and that a Developer ID Installer certificate made
/// them (what Gatekeeper accepts for a pkg outside the App Store).
fn check_signature(reader: &mut XarReader<File>, checks: &mut Checks) {
    let certificates = match reader.rsa_signature() {
        Ok(Some((_, certificates))) => certificates,
        Ok(None) => {
            checks.error(
                "unsigned",
                "",
                "signature",
                "the pkg is not signed".into(),
                "sign it with a Developer ID Installer identity (build-pkg --installer-p12)",
            );
            return;
        }
        Err(e) => {
            checks.error(
                "rsa-signature",
                "",
                "signature",
                format!("the signature cannot be read: {e}"),
                "sign the pkg again",
            );
            return;
        }
    };
    if !rsa_signature_verifies(reader) {
        checks.error(
            "rsa-signature",
            "",
            "signature",
            "the RSA signature does not verify over the table of contents' checksum".into(),
            "the pkg was altered after signing: sign it again",
        );
    }
    match reader.cms_signature() {
        Ok(Some(_)) => {
            if !reader.verify_cms_signature().unwrap_or(false) {
                checks.error(
                    "cms-signature",
                    "",
                    "x-signature",
                    "the CMS signature does not verify over the table of contents' checksum".into(),
                    "the pkg was altered after signing: sign it again",
                );
            }
        }
        Ok(None) => checks.add(
            Severity::Warning,
            "no-cms-signature",
            "",
            "x-signature",
            "only the RSA signature is there; productsign also writes a CMS one".into(),
            "sign with build-pkg or productsign",
        ),
        Err(e) => checks.error(
            "cms-signature",
            "",
            "x-signature",
            format!("the CMS signature cannot be read: {e}"),
            "sign the pkg again",
        ),
    }
    let Some(leaf) = certificates.first() else {
        checks.error(
            "certificate-kind",
            "",
            "signature",
            "the signature carries no certificate".into(),
            "sign it with a Developer ID Installer identity",
        );
        return;
    };
    let subject = leaf
        .subject_common_name()
        .unwrap_or_else(|| "(no common name)".into());
    let kinds = leaf.apple_code_signing_extensions();
    if !kinds.contains(&CodeSigningCertificateExtension::DeveloperIdInstaller) {
        let what = if kinds.contains(&CodeSigningCertificateExtension::DeveloperIdApplication) {
            "a Developer ID Application certificate, which signs code, not installers"
        } else {
            "not a Developer ID Installer certificate"
        };
        checks.error(
            "certificate-kind",
            "",
            "signature",
            format!("`{subject}` is {what}"),
            "sign the pkg with the Developer ID Installer identity",
        );
    }
    if !leaf.chains_to_apple_root_ca() {
        checks.add(
            Severity::Warning,
            "certificate-not-from-apple",
            "",
            "signature",
            format!("`{subject}` is not issued by Apple: Gatekeeper rejects the pkg"),
            "sign releases with the Developer ID Installer identity Apple issued your team",
        );
    }
}

/// The RSA signature as xar makes it: PKCS#1 v1.5 over the table of
/// contents' checksum taken as the digest (with the checksum's algorithm;
/// `openssl pkeyutl -verify -pkeyopt digest:sha1` checks the same).
/// apple-xar's own check hashes the checksum again, so it never matches a
/// signature made this way.
fn rsa_signature_verifies(reader: &mut XarReader<File>) -> bool {
    use rsa::{pkcs1::DecodeRsaPublicKey, Pkcs1v15Sign, RsaPublicKey};
    let (Ok((style, checksum)), Ok(Some((signature, certificates)))) =
        (reader.checksum(), reader.rsa_signature())
    else {
        return false;
    };
    let Some(key) = certificates
        .first()
        .and_then(|c| RsaPublicKey::from_pkcs1_der(c.public_key_data().as_ref()).ok())
    else {
        return false;
    };
    let scheme = match style {
        ChecksumType::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        ChecksumType::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        _ => return false,
    };
    key.verify(scheme, &checksum, &signature).is_ok()
}

/// The Distribution's architectures, each component's relocation and
/// scripts.
fn check_product(reader: &mut XarReader<File>, checks: &mut Checks) -> Result<(), String> {
    let Some(distribution) = read_text(reader, "Distribution")? else {
        // A component package alone: its PackageInfo and scripts sit at
        // the top.
        check_component(reader, "", checks)?;
        return Ok(());
    };
    let document = roxmltree::Document::parse(&distribution)
        .map_err(|e| format!("Distribution is not XML: {e}"))?;
    let architectures = document
        .descendants()
        .find(|n| n.has_tag_name("options"))
        .and_then(|n| n.attribute("hostArchitectures"));
    match architectures {
        None => checks.error(
            "host-architectures",
            "Distribution",
            "options@hostArchitectures",
            "is missing: Installer on Apple silicon then asks for Rosetta before installing".into(),
            "declare `hostArchitectures=\"arm64,x86_64\"` on <options>",
        ),
        Some(declared) => {
            let declared: Vec<&str> = declared.split(',').map(str::trim).collect();
            let missing: Vec<&str> = ARCHITECTURES
                .into_iter()
                .filter(|a| !declared.contains(a))
                .collect();
            if !missing.is_empty() {
                checks.error(
                    "host-architectures",
                    "Distribution",
                    "options@hostArchitectures",
                    format!("`{}` leaves out {}", declared.join(","), missing.join(", ")),
                    "declare `hostArchitectures=\"arm64,x86_64\"` for a universal build",
                );
            }
        }
    }
    let components: Vec<String> = document
        .descendants()
        .filter(|n| n.has_tag_name("pkg-ref"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().trim_start_matches('#').to_string())
        .filter(|t| !t.is_empty())
        .collect();
    for component in components {
        check_component(reader, &format!("{component}/"), checks)?;
    }
    Ok(())
}

fn check_component(
    reader: &mut XarReader<File>,
    prefix: &str,
    checks: &mut Checks,
) -> Result<(), String> {
    let info_path = format!("{prefix}PackageInfo");
    let Some(info) = read_text(reader, &info_path)? else {
        checks.error(
            "missing-component",
            &info_path,
            "",
            "is missing: the Distribution names a component the archive lacks".into(),
            "rebuild the pkg",
        );
        return Ok(());
    };
    let document =
        roxmltree::Document::parse(&info).map_err(|e| format!("{info_path} is not XML: {e}"))?;
    // An empty <relocate/> (what pkgbuild writes for a bundle that is not
    // relocatable) relocates nothing; a bundle inside it is relocated.
    let relocated = document
        .descendants()
        .filter(|n| n.has_tag_name("relocate"))
        .any(|n| n.children().any(|c| c.is_element()));
    if relocated {
        checks.error(
            "relocatable",
            &info_path,
            "relocate",
            "lets Installer put the app wherever a copy was found, not in /Applications".into(),
            "remove <relocate> (pkgbuild: BundleIsRelocatable false in the component plist)",
        );
    }
    let scripts_path = format!("{prefix}Scripts");
    let Some(scripts) = read_bytes(reader, &scripts_path)? else {
        return Ok(());
    };
    let mut archive = cpio_archive::reader(flate2::read::GzDecoder::new(Cursor::new(scripts)))
        .map_err(|e| format!("{scripts_path} is not a gzipped cpio archive: {e}"))?;
    while let Some(entry) = archive
        .read_next()
        .map_err(|e| format!("{scripts_path}: {e}"))?
    {
        let name = entry.name().trim_start_matches("./").to_string();
        let script = name == "preinstall" || name == "postinstall";
        if script && entry.mode() & 0o111 == 0 {
            checks.error(
                "script-not-executable",
                &scripts_path,
                &name,
                format!(
                    "has mode {:o}: Installer does not run it",
                    entry.mode() & 0o7777
                ),
                "make the script executable (0755) before packaging",
            );
        }
        std::io::copy(&mut archive, &mut std::io::sink())
            .map_err(|e| format!("{scripts_path}: {e}"))?;
    }
    Ok(())
}

fn read_bytes(reader: &mut XarReader<File>, path: &str) -> Result<Option<Vec<u8>>, String> {
    reader
        .get_file_data_from_path(path)
        .map_err(|e| format!("{path} cannot be read: {e}"))
}

fn read_text(reader: &mut XarReader<File>, path: &str) -> Result<Option<String>, String> {
    read_bytes(reader, path)?
        .map(|bytes| String::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8")))
        .transpose()
}
