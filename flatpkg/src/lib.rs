//! Writers for macOS flat packages, the formats `pkgbuild` and
//! `productbuild` write, on any OS. Nothing here knows what is packaged.
//!
//! - [`tree`]: the file tree a package installs, read from a directory;
//! - [`payload`]: `Payload` and `Scripts` (cpio odc, parallel gzip), each
//!   file read once for the archive and its BOM checksum;
//! - [`parallel_gzip`]: one gzip member deflated by libdeflate on every
//!   core, its pieces joined at the bit where [`deflate_blocks`] finds
//!   each one's final block;
//! - [`bom`]: the bill of materials, in `mkbom`'s layout;
//! - [`xar`]: the unsigned xar container (its signature is `apple-xar`'s);
//! - [`product`]: a product archive (`Distribution` and components).
//!
//! Each writer is judged by readers we did not write: `apple-bom`,
//! `apple-xar`, GNU cpio, bsdtar and a classic `mkbom` pkg.

pub mod bom;
pub mod bom_reader;
pub mod cksum;
pub mod deflate_blocks;
pub mod notarization_trailer;
pub mod parallel_gzip;
pub mod payload;
pub mod product;
pub mod tree;
pub mod xar;

/// Told of file bytes as they go into an archive, so a caller can draw a
/// bar; this crate never draws anything.
pub trait ArchiveProgress: Sync {
    fn archived(&self, bytes: u64);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl ArchiveProgress for NoProgress {
    fn archived(&self, _: u64) {}
}

/// Deterministic pseudo-random numbers for tests (xorshift32), the same on
/// every run.
#[cfg(test)]
pub(crate) fn xorshift32(mut state: u32) -> impl FnMut() -> u32 {
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    }
}
