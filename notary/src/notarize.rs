//! The whole sequence: submit (or resume), wait with backoff, read the log,
//! staple. Each failure is one [`NotaryError`] that says what to do next.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use app_store_connect::notary_api::SubmissionResponseStatus;
use serde::Serialize;

use crate::{
    api_key::TokenSource,
    bundle_zip, developer_log,
    developer_log::Issue,
    s3_upload,
    service::NotaryService,
    staple::{self, LookupPatience, Stapleable},
    transport::{check_submission_id, http_client, REQUEST_TIMEOUT},
    Endpoints, NotaryError,
};
use crate::{file_digest::sha256_file, NotaryProgress};

#[derive(Clone, Debug)]
pub struct NotarizeOptions {
    pub endpoints: Endpoints,
    /// Wait on this earlier submission instead of submitting.
    pub submission_id: Option<String>,
    /// How long to wait for a verdict.
    pub wait_timeout: Duration,
    /// Staple the ticket once accepted.
    pub staple: bool,
    pub ticket: LookupPatience,
    /// How long one request may take (an upload gets more, by its size).
    pub request_timeout: Duration,
}

impl Default for NotarizeOptions {
    fn default() -> Self {
        Self {
            endpoints: Endpoints::default(),
            submission_id: None,
            wait_timeout: Duration::from_secs(3600),
            staple: true,
            ticket: LookupPatience::default(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// What `notarize --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct NotarizeReport {
    pub schema_version: u32,
    pub path: PathBuf,
    /// `pkg` or `app`.
    pub kind: &'static str,
    pub submission_id: String,
    /// As the service says it: `Accepted`, `Invalid`, `Rejected`, `In Progress`.
    pub status: String,
    pub issues: Vec<Issue>,
    /// The ticket's record name, once stapled.
    pub ticket_record: Option<String>,
    pub stapled: bool,
    pub wait_ms: u64,
}

impl NotarizeReport {
    pub const SCHEMA_VERSION: u32 = 1;
}

/// The status as the API spells it (the crate's `Display` is for prose).
pub fn status_name(status: SubmissionResponseStatus) -> &'static str {
    match status {
        SubmissionResponseStatus::Accepted => "Accepted",
        SubmissionResponseStatus::InProgress => "In Progress",
        SubmissionResponseStatus::Invalid => "Invalid",
        SubmissionResponseStatus::Rejected => "Rejected",
        SubmissionResponseStatus::Unknown => "Unknown",
    }
}

/// Creates the submission and uploads `target` (an app as a zip).
fn submit(
    service: &NotaryService<'_>,
    endpoints: &Endpoints,
    target: &Stapleable,
    request_timeout: Duration,
    progress: &dyn NotaryProgress,
) -> Result<String, NotaryError> {
    let zipped;
    let upload_path = match target {
        Stapleable::Package(path) => path.clone(),
        Stapleable::Bundle(path) => {
            zipped = tempfile::tempdir().map_err(|source| NotaryError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let zip = zipped.path().join(format!("{stem}.zip"));
            progress.begin("zip app", None);
            let zipped = bundle_zip::zip_bundle(path, &zip);
            progress.end();
            zipped?;
            zip
        }
    };
    let (_, sha256) = sha256_file(&upload_path).map_err(|source| NotaryError::Read {
        path: upload_path.clone(),
        source,
    })?;
    let name = upload_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let created = service.create_submission(&name, &sha256)?;
    let id = created.data.id;
    check_submission_id(&id)?;
    tracing::info!("submission {id} created for {name}");
    s3_upload::upload(
        service.client,
        endpoints,
        &created.data.attributes,
        &upload_path,
        &sha256,
        request_timeout,
        progress,
    )?;
    Ok(id)
}

/// Polls until the submission leaves In Progress or `timeout` passes.
fn wait(
    service: &NotaryService<'_>,
    id: &str,
    timeout: Duration,
    path: &Path,
    progress: &dyn NotaryProgress,
) -> Result<SubmissionResponseStatus, NotaryError> {
    let started = Instant::now();
    let mut delay = Duration::from_secs(2);
    progress.begin("notarize", None);
    let outcome = loop {
        let status = match service.submission(id) {
            Ok(response) => response.data.attributes.status,
            Err(error) => break Err(error),
        };
        if status != SubmissionResponseStatus::InProgress {
            break Ok(status);
        }
        let waited = started.elapsed();
        if waited >= timeout {
            break Err(NotaryError::Timeout {
                id: id.to_string(),
                status: status_name(status).to_string(),
                waited,
                path: path.to_path_buf(),
            });
        }
        progress.status(&format!("submission {id}: {}", status_name(status)));
        std::thread::sleep(delay.min(timeout - waited));
        delay = (delay * 3 / 2).min(Duration::from_secs(30));
    };
    progress.end();
    outcome
}

/// Notarizes the pkg or app at `path` and, when asked, staples its ticket.
pub fn notarize(
    path: &Path,
    tokens: &TokenSource,
    options: &NotarizeOptions,
    progress: &dyn NotaryProgress,
) -> Result<NotarizeReport, NotaryError> {
    let target = Stapleable::from_path(path)?;
    options.endpoints.check()?;
    let client = http_client(options.request_timeout);
    let service = NotaryService {
        client: &client,
        base: &options.endpoints.notary,
        tokens,
    };
    let id = match &options.submission_id {
        Some(id) => {
            check_submission_id(id)?;
            id.clone()
        }
        None => submit(
            &service,
            &options.endpoints,
            &target,
            options.request_timeout,
            progress,
        )?,
    };
    let started = Instant::now();
    let status = wait(&service, &id, options.wait_timeout, path, progress)?;
    let wait_ms = started.elapsed().as_millis() as u64;
    // The log explains a refusal; on acceptance it may still list warnings.
    let log = service.developer_log(&id);
    let issues = match (&log, status) {
        (Ok(log), _) => developer_log::issues(log),
        (Err(_), SubmissionResponseStatus::Accepted) => Vec::new(),
        (Err(_), _) => return Err(log.expect_err("matched an error")),
    };
    if status != SubmissionResponseStatus::Accepted {
        return Err(NotaryError::NotAccepted {
            id,
            status: status_name(status).to_string(),
            issues,
        });
    }
    let mut report = NotarizeReport {
        schema_version: NotarizeReport::SCHEMA_VERSION,
        path: path.to_path_buf(),
        kind: match target {
            Stapleable::Package(_) => "pkg",
            Stapleable::Bundle(_) => "app",
        },
        submission_id: id,
        status: status_name(status).to_string(),
        issues,
        ticket_record: None,
        stapled: false,
        wait_ms,
    };
    if options.staple {
        report.ticket_record = Some(staple_target(&client, &target, options, progress)?);
        report.stapled = true;
    }
    Ok(report)
}

fn staple_target(
    client: &reqwest::blocking::Client,
    target: &Stapleable,
    options: &NotarizeOptions,
    progress: &dyn NotaryProgress,
) -> Result<String, NotaryError> {
    progress.begin("staple", None);
    let found = staple::lookup_ticket(
        client,
        &options.endpoints.ticket_lookup,
        target,
        options.ticket,
        progress,
    );
    progress.end();
    let (record, ticket) = found?;
    staple::write_ticket(target, &ticket)?;
    Ok(record)
}

/// What `staple --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct StapleReport {
    pub schema_version: u32,
    pub path: PathBuf,
    pub ticket_record: String,
}

/// Staples an already accepted pkg or app.
pub fn staple(
    path: &Path,
    options: &NotarizeOptions,
    progress: &dyn NotaryProgress,
) -> Result<StapleReport, NotaryError> {
    let target = Stapleable::from_path(path)?;
    options.endpoints.check()?;
    let record = staple_target(
        &http_client(options.request_timeout),
        &target,
        options,
        progress,
    )?;
    Ok(StapleReport {
        schema_version: NotarizeReport::SCHEMA_VERSION,
        path: path.to_path_buf(),
        ticket_record: record,
    })
}
