//! macOS: the extension runs as a system extension. `run_extension`
//! starts the control service, the XPC listener on our versioned Mach
//! service, registers the packet tunnel provider class and hands the
//! process to NetworkExtension.

mod listener;
mod packet_flow;
mod provider;
mod utun;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc, Mutex, OnceLock},
};

pub use listener::{start_control_listener, ListenerError};
use objc2::ClassType;
use objc2_network_extension::NEProvider;
pub use provider::{PacketTunnelProvider, ProviderDevices, ProviderError, ProviderTun};
use vpn_ipc::{
    negotiation::SUPPORTED,
    session::{ExtensionInfo, ServerSession},
};

use crate::{control::ControlService, log_ring::install_logging, profiles::ProfileStore};

const LOG_LINES_KEPT: usize = 2000;

/// What the provider's calls reach: one per process.
pub struct Extension {
    pub service: Arc<ControlService<ProviderDevices>>,
    pub info: ExtensionInfo,
    /// The app-message channel's session and quiesce flag (XPC has its own).
    pub app_messages: Mutex<ServerSession>,
    pub quiesced: AtomicBool,
}

/// The extension, or why it could not be set up: the process registers
/// with NetworkExtension either way, and a failed setup fails each
/// `startTunnel` with its reason, where the app and the system log see it.
/// A system extension that exits before `startSystemExtensionMode()` only
/// shows as a crash loop in sysextd's log.
static EXTENSION: OnceLock<Result<Extension, String>> = OnceLock::new();

impl Extension {
    pub fn get() -> Result<&'static Extension, String> {
        match EXTENSION.get() {
            Some(Ok(extension)) => Ok(extension),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err("the extension was not set up".into()),
        }
    }
}

extern "C" {
    /// libdispatch's main loop; never returns.
    fn dispatch_main() -> !;
}

/// Where profiles live: root-owned, in the app's folder of the boot
/// volume, beside the upgrade state.
fn profile_dir() -> Result<PathBuf, ListenerError> {
    let app_id = listener::own_info_plist()?.app_id;
    Ok(PathBuf::from("/").join(vpn_release::paths::DataPaths::new(&app_id).profile_dir()))
}

pub fn run_extension() -> ExitCode {
    let logs = install_logging(LOG_LINES_KEPT);
    let version = env!("CARGO_PKG_VERSION");
    let info = ExtensionInfo {
        protocols: SUPPORTED,
        version: version.into(),
        build: version.into(),
    };
    let extension = profile_dir()
        .map_err(|e| e.to_string())
        .and_then(|dir| ProfileStore::open(&dir).map_err(|e| e.to_string()))
        .and_then(|profiles| {
            ControlService::new(profiles, ProviderDevices, logs).map_err(|e| e.to_string())
        })
        .map(|service| Extension {
            service: Arc::new(service),
            info,
            app_messages: Mutex::new(ServerSession::default()),
            quiesced: AtomicBool::new(false),
        })
        .map_err(|message| {
            tracing::error!(message, "cannot start the control service");
            format!("the extension could not start its control service: {message}")
        });
    // The listener lives as long as the process. Without it the app still
    // reaches the extension through app messages.
    let _listener = match EXTENSION.get_or_init(|| extension) {
        Ok(extension) => start_control_listener(extension.info.clone(), extension.service.clone())
            .inspect_err(|e| tracing::error!(error = %e, "cannot listen for the app over XPC"))
            .ok(),
        Err(_) => None,
    };
    // Registered before NetworkExtension looks the class up by name.
    let _ = PacketTunnelProvider::class();
    tracing::info!("starting in system extension mode");
    // SAFETY: called once, from the main thread, before dispatch_main.
    unsafe {
        NEProvider::startSystemExtensionMode();
        dispatch_main()
    }
}
