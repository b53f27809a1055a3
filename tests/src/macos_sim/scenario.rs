//! The starting points the tests on the simulated Mac share: the demo
//! pkg, and a Mac with a version of the app installed, running and
//! connected.

use std::sync::OnceLock;

use super::{
    harness::{PkgUnderTest, SimMac},
    model::{ConsoleUser, Extension, Mac, RunningApp, Service},
};
use crate::demo_pkg;

pub const TEAM: &str = "ABCDE12345";
pub const APP_ID: &str = "com.example.demovpn";
pub const PROVIDER: &str = "com.example.demovpn.tunnel";
/// The demo pkg's version: the workspace's.
pub const NEW: &str = "1.0.0";

pub fn pkg() -> &'static PkgUnderTest {
    static PKG: OnceLock<PkgUnderTest> = OnceLock::new();
    PKG.get_or_init(|| {
        let built = demo_pkg();
        PkgUnderTest::from_built(built, built.dir.path())
    })
}

pub fn versioned(version: &str) -> String {
    format!("{TEAM}.group.{APP_ID}.tunnel.{version}")
}

pub fn service(id: &str, name: &str, provider: &str, connected: bool) -> Service {
    Service {
        id: id.into(),
        name: name.into(),
        app_id: APP_ID.into(),
        provider_id: provider.into(),
        profile: "home".into(),
        key: "key-of-home".into(),
        status: if connected {
            "Connected"
        } else {
            "Disconnected"
        }
        .into(),
        enabled: true,
        server: "vpn.example.com".into(),
        ..Service::default()
    }
}

/// `version` of the app installed and running, its extension active under
/// `service_name`, the configuration "Demo VPN" (profile "home") saved,
/// alice at the console.
pub fn installed(version: &str, service_name: &str, tunnel_up: bool) -> SimMac {
    let sim = SimMac::new(Mac {
        provider_id: PROVIDER.into(),
        ..Mac::default()
    });
    sim.put_app(&pkg().app, Some(version), Some(service_name));
    let executable = sim.app_executable().display().to_string();
    sim.update(|mac| {
        mac.console = alice();
        mac.extension = Some(Extension {
            version: version.into(),
            service_name: service_name.into(),
            team_id: TEAM.into(),
        });
        mac.ingested.push(version.into());
        mac.app_profiles.insert("home".into(), "key-of-home".into());
        // The engine runs behind a connected session.
        mac.engine = tunnel_up.then(|| "home".into());
        mac.add_service(service(
            "1A2B3C4D-0000-4000-8000-000000000001",
            "Demo VPN",
            PROVIDER,
            tunnel_up,
        ));
        mac.running_apps.push(running_app(executable, 4242));
    });
    sim
}

pub fn alice() -> Option<ConsoleUser> {
    Some(ConsoleUser {
        name: "alice".into(),
        uid: 501,
    })
}

pub fn running_app(executable: String, pid: u32) -> RunningApp {
    RunningApp {
        pid,
        bundle_id: APP_ID.into(),
        executable,
        args: Vec::new(),
        ignores_term: false,
    }
}
