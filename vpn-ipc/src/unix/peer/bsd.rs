//! The peer's uid on macOS and the BSDs: `getpeereid`, from the kernel's
//! record of the connecting process.

use std::os::unix::net::UnixStream;

pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let (uid, _) = nix::unistd::getpeereid(stream).map_err(std::io::Error::from)?;
    Ok(uid.as_raw())
}
