//! Progress of the long steps, reported to whoever drives the pipeline; the
//! library never draws anything itself (the CLI renders bars with indicatif).
//!
//! The two crates that do the byte-heavy work each take their own progress
//! trait; a [`Progress`] is anything that implements both.

pub use flatpkg::ArchiveProgress;
pub use notary::NotaryProgress;

/// What the build pipeline reports to: steps with a byte count (the
/// payload, the upload) and waits described in words.
pub trait Progress: ArchiveProgress + NotaryProgress {}

impl<T: ArchiveProgress + NotaryProgress> Progress for T {}

/// Progress that goes nowhere: tests, `--json`, CI.
pub struct NoProgress;

impl ArchiveProgress for NoProgress {
    fn archived(&self, _: u64) {}
}

impl NotaryProgress for NoProgress {
    fn begin(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
