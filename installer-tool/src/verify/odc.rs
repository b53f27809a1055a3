//! The portable (odc) cpio archives inside a pkg's Payload and Scripts, read
//! entry by entry from any stream, with every size bounded. Written here
//! because cpio-archive's reader takes only a `'static` stream (a pkg's
//! payload is a slice of the archive being read) and reserves whatever
//! name size a header claims.

use std::io::Read;

/// One entry's header (POSIX.1 `c_*` fields, octal).
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

/// `S_IFMT` and `S_IFREG` of `mode`.
pub fn is_regular_file(mode: u32) -> bool {
    mode & 0o170000 == 0o100000
}

/// `S_IFMT` and `S_IFLNK` of `mode`.
pub fn is_symlink(mode: u32) -> bool {
    mode & 0o170000 == 0o120000
}

pub struct OdcReader<R> {
    input: R,
    /// Bytes of the current entry's data not read yet.
    left: u64,
}

impl<R: Read> OdcReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, left: 0 }
    }

    /// The next entry's header, skipping what is left of the current
    /// entry's data; `None` after the trailer.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, String> {
        std::io::copy(
            &mut self.input.by_ref().take(self.left),
            &mut std::io::sink(),
        )
        .map_err(|e| format!("cannot read the archive: {e}"))?;
        self.left = 0;
        let mut header = [0u8; 76];
        self.input
            .read_exact(&mut header)
            .map_err(|_| "the archive ends before its trailer".to_string())?;
        if &header[..6] != b"070707" {
            return Err("not a portable (odc) cpio archive".into());
        }
        let mode = octal(&header[18..24])? as u32;
        let uid = octal(&header[24..30])? as u32;
        let gid = octal(&header[30..36])? as u32;
        let name_size = octal(&header[59..65])?;
        let size = octal(&header[65..76])?;
        // Six octal digits: at most 262,143 bytes, read as they come.
        let mut name = Vec::new();
        self.input
            .by_ref()
            .take(name_size)
            .read_to_end(&mut name)
            .map_err(|e| format!("cannot read an entry's name: {e}"))?;
        if name.len() as u64 != name_size || name.pop() != Some(0) {
            return Err("an entry's name is cut short".into());
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        if name == "TRAILER!!!" {
            return Ok(None);
        }
        self.left = size;
        Ok(Some(Entry {
            name,
            mode,
            uid,
            gid,
            size,
        }))
    }

    /// The current entry's data, up to `limit` bytes (`None` when larger).
    pub fn data(&mut self, limit: u64) -> Result<Option<Vec<u8>>, String> {
        if self.left > limit {
            return Ok(None);
        }
        let mut data = Vec::new();
        self.input
            .by_ref()
            .take(self.left)
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read an entry: {e}"))?;
        if data.len() as u64 != self.left {
            return Err("an entry's data is cut short".into());
        }
        self.left = 0;
        Ok(Some(data))
    }
}

fn octal(field: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 8).ok())
        .ok_or_else(|| format!("`{}` is not an octal field", String::from_utf8_lossy(field)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let mut bytes = format!(
            "070707{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:011o}{:06o}{:011o}",
            0,
            1,
            mode,
            0,
            80,
            1,
            0,
            0,
            name.len() + 1,
            data.len()
        )
        .into_bytes();
        bytes.extend(name.as_bytes());
        bytes.push(0);
        bytes.extend(data);
        bytes
    }

    #[test]
    fn entries_are_read_and_skipped_within_bounds() {
        let mut archive = entry("./Applications", 0o40755, b"");
        archive.extend(entry("./a.txt", 0o100644, b"hello"));
        archive.extend(entry("./big", 0o100755, &[7u8; 100]));
        archive.extend(entry("TRAILER!!!", 0, b""));
        let mut reader = OdcReader::new(archive.as_slice());
        let first = reader.next_entry().unwrap().unwrap();
        assert_eq!(
            (first.name.as_str(), is_regular_file(first.mode)),
            ("./Applications", false)
        );
        let text = reader.next_entry().unwrap().unwrap();
        assert_eq!((text.name.as_str(), text.size), ("./a.txt", 5));
        assert_eq!(reader.data(10).unwrap().unwrap(), b"hello");
        let big = reader.next_entry().unwrap().unwrap();
        assert_eq!(big.mode & 0o777, 0o755);
        assert_eq!(reader.data(10).unwrap(), None, "over the limit: not read");
        assert!(
            reader.next_entry().unwrap().is_none(),
            "skipped to the trailer"
        );

        let cut = &archive[..archive.len() - 30];
        let mut reader = OdcReader::new(cut);
        while let Ok(Some(_)) = reader.next_entry() {}
        assert!(OdcReader::new(&b"070701 newc"[..]).next_entry().is_err());
    }
}
