//! The macOS APIs the app calls that came after what a system network
//! extension needs anyway (macOS 10.15), each with the release it first
//! shipped in, as Apple's documentation gives it ("availability"). A
//! release whose minimum macOS is older than the newest of them installs
//! an app that fails there; `doctor` and `build-pkg` refuse it. A test
//! holds the table to the code: each API listed is called somewhere.

use crate::version_order;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacosApi {
    /// As Apple's documentation names it.
    pub name: &'static str,
    /// The Rust name the app calls it by, for the test that keeps this
    /// table true.
    pub symbol: &'static str,
    /// What the app does with it.
    pub used_for: &'static str,
    pub since: &'static str,
}

pub const APIS: [MacosApi; 4] = [
    // developer.apple.com/documentation/servicemanagement/smappservice:
    // "macOS: 13.0.0 -".
    MacosApi {
        name: "SMAppService",
        symbol: "SMAppService",
        used_for: "Launch at Login in the menu bar app",
        since: "13.0",
    },
    // .../ossystemextensionrequest/propertiesrequest(forextensionwithidentifier:queue:):
    // "macOS: 12.0.0 -".
    MacosApi {
        name: "OSSystemExtensionRequest.propertiesRequest(forExtensionWithIdentifier:queue:)",
        symbol: "propertiesRequestForExtension_queue",
        used_for: "the extension's state in the menu",
        since: "12.0",
    },
    // .../systemextensions/ossystemextensionrequest: "macOS: 10.15.0 -".
    MacosApi {
        name: "OSSystemExtensionRequest",
        symbol: "deactivationRequestForExtension_queue",
        used_for: "activating, replacing and deactivating the extension",
        since: "10.15",
    },
    // .../usernotifications/unusernotificationcenter: "macOS: 10.14.0 -".
    MacosApi {
        name: "UNUserNotificationCenter",
        symbol: "UNUserNotificationCenter",
        used_for: "the notification after an upgrade",
        since: "10.14",
    },
];

/// The API with the newest `since`: the oldest macOS the app runs on.
pub fn newest() -> MacosApi {
    APIS.into_iter()
        .max_by(|a, b| version_order::compare(a.since, b.since))
        .expect("the table is not empty")
}

#[cfg(test)]
mod tests {
    #[test]
    fn launch_at_login_sets_the_floor() {
        assert_eq!(super::newest().since, "13.0");
        assert_eq!(super::newest().name, "SMAppService");
    }
}
