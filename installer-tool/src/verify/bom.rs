//! The BOM against the payload: Installer installs the payload but records
//! the BOM in the receipt (`pkgutil --files`, `lsbom`), and repairs and
//! uninstalls go by it. Every path must be in both, with the same type,
//! mode, owner and, for files and symlinks, the same size, POSIX `cksum`
//! and target. The BOM is read by flatpkg's bounded reader (apple-bom's
//! trusts the counts and offsets a BOM claims).

use std::collections::BTreeMap;

use flatpkg::{
    bom::BomKind,
    bom_reader::{read_bom, BomEntry},
    cksum::PosixCksum,
};

use super::{odc::Entry, Checks};

/// The BOM's paths, each struck off as the payload shows it.
pub struct BomIndex {
    bom_path: String,
    paths: BTreeMap<String, BomEntry>,
}

const FIX: &str =
    "rebuild the pkg: its BOM must be made from the same files as its payload (mkbom of the payload's root)";

/// `./a/b` and `a/b` name the same path; `.` is the root.
fn normalized(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('.')
        .to_string()
}

impl BomIndex {
    /// The BOM at `bom_path` in the archive, parsed from `data`.
    pub fn read(bom_path: &str, data: &[u8]) -> Result<Self, String> {
        let paths = read_bom(data)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|entry| (entry.path.clone(), entry))
            .collect();
        Ok(Self {
            bom_path: bom_path.to_string(),
            paths,
        })
    }

    /// Compares one payload entry, with its data for a file or symlink
    /// (`None` when it was too large to read).
    pub fn check(
        &mut self,
        payload_path: &str,
        entry: &Entry,
        data: Option<&[u8]>,
        checks: &mut Checks,
    ) {
        let path = normalized(&entry.name);
        let Some(recorded) = self.paths.remove(&path) else {
            checks.error(
                "bom-missing-path",
                &self.bom_path,
                &path,
                format!("{payload_path} installs {path}, which the BOM does not list"),
                FIX,
            );
            return;
        };
        let mut differences = Vec::new();
        let mode = entry.mode & 0xffff;
        if u32::from(recorded.mode) != mode {
            differences.push(format!(
                "mode {:o} in the BOM, {mode:o} in the payload",
                recorded.mode
            ));
        }
        if (recorded.uid, recorded.gid) != (entry.uid, entry.gid) {
            differences.push(format!(
                "owner {}:{} in the BOM, {}:{} in the payload",
                recorded.uid, recorded.gid, entry.uid, entry.gid
            ));
        }
        if recorded.kind != BomKind::Directory {
            if u64::from(recorded.size) != entry.size && recorded.kind == BomKind::File {
                differences.push(format!(
                    "{} bytes in the BOM, {} in the payload",
                    recorded.size, entry.size
                ));
            }
            if let (Some(expected), Some(data)) = (recorded.checksum, data) {
                let found = PosixCksum::of(data);
                if expected != found {
                    differences.push(format!(
                        "cksum {expected} in the BOM, {found} of the payload's bytes"
                    ));
                }
            }
            if let (BomKind::Symlink { target: link }, Some(data)) = (&recorded.kind, data) {
                let target = String::from_utf8_lossy(data);
                if *link != target {
                    differences.push(format!(
                        "link to {link} in the BOM, to {target} in the payload"
                    ));
                }
            }
        }
        if !differences.is_empty() {
            checks.error(
                "bom-payload-mismatch",
                &self.bom_path,
                &path,
                differences.join("; "),
                FIX,
            );
        }
    }

    /// Every BOM path the payload did not install.
    pub fn finish(self, payload_path: &str, checks: &mut Checks) {
        for path in self.paths.into_keys() {
            checks.error(
                "bom-extra-path",
                &self.bom_path,
                &path,
                format!("the BOM lists {path}, which {payload_path} does not install"),
                FIX,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_bom_is_an_error_not_a_panic() {
        let mut claims_too_much = b"BOMStore".to_vec();
        claims_too_much.extend([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        claims_too_much.extend([0xffu8; 24]);
        for data in [&b""[..], b"BOMStore", &claims_too_much, &[0x42; 512]] {
            assert!(BomIndex::read("x.pkg/Bom", data).is_err(), "{data:?}");
        }
    }
}
