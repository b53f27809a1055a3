//! What an `OSSystemExtensionRequest` reports, as plain Rust: the macOS
//! delegate (`macos::system_extension`) turns each callback into a
//! [`RequestEvent`], and the upgrade logic reads [`RequestOutcome`]s made
//! from them. The mapping is tested on any OS.

use crate::upgrade::RequestOutcome;

/// One callback of a request's delegate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestEvent {
    /// `requestNeedsUserApproval:`; the request stays pending.
    NeedsApproval,
    /// `request:didFinishWithResult:`.
    Finished { after_reboot: bool },
    /// `request:didFailWithError:` with the error's code and description.
    Failed { code: i64, message: String },
    /// `request:foundProperties:`: the installed versions of the extension.
    Properties(Vec<InstalledExtension>),
}

/// `OSSystemExtensionProperties` of one installed copy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstalledExtension {
    pub version: String,
    pub short_version: String,
    pub enabled: bool,
    pub awaiting_approval: bool,
}

/// `OSSystemExtensionErrorCode`, with what each means for the person who
/// reads the upgrade log.
pub fn explain_error(code: i64) -> &'static str {
    match code {
        1 => "unknown error",
        2 => "the app lacks the system-extension.install entitlement",
        3 => "the app must run from /Applications to manage its extension",
        4 => "the extension is not in the app's Contents/Library/SystemExtensions",
        5 => "the extension has no bundle identifier",
        6 => "two extensions in the app share a bundle identifier",
        7 => "the extension's category is unknown to macOS",
        8 => "the extension's code signature is invalid",
        9 => "the extension failed validation (Info.plist, entitlements or notarization)",
        10 => "system policy forbids this extension (MDM or security settings)",
        11 => "the request was canceled",
        12 => "a newer request superseded this one",
        13 => "the user did not authorize the change",
        _ => "unrecognised error",
    }
}

impl RequestEvent {
    /// What the event means for an activation or deactivation; `None` for
    /// events that do not end one (properties).
    pub fn outcome(&self) -> Option<RequestOutcome> {
        match self {
            Self::NeedsApproval => Some(RequestOutcome::NeedsApproval),
            Self::Finished {
                after_reboot: false,
            } => Some(RequestOutcome::Done),
            Self::Finished { after_reboot: true } => Some(RequestOutcome::WillCompleteAfterReboot),
            Self::Failed { code, message } => Some(RequestOutcome::Failed(format!(
                "{message} (OSSystemExtensionError {code}: {})",
                explain_error(*code)
            ))),
            Self::Properties(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_callback_has_its_outcome() {
        assert_eq!(
            RequestEvent::NeedsApproval.outcome(),
            Some(RequestOutcome::NeedsApproval)
        );
        assert_eq!(
            RequestEvent::Finished { after_reboot: true }.outcome(),
            Some(RequestOutcome::WillCompleteAfterReboot)
        );
        assert_eq!(
            RequestEvent::Finished {
                after_reboot: false
            }
            .outcome(),
            Some(RequestOutcome::Done)
        );
        let Some(RequestOutcome::Failed(message)) = (RequestEvent::Failed {
            code: 3,
            message:
                "App containing System Extension to be activated must be in /Applications folder"
                    .into(),
        })
        .outcome() else {
            panic!("a failure")
        };
        assert!(
            message.contains("OSSystemExtensionError 3: the app must run from /Applications"),
            "{message}"
        );
        assert_eq!(RequestEvent::Properties(Vec::new()).outcome(), None);
    }
}
