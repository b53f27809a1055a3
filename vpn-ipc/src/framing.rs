//! Frames on a byte stream: a 4-byte big-endian length, then that many bytes
//! of JSON. The decoder is a pure state machine (bytes in, frames out) so the
//! same code serves every transport and is fuzzed directly.
//!
//! A frame announcing more than [`MAX_FRAME_LEN`] is refused as soon as its
//! header arrives, before any of it is buffered: a hostile or broken peer can
//! cost at most one frame of memory, and only its own connection is closed.

/// The largest frame either side sends or accepts. The largest message is a
/// tunnel configuration, a few kilobytes.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
const HEADER_LEN: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes is over the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    #[error("the peer closed the connection in the middle of a frame")]
    Truncated,
}

/// Prefixes `payload` with its length.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// Reassembles frames from bytes as they arrive, in any split.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// Takes `bytes` and returns every frame they complete. After an error
    /// the connection is beyond repair and must be closed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let wanted = match self.announced_len()? {
                Some(len) => HEADER_LEN + len,
                None => HEADER_LEN,
            };
            let take = (wanted - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if let Some(len) = self.announced_len()? {
                if self.buffer.len() == HEADER_LEN + len {
                    frames.push(self.buffer.split_off(HEADER_LEN));
                    self.buffer.clear();
                }
            }
        }
        Ok(frames)
    }

    /// Call when the peer closed its side: an unfinished frame is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }

    /// Bytes held for an unfinished frame (never more than one frame).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn announced_len(&self) -> Result<Option<usize>, FrameError> {
        if self.buffer.len() < HEADER_LEN {
            return Ok(None);
        }
        let len =
            u32::from_be_bytes(self.buffer[..HEADER_LEN].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_every_split() {
        let mut stream = Vec::new();
        let payloads: Vec<Vec<u8>> = vec![
            b"{}".to_vec(),
            Vec::new(),
            vec![b'x'; 1000],
            b"last".to_vec(),
        ];
        for payload in &payloads {
            stream.extend(encode_frame(payload).unwrap());
        }
        for chunk in [1, 2, 3, 5, 7, 64, stream.len()] {
            let mut decoder = FrameDecoder::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                got.extend(decoder.feed(piece).unwrap());
            }
            assert_eq!(got, payloads, "chunks of {chunk}");
            decoder.finish().unwrap();
        }
    }

    #[test]
    fn oversized_frame_is_refused_at_its_header() {
        let mut decoder = FrameDecoder::default();
        let header = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        assert_eq!(
            decoder.feed(&header),
            Err(FrameError::TooLarge(MAX_FRAME_LEN + 1))
        );
        assert!(
            decoder.buffered() <= HEADER_LEN,
            "nothing of the body is buffered"
        );
        assert_eq!(
            encode_frame(&vec![0; MAX_FRAME_LEN + 1]),
            Err(FrameError::TooLarge(MAX_FRAME_LEN + 1))
        );
        assert!(encode_frame(&vec![0; MAX_FRAME_LEN]).is_ok());
    }

    #[test]
    fn a_peer_stopping_mid_frame_is_reported() {
        let mut decoder = FrameDecoder::default();
        let frame = encode_frame(b"hello").unwrap();
        assert!(decoder.feed(&frame[..6]).unwrap().is_empty());
        assert_eq!(decoder.finish(), Err(FrameError::Truncated));
        assert_eq!(decoder.buffered(), 6);
    }

    #[test]
    fn memory_stays_bounded_by_one_frame() {
        // A peer streaming many full frames never makes the decoder hold
        // more than one frame.
        let frame = encode_frame(&vec![1; MAX_FRAME_LEN]).unwrap();
        let mut decoder = FrameDecoder::default();
        for _ in 0..8 {
            for piece in frame.chunks(4096) {
                decoder.feed(piece).unwrap();
                assert!(decoder.buffered() <= HEADER_LEN + MAX_FRAME_LEN);
            }
        }
        decoder.finish().unwrap();
    }
}
