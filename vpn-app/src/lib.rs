//! The host app as a library: the command line (`main.rs`) runs over it,
//! and the simulated macOS under `tests/` drives its upgrade commands with
//! a platform of its own, and its uninstall.

pub mod channel;
pub mod cli;
#[cfg(target_os = "linux")]
pub mod extension_process;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod menu_bar;
pub mod report;
pub mod system_extension;
pub mod uninstall;
pub mod update;
pub mod upgrade;

/// This app's version and build (one number, the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
