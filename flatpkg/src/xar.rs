//! Unsigned xar writer: the container of flat packages.
//!
//! `apple-xar` reads and signs xar archives but cannot create one, so this is
//! the small missing piece. Layout (big-endian):
//!
//! ```text
//! header   magic "xar!", header size 28, version 1, TOC lengths, checksum algorithm
//! TOC      zlib-compressed XML: creation time, TOC checksum location, files
//! heap     TOC checksum (offset 0), then each file's data in id order
//! ```
//! The TOC checksum is the digest of the compressed TOC; `apple-codesign`
//! later rewrites the archive with RSA and CMS signatures next to it.
//! Files are either compressed here with zlib (`application/x-gzip`, what xar
//! calls it) or stored as they are (the already-gzipped Payload and Scripts).
//! SHA-1 is the algorithm Apple's `productbuild` uses and every reader knows.

use std::{
    fmt::Write as _,
    fs::File,
    io::{self, Read, Seek, SeekFrom, Write},
    path::PathBuf,
};

use flate2::{write::ZlibEncoder, Compression};
use sha1::{Digest, Sha1};

const XAR_MAGIC: u32 = 0x7861_7221;
const XAR_HEADER_SIZE: u16 = 28;
const XAR_VERSION: u16 = 1;
const XAR_CHECKSUM_SHA1: u32 = 1;
const SHA1_LEN: u64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum XarError {
    #[error("xar path `{0}` is empty or has an empty component")]
    BadPath(String),
    #[error("xar path `{0}` is both a file and a directory")]
    Conflict(String),
    #[error(
        "xar path {path:?} {reason}, so it would not read back from the table of contents (XML)"
    )]
    Unwritable { path: String, reason: &'static str },
    #[error("i/o error in the xar archive")]
    Io(#[from] io::Error),
}

/// Where a file's bytes come from.
enum Content {
    /// Small metadata, zlib-compressed in memory when added.
    Compressed {
        archived: Vec<u8>,
        extracted_len: u64,
        extracted_sha1: [u8; 20],
        archived_sha1: [u8; 20],
    },
    /// A large file already compressed, copied from disk as it is; its SHA-1
    /// was computed while it was written, so it is not read twice.
    Stored {
        path: PathBuf,
        length: u64,
        sha1: [u8; 20],
    },
}

impl Content {
    fn archived_len(&self) -> u64 {
        match self {
            Content::Compressed { archived, .. } => archived.len() as u64,
            Content::Stored { length, .. } => *length,
        }
    }
}

enum Node {
    Directory { name: String, children: Vec<Node> },
    File { name: String, content: Content },
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::Directory { name, .. } | Node::File { name, .. } => name,
        }
    }
}

/// Builds an unsigned xar archive from files added by path.
pub struct XarWriter {
    creation_time: String,
    root: Vec<Node>,
}

impl XarWriter {
    /// `creation_time` is written verbatim (`YYYY-MM-DDTHH:MM:SS`), which keeps
    /// the archive reproducible under `SOURCE_DATE_EPOCH`.
    pub fn new(creation_time: impl Into<String>) -> Self {
        Self {
            creation_time: creation_time.into(),
            root: Vec::new(),
        }
    }

    /// Adds `data` at `path` (`a/b/c`), compressed with zlib.
    pub fn add_compressed(&mut self, path: &str, data: &[u8]) -> Result<(), XarError> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data)?;
        let archived = encoder.finish()?;
        let content = Content::Compressed {
            extracted_len: data.len() as u64,
            extracted_sha1: Sha1::digest(data).into(),
            archived_sha1: Sha1::digest(&archived).into(),
            archived,
        };
        self.insert(path, content)
    }

    /// Adds the file at `source` under `path`, stored without compression.
    /// `length` and `sha1` describe its bytes and are checked while copying.
    pub fn add_stored(
        &mut self,
        path: &str,
        source: PathBuf,
        length: u64,
        sha1: [u8; 20],
    ) -> Result<(), XarError> {
        self.insert(
            path,
            Content::Stored {
                path: source,
                length,
                sha1,
            },
        )
    }

    fn insert(&mut self, path: &str, content: Content) -> Result<(), XarError> {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(XarError::BadPath(path.to_string()));
        }
        // XML 1.0 has no way to write most control characters, a parser
        // turns a carriage return into a newline, and readers trim the
        // whitespace around a name.
        let unwritable = |reason| XarError::Unwritable {
            path: path.to_string(),
            reason,
        };
        if path.chars().any(char::is_control) {
            return Err(unwritable("has a control character"));
        }
        if parts.iter().any(|p| p.trim() != *p) {
            return Err(unwritable(
                "has a name that starts or ends with white space",
            ));
        }
        let (file_name, dirs) = parts.split_last().expect("split yields one part");
        let mut level = &mut self.root;
        for dir in dirs {
            let index = match level.iter().position(|n| n.name() == *dir) {
                Some(i) => i,
                None => {
                    level.push(Node::Directory {
                        name: dir.to_string(),
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            level = match &mut level[index] {
                Node::Directory { children, .. } => children,
                Node::File { .. } => return Err(XarError::Conflict(path.to_string())),
            };
        }
        if level.iter().any(|n| n.name() == *file_name) {
            return Err(XarError::Conflict(path.to_string()));
        }
        level.push(Node::File {
            name: file_name.to_string(),
            content,
        });
        Ok(())
    }

    /// Lays the archive out: header, TOC and checksum in memory, then the
    /// heap. Nothing is written yet, so the archive can be signed straight
    /// from its parts and only written to disk when someone wants it.
    pub fn finish(self) -> Result<XarArchive, XarError> {
        let mut toc = String::new();
        let mut heap_order = Vec::new();
        let mut next_id = 1u64;
        let mut heap_offset = SHA1_LEN;
        toc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xar>\n <toc>\n");
        let _ = writeln!(
            toc,
            "  <creation-time>{}</creation-time>\n  <checksum style=\"sha1\">\n   <offset>0</offset>\n   <size>{SHA1_LEN}</size>\n  </checksum>",
            xml_escape(&self.creation_time)
        );
        for node in &self.root {
            write_node(
                node,
                2,
                &mut toc,
                &mut next_id,
                &mut heap_offset,
                &mut heap_order,
            );
        }
        toc.push_str(" </toc>\n</xar>\n");

        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(toc.as_bytes())?;
        let toc_compressed = encoder.finish()?;
        let toc_sha1: [u8; 20] = Sha1::digest(&toc_compressed).into();

        let mut head = Vec::with_capacity(XAR_HEADER_SIZE as usize + toc_compressed.len() + 20);
        head.extend_from_slice(&XAR_MAGIC.to_be_bytes());
        head.extend_from_slice(&XAR_HEADER_SIZE.to_be_bytes());
        head.extend_from_slice(&XAR_VERSION.to_be_bytes());
        head.extend_from_slice(&(toc_compressed.len() as u64).to_be_bytes());
        head.extend_from_slice(&(toc.len() as u64).to_be_bytes());
        head.extend_from_slice(&XAR_CHECKSUM_SHA1.to_be_bytes());
        head.extend_from_slice(&toc_compressed);
        head.extend_from_slice(&toc_sha1);
        let mut segments = vec![Segment::Memory(head)];
        segments.extend(heap_order.into_iter().map(|content| match content {
            Content::Compressed { archived, .. } => Segment::Memory(archived.clone()),
            Content::Stored { path, length, .. } => Segment::File {
                path: path.clone(),
                length: *length,
            },
        }));
        Ok(XarArchive::new(segments))
    }
}

/// A contiguous piece of a laid-out archive.
#[derive(Debug)]
enum Segment {
    Memory(Vec<u8>),
    File { path: PathBuf, length: u64 },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Memory(data) => data.len() as u64,
            Segment::File { length, .. } => *length,
        }
    }
}

/// An unsigned archive laid out as pieces in memory and on disk.
#[derive(Debug)]
pub struct XarArchive {
    segments: Vec<Segment>,
    /// Offset of each segment in the archive.
    starts: Vec<u64>,
    len: u64,
}

impl XarArchive {
    fn new(segments: Vec<Segment>) -> Self {
        let mut starts = Vec::with_capacity(segments.len());
        let mut len = 0;
        for segment in &segments {
            starts.push(len);
            len += segment.len();
        }
        Self {
            segments,
            starts,
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the archive; returns the number of bytes written.
    pub fn write_to(&self, out: &mut impl Write) -> Result<u64, XarError> {
        Ok(io::copy(&mut self.reader()?, out)?)
    }

    /// Reads the archive as one file, without writing it anywhere.
    pub fn reader(&self) -> Result<XarArchiveReader<'_>, XarError> {
        let files = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::File { path, .. } => File::open(path).map(Some),
                Segment::Memory(_) => Ok(None),
            })
            .collect::<io::Result<_>>()?;
        Ok(XarArchiveReader {
            archive: self,
            files,
            position: 0,
        })
    }
}

/// `Read + Seek` over a laid-out archive.
#[derive(Debug)]
pub struct XarArchiveReader<'a> {
    archive: &'a XarArchive,
    files: Vec<Option<File>>,
    position: u64,
}

impl Read for XarArchiveReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.archive.len || buf.is_empty() {
            return Ok(0);
        }
        let index = self
            .archive
            .starts
            .partition_point(|start| *start <= self.position)
            - 1;
        let offset = self.position - self.archive.starts[index];
        let available = self.archive.segments[index].len() - offset;
        let want = buf
            .len()
            .min(usize::try_from(available).unwrap_or(usize::MAX));
        let read = match (&self.archive.segments[index], &mut self.files[index]) {
            (Segment::Memory(data), _) => {
                let start = offset as usize;
                buf[..want].copy_from_slice(&data[start..start + want]);
                want
            }
            (Segment::File { path, .. }, Some(file)) => {
                file.seek(SeekFrom::Start(offset))?;
                let read = file.read(&mut buf[..want])?;
                if read == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} shrank while being archived", path.display()),
                    ));
                }
                read
            }
            (Segment::File { .. }, None) => unreachable!("every file segment has an open file"),
        };
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for XarArchiveReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(n) => self.archive.len.checked_add_signed(n),
            SeekFrom::Current(n) => self.position.checked_add_signed(n),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the archive",
            )
        })?;
        Ok(self.position)
    }
}

fn write_node<'a>(
    node: &'a Node,
    depth: usize,
    toc: &mut String,
    next_id: &mut u64,
    heap_offset: &mut u64,
    heap_order: &mut Vec<&'a Content>,
) {
    let pad = " ".repeat(depth);
    let id = *next_id;
    *next_id += 1;
    let _ = writeln!(toc, "{pad}<file id=\"{id}\">");
    let _ = writeln!(toc, "{pad} <name>{}</name>", xml_escape(node.name()));
    match node {
        Node::Directory { children, .. } => {
            let _ = writeln!(
                toc,
                "{pad} <type>directory</type>\n{pad} <mode>0755</mode>\n{pad} <uid>0</uid>\n{pad} <gid>0</gid>\n{pad} <user>root</user>\n{pad} <group>wheel</group>"
            );
            for child in children {
                write_node(child, depth + 1, toc, next_id, heap_offset, heap_order);
            }
        }
        Node::File { content, .. } => {
            let (encoding, length, size, extracted, archived) = match content {
                Content::Compressed {
                    archived,
                    extracted_len,
                    extracted_sha1,
                    archived_sha1,
                } => (
                    "application/x-gzip",
                    archived.len() as u64,
                    *extracted_len,
                    extracted_sha1,
                    archived_sha1,
                ),
                Content::Stored { length, sha1, .. } => {
                    ("application/octet-stream", *length, *length, sha1, sha1)
                }
            };
            let _ = writeln!(
                toc,
                "{pad} <type>file</type>\n{pad} <mode>0644</mode>\n{pad} <uid>0</uid>\n{pad} <gid>0</gid>\n{pad} <user>root</user>\n{pad} <group>wheel</group>\n{pad} <size>{size}</size>"
            );
            let _ = writeln!(
                toc,
                "{pad} <data>\n{pad}  <length>{length}</length>\n{pad}  <offset>{offset}</offset>\n{pad}  <size>{size}</size>\n{pad}  <encoding style=\"{encoding}\"/>\n{pad}  <extracted-checksum style=\"sha1\">{}</extracted-checksum>\n{pad}  <archived-checksum style=\"sha1\">{}</archived-checksum>\n{pad} </data>",
                hex::encode(extracted),
                hex::encode(archived),
                offset = *heap_offset,
            );
            *heap_offset += content.archived_len();
            heap_order.push(content);
        }
    }
    let _ = writeln!(toc, "{pad}</file>");
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use apple_xar::reader::XarReader;
    use std::io::Cursor;

    fn archive() -> (Vec<u8>, tempfile::NamedTempFile) {
        let mut stored = tempfile::NamedTempFile::new().unwrap();
        stored
            .write_all(b"stored bytes, already compressed")
            .unwrap();
        let digest: [u8; 20] = Sha1::digest(b"stored bytes, already compressed").into();
        let mut writer = XarWriter::new("2023-11-14T22:13:20");
        writer
            .add_compressed("Distribution", b"<xml & more/>")
            .unwrap();
        writer
            .add_stored("pkg/Payload", stored.path().to_path_buf(), 32, digest)
            .unwrap();
        writer.add_compressed("pkg/Bom", &[7u8; 1000]).unwrap();
        let mut out = Vec::new();
        let archive = writer.finish().unwrap();
        assert_eq!(archive.write_to(&mut out).unwrap(), archive.len());
        (out, stored)
    }

    #[test]
    fn apple_xar_reads_every_file_back() {
        let (bytes, _keep) = archive();
        let mut reader = XarReader::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = reader.files().unwrap().into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["Distribution", "pkg", "pkg/Payload", "pkg/Bom"]);
        assert_eq!(
            reader
                .get_file_data_from_path("Distribution")
                .unwrap()
                .unwrap(),
            b"<xml & more/>"
        );
        assert_eq!(
            reader
                .get_file_data_from_path("pkg/Payload")
                .unwrap()
                .unwrap(),
            b"stored bytes, already compressed"
        );
        assert_eq!(
            reader.get_file_data_from_path("pkg/Bom").unwrap().unwrap(),
            vec![7u8; 1000]
        );
    }

    #[test]
    fn toc_checksum_sits_at_heap_offset_zero() {
        let (bytes, _keep) = archive();
        let toc_len = u64::from_be_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let toc = &bytes[28..28 + toc_len];
        assert_eq!(
            &bytes[28 + toc_len..28 + toc_len + 20],
            Sha1::digest(toc).as_slice()
        );
    }

    #[test]
    fn same_input_same_bytes() {
        assert_eq!(archive().0, archive().0);
    }

    #[test]
    fn rejects_conflicts_and_empty_components() {
        let mut writer = XarWriter::new("t");
        writer.add_compressed("a", b"").unwrap();
        assert!(matches!(
            writer.add_compressed("a/b", b""),
            Err(XarError::Conflict(_))
        ));
        assert!(matches!(
            writer.add_compressed("a", b""),
            Err(XarError::Conflict(_))
        ));
        assert!(matches!(
            writer.add_compressed("x//y", b""),
            Err(XarError::BadPath(_))
        ));
    }

    #[test]
    fn stored_file_that_shrank_is_an_error() {
        let stored = tempfile::NamedTempFile::new().unwrap();
        let mut writer = XarWriter::new("t");
        writer
            .add_stored("p", stored.path().to_path_buf(), 10, [0; 20])
            .unwrap();
        let error = writer
            .finish()
            .unwrap()
            .write_to(&mut Vec::new())
            .unwrap_err();
        let cause = std::error::Error::source(&error).map(|c| c.to_string());
        assert!(cause.is_some_and(|c| c.contains("shrank")), "{error:?}");
    }

    #[test]
    fn reader_seeks_across_segments_like_the_written_file() {
        let (bytes, stored) = archive();
        let mut writer = XarWriter::new("2023-11-14T22:13:20");
        writer
            .add_compressed("Distribution", b"<xml & more/>")
            .unwrap();
        let digest: [u8; 20] = Sha1::digest(b"stored bytes, already compressed").into();
        writer
            .add_stored("pkg/Payload", stored.path().to_path_buf(), 32, digest)
            .unwrap();
        writer.add_compressed("pkg/Bom", &[7u8; 1000]).unwrap();
        let archive = writer.finish().unwrap();
        let mut reader = archive.reader().unwrap();
        for start in [0u64, 5, bytes.len() as u64 - 40, bytes.len() as u64 - 1] {
            reader.seek(SeekFrom::Start(start)).unwrap();
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, &bytes[start as usize..], "from {start}");
        }
        assert_eq!(
            reader.seek(SeekFrom::End(-3)).unwrap(),
            bytes.len() as u64 - 3
        );
        assert!(reader
            .seek(SeekFrom::Current(-(bytes.len() as i64)))
            .is_err());
        // apple-xar reads it straight from the parts.
        let mut xar = XarReader::new(archive.reader().unwrap()).unwrap();
        assert!(xar.verify_table_of_contents_checksum().unwrap());
    }
}
