//! A test's handle on one simulated Mac: a target volume (its path has
//! spaces and a quote), the fake tools on PATH, the console user's home,
//! and an Installer that runs a pkg's preinstall, lays down its payload and
//! runs its postinstall, as macOS's does.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use super::{
    model::{now_ms, Mac},
    store::{MacAccess, MacFile, STATE_VARIABLE},
    tools::{SESSION_VARIABLE, TOOLS},
};
use crate::{binary, run_ok, unpack_cpio_gz, unpack_xar, BuiltPkg};

pub const APP_BUNDLE: &str = "Applications/DemoVPN.app";

pub struct SimMac {
    pub dir: tempfile::TempDir,
    pub volume: PathBuf,
    pub home: PathBuf,
    bin: PathBuf,
    pub state: MacFile,
}

/// What one run of the Installer did.
pub struct Install {
    /// When preinstall started (the simulation's clock).
    pub started_ms: u64,
    pub preinstall: Output,
    /// `None` when preinstall failed and Installer stopped.
    pub postinstall: Option<Output>,
    pub took: Duration,
}

impl Install {
    pub fn succeeded(&self) -> bool {
        self.preinstall.status.success()
            && self
                .postinstall
                .as_ref()
                .is_some_and(|o| o.status.success())
    }
}

/// The pkg's scripts, extracted from the Scripts archive build-pkg wrote,
/// its payload's app, its component's PackageInfo and BOM.
pub struct PkgUnderTest {
    pub scripts: PathBuf,
    pub app: PathBuf,
    pub pkg: PathBuf,
    pub package_info: String,
    pub bom: PathBuf,
}

/// The uninstaller pkg build-pkg wrote next to the pkg: its scripts,
/// extracted from its one component.
pub struct UninstallerUnderTest {
    pub pkg: PathBuf,
    pub scripts: PathBuf,
}

impl UninstallerUnderTest {
    /// The uninstaller of `built`, unpacked under `into`.
    pub fn from_built(built: &BuiltPkg, into: &Path) -> Self {
        let pkg = PathBuf::from(
            built.report["uninstaller"]
                .as_str()
                .expect("the build report names the uninstaller"),
        );
        let extracted = into.join("uninstaller");
        let scripts = into.join("uninstaller-scripts");
        if !scripts.exists() {
            unpack_xar(&pkg, &extracted);
            let component = std::fs::read_dir(&extracted)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "pkg"))
                .expect("the uninstaller has a component");
            unpack_cpio_gz(&component.join("Scripts"), &scripts);
        }
        Self { pkg, scripts }
    }
}

impl PkgUnderTest {
    pub fn from_built(built: &BuiltPkg, into: &Path) -> Self {
        let scripts = into.join("scripts");
        if !scripts.exists() {
            unpack_cpio_gz(&built.component().join("Scripts"), &scripts);
        }
        let package_info = built.component().join("PackageInfo");
        Self {
            scripts,
            app: built.app(),
            pkg: built.pkg.clone(),
            bom: built.component().join("Bom"),
            package_info: std::fs::read_to_string(&package_info)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", package_info.display())),
        }
    }

    /// Whether Installer replaces the installed copy of bundle `id` whole:
    /// PackageInfo lists it under `<upgrade-bundle>` (pkgbuild(1),
    /// BundleOverwriteAction `upgrade`: "the bundle in the package
    /// atomically replaces any version on disk; this has the effect of
    /// deleting old paths that no longer exist in the new version").
    /// Otherwise the payload is written over it, and files the payload
    /// lacks stay. The simulated Mac keeps no receipts database: it is the
    /// case of an old copy whose receipt is gone (dragged in from a disk
    /// image, `pkgutil --forget`, another package id), where receipts
    /// remove nothing either.
    pub fn replaces_bundle(&self, id: &str) -> bool {
        let document = roxmltree::Document::parse(&self.package_info)
            .unwrap_or_else(|e| panic!("PackageInfo is not XML: {e}"));
        document
            .descendants()
            .filter(|n| n.has_tag_name("upgrade-bundle"))
            .flat_map(|list| list.children())
            .any(|bundle| bundle.has_tag_name("bundle") && bundle.attribute("id") == Some(id))
    }
}

/// An installation whose preinstall ran.
pub struct StartedInstall {
    started_ms: u64,
    start: Instant,
    pub preinstall: Output,
}

impl SimMac {
    pub fn new(mac: Mac) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("Macintosh HD's \"data\" copy");
        let home = dir.path().join("Users/alice");
        let bin = dir.path().join("bin");
        for path in [
            volume.join("Applications"),
            volume.join("var/log"),
            volume.join("Library/LaunchAgents"),
            home.clone(),
            bin.clone(),
        ] {
            std::fs::create_dir_all(path).unwrap();
        }
        for tool in TOOLS {
            std::os::unix::fs::symlink(binary("macos-sim"), bin.join(tool)).unwrap();
        }
        let state = MacFile::create(&dir.path().join("mac.json"), &mac);
        Self {
            dir,
            volume,
            home,
            bin,
            state,
        }
    }

    pub fn app_path(&self) -> PathBuf {
        self.volume.join(APP_BUNDLE)
    }

    pub fn app_executable(&self) -> PathBuf {
        self.app_path().join("Contents/MacOS/vpn-app")
    }

    pub fn mac(&self) -> Mac {
        self.state.read()
    }

    pub fn update<R>(&self, f: impl FnOnce(&mut Mac) -> R) -> R {
        self.state.clone().with(f)
    }

    pub fn install_log(&self) -> String {
        std::fs::read_to_string(self.volume.join("var/log/demovpn-install.log")).unwrap_or_default()
    }

    pub fn state_file(&self) -> PathBuf {
        self.volume
            .join("Library/Application Support/com.example.demovpn/Upgrade/state.json")
    }

    pub fn agent_plist(&self) -> PathBuf {
        self.volume
            .join("Library/LaunchAgents/com.example.demovpn.upgrade-finish.plist")
    }

    /// The login agent and launch daemon of an uninstall waiting for a
    /// login.
    pub fn uninstall_jobs(&self) -> [PathBuf; 2] {
        ["LaunchAgents", "LaunchDaemons"].map(|dir| {
            self.volume
                .join("Library")
                .join(dir)
                .join("com.example.demovpn.uninstall.plist")
        })
    }

    /// Every file and link left on the volume and in the user's home, and
    /// every folder named after the app.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for root in [&self.volume, &self.home] {
            let mut stack = vec![root.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let named_after_us = path.to_string_lossy().to_lowercase().contains("demovpn");
                    if path.is_dir() && !path.is_symlink() {
                        if named_after_us {
                            left.push(path.clone());
                        }
                        stack.push(path);
                    } else {
                        left.push(path);
                    }
                }
            }
        }
        left
    }

    /// The receipt Installer leaves for `pkg`'s component: the BOM it
    /// installed and a property list (the keys of a receipt as
    /// `defaults read` shows one, visualisere.no, "OSX package management
    /// from the commandline"), under `/var/db/receipts`.
    fn write_receipt(&self, pkg: &PkgUnderTest) {
        let document = roxmltree::Document::parse(&pkg.package_info).unwrap();
        let info = document.root_element();
        let id = info
            .attribute("identifier")
            .expect("PackageInfo names its id");
        let receipts = self.volume.join("var/db/receipts");
        std::fs::create_dir_all(&receipts).unwrap();
        std::fs::copy(&pkg.bom, receipts.join(format!("{id}.bom"))).unwrap();
        let mut receipt = plist::Dictionary::new();
        receipt.insert("PackageIdentifier".into(), id.into());
        receipt.insert(
            "PackageVersion".into(),
            info.attribute("version").unwrap_or_default().into(),
        );
        receipt.insert("InstallPrefixPath".into(), "/".into());
        receipt.insert("InstallProcessName".into(), "installer".into());
        receipt.insert(
            "InstallDate".into(),
            plist::Value::Date(std::time::SystemTime::now().into()),
        );
        plist::Value::Dictionary(receipt)
            .to_file_xml(receipts.join(format!("{id}.plist")))
            .unwrap();
    }

    /// A command with the simulated Mac's environment: fake tools first on
    /// PATH, the state file, the console user's home.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let path = std::env::var("PATH").unwrap_or_default();
        command
            .env("PATH", format!("{}:{path}", self.bin.display()))
            .env(STATE_VARIABLE, &self.state.path)
            .env("HOME", &self.home)
            .env_remove("XDG_STATE_HOME")
            .env_remove(SESSION_VARIABLE);
        command
    }

    /// Puts `app` (a bundle build-pkg wrote) in /Applications as `version`
    /// (its own when `None`), with `service_name` as the extension's Mach
    /// service name; its executable is the simulated app.
    pub fn put_app(&self, app: &Path, version: Option<&str>, service_name: Option<&str>) {
        self.lay_app(app, true);
        let target = self.app_path();
        let extension = super::app::embedded_extension(&target.join("Contents"));
        for (info, service_key) in [
            (
                target.join("Contents/Info.plist"),
                vpn_release::info_plist::APP_SERVICE_NAME,
            ),
            (extension.join("Contents/Info.plist"), "NEMachServiceName"),
        ] {
            let mut value = plist::Value::from_file(&info).unwrap();
            let dict = value.as_dictionary_mut().unwrap();
            if let Some(version) = version {
                dict.insert("CFBundleVersion".into(), version.into());
                dict.insert("CFBundleShortVersionString".into(), version.into());
            }
            if let Some(name) = service_name {
                let entry = if service_key == "NEMachServiceName" {
                    dict.get_mut("NetworkExtension")
                        .and_then(plist::Value::as_dictionary_mut)
                        .expect("the extension's NetworkExtension dictionary")
                } else {
                    &mut *dict
                };
                entry.insert(service_key.into(), name.into());
            }
            value.to_file_xml(&info).unwrap();
        }
    }

    /// Lays `app` at /Applications: in place of the installed copy when
    /// `replace`, else written over it; its executable is the simulated app.
    fn lay_app(&self, app: &Path, replace: bool) {
        let target = self.app_path();
        if replace && target.exists() {
            std::fs::remove_dir_all(&target).unwrap();
        }
        std::fs::create_dir_all(&target).unwrap();
        // --remove-destination: never write through the installed
        // executable, a link to the simulation's own binary.
        run_ok(
            "cp -R the app",
            Command::new("cp")
                .args(["-R", "--remove-destination"])
                .arg(app.join("."))
                .arg(&target),
        );
        let executable = self.app_executable();
        std::fs::remove_file(&executable).unwrap();
        std::os::unix::fs::symlink(binary("macos-sim"), &executable).unwrap();
    }

    fn run_script(&self, pkg: &PkgUnderTest, name: &str) -> Output {
        self.run_installer_script(&pkg.scripts.join(name), &pkg.pkg)
    }

    /// A script of `pkg` as Installer runs it, as root: the package, the
    /// target location and the target volume.
    fn run_installer_script(&self, script: &Path, pkg: &Path) -> Output {
        let volume = format!("{}/", self.volume.display());
        self.command(script)
            .current_dir(self.dir.path())
            .arg(pkg)
            .arg(&volume)
            .arg(&volume)
            .arg("/")
            .output()
            .unwrap()
    }

    /// Installer on the payload-free uninstaller: its postinstall alone.
    pub fn run_uninstaller(&self, uninstaller: &UninstallerUnderTest) -> Output {
        self.run_installer_script(&uninstaller.scripts.join("postinstall"), &uninstaller.pkg)
    }

    /// launchd starting the uninstall's daemon (at load, then every
    /// StartInterval), as root: its ProgramArguments, if it is loaded.
    pub fn run_launch_daemon(&self) -> Option<Output> {
        let [_, daemon] = self.uninstall_jobs();
        let loaded = self
            .mac()
            .launch_daemons
            .contains(&"com.example.demovpn.uninstall".to_string());
        if !loaded {
            return None;
        }
        let arguments = super::tools::program_arguments(&super::tools::launchd_job(&daemon));
        Some(
            self.command(&arguments[0])
                .args(&arguments[1..])
                .output()
                .unwrap(),
        )
    }

    /// Installer: preinstall; if it succeeded, the payload's app is laid
    /// down as its PackageInfo says; postinstall.
    pub fn install(&self, pkg: &PkgUnderTest) -> Install {
        let started = self.start_install(pkg);
        self.complete_install(pkg, started)
    }

    /// Installer's first step alone: preinstall.
    pub fn start_install(&self, pkg: &PkgUnderTest) -> StartedInstall {
        StartedInstall {
            started_ms: now_ms(),
            start: Instant::now(),
            preinstall: self.run_script(pkg, "preinstall"),
        }
    }

    /// The rest of [`Self::install`] after [`Self::start_install`].
    pub fn complete_install(&self, pkg: &PkgUnderTest, started: StartedInstall) -> Install {
        let StartedInstall {
            started_ms,
            start,
            preinstall,
        } = started;
        let postinstall = preinstall.status.success().then(|| {
            let app_id = super::app::plist_dict(&pkg.app.join("Contents/Info.plist"))
                .remove("CFBundleIdentifier")
                .expect("the payload's app has a bundle id");
            self.lay_app(&pkg.app, pkg.replaces_bundle(&app_id));
            self.write_receipt(pkg);
            self.run_script(pkg, "postinstall")
        });
        Install {
            started_ms,
            preinstall,
            postinstall,
            took: start.elapsed(),
        }
    }

    /// Runs the installed app with `args`, as the user or a login agent
    /// would, waits, and returns what it reports. `--json` is added in
    /// front: a login agent's output goes nowhere, and the test reads it
    /// instead.
    pub fn run_app(&self, args: &[&str]) -> serde_json::Value {
        let output = self
            .command(self.app_executable())
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "the app printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}
