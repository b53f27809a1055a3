//! The file tree a package installs, read from a staging directory.

use std::{
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// Where a regular file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File(FileSource),
    Symlink { target: String },
}

/// One path of the tree, relative to the install root (`""` is the root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    pub permissions: u16,
    /// File size, or the target's length for a symlink, 0 for directories.
    pub size: u64,
    /// Modification time of a file read from disk, to notice it changing.
    pub modified: Option<SystemTime>,
}

impl TreeEntry {
    pub fn directory(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: EntryKind::Directory,
            permissions: 0o755,
            size: 0,
            modified: None,
        }
    }

    pub fn file(path: impl Into<String>, data: Vec<u8>, permissions: u16) -> Self {
        Self {
            path: path.into(),
            size: data.len() as u64,
            kind: EntryKind::File(FileSource::Bytes(data)),
            permissions,
            modified: None,
        }
    }
}

/// Reads `root` depth first, siblings by name. Permissions are normalised
/// (directories and executables 0755, other files 0644, symlinks 0777) so
/// the umask of the build machine never leaks into a release.
pub fn scan(root: &Path) -> io::Result<Vec<TreeEntry>> {
    let mut entries = vec![TreeEntry::directory("")];
    walk(root, "", &mut entries)?;
    Ok(entries)
}

fn walk(dir: &Path, prefix: &str, entries: &mut Vec<TreeEntry>) -> io::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let name = child.file_name().into_string().map_err(|name| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: file name {name:?} is not UTF-8", dir.display()),
            )
        })?;
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = std::fs::symlink_metadata(child.path())?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(child.path())?
                .into_os_string()
                .into_string()
                .map_err(|t| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("symlink target {t:?} is not UTF-8"),
                    )
                })?;
            entries.push(TreeEntry {
                path,
                size: target.len() as u64,
                kind: EntryKind::Symlink { target },
                permissions: 0o777,
                modified: None,
            });
        } else if meta.is_dir() {
            entries.push(TreeEntry::directory(path.clone()));
            walk(&child.path(), &path, entries)?;
        } else if meta.is_file() {
            let executable = meta.permissions().mode() & 0o111 != 0;
            entries.push(TreeEntry {
                path,
                kind: EntryKind::File(FileSource::Path(child.path())),
                permissions: if executable { 0o755 } else { 0o644 },
                size: meta.len(),
                modified: meta.modified().ok(),
            });
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: only files, directories and symlinks can be packaged",
                    child.path().display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_depth_first_with_normalised_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("b/c/tool"), b"#!").unwrap();
        std::fs::set_permissions(
            root.join("b/c/tool"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(root.join("a.txt"), b"hello").unwrap();
        std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("b/link")).unwrap();

        let entries = scan(root).unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.permissions, e.size))
            .collect();
        assert_eq!(
            summary,
            [
                ("", 0o755, 0),
                ("a.txt", 0o644, 5),
                ("b", 0o755, 0),
                ("b/c", 0o755, 0),
                ("b/c/tool", 0o755, 2),
                ("b/link", 0o777, 5),
            ]
        );
        assert_eq!(
            entries[5].kind,
            EntryKind::Symlink {
                target: "a.txt".into()
            }
        );
    }
}
