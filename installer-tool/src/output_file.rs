//! Writing what a command produces without losing what was there: the
//! bytes go to a temporary file beside the target, with its final mode,
//! and take the target's name in one rename. A failure leaves the previous
//! file whole, and a key is never half written.

use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path} exists: it is never overwritten")]
    Exists { path: PathBuf },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Replaces `path` (or creates it) with `bytes`, mode `mode`.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OutputError> {
    let file = staged(path, bytes, mode)?;
    file.persist(path).map_err(|e| write_error(path, e.error))?;
    Ok(())
}

/// Creates `path` with `bytes`, mode `mode`; an existing file is left as it is.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OutputError> {
    let file = staged(path, bytes, mode)?;
    file.persist_noclobber(path)
        .map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => OutputError::Exists {
                path: path.to_path_buf(),
            },
            _ => write_error(path, e.error),
        })?;
    Ok(())
}

fn write_error(path: &Path, source: std::io::Error) -> OutputError {
    OutputError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn staged(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, OutputError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The temporary file starts at 0600, so a secret is never readable by
    // others, even for a moment.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| write_error(path, e))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| write_error(path, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_never_replaces_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_new(&path, b"first", 0o600).unwrap();
        let error = create_new(&path, b"second", 0o600).unwrap_err();
        assert!(matches!(error, OutputError::Exists { .. }), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        replace(&path, b"third", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left"
        );
    }
}
