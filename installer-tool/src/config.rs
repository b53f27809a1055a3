//! The declarative release config (`release.toml`) and its validation.
//!
//! Settings flow one way: file -> [`ReleaseConfig`] -> checked [`Release`].
//! The version is not in the file: it is the workspace version in the
//! `Cargo.toml` beside it, the single source of truth.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use vpn_release::{BundleId, RepairPolicy, ServiceName, TeamId, Version};

use crate::{
    entitlements::{self, Entitlements, EntitlementsError, Role},
    installer_pages::{InstallerConfig, InstallerPages},
    mdm_profile::MdmConfig,
    updates::{UpdateSettings, UpdatesConfig},
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{field}` {problem}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        problem: String,
        help: String,
    },
    #[error(transparent)]
    Entitlements(#[from] EntitlementsError),
    /// Every problem found, when there is more than one: the checks that
    /// do not depend on each other all run.
    #[error("{} problems; the first: {}", .0.len(), .0[0])]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// What to change, in one line (for several problems, the first's).
    pub fn help(&self) -> Option<String> {
        match self {
            Self::Invalid { help, .. } => Some(help.clone()),
            Self::Entitlements(error) => error.help(),
            Self::Several(problems) => problems[0].help(),
            Self::Read { .. } | Self::Parse { .. } => None,
        }
    }

    /// `problems` (at least one) as one error.
    fn of(mut problems: Vec<ConfigError>) -> Self {
        if problems.len() == 1 {
            problems.remove(0)
        } else {
            Self::Several(problems)
        }
    }

    /// Each problem on its own.
    pub fn into_problems(self) -> Vec<ConfigError> {
        match self {
            Self::Several(problems) => problems,
            one => vec![one],
        }
    }
}

/// `release.toml`, as written by the vendor. Unknown keys are errors, so a
/// typo never silently falls back to a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReleaseConfig {
    pub product: ProductConfig,
    pub app: AppConfig,
    pub extension: ExtensionConfig,
    pub package: PackageConfig,
    #[serde(default)]
    pub upgrade: UpgradeConfig,
    /// What Installer.app shows (pages, backgrounds, title).
    #[serde(default)]
    pub installer: InstallerConfig,
    /// What the MDM configuration profile installs.
    #[serde(default)]
    pub mdm: MdmConfig,
    /// Where the app finds updates and the key they are signed with.
    #[serde(default)]
    pub updates: UpdatesConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpgradeConfig {
    #[serde(default)]
    pub repair_policy: RepairPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProductConfig {
    /// Display name: `CFBundleName`, the installer title.
    pub name: String,
    pub team_id: TeamId,
    /// Oldest macOS the pkg installs on (`LSMinimumSystemVersion` and the
    /// Distribution's `allowed-os-versions`).
    pub minimum_macos: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppConfig {
    pub bundle_id: BundleId,
    /// `Name.app` is written from this; also the binary name in Contents/MacOS.
    pub bundle_name: String,
    pub executable: String,
    pub entitlements: PathBuf,
    #[serde(default)]
    pub provisioning_profile: Option<PathBuf>,
    /// A directory copied into `Contents/Resources` (icons, localizations).
    #[serde(default)]
    pub resources: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExtensionConfig {
    pub bundle_id: BundleId,
    pub executable: String,
    /// Objective-C class of the `NEPacketTunnelProvider` subclass
    /// (`NEProviderClasses` in the extension's Info.plist).
    pub provider_class: String,
    pub entitlements: PathBuf,
    #[serde(default)]
    pub provisioning_profile: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageConfig {
    /// Identifier of the component package (receipts are kept under it).
    pub identifier: BundleId,
    /// Where the pkg is written, relative to the config file.
    pub output_dir: PathBuf,
}

/// A checked release: everything build-pkg needs to know about the product,
/// with paths made absolute.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub team_id: TeamId,
    pub version: Version,
    pub minimum_macos: String,
    pub app: BundleSpec,
    pub extension: BundleSpec,
    pub provider_class: String,
    /// Checked, with the team prefixes expanded.
    pub app_entitlements: Entitlements,
    pub extension_entitlements: Entitlements,
    /// The versioned XPC Mach service name, the same in both Info.plists.
    pub service_name: ServiceName,
    pub package_identifier: BundleId,
    pub output_dir: PathBuf,
    pub repair_policy: RepairPolicy,
    /// Installer.app's title, pages and backgrounds.
    pub installer: InstallerPages,
    /// The MDM profile's VPN settings.
    pub mdm: MdmConfig,
    /// The app's feed and update key (`SUFeedURL`, `SUPublicEDKey`).
    pub updates: UpdateSettings,
    /// Directory of the config file; templates and stand-ins are found from here.
    pub root: PathBuf,
    /// The config file itself, which findings about its fields name.
    pub config_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct BundleSpec {
    pub bundle_id: BundleId,
    pub executable: String,
    pub provisioning_profile: Option<PathBuf>,
    /// Copied into `Contents/Resources`.
    pub resources: Option<PathBuf>,
    /// `DemoVPN` for the app (`DemoVPN.app`), the bundle id for the extension
    /// (`<id>.systemextension`, the name macOS requires).
    pub bundle_name: String,
}

impl Release {
    /// `Name.app`.
    pub fn app_bundle_file_name(&self) -> String {
        format!("{}.app", self.app.bundle_name)
    }

    /// Where the extension bundle sits inside the app.
    pub fn extension_relative_path(&self) -> String {
        vpn_release::paths::embedded_extension(&self.extension.bundle_id)
            .display()
            .to_string()
    }

    /// Loads `release.toml` and the workspace version from the `Cargo.toml`
    /// beside it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: ReleaseConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let version = workspace_version(&root.join("Cargo.toml"))?;
        Self::from_config(config, version, root, path)
    }

    fn from_config(
        config: ReleaseConfig,
        version: Version,
        root: PathBuf,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let invalid = |field, problem: String, help: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            problem,
            help,
        };
        let mut problems = Vec::new();
        if !config
            .extension
            .bundle_id
            .is_strictly_under(&config.app.bundle_id)
        {
            problems.push(invalid(
                "extension.bundle-id",
                format!(
                    "`{}` is not prefixed by app.bundle-id `{}`",
                    config.extension.bundle_id, config.app.bundle_id
                ),
                format!(
                    "macOS only activates system extensions named under the app: use `{}.<name>`",
                    config.app.bundle_id
                ),
            ));
        }
        for (field, value) in [
            ("app.bundle-name", &config.app.bundle_name),
            ("app.executable", &config.app.executable),
            ("extension.executable", &config.extension.executable),
        ] {
            if value.is_empty() || value.contains('/') || value.starts_with('.') {
                problems.push(invalid(
                    field,
                    format!("`{value}` is not a plain file name"),
                    "use a name without `/` that does not start with `.`".into(),
                ));
            }
        }
        if !is_objc_identifier(&config.extension.provider_class) {
            problems.push(invalid(
                "extension.provider-class",
                format!(
                    "`{}` is not an Objective-C class name",
                    config.extension.provider_class
                ),
                "use letters, digits and `_`, not starting with a digit".into(),
            ));
        }
        let minimum = &config.product.minimum_macos;
        let parts: Vec<&str> = minimum.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            || parts[0].parse::<u32>().map_or(true, |major| major < 11)
        {
            problems.push(invalid(
                "product.minimum-macos",
                format!("`{minimum}` is not a macOS version from 11.0 on"),
                "system network extensions with arm64 need macOS 11 or later: write e.g. `13.0`"
                    .into(),
            ));
        }
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { root.join(p) };
        let resources = config.app.resources.map(resolve);
        if let Some(dir) = resources.as_ref().filter(|d| !d.is_dir()) {
            problems.push(invalid(
                "app.resources",
                format!("{} is not a directory", dir.display()),
                "point it at the folder whose contents go into Contents/Resources, or remove the key".into(),
            ));
        }
        let app_entitlements = Entitlements::load(
            &resolve(config.app.entitlements),
            Role::App,
            &config.product.team_id,
            &config.app.bundle_id,
        );
        let extension_entitlements = Entitlements::load(
            &resolve(config.extension.entitlements),
            Role::Extension,
            &config.product.team_id,
            &config.extension.bundle_id,
        );
        let installer = InstallerPages::load(config.installer, &config.product.name, &root, path);
        let mdm = config.mdm.check(path);
        let updates = UpdateSettings::check(config.updates, path);
        // The service group first: its message says why a group is needed.
        let service_group = |app: &Entitlements, extension: &Entitlements| {
            let group = entitlements::mach_service_group(app, extension)?;
            entitlements::check_shared_groups(app, extension)?;
            Ok::<_, ConfigError>(group)
        };
        let (app_entitlements, extension_entitlements, service_group, installer, updates) = match (
            app_entitlements,
            extension_entitlements,
            installer,
            mdm,
            updates,
        ) {
            (Ok(app), Ok(extension), Ok(installer), Ok(()), Ok(updates)) if problems.is_empty() => {
                let group = service_group(&app, &extension)?;
                (app, extension, group, installer, updates)
            }
            (app, extension, installer, mdm, updates) => {
                if let (Ok(app), Ok(extension)) = (&app, &extension) {
                    problems.extend(service_group(app, extension).err());
                }
                problems.extend(app.err().map(ConfigError::from));
                problems.extend(extension.err().map(ConfigError::from));
                problems.extend(installer.err());
                problems.extend(mdm.err());
                problems.extend(updates.err());
                return Err(ConfigError::of(problems));
            }
        };
        let service_name = ServiceName::versioned(
            &service_group,
            &config.app.bundle_id,
            &config.extension.bundle_id,
            &version,
        );
        Ok(Self {
            config_file: path.to_path_buf(),
            name: config.product.name,
            team_id: config.product.team_id,
            version,
            minimum_macos: config.product.minimum_macos,
            app: BundleSpec {
                bundle_name: config.app.bundle_name,
                bundle_id: config.app.bundle_id,
                executable: config.app.executable,
                provisioning_profile: config.app.provisioning_profile.map(resolve),
                resources,
            },
            extension: BundleSpec {
                bundle_name: config.extension.bundle_id.to_string(),
                bundle_id: config.extension.bundle_id,
                executable: config.extension.executable,
                provisioning_profile: config.extension.provisioning_profile.map(resolve),
                resources: None,
            },
            provider_class: config.extension.provider_class,
            app_entitlements,
            extension_entitlements,
            service_name,
            package_identifier: config.package.identifier,
            output_dir: resolve(config.package.output_dir),
            repair_policy: config.upgrade.repair_policy,
            installer,
            mdm: config.mdm,
            updates,
            root,
        })
    }
}

fn is_objc_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads `[workspace.package] version` (or `[package] version`).
fn workspace_version(cargo_toml: &Path) -> Result<Version, ConfigError> {
    #[derive(Deserialize)]
    struct Manifest {
        workspace: Option<Workspace>,
        package: Option<Package>,
    }
    #[derive(Deserialize)]
    struct Workspace {
        package: Option<Package>,
    }
    #[derive(Deserialize)]
    struct Package {
        version: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(cargo_toml).map_err(|source| ConfigError::Read {
        path: cargo_toml.to_path_buf(),
        source,
    })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: cargo_toml.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let version = manifest
        .workspace
        .and_then(|w| w.package)
        .and_then(|p| p.version)
        .or_else(|| manifest.package.and_then(|p| p.version));
    let invalid = |problem: String| {
        ConfigError::Invalid {
        path: cargo_toml.to_path_buf(),
        field: "workspace.package.version",
        problem,
        help: "set `version = \"MAJOR.MINOR.PATCH\"` under [workspace.package]: it is the release version".into(),
    }
    };
    match version {
        Some(toml::Value::String(v)) => v
            .parse()
            .map_err(|e: vpn_release::IdError| invalid(e.to_string())),
        Some(other) => Err(invalid(format!("is `{other}`, not a version string"))),
        None => Err(invalid("is missing".into())),
    }
}
