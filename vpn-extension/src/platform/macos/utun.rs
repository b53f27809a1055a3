//! The utun device NetworkExtension opens for the provider once network
//! settings are applied. Its fd is found the way wireguard-apple and
//! Firezone find it: the socket in this process whose peer is the utun
//! kernel control (`com.apple.net.utun_control`, resolved by CTLIOCGINFO).
//! Packets on it carry a 4-byte address-family header
//! ([`crate::platform::utun_header`]).

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
};

use tokio::io::unix::AsyncFd;

use crate::{
    engine::{Tun, TUN_HEADROOM},
    platform::utun_header::{header_for, UTUN_HEADER_LEN},
};

/// The highest fd looked at: NetworkExtension opens the utun early, so
/// its fd is small.
const FD_SEARCH_LIMIT: RawFd = 1024;

/// The utun fd of this process, if NetworkExtension has opened one.
pub fn find_utun_fd() -> Option<RawFd> {
    // SAFETY: plain C structs, zeroed is their empty value.
    let mut info: libc::ctl_info = unsafe { std::mem::zeroed() };
    for (dst, src) in info.ctl_name.iter_mut().zip(b"com.apple.net.utun_control") {
        *dst = *src as libc::c_char;
    }
    for fd in 0..FD_SEARCH_LIMIT {
        // SAFETY: as above.
        let mut address: libc::sockaddr_ctl = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ctl>() as libc::socklen_t;
        // SAFETY: `address` is large enough for `len` bytes.
        let named = unsafe {
            libc::getpeername(
                fd,
                (&mut address as *mut libc::sockaddr_ctl).cast(),
                &mut len,
            )
        } == 0;
        if !named || i32::from(address.sc_family) != libc::AF_SYSTEM {
            continue;
        }
        // SAFETY: CTLIOCGINFO fills `info` for the control named in it.
        if info.ctl_id == 0 && unsafe { libc::ioctl(fd, libc::CTLIOCGINFO, &mut info) } != 0 {
            continue;
        }
        if address.sc_id == info.ctl_id {
            return Some(fd);
        }
    }
    None
}

/// The fd belongs to NetworkExtension: it is used, never closed.
struct ProviderFd(RawFd);

impl AsRawFd for ProviderFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub struct UtunTun {
    fd: AsyncFd<ProviderFd>,
}

impl UtunTun {
    /// Wraps the provider's utun fd; call inside the engine's runtime.
    pub fn new(fd: RawFd) -> io::Result<Self> {
        // SAFETY: fcntl on an fd we were handed; flags are read first.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: NetworkExtension keeps the utun fd open while the tunnel
        // runs, and the engine (which owns this) stops before it closes.
        let fd = unsafe { AsyncFd::register(ProviderFd(fd)) }?;
        Ok(Self { fd })
    }
}

impl Tun for UtunTun {
    async fn recv(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut header = [0u8; UTUN_HEADER_LEN];
            let buf = &mut bufs[0];
            let read = guard.try_io(|fd| {
                let iov = [
                    libc::iovec {
                        iov_base: header.as_mut_ptr().cast(),
                        iov_len: header.len(),
                    },
                    libc::iovec {
                        iov_base: buf.as_mut_ptr().cast(),
                        iov_len: buf.len(),
                    },
                ];
                // SAFETY: both buffers outlive the call and match their lengths.
                let n = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) if n > UTUN_HEADER_LEN => {
                    sizes[0] = n - UTUN_HEADER_LEN;
                    return Ok(1);
                }
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    async fn send(&self, packets: &mut [Vec<u8>]) -> io::Result<()> {
        for packet in packets.iter_mut() {
            let Some(header) = header_for(&packet[TUN_HEADROOM..]) else {
                continue;
            };
            // The header goes into the headroom: one contiguous write.
            let start = TUN_HEADROOM - UTUN_HEADER_LEN;
            packet[start..TUN_HEADROOM].copy_from_slice(&header);
            let frame = &packet[start..];
            loop {
                let mut guard = self.fd.writable().await?;
                let written = guard.try_io(|fd| {
                    // SAFETY: `frame` is a live slice of its length.
                    let n =
                        unsafe { libc::write(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                });
                match written {
                    Ok(result) => {
                        result?;
                        break;
                    }
                    Err(_would_block) => continue,
                }
            }
        }
        Ok(())
    }
}
