//! A local stand-in of the three services notarization talks to, built from
//! Apple's published documentation of the Notary API v2 and of CloudKit's
//! `records/lookup`: the notary API (JWT checked against the test key's
//! public half), a real S3 server for the upload (moto), and the ticket
//! lookup. Submissions stay In Progress for a while, then the upload is
//! fetched back from S3 and judged (`judge.rs`): Accepted with a ticket under
//! the record name derived from the upload, or Invalid with issues.

mod auth;
mod judge;
mod s3;
mod tsa;

pub use tsa::TimeStampAuthority;

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, Server};

pub use s3::S3Server;

use crate::run_ok;

const BUCKET: &str = "notary-submissions-standin";
const TICKET_LOOKUP_PATH: &str =
    "/database/1/com.apple.gk.ticket-delivery/production/public/records/lookup";

/// How the services behave in one test.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// How long a submission stays In Progress.
    pub processing: Duration,
    /// How long after acceptance the ticket is published; `None`: never.
    pub ticket_delay: Option<Duration>,
    /// What the upload credentials point at.
    pub upload: UploadTarget,
}

/// Where submissions are told to upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadTarget {
    /// The bucket, with credentials moto issued.
    Real,
    /// A bucket the credentials may not write to.
    OtherBucket,
    /// The bucket, with a secret that does not match the access key.
    WrongSecret,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            processing: Duration::from_millis(500),
            ticket_delay: Some(Duration::from_millis(500)),
            upload: UploadTarget::Real,
        }
    }
}

/// A throw-away App Store Connect API key, in both file forms.
pub struct TestApiKey {
    _dir: tempfile::TempDir,
    /// The PKCS#8 PEM, as App Store Connect's `AuthKey_<id>.p8`.
    pub p8: PathBuf,
    /// The JSON form `rcodesign encode-app-store-connect-api-key` writes.
    pub json: PathBuf,
    pub public_pem: Vec<u8>,
    pub key_id: String,
    pub issuer_id: String,
    /// The base64 of the private key: tests assert it never shows.
    pub private_base64: String,
}

impl TestApiKey {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_id = "STANDIN42".to_string();
        let issuer_id = "69a6de7e-0000-47e3-e053-5b8c7c11a4d1".to_string();
        let p8 = dir.path().join(format!("AuthKey_{key_id}.p8"));
        let public = dir.path().join("public.pem");
        run_ok(
            "openssl genpkey (P-256)",
            Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                ])
                .arg(&p8),
        );
        run_ok(
            "openssl pkey -pubout",
            Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&p8)
                .arg("-out")
                .arg(&public),
        );
        let pem = std::fs::read_to_string(&p8).unwrap();
        let private_base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let json = dir.path().join("key.json");
        std::fs::write(
            &json,
            json!({"issuer_id": issuer_id, "key_id": key_id, "private_key": private_base64})
                .to_string(),
        )
        .unwrap();
        Self {
            public_pem: std::fs::read(&public).unwrap(),
            _dir: dir,
            p8,
            json,
            key_id,
            issuer_id,
            private_base64,
        }
    }
}

struct Submission {
    name: String,
    sha256: String,
    object: String,
    created: Instant,
    created_date: String,
    /// Set once judged: status and the developer log's issues.
    verdict: Option<(&'static str, Vec<Value>)>,
}

struct State {
    behaviour: Behaviour,
    submissions: HashMap<String, Submission>,
    /// Every accepted token, and how many were refused.
    tokens: HashSet<String>,
    refused: usize,
    /// Record name -> ticket and when it was issued.
    tickets: HashMap<String, (Vec<u8>, Instant)>,
    next_id: u64,
}

pub struct NotaryStandIn {
    pub key: TestApiKey,
    /// Where builds for this notary get their secure timestamps.
    pub tsa: TimeStampAuthority,
    base: String,
    s3: Arc<S3Server>,
    state: Arc<Mutex<State>>,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl NotaryStandIn {
    pub fn start(behaviour: Behaviour) -> Self {
        let key = TestApiKey::generate();
        let check = auth::KeyCheck::new(&key.key_id, &key.issuer_id, &key.public_pem);
        let s3 = Arc::new(S3Server::start(BUCKET));
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            behaviour,
            submissions: HashMap::new(),
            tokens: HashSet::new(),
            refused: 0,
            tickets: HashMap::new(),
            next_id: 1,
        }));
        let thread = {
            let (server, state, s3, base) =
                (server.clone(), state.clone(), s3.clone(), base.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(request, &state, &check, &s3, &base);
                }
            })
        };
        Self {
            key,
            tsa: TimeStampAuthority::start(),
            base,
            s3,
            state,
            server,
            thread: Some(thread),
        }
    }

    pub fn notary_url(&self) -> String {
        format!("{}/notary/v2", self.base)
    }

    pub fn ticket_lookup_url(&self) -> String {
        format!("{}{TICKET_LOOKUP_PATH}", self.base)
    }

    /// Points an `installer-tool` command at the stand-in, with the JSON key,
    /// and its signatures at the stand-in's time-stamp authority.
    pub fn configure<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env("INSTALLER_TOOL_TIMESTAMP_URL", self.tsa.url())
            .env("INSTALLER_TOOL_NOTARY_URL", self.notary_url())
            .env("INSTALLER_TOOL_S3_ENDPOINT", &self.s3.endpoint)
            .env("INSTALLER_TOOL_TICKET_LOOKUP_URL", self.ticket_lookup_url())
            .env("INSTALLER_TOOL_API_KEY", &self.key.json)
            .env_remove("INSTALLER_TOOL_API_ISSUER")
            .env_remove("INSTALLER_TOOL_API_KEY_ID")
            .env_remove("INSTALLER_TOOL_NOTARY_TOKEN_LIFETIME")
    }

    /// The upload secret handed out (tests assert it never shows).
    pub fn s3_secret(&self) -> String {
        self.s3.credentials.secret_access_key.clone()
    }

    /// Distinct tokens accepted, and requests refused for their token.
    pub fn tokens(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.tokens.len(), state.refused)
    }

    /// The ticket issued under `record`, if any.
    pub fn ticket(&self, record: &str) -> Option<Vec<u8>> {
        let state = self.state.lock().unwrap();
        state.tickets.get(record).map(|(ticket, _)| ticket.clone())
    }

    /// Record names of every ticket issued.
    pub fn records(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut records: Vec<_> = state.tickets.keys().cloned().collect();
        records.sort();
        records
    }

    /// Checks a bearer token as the API does (for tests of the check itself).
    pub fn status_with_token(&self, token: &str) -> u16 {
        reqwest::blocking::Client::new()
            .get(format!("{}/submissions/none", self.notary_url()))
            .bearer_auth(token)
            .send()
            .expect("the stand-in answers")
            .status()
            .as_u16()
    }
}

impl Drop for NotaryStandIn {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn respond(request: Request, status: u16, body: &Value) {
    let response = Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", "application/json").unwrap());
    let _ = request.respond(response);
}

/// A JSON:API error body as App Store Connect writes them.
fn api_error(status: u16, code: &str, title: &str, detail: &str) -> Value {
    json!({"errors": [{"status": status.to_string(), "code": code, "title": title, "detail": detail}]})
}

fn not_found(request: Request, detail: &str) {
    respond(
        request,
        404,
        &api_error(
            404,
            "NOT_FOUND",
            "The specified resource does not exist",
            detail,
        ),
    );
}

fn handle(
    mut request: Request,
    state: &Mutex<State>,
    check: &auth::KeyCheck,
    s3: &S3Server,
    base: &str,
) {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let method = request.method().clone();
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);

    if method == Method::Post && path == TICKET_LOOKUP_PATH {
        let answer = lookup(&state.lock().unwrap(), &body);
        return respond(request, 200, &answer);
    }
    if method == Method::Get {
        if let Some(id) = path.strip_prefix("/logs/") {
            let state = state.lock().unwrap();
            return match state
                .submissions
                .get(id)
                .and_then(|s| Some((s, s.verdict.as_ref()?)))
            {
                Some((submission, (status, issues))) => respond(
                    request,
                    200,
                    &json!({
                        "logFormatVersion": 1,
                        "jobId": id,
                        "status": status,
                        "archiveFilename": submission.name,
                        "sha256": submission.sha256,
                        "issues": if issues.is_empty() { Value::Null } else { json!(issues) },
                    }),
                ),
                None => respond(request, 404, &json!({"message": "no log yet"})),
            };
        }
    }
    let Some(route) = path.strip_prefix("/notary/v2/submissions") else {
        return respond(
            request,
            404,
            &api_error(404, "NOT_FOUND", "The requested URL was not found", &path),
        );
    };
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let token = match check.check(authorization.as_deref()) {
        Ok(token) => token,
        Err(why) => {
            state.lock().unwrap().refused += 1;
            return respond(
                request,
                401,
                &api_error(
                    401,
                    "NOT_AUTHORIZED",
                    "Authentication credentials are missing or invalid.",
                    &format!("Provide a properly configured and signed bearer token, and make sure that it has not expired. ({why})"),
                ),
            );
        }
    };
    let mut state = state.lock().unwrap();
    state.tokens.insert(token);
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (Method::Post, []) => {
            let Ok(new) = serde_json::from_slice::<Value>(&body) else {
                return respond(
                    request,
                    400,
                    &api_error(400, "PARAMETER_ERROR.INVALID", "Invalid body", "not JSON"),
                );
            };
            let (Some(name), Some(sha256)) =
                (new["submissionName"].as_str(), new["sha256"].as_str())
            else {
                return respond(
                    request,
                    400,
                    &api_error(
                        400,
                        "PARAMETER_ERROR.REQUIRED",
                        "Missing field",
                        "submissionName and sha256 are required",
                    ),
                );
            };
            let serial = state.next_id;
            state.next_id += 1;
            let id = format!("2efe2717-52ef-43a5-96dc-{serial:012x}");
            let object = format!("prod/{}/{id}", s3.credentials.access_key_id);
            let credentials = &s3.credentials;
            let secret = credentials.secret_access_key.clone();
            let (bucket, secret) = match state.behaviour.upload {
                UploadTarget::Real => (BUCKET, secret),
                UploadTarget::OtherBucket => ("someone-elses-bucket", secret),
                UploadTarget::WrongSecret => (BUCKET, format!("{secret}x")),
            };
            state.submissions.insert(
                id.clone(),
                Submission {
                    name: name.to_string(),
                    sha256: sha256.to_string(),
                    object: object.clone(),
                    created: Instant::now(),
                    created_date: "2026-11-28T10:00:00.000Z".to_string(),
                    verdict: None,
                },
            );
            respond(
                request,
                200,
                &json!({
                    "data": {
                        "type": "newSubmissions",
                        "id": id,
                        "attributes": {
                            "awsAccessKeyId": credentials.access_key_id,
                            "awsSecretAccessKey": secret,
                            "awsSessionToken": credentials.session_token,
                            "bucket": bucket,
                            "object": object,
                        }
                    },
                    "meta": {}
                }),
            )
        }
        (Method::Get, [id]) => {
            let id = id.to_string();
            let processing = state.behaviour.processing;
            let State {
                submissions,
                tickets,
                ..
            } = &mut *state;
            let Some(submission) = submissions.get_mut(&id) else {
                return not_found(
                    request,
                    &format!("There is no resource of type 'submissions' with id '{id}'"),
                );
            };
            if submission.verdict.is_none() && submission.created.elapsed() >= processing {
                submission.verdict = Some(decide(submission, s3, tickets));
            }
            let status = submission
                .verdict
                .as_ref()
                .map_or("In Progress", |(status, _)| status);
            respond(
                request,
                200,
                &json!({
                    "data": {
                        "type": "submissions",
                        "id": id,
                        "attributes": {"status": status, "name": submission.name, "createdDate": submission.created_date}
                    },
                    "meta": {}
                }),
            )
        }
        (Method::Get, [id, "logs"]) => {
            let id = id.to_string();
            if state
                .submissions
                .get(&id)
                .is_none_or(|s| s.verdict.is_none())
            {
                return not_found(request, "The log is not available yet");
            }
            respond(
                request,
                200,
                &json!({
                    "data": {
                        "type": "submissionsLog",
                        "id": id,
                        "attributes": {"developerLogUrl": format!("{base}/logs/{id}?X-Amz-Signature=standin")}
                    },
                    "meta": {}
                }),
            )
        }
        _ => respond(
            request,
            405,
            &api_error(405, "METHOD_NOT_ALLOWED", "Not allowed", &path),
        ),
    }
}

/// Fetches the upload back from S3 and judges it; issues the ticket of an
/// accepted one.
fn decide(
    submission: &Submission,
    s3: &S3Server,
    tickets: &mut HashMap<String, (Vec<u8>, Instant)>,
) -> (&'static str, Vec<Value>) {
    let Some(data) = s3.object(BUCKET, &submission.object) else {
        return (
            "Invalid",
            vec![
                json!({"severity": "error", "path": submission.name, "message": "No upload was received for this submission.", "architecture": null}),
            ],
        );
    };
    if hex::encode(Sha256::digest(&data)) != submission.sha256 {
        return (
            "Invalid",
            vec![
                json!({"severity": "error", "path": submission.name, "message": "The uploaded file does not match the submitted sha256.", "architecture": null}),
            ],
        );
    }
    let verdict = judge::judge(&submission.name, &data);
    match verdict.record {
        Some(record) if verdict.issues.is_empty() => {
            // Not Apple-signed, obviously: a recognisable body tied to the record.
            let mut ticket = b"s8ch".to_vec();
            ticket.extend_from_slice(record.as_bytes());
            ticket.extend_from_slice(&Sha256::digest(&data));
            tickets.insert(record, (ticket, Instant::now()));
            ("Accepted", Vec::new())
        }
        _ => ("Invalid", verdict.issues),
    }
}

/// CloudKit's `records/lookup`: a ticket once published, NOT_FOUND before.
fn lookup(state: &State, body: &[u8]) -> Value {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let records: Vec<Value> = request["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["recordName"].as_str())
        .map(|name| {
            let published = state.tickets.get(name).filter(|(_, issued)| {
                state
                    .behaviour
                    .ticket_delay
                    .is_some_and(|delay| issued.elapsed() >= delay)
            });
            match published {
                Some((ticket, _)) => {
                    let event = json!({"timestamp": 1_764_324_000_000u64, "userRecordName": "_standin", "deviceID": "2"});
                    json!({
                        "recordName": name,
                        "recordType": "DeveloperIDTicket",
                        "fields": {"signedTicket": {"value": STANDARD.encode(ticket), "type": "BYTES"}},
                        "pluginFields": {},
                        "recordChangeTag": "standin",
                        "created": event,
                        "modified": event,
                        "deleted": false
                    })
                }
                None => json!({"recordName": name, "reason": "Record not found", "serverErrorCode": "NOT_FOUND"}),
            }
        })
        .collect();
    json!({"records": records})
}
