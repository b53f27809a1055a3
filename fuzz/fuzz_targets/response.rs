//! What the app makes of any bytes the extension answers: no panic, a
//! decoded reply re-encodes to itself (unknown codes become `Other` once,
//! then stay), and reading a reply to `Hello` always gives an outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpn_ipc::{framing::MAX_FRAME_LEN, message::ResponseEnvelope, session::handshake_outcome};

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = ResponseEnvelope::from_json(data) else {
        return;
    };
    let again = ResponseEnvelope::from_json(&reply.to_json()).expect("our own encoding decodes");
    assert_eq!(again, reply, "a reply changed on a round trip");
    let _ = handshake_outcome(&reply.response, "1.0.0");
    let framed = reply.to_json_within_frame();
    assert!(framed.len() <= MAX_FRAME_LEN);
    assert_eq!(ResponseEnvelope::from_json(&framed).unwrap().id, reply.id);
});
