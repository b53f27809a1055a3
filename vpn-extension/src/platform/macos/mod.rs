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

pub use listener::{mach_service_name, start_control_listener, ListenerError};
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

static EXTENSION: OnceLock<Extension> = OnceLock::new();

impl Extension {
    pub fn get() -> &'static Extension {
        EXTENSION
            .get()
            .expect("run_extension sets the extension up before the provider runs")
    }
}

extern "C" {
    /// libdispatch's main loop; never returns.
    fn dispatch_main() -> !;
}

/// Where profiles live: root-owned, beside the app's other state.
fn profile_dir() -> PathBuf {
    PathBuf::from(format!(
        "/Library/Application Support/{}/Profiles",
        env!("CARGO_PKG_NAME")
    ))
}

pub fn run_extension() -> ExitCode {
    let logs = install_logging(LOG_LINES_KEPT);
    let version = env!("CARGO_PKG_VERSION");
    let info = ExtensionInfo {
        protocols: SUPPORTED,
        version: version.into(),
        build: version.into(),
    };
    let service = match ProfileStore::open(&profile_dir())
        .map_err(|e| e.to_string())
        .and_then(|profiles| {
            ControlService::new(profiles, ProviderDevices, logs).map_err(|e| e.to_string())
        }) {
        Ok(service) => Arc::new(service),
        Err(message) => {
            tracing::error!(message, "cannot start the control service");
            return ExitCode::FAILURE;
        }
    };
    let extension = EXTENSION.get_or_init(|| Extension {
        service,
        info,
        app_messages: Mutex::new(ServerSession::default()),
        quiesced: AtomicBool::new(false),
    });
    // The listener lives as long as the process.
    let _listener = match start_control_listener(extension.info.clone(), extension.service.clone())
    {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for the app over XPC");
            return ExitCode::FAILURE;
        }
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
