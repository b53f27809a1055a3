//! macOS: the control channel's listener on the versioned Mach service our
//! own Info.plist names (`NetworkExtension.NEMachServiceName`, which
//! installer-tool writes under the extension's app group, versioned),
//! admitting only the app (`VPNAppBundleIdentifier`), signed with our
//! team's Developer ID. `run_extension` starts it before handing
//! the process to NetworkExtension.

use std::sync::Arc;

use vpn_release::info_plist::{ExtensionInfoPlist, InfoPlistError};

use vpn_ipc::{
    code_requirement::peer_requirement,
    session::{ExtensionInfo, Service},
    xpc::{Listener, XpcError},
};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(transparent)]
    InfoPlist(#[from] InfoPlistError),
    #[error("cannot locate the extension's executable")]
    Executable(#[source] std::io::Error),
    #[error(transparent)]
    Xpc(#[from] XpcError),
}

/// The extension's own Info.plist,
/// `X.systemextension/Contents/Info.plist`, this executable being
/// `X.systemextension/Contents/MacOS/<name>`.
pub fn own_info_plist() -> Result<ExtensionInfoPlist, ListenerError> {
    let executable = std::env::current_exe().map_err(ListenerError::Executable)?;
    let path = executable
        .parent()
        .and_then(|macos| macos.parent())
        .map(|contents| contents.join("Info.plist"))
        .unwrap_or_default();
    Ok(ExtensionInfoPlist::read(&path)?)
}

/// Listens for the app on our Mach service; keep the listener alive for as
/// long as the extension serves.
pub fn start_control_listener(
    info: ExtensionInfo,
    service: Arc<dyn Service>,
) -> Result<Listener, ListenerError> {
    let plist = own_info_plist()?;
    let name = plist.network_extension.mach_service_name;
    let requirement = peer_requirement(&name, &plist.app_id);
    tracing::info!(service = name.as_str(), "listening for the app over XPC");
    Ok(Listener::start(name.as_str(), &requirement, info, service)?)
}
