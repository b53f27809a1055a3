//! Opening the control channel. On macOS: XPC to the versioned service the
//! app bundle's Info.plist names, with our team's code-signing requirement
//! on the extension. Elsewhere, and on macOS outside an app bundle (in
//! development): the Unix socket.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context};
use vpn_ipc::{message::Response, session::HandshakeOutcome, transport::ControlClient, unix};

use crate::VERSION;

/// How long a request may take before the app gives up on the extension.
const TIMEOUT: Duration = Duration::from_secs(5);

pub fn open(socket: &Path) -> anyhow::Result<Box<dyn ControlClient>> {
    #[cfg(target_os = "macos")]
    if let Some((service, extension)) = bundle_service_name()? {
        let requirement = vpn_ipc::code_requirement::peer_requirement(&service, &extension);
        let client = vpn_ipc::xpc::Client::connect(service.as_str(), &requirement, TIMEOUT)
            .with_context(|| format!("cannot reach the extension's XPC service {service}"))?;
        return Ok(Box::new(client));
    }
    let client = unix::Client::connect(socket, TIMEOUT)
        .with_context(|| format!("is the extension running? (socket {})", socket.display()))?;
    Ok(Box::new(client))
}

/// Connects and says hello; a build or protocol mismatch is reported, not
/// papered over (after an upgrade it means the old extension still runs).
pub fn connect_at(socket: &Path) -> anyhow::Result<(Box<dyn ControlClient>, HandshakeOutcome)> {
    let mut client = open(socket)?;
    let outcome = client
        .hello(VERSION, VERSION)
        .context("handshake with the extension failed")?;
    Ok((client, outcome))
}

/// A client to an extension of this very build.
pub fn ready_at(socket: &Path) -> anyhow::Result<Box<dyn ControlClient>> {
    let mut client = open(socket)?;
    require_current(client.as_mut(), VERSION)?;
    Ok(client)
}

/// Says hello on `client` for an app of build `app_build`; an error unless
/// the extension is of that very build.
pub fn require_current(client: &mut dyn ControlClient, app_build: &str) -> anyhow::Result<()> {
    match client
        .hello(app_build, app_build)
        .context("handshake with the extension failed")?
    {
        HandshakeOutcome::Current { .. } => Ok(()),
        other => bail!("the extension cannot serve this app: {other:?}"),
    }
}

/// `response` if it is the one `wanted`; the extension's refusal or a
/// surprise as an error otherwise.
pub fn expect(response: Response, wanted: fn(&Response) -> bool) -> anyhow::Result<Response> {
    match response {
        Response::Error { code, message } => bail!("the extension refused ({code:?}): {message}"),
        other if wanted(&other) => Ok(other),
        other => bail!("unexpected reply from the extension: {other:?}"),
    }
}

/// `VPNExtensionMachServiceName` and the extension's bundle id
/// (`VPNExtensionBundleIdentifier`) from `Name.app/Contents/Info.plist`, when
/// this program runs from `Name.app/Contents/MacOS/`. installer-tool writes
/// that key (the same value as the extension's `NEMachServiceName`).
#[cfg(target_os = "macos")]
fn bundle_service_name() -> anyhow::Result<Option<(vpn_release::ServiceName, vpn_release::BundleId)>>
{
    let executable = std::env::current_exe().context("cannot locate this program")?;
    let Some(contents) = executable.parent().and_then(Path::parent) else {
        return Ok(None);
    };
    let info = contents.join("Info.plist");
    if !info.exists() {
        return Ok(None);
    }
    let app = vpn_release::info_plist::AppInfoPlist::read(&info)?;
    Ok(Some((app.service_name, app.extension_id)))
}
