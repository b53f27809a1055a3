//! An app bundle as the zip the notary service takes (a bundle is a
//! directory; only zip, dmg and pkg can be uploaded). Symlinks stay links
//! and modes are kept, or the notarized code would not be the signed code.

use std::{
    fs::File,
    io::{BufWriter, Write},
    os::unix::fs::PermissionsExt,
    path::Path,
};

use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use crate::NotaryError;

/// Writes `bundle` (e.g. `Name.app`) to the zip at `out`, entries under `Name.app/`.
pub fn zip_bundle(bundle: &Path, out: &Path) -> Result<(), NotaryError> {
    let write_error = |e: zip::result::ZipError| NotaryError::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let file = File::create(out).map_err(|source| NotaryError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let name = bundle
        .file_name()
        .ok_or_else(|| NotaryError::UnsupportedPath {
            path: bundle.to_path_buf(),
        })?
        .to_string_lossy()
        .into_owned();
    add_tree(&mut zip, bundle, &name, out)?;
    let mut inner = zip.finish().map_err(write_error)?;
    inner.flush().map_err(|source| NotaryError::Write {
        path: out.to_path_buf(),
        source,
    })
}

fn add_tree<W: Write + std::io::Seek>(
    zip: &mut ZipWriter<W>,
    dir: &Path,
    name: &str,
    out: &Path,
) -> Result<(), NotaryError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NotaryError::Read { path, source }
    };
    let write_error = |e: zip::result::ZipError| NotaryError::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mode = |meta: &std::fs::Metadata| meta.permissions().mode() & 0o7777;
    let meta = std::fs::symlink_metadata(dir).map_err(read_error(dir))?;
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.add_directory(format!("{name}/"), options.unix_permissions(mode(&meta)))
        .map_err(write_error)?;
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_error(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let child = format!("{name}/{}", entry.file_name().to_string_lossy());
        let meta = std::fs::symlink_metadata(&path).map_err(read_error(&path))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(read_error(&path))?;
            zip.add_symlink(child, target.to_string_lossy(), options)
                .map_err(write_error)?;
        } else if meta.is_dir() {
            add_tree(zip, &path, &child, out)?;
        } else {
            zip.start_file(
                child,
                options
                    .unix_permissions(mode(&meta))
                    .large_file(meta.len() > u32::MAX as u64),
            )
            .map_err(write_error)?;
            let mut file = File::open(&path).map_err(read_error(&path))?;
            std::io::copy(&mut file, zip).map_err(|source| NotaryError::Write {
                path: out.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_modes_links_and_the_bundle_name() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Demo.app");
        std::fs::create_dir_all(app.join("Contents/MacOS")).unwrap();
        let exe = app.join("Contents/MacOS/Demo");
        std::fs::write(&exe, b"\xcf\xfa\xed\xfe").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("MacOS/Demo", app.join("Contents/Link")).unwrap();
        let out = dir.path().join("Demo.zip");
        zip_bundle(&app, &out).unwrap();

        let mut archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let names: Vec<_> = archive.file_names().map(str::to_string).collect();
        assert!(
            names.contains(&"Demo.app/Contents/MacOS/Demo".to_string()),
            "{names:?}"
        );
        let exe = archive.by_name("Demo.app/Contents/MacOS/Demo").unwrap();
        assert_eq!(exe.unix_mode().unwrap() & 0o777, 0o755);
        drop(exe);
        let mut link = archive.by_name("Demo.app/Contents/Link").unwrap();
        assert!(link.is_symlink());
        let mut target = String::new();
        std::io::Read::read_to_string(&mut link, &mut target).unwrap();
        assert_eq!(target, "MacOS/Demo");
    }
}
