//! What this client accepts from the servers it talks to. The notary
//! service, the S3 bucket and the ticket lookup are Apple's, but the URLs
//! they hand back (a log, an upload target) and any endpoint given on the
//! command line are taken as untrusted: https only (plain http to this
//! machine alone, for stand-ins), every request bounded in time, every
//! answer bounded in size, and an id checked before it goes into a URL.
//! A hostile or broken server gets a clear error, never a hang, a memory
//! blow-up or a request somewhere it should not go.

use std::{io::Read, net::IpAddr, time::Duration};

use reqwest::{blocking::Client, blocking::Response, redirect};

use crate::NotaryError;

/// How long one request may take, connection included, unless the caller
/// says otherwise ([`crate::NotarizeOptions::request_timeout`]).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest upload tolerated, in bytes per second: a 300 MB package may
/// take 80 minutes before it is given up.
const SLOWEST_UPLOAD: u64 = 64 * 1024;
/// The largest answer read. A JSON answer is a few KB; a developer log
/// listing thousands of issues is a few MB.
pub const MAX_ANSWER_BYTES: u64 = 8 << 20;

/// The HTTP client every request goes through: each request ends after
/// `timeout`, and redirects are followed only to URLs [`check_url`] allows.
pub fn http_client(timeout: Duration) -> Client {
    Client::builder()
        .user_agent(concat!("installer-tool/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .timeout(timeout)
        .redirect(redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if is_allowed(attempt.url()) {
                attempt.follow()
            } else {
                attempt.error("a redirect to a URL that is neither https nor loopback")
            }
        }))
        .build()
        .expect("the TLS backend initialises")
}

/// How long the upload of `size` bytes may take.
pub fn upload_timeout(size: u64, timeout: Duration) -> Duration {
    timeout + Duration::from_secs(size / SLOWEST_UPLOAD)
}

fn is_allowed(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::from(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::from(ip).is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Refuses `url` unless it is https, or http to this machine. `what` says
/// whose URL it is; the URL itself is shown only when `shown` (a pre-signed
/// URL is a credential).
pub fn check_url(what: &'static str, url: &url::Url, shown: bool) -> Result<(), NotaryError> {
    if is_allowed(url) {
        return Ok(());
    }
    Err(NotaryError::InsecureUrl {
        what,
        url: if shown {
            url.to_string()
        } else {
            format!("a {}:// URL", url.scheme())
        },
    })
}

/// Reads an answer's body, refusing one larger than [`MAX_ANSWER_BYTES`].
pub fn read_answer(
    what: &'static str,
    url: &str,
    response: Response,
) -> Result<String, NotaryError> {
    let mut body = Vec::new();
    response
        .take(MAX_ANSWER_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| NotaryError::Protocol {
            what,
            url: url.to_string(),
            reason: format!("reading the answer failed: {e}"),
        })?;
    if body.len() as u64 > MAX_ANSWER_BYTES {
        return Err(NotaryError::Protocol {
            what,
            url: url.to_string(),
            reason: format!(
                "the answer is larger than {} MB, far more than any real one",
                MAX_ANSWER_BYTES >> 20
            ),
        });
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A submission id goes into URL paths, so it must be what Apple issues: a
/// UUID (8-4-4-4-12 hex digits), and nothing that could change the path.
pub fn check_submission_id(id: &str) -> Result<(), NotaryError> {
    let groups: Vec<&str> = id.split('-').collect();
    let well_formed = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()));
    if well_formed {
        Ok(())
    } else {
        Err(NotaryError::SubmissionId {
            id: id
                .chars()
                .take(64)
                .collect::<String>()
                .escape_debug()
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        for allowed in [
            "https://appstoreconnect.apple.com/notary/v2",
            "http://127.0.0.1:8080/notary",
            "http://127.9.9.9/",
            "http://localhost:1/",
            "http://[::1]:9/",
        ] {
            assert!(
                check_url("test", &allowed.parse().unwrap(), true).is_ok(),
                "{allowed}"
            );
        }
        for refused in [
            "http://appstoreconnect.apple.com/notary/v2",
            "http://192.168.1.1/",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
        ] {
            let e = check_url("test", &refused.parse().unwrap(), true).unwrap_err();
            assert!(e.to_string().contains(refused.trim_end_matches('/')), "{e}");
        }
        let hidden = check_url(
            "the developer log",
            &"http://evil.test/signed?X-Amz-Signature=s3cr3t"
                .parse()
                .unwrap(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            !hidden.contains("s3cr3t") && hidden.contains("http://"),
            "{hidden}"
        );
    }

    #[test]
    fn submission_ids_are_uuids() {
        assert!(check_submission_id("2efe2717-52ef-43a5-96dc-0797e4ca1041").is_ok());
        for bad in [
            "",
            "../../submissions",
            "2efe2717-52ef-43a5-96dc-0797e4ca1041/logs",
            "2efe2717-52ef-43a5-96dc-0797e4ca104",
            "2efe2717_52ef_43a5_96dc_0797e4ca1041",
            "2efe2717-52ef-43a5-96dc-0797e4ca104g",
        ] {
            assert!(check_submission_id(bad).is_err(), "{bad}");
        }
        let shown = check_submission_id(&format!("x\n{}", "y".repeat(500)))
            .unwrap_err()
            .to_string();
        assert!(shown.len() < 300 && !shown.contains('\n'), "{shown}");
    }

    #[test]
    fn uploads_get_time_by_size() {
        assert_eq!(upload_timeout(0, REQUEST_TIMEOUT), REQUEST_TIMEOUT);
        assert_eq!(
            upload_timeout(300 << 20, REQUEST_TIMEOUT),
            REQUEST_TIMEOUT + Duration::from_secs(4800)
        );
    }
}
