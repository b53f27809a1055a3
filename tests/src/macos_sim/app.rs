//! The simulated app: the real `upgrade prepare` and `upgrade finish` of
//! `vpn-app` (its library, its command line), over a platform and a control
//! client that act on the simulated Mac instead of macOS.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use vpn_app::{
    cli::{Cli, Command, UpgradeCommand},
    report,
    uninstall::{uninstall_report, SystemFiles, UninstallOptions, UninstallPlatform},
    upgrade::{
        self, command, Handshake, Limits, RequestOutcome, SavedConfiguration, UpgradePlatform,
        VpnSession,
    },
};
use vpn_ipc::{
    caller::Caller,
    message::{ErrorCode, ProtocolRange, Request, RequestEnvelope, Response, TunnelStatus},
    negotiation::SUPPORTED,
    session::{Dispatch, ExtensionInfo, ServerSession},
    transport::{ControlClient, TransportError},
};
use vpn_release::info_plist::AppInfoPlist;

use crate::signed_entitlements;

use super::{
    model::{AppIdentity, Mac},
    store::{MacAccess, MacFile},
};

/// `UpgradePlatform` on the simulated Mac: `OSSystemExtensionRequest`,
/// XPC and `NETunnelProviderManager` as [`Mac`] models them.
pub struct SimPlatform<A: MacAccess> {
    pub mac: A,
    pub app: AppIdentity,
    /// Whether macOS had ingested this version's ticket before the app
    /// launched (the launch itself ingests it).
    pub ingested_at_launch: bool,
}

impl<A: MacAccess> SimPlatform<A> {
    /// Whether `done` holds within `limit`, looking every `step`.
    fn wait_until(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&mut Mac) -> bool,
    ) -> bool {
        let mut waited = Duration::ZERO;
        while !self.mac.with(&mut done) {
            if waited >= limit {
                return false;
            }
            self.mac.sleep(step);
            waited += step;
        }
        true
    }

    fn call<R>(&mut self, name: &str, f: impl FnOnce(&mut Mac, &AppIdentity) -> R) -> R {
        let app = &self.app;
        self.mac.with(|mac| {
            mac.record("app", &[name.to_string()]);
            f(mac, app)
        })
    }
}

impl<A: MacAccess> UpgradePlatform for SimPlatform<A> {
    /// What the app sees: the system's session status.
    fn tunnel_connected(&mut self) -> bool {
        self.mac.with(|mac| mac.session_connected())
    }

    fn activate(&mut self) -> RequestOutcome {
        let ingested = self.ingested_at_launch;
        let outcome = self.call("activate", |mac, app| mac.activate(app, ingested));
        // By the next request of this launch, the ticket is ingested.
        self.ingested_at_launch |= outcome == RequestOutcome::Done;
        outcome
    }

    fn deactivate(&mut self) -> RequestOutcome {
        self.call("deactivate", |mac, app| mac.deactivate(app))
    }

    fn wait_for_approval(&mut self, limit: Duration) -> RequestOutcome {
        let wait = self.call("wait_for_approval", |mac, _| mac.approval_wait(limit));
        self.mac.sleep(wait);
        let ingested = self.ingested_at_launch;
        let app = &self.app;
        let outcome = self
            .mac
            .with(|mac| mac.conclude_approval(limit, app, ingested));
        self.ingested_at_launch |= outcome == RequestOutcome::Done;
        outcome
    }

    fn handshake(&mut self) -> Handshake {
        self.call("handshake", |mac, app| mac.handshake(app))
    }

    fn resume(&mut self) -> Result<(), String> {
        self.call("resume", |mac, _| mac.resume())
    }

    /// `startVPNTunnel`, then a bounded wait for the session to be up.
    fn connect(&mut self, profile: Option<&str>, limit: Duration) -> Result<(), String> {
        self.call("connect", |mac, app| mac.connect(app, profile))?;
        if self.wait_until(limit, Duration::from_millis(50), |mac| {
            mac.session_connected()
        }) {
            Ok(())
        } else {
            Err(format!("the tunnel did not connect within {limit:?}"))
        }
    }

    fn tunnel_status(&mut self) -> Result<TunnelStatus, String> {
        self.call("tunnel_status", |mac, _| {
            if mac.xpc_invalidated || mac.extension.is_none() {
                Err("no connection to the extension".to_string())
            } else {
                Ok(mac.engine_status())
            }
        })
    }

    fn sleep(&mut self, duration: Duration) {
        self.mac.sleep(duration);
    }
}

impl<A: MacAccess> UninstallPlatform for SimPlatform<A> {
    fn remove_configurations(&mut self) -> Result<usize, String> {
        Ok(self.call("remove_configurations", |mac, app| {
            mac.remove_configurations(app)
        }))
    }

    fn unregister_login_item(&mut self) -> Result<bool, String> {
        Ok(self.call("unregister_login_item", |mac, _| {
            std::mem::take(&mut mac.login_item)
        }))
    }

    /// `do shell script ... with administrator privileges`, the password
    /// given: the script runs as root, outside the user's session.
    fn run_as_root(&mut self, script: &Path, args: &[std::ffi::OsString]) -> Result<(), String> {
        self.call("run_as_root", |_, _| ());
        let output = std::process::Command::new("/bin/sh")
            .arg(script)
            .args(args)
            .env_remove(super::tools::SESSION_VARIABLE)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

/// Our VPN configuration and its session, as the app's
/// `NETunnelProviderManager` sees them. Ending the session is
/// `stopVPNTunnel`, then a bounded wait for Disconnected.
impl<A: MacAccess> VpnSession for SimPlatform<A> {
    fn configuration(&mut self) -> Result<Option<SavedConfiguration>, String> {
        let app = &self.app;
        Ok(self.mac.with(|mac| mac.configuration(app)))
    }

    /// `saveToPreferences`: done once its completion handler runs,
    /// [`SAVE_MS`](super::model::SAVE_MS) later.
    fn save(&mut self, configuration: &SavedConfiguration) -> Result<(), String> {
        self.call("save_configuration", |_, _| ());
        self.mac.sleep(Duration::from_millis(super::model::SAVE_MS));
        let app = &self.app;
        self.mac
            .with(|mac| mac.save_configuration(app, configuration));
        Ok(())
    }

    fn stop(&mut self, limit: Duration) -> Result<(), String> {
        let provider = self.app.provider_id.clone();
        let ours = |mac: &mut Mac| -> Vec<(String, String)> {
            mac.ours(&provider)
                .map(|s| (s.id.clone(), s.status.clone()))
                .collect()
        };
        self.call("stop_vpn_tunnel", |mac, _| {
            for (id, _) in ours(mac) {
                mac.stop_service(&id);
            }
        });
        let down = |mac: &mut Mac| ours(mac).iter().all(|(_, status)| status == "Disconnected");
        if self.wait_until(limit, Duration::from_millis(100), down) {
            Ok(())
        } else {
            Err(format!("still {:?} after {limit:?}", self.mac.with(ours)))
        }
    }
}

/// The extension's end of the control channel, as the old app's `upgrade
/// prepare` reaches it: the extension's own session rules
/// ([`ServerSession`]: `Hello` first, no new work while quiesced) over the
/// simulated Mac's extension.
pub struct SimExtension<'a, A: MacAccess> {
    pub mac: &'a mut A,
    session: ServerSession,
    next_id: u64,
}

impl<'a, A: MacAccess> SimExtension<'a, A> {
    pub fn new(mac: &'a mut A) -> Self {
        Self {
            mac,
            session: ServerSession::default(),
            next_id: 0,
        }
    }
}

impl<A: MacAccess> ControlClient for SimExtension<'_, A> {
    fn request(&mut self, request: Request) -> Result<Response, TransportError> {
        self.next_id += 1;
        let frame = RequestEnvelope {
            id: self.next_id,
            request,
        }
        .to_json();
        let session = &mut self.session;
        self.mac.with(|mac| {
            mac.record("extension", &[String::from_utf8_lossy(&frame).into_owned()]);
            let Some(extension) = mac.extension.as_ref().filter(|_| !mac.xpc_invalidated) else {
                return Err(TransportError::new(std::io::Error::other(
                    "connection invalidated",
                )));
            };
            let info = ExtensionInfo {
                // An extension that shares no protocol with the app.
                protocols: if mac.protocol_skew {
                    ProtocolRange { min: 0, max: 0 }
                } else {
                    SUPPORTED
                },
                version: extension.version.clone(),
                build: extension.version.clone(),
            };
            // The peer's uid as XPC gives it: the user whose session
            // `launchctl asuser` started the app in, else root.
            let uid = std::env::var(super::tools::SESSION_VARIABLE)
                .ok()
                .and_then(|uid| uid.parse().ok())
                .unwrap_or(0);
            let caller = Caller::new(uid, mac.console.as_ref().map(|user| user.uid), false);
            Ok(
                match session.on_frame(&frame, &info, mac.quiesced, caller) {
                    Dispatch::Reply(reply) | Dispatch::ReplyAndClose(reply) => reply.response,
                    Dispatch::Serve { request, .. } => serve(mac, request),
                },
            )
        })
    }
}

/// What the extension does with a request its session rules let through.
fn serve(mac: &mut Mac, request: Request) -> Response {
    match request {
        // The engine's own state, whatever the system shows.
        Request::Status => Response::Status(mac.engine_status()),
        // The engine stops; the system's session does not hear of it.
        Request::Stop => {
            mac.stop_engine();
            Response::Stopped
        }
        Request::Quiesce => {
            mac.quiesced = true;
            Response::Quiesced
        }
        Request::Resume => {
            mac.quiesced = false;
            Response::Resumed
        }
        other => Response::Error {
            code: ErrorCode::Internal,
            message: format!("{other:?} is not simulated"),
        },
    }
}

/// What the app's bundle says about it, from the executable's path
/// (`Name.app/Contents/MacOS/exe`): its Info.plist, as build-pkg wrote it.
pub fn identity_of(executable: &Path) -> AppIdentity {
    let contents = executable
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in an app bundle", executable.display()));
    // Read as the app reads it, through the contract's types.
    let info = AppInfoPlist::read(&contents.join("Info.plist")).unwrap();
    let extension = embedded_extension(contents).join("Contents");
    let executable = extension
        .join("MacOS")
        .join(&plist_dict(&extension.join("Info.plist"))["CFBundleExecutable"]);
    let data = std::fs::read(&executable)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", executable.display()));
    let name = executable.display().to_string();
    // Where macOS reads the team from: the CodeDirectory.
    let team_id = crate::codesig::signed_slices(&data)
        .iter()
        .flat_map(|slice| slice.code_directories())
        .find_map(|cd| cd.team_id)
        .unwrap_or_default();
    let extension_groups = signed_entitlements(&name, &data)
        .first()
        .and_then(|e| e.get("com.apple.security.application-groups"))
        .and_then(plist::Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| Some(g.as_string()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    AppIdentity {
        bundle_id: info.bundle.bundle_id.to_string(),
        version: info.bundle.version.to_string(),
        service_name: info.service_name.to_string(),
        provider_id: info.extension_id.to_string(),
        team_id,
        product_name: info.bundle.name,
        extension_groups,
    }
}

/// The system extension inside an app's `contents` folder.
pub fn embedded_extension(contents: &Path) -> PathBuf {
    std::fs::read_dir(contents.join("Library/SystemExtensions"))
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("{} embeds no system extension", contents.display()))
        .path()
}

/// The string values of a property list's top dictionary.
pub fn plist_dict(path: &Path) -> std::collections::HashMap<String, String> {
    let value = plist::Value::from_file(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    value
        .as_dictionary()
        .unwrap_or_else(|| panic!("{} is not a dictionary", path.display()))
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_string()?.to_string())))
        .collect()
}

/// How long the simulated app waits for the user: short, so a denial does
/// not hold a test for two minutes.
pub const APPROVAL_LIMIT: Duration = Duration::from_secs(2);

/// `Name.app/Contents/MacOS/vpn-app ARGS`, on the simulated Mac: the
/// real command line, commands and report of `vpn-app`, over the simulated
/// platform, as the app of the bundle's version.
pub fn main(executable: PathBuf, args: Vec<String>) -> ExitCode {
    let app = identity_of(&executable);
    let mut mac = MacFile::from_env();
    let legacy = mac.with(|mac| {
        mac.record("vpn-app", &args);
        mac.legacy_versions.contains(&app.version)
    });
    if legacy && args.first().map(String::as_str) != Some("--version") {
        // What an app from before `upgrade prepare` says: it has no such
        // command.
        eprintln!("error: unrecognized subcommand '{}'", args.join(" "));
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse_from(std::iter::once("vpn-app".to_string()).chain(args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Where the macOS app keeps this user's data, as the scripts expect.
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let command = match &cli.command {
        Some(Command::Upgrade { command }) => command,
        Some(Command::Uninstall { leave_system_files }) => {
            let result = uninstall(&executable, app, mac, &home, *leave_system_files);
            return report::print(result, cli.json);
        }
        _ => {
            eprintln!("the simulated app runs only the upgrade and uninstall commands");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        UpgradeCommand::Prepare => {
            let version = app.version.clone();
            let mut session = SimPlatform {
                mac: mac.clone(),
                app,
                ingested_at_launch: true,
            };
            command::prepare_report(&mut SimExtension::new(&mut mac), &mut session, &version)
        }
        finish => {
            // Launching the app ingests its ticket, after the fact.
            let ingested_at_launch = mac.with(|mac| {
                let before = mac.ingested.contains(&app.version);
                mac.ingested.push(app.version.clone());
                before
            });
            let mut platform = SimPlatform {
                mac,
                app,
                ingested_at_launch,
            };
            let limits = Limits {
                approval: APPROVAL_LIMIT,
                handshake_interval: Duration::from_millis(50),
                ..Limits::default()
            };
            let record = upgrade::finished_record_in(&home, &platform.app.bundle_id);
            let options =
                command::finish_options(finish, record, limits).expect("prepare is matched above");
            command::finish_report(&mut platform, &options)
        }
    };
    report::print(result, cli.json)
}

/// `uninstall`, as the app at `executable` runs it.
fn uninstall(
    executable: &Path,
    app: AppIdentity,
    mac: MacFile,
    home: &Path,
    leave_system_files: bool,
) -> anyhow::Result<report::Report> {
    let bundle = executable
        .ancestors()
        .nth(3)
        .expect("the executable is in Name.app/Contents/MacOS");
    let system_files = if leave_system_files {
        None
    } else {
        Some(SystemFiles::of_bundle(bundle).map_err(anyhow::Error::msg)?)
    };
    let options = UninstallOptions {
        user_data: home
            .join(vpn_release::paths::DataPaths::of_installed(&app.bundle_id).user_dir()),
        system_files,
        approval: APPROVAL_LIMIT,
        stop: Duration::from_secs(10),
    };
    let mut platform = SimPlatform {
        mac,
        app,
        ingested_at_launch: true,
    };
    Ok(uninstall_report(&mut platform, &options))
}
