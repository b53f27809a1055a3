//! The upload of a submission to the S3 object the notary service names,
//! with its temporary credentials. AWS Signature Version 4 is written here
//! (a few HMACs over a canonical request) rather than pulling in the AWS SDK,
//! which is most of what `apple-codesign`'s `notarize` feature weighs.

use std::{
    fs::File,
    io::Read,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use app_store_connect::notary_api::NewSubmissionResponseDataAttributes;
use hmac::{Hmac, Mac};
use reqwest::blocking::{Body, Client};
use sha2::{Digest, Sha256};

use crate::NotaryProgress;
use crate::{
    service::error_detail,
    transport::{read_answer, upload_timeout},
    Endpoints, NotaryError,
};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes a URI path as S3 wants it: everything but unreserved
/// characters and `/`.
fn uri_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// One request to sign: headers are lowercase names with trimmed values.
pub struct SigningInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, String)],
    pub payload_sha256: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`, the `x-amz-date` header's value.
    pub amz_date: &'a str,
}

/// The `Authorization` header of a SigV4-signed request (no query string).
pub fn authorization(input: &SigningInput<'_>, access_key_id: &str, secret: &str) -> String {
    let mut headers: Vec<_> = input.headers.iter().collect();
    headers.sort_by_key(|(name, _)| *name);
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        input.method,
        uri_encode_path(input.path),
        input.payload_sha256
    );
    let date = &input.amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", input.region, input.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        input.amz_date,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date);
    for part in [input.region, input.service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &string_to_sign));
    format!("AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}")
}

/// Counts the bytes the HTTP client has read. The body must be `'static`
/// (the client reads it on its own thread), so progress is sampled from the
/// counter rather than reported from here.
struct CountingReader<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// PUTs the file to the submission's object, signed with its credentials.
pub fn upload(
    client: &Client,
    endpoints: &Endpoints,
    target: &NewSubmissionResponseDataAttributes,
    path: &Path,
    sha256: &str,
    request_timeout: Duration,
    progress: &dyn NotaryProgress,
) -> Result<(), NotaryError> {
    let read_error = |source| NotaryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    // The bucket becomes part of a host name: a hostile answer must not
    // turn `{bucket}.s3...` into another host.
    if !is_bucket_name(&target.bucket) {
        return Err(NotaryError::Protocol {
            what: "uploading the submission",
            url: "the submission's S3 object".into(),
            reason: "the bucket name is not an S3 bucket name".into(),
        });
    }
    let key = target.object.trim_start_matches('/');
    let (url, object_path) = match &endpoints.s3 {
        Some(endpoint) => {
            let base = endpoint.as_str().trim_end_matches('/');
            let object_path = format!(
                "{}/{}/{key}",
                endpoint.path().trim_end_matches('/'),
                target.bucket
            );
            let url = format!("{base}/{}/{}", target.bucket, uri_encode_path(key));
            (url, object_path)
        }
        None => (
            format!(
                "https://{}.s3.{}.amazonaws.com/{}",
                target.bucket,
                endpoints.s3_region,
                uri_encode_path(key)
            ),
            format!("/{key}"),
        ),
    };
    let parsed: url::Url = url
        .parse()
        .map_err(|e: url::ParseError| NotaryError::Protocol {
            what: "uploading the submission",
            url: url.clone(),
            reason: format!("the bucket or object name makes an invalid URL ({e})"),
        })?;
    let host = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let headers = [
        ("host", host),
        ("x-amz-content-sha256", sha256.to_string()),
        ("x-amz-date", amz_date.clone()),
        ("x-amz-security-token", target.aws_session_token.clone()),
    ];
    let authorization = authorization(
        &SigningInput {
            method: "PUT",
            path: &object_path,
            headers: &headers,
            payload_sha256: sha256,
            region: &endpoints.s3_region,
            service: "s3",
            amz_date: &amz_date,
        },
        &target.aws_access_key_id,
        &target.aws_secret_access_key,
    );
    let mut request = client
        .put(parsed)
        .timeout(upload_timeout(size, request_timeout))
        .header("authorization", authorization);
    for (name, value) in headers.iter().skip(1) {
        request = request.header(*name, value);
    }
    let read = Arc::new(AtomicU64::new(0));
    let body = Body::sized(
        CountingReader {
            inner: file,
            read: read.clone(),
        },
        size,
    );
    progress.begin("upload", Some(size));
    let done = AtomicBool::new(false);
    let sent = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut reported = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = read.load(Ordering::Relaxed);
                progress.advance(now - reported);
                reported = now;
            }
        });
        let sent = request.body(body).send();
        done.store(true, Ordering::Relaxed);
        sent
    });
    progress.end();
    let response = sent.map_err(|source| NotaryError::Unreachable {
        what: "uploading the submission",
        url: url.clone(),
        source: source.without_url(),
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = read_answer("uploading the submission", &url, response)?;
        return Err(NotaryError::Upload {
            path: path.to_path_buf(),
            status: status.as_u16(),
            detail: s3_error_detail(&body),
        });
    }
    Ok(())
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and
/// hyphens.
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// `Code: Message` of an S3 XML error body.
fn s3_error_detail(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => error_detail(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "GET Object" example of AWS's SigV4 documentation for S3
    /// (header-based authentication), with its published signature.
    #[test]
    fn signs_the_documented_example() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com".to_string()),
            ("range", "bytes=0-9".to_string()),
            ("x-amz-content-sha256", empty.to_string()),
            ("x-amz-date", "20130524T000000Z".to_string()),
        ];
        let header = authorization(
            &SigningInput {
                method: "GET",
                path: "/test.txt",
                headers: &headers,
                payload_sha256: empty,
                region: "us-east-1",
                service: "s3",
                amz_date: "20130524T000000Z",
            },
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        assert_eq!(
            header,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn object_names_are_encoded_but_slashes_kept() {
        assert_eq!(uri_encode_path("/b/a b+c/ü"), "/b/a%20b%2Bc/%C3%BC");
    }

    #[test]
    fn s3_errors_read_as_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(
            s3_error_detail(body),
            "NoSuchBucket: The specified bucket does not exist"
        );
    }
}
