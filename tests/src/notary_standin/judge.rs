//! What the stand-in checks in an upload, after Apple's published
//! notarization requirements that can be checked without Apple's
//! certificate chain: every Mach-O signed with a certificate (not ad-hoc)
//! and with the hardened runtime; a package signed. It also derives the
//! ticket record name the way Apple's service does, from the upload itself,
//! so a stapler that computes it differently finds no ticket.

use std::{io::Cursor, path::Path};

use apple_codesign::{cryptography::DigestType, CodeSignatureFlags, MachFile};
use apple_xar::reader::XarReader;
use serde_json::{json, Value};

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
    let style = reader.table_of_contents().checksum.style;
    let (Ok(mut digest), Ok(kind)) = (reader.checksum_data(), DigestType::try_from(style)) else {
        return invalid(
            name,
            "The package's table of contents checksum is unreadable.",
        );
    };
    digest.truncate(20);
    Verdict {
        issues: Vec::new(),
        record: Some(format!("2/{}/{}", u8::from(kind), hex::encode(digest))),
    }
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
    let record = apple_bundles::DirectoryBundle::new_from_path(&app)
        .ok()
        .and_then(|b| apple_codesign::stapling::record_name_from_executable_bundle(&b).ok());
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
            let certificate_signed = signature
                .signature_data()
                .ok()
                .flatten()
                .is_some_and(|cms| !cms.is_empty());
            if !certificate_signed {
                issues.push(issue(
                    &shown,
                    "The binary is not signed with a valid Developer ID certificate.",
                    Some(arch),
                ));
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

/// Mach-O CPU types (mach/machine.h).
mod cpu_type {
    pub const X86_64: u32 = 0x0100_0007;
    pub const ARM64: u32 = 0x0100_000c;
}
