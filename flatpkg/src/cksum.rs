//! POSIX `cksum` CRC, the checksum a BOM records for every file and symlink.

use crc::{Crc, Digest, Table, CRC_32_CKSUM};

/// Slice-by-16 tables: every payload byte passes through here, and the
/// one-table default is several times slower.
const CKSUM: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_CKSUM);

/// Streaming POSIX `cksum`: CRC-32 (poly 0x04C11DB7, not reflected) over the
/// data followed by its length in as few little-endian bytes as it needs.
pub struct PosixCksum {
    digest: Digest<'static, u32, Table<16>>,
    length: u64,
}

impl Default for PosixCksum {
    fn default() -> Self {
        Self {
            digest: CKSUM.digest(),
            length: 0,
        }
    }
}

impl PosixCksum {
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
        self.length += data.len() as u64;
    }

    pub fn finish(mut self) -> u32 {
        let mut length = self.length;
        while length != 0 {
            self.digest.update(&[(length & 0xff) as u8]);
            length >>= 8;
        }
        self.digest.finalize()
    }

    pub fn of(data: &[u8]) -> u32 {
        let mut c = Self::default();
        c.update(data);
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coreutils_cksum() {
        // `printf 'readme.txt' | cksum` and `printf '' | cksum` on Debian.
        assert_eq!(PosixCksum::of(b"readme.txt"), 3131464386);
        assert_eq!(PosixCksum::of(b""), 4294967295);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data = b"hello world, in several pieces";
        let mut c = PosixCksum::default();
        for chunk in data.chunks(7) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), PosixCksum::of(data));
    }
}
