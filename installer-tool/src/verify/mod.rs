//! `installer-tool verify PKG`: a flat package checked as a user's Mac and
//! Apple's services will check it, ours or another tool's. Every problem
//! is a [`Finding`] naming the file inside the pkg and what differs.
//!
//! It covers the archive (the table of contents' checksum, each file's
//! checksum against the heap), its signatures and the kind of certificate,
//! the stapled ticket's presence, the product (the Distribution's
//! `hostArchitectures`, relocation in PackageInfo, the scripts' modes) and,
//! in `code`, every Mach-O of the payload and the team they and the
//! signature name, in `bundle_info` what each bundle's Info.plist says, and
//! in `bom` the component's BOM against its payload.

mod bom;
mod bundle_info;
mod code;
pub mod inventory;
mod odc;

pub use bundle_info::BundleInfo;
pub use inventory::Inventory;

use std::{
    fmt::Debug,
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
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
    /// Every bundle in the payloads, as its Info.plist describes it.
    pub bundles: Vec<BundleInfo>,
    /// What the pkg holds (`inspect` prints it; verify's report leaves it out).
    #[serde(skip)]
    pub inventory: Inventory,
}

impl VerifyReport {
    pub const SCHEMA_VERSION: u32 = 1;

    pub fn has_errors(&self) -> bool {
        crate::doctor::has_errors(&self.findings)
    }

    /// The outermost app: the one Installer puts in place and the one
    /// whose versions an update feed announces.
    pub fn app(&self) -> Option<&BundleInfo> {
        self.bundles
            .iter()
            .filter(|b| b.path.ends_with(".app"))
            .min_by_key(|b| b.path.matches(".app/").count())
    }
}

/// The Mach-O architectures a universal VPN pkg declares.
const ARCHITECTURES: [&str; 2] = ["arm64", "x86_64"];

#[derive(Default)]
struct Checks {
    findings: Vec<Finding>,
    bundles: Vec<BundleInfo>,
    inventory: Inventory,
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

/// What verify reads a pkg from: a file, or bytes in memory.
pub trait Input: Read + Seek + Debug {}
impl<T: Read + Seek + Debug> Input for T {}

/// A product archive's table of contents is a few kilobytes; its
/// Distribution, PackageInfo and Scripts are small too. Nothing larger
/// is read into memory, whatever the archive claims.
const TOC_LIMIT: u64 = 16 << 20;
const SMALL_FILE_LIMIT: u64 = 16 << 20;

/// Checks the flat package at `pkg`.
pub fn verify(pkg: &Path) -> VerifyReport {
    match File::open(pkg) {
        Ok(file) => verify_input(pkg, file),
        Err(e) => {
            let mut checks = Checks::default();
            checks.error(
                "malformed",
                "",
                "",
                format!("cannot open {}: {e}", pkg.display()),
                "check the path",
            );
            report(pkg, checks)
        }
    }
}

/// Checks the flat package read from `input`, reported as `name`.
pub fn verify_input(name: &Path, input: impl Input) -> VerifyReport {
    let mut checks = Checks::default();
    if let Err(problem) = check(input, &mut checks) {
        checks.error(
            "malformed",
            "",
            "",
            problem,
            "the file is not a readable flat package: rebuild it, or fetch it again",
        );
    }
    report(name, checks)
}

fn report(pkg: &Path, checks: Checks) -> VerifyReport {
    VerifyReport {
        schema_version: VerifyReport::SCHEMA_VERSION,
        pkg: pkg.to_path_buf(),
        findings: checks.findings,
        bundles: checks.bundles,
        inventory: checks.inventory,
    }
}

/// Runs every check; `Err` when the archive cannot be read far enough.
fn check<R: Input>(mut input: R, checks: &mut Checks) -> Result<(), String> {
    check_header(&mut input)?;
    let mut reader = XarReader::new(input).map_err(|e| format!("not a xar archive: {e}"))?;
    check_archive(&mut reader, checks)?;
    let signer_team = check_signature(&mut reader, checks);
    let mut payloads = Vec::new();
    check_product(&mut reader, &mut payloads, checks)?;
    let heap_start = reader.heap_start_offset();
    let mut input = reader.into_inner();
    let mut signed = Vec::new();
    for payload in payloads {
        input
            .seek(SeekFrom::Start(heap_start + payload.offset))
            .map_err(|e| format!("{}: {e}", payload.path))?;
        let slice = input.by_ref().take(payload.length);
        let read = if payload.zlib {
            code::check_payload(
                flate2::read::ZlibDecoder::new(slice),
                &payload.path,
                payload.component,
                payload.bom,
                checks,
            )
        } else {
            code::check_payload(slice, &payload.path, payload.component, payload.bom, checks)
        };
        // A payload that cannot be read to its end is this file's problem,
        // not the archive's: the other checks stand.
        match read {
            Ok(found) => signed.extend(found),
            Err(problem) => checks.error(
                "payload-unreadable",
                &payload.path,
                "",
                problem,
                "the payload is damaged or not a gzipped odc cpio archive: rebuild the pkg",
            ),
        }
    }
    let team = check_teams(signer_team, &signed, checks);
    check_service_names(team.as_deref(), checks);
    match flatpkg::notarization_trailer::last_ticket(&mut input) {
        Ok(Some(_)) => checks.inventory.ticket_stapled = true,
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
    Ok(())
}

/// One team across the executables and the pkg's signature: macOS
/// refuses to run an extension whose team is not its app's, and a pkg
/// signed by another team than its code is not the vendor's. The team
/// found first.
fn check_teams(
    signer: Option<String>,
    signed: &[code::Signed],
    checks: &mut Checks,
) -> Option<String> {
    let mut teams: Vec<(&str, &str)> = signed
        .iter()
        .filter_map(|s| s.team.as_deref().map(|t| (t, s.path.as_str())))
        .collect();
    if let Some(signer) = &signer {
        teams.push((signer, "the pkg's signature"));
    }
    let (first, first_where) = teams.first().copied()?;
    if let Some((other, other_where)) = teams.iter().find(|(team, _)| *team != first) {
        checks.error(
            "team-mismatch",
            "",
            "team",
            format!("{first_where} names team {first}, {other_where} names team {other}"),
            "sign the app, the extension and the pkg with identities of one team",
        );
    }
    Some(first.to_string())
}

/// The XPC service the app and the extension meet on: one name in both
/// Info.plists, of the form `<team's app group>.<extension>.<version>`,
/// owned by the signing team and versioned with the bundle that carries
/// it (a name reused across releases lets the app reach the old
/// extension's stale service after an upgrade; see vpn-release's
/// `ServiceName`). Bundles without the key (another vendor's pkg) are not
/// held to it.
fn check_service_names(team: Option<&str>, checks: &mut Checks) {
    const FIX: &str =
        "build with installer-tool, which writes one versioned service name into both Info.plists";
    let named: Vec<(String, String, Option<String>)> = checks
        .bundles
        .iter()
        .filter_map(|b| Some((b.path.clone(), b.service_name.clone()?, b.version.clone())))
        .collect();
    let mut problems = Vec::new();
    if let Some((first_path, first, _)) = named.first() {
        if let Some((path, other, _)) = named.iter().find(|(_, name, _)| name != first) {
            problems.push((
                path.clone(),
                format!("names the service {other}, {first_path} names {first}"),
            ));
        }
    }
    for (path, name, version) in &named {
        let Ok(parsed) = name.parse::<vpn_release::ServiceName>() else {
            problems.push((
                path.clone(),
                format!("{name} is not <team's app group>.<extension>.<version>"),
            ));
            continue;
        };
        if version.as_deref().is_some_and(|v| v != parsed.version()) {
            problems.push((
                path.clone(),
                format!(
                    "{name} is not versioned with the bundle's CFBundleVersion {}",
                    version.as_deref().unwrap_or_default()
                ),
            ));
        }
        if team.is_some_and(|t| t != parsed.team().as_str()) {
            problems.push((
                path.clone(),
                format!(
                    "{name} lives under team {}'s group, the code is team {}'s",
                    parsed.team(),
                    team.unwrap_or_default()
                ),
            ));
        }
    }
    for (path, problem) in problems {
        checks.error("service-name", &path, "Info.plist", problem, FIX);
    }
}

/// Where a component's payload sits in the heap.
struct PayloadLocation {
    path: String,
    offset: u64,
    length: u64,
    /// xar's `application/x-gzip` encoding (zlib) on top of the payload's
    /// own gzip.
    zlib: bool,
    /// The component's BOM, to hold the payload to.
    bom: Option<bom::BomIndex>,
    /// Its component in the inventory.
    component: usize,
}

/// The xar header and table of contents, within bounds, before apple-xar
/// reads them: it trusts the header's sizes (a header size under 28
/// underflows, and it reserves the claimed uncompressed size up front).
/// Leaves `input` at its start.
fn check_header(input: &mut impl Input) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot read the archive: {e}");
    let length = input.seek(SeekFrom::End(0)).map_err(io)?;
    input.rewind().map_err(io)?;
    let mut header = [0u8; 28];
    input
        .read_exact(&mut header)
        .map_err(|_| "shorter than a xar header".to_string())?;
    if &header[..4] != b"xar!" {
        return Err("not a xar archive (no `xar!` magic)".into());
    }
    let size = u64::from(u16::from_be_bytes([header[4], header[5]]));
    let compressed = u64::from_be_bytes(header[8..16].try_into().expect("8 bytes"));
    let uncompressed = u64::from_be_bytes(header[16..24].try_into().expect("8 bytes"));
    if size < 28 || size > length || compressed > length - size {
        return Err(format!(
            "the header's sizes (header {size}, table of contents {compressed}) do not fit the {length}-byte file"
        ));
    }
    if uncompressed > TOC_LIMIT {
        return Err(format!(
            "the table of contents claims {uncompressed} bytes, more than any pkg's"
        ));
    }
    // Inflated here first, with a limit: the claimed size may lie.
    input.seek(SeekFrom::Start(size)).map_err(io)?;
    let inflated = std::io::copy(
        &mut flate2::read::ZlibDecoder::new(input.by_ref().take(compressed)).take(TOC_LIMIT + 1),
        &mut std::io::sink(),
    )
    .map_err(|e| format!("the table of contents does not inflate: {e}"))?;
    if inflated > TOC_LIMIT {
        return Err("the table of contents inflates past any pkg's".into());
    }
    input.rewind().map_err(io)?;
    Ok(())
}

/// The table of contents' checksum, and each file's archived checksum
/// against its bytes in the heap.
fn check_archive<R: Input>(reader: &mut XarReader<R>, checks: &mut Checks) -> Result<(), String> {
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
        // Hashed as it streams from the heap: a payload is never held whole.
        let expected = data.archived_checksum.checksum.trim().to_ascii_lowercase();
        let mut digest = |mut hasher: Box<dyn DigestWriter>| {
            reader
                .write_file_data_heap_from_file(&file, &mut hasher)
                .map_err(|e| format!("{path}: its data cannot be read: {e}"))?;
            Ok::<_, String>(hasher.hex())
        };
        let actual = match data.archived_checksum.style {
            ChecksumType::Sha1 => digest(Box::new(sha1::Sha1::new()))?,
            ChecksumType::Sha256 => digest(Box::new(sha2::Sha256::new()))?,
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
fn check_signature<R: Input>(reader: &mut XarReader<R>, checks: &mut Checks) -> Option<String> {
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
            return None;
        }
        Err(e) => {
            checks.error(
                "rsa-signature",
                "",
                "signature",
                format!("the signature cannot be read: {e}"),
                "sign the pkg again",
            );
            return None;
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
        Ok(Some(signed_data)) => {
            if !reader.verify_cms_signature().unwrap_or(false) {
                checks.error(
                    "cms-signature",
                    "",
                    "x-signature",
                    "the CMS signature does not verify over the table of contents' checksum".into(),
                    "the pkg was altered after signing: sign it again",
                );
            }
            check_timestamp(&signed_data, checks);
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
        return None;
    };
    let subject = leaf
        .subject_common_name()
        .unwrap_or_else(|| "(no common name)".into());
    checks.inventory.signer = Some(subject.clone());
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
    leaf.apple_team_id()
}

/// A signature without a secure time-stamp is only as good as its
/// certificate's validity: once that expires, Installer rejects the pkg
/// (`pkgutil --check-signature` prints "Signed with a trusted timestamp on"
/// for those that have one). A token that is there must verify.
fn check_timestamp(signed_data: &cryptographic_message_syntax::SignedData, checks: &mut Checks) {
    for signer in signed_data.signers() {
        match signer.verify_time_stamp_token() {
            Ok(Some(())) => checks.inventory.timestamped = true,
            Ok(None) => checks.add(
                Severity::Warning,
                "no-timestamp",
                "",
                "x-signature",
                "the signature has no secure time-stamp: Installer rejects the pkg once the \
                 certificate expires"
                    .into(),
                "sign with a time-stamp (build-pkg does for Apple's identities; --timestamp-url)",
            ),
            Err(e) => checks.error(
                "timestamp",
                "",
                "x-signature",
                format!("the signature's time-stamp token does not verify: {e}"),
                "sign the pkg again with a time-stamp",
            ),
        }
    }
}

/// The RSA signature as xar makes it: PKCS#1 v1.5 over the table of
/// contents' checksum taken as the digest (with the checksum's algorithm;
/// `openssl pkeyutl -verify -pkeyopt digest:sha1` checks the same).
/// apple-xar's own check hashes the checksum again, so it never matches a
/// signature made this way.
fn rsa_signature_verifies<R: Input>(reader: &mut XarReader<R>) -> bool {
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
fn check_product<R: Input>(
    reader: &mut XarReader<R>,
    payloads: &mut Vec<PayloadLocation>,
    checks: &mut Checks,
) -> Result<(), String> {
    let Some(distribution) = read_text(reader, "Distribution")? else {
        // A component package alone: its PackageInfo and scripts sit at
        // the top.
        check_component(reader, "", payloads, checks)?;
        return Ok(());
    };
    let document = roxmltree::Document::parse(&distribution)
        .map_err(|e| format!("Distribution is not XML: {e}"))?;
    let architectures = document
        .descendants()
        .find(|n| n.has_tag_name("options"))
        .and_then(|n| n.attribute("hostArchitectures"));
    checks.inventory.title = document
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string());
    checks.inventory.host_architectures = architectures.map(str::to_string);
    checks.inventory.minimum_macos = document
        .descendants()
        .find(|n| n.has_tag_name("os-version"))
        .and_then(|n| n.attribute("min"))
        .map(str::to_string);
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
        check_component(reader, &format!("{component}/"), payloads, checks)?;
    }
    Ok(())
}

fn check_component<R: Input>(
    reader: &mut XarReader<R>,
    prefix: &str,
    payloads: &mut Vec<PayloadLocation>,
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
    let root = document.root_element();
    let attribute = |name: &str| root.attribute(name).map(str::to_string);
    checks.inventory.components.push(inventory::Component {
        path: prefix.trim_end_matches('/').to_string(),
        identifier: attribute("identifier"),
        version: attribute("version"),
        install_location: attribute("install-location"),
        ..Default::default()
    });
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
    let payload_path = format!("{prefix}Payload");
    if let Some(data) = reader
        .find_file(&payload_path)
        .map_err(|e| format!("{payload_path} cannot be found: {e}"))?
        .and_then(|file| file.data)
    {
        let bom_path = format!("{prefix}Bom");
        let bom = match read_bytes(reader, &bom_path)? {
            Some(bytes) => bom::BomIndex::read(&bom_path, &bytes)
                .map_err(|problem| {
                    checks.error(
                        "bom-unreadable",
                        &bom_path,
                        "",
                        format!("is not a readable BOM: {problem}"),
                        "rebuild the pkg (mkbom, or installer-tool build-pkg)",
                    )
                })
                .ok(),
            None => {
                checks.error(
                    "bom-missing",
                    &bom_path,
                    "",
                    "is missing: Installer records the BOM as the receipt of what it installed"
                        .into(),
                    "rebuild the pkg with a BOM of its payload",
                );
                None
            }
        };
        payloads.push(PayloadLocation {
            path: payload_path,
            offset: data.offset,
            length: data.length,
            zlib: is_zlib(&data.encoding.style),
            bom,
            component: checks.inventory.components.len() - 1,
        });
    }
    let scripts_path = format!("{prefix}Scripts");
    let Some(scripts) = read_bytes(reader, &scripts_path)? else {
        return Ok(());
    };
    let mut archive = odc::OdcReader::new(flate2::read::GzDecoder::new(scripts.as_slice()));
    while let Some(entry) = archive
        .next_entry()
        .map_err(|e| format!("{scripts_path}: {e}"))?
    {
        let name = entry.name.trim_start_matches("./").to_string();
        if let Some(component) = checks.inventory.components.last_mut() {
            if name != "." {
                component
                    .scripts
                    .push(inventory::Entry::new(name.clone(), entry.mode, entry.size));
            }
        }
        let script = name == "preinstall" || name == "postinstall";
        if script && entry.mode & 0o111 == 0 {
            checks.error(
                "script-not-executable",
                &scripts_path,
                &name,
                format!(
                    "has mode {:o}: Installer does not run it",
                    entry.mode & 0o7777
                ),
                "make the script executable (0755) before packaging",
            );
        }
    }
    Ok(())
}

/// xar's `application/x-gzip` (and `zlib`) encodings are zlib streams.
fn is_zlib(style: &str) -> bool {
    style.contains("x-gzip") || style.contains("zlib")
}

/// A small file of the archive, decoded, within [`SMALL_FILE_LIMIT`]
/// however it is encoded.
fn read_bytes<R: Input>(reader: &mut XarReader<R>, path: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(file) = reader
        .find_file(path)
        .map_err(|e| format!("{path} cannot be found: {e}"))?
    else {
        return Ok(None);
    };
    let Some(data) = &file.data else {
        return Ok(None);
    };
    let mut heap = Limited::new(path);
    reader
        .write_file_data_heap_from_file(&file, &mut heap)
        .map_err(|e| format!("{path} cannot be read: {e}"))?;
    let heap = heap.bytes?;
    if !is_zlib(&data.encoding.style) {
        return Ok(Some(heap));
    }
    let mut decoded = Limited::new(path);
    std::io::copy(
        &mut flate2::read::ZlibDecoder::new(heap.as_slice()).take(SMALL_FILE_LIMIT + 1),
        &mut decoded,
    )
    .map_err(|e| format!("{path} does not inflate: {e}"))?;
    decoded.bytes.map(Some)
}

/// A buffer that refuses to grow past [`SMALL_FILE_LIMIT`].
struct Limited {
    bytes: Result<Vec<u8>, String>,
    path: String,
}

impl Limited {
    fn new(path: &str) -> Self {
        Self {
            bytes: Ok(Vec::new()),
            path: path.to_string(),
        }
    }
}

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(bytes) = &mut self.bytes {
            if (bytes.len() + buf.len()) as u64 > SMALL_FILE_LIMIT {
                self.bytes = Err(format!("{} is larger than any pkg's", self.path));
            } else {
                bytes.extend_from_slice(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A digest that bytes are written into.
trait DigestWriter: Write {
    fn hex(self: Box<Self>) -> String;
}

impl<D: Digest + Write> DigestWriter for D {
    fn hex(self: Box<Self>) -> String {
        hex::encode(self.finalize())
    }
}

fn read_text<R: Input>(reader: &mut XarReader<R>, path: &str) -> Result<Option<String>, String> {
    read_bytes(reader, path)?
        .map(|bytes| String::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};

    use super::*;

    fn header(size: u16, compressed: u64, uncompressed: u64) -> Vec<u8> {
        let mut bytes = b"xar!".to_vec();
        bytes.extend(size.to_be_bytes());
        bytes.extend(1u16.to_be_bytes());
        bytes.extend(compressed.to_be_bytes());
        bytes.extend(uncompressed.to_be_bytes());
        bytes.extend(1u32.to_be_bytes());
        bytes
    }

    fn verdict(bytes: Vec<u8>) -> (Vec<&'static str>, String) {
        let report = verify_input(Path::new("hostile.pkg"), Cursor::new(bytes));
        let ids = report.findings.iter().map(|f| f.id).collect();
        let problems = report
            .findings
            .iter()
            .map(|f| f.problem.clone())
            .collect::<Vec<_>>()
            .join("; ");
        (ids, problems)
    }

    #[test]
    fn hostile_headers_are_refused_before_anything_is_reserved() {
        // A header size under 28 (apple-xar subtracts 28 from it).
        let (ids, problems) = verdict(header(4, 0, 0));
        assert_eq!(ids, ["malformed"]);
        assert!(problems.contains("do not fit"), "{problems}");
        // A table of contents claiming 2^60 bytes.
        let (ids, problems) = verdict(header(28, 0, 1 << 60));
        assert_eq!(ids, ["malformed"]);
        assert!(problems.contains("more than any pkg's"), "{problems}");
        // A table of contents longer than the file.
        let (ids, _) = verdict(header(28, 1 << 40, 100));
        assert_eq!(ids, ["malformed"]);
        // One that claims little and inflates to 32 MiB.
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 32 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        let mut bytes = header(28, bomb.len() as u64, 1000);
        bytes.extend(bomb);
        let (ids, problems) = verdict(bytes);
        assert_eq!(ids, ["malformed"]);
        assert!(problems.contains("inflates past"), "{problems}");
        // No magic at all.
        let (ids, problems) = verdict(b"this is not a pkg, only some words".to_vec());
        assert_eq!(ids, ["malformed"]);
        assert!(problems.contains("magic"), "{problems}");
    }
}
