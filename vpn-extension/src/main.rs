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
    vpn_extension::platform::macos::run_extension()
}
