//! Everything a peer can send before the service sees a request: bytes in
//! any split, through the frame decoder, the message decoder and the session
//! rules. Nothing here may panic, and the decoder never holds more than one
//! frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpn_ipc::{
    framing::{FrameDecoder, MAX_FRAME_LEN},
    negotiation::SUPPORTED,
    session::{ExtensionInfo, ServerSession},
};

fuzz_target!(|data: &[u8]| {
    let info = ExtensionInfo {
        protocols: SUPPORTED,
        version: "1.0.0".into(),
        build: "1.0.0".into(),
    };
    // The first byte picks how the rest is split into reads.
    let Some((&split, bytes)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut decoder = FrameDecoder::default();
    let mut session = ServerSession::default();
    for piece in bytes.chunks(chunk) {
        let Ok(frames) = decoder.feed(piece) else { return };
        assert!(decoder.buffered() <= 4 + MAX_FRAME_LEN);
        for frame in frames {
            let _ = session.on_frame(&frame, &info, split % 2 == 0);
        }
    }
    let _ = decoder.finish();
});
