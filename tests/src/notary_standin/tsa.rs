//! A time-stamp authority (RFC 3161 over HTTP, RFC 3161 section 3.4): what
//! a signature's secure timestamp comes from. Apple's notary refuses code
//! signed without one, so a build notarized against the stand-in gets its
//! timestamps here (`--timestamp-url`) instead of from Apple's server.
//!
//! It answers a `TimeStampReq` with a granted `TimeStampResp` whose token
//! is CMS SignedData over a `TSTInfo` (content type id-ct-TSTInfo) echoing
//! the request's message imprint and nonce, signed by a throwaway key.

use std::{sync::Arc, thread::JoinHandle};

use bcder::{decode::Constructed, encode::Values, Integer, Mode, Oid};
use cryptographic_message_syntax::{
    asn1::rfc3161::{TimeStampReq, TstInfo, OID_CONTENT_TYPE_TST_INFO},
    Bytes, SignedDataBuilder, SignerBuilder,
};
use tiny_http::{Header, Response, Server};
use x509_certificate::{
    asn1time::GeneralizedTime, CapturedX509Certificate, InMemorySigningKeyPair, KeyAlgorithm,
    X509CertificateBuilder,
};

/// RFC 3161 section 3.4's media types.
const REQUEST_TYPE: &str = "application/timestamp-query";
const REPLY_TYPE: &str = "application/timestamp-reply";
/// A policy OID of our own, under the "example" arc (RFC 5612: 1.3.6.1.4.1.32473).
const POLICY: &[u8] = &[43, 6, 1, 4, 1, 129, 253, 89, 1];

pub struct TimeStampAuthority {
    url: String,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl TimeStampAuthority {
    pub fn start() -> Self {
        let (certificate, key) = X509CertificateBuilder::default()
            .create_with_random_keypair(KeyAlgorithm::Ed25519)
            .expect("a throwaway TSA key");
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let thread = {
            let server = server.clone();
            std::thread::spawn(move || {
                for (serial, mut request) in server.incoming_requests().enumerate() {
                    let mut body = Vec::new();
                    let answer = request
                        .as_reader()
                        .read_to_end(&mut body)
                        .ok()
                        .filter(|_| {
                            request.headers().iter().any(|h| {
                                h.field.equiv("Content-Type") && h.value.as_str() == REQUEST_TYPE
                            })
                        })
                        .and_then(|_| reply(&body, serial as u64 + 1, &key, &certificate));
                    let _ = match answer {
                        Some(reply) => request.respond(Response::from_data(reply).with_header(
                            Header::from_bytes("Content-Type", REPLY_TYPE).expect("a header"),
                        )),
                        None => request.respond(Response::empty(400)),
                    };
                }
            })
        };
        Self {
            url: format!("http://127.0.0.1:{port}/"),
            server,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TimeStampAuthority {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The DER `TimeStampResp` granting `request`, or `None` for bytes that
/// are not a `TimeStampReq`.
fn reply(
    request: &[u8],
    serial: u64,
    key: &InMemorySigningKeyPair,
    certificate: &CapturedX509Certificate,
) -> Option<Vec<u8>> {
    let request = Constructed::decode(request, Mode::Der, TimeStampReq::take_from).ok()?;
    let tst_info = TstInfo {
        version: Integer::from(1u8),
        policy: Oid(Bytes::from_static(POLICY)),
        message_imprint: request.message_imprint,
        serial_number: Integer::from(serial),
        gen_time: GeneralizedTime::from(chrono::Utc::now()),
        accuracy: None,
        ordering: None,
        nonce: request.nonce,
        tsa: None,
        extensions: None,
    };
    let mut content = Vec::new();
    tst_info
        .encode_ref()
        .write_encoded(Mode::Der, &mut content)
        .ok()?;
    let tst_info_type = Oid(Bytes::copy_from_slice(OID_CONTENT_TYPE_TST_INFO.as_ref()));
    let token = SignedDataBuilder::default()
        .content_inline(content)
        .content_type(tst_info_type.clone())
        .signer(SignerBuilder::new(key, certificate.clone()).content_type(tst_info_type))
        .certificate(certificate.clone())
        .build_der()
        .ok()?;
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken }
    // with PKIStatusInfo ::= SEQUENCE { status INTEGER (0, granted) }.
    let mut body = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    body.extend(token);
    Some(der_sequence(&body))
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
