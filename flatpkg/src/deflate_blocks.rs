//! Where the final block of a raw DEFLATE stream (RFC 1951) starts and
//! ends, so that a whole stream can be made the middle piece of a longer one.
//!
//! libdeflate compresses about twice as fast as zlib at the same ratio, but
//! only whole streams: the last block is marked final and there is no flush.
//! pigz joins its pieces because zlib can end one with an empty stored block
//! (`Z_SYNC_FLUSH`) instead. To do the same with libdeflate's pieces, the
//! final block's BFINAL bit is cleared and that empty stored block appended,
//! which needs the bit where the final block starts and the bit where it
//! ends. zlib's inflate reports them under `Z_BLOCK` (gzappend relies on it),
//! but no Rust binding exposes that, so this walks the stream's Huffman codes
//! without producing any output: a fraction of an inflate's cost.

/// Why a stream could not be walked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    #[error("the deflate stream ends before its final block does")]
    Truncated,
    #[error("invalid deflate stream: {0}")]
    Invalid(&'static str),
    #[error("{0} bytes follow the deflate stream's final block")]
    TrailingBytes(usize),
}

/// The final block's first bit and the bit after its end-of-block code,
/// counted from the stream's first byte, least significant bit first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalBlock {
    pub start_bit: u64,
    pub end_bit: u64,
}

/// Walks `stream` block by block to its final one. Bytes after the final
/// block are an error: the piece must be exactly one stream.
pub fn final_block(stream: &[u8]) -> Result<FinalBlock, DeflateError> {
    let mut bits = Bits::new(stream);
    loop {
        let start_bit = bits.consumed;
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => bits.skip_stored_block()?,
            1 => {
                let (litlen, distance) = fixed_codes();
                walk_codes(&mut bits, &litlen, &distance)?;
            }
            2 => {
                let (litlen, distance) = dynamic_codes(&mut bits)?;
                walk_codes(&mut bits, &litlen, &distance)?;
            }
            _ => return Err(DeflateError::Invalid("reserved block type 3")),
        }
        if last {
            let end_bit = bits.consumed;
            let trailing = stream.len() - end_bit.div_ceil(8) as usize;
            return if trailing == 0 {
                Ok(FinalBlock { start_bit, end_bit })
            } else {
                Err(DeflateError::TrailingBytes(trailing))
            };
        }
    }
}

/// Turns a whole stream into a piece another stream may follow: its final
/// block is no longer final, and it ends with an empty stored block whose
/// LEN and NLEN (`00 00 FF FF`) sit at a byte boundary, exactly what zlib's
/// `Z_SYNC_FLUSH` writes.
pub fn into_continuable(mut stream: Vec<u8>) -> Result<Vec<u8>, DeflateError> {
    let block = final_block(&stream)?;
    let start = block.start_bit as usize;
    stream[start / 8] &= !(1 << (start % 8));
    // The stored block's three header bits (BFINAL 0, BTYPE 00) are zeros
    // right after the end-of-block code, then zeros to the byte boundary.
    let end = block.end_bit as usize;
    if !end.is_multiple_of(8) {
        stream[end / 8] &= (1u8 << (end % 8)) - 1;
    }
    stream.resize((end + 3).div_ceil(8), 0);
    stream.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    Ok(stream)
}

/// Extra bits after each length symbol (257..=285) and distance symbol.
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code-length code lengths are sent in (RFC 1951, 3.2.7).
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
const END_OF_BLOCK: u16 = 256;

/// Least-significant-bit-first reader over the stream, counting what it
/// consumed.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte not yet in `buffer`.
    next: usize,
    buffer: u64,
    /// How many low bits of `buffer` are the stream's next bits. Bits above
    /// them are either zero or the stream's bits after those.
    count: u32,
    consumed: u64,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            next: 0,
            buffer: 0,
            count: 0,
            consumed: 0,
        }
    }

    /// Tops the buffer up to at least 56 bits, or to the stream's end.
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            self.buffer |= word << self.count;
            let bytes = (63 - self.count) / 8;
            self.next += bytes as usize;
            self.count += bytes * 8;
        } else {
            while self.count <= 56 && self.next < self.data.len() {
                self.buffer |= u64::from(self.data[self.next]) << self.count;
                self.next += 1;
                self.count += 8;
            }
        }
    }

    /// The next `n` (at most 32) bits, zeros past the end, without taking them.
    fn peek(&mut self, n: u32) -> u64 {
        if self.count < n {
            self.refill();
        }
        self.buffer & ((1u64 << n) - 1)
    }

    fn consume(&mut self, n: u32) -> Result<(), DeflateError> {
        if n > self.count {
            return Err(DeflateError::Truncated);
        }
        self.buffer >>= n;
        self.count -= n;
        self.consumed += u64::from(n);
        Ok(())
    }

    fn take(&mut self, n: u32) -> Result<u32, DeflateError> {
        let value = self.peek(n);
        self.consume(n)?;
        Ok(value as u32)
    }

    /// Skips a stored block after its three header bits.
    fn skip_stored_block(&mut self) -> Result<(), DeflateError> {
        self.consume(self.count % 8)?;
        let len = self.take(16)?;
        if self.take(16)? != !len & 0xffff {
            return Err(DeflateError::Invalid("stored block length check"));
        }
        let len = len as usize;
        let buffered = (self.count / 8) as usize;
        if len <= buffered {
            return self.consume(len as u32 * 8);
        }
        self.consume(buffered as u32 * 8)?;
        let rest = len - buffered;
        if self.next + rest > self.data.len() {
            return Err(DeflateError::Truncated);
        }
        self.next += rest;
        self.consumed += rest as u64 * 8;
        // Bits above `count` were read ahead from before the skip.
        self.buffer = 0;
        Ok(())
    }
}

/// A canonical Huffman code as a table indexed by the next `bits` bits:
/// each entry is `symbol << 4 | code length`, length 0 for no code.
struct Code {
    table: Vec<u16>,
    bits: u32,
}

impl Code {
    fn new(lengths: &[u8]) -> Result<Self, DeflateError> {
        let bits = u32::from(lengths.iter().copied().max().unwrap_or(0));
        let mut count = [0u32; 16];
        for &length in lengths {
            count[usize::from(length)] += 1;
        }
        count[0] = 0;
        // More codes of a length than the lengths before leave room for.
        let mut left = 1i64;
        for &n in &count[1..] {
            left = 2 * left - i64::from(n);
            if left < 0 {
                return Err(DeflateError::Invalid("over-subscribed Huffman code"));
            }
        }
        let mut next_code = [0u32; 16];
        let mut code = 0;
        for length in 1..16 {
            code = (code + count[length - 1]) << 1;
            next_code[length] = code;
        }
        let size = 1usize << bits;
        let mut table = vec![0u16; size];
        for (symbol, &length) in lengths.iter().enumerate() {
            if length == 0 {
                continue;
            }
            let length = u32::from(length);
            let code = next_code[length as usize];
            next_code[length as usize] += 1;
            // Codes are sent most significant bit first into an LSB-first
            // stream: the table is indexed by the bit-reversed code.
            let reversed = (code.reverse_bits() >> (32 - length)) as usize;
            let entry = ((symbol as u16) << 4) | length as u16;
            for slot in table.iter_mut().skip(reversed).step_by(1 << length) {
                *slot = entry;
            }
        }
        Ok(Self { table, bits })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, DeflateError> {
        let entry = self.table[bits.peek(self.bits) as usize];
        let length = u32::from(entry & 15);
        if length == 0 {
            return Err(DeflateError::Invalid(
                "bit pattern outside the Huffman code",
            ));
        }
        bits.consume(length)?;
        Ok(entry >> 4)
    }
}

fn fixed_codes() -> (Code, Code) {
    let mut litlen = [8u8; 288];
    litlen[144..256].fill(9);
    litlen[256..280].fill(7);
    (
        Code::new(&litlen).expect("the fixed code is complete"),
        Code::new(&[5; 30]).expect("the fixed code is valid"),
    )
}

fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Code, Code), DeflateError> {
    let litlen_count = bits.take(5)? as usize + 257;
    let distance_count = bits.take(5)? as usize + 1;
    let code_length_count = bits.take(4)? as usize + 4;
    if litlen_count > 286 || distance_count > 30 {
        return Err(DeflateError::Invalid("too many length or distance codes"));
    }
    let mut code_lengths = [0u8; 19];
    for &symbol in &CODE_LENGTH_ORDER[..code_length_count] {
        code_lengths[symbol] = bits.take(3)? as u8;
    }
    let code_length_code = Code::new(&code_lengths)?;
    let total = litlen_count + distance_count;
    let mut lengths = vec![0u8; total];
    let mut filled = 0;
    while filled < total {
        let symbol = code_length_code.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                let previous = *filled
                    .checked_sub(1)
                    .and_then(|i| lengths.get(i))
                    .ok_or(DeflateError::Invalid("repeat with no previous length"))?;
                (previous, 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            _ => (0, 11 + bits.take(7)? as usize),
        };
        let run = lengths
            .get_mut(filled..filled + repeat)
            .ok_or(DeflateError::Invalid("code lengths overrun"))?;
        run.fill(value);
        filled += repeat;
    }
    if lengths[usize::from(END_OF_BLOCK)] == 0 {
        return Err(DeflateError::Invalid("no end-of-block code"));
    }
    Ok((
        Code::new(&lengths[..litlen_count])?,
        Code::new(&lengths[litlen_count..])?,
    ))
}

/// Walks one compressed block's symbols to its end-of-block code.
fn walk_codes(bits: &mut Bits<'_>, litlen: &Code, distance: &Code) -> Result<(), DeflateError> {
    loop {
        let symbol = litlen.decode(bits)?;
        if symbol < END_OF_BLOCK {
            continue;
        }
        if symbol == END_OF_BLOCK {
            return Ok(());
        }
        let extra = *LENGTH_EXTRA
            .get(usize::from(symbol - 257))
            .ok_or(DeflateError::Invalid("length symbol out of range"))?;
        bits.take(u32::from(extra))?;
        let symbol = distance.decode(bits)?;
        let extra = *DISTANCE_EXTRA
            .get(usize::from(symbol))
            .ok_or(DeflateError::Invalid("distance symbol out of range"))?;
        bits.take(u32::from(extra))?;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn libdeflate(data: &[u8], level: i32) -> Vec<u8> {
        let mut compressor =
            libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let mut out = vec![0; compressor.deflate_compress_bound(data.len())];
        let n = compressor.deflate_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn inflate(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(stream)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Text, random bytes (stored blocks), runs (long matches) and nothing.
    fn samples() -> Vec<Vec<u8>> {
        let mut random = crate::xorshift32(0x2545_f491);
        let text: Vec<u8> = (0..400_000)
            .map(|_| b"tunnel peer route handshake \n"[random() as usize % 29])
            .collect();
        let noise: Vec<u8> = (0..300_000).map(|_| random() as u8).collect();
        let mut mixed = text.clone();
        mixed.extend_from_slice(&noise);
        mixed.extend(std::iter::repeat_n(b'a', 70_000));
        vec![
            text,
            noise,
            mixed,
            vec![0; 1 << 20],
            b"x".to_vec(),
            Vec::new(),
        ]
    }

    #[test]
    fn finds_the_final_block_of_every_kind_of_stream() {
        for data in samples() {
            for level in [0, 1, 6, 12] {
                let stream = libdeflate(&data, level);
                let block = final_block(&stream).unwrap();
                assert_eq!(block.end_bit.div_ceil(8), stream.len() as u64);
                // The BFINAL bit is where the walk says the block starts.
                let start = block.start_bit as usize;
                assert_eq!((stream[start / 8] >> (start % 8)) & 1, 1);
            }
        }
    }

    #[test]
    fn continuable_pieces_join_into_one_stream() {
        // A stream of every sample but the last, each made continuable, then
        // the last as it was, inflates to all of them in order.
        for level in [1, 6, 9] {
            let samples = samples();
            let mut joined = Vec::new();
            for (i, data) in samples.iter().enumerate() {
                let piece = libdeflate(data, level);
                if i + 1 == samples.len() {
                    joined.extend(piece);
                } else {
                    let piece = into_continuable(piece).unwrap();
                    assert!(piece.ends_with(&[0, 0, 0xff, 0xff]));
                    joined.extend(piece);
                }
            }
            assert_eq!(inflate(&joined), samples.concat());
        }
    }

    #[test]
    fn a_damaged_stream_is_an_error_never_a_panic() {
        let stream = libdeflate(&samples()[2], 6);
        for cut in [0, 1, 2, 100, stream.len() / 2, stream.len() - 1] {
            assert!(final_block(&stream[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = stream.clone();
        longer.push(0);
        assert_eq!(final_block(&longer), Err(DeflateError::TrailingBytes(1)));
        // Flipped bytes: whatever they decode to, the walk ends.
        for position in (0..stream.len()).step_by(997) {
            let mut damaged = stream.clone();
            damaged[position] ^= 0x5a;
            let _ = final_block(&damaged);
        }
        assert_eq!(
            final_block(&[0b111]),
            Err(DeflateError::Invalid("reserved block type 3"))
        );
    }
}
