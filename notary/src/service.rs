//! The Notary API v2 endpoints: create a submission, read its status, fetch
//! its developer log. Every request carries a fresh-enough token; a 401 is
//! retried once with a new token (a clock jump can expire a cached one)
//! before it is reported.

use app_store_connect::notary_api::{
    NewSubmissionRequest, NewSubmissionResponse, SubmissionLogResponse, SubmissionResponse,
};
use reqwest::{blocking::Client, Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::{
    api_key::TokenSource,
    transport::{check_url, read_answer},
    NotaryError,
};

pub struct NotaryService<'a> {
    pub client: &'a Client,
    pub base: &'a url::Url,
    pub tokens: &'a TokenSource,
}

/// The `detail` of a JSON:API error body, or the start of the body.
pub fn error_detail(body: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("errors")?.get(0)?;
            let code = error.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let detail = error
                .get("detail")
                .or_else(|| error.get("title"))?
                .as_str()?;
            Some(format!("{code} {detail}").trim().to_string())
        });
    detail.unwrap_or_else(|| {
        body.chars()
            .take(300)
            .collect::<String>()
            .trim()
            .to_string()
    })
}

impl NotaryService<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        body: Option<&NewSubmissionRequest>,
    ) -> Result<T, NotaryError> {
        let url = self.url(path);
        let mut retried = false;
        loop {
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(self.tokens.token()?.as_str())
                .header("Accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().map_err(|source| NotaryError::Unreachable {
                what,
                url: url.clone(),
                source: source.without_url(),
            })?;
            let status = response.status();
            let text = read_answer(what, &url, response)?;
            if status == StatusCode::UNAUTHORIZED && !retried {
                tracing::info!("{what}: 401, retrying with a new token");
                self.tokens.forget();
                retried = true;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(NotaryError::Unauthorized {
                    key_id: self.tokens.key_id().to_string(),
                    status: status.as_u16(),
                    detail: error_detail(&text),
                });
            }
            if !status.is_success() {
                return Err(NotaryError::Service {
                    what,
                    url,
                    status: status.as_u16(),
                    detail: error_detail(&text),
                });
            }
            return serde_json::from_str(&text).map_err(|e| NotaryError::Protocol {
                what,
                url,
                reason: e.to_string(),
            });
        }
    }

    pub fn create_submission(
        &self,
        name: &str,
        sha256: &str,
    ) -> Result<NewSubmissionResponse, NotaryError> {
        let body = NewSubmissionRequest {
            notifications: Vec::new(),
            sha256: sha256.to_string(),
            submission_name: name.to_string(),
        };
        self.call(
            "creating the submission",
            Method::POST,
            "submissions",
            Some(&body),
        )
    }

    pub fn submission(&self, id: &str) -> Result<SubmissionResponse, NotaryError> {
        self.call(
            "reading the submission status",
            Method::GET,
            &format!("submissions/{id}"),
            None,
        )
    }

    /// The developer log: its URL from the API, its JSON from that URL.
    pub fn developer_log(&self, id: &str) -> Result<serde_json::Value, NotaryError> {
        let what = "fetching the developer log";
        let log: SubmissionLogResponse =
            self.call(what, Method::GET, &format!("submissions/{id}/logs"), None)?;
        // The log URL is pre-signed: it is a credential and stays out of errors.
        let hidden = "the developer log URL".to_string();
        let url: url::Url =
            log.data
                .attributes
                .developer_log_url
                .parse()
                .map_err(|e: url::ParseError| NotaryError::Protocol {
                    what,
                    url: hidden.clone(),
                    reason: format!("not a URL ({e})"),
                })?;
        check_url(what, &url, false)?;
        let response = self
            .client
            .get(url)
            .send()
            .map_err(|source| NotaryError::Unreachable {
                what,
                url: hidden.clone(),
                source: source.without_url(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(NotaryError::Service {
                what,
                url: hidden,
                status: status.as_u16(),
                detail: String::new(),
            });
        }
        let text = read_answer(what, &hidden, response)?;
        serde_json::from_str(&text).map_err(|e| NotaryError::Protocol {
            what,
            url: hidden,
            reason: e.to_string(),
        })
    }
}
