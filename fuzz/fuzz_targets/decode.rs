//! Everything a peer can send before the service sees a request: bytes in
//! any split, through the frame decoder, the message decoder and the session
//! rules. Nothing here may panic, the decoder never holds more than one
//! frame, and whatever the bytes the session rules hold (session.rs):
//! nothing reaches the service before a `Hello` was welcomed, `Hello` itself
//! never does, while the extension is quiesced only `Status`, `Stats`,
//! `Logs`, `Quiesce` and `Resume` do (no `Start`, `Stop` or `SetConfig`),
//! and from a caller who may not change the tunnel nothing that changes it
//! does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpn_ipc::{
    caller::{change_named, Caller},
    framing::{FrameDecoder, MAX_FRAME_LEN},
    message::{Request, Response},
    negotiation::SUPPORTED,
    session::{Dispatch, ExtensionInfo, ServerSession},
};

fuzz_target!(|data: &[u8]| {
    let info = ExtensionInfo {
        protocols: SUPPORTED,
        version: "1.0.0".into(),
        build: "1.0.0".into(),
    };
    // The first byte picks how the rest is split into reads, and whether the
    // extension starts quiesced.
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut decoder = FrameDecoder::default();
    let mut session = ServerSession::default();
    // The extension-wide flag, kept as the transport keeps it: served
    // `Quiesce` sets it, served `Resume` clears it.
    let mut quiesced = split % 2 == 0;
    // And whether the caller may change the tunnel.
    let caller = Caller::new(1000, None, split & 2 == 0);
    // Whether this connection was welcomed, from what was sent back.
    let mut welcomed = false;
    for piece in bytes.chunks(chunk) {
        let Ok(frames) = decoder.feed(piece) else {
            return;
        };
        assert!(decoder.buffered() <= 4 + MAX_FRAME_LEN);
        for frame in frames {
            match session.on_frame(&frame, &info, quiesced, caller) {
                Dispatch::Reply(reply) => {
                    if let Response::Welcome { protocol, .. } = reply.response {
                        assert!(
                            (SUPPORTED.min..=SUPPORTED.max).contains(&protocol),
                            "welcomed with protocol {protocol}, outside {SUPPORTED:?}"
                        );
                        welcomed = true;
                    }
                }
                // Closed after this reply: nothing more is read.
                Dispatch::ReplyAndClose(reply) => {
                    assert!(
                        matches!(reply.response, Response::Error { .. }),
                        "closed after a non-error reply {reply:?}"
                    );
                    return;
                }
                Dispatch::Serve { request, .. } => {
                    assert!(welcomed, "{request:?} served before Hello was welcomed");
                    assert!(
                        caller.may_change_the_tunnel || change_named(&request).is_none(),
                        "{request:?} served to a caller who may only read"
                    );
                    match request {
                        Request::Hello { .. } => panic!("Hello reached the service"),
                        Request::Quiesce => quiesced = true,
                        Request::Resume => quiesced = false,
                        Request::Status
                        | Request::Stats
                        | Request::Logs { .. }
                        | Request::Profiles => {}
                        other => assert!(!quiesced, "{other:?} served while quiesced"),
                    }
                }
            }
            assert_eq!(
                session.protocol().is_some(),
                welcomed,
                "the session's protocol is settled exactly when Welcome was sent"
            );
        }
    }
    let _ = decoder.finish();
});
