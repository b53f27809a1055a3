//! Assembles `Name.app` with the system extension embedded where macOS looks
//! for it: `Contents/Library/SystemExtensions/<ext-bundle-id>.systemextension`.

use std::{
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use crate::{
    config::{BundleSpec, Release},
    executables::Executables,
    info_plist,
    pkg::signing_split::is_macho,
};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    #[error("provisioning profile {path} cannot be read")]
    Profile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl BundleError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        match self {
            Self::Profile { .. } => Some("download it from the developer portal, or remove `provisioning-profile` from release.toml".into()),
            Self::Write { .. } | Self::Template(_) => None,
        }
    }
}

/// Where the assembled app is and where its extension sits inside it.
#[derive(Clone, Debug)]
pub struct AssembledApp {
    pub path: PathBuf,
    /// The extension bundle, relative to the app.
    pub extension_relative: String,
}

fn write(path: &Path, data: &[u8], mode: u32) -> Result<(), BundleError> {
    let error = |source| BundleError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    std::fs::write(path, data).map_err(error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(error)
}

fn write_bundle(
    contents: &Path,
    spec: &BundleSpec,
    info_plist: &[u8],
    executable: &[u8],
) -> Result<(), BundleError> {
    write(&contents.join("Info.plist"), info_plist, 0o644)?;
    write(
        &contents.join("MacOS").join(&spec.executable),
        executable,
        0o755,
    )?;
    if let Some(resources) = &spec.resources {
        copy_tree(resources, &contents.join("Resources"))?;
    }
    if let Some(profile) = &spec.provisioning_profile {
        let data = std::fs::read(profile).map_err(|source| BundleError::Profile {
            path: profile.clone(),
            source,
        })?;
        write(&contents.join("embedded.provisionprofile"), &data, 0o644)?;
    }
    Ok(())
}

/// Replicates the directory `from` at `to`, symlinks kept as symlinks.
///
/// Files that signing rewrites in place (Mach-O) are copied, so the vendor's
/// originals are never touched. Other files are hard-linked when possible:
/// signing only reads them, and the build checks after signing that every
/// one of them is unchanged. Copying hundreds of megabytes of resources would
/// otherwise cost as much as compressing them.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BundleError> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Write { path, source }
    };
    std::fs::create_dir_all(to).map_err(error(to))?;
    for entry in std::fs::read_dir(from).map_err(error(from))? {
        let entry = entry.map_err(error(from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(error(&source))?;
        if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(error(&source))?;
            std::os::unix::fs::symlink(link, &target).map_err(error(&target))?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            let rewritten_by_signing = is_macho(&source).map_err(error(&source))?;
            if rewritten_by_signing || std::fs::hard_link(&source, &target).is_err() {
                std::fs::copy(&source, &target).map_err(error(&target))?;
            }
        }
    }
    Ok(())
}

/// Writes the unsigned app bundle under `dir`.
pub fn assemble(
    release: &Release,
    executables: &Executables,
    dir: &Path,
) -> Result<AssembledApp, BundleError> {
    let app = dir.join(release.app_bundle_file_name());
    let extension_relative = release.extension_relative_path();
    write_bundle(
        &app.join(&extension_relative).join("Contents"),
        &release.extension,
        &info_plist::to_xml(&info_plist::extension_info_plist(release)),
        &executables.extension,
    )?;
    write_bundle(
        &app.join("Contents"),
        &release.app,
        &info_plist::to_xml(&info_plist::app_info_plist(release)),
        &executables.app,
    )?;
    // `vpn-app uninstall` runs it as root for what the user cannot remove.
    let (uninstall, library) = crate::pkg::uninstaller_scripts(release)?;
    let script = app.join(vpn_release::paths::APP_UNINSTALLER);
    write(&script, uninstall.as_bytes(), 0o755)?;
    write(
        &script.with_file_name("upgrade-lib.sh"),
        library.as_bytes(),
        0o644,
    )?;
    Ok(AssembledApp {
        path: app,
        extension_relative,
    })
}
