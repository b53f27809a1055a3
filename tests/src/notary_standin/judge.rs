//! What the stand-in checks in an upload, after Apple's published
//! notarization requirements that can be checked without Apple's
//! certificate chain: every Mach-O signed with a certificate (not ad-hoc),
//! with a secure timestamp and with the hardened runtime; a package signed
//! ("Resolving common notarization issues",
//! <https://developer.apple.com/documentation/security/resolving-common-notarization-issues>). It also derives the
//! ticket record name the way Apple's service does, from the upload itself
//! and from the published structures, not with the library the product
//! signs with, so a stapler that computes it differently finds no ticket.
//! A package's payloads are unpacked and their Mach-O files judged too.

use std::{io::Cursor, path::Path};

use apple_codesign::{CodeSignatureFlags, MachFile};
use apple_xar::reader::XarReader;
use bcder::{decode::Constructed, Mode};
use cryptographic_message_syntax::{asn1::rfc3161::TstInfo, SignedData};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::codesig;

pub struct Verdict {
    /// Issues in the developer log's format; any makes the submission Invalid.
    pub issues: Vec<Value>,
    /// The ticket's record name, when accepted.
    pub record: Option<String>,
}

fn issue(path: &str, message: &str, architecture: Option<&str>) -> Value {
    json!({
        "severity": "error",
        "code": null,
        "path": path,
        "message": message,
        "docUrl": "https://developer.apple.com/documentation/security/resolving-common-notarization-issues",
        "architecture": architecture,
    })
}

fn invalid(path: &str, message: &str) -> Verdict {
    Verdict {
        issues: vec![issue(path, message, None)],
        record: None,
    }
}

pub fn judge(name: &str, data: &[u8]) -> Verdict {
    if data.starts_with(b"xar!") {
        judge_package(name, data)
    } else if data.starts_with(b"PK\x03\x04") {
        judge_zip(name, data)
    } else {
        invalid(name, "Unsupported file format: submit a zip, dmg or pkg.")
    }
}

fn judge_package(name: &str, data: &[u8]) -> Verdict {
    let Ok(mut reader) = XarReader::new(Cursor::new(data)) else {
        return invalid(name, "The package is not a valid flat package.");
    };
    if reader.table_of_contents().signature.is_none() {
        return invalid(
            name,
            "The package is not signed with a Developer ID Installer certificate.",
        );
    }
    let record = match package_record_name(data) {
        Ok(record) => record,
        Err(reason) => return invalid(name, reason),
    };
    // Apple notarizes what a package installs: every Mach-O in each
    // component's payload is held to the same rules as in an app.
    let unpacked = tempfile::tempdir().expect("a temporary directory");
    let payloads: Vec<String> = reader
        .files()
        .unwrap_or_default()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path == "Payload" || path.ends_with("/Payload"))
        .collect();
    let mut issues = Vec::new();
    for path in payloads {
        let into = unpacked.path().join(path.replace('/', "_"));
        let unpacked_payload = reader
            .get_file_data_from_path(&path)
            .ok()
            .flatten()
            .is_some_and(|data| unpack_payload(&data, &into));
        if !unpacked_payload {
            return invalid(name, &format!("The payload {path} could not be read."));
        }
        check_tree(&into, &into, &format!("{name}/{path}"), &mut issues);
    }
    Verdict {
        record: issues.is_empty().then_some(record),
        issues,
    }
}

/// The ticket record name of a flat package, read by hand from the xar
/// layout Apple's xar publishes (include/xar.h.in, `xar_header`: big-endian
/// magic, header size, version, compressed and uncompressed TOC lengths,
/// and the checksum algorithm, 1 for SHA-1 or 3 for one named after the
/// 28 fixed bytes; lib/archive.c writes the digest of the compressed TOC at
/// the heap offset the TOC's `<checksum>` names). The digest is computed
/// here and must equal the stored one, as xar's reader requires. The name
/// is `2/<CS_HASHTYPE of the digest (XNU cs_blobs.h)>/<its first 20 bytes,
/// hex>`, the layout rcodesign's stapler looks up for a pkg.
fn package_record_name(data: &[u8]) -> Result<String, &'static str> {
    const UNREADABLE: &str = "The package's table of contents checksum is unreadable.";
    let be = |at: usize, len: usize| -> Result<u64, &'static str> {
        let bytes = data.get(at..at + len).ok_or(UNREADABLE)?;
        Ok(bytes.iter().fold(0, |n, b| n << 8 | u64::from(*b)))
    };
    let header_size = be(4, 2)? as usize;
    let toc_length = usize::try_from(be(8, 8)?).map_err(|_| UNREADABLE)?;
    let heap = header_size.checked_add(toc_length).ok_or(UNREADABLE)?;
    let toc = data.get(header_size..heap).ok_or(UNREADABLE)?;
    let (digest, hash_type): (Vec<u8>, u8) = match be(24, 4)? {
        1 => (sha1::Sha1::digest(toc).to_vec(), codesig::HASH_SHA1),
        3 if data
            .get(28..header_size)
            .is_some_and(|name| name.starts_with(b"sha256\0")) =>
        {
            (Sha256::digest(toc).to_vec(), codesig::HASH_SHA256)
        }
        _ => return Err("The package's table of contents checksum is not SHA-1 or SHA-256."),
    };
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::ZlibDecoder::new(toc), &mut xml)
        .map_err(|_| UNREADABLE)?;
    let document = roxmltree::Document::parse(&xml).map_err(|_| UNREADABLE)?;
    let field = |name: &str| -> Option<usize> {
        let checksum = document
            .root_element()
            .children()
            .find(|n| n.has_tag_name("toc"))?
            .children()
            .find(|n| n.has_tag_name("checksum"))?;
        checksum
            .children()
            .find(|n| n.has_tag_name(name))?
            .text()?
            .trim()
            .parse()
            .ok()
    };
    let (offset, size) = field("offset").zip(field("size")).ok_or(UNREADABLE)?;
    let stored = heap
        .checked_add(offset)
        .and_then(|start| data.get(start..start.checked_add(size)?))
        .ok_or(UNREADABLE)?;
    if stored != digest.as_slice() {
        return Err("The package's table of contents does not match its checksum.");
    }
    Ok(format!("2/{hash_type}/{}", hex::encode(&digest[..20])))
}

/// A payload (a gzip'd cpio archive) unpacked under `into` with
/// cpio-archive's reader: regular files only, which is all that is judged.
fn unpack_payload(data: &[u8], into: &Path) -> bool {
    let decoder = flate2::read::GzDecoder::new(Cursor::new(data.to_vec()));
    let Ok(mut archive) = cpio_archive::reader(decoder) else {
        return false;
    };
    while let Ok(Some(header)) = archive.read_next() {
        let mut content = Vec::new();
        if std::io::Read::read_to_end(&mut archive, &mut content).is_err() {
            return false;
        }
        let regular = header.mode() & 0o170000 == 0o100000;
        let relative = Path::new(header.name().trim_start_matches("./"));
        if !regular
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let path = into.join(relative);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, content));
        if written.is_err() {
            return false;
        }
    }
    true
}

fn judge_zip(name: &str, data: &[u8]) -> Verdict {
    let unpacked = tempfile::tempdir().expect("a temporary directory");
    let extracted = zip::ZipArchive::new(Cursor::new(data))
        .and_then(|mut archive| archive.extract(unpacked.path()));
    if extracted.is_err() {
        return invalid(name, "The archive could not be unpacked.");
    }
    let app = std::fs::read_dir(unpacked.path())
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "app"));
    let Some(app) = app else {
        return invalid(name, "The archive holds no app bundle.");
    };
    let mut issues = Vec::new();
    check_tree(&app, unpacked.path(), name, &mut issues);
    let record = main_executable(&app)
        .filter(|_| issues.is_empty())
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|data| record_name(&data));
    if record.is_none() && issues.is_empty() {
        issues.push(issue(
            name,
            "The app's main executable is not signed.",
            None,
        ));
    }
    Verdict { issues, record }
}

/// Checks every Mach-O under `dir`, slice by slice.
fn check_tree(dir: &Path, root: &Path, name: &str, issues: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            check_tree(&path, root, name, issues);
            continue;
        }
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let Ok(file) = MachFile::parse(&data) else {
            continue;
        };
        let shown = format!(
            "{name}/{}",
            path.strip_prefix(root).unwrap_or(&path).display()
        );
        for macho in file.iter_macho() {
            let arch = match macho.macho.header.cputype {
                cpu_type::ARM64 => "arm64",
                cpu_type::X86_64 => "x86_64",
                _ => "unknown",
            };
            let signature = macho.code_signature().ok().flatten();
            let Some(signature) = signature else {
                issues.push(issue(&shown, "The binary is not signed.", Some(arch)));
                continue;
            };
            let cms = signature
                .signature_data()
                .ok()
                .flatten()
                .filter(|cms| !cms.is_empty());
            match cms {
                None => issues.push(issue(
                    &shown,
                    "The binary is not signed with a valid Developer ID certificate.",
                    Some(arch),
                )),
                Some(cms) if !has_secure_timestamp(cms) => issues.push(issue(
                    &shown,
                    "The signature does not include a secure timestamp.",
                    Some(arch),
                )),
                Some(_) => {}
            }
            let runtime = signature
                .code_directory()
                .ok()
                .flatten()
                .is_some_and(|cd| cd.flags.contains(CodeSignatureFlags::RUNTIME));
            if !runtime {
                issues.push(issue(
                    &shown,
                    "The executable does not have the hardened runtime enabled.",
                    Some(arch),
                ));
            }
        }
    }
}

/// Whether every signer of the CMS signature carries a time-stamp token
/// (RFC 3161, as the unsigned attribute of RFC 5652 / RFC 3161 appendix A)
/// whose signature verifies and whose TSTInfo stamps this signer's
/// signature: the imprint is the SHA-256 of the signature value.
fn has_secure_timestamp(cms: &[u8]) -> bool {
    let Ok(signed) = SignedData::parse_ber(cms) else {
        return false;
    };
    let mut signers = signed.signers().peekable();
    signers.peek().is_some()
        && signers.all(|signer| {
            let Ok(Some(token)) = signer.time_stamp_token_signed_data() else {
                return false;
            };
            let Some(Ok(tst_info)) = token
                .signed_content()
                .map(|content| Constructed::decode(content, Mode::Der, TstInfo::take_from))
            else {
                return false;
            };
            matches!(signer.verify_time_stamp_token(), Ok(Some(())))
                && tst_info.message_imprint.hashed_message.to_bytes().as_ref()
                    == Sha256::digest(signer.signature()).as_slice()
        })
}

/// Mach-O CPU types (mach/machine.h).
mod cpu_type {
    pub const X86_64: u32 = 0x0100_0007;
    pub const ARM64: u32 = 0x0100_000c;
}

/// `Contents/MacOS/<CFBundleExecutable>` of an app bundle.
fn main_executable(app: &Path) -> Option<std::path::PathBuf> {
    let info = plist::Value::from_file(app.join("Contents/Info.plist")).ok()?;
    let executable = info
        .as_dictionary()?
        .get("CFBundleExecutable")?
        .as_string()?;
    Some(app.join("Contents/MacOS").join(executable))
}

/// The ticket record name of a signed executable, derived here from the
/// published structures rather than by the signing library: `2/<hash
/// type>/<cdhash>`, where the cdhash is the hash of the CodeDirectory
/// blob, truncated to 20 bytes (TN3126 "Inside Code Signing: Hashes"), of
/// the first slice's SHA-256 CodeDirectory (read by [`crate::codesig`],
/// from XNU's cs_blobs.h). The `2/` prefix and the layout are what
/// `stapler` looks up (CloudKit record names in rcodesign's notarization
/// documentation). Only called on an executable judged signed.
fn record_name(data: &[u8]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let slices = codesig::signed_slices(data);
    let directory = slices.first()?.blobs.iter().find_map(|(_, blob)| {
        (blob.starts_with(&codesig::CODE_DIRECTORY_MAGIC.to_be_bytes())
            && blob.get(37) == Some(&codesig::HASH_SHA256))
        .then_some(*blob)
    })?;
    let cdhash = &Sha256::digest(directory)[..20];
    Some(format!(
        "2/{}/{}",
        codesig::HASH_SHA256,
        hex::encode(cdhash)
    ))
}
