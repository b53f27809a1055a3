//! The notarization ticket stapled to a flat package: after the xar come a
//! terminator record, the ticket, and a ticket record. Each record is 16
//! bytes, little-endian: `t8lr`, a version (1), a type (1 terminator, 2
//! ticket), the ticket's length, and 4 unused bytes (apple-codesign's
//! `XarNotarizationTrailer`, which writes them). Stapling appends one;
//! stapling again replaces it.
//!
//! Read as untrusted input: a file may end in anything, including records
//! whose lengths point before its start.

use std::io::{self, Read, Seek, SeekFrom};

/// The size of each record.
pub const RECORD_LEN: u64 = 16;
const MAGIC: &[u8; 4] = b"t8lr";
const TERMINATOR: u16 = 1;
const TICKET: u16 = 2;

fn record_at<R: Read + Seek>(reader: &mut R, offset: u64) -> io::Result<(u16, u64)> {
    let mut record = [0u8; RECORD_LEN as usize];
    reader.seek(SeekFrom::Start(offset))?;
    reader.read_exact(&mut record)?;
    if &record[..4] != MAGIC {
        return Ok((0, 0));
    }
    let kind = u16::from_le_bytes([record[6], record[7]]);
    let length = u64::from(u32::from_le_bytes([
        record[8], record[9], record[10], record[11],
    ]));
    Ok((kind, length))
}

/// The ticket trailer that ends the file at `end`, if one does: where it
/// starts, and where its ticket starts.
fn trailer_ending_at<R: Read + Seek>(reader: &mut R, end: u64) -> io::Result<Option<(u64, u64)>> {
    if end < 2 * RECORD_LEN {
        return Ok(None);
    }
    let (kind, length) = record_at(reader, end - RECORD_LEN)?;
    if kind != TICKET {
        return Ok(None);
    }
    let Some(start) = end.checked_sub(2 * RECORD_LEN + length) else {
        return Ok(None);
    };
    let (kind, _) = record_at(reader, start)?;
    Ok((kind == TERMINATOR).then_some((start, start + RECORD_LEN)))
}

fn length_of<R: Seek>(reader: &mut R) -> io::Result<u64> {
    reader.seek(SeekFrom::End(0))
}

/// Where the xar ends: the start of the ticket trailers that end the file,
/// or its length when none does.
pub fn xar_end<R: Read + Seek>(reader: &mut R) -> io::Result<u64> {
    let mut end = length_of(reader)?;
    while let Some((start, _)) = trailer_ending_at(reader, end)? {
        end = start;
    }
    Ok(end)
}

/// The ticket of the last trailer, if the file ends in one.
pub fn last_ticket<R: Read + Seek>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let len = length_of(reader)?;
    let Some((_, ticket_start)) = trailer_ending_at(reader, len)? else {
        return Ok(None);
    };
    let mut ticket = vec![0u8; (len - RECORD_LEN - ticket_start) as usize];
    reader.seek(SeekFrom::Start(ticket_start))?;
    reader.read_exact(&mut ticket)?;
    Ok(Some(ticket))
}

/// The trailer that staples `ticket` (what apple-codesign's
/// `xar_notarization_trailer` writes).
pub fn trailer(ticket: &[u8]) -> Vec<u8> {
    let record = |kind: u16, length: u32| {
        let mut record = Vec::with_capacity(RECORD_LEN as usize);
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&1u16.to_le_bytes());
        record.extend_from_slice(&kind.to_le_bytes());
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record
    };
    let length = u32::try_from(ticket.len()).expect("a ticket is a few KB");
    let mut bytes = record(TERMINATOR, 0);
    bytes.extend_from_slice(ticket);
    bytes.extend(record(TICKET, length));
    bytes
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn trailers_are_found_from_the_end_and_garbage_is_not_one() {
        let xar = b"xar!....the archive".to_vec();
        let mut stapled = xar.clone();
        stapled.extend(trailer(b"first"));
        stapled.extend(trailer(b"second ticket"));
        let mut reader = Cursor::new(&stapled);
        assert_eq!(xar_end(&mut reader).unwrap(), xar.len() as u64);
        assert_eq!(last_ticket(&mut reader).unwrap().unwrap(), b"second ticket");
        assert_eq!(xar_end(&mut Cursor::new(&xar)).unwrap(), xar.len() as u64);
        assert_eq!(last_ticket(&mut Cursor::new(&xar)).unwrap(), None);
        // A ticket record whose length points before the file's start.
        let mut lying = xar.clone();
        let mut record = trailer(b"x")[RECORD_LEN as usize + 1..].to_vec();
        record[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        lying.extend(&record);
        assert_eq!(
            xar_end(&mut Cursor::new(&lying)).unwrap(),
            lying.len() as u64
        );
    }
}
