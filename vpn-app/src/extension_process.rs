//! Starting and stopping the extension on Linux, where nothing else does it
//! for us (on macOS the system runs the network extension, and activation
//! goes through `OSSystemExtensionRequest`). With systemd and our unit
//! installed, systemd runs it; otherwise, as root, the app starts it as a
//! detached child service process.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

pub const UNIT: &str = "vpn-extension.service";
const START_LIMIT: Duration = Duration::from_secs(10);

/// How the extension came to be running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    AlreadyRunning,
    BySystemd,
    AsChild,
}

/// How the extension came to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    WasNotRunning,
    BySystemd,
    /// SIGTERM to the process that serves the socket.
    Terminated {
        pid: i32,
    },
}

fn listening(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

fn wait_for(socket: &Path, how: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    while !listening(socket) {
        if start.elapsed() > START_LIMIT {
            bail!(
                "started the extension {how}, but it did not listen on {} within {START_LIMIT:?}",
                socket.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn systemd_has_unit() -> bool {
    Command::new("systemctl")
        .args(["cat", UNIT])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `systemctl VERB` on our unit.
fn systemctl(verb: &str) -> anyhow::Result<()> {
    let status = Command::new("systemctl")
        .args([verb, UNIT])
        .status()
        .context("cannot run systemctl")?;
    if !status.success() {
        bail!("`systemctl {verb} {UNIT}` failed ({status}); see `journalctl -u {UNIT}`");
    }
    Ok(())
}

/// The extension binary: `VPN_EXTENSION_BIN`, else next to this program.
pub fn extension_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("VPN_EXTENSION_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().context("cannot locate this program")?;
    Ok(me.with_file_name("vpn-extension"))
}

/// Makes sure an extension listens on `socket`, starting one if needed.
pub fn ensure_running(socket: &Path) -> anyhow::Result<Started> {
    if listening(socket) {
        return Ok(Started::AlreadyRunning);
    }
    if systemd_has_unit() {
        systemctl("start")?;
        wait_for(socket, "with systemd")?;
        return Ok(Started::BySystemd);
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the extension is not running (no one listens on {}) and only root can start it: \
             run this as root, or start `vpn-extension serve` as root, or install {UNIT}",
            socket.display()
        );
    }
    let binary = extension_binary()?;
    let directory = socket.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let log_path = directory.join("vpn-extension.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    Command::new(&binary)
        .arg("serve")
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for this command must not
        // take the VPN down with it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    wait_for(socket, &format!("({})", binary.display()))?;
    Ok(Started::AsChild)
}

/// Stops the extension (the caller has already brought the tunnel down):
/// through systemd when it runs it, else SIGTERM to the process serving the
/// socket, whose pid the kernel recorded when we connected.
pub fn stop(socket: &Path) -> anyhow::Result<Stopped> {
    use nix::{
        sys::{
            signal::{kill, Signal},
            socket::{getsockopt, sockopt::PeerCredentials},
        },
        unistd::Pid,
    };

    let Ok(stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return Ok(Stopped::WasNotRunning);
    };
    if systemd_has_unit() {
        systemctl("stop")?;
        return Ok(Stopped::BySystemd);
    }
    let pid = getsockopt(&stream, PeerCredentials)
        .context("cannot learn which process serves the socket")?
        .pid();
    drop(stream);
    kill(Pid::from_raw(pid), Signal::SIGTERM)
        .with_context(|| format!("cannot stop the extension (pid {pid}); are you root?"))?;
    let start = Instant::now();
    while is_running(Pid::from_raw(pid)) {
        if start.elapsed() > START_LIMIT {
            bail!("the extension (pid {pid}) did not exit within {START_LIMIT:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Stopped::Terminated { pid })
}

/// Whether `pid` still runs. Our own child (this process started the
/// extension moments ago, as `upgrade finish --policy always` does) is reaped
/// here, or it would linger as a zombie that signal 0 still finds.
fn is_running(pid: nix::unistd::Pid) -> bool {
    use nix::{
        errno::Errno,
        sys::wait::{waitpid, WaitPidFlag, WaitStatus},
    };
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => true,
        Ok(_) => false,
        // Not our child: signal 0 only asks whether it exists.
        Err(Errno::ECHILD) => nix::sys::signal::kill(pid, None).is_ok(),
        Err(_) => false,
    }
}
