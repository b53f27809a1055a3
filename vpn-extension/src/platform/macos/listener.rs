//! macOS: the control channel's listener on the versioned Mach service our
//! own Info.plist names (`NetworkExtension.NEMachServiceName`, which
//! installer-tool writes under the extension's app group, versioned),
//! admitting only code signed by the same team. `run_extension` starts it before handing
//! the process to NetworkExtension.

use std::{path::PathBuf, sync::Arc};

use vpn_ipc::{
    code_requirement::peer_requirement,
    session::{ExtensionInfo, Service},
    xpc::{Listener, XpcError},
};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot read the extension's Info.plist at {path}")]
    InfoPlist {
        path: PathBuf,
        #[source]
        source: plist::Error,
    },
    #[error("{0} has no {1}: rebuild the pkg with this version's installer-tool")]
    NoKey(PathBuf, &'static str),
    #[error("cannot locate the extension's executable")]
    Executable(#[source] std::io::Error),
    #[error(transparent)]
    ServiceName(#[from] vpn_release::IdError),
    #[error(transparent)]
    Xpc(#[from] XpcError),
}

/// The extension's own Info.plist,
/// `X.systemextension/Contents/Info.plist`, this executable being
/// `X.systemextension/Contents/MacOS/<name>`.
fn own_info_plist() -> Result<(PathBuf, plist::Value), ListenerError> {
    let executable = std::env::current_exe().map_err(ListenerError::Executable)?;
    let path = executable
        .parent()
        .and_then(|macos| macos.parent())
        .map(|contents| contents.join("Info.plist"))
        .unwrap_or_default();
    let value = plist::Value::from_file(&path).map_err(|source| ListenerError::InfoPlist {
        path: path.clone(),
        source,
    })?;
    Ok((path, value))
}

/// `NEMachServiceName` from the extension's Info.plist.
pub fn mach_service_name() -> Result<String, ListenerError> {
    use vpn_release::info_plist::{MACH_SERVICE_NAME, NETWORK_EXTENSION};
    let (path, value) = own_info_plist()?;
    value
        .as_dictionary()
        .and_then(|d| d.get(NETWORK_EXTENSION))
        .and_then(plist::Value::as_dictionary)
        .and_then(|d| d.get(MACH_SERVICE_NAME))
        .and_then(plist::Value::as_string)
        .map(str::to_string)
        .ok_or(ListenerError::NoKey(
            path,
            "NetworkExtension.NEMachServiceName",
        ))
}

/// The bundle id of the app the extension belongs to, from its
/// Info.plist: it names the folder of the extension's data.
pub fn app_id() -> Result<String, ListenerError> {
    use vpn_release::info_plist::EXTENSION_APP_ID;
    let (path, value) = own_info_plist()?;
    value
        .as_dictionary()
        .and_then(|d| d.get(EXTENSION_APP_ID))
        .and_then(plist::Value::as_string)
        .map(str::to_string)
        .ok_or(ListenerError::NoKey(path, EXTENSION_APP_ID))
}

/// Listens for the app on our Mach service; keep the listener alive for as
/// long as the extension serves.
pub fn start_control_listener(
    info: ExtensionInfo,
    service: Arc<dyn Service>,
) -> Result<Listener, ListenerError> {
    let name: vpn_release::ServiceName = mach_service_name()?.parse()?;
    let requirement = peer_requirement(&name);
    tracing::info!(service = name.as_str(), "listening for the app over XPC");
    Ok(Listener::start(name.as_str(), &requirement, info, service)?)
}
