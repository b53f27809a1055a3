//! The system extension's executable. On Linux it is a service process
//! (`service.rs`); on macOS it is started by the system as a network
//! extension hosting our packet tunnel provider (`platform::macos`).

#[cfg(target_os = "linux")]
mod service;

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    service::main()
}

#[cfg(target_os = "macos")]
fn main() -> std::process::ExitCode {
    // `--version` answers as clap does on Linux and exits before the
    // provider starts (which never returns): the release smoke job runs it
    // to see dyld load the executable. Any other argument is left alone, in
    // case the system ever passes one.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "--version")
    {
        println!("vpn-extension {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    vpn_extension::platform::macos::run_extension()
}
