//! Progress of the long steps, reported to whoever drives the pipeline; the
//! library never draws anything itself (the CLI renders bars with indicatif).

pub use flatpkg::ArchiveProgress;

/// Receives progress of byte-heavy steps (payload compression, hashing);
/// the payload's bytes arrive as [`ArchiveProgress`].
pub trait Progress: ArchiveProgress {
    /// A step starts; `total` bytes are expected when known.
    fn begin(&self, step: &'static str, total: Option<u64>);
    /// `bytes` more bytes were processed in the current step.
    fn advance(&self, bytes: u64);
    /// The current step ended.
    fn end(&self);
    /// What the current step is waiting on, in words (a long wait shows it).
    fn status(&self, _message: &str) {}
}

/// Progress that goes nowhere: tests, `--json`, CI.
pub struct NoProgress;

impl ArchiveProgress for NoProgress {
    fn archived(&self, _: u64) {}
}

impl Progress for NoProgress {
    fn begin(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
