//! The trailers at the end of a pkg, on any bytes: no panic, the xar ends
//! inside the file, a ticket read fits in it, and stapling a ticket to
//! what is left reads back that ticket and leaves the xar where it was.
#![no_main]

use std::io::Cursor;

use flatpkg::notarization_trailer::{last_ticket, trailer, xar_end, RECORD_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let end = xar_end(&mut Cursor::new(data)).unwrap();
    assert!(end <= data.len() as u64);
    if let Some(ticket) = last_ticket(&mut Cursor::new(data)).unwrap() {
        assert!(ticket.len() as u64 + 2 * RECORD_LEN <= data.len() as u64);
        assert!(end < data.len() as u64, "a ticket, yet no trailer");
    }
    let mut stapled = data[..end as usize].to_vec();
    let ticket = &data[..data.len().min(64)];
    stapled.extend(trailer(ticket));
    assert_eq!(
        last_ticket(&mut Cursor::new(&stapled)).unwrap().as_deref(),
        Some(ticket)
    );
    assert_eq!(xar_end(&mut Cursor::new(&stapled)).unwrap(), end);
});
