//! `Payload` and `Scripts` archives: cpio odc (via `cpio-archive`), gzip.
//!
//! One pass over the tree: each file is read once, and that read feeds the
//! cpio stream, the file's POSIX cksum for the BOM, the progress bar and a
//! [`ContentObserver`] (build-pkg's code-signing digests). The
//! cpio stream is deflated on every core into one standard gzip member
//! ([`ParallelGzipWriter`]), and the compressed bytes are hashed on their
//! way to disk for the xar TOC.

use std::{
    fs::File,
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use cpio_archive::{odc::OdcBuilder, odc::OdcHeader};
use sha1::{Digest, Sha1};

use crate::{
    bom::{BomKind, BomRecord},
    cksum::PosixCksum,
    parallel_gzip::ParallelGzipWriter,
    tree::{EntryKind, FileSource, TreeEntry},
    ArchiveProgress,
};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("cannot read {path} for the payload")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the cpio stream: {0}")]
    Cpio(String),
    #[error("parallel gzip failed")]
    Gzip(#[source] io::Error),
    #[error("{path} changed size while being archived")]
    Changed { path: String },
    #[error(
        "{path} is {size} bytes; BOM records hold 32-bit sizes, so files must stay under 4 GiB"
    )]
    TooLarge { path: String, size: u64 },
}

/// Ownership, time and compression of an archive.
#[derive(Clone, Debug)]
pub struct ArchiveSettings {
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub level: u32,
    pub threads: usize,
}

impl ArchiveSettings {
    /// root:admin (0:80), as Apple's own payloads, at gzip level 6.
    pub fn payload(mtime: u32) -> Self {
        Self {
            uid: 0,
            gid: 80,
            mtime,
            level: 6,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What was written, with what the BOM and the xar TOC need.
#[derive(Clone, Debug)]
pub struct ArchiveSummary {
    pub path: PathBuf,
    pub compressed_size: u64,
    pub sha1: [u8; 20],
    /// Sum of file sizes (what `installKBytes` reports).
    pub content_size: u64,
    pub entries: usize,
    pub bom_records: Vec<BomRecord>,
}

/// A writer that hashes and counts what passes through it.
struct DigestingWriter<W> {
    inner: W,
    sha1: Sha1,
    written: u64,
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha1.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Sees the bytes of each regular file as the archive reads them, so that
/// other digests of a file (code signing's) come from the same read.
pub trait ContentObserver {
    fn begin(&mut self, entry: &TreeEntry);
    fn update(&mut self, data: &[u8]);
    /// The file was read whole (not called when reading it failed).
    fn end(&mut self);
}

/// Observes nothing.
struct Unobserved;

impl ContentObserver for Unobserved {
    fn begin(&mut self, _: &TreeEntry) {}
    fn update(&mut self, _: &[u8]) {}
    fn end(&mut self) {}
}

/// A reader that feeds the BOM checksum, the progress bar and the observer.
struct ChecksummingReader<'a, R> {
    inner: R,
    cksum: PosixCksum,
    progress: &'a dyn ArchiveProgress,
    observer: &'a mut dyn ContentObserver,
}

impl<R: Read> Read for ChecksummingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.cksum.update(&buf[..n]);
        self.observer.update(&buf[..n]);
        self.progress.archived(n as u64);
        Ok(n)
    }
}

fn cpio_name(path: &str) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        format!("./{path}")
    }
}

type GzipFile = ParallelGzipWriter<DigestingWriter<BufWriter<File>>>;

/// A gzipped cpio odc archive written entry by entry, so that entries known
/// early can be compressed while later ones are still being produced.
pub struct ArchiveWriter {
    /// No buffer in front of the gzip writer: it gathers 1 MiB chunks
    /// itself, and one more buffer would copy every byte once more.
    cpio: OdcBuilder<GzipFile>,
    settings: ArchiveSettings,
    path: PathBuf,
    content_size: u64,
    bom_records: Vec<BomRecord>,
}

impl ArchiveWriter {
    pub fn create(out: &Path, settings: &ArchiveSettings) -> Result<Self, PayloadError> {
        let file = File::create(out).map_err(|source| PayloadError::Write {
            path: out.to_path_buf(),
            source,
        })?;
        let digesting = DigestingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            sha1: Sha1::new(),
            written: 0,
        };
        let gzip: GzipFile = ParallelGzipWriter::new(digesting, settings.level, settings.threads)
            .map_err(PayloadError::Gzip)?;
        let mut cpio = OdcBuilder::new(gzip);
        // Every header, the trailer included, comes from these defaults: left
        // alone, the trailer would carry the current time.
        cpio.default_mtime(
            chrono::DateTime::from_timestamp(settings.mtime.into(), 0).unwrap_or_default(),
        );
        cpio.default_user_id(settings.uid);
        cpio.default_group_id(settings.gid);
        Ok(Self {
            cpio,
            settings: settings.clone(),
            path: out.to_path_buf(),
            content_size: 0,
            bom_records: Vec::new(),
        })
    }

    pub fn append(
        &mut self,
        entries: &[TreeEntry],
        progress: &dyn ArchiveProgress,
    ) -> Result<(), PayloadError> {
        self.append_observed(entries, progress, &mut Unobserved)
    }

    /// [`append`](Self::append), showing every file's bytes to `observer`.
    pub fn append_observed(
        &mut self,
        entries: &[TreeEntry],
        progress: &dyn ArchiveProgress,
        observer: &mut dyn ContentObserver,
    ) -> Result<(), PayloadError> {
        for entry in entries {
            let record = append_entry(&mut self.cpio, entry, &self.settings, progress, observer)?;
            self.content_size += entry.size;
            self.bom_records.push(record);
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<ArchiveSummary, PayloadError> {
        let path = self.path;
        let write_error = |source| PayloadError::Write {
            path: path.clone(),
            source,
        };
        let cpio_error = |e: cpio_archive::Error| PayloadError::Cpio(e.to_string());
        self.cpio.finish().map_err(cpio_error)?;
        let gzip = self.cpio.into_inner().map_err(cpio_error)?;
        let mut digesting = gzip.finish().map_err(PayloadError::Gzip)?;
        digesting.flush().map_err(write_error)?;
        Ok(ArchiveSummary {
            compressed_size: digesting.written,
            sha1: digesting.sha1.finalize().into(),
            content_size: self.content_size,
            entries: self.bom_records.len(),
            bom_records: self.bom_records,
            path,
        })
    }
}

/// Writes `entries` as a gzipped cpio odc archive at `out`.
pub fn write_archive(
    entries: &[TreeEntry],
    settings: &ArchiveSettings,
    out: &Path,
    progress: &dyn ArchiveProgress,
) -> Result<ArchiveSummary, PayloadError> {
    let mut writer = ArchiveWriter::create(out, settings)?;
    writer.append(entries, progress)?;
    writer.finish()
}

fn append_entry<W: Write>(
    cpio: &mut OdcBuilder<W>,
    entry: &TreeEntry,
    settings: &ArchiveSettings,
    progress: &dyn ArchiveProgress,
    observer: &mut dyn ContentObserver,
) -> Result<BomRecord, PayloadError> {
    let cpio_error = |e: cpio_archive::Error| PayloadError::Cpio(e.to_string());
    let size = u32::try_from(entry.size).map_err(|_| PayloadError::TooLarge {
        path: entry.path.clone(),
        size: entry.size,
    })?;
    let mut header: OdcHeader = cpio.next_header();
    header.name = cpio_name(&entry.path);
    header.nlink = 1;
    header.file_size = entry.size;
    let permissions = u32::from(entry.permissions & 0o7777);
    let mut record = BomRecord {
        path: entry.path.clone(),
        kind: BomKind::Directory,
        permissions: entry.permissions,
        uid: settings.uid,
        gid: settings.gid,
        mtime: settings.mtime,
        size,
        checksum: 0,
    };
    match &entry.kind {
        EntryKind::Directory => {
            header.mode = S_IFDIR | permissions;
            header.nlink = 2;
            cpio.append_header_with_data(header, [])
                .map_err(cpio_error)?;
        }
        EntryKind::Symlink { target } => {
            header.mode = S_IFLNK | permissions;
            cpio.append_header_with_data(header, target.as_bytes())
                .map_err(cpio_error)?;
            record.kind = BomKind::Symlink {
                target: target.clone(),
            };
            record.checksum = PosixCksum::of(target.as_bytes());
        }
        EntryKind::File(source) => {
            header.mode = S_IFREG | permissions;
            let reader: Box<dyn Read> = match source {
                FileSource::Bytes(data) => Box::new(io::Cursor::new(data.as_slice())),
                FileSource::Path(path) => {
                    Box::new(File::open(path).map_err(|source| PayloadError::Read {
                        path: path.clone(),
                        source,
                    })?)
                }
            };
            observer.begin(entry);
            let mut reader = ChecksummingReader {
                inner: reader.take(entry.size + 1),
                cksum: PosixCksum::default(),
                progress,
                observer: &mut *observer,
            };
            cpio.append_header_with_reader(header, &mut reader)
                .map_err(|e| match e {
                    cpio_archive::Error::SizeMismatch => PayloadError::Changed {
                        path: entry.path.clone(),
                    },
                    other => PayloadError::Cpio(other.to_string()),
                })?;
            record.kind = BomKind::File;
            record.checksum = reader.cksum.finish();
            observer.end();
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use cpio_archive::{odc::OdcReader, CpioReader};
    use flate2::read::MultiGzDecoder;

    fn entries() -> Vec<TreeEntry> {
        vec![
            TreeEntry::directory(""),
            TreeEntry::directory("bin"),
            TreeEntry::file("bin/tool", vec![b'x'; 300_000], 0o755),
            TreeEntry {
                path: "bin/alias".into(),
                kind: EntryKind::Symlink {
                    target: "tool".into(),
                },
                permissions: 0o777,
                size: 4,
                modified: None,
            },
        ]
    }

    #[test]
    fn archive_reads_back_with_modes_owners_and_one_gzip_member() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("Payload");
        let mut settings = ArchiveSettings::payload(1_700_000_000);
        settings.threads = 2;
        let summary = write_archive(&entries(), &settings, &out, &NoProgress).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(summary.compressed_size, bytes.len() as u64);
        assert_eq!(summary.sha1.as_slice(), Sha1::digest(&bytes).as_slice());

        // One member: a single-member decoder must see the whole stream.
        let mut single = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut single)
            .unwrap();
        let mut multi = Vec::new();
        MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut multi)
            .unwrap();
        assert_eq!(single, multi);

        let mut reader = OdcReader::new(io::Cursor::new(single));
        let mut seen = Vec::new();
        while let Some(header) = reader.read_next().unwrap() {
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            seen.push((
                header.name().to_string(),
                header.mode(),
                header.uid(),
                header.gid(),
                data.len(),
            ));
        }
        assert_eq!(
            seen,
            [
                (".".to_string(), 0o40755, 0, 80, 0),
                ("./bin".to_string(), 0o40755, 0, 80, 0),
                ("./bin/tool".to_string(), 0o100755, 0, 80, 300_000),
                ("./bin/alias".to_string(), 0o120777, 0, 80, 4),
            ]
        );
        assert_eq!(
            summary.bom_records[2].checksum,
            PosixCksum::of(&[b'x'; 300_000])
        );
        assert_eq!(summary.bom_records[3].checksum, PosixCksum::of(b"tool"));
    }

    /// Records what it is shown, file by file.
    #[derive(Default)]
    struct Recorder {
        files: Vec<(String, Vec<u8>, bool)>,
    }

    impl ContentObserver for Recorder {
        fn begin(&mut self, entry: &TreeEntry) {
            self.files.push((entry.path.clone(), Vec::new(), false));
        }
        fn update(&mut self, data: &[u8]) {
            self.files.last_mut().unwrap().1.extend_from_slice(data);
        }
        fn end(&mut self) {
            self.files.last_mut().unwrap().2 = true;
        }
    }

    #[test]
    fn the_observer_sees_each_file_whole_and_only_files() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = dir.path().join("data");
        std::fs::write(&on_disk, vec![7u8; 200_000]).unwrap();
        let mut entries = entries();
        entries.push(TreeEntry {
            path: "data".into(),
            kind: EntryKind::File(FileSource::Path(on_disk)),
            permissions: 0o644,
            size: 200_000,
            modified: None,
        });
        let mut writer =
            ArchiveWriter::create(&dir.path().join("Payload"), &ArchiveSettings::payload(0))
                .unwrap();
        let mut recorder = Recorder::default();
        writer
            .append_observed(&entries, &NoProgress, &mut recorder)
            .unwrap();
        writer.finish().unwrap();
        assert_eq!(
            recorder.files,
            [
                ("bin/tool".to_string(), vec![b'x'; 300_000], true),
                ("data".to_string(), vec![7u8; 200_000], true),
            ]
        );
    }

    #[test]
    fn output_depends_only_on_inputs() {
        // Thread count and wall-clock time must not show in the bytes.
        let dir = tempfile::tempdir().unwrap();
        let mut digests = Vec::new();
        for threads in [1, 2, 3, 2] {
            let mut settings = ArchiveSettings::payload(7);
            settings.threads = threads;
            let out = dir.path().join(format!("p{threads}"));
            digests.push(
                write_archive(&entries(), &settings, &out, &NoProgress)
                    .unwrap()
                    .sha1,
            );
            std::thread::sleep(std::time::Duration::from_millis(if threads == 3 {
                1100
            } else {
                0
            }));
        }
        assert!(digests.windows(2).all(|w| w[0] == w[1]));
    }
}
