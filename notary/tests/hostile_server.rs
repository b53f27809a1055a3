//! The notary client against a server that lies, stalls or floods: each
//! answer is one a compromised proxy or a broken stand-in could give. The
//! client must end with a clear error, in bounded time, and send nothing
//! where it should not.

use std::{
    io::Cursor,
    net::TcpListener,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use notary::{
    api_key::{ApiKeySource, TokenSource, MAX_TOKEN_LIFETIME},
    notarize, Endpoints, NotarizeOptions, NotaryError, NotaryProgress,
};
use serde_json::{json, Value};
use tiny_http::{Header, Response, Server};

// A throwaway P-256 key (PKCS#8), generated for these tests only.
const TEST_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8TH7UPWRgVK/pE/f
zZ45quyYJgZ1aPfCx6hBPqwhK8yhRANCAAQzT6RQX1F/D0loB7lCcGE39V0tCKse
1YY2cUwXOYTasM38NoEAJn5lqzEIFJ9yspB8f0zkBh3C7jJFbUbvZMSD
-----END PRIVATE KEY-----
";
const SUBMISSION: &str = "2efe2717-52ef-43a5-96dc-0797e4ca1041";

struct Silent;
impl NotaryProgress for Silent {
    fn begin(&self, _: &'static str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What the hostile server answers to one request (method, path).
type Script = dyn Fn(&str, &str) -> Response<Cursor<Vec<u8>>> + Send + Sync;

/// A server on loopback answering by `script`, recording what it was asked.
struct Hostile {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn start(
        script: impl Fn(&str, &str) -> Response<Cursor<Vec<u8>>> + Send + Sync + 'static,
    ) -> Self {
        let server = Server::http("127.0.0.1:0").unwrap();
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen = Arc::clone(&asked);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let (method, path) = (request.method().to_string(), request.url().to_string());
                seen.lock().unwrap().push(format!("{method} {path}"));
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let _ = request.respond(script(&method, &path));
            }
        });
        Self { base, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn options(&self) -> NotarizeOptions {
        NotarizeOptions {
            endpoints: Endpoints {
                notary: format!("{}/notary/v2", self.base).parse().unwrap(),
                s3: Some(format!("{}/s3", self.base).parse().unwrap()),
                s3_region: "us-west-2".into(),
                ticket_lookup: format!("{}/lookup", self.base).parse().unwrap(),
            },
            request_timeout: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(10),
            ..NotarizeOptions::default()
        }
    }
}

fn json_response(value: Value) -> Response<Cursor<Vec<u8>>> {
    Response::from_data(value.to_string().into_bytes())
        .with_header("Content-Type: application/json".parse::<Header>().unwrap())
}

fn created(id: &str, bucket: &str) -> Response<Cursor<Vec<u8>>> {
    json_response(json!({
        "data": {"type": "newSubmissions", "id": id, "attributes": {
            "awsAccessKeyId": "AKIA", "awsSecretAccessKey": "secret", "awsSessionToken": "token",
            "bucket": bucket, "object": "upload/DemoVPN.pkg"}},
        "meta": {}
    }))
}

fn invalid_with_log_at(url: &str, path: &str) -> Response<Cursor<Vec<u8>>> {
    if path.ends_with("/logs") {
        json_response(json!({
            "data": {"type": "submissionsLog", "id": SUBMISSION, "attributes": {"developerLogUrl": url}},
            "meta": {}
        }))
    } else {
        json_response(json!({
            "data": {"type": "submissions", "id": SUBMISSION, "attributes": {
                "status": "Invalid", "name": "DemoVPN.pkg", "createdDate": "2026-11-30T12:00:00.000Z"}},
            "meta": {}
        }))
    }
}

/// A key, and a file that passes for a flat package (its magic).
fn inputs(dir: &Path) -> (TokenSource, PathBuf) {
    let p8 = dir.join("AuthKey.p8");
    std::fs::write(&p8, TEST_P8).unwrap();
    let tokens = TokenSource::load(
        &ApiKeySource {
            path: p8,
            issuer_id: Some("issuer".into()),
            key_id: Some("KEY123".into()),
        },
        MAX_TOKEN_LIFETIME,
    )
    .unwrap();
    let pkg = dir.join("DemoVPN.pkg");
    std::fs::write(&pkg, b"xar!not really a package").unwrap();
    (tokens, pkg)
}

fn notarize_against(options: &NotarizeOptions) -> NotaryError {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, pkg) = inputs(dir.path());
    notarize(&pkg, &tokens, options, &Silent).expect_err("a hostile server cannot succeed")
}

/// The whole chain of an error, as a person would read it.
fn chain(e: &NotaryError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

#[test]
fn a_submission_id_that_is_not_a_uuid_goes_into_no_url() {
    let server = Hostile::start(|_, _| created("../../../admin", "bucket"));
    let e = notarize_against(&server.options());
    assert!(matches!(e, NotaryError::SubmissionId { .. }), "{e}");
    assert_eq!(server.asked(), ["POST /notary/v2/submissions"]);
}

#[test]
fn a_bucket_that_would_change_the_upload_host_is_refused() {
    let server = Hostile::start(|_, _| created(SUBMISSION, "evil.test/x?"));
    let mut options = server.options();
    // AWS addressing puts the bucket in the host name.
    options.endpoints.s3 = None;
    let e = notarize_against(&options);
    assert!(chain(&e).contains("not an S3 bucket name"), "{e}");
}

#[test]
fn an_endless_answer_is_cut_off() {
    let server = Hostile::start(|_, _| Response::from_data(vec![b'['; 64 << 20]));
    let e = notarize_against(&server.options());
    assert!(chain(&e).contains("larger than 8 MB"), "{}", chain(&e));
}

#[test]
fn a_server_that_never_answers_is_given_up_on() {
    // Accepts connections (the kernel does, into the backlog) and never
    // reads or writes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = Hostile {
        base,
        asked: Arc::default(),
    }
    .options();
    options.request_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let e = notarize_against(&options);
    assert!(matches!(e, NotaryError::Unreachable { .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up after {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn a_plain_http_log_url_is_refused_unfetched_and_unshown() {
    let server = Hostile::start(|method, path| match (method, path) {
        ("POST", _) => created(SUBMISSION, "bucket"),
        ("PUT", _) => Response::from_data(Vec::new()),
        (_, path) => invalid_with_log_at("http://192.0.2.1/log?X-Amz-Signature=s3cr3t", path),
    });
    let e = notarize_against(&server.options());
    let message = chain(&e);
    assert!(matches!(e, NotaryError::InsecureUrl { .. }), "{message}");
    assert!(
        !message.contains("s3cr3t") && !message.contains("192.0.2.1"),
        "{message}"
    );
}

#[test]
fn a_redirect_off_https_is_not_followed() {
    let server = Hostile::start(|_, _| {
        Response::from_data(Vec::new())
            .with_status_code(302)
            .with_header(
                "Location: http://192.0.2.1/notary/v2/submissions"
                    .parse::<Header>()
                    .unwrap(),
            )
    });
    let e = notarize_against(&server.options());
    assert!(
        chain(&e).contains("neither https nor loopback"),
        "{}",
        chain(&e)
    );
    assert_eq!(server.asked().len(), 1);
}

#[test]
fn endpoints_off_https_are_refused_before_any_request() {
    let mut options = NotarizeOptions::default();
    options.endpoints.notary = "http://192.0.2.1/notary/v2".parse().unwrap();
    let started = Instant::now();
    let e = notarize_against(&options);
    assert!(matches!(e, NotaryError::InsecureUrl { .. }), "{e}");
    assert!(e.to_string().contains("http://192.0.2.1/notary/v2"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(e.help().unwrap().contains("https://"));
}

#[test]
fn a_given_submission_id_is_checked_too() {
    let options = NotarizeOptions {
        submission_id: Some("x/../../y".into()),
        ..NotarizeOptions::default()
    };
    let e = notarize_against(&options);
    assert!(matches!(e, NotaryError::SubmissionId { .. }), "{e}");
}
