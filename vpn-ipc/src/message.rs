//! The messages of the control protocol, as they travel: JSON objects with a
//! `type` tag, each request carrying an `id` that its reply repeats.
//!
//! Compatibility rules, which both sides rely on across versions:
//! - unknown fields are ignored (a newer peer may add fields);
//! - an unknown request `type` is answered with [`ErrorCode::UnknownMessage`]
//!   for that id, never by closing the connection;
//! - bytes that are not a JSON object with an `id` get
//!   [`ErrorCode::Malformed`] with id 0.

use serde::{Deserialize, Serialize};

/// Identifies a request; the reply carries the same value.
pub type RequestId = u64;

/// What the app asks of the extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message on every connection: which protocol versions the app
    /// speaks and which build it is. Nothing else is served before it.
    Hello {
        protocol: ProtocolRange,
        app_version: String,
        app_build: String,
    },
    Status,
    Start {
        profile: String,
    },
    Stop,
    /// Close every other peer, flush state and refuse new work until the
    /// extension restarts: sent by the old app right before an upgrade.
    Quiesce,
    /// Take work again after `Quiesce`: the new app sends it when the same
    /// extension is still running after an upgrade (a reinstall of the same
    /// version replaces nothing).
    Resume,
    /// Replace the stored tunnel configuration (wg-quick text).
    SetConfig {
        profile: String,
        config: String,
    },
    Stats,
    /// The extension's most recent log lines, oldest first.
    Logs {
        lines: u32,
    },
    /// The names of the stored profiles (the app's menu lists them).
    Profiles,
}

/// The inclusive range of protocol versions one side speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRange {
    pub min: u32,
    pub max: u32,
}

/// What the extension answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Reply to `Hello`: the version both will speak, and the extension's build.
    Welcome {
        protocol: u32,
        ext_version: String,
        ext_build: String,
    },
    Status(TunnelStatus),
    Started,
    Stopped,
    Quiesced,
    Resumed,
    ConfigSaved,
    Stats(TunnelStats),
    Logs {
        lines: Vec<String>,
    },
    /// Sorted by name.
    Profiles {
        names: Vec<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Why a request failed; stable across versions (new codes may be added,
/// and an unknown code reads as `Other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No protocol version in common; the message says both ranges.
    VersionSkew,
    /// A request other than `Hello` came first.
    HelloRequired,
    UnknownMessage,
    Malformed,
    /// The extension is quiesced for an upgrade and takes no new work.
    Quiesced,
    NoSuchProfile,
    InvalidConfig,
    Internal,
    /// The caller may read the tunnel but not change it (see
    /// [`crate::caller`]).
    NotPermitted,
    #[serde(other)]
    Other,
}

/// The tunnel as the extension sees it. Fields after `last_handshake` came
/// later and default when an older extension leaves them out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStatus {
    pub state: TunnelState,
    pub profile: Option<String>,
    /// Seconds since the Unix epoch of the last completed handshake.
    pub last_handshake: Option<u64>,
    /// Why the tunnel is in the `error` state.
    #[serde(default)]
    pub error: Option<String>,
    /// The traffic of all peers together.
    #[serde(default)]
    pub stats: TunnelStats,
    #[serde(default)]
    pub peers: Vec<PeerStatus>,
}

/// One WireGuard peer of the running tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub public_key: String,
    /// Where the peer is now (it may have roamed from the configured one).
    pub endpoint: Option<String>,
    pub last_handshake: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelState {
    #[default]
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
    Disconnecting,
    Error,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

/// A request with its id, as framed on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub id: RequestId,
    #[serde(flatten)]
    pub request: Request,
}

/// A reply with the id of its request, as framed on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub id: RequestId,
    #[serde(flatten)]
    pub response: Response,
}

/// Why incoming bytes are not a request this side can serve; each case has
/// the reply that the rules above prescribe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Malformed { detail: String },
    Unknown { id: RequestId, kind: String },
}

impl DecodeError {
    /// The error reply this decode failure gets.
    pub fn reply(&self) -> ResponseEnvelope {
        match self {
            DecodeError::Malformed { detail } => ResponseEnvelope {
                id: 0,
                response: Response::Error {
                    code: ErrorCode::Malformed,
                    message: detail.clone(),
                },
            },
            DecodeError::Unknown { id, kind } => ResponseEnvelope {
                id: *id,
                response: Response::Error {
                    code: ErrorCode::UnknownMessage,
                    message: format!("unknown request `{kind}`"),
                },
            },
        }
    }
}

impl RequestEnvelope {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("requests serialise")
    }

    /// Decodes a request, telling an unknown request type (answered with
    /// `UnknownMessage`) apart from bytes that are not a request at all.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed {
                detail: format!("not JSON: {e}"),
            })?;
        let id = value
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| DecodeError::Malformed {
                detail: "no numeric `id`".into(),
            })?;
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| DecodeError::Malformed {
                detail: "no string `type`".into(),
            })?
            .to_string();
        serde_json::from_value(value).map_err(|e| {
            if e.to_string().starts_with("unknown variant") {
                DecodeError::Unknown { id, kind }
            } else {
                DecodeError::Malformed {
                    detail: format!("bad `{kind}` request: {e}"),
                }
            }
        })
    }
}

impl ResponseEnvelope {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("responses serialise")
    }

    /// The JSON to send: this reply, or, when it would not fit in one frame,
    /// an error saying so under the same id. The connection then lives on:
    /// a reply too large for the peer to read would otherwise end it.
    pub fn to_json_within_frame(&self) -> Vec<u8> {
        let json = self.to_json();
        if json.len() <= crate::framing::MAX_FRAME_LEN {
            return json;
        }
        ResponseEnvelope {
            id: self.id,
            response: Response::Error {
                code: ErrorCode::Internal,
                message: format!(
                    "the reply is {} bytes, over the {}-byte frame; ask for less",
                    json.len(),
                    crate::framing::MAX_FRAME_LEN
                ),
            },
        }
        .to_json()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_over_the_frame_becomes_an_error_under_its_id() {
        let lines = |count: usize| ResponseEnvelope {
            id: 7,
            response: Response::Logs {
                lines: vec!["x".repeat(100); count],
            },
        };
        let small = lines(10);
        assert_eq!(small.to_json_within_frame(), small.to_json());
        let json = lines(1000).to_json_within_frame();
        assert!(json.len() <= crate::framing::MAX_FRAME_LEN);
        let reply = ResponseEnvelope::from_json(&json).unwrap();
        assert_eq!(reply.id, 7);
        assert!(
            matches!(&reply.response, Response::Error { code: ErrorCode::Internal, message } if message.contains("over the 65536-byte frame")),
            "{reply:?}"
        );
    }

    fn every_request() -> Vec<Request> {
        vec![
            Request::Hello {
                protocol: ProtocolRange { min: 1, max: 2 },
                app_version: "1.2.0".into(),
                app_build: "1.2.0".into(),
            },
            Request::Status,
            Request::Start {
                profile: "home".into(),
            },
            Request::Stop,
            Request::Quiesce,
            Request::Resume,
            Request::SetConfig {
                profile: "home".into(),
                config: "[Interface]\n".into(),
            },
            Request::Stats,
            Request::Logs { lines: 50 },
            Request::Profiles,
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for (id, request) in every_request().into_iter().enumerate() {
            let envelope = RequestEnvelope {
                id: id as u64 + 1,
                request,
            };
            assert_eq!(
                RequestEnvelope::from_json(&envelope.to_json()),
                Ok(envelope)
            );
        }
    }

    #[test]
    fn every_response_round_trips() {
        let responses = vec![
            Response::Welcome {
                protocol: 1,
                ext_version: "1.2.0".into(),
                ext_build: "1.2.0".into(),
            },
            Response::Status(TunnelStatus {
                state: TunnelState::Connected,
                profile: Some("home".into()),
                last_handshake: Some(1_700_000_000),
                error: None,
                stats: TunnelStats {
                    rx_bytes: 10,
                    ..TunnelStats::default()
                },
                peers: vec![PeerStatus {
                    public_key: "key".into(),
                    endpoint: Some("192.0.2.1:51820".into()),
                    ..PeerStatus::default()
                }],
            }),
            Response::Started,
            Response::Logs {
                lines: vec!["2026-11-28T06:00:00Z INFO tunnel starting".into()],
            },
            Response::Profiles {
                names: vec!["home".into(), "office".into()],
            },
            Response::Stopped,
            Response::Quiesced,
            Response::Resumed,
            Response::ConfigSaved,
            Response::Stats(TunnelStats {
                rx_bytes: 1,
                tx_bytes: 2,
                rx_packets: 3,
                tx_packets: 4,
            }),
            Response::Error {
                code: ErrorCode::Quiesced,
                message: "upgrading".into(),
            },
        ];
        for response in responses {
            let envelope = ResponseEnvelope { id: 9, response };
            assert_eq!(
                ResponseEnvelope::from_json(&envelope.to_json()).unwrap(),
                envelope
            );
        }
    }

    #[test]
    fn wire_form_is_a_flat_tagged_object() {
        let json = RequestEnvelope {
            id: 7,
            request: Request::Start {
                profile: "home".into(),
            },
        }
        .to_json();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json).unwrap(),
            serde_json::json!({"id": 7, "type": "start", "profile": "home"})
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let request =
            RequestEnvelope::from_json(br#"{"id":3,"type":"stats","from_the_future":true}"#);
        assert_eq!(
            request,
            Ok(RequestEnvelope {
                id: 3,
                request: Request::Stats
            })
        );
        let response =
            ResponseEnvelope::from_json(br#"{"id":3,"type":"stopped","extra":[1,2]}"#).unwrap();
        assert_eq!(response.response, Response::Stopped);
    }

    #[test]
    fn unknown_request_gets_unknown_message_for_its_id() {
        let error = RequestEnvelope::from_json(br#"{"id":5,"type":"teleport"}"#).unwrap_err();
        assert_eq!(
            error.reply(),
            ResponseEnvelope {
                id: 5,
                response: Response::Error {
                    code: ErrorCode::UnknownMessage,
                    message: "unknown request `teleport`".into()
                }
            }
        );
    }

    #[test]
    fn garbage_and_missing_fields_are_malformed() {
        for bytes in [
            &b"\xff\xfe"[..],
            b"[]",
            br#"{"type":"stats"}"#,
            br#"{"id":"x","type":"stats"}"#,
            br#"{"id":1}"#,
            br#"{"id":1,"type":"start"}"#,
        ] {
            match RequestEnvelope::from_json(bytes) {
                Err(DecodeError::Malformed { .. }) => {}
                other => panic!("{:?} decoded as {other:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }

    #[test]
    fn codes_and_states_from_newer_peers_read_as_other() {
        let response = ResponseEnvelope::from_json(
            br#"{"id":1,"type":"error","code":"brand_new","message":"m"}"#,
        )
        .unwrap();
        assert!(matches!(
            response.response,
            Response::Error {
                code: ErrorCode::Other,
                ..
            }
        ));
        let status = ResponseEnvelope::from_json(
            br#"{"id":1,"type":"status","state":"warp","profile":null,"last_handshake":null}"#,
        )
        .unwrap();
        assert!(matches!(
            status.response,
            Response::Status(TunnelStatus {
                state: TunnelState::Unknown,
                ..
            })
        ));
    }
}
