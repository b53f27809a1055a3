//! macOS: the control channel's listener on the versioned Mach service our
//! own Info.plist names (`NetworkExtension.NEMachServiceName`, which
//! installer-tool writes as `<TEAM>.<bundle id>.<version>`), admitting only
//! code signed by the same team. `run_extension` starts it before handing
//! the process to NetworkExtension.

use std::{path::PathBuf, sync::Arc};

use vpn_ipc::{
    code_requirement::{team_of_service, team_requirement, RequirementError},
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
    #[error("{0} has no NetworkExtension.NEMachServiceName")]
    NoServiceName(PathBuf),
    #[error("cannot locate the extension's executable")]
    Executable(#[source] std::io::Error),
    #[error(transparent)]
    Requirement(#[from] RequirementError),
    #[error(transparent)]
    Xpc(#[from] XpcError),
}

/// `NEMachServiceName` from `X.systemextension/Contents/Info.plist`, this
/// executable being `X.systemextension/Contents/MacOS/<name>`.
pub fn mach_service_name() -> Result<String, ListenerError> {
    use vpn_release::info_plist::{MACH_SERVICE_NAME, NETWORK_EXTENSION};
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
    value
        .as_dictionary()
        .and_then(|d| d.get(NETWORK_EXTENSION))
        .and_then(plist::Value::as_dictionary)
        .and_then(|d| d.get(MACH_SERVICE_NAME))
        .and_then(plist::Value::as_string)
        .map(str::to_string)
        .ok_or(ListenerError::NoServiceName(path))
}

/// Listens for the app on our Mach service; keep the listener alive for as
/// long as the extension serves.
pub fn start_control_listener(
    info: ExtensionInfo,
    service: Arc<dyn Service>,
) -> Result<Listener, ListenerError> {
    let name = mach_service_name()?;
    let requirement = team_requirement(team_of_service(&name)?)?;
    tracing::info!(service = name, "listening for the app over XPC");
    Ok(Listener::start(&name, &requirement, info, service)?)
}
