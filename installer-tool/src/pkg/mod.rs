//! The release's flat package: its payload settings, its scripts and
//! Distribution rendered from the templates, and the product archive
//! `flatpkg` writes around them.

pub mod signing_split;

use std::path::{Path, PathBuf};

use vpn_release::paths::DataPaths;

use flatpkg::{
    bom,
    payload::{self, ArchiveSettings, ArchiveSummary, PayloadError},
    product::{self, Component},
    tree::{self, TreeEntry},
    xar,
};

use crate::{
    config::Release,
    installer_pages::Contents,
    templates::{self, TemplateError, TemplateId},
};

#[derive(Debug, thiserror::Error)]
pub enum PkgError {
    #[error("cannot read the staged tree {path}")]
    Scan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Split(#[from] signing_split::SplitError),
    #[error("archiving stopped because signing failed")]
    Abandoned,
    #[error(transparent)]
    Bom(#[from] bom::BomError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Xar(#[from] xar::XarError),
    #[error("cannot read the installer resource {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Inputs that make the archive reproducible: the same tree and these give
/// the same bytes.
#[derive(Clone, Debug)]
pub struct ArchiveInputs {
    /// Seconds since the epoch for every mtime and the xar creation time
    /// (`SOURCE_DATE_EPOCH`).
    pub epoch: i64,
    pub threads: usize,
    /// Deflate level of the payload.
    pub level: u32,
}

/// What was written into the unsigned product archive.
#[derive(Debug)]
pub struct ProductSummary {
    /// The unsigned product archive, laid out but not written.
    pub archive: xar::XarArchive,
    pub component: String,
    pub payload: ArchiveSummary,
    pub bom_size: u64,
}

/// The component's file name inside the product archive.
pub fn component_file_name(release: &Release) -> String {
    format!("{}.pkg", release.app.bundle_name)
}

/// Name used for the install log and syslog tag: the bundle name, lower-case,
/// with anything but letters and digits turned into `-`.
fn log_name(release: &Release) -> String {
    release
        .app
        .bundle_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn script_vars(release: &Release) -> Vec<(&'static str, String)> {
    let paths = DataPaths::new(&release.app.bundle_id);
    let path = |path: std::path::PathBuf| path.display().to_string();
    vec![
        ("SYSTEM_DIR", path(paths.system_dir())),
        ("STATE_DIR", path(paths.upgrade_state_dir())),
        ("FINISHED_RECORD", path(paths.finished_record())),
        (
            "TUNNEL_WAS_UP_MARK",
            vpn_release::paths::TUNNEL_WAS_UP_MARK.to_string(),
        ),
        ("USER_DATA_DIR", path(paths.user_dir())),
        ("AGENT_LABEL", paths.login_agent_label()),
        ("UNINSTALL_LABEL", paths.uninstall_label()),
        (
            "STATE_SCHEMA_VERSION",
            vpn_release::upgrade_state::STATE_SCHEMA_VERSION.to_string(),
        ),
        ("PRODUCT_NAME", release.name.clone()),
        ("VERSION", release.version.to_string()),
        ("LOG_NAME", log_name(release)),
        ("APP_BUNDLE", release.app_bundle_file_name()),
        ("APP_EXECUTABLE", release.app.executable.clone()),
        ("APP_ID", release.app.bundle_id.to_string()),
        ("TEAM_ID", release.team_id.to_string()),
        ("PACKAGE_ID", release.package_identifier.to_string()),
        ("EXTENSION_ID", release.extension.bundle_id.to_string()),
        ("SERVICE_NAME", release.service_name.to_string()),
        ("REPAIR_POLICY", release.repair_policy.to_string()),
    ]
}

fn render(id: TemplateId, vars: &[(&'static str, String)]) -> Result<String, TemplateError> {
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    templates::render(id, &borrowed)
}

/// The tree staged under `stage` (which holds `Applications/Name.app`), as
/// the payload installs it.
pub fn staged_tree(stage: &Path) -> Result<Vec<TreeEntry>, PkgError> {
    let mut entries = tree::scan(stage).map_err(|source| PkgError::Scan {
        path: stage.to_path_buf(),
        source,
    })?;
    // /Applications is rwxrwxr-x root:admin on macOS; the payload says the
    // same so the receipt matches the system.
    for entry in entries.iter_mut().filter(|e| e.path == "Applications") {
        entry.permissions = 0o775;
    }
    Ok(entries)
}

/// How the payload is written for these inputs.
pub fn payload_settings(inputs: &ArchiveInputs) -> ArchiveSettings {
    let mut settings = ArchiveSettings::payload(mtime(inputs));
    settings.threads = inputs.threads;
    settings.level = inputs.level;
    settings
}

fn mtime(inputs: &ArchiveInputs) -> u32 {
    u32::try_from(inputs.epoch.max(0)).unwrap_or(u32::MAX)
}

/// Lays out the unsigned product archive around a finished `payload`: its
/// BOM, the scripts, PackageInfo and Distribution, using `work` for the
/// intermediate files. [`xar::XarArchive::write_to`] writes it.
pub fn product_archive(
    release: &Release,
    payload: ArchiveSummary,
    work: &Path,
    inputs: &ArchiveInputs,
) -> Result<ProductSummary, PkgError> {
    let bom = bom::write_bom(&payload.bom_records)?;

    let vars = script_vars(release);
    let scripts_tree = vec![
        TreeEntry::directory(""),
        TreeEntry::file(
            "postinstall",
            render(TemplateId::Postinstall, &vars)?.into_bytes(),
            0o755,
        ),
        TreeEntry::file(
            "preinstall",
            render(TemplateId::Preinstall, &vars)?.into_bytes(),
            0o755,
        ),
        TreeEntry::file(
            "upgrade-lib.sh",
            render(TemplateId::UpgradeLib, &vars)?.into_bytes(),
            0o644,
        ),
    ];
    let scripts = scripts_archive(&scripts_tree, inputs, &work.join("Scripts"))?;

    let install_kbytes = payload.content_size.div_ceil(1024).to_string();
    let component = component_file_name(release);
    let distribution = distribution(
        release,
        release.installer.title_element(),
        &release.package_identifier.to_string(),
        &install_kbytes,
        &component,
    )?;
    let mut vars = vars;
    vars.extend([
        ("INSTALL_KBYTES", install_kbytes),
        ("NUMBER_OF_FILES", payload.entries.to_string()),
    ]);
    // The pages and backgrounds follow the title; built here, with their
    // attributes escaped, since the template escapes whole values.
    let distribution = distribution.replacen(
        "</title>\n",
        &format!("</title>\n{}", release.installer.distribution_elements()),
        1,
    );
    let resources = release
        .installer
        .files
        .iter()
        .map(|file| match &file.contents {
            Contents::File(path) => std::fs::read(path)
                .map(|bytes| (file.name.clone(), bytes))
                .map_err(|source| PkgError::Read {
                    path: path.clone(),
                    source,
                }),
            Contents::Text(text) => Ok((file.name.clone(), text.clone().into_bytes())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Laid out as pkgbuild writes it (InstallCmds' PackageInfo in public
    // pkgs): both bundles version-checked, strict, replaced whole on
    // upgrade (<upgrade-bundle>, so files a release dropped go and the
    // seal holds) and never relocated to a copy found elsewhere.
    let package_info = render(TemplateId::PackageInfo, &vars)?;

    let archive = product::product_archive(
        &distribution,
        &resources,
        &[Component {
            file_name: &component,
            package_info: &package_info,
            payload: Some((&payload, &bom)),
            scripts: Some(&scripts),
        }],
        inputs.epoch,
    )?;
    Ok(ProductSummary {
        archive,
        component,
        payload,
        bom_size: bom.len() as u64,
    })
}

/// A component's Scripts archive at `path`: cpio like the payload, small
/// enough for one thread.
fn scripts_archive(
    tree: &[TreeEntry],
    inputs: &ArchiveInputs,
    path: &Path,
) -> Result<ArchiveSummary, PkgError> {
    let settings = ArchiveSettings {
        threads: 1,
        ..payload_settings(inputs)
    };
    Ok(payload::write_archive(
        tree,
        &settings,
        path,
        &flatpkg::NoProgress,
    )?)
}

/// A Distribution of one component, `package_id` in `component`.
fn distribution(
    release: &Release,
    title: &str,
    package_id: &str,
    install_kbytes: &str,
    component: &str,
) -> Result<String, TemplateError> {
    let vars = [
        ("TITLE", title),
        ("MINIMUM_MACOS", release.minimum_macos.as_str()),
        ("PACKAGE_ID", package_id),
        ("VERSION", &release.version.to_string()),
        ("INSTALL_KBYTES", install_kbytes),
        ("COMPONENT_FILE", component),
    ];
    templates::render(TemplateId::Distribution, &vars)
}

/// The uninstaller's script and the library it sources, as the
/// uninstaller pkg and the app's Resources
/// ([`vpn_release::paths::APP_UNINSTALLER`]) carry them.
pub fn uninstaller_scripts(release: &Release) -> Result<(String, String), TemplateError> {
    let vars = script_vars(release);
    Ok((
        render(TemplateId::Uninstall, &vars)?,
        render(TemplateId::UpgradeLib, &vars)?,
    ))
}

/// The uninstaller pkg's file name: `<Name>-Uninstaller-<version>.pkg`.
pub fn uninstaller_file_name(release: &Release) -> String {
    format!(
        "{}-Uninstaller-{}.pkg",
        release.app.bundle_name, release.version
    )
}

/// Lays out the unsigned uninstaller: one payload-free component whose
/// postinstall is the uninstall script. With no payload, Installer leaves
/// no receipt of it ("Pseudo-payload-free pkgs with pkgbuild",
/// managingosx.wordpress.com, 2015-05-20); which other files `pkgbuild
/// --nopayload` writes (a Bom?) is not published, so it has PackageInfo
/// and Scripts only (docs/mac-first-run.md §6 asks a Mac to confirm
/// Installer takes that).
pub fn uninstaller_archive(
    release: &Release,
    work: &Path,
    inputs: &ArchiveInputs,
) -> Result<xar::XarArchive, PkgError> {
    let (uninstall, library) = uninstaller_scripts(release)?;
    let scripts = scripts_archive(
        &[
            TreeEntry::directory(""),
            TreeEntry::file("postinstall", uninstall.into_bytes(), 0o755),
            TreeEntry::file("upgrade-lib.sh", library.into_bytes(), 0o644),
        ],
        inputs,
        &work.join("Uninstaller-Scripts"),
    )?;
    let component = format!("{}-Uninstaller.pkg", release.app.bundle_name);
    let id = format!("{}.uninstaller", release.package_identifier);
    let distribution = distribution(
        release,
        &format!("{} Uninstaller", release.name),
        &id,
        "0",
        &component,
    )?;
    let version = release.version.to_string();
    let package_info = templates::render(
        TemplateId::UninstallerPackageInfo,
        &[("UNINSTALLER_ID", &id), ("VERSION", &version)],
    )?;
    Ok(product::product_archive(
        &distribution,
        &[],
        &[Component {
            file_name: &component,
            package_info: &package_info,
            payload: None,
            scripts: Some(&scripts),
        }],
        inputs.epoch,
    )?)
}
