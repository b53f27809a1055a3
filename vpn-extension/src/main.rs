//! The system extension's executable. On Linux it is a service process
//! (`service.rs`); on macOS it is started by the system as a network
//! extension, which is the macOS platform layer's work (not built yet).

#[cfg(target_os = "linux")]
mod service;

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    service::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("vpn-extension: on macOS this runs as a system extension, started by the system");
    std::process::ExitCode::from(2)
}
