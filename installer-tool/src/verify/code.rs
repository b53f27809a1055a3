//! verify inside a payload: every Mach-O's code signature, checked by
//! apple-codesign with the CodeDirectory's page hashes recomputed from the
//! bytes, its hardened runtime flag and entitlements, and its team.

use std::io::Read;

use apple_codesign::{verify_macho_data, CodeSignatureFlags, MachFile};

use super::{
    bom::BomIndex,
    bundle_info,
    inventory::{Entry, Executable},
    odc::{is_regular_file, is_symlink, OdcReader},
    Checks,
};
use crate::doctor::{Severity, DEBUGGING_ENTITLEMENTS};

/// A Mach-O larger than this is reported, not read.
const MACHO_LIMIT: u64 = 1 << 30;

/// The Mach-O magics: 32- and 64-bit either way round, and universal.
fn is_macho(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(
            [0xfe, 0xed, 0xfa, 0xce | 0xcf]
                | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
                | [0xca, 0xfe, 0xba, 0xbe]
        )
    )
}

/// A signed executable and the team its signature names.
pub struct Signed {
    pub path: String,
    pub team: Option<String>,
}

/// Checks each entry of the gzipped odc `payload`, named `payload_path`
/// in the findings, against the component's BOM, and each Mach-O's code
/// signature; the teams found.
pub fn check_payload(
    payload: impl Read,
    payload_path: &str,
    component: usize,
    mut bom: Option<BomIndex>,
    checks: &mut Checks,
) -> Result<Vec<Signed>, String> {
    let mut archive = OdcReader::new(flate2::read::GzDecoder::new(payload));
    let mut signed = Vec::new();
    while let Some(entry) = archive
        .next_entry()
        .map_err(|e| format!("{payload_path}: {e}"))?
    {
        let path = entry.name.trim_start_matches("./").to_string();
        let file = is_regular_file(entry.mode);
        // A file is read whole (its cksum, its code signature) up to the
        // limit; a symlink's data is its target.
        let data = if file || is_symlink(entry.mode) {
            archive
                .data(MACHO_LIMIT)
                .map_err(|e| format!("{payload_path}: {e}"))?
        } else {
            None
        };
        if let Some(bom) = bom.as_mut() {
            bom.check(payload_path, &entry, data.as_deref(), checks);
        }
        if !matches!(path.as_str(), "" | ".") {
            checks.inventory.components[component]
                .payload
                .push(Entry::new(path.clone(), entry.mode, entry.size));
        }
        if !file {
            continue;
        }
        let Some(data) = data else {
            checks.add(
                Severity::Warning,
                "file-not-checked",
                payload_path,
                &path,
                format!("{} bytes: too large to check here", entry.size),
                "check it on a Mac with `codesign --verify --strict`",
            );
            continue;
        };
        if let Some(bundle) = bundle_info::bundle_of(&path) {
            let read = if data.len() as u64 > bundle_info::INFO_PLIST_LIMIT {
                Err(format!("{} bytes: too large for an Info.plist", data.len()))
            } else {
                bundle_info::read(bundle, &data)
            };
            match read {
                Ok(info) => checks.bundles.push(info),
                Err(problem) => checks.error(
                    "info-plist-unreadable",
                    payload_path,
                    &path,
                    problem,
                    "rebuild the bundle with a valid Info.plist",
                ),
            }
            continue;
        }
        if !is_macho(&data) {
            continue;
        }
        signed.push(Signed {
            team: check_macho(&data, payload_path, &path, checks),
            path,
        });
    }
    if let Some(bom) = bom {
        bom.finish(payload_path, checks);
    }
    Ok(signed)
}

/// Whether each slice's code signature lies inside its `__LINKEDIT`
/// segment as the file holds it. apple-codesign slices where the load
/// commands say and panics when that is outside the file: fuzzing verify
/// found a payload that did it.
fn signature_in_bounds(data: &[u8]) -> Result<(), String> {
    use goblin::mach::{load_command::CommandVariant, Mach, MachO, SingleArch};
    let slices: Vec<MachO> = match Mach::parse(data).map_err(|e| e.to_string())? {
        Mach::Binary(macho) => vec![macho],
        Mach::Fat(fat) => (0..fat.narches)
            .map(|i| match fat.get(i).map_err(|e| e.to_string())? {
                SingleArch::MachO(macho) => Ok(macho),
                SingleArch::Archive(_) => Err("a static archive in a universal binary".to_string()),
            })
            .collect::<Result<_, _>>()?,
    };
    for macho in slices {
        let linkedit = macho
            .segments
            .iter()
            .find(|segment| segment.name().ok() == Some("__LINKEDIT"));
        for command in &macho.load_commands {
            let CommandVariant::CodeSignature(signature) = command.command else {
                continue;
            };
            let linkedit = linkedit.ok_or("a code signature but no __LINKEDIT segment")?;
            let start = u64::from(signature.dataoff);
            let end = start + u64::from(signature.datasize);
            let segment_end = linkedit.fileoff + linkedit.data.len() as u64;
            if start < linkedit.fileoff || end > segment_end {
                return Err(format!(
                    "its code signature (bytes {start}..{end}) lies outside __LINKEDIT as the file holds it ({}..{segment_end})",
                    linkedit.fileoff
                ));
            }
        }
    }
    Ok(())
}

/// One Mach-O's signature; the team of its first slice's CodeDirectory.
fn check_macho(data: &[u8], payload_path: &str, path: &str, checks: &mut Checks) -> Option<String> {
    const FIX: &str =
        "sign it with the Developer ID Application identity, inside out, after its last change";
    if let Err(problem) = signature_in_bounds(data) {
        checks.error(
            "code-signature",
            payload_path,
            path,
            format!("its code signature cannot be read: {problem}"),
            FIX,
        );
        return None;
    }
    // apple-codesign trusts the offsets inside a signature too: a panic
    // there is this Mach-O's finding, not the end of the verification.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        signature_findings(data, payload_path, path, checks)
    }))
    .unwrap_or_else(|_| {
        checks.error(
            "code-signature",
            payload_path,
            path,
            "its code signature cannot be read: apple-codesign could not parse it".into(),
            FIX,
        );
        None
    })
}

fn signature_findings(
    data: &[u8],
    payload_path: &str,
    path: &str,
    checks: &mut Checks,
) -> Option<String> {
    let problems = verify_macho_data(data);
    if let Some(problem) = problems.first() {
        checks.error(
            "code-signature",
            payload_path,
            path,
            format!(
                "its code signature does not verify: {problem}{}",
                if problems.len() > 1 {
                    format!(" (and {} more)", problems.len() - 1)
                } else {
                    String::new()
                }
            ),
            "sign it with the Developer ID Application identity, inside out, after its last change",
        );
        return None;
    }
    let mach = MachFile::parse(data).ok()?;
    let mut team = None;
    let mut summary = Executable {
        path: path.to_string(),
        architectures: Vec::new(),
        team: None,
        hardened_runtime: true,
        entitlements: Vec::new(),
    };
    for macho in mach.iter_macho() {
        let header = &macho.macho.header;
        summary.architectures.push(
            goblin::mach::cputype::get_arch_name_from_types(header.cputype, header.cpusubtype)
                .unwrap_or("unknown")
                .to_string(),
        );
        let Ok(Some(signature)) = macho.code_signature() else {
            continue;
        };
        if let Ok(Some(directory)) = signature.code_directory() {
            if !directory.flags.contains(CodeSignatureFlags::RUNTIME) {
                summary.hardened_runtime = false;
                checks.error(
                    "no-hardened-runtime",
                    payload_path,
                    path,
                    "is signed without the hardened runtime: notarization refuses it".into(),
                    "sign with the runtime option (build-pkg always does)",
                );
            }
            team = team.or(directory.team_name.as_ref().map(|t| t.to_string()));
        }
        if let Ok(Some(entitlements)) = signature.entitlements() {
            if let Some(keys) = plist::Value::from_reader_xml(entitlements.as_str().as_bytes())
                .ok()
                .and_then(plist::Value::into_dictionary)
            {
                for key in keys.keys() {
                    if !summary.entitlements.contains(key) {
                        summary.entitlements.push(key.clone());
                    }
                }
            }
            for key in DEBUGGING_ENTITLEMENTS {
                if entitlements.as_str().contains(&format!("<key>{key}</key>")) {
                    checks.error(
                        "debugging-entitlement",
                        payload_path,
                        path,
                        format!("is signed with `{key}`, which a release must not carry"),
                        "remove it from the entitlements and sign again",
                    );
                }
            }
        }
    }
    summary.team = team.clone();
    checks.inventory.executables.push(summary);
    team
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mach_o_is_known_by_its_magic() {
        assert!(is_macho(&[0xcf, 0xfa, 0xed, 0xfe, 7]));
        assert!(is_macho(&[0xca, 0xfe, 0xba, 0xbe]));
        assert!(is_macho(&[0xfe, 0xed, 0xfa, 0xce]));
        assert!(!is_macho(b"#!/bin/sh"));
        assert!(!is_macho(&[0xca, 0xfe]));
    }
}
