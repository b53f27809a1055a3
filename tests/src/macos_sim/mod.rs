//! A simulated macOS for the upgrade (DESIGN.md, "Testing without a Mac"):
//! the pkg scripts that build-pkg really wrote run against fake `scutil`,
//! `launchctl`, `sudo`, `spctl`, `stat`, `open`, `logger`,
//! `pgrep`, `pkill`, `defaults` and `dscl` on PATH; the app they launch is the real
//! `vpn-app` upgrade logic over a model of the extension lifecycle. All of
//! it shares one state file, which records every call.
//!
//! One binary (`macos-sim`) plays every part, chosen by the name it is run
//! under: a tool's name, or the app's executable name inside a bundle.

pub mod app;
pub mod harness;
pub mod model;
pub mod scenario;
pub mod store;
pub mod tools;

use std::{path::PathBuf, process::ExitCode};

/// The entry point of `macos-sim`, whatever it is called as.
pub fn run_as_invoked() -> ExitCode {
    let mut args = std::env::args();
    let invoked = PathBuf::from(args.next().unwrap_or_default());
    let args: Vec<String> = args.collect();
    let name = invoked
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if tools::TOOLS.contains(&name.as_str()) {
        tools::main(&name, args)
    } else if invoked
        .parent()
        .is_some_and(|p| p.ends_with("Contents/MacOS"))
    {
        app::main(invoked, args)
    } else {
        eprintln!("macos-sim plays a macOS tool or an app; run it under one of their names");
        ExitCode::from(2)
    }
}
