//! Notarization and stapling against Apple's Notary API v2, from any OS.
//!
//! `apple-codesign`'s `Notarizer` and `Stapler` hard-code Apple's URLs and
//! pull in the AWS SDK, so this crate owns a small blocking HTTP client and
//! reuses the rest: `app-store-connect`'s request/response types and ES256
//! token encoder, `apple-codesign`'s ticket lookup types and stapling helpers.
//!
//! - [`api_key`]: the API key and short-lived tokens;
//! - [`service`]: the notary endpoints (submit, status, log);
//! - [`s3_upload`]: the upload to the submission's S3 object (SigV4);
//! - [`developer_log`]: the issues of a rejected submission;
//! - [`bundle_zip`]: an app bundle as the zip Apple accepts;
//! - [`staple`](mod@staple): ticket lookup with retries and writing the ticket;
//! - [`notarize`](mod@notarize): the whole submit, wait, staple sequence;
//! - [`transport`]: what the client accepts from a server (https, time and
//!   size bounds, well-formed ids).

pub mod api_key;
pub mod bundle_zip;
pub mod developer_log;
pub mod file_digest;
pub mod notarize;
pub mod s3_upload;
pub mod service;
pub mod staple;
pub mod transport;

use std::{path::PathBuf, time::Duration};

pub use notarize::{notarize, staple, NotarizeOptions, NotarizeReport, StapleReport};

/// Receives the progress of an upload and of the waits (submission status,
/// ticket lookup); the caller draws it, this crate never prints.
pub trait NotaryProgress: Sync {
    /// A step starts; `total` bytes are expected when known.
    fn begin(&self, step: &'static str, total: Option<u64>);
    /// `bytes` more bytes were processed in the current step.
    fn advance(&self, bytes: u64);
    /// The current step ended.
    fn end(&self);
    /// What the current step is waiting on, in words.
    fn status(&self, _message: &str) {}
}

/// Apple's Notary API v2 (the `/submissions` paths hang off it).
pub const APPLE_NOTARY_URL: &str = "https://appstoreconnect.apple.com/notary/v2";
/// The region of Apple's submission bucket.
pub const APPLE_S3_REGION: &str = "us-west-2";

/// The three services, Apple's unless overridden (a local stand-in, a proxy).
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub notary: url::Url,
    /// An S3-compatible endpoint addressed path-style (`{endpoint}/{bucket}/{key}`);
    /// `None` is AWS itself, addressed virtual-host style.
    pub s3: Option<url::Url>,
    pub s3_region: String,
    pub ticket_lookup: url::Url,
}

impl Endpoints {
    /// Refuses an endpoint that is neither https nor on this machine.
    pub fn check(&self) -> Result<(), NotaryError> {
        transport::check_url("the notary service", &self.notary, true)?;
        transport::check_url("the ticket lookup", &self.ticket_lookup, true)?;
        if let Some(s3) = &self.s3 {
            transport::check_url("the S3 endpoint", s3, true)?;
        }
        Ok(())
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            notary: APPLE_NOTARY_URL.parse().expect("valid URL"),
            s3: None,
            s3_region: APPLE_S3_REGION.to_string(),
            ticket_lookup: apple_codesign::ticket_lookup::APPLE_TICKET_LOOKUP_URL
                .parse()
                .expect("valid URL"),
        }
    }
}

/// Formats a duration as the person waiting reads it.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotaryError {
    #[error("cannot use the App Store Connect API key {path}: {reason}")]
    ApiKey { path: PathBuf, reason: String },
    #[error("the .p8 key {path} does not say which key it is")]
    MissingKeyIds { path: PathBuf },
    #[error("signing an App Store Connect token failed")]
    Token,
    #[error("the notary service refused the API key {key_id} (HTTP {status}: {detail})")]
    Unauthorized {
        key_id: String,
        status: u16,
        detail: String,
    },
    #[error("{what} failed: cannot reach {url}")]
    Unreachable {
        what: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} failed: HTTP {status} from {url}: {detail}")]
    Service {
        what: &'static str,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: unexpected answer from {url}: {reason}")]
    Protocol {
        what: &'static str,
        url: String,
        reason: String,
    },
    #[error("uploading {path} to the submission's S3 object failed (HTTP {status}: {detail})")]
    Upload {
        path: PathBuf,
        status: u16,
        detail: String,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is neither a flat package (.pkg) nor an app bundle (.app)")]
    UnsupportedPath { path: PathBuf },
    #[error("the notary service says submission {id} is {status}: {} issue(s)", issues.len())]
    NotAccepted {
        id: String,
        status: String,
        issues: Vec<developer_log::Issue>,
    },
    #[error("submission {id} is still {status} after {}", human_duration(*waited))]
    Timeout {
        id: String,
        status: String,
        waited: Duration,
        path: PathBuf,
    },
    #[error("no notarization ticket for {record} after {}", human_duration(*waited))]
    TicketNotFound {
        record: String,
        waited: Duration,
        path: PathBuf,
    },
    #[error("ticket lookup for {record} failed: {code} ({reason})")]
    TicketLookup {
        record: String,
        code: String,
        reason: String,
    },
    #[error("cannot find the ticket record name of {path}: {reason}")]
    RecordName { path: PathBuf, reason: String },
    #[error("{what}: refusing {url}: only https is allowed, and plain http only to this machine")]
    InsecureUrl { what: &'static str, url: String },
    #[error("\"{id}\" is not a submission id (a UUID)")]
    SubmissionId { id: String },
}

impl NotaryError {
    /// What to do, in one line, in this crate's terms; a command-line tool
    /// says the same with its own flags.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::ApiKey { .. } => "use the .p8 downloaded from App Store Connect with its issuer and key ids, or the JSON key file of `rcodesign encode-app-store-connect-api-key`".into(),
            Self::MissingKeyIds { .. } => "give the key's issuer id and key id (App Store Connect > Users and Access > Integrations), or use a JSON key file that carries both".into(),
            Self::Unauthorized { .. } => "check that the key id and issuer id belong to this key, that the key is active, and that this machine's clock is right".into(),
            Self::Upload { .. } => "the upload credentials last about an hour; submit again to get a new submission".into(),
            Self::UnsupportedPath { .. } => "notarize and staple a signed .pkg or .app".into(),
            Self::NotAccepted { .. } => "fix the issues listed, rebuild and submit again".into(),
            Self::Timeout { id, .. } => format!("wait on submission {id} again instead of submitting anew"),
            Self::TicketNotFound { .. } => "tickets appear some minutes after acceptance; staple again later".into(),
            Self::RecordName { .. } => "only signed packages and signed app bundles can be stapled".into(),
            Self::InsecureUrl { .. } => "use an https:// URL; plain http:// is for a stand-in on 127.0.0.1".into(),
            Self::SubmissionId { .. } => "a submission id looks like 2efe2717-52ef-43a5-96dc-0797e4ca1041: use the one notarize printed".into(),
            _ => return None,
        })
    }
}
