//! The peer's uid on Linux: `SO_PEERCRED`, set by the kernel at connect().

use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let credentials = getsockopt(stream, PeerCredentials).map_err(std::io::Error::from)?;
    Ok(credentials.uid())
}
