//! The 4-byte header a macOS utun device puts before every packet: the
//! address family, big-endian, with Darwin's numbering (AF_INET6 is 30
//! there, not Linux's 10, so libc's constants of the build host won't do).

/// Bytes before each packet on a utun fd.
pub const UTUN_HEADER_LEN: usize = 4;

const DARWIN_AF_INET: u32 = 2;
const DARWIN_AF_INET6: u32 = 30;

/// The header for an IP packet, by its version nibble; `None` for anything
/// that is not IPv4 or IPv6 (it is dropped, as the kernel would).
pub fn header_for(packet: &[u8]) -> Option<[u8; UTUN_HEADER_LEN]> {
    match packet.first()? >> 4 {
        4 => Some(DARWIN_AF_INET.to_be_bytes()),
        6 => Some(DARWIN_AF_INET6.to_be_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_follows_the_ip_version() {
        assert_eq!(header_for(&[0x45, 0, 0, 20]), Some([0, 0, 0, 2]));
        assert_eq!(header_for(&[0x60, 0, 0, 0]), Some([0, 0, 0, 30]));
        assert_eq!(header_for(&[0x00]), None);
        assert_eq!(header_for(&[]), None);
    }
}
