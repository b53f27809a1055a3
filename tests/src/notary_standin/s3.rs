//! A real S3-compatible server for the upload: `moto` in server mode (PyPI),
//! started on a free loopback port and killed on drop. IAM authentication
//! is switched on once the bucket exists, so moto checks every request's
//! SigV4 signature and session token against temporary credentials it issued
//! (STS AssumeRole on a role that may only put and get submissions).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use notary::s3_upload::{authorization, SigningInput};
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

/// Temporary credentials, as the notary API hands them out.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub credentials: Credentials,
    client: Client,
}

/// Routes an unauthenticated setup request (IAM is off) to a service.
fn setup_auth(service: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=SETUP/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0")
}

fn tag<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"));
    let end = start + xml[start..].find(&format!("</{name}>")).unwrap();
    &xml[start..end]
}

impl S3Server {
    /// Starts `moto_server` ($MOTO_SERVER, else from PATH) with one bucket.
    pub fn start(bucket: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} (pip install 'moto[server]'; .ci/setup-debian does): {e}")
            });
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = Client::new();
        let started = Instant::now();
        while client.get(&endpoint).send().is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("moto_server did not answer on {endpoint} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let call = |service: &str, form: &[(&str, &str)]| -> String {
            let response = client
                .post(&endpoint)
                .header("authorization", setup_auth(service))
                .form(form)
                .send()
                .expect("moto answers");
            let status = response.status();
            let body = response.text().unwrap_or_default();
            assert!(
                status.is_success(),
                "moto {service} {form:?}: {status} {body}"
            );
            body
        };
        let created = client
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .expect("moto answers");
        assert!(created.status().is_success(), "create bucket: {created:?}");
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
        let role = call(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "notary-upload"),
                ("AssumeRolePolicyDocument", trust),
            ],
        );
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        call(
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", "notary-upload"),
                ("PolicyName", "submissions"),
                ("PolicyDocument", &policy),
            ],
        );
        let assumed = call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", tag(&role, "Arn")),
                ("RoleSessionName", "notary-standin"),
            ],
        );
        let credentials = Credentials {
            access_key_id: tag(&assumed, "AccessKeyId").to_string(),
            secret_access_key: tag(&assumed, "SecretAccessKey").to_string(),
            session_token: tag(&assumed, "SessionToken").to_string(),
        };
        // From here on moto checks every request's signature.
        let reset = client
            .post(format!("{endpoint}/moto-api/reset-auth"))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .expect("moto answers");
        assert!(reset.status().is_success(), "reset-auth: {reset:?}");
        Self {
            child,
            endpoint,
            credentials,
            client,
        }
    }

    /// The object's bytes (a signed GET), or `None` when it was never uploaded.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let url: url::Url = format!("{}/{bucket}/{key}", self.endpoint).parse().ok()?;
        let empty = hex::encode(Sha256::digest(b""));
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let headers = [
            ("host", format!("127.0.0.1:{}", url.port()?)),
            ("x-amz-content-sha256", empty.clone()),
            ("x-amz-date", amz_date.clone()),
            (
                "x-amz-security-token",
                self.credentials.session_token.clone(),
            ),
        ];
        let signature = authorization(
            &SigningInput {
                method: "GET",
                path: url.path(),
                headers: &headers,
                payload_sha256: &empty,
                region: "us-west-2",
                service: "s3",
                amz_date: &amz_date,
            },
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
        );
        let mut request = self.client.get(url).header("authorization", signature);
        for (name, value) in headers.iter().skip(1) {
            request = request.header(*name, value);
        }
        let response = request.send().ok()?;
        response
            .status()
            .is_success()
            .then(|| response.bytes().ok().map(|b| b.to_vec()))
            .flatten()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
