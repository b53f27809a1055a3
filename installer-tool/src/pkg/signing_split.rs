//! Archiving while code signing runs.
//!
//! Resources are not changed by signing, so they are archived while it runs
//! (and that read gives the signer their digests); what signing writes
//! (Mach-O files, the `_CodeSignature` directories) is archived after it.
//! Every file archived early is checked afterwards to be exactly as it was,
//! so a signer that touched more than expected fails the build instead of
//! shipping a payload that disagrees with its signature.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    io::Read,
    path::Path,
};

use flatpkg::tree::{EntryKind, FileSource, TreeEntry};

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("cannot read {path} to decide whether signing rewrites it")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("code signing changed {0} after it was archived (a bug: please report it)")]
    ChangedBySigning(String),
}

/// Magic numbers of thin (either byte order) and universal Mach-O files.
const MACHO_MAGICS: [[u8; 4]; 6] = [
    [0xfe, 0xed, 0xfa, 0xce],
    [0xfe, 0xed, 0xfa, 0xcf],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xca, 0xfe, 0xba, 0xbe],
    [0xca, 0xfe, 0xba, 0xbf],
];

/// Whether the file at `path` starts with a Mach-O magic number.
pub fn is_macho(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path)?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(MACHO_MAGICS.contains(&magic)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The entries of the unsigned tree that signing leaves alone: directories,
/// symlinks and files that are not Mach-O.
pub fn untouched_by_signing(entries: Vec<TreeEntry>) -> Result<Vec<TreeEntry>, SplitError> {
    let mut kept = Vec::with_capacity(entries.len());
    for entry in entries {
        if let EntryKind::File(FileSource::Path(path)) = &entry.kind {
            let macho = is_macho(path).map_err(|source| SplitError::Read {
                path: entry.path.clone(),
                source,
            })?;
            if macho {
                continue;
            }
        }
        kept.push(entry);
    }
    Ok(kept)
}

/// Given what was archived early and the tree rescanned after signing,
/// returns what is left to archive, after checking that nothing archived
/// early changed.
pub fn remaining_after_signing(
    archived: &[TreeEntry],
    signed: Vec<TreeEntry>,
) -> Result<Vec<TreeEntry>, SplitError> {
    let archived_by_path: HashMap<&str, &TreeEntry> =
        archived.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut found = HashSet::with_capacity(archived.len());
    let mut remaining = Vec::new();
    for entry in signed {
        match archived_by_path.get(entry.path.as_str()) {
            Some(before) if **before == entry => {
                found.insert(entry.path);
            }
            Some(_) => return Err(SplitError::ChangedBySigning(entry.path)),
            None => remaining.push(entry),
        }
    }
    match archived.iter().find(|a| !found.contains(&a.path)) {
        Some(gone) => Err(SplitError::ChangedBySigning(gone.path.clone())),
        None => Ok(remaining),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flatpkg::tree::scan;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("App/MacOS")).unwrap();
        std::fs::write(
            dir.path().join("App/MacOS/exe"),
            [0xcf, 0xfa, 0xed, 0xfe, 1, 2],
        )
        .unwrap();
        std::fs::write(dir.path().join("App/readme"), b"hello").unwrap();
        std::fs::write(dir.path().join("App/empty"), b"").unwrap();
        dir
    }

    #[test]
    fn mach_o_files_wait_for_signing() {
        let dir = tree();
        let early = untouched_by_signing(scan(dir.path()).unwrap()).unwrap();
        let paths: Vec<_> = early.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["", "App", "App/MacOS", "App/empty", "App/readme"]);
    }

    #[test]
    fn new_and_rewritten_files_remain_and_changes_are_caught() {
        let dir = tree();
        let early = untouched_by_signing(scan(dir.path()).unwrap()).unwrap();
        std::fs::create_dir_all(dir.path().join("App/_CodeSignature")).unwrap();
        std::fs::write(
            dir.path().join("App/_CodeSignature/CodeResources"),
            b"<plist/>",
        )
        .unwrap();
        let remaining = remaining_after_signing(&early, scan(dir.path()).unwrap()).unwrap();
        let paths: Vec<_> = remaining.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "App/MacOS/exe",
                "App/_CodeSignature",
                "App/_CodeSignature/CodeResources"
            ]
        );

        std::fs::write(dir.path().join("App/readme"), b"changed!").unwrap();
        assert!(matches!(
            remaining_after_signing(&early, scan(dir.path()).unwrap()),
            Err(SplitError::ChangedBySigning(p)) if p == "App/readme"
        ));
        std::fs::remove_file(dir.path().join("App/readme")).unwrap();
        assert!(matches!(
            remaining_after_signing(&early, scan(dir.path()).unwrap()),
            Err(SplitError::ChangedBySigning(p)) if p == "App/readme"
        ));
    }
}
