//! Stapling: find the ticket record name of a pkg or app, look the ticket
//! up (retrying while it is not published yet), and write it where
//! Gatekeeper looks: a trailer at the end of a pkg, `Contents/CodeResources`
//! in an app.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use apple_codesign::{
    cryptography::DigestType,
    stapling::{record_name_from_executable_bundle, staple_ticket_to_bundle},
    ticket_lookup::{
        TicketLookupRequest, TicketLookupRequestRecord, TicketLookupResponse,
        TicketLookupResponseRecord,
    },
};
use apple_xar::reader::XarReader;
use flatpkg::notarization_trailer;
use reqwest::blocking::Client;

use crate::NotaryProgress;
use crate::{human_duration, service::error_detail, NotaryError};

/// What can be notarized and stapled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stapleable {
    /// A flat package (xar).
    Package(PathBuf),
    /// An app bundle directory.
    Bundle(PathBuf),
}

impl Stapleable {
    pub fn from_path(path: &Path) -> Result<Self, NotaryError> {
        if path.is_dir() {
            if path.join("Contents/Info.plist").is_file() {
                return Ok(Self::Bundle(path.to_path_buf()));
            }
        } else {
            let mut magic = [0u8; 4];
            let mut file = File::open(path).map_err(|source| NotaryError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if file.read_exact(&mut magic).is_ok() && &magic == b"xar!" {
                return Ok(Self::Package(path.to_path_buf()));
            }
        }
        Err(NotaryError::UnsupportedPath {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::Package(path) | Self::Bundle(path) => path,
        }
    }

    /// The CloudKit record name of its ticket: `2/<digest type>/<first 20
    /// bytes of the digest, hex>`, over the pkg's table-of-contents checksum
    /// or the app's main CodeDirectory.
    pub fn record_name(&self) -> Result<String, NotaryError> {
        let record_error = |reason: String| NotaryError::RecordName {
            path: self.path().to_path_buf(),
            reason,
        };
        match self {
            Self::Package(path) => {
                let file = File::open(path).map_err(|source| NotaryError::Read {
                    path: path.clone(),
                    source,
                })?;
                let mut reader = XarReader::new(file).map_err(|e| record_error(e.to_string()))?;
                let mut digest = reader
                    .checksum_data()
                    .map_err(|e| record_error(e.to_string()))?;
                digest.truncate(20);
                let digest_type = DigestType::try_from(reader.table_of_contents().checksum.style)
                    .map_err(|e| record_error(e.to_string()))?;
                Ok(format!(
                    "2/{}/{}",
                    u8::from(digest_type),
                    hex::encode(digest)
                ))
            }
            Self::Bundle(path) => {
                let bundle = apple_bundles::DirectoryBundle::new_from_path(path)
                    .map_err(|e| record_error(e.to_string()))?;
                record_name_from_executable_bundle(&bundle).map_err(|e| record_error(e.to_string()))
            }
        }
    }
}

/// How long and how often to ask for a ticket.
#[derive(Clone, Copy, Debug)]
pub struct LookupPatience {
    pub timeout: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Default for LookupPatience {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(30),
        }
    }
}

/// One lookup: `Ok(None)` while the record is not found.
fn lookup_once(
    client: &Client,
    url: &url::Url,
    record: &str,
) -> Result<Option<Vec<u8>>, NotaryError> {
    let what = "looking up the notarization ticket";
    let body = TicketLookupRequest {
        records: vec![TicketLookupRequestRecord {
            record_name: record.to_string(),
        }],
    };
    let response = client
        .post(url.clone())
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .map_err(|source| NotaryError::Unreachable {
            what,
            url: url.to_string(),
            source: source.without_url(),
        })?;
    let status = response.status();
    let text = crate::transport::read_answer(what, url.as_str(), response)?;
    if !status.is_success() {
        return Err(NotaryError::Service {
            what,
            url: url.to_string(),
            status: status.as_u16(),
            detail: error_detail(&text),
        });
    }
    let parsed: TicketLookupResponse =
        serde_json::from_str(&text).map_err(|e| NotaryError::Protocol {
            what,
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    match parsed.records.iter().find(|r| r.record_name() == record) {
        Some(TicketLookupResponseRecord::Failure(failure))
            if failure.server_error_code == "NOT_FOUND" =>
        {
            Ok(None)
        }
        Some(TicketLookupResponseRecord::Failure(failure)) => Err(NotaryError::TicketLookup {
            record: record.to_string(),
            code: failure.server_error_code.clone(),
            reason: failure.reason.clone(),
        }),
        _ => parsed
            .signed_ticket(record)
            .map(Some)
            .map_err(|e| NotaryError::Protocol {
                what,
                url: url.to_string(),
                reason: e.to_string(),
            }),
    }
}

/// Looks the ticket up, retrying with backoff while it is not published.
pub fn lookup_ticket(
    client: &Client,
    url: &url::Url,
    target: &Stapleable,
    patience: LookupPatience,
    progress: &dyn NotaryProgress,
) -> Result<(String, Vec<u8>), NotaryError> {
    let record = target.record_name()?;
    let started = Instant::now();
    let mut delay = patience.first_retry;
    loop {
        if let Some(ticket) = lookup_once(client, url, &record)? {
            return Ok((record, ticket));
        }
        let waited = started.elapsed();
        if waited + delay > patience.timeout {
            return Err(NotaryError::TicketNotFound {
                record,
                waited,
                path: target.path().to_path_buf(),
            });
        }
        progress.status(&format!(
            "ticket {record} not published yet ({} so far)",
            human_duration(waited)
        ));
        std::thread::sleep(delay);
        delay = (delay * 2).min(patience.max_retry);
    }
}

/// Writes the ticket; a ticket stapled before is replaced, so stapling
/// twice leaves one trailer.
pub fn write_ticket(target: &Stapleable, ticket: &[u8]) -> Result<(), NotaryError> {
    let path = target.path();
    let write_error = |source| NotaryError::Write {
        path: path.to_path_buf(),
        source,
    };
    match target {
        Stapleable::Package(_) => {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(write_error)?;
            let end = notarization_trailer::xar_end(&mut file).map_err(write_error)?;
            file.set_len(end).map_err(write_error)?;
            file.seek(SeekFrom::End(0)).map_err(write_error)?;
            file.write_all(&notarization_trailer::trailer(ticket))
                .map_err(write_error)?;
            file.sync_all().map_err(write_error)
        }
        Stapleable::Bundle(_) => {
            let bundle = apple_bundles::DirectoryBundle::new_from_path(path).map_err(|e| {
                NotaryError::RecordName {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            })?;
            staple_ticket_to_bundle(&bundle, ticket)
                .map_err(|e| write_error(std::io::Error::other(e.to_string())))
        }
    }
}

/// Reads the ticket stapled to a pkg, if any.
pub fn stapled_ticket(path: &Path) -> Result<Option<Vec<u8>>, NotaryError> {
    let read_error = |source| NotaryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    notarization_trailer::last_ticket(&mut file).map_err(read_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stapling_twice_leaves_one_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pkg");
        std::fs::write(&path, b"xar!not really a xar but long enough").unwrap();
        let target = Stapleable::from_path(&path).unwrap();
        assert_eq!(stapled_ticket(&path).unwrap(), None);
        write_ticket(&target, b"s8ch first ticket").unwrap();
        let once = std::fs::metadata(&path).unwrap().len();
        write_ticket(&target, b"s8ch second!!").unwrap();
        assert_eq!(stapled_ticket(&path).unwrap().unwrap(), b"s8ch second!!");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            once - 4,
            "the first trailer was replaced, not kept"
        );
        let data = std::fs::read(&path).unwrap();
        assert!(data.starts_with(b"xar!not really a xar but long enough"));
    }

    /// Our trailer is byte for byte the one apple-codesign writes.
    #[test]
    fn the_trailer_is_apple_codesigns() {
        let ticket = b"s8ch a ticket of some length";
        assert_eq!(
            notarization_trailer::trailer(ticket),
            apple_codesign::stapling::xar_notarization_trailer(ticket).unwrap()
        );
    }

    #[test]
    fn only_packages_and_bundles_are_stapleable() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        let message = Stapleable::from_path(&text).unwrap_err().to_string();
        assert!(
            message.contains("notes.txt") && message.contains(".pkg"),
            "{message}"
        );
        assert!(Stapleable::from_path(dir.path()).is_err());
    }
}
