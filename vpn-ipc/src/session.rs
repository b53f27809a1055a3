//! The rules of a connection, as pure state machines with no I/O: the
//! extension's side ([`ServerSession`]) decides what each incoming frame
//! gets; the app's side ([`handshake_outcome`]) reads the answer to `Hello`.
//!
//! Server rules: `Hello` comes first and settles the protocol version (no
//! common version: the error is sent and the connection closed); any other
//! request before it gets `HelloRequired`; once the extension is quiesced for
//! an upgrade it still answers `Status`, `Stats`, `Logs`, `Quiesce` and
//! `Resume` but takes no new work until `Resume` or a restart.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{
    caller::{change_named, Caller},
    message::{
        DecodeError, ErrorCode, ProtocolRange, Request, RequestEnvelope, RequestId, Response,
        ResponseEnvelope,
    },
    negotiation::{negotiate, Negotiation},
};

/// What carries out requests once the session rules let them through: the
/// tunnel service of the extension, whatever the transport.
pub trait Service: Send + Sync + 'static {
    fn handle(&self, request: &Request) -> Response;
}

/// Carries out a request the rules let through: `Quiesce` and `Resume` are
/// the transport's to do (they set its extension-wide `quiesced` flag, and
/// `close_others` closes its other peers), everything else the service's.
pub fn carry_out(
    request: &Request,
    service: &dyn Service,
    quiesced: &AtomicBool,
    close_others: impl FnOnce(),
) -> Response {
    match request {
        Request::Quiesce => {
            quiesced.store(true, Ordering::SeqCst);
            close_others();
            Response::Quiesced
        }
        Request::Resume => {
            quiesced.store(false, Ordering::SeqCst);
            Response::Resumed
        }
        _ => service.handle(request),
    }
}

/// What the extension says about itself in `Welcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionInfo {
    pub protocols: ProtocolRange,
    pub version: String,
    pub build: String,
}

/// What to do with one incoming frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Send this reply; the connection stays open.
    Reply(ResponseEnvelope),
    /// Send this reply, then close the connection.
    ReplyAndClose(ResponseEnvelope),
    /// A request for the tunnel service to carry out and answer.
    Serve { id: RequestId, request: Request },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Ready { protocol: u32 },
}

/// The extension's view of one connection.
#[derive(Clone, Debug)]
pub struct ServerSession {
    state: State,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self {
            state: State::AwaitingHello,
        }
    }
}

fn error(id: RequestId, code: ErrorCode, message: impl Into<String>) -> ResponseEnvelope {
    ResponseEnvelope {
        id,
        response: Response::Error {
            code,
            message: message.into(),
        },
    }
}

impl ServerSession {
    /// The protocol version agreed on, once `Hello` succeeded.
    pub fn protocol(&self) -> Option<u32> {
        match self.state {
            State::Ready { protocol } => Some(protocol),
            State::AwaitingHello => None,
        }
    }

    /// Decides what `frame` from `caller` gets. `quiesced` is the
    /// extension-wide flag set by a `Quiesce` request (on any connection).
    pub fn on_frame(
        &mut self,
        frame: &[u8],
        info: &ExtensionInfo,
        quiesced: bool,
        caller: Caller,
    ) -> Dispatch {
        let RequestEnvelope { id, request } = match RequestEnvelope::from_json(frame) {
            Ok(envelope) => envelope,
            Err(decode) => return Dispatch::Reply(DecodeError::reply(&decode)),
        };
        match (request, self.state) {
            (Request::Hello { protocol, .. }, _) => match negotiate(info.protocols, protocol) {
                Negotiation::Agreed(version) => {
                    self.state = State::Ready { protocol: version };
                    Dispatch::Reply(ResponseEnvelope {
                        id,
                        response: Response::Welcome {
                            protocol: version,
                            ext_version: info.version.clone(),
                            ext_build: info.build.clone(),
                        },
                    })
                }
                Negotiation::Skew { ours, theirs } => Dispatch::ReplyAndClose(error(
                    id,
                    ErrorCode::VersionSkew,
                    format!(
                        "extension {} speaks protocol {}-{}, the app {}-{}",
                        info.build, ours.min, ours.max, theirs.min, theirs.max
                    ),
                )),
            },
            (_, State::AwaitingHello) => {
                Dispatch::Reply(error(id, ErrorCode::HelloRequired, "send Hello first"))
            }
            (request, State::Ready { .. })
                if !caller.may_change_the_tunnel && change_named(&request).is_some() =>
            {
                Dispatch::Reply(error(
                    id,
                    ErrorCode::NotPermitted,
                    format!(
                        "{} may read the tunnel's status, statistics and logs, but {} \
                         changes the tunnel for every user of this machine: run it as the \
                         user at the console, an administrator or root",
                        caller
                            .uid
                            .map_or("a caller this channel does not identify".into(), |uid| {
                                format!("uid {uid}")
                            }),
                        change_named(&request).unwrap_or_default()
                    ),
                ))
            }
            (
                request @ (Request::Status
                | Request::Stats
                | Request::Logs { .. }
                | Request::Profiles
                | Request::Quiesce
                | Request::Resume),
                State::Ready { .. },
            ) => Dispatch::Serve { id, request },
            (_, State::Ready { .. }) if quiesced => Dispatch::Reply(error(
                id,
                ErrorCode::Quiesced,
                "the extension is quiesced for an upgrade and takes no new work until it is resumed or restarts",
            )),
            (request, State::Ready { .. }) => Dispatch::Serve { id, request },
        }
    }
}

/// What the app learns from the answer to its `Hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Same build on both sides, a protocol in common.
    Current { protocol: u32, ext_version: String },
    /// A protocol in common, but the extension running is another build than
    /// the app's: after an upgrade, the old extension is still in place.
    OtherBuild { protocol: u32, ext_build: String },
    /// No protocol in common.
    ProtocolSkew { message: String },
    /// Any other answer.
    Refused { code: ErrorCode, message: String },
}

/// Reads the reply to `Hello` sent by an app of build `app_build`.
pub fn handshake_outcome(reply: &Response, app_build: &str) -> HandshakeOutcome {
    match reply {
        Response::Welcome {
            protocol,
            ext_version,
            ext_build,
        } if ext_build == app_build => HandshakeOutcome::Current {
            protocol: *protocol,
            ext_version: ext_version.clone(),
        },
        Response::Welcome {
            protocol,
            ext_build,
            ..
        } => HandshakeOutcome::OtherBuild {
            protocol: *protocol,
            ext_build: ext_build.clone(),
        },
        Response::Error {
            code: ErrorCode::VersionSkew,
            message,
        } => HandshakeOutcome::ProtocolSkew {
            message: message.clone(),
        },
        Response::Error { code, message } => HandshakeOutcome::Refused {
            code: *code,
            message: message.clone(),
        },
        other => HandshakeOutcome::Refused {
            code: ErrorCode::Malformed,
            message: format!("unexpected answer to Hello: {other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::SUPPORTED;

    const ROOT: Caller = Caller {
        uid: Some(0),
        may_change_the_tunnel: true,
    };

    fn info() -> ExtensionInfo {
        ExtensionInfo {
            protocols: SUPPORTED,
            version: "1.2.0".into(),
            build: "1.2.0".into(),
        }
    }

    fn frame(id: RequestId, request: Request) -> Vec<u8> {
        RequestEnvelope { id, request }.to_json()
    }

    fn hello(min: u32, max: u32) -> Request {
        Request::Hello {
            protocol: ProtocolRange { min, max },
            app_version: "1.2.0".into(),
            app_build: "1.2.0".into(),
        }
    }

    fn code(dispatch: &Dispatch) -> Option<ErrorCode> {
        match dispatch {
            Dispatch::Reply(r) | Dispatch::ReplyAndClose(r) => match r.response {
                Response::Error { code, .. } => Some(code),
                _ => None,
            },
            Dispatch::Serve { .. } => None,
        }
    }

    #[test]
    fn hello_first_then_requests_are_served() {
        let mut session = ServerSession::default();
        let early = session.on_frame(&frame(1, Request::Status), &info(), false, ROOT);
        assert_eq!(code(&early), Some(ErrorCode::HelloRequired));
        let welcome = session.on_frame(&frame(2, hello(1, 1)), &info(), false, ROOT);
        let Dispatch::Reply(reply) = welcome else {
            panic!("{welcome:?}")
        };
        assert_eq!(reply.id, 2);
        assert_eq!(
            handshake_outcome(&reply.response, "1.2.0"),
            HandshakeOutcome::Current {
                protocol: 1,
                ext_version: "1.2.0".into()
            }
        );
        assert_eq!(session.protocol(), Some(1));
        assert_eq!(
            session.on_frame(
                &frame(
                    3,
                    Request::Start {
                        profile: "home".into()
                    }
                ),
                &info(),
                false,
                ROOT
            ),
            Dispatch::Serve {
                id: 3,
                request: Request::Start {
                    profile: "home".into()
                }
            }
        );
    }

    #[test]
    fn version_skew_is_answered_then_closed() {
        let mut session = ServerSession::default();
        let dispatch = session.on_frame(&frame(1, hello(7, 9)), &info(), false, ROOT);
        let Dispatch::ReplyAndClose(reply) = &dispatch else {
            panic!("{dispatch:?}")
        };
        assert!(matches!(
            handshake_outcome(&reply.response, "1.2.0"),
            HandshakeOutcome::ProtocolSkew { message } if message.contains("1-1") && message.contains("7-9")
        ));
        assert_eq!(session.protocol(), None);
    }

    #[test]
    fn another_build_is_told_apart_from_the_current_one() {
        let welcome = Response::Welcome {
            protocol: 1,
            ext_version: "1.1.0".into(),
            ext_build: "1.1.0".into(),
        };
        assert_eq!(
            handshake_outcome(&welcome, "1.2.0"),
            HandshakeOutcome::OtherBuild {
                protocol: 1,
                ext_build: "1.1.0".into()
            }
        );
    }

    #[test]
    fn quiesced_extension_answers_questions_but_takes_no_work() {
        let mut session = ServerSession::default();
        session.on_frame(&frame(1, hello(1, 1)), &info(), false, ROOT);
        for request in [
            Request::Status,
            Request::Stats,
            Request::Quiesce,
            Request::Resume,
        ] {
            assert!(matches!(
                session.on_frame(&frame(2, request), &info(), true, ROOT),
                Dispatch::Serve { .. }
            ));
        }
        for request in [
            Request::Start {
                profile: "p".into(),
            },
            Request::Stop,
        ] {
            assert_eq!(
                code(&session.on_frame(&frame(3, request), &info(), true, ROOT)),
                Some(ErrorCode::Quiesced)
            );
        }
    }

    #[test]
    fn bad_frames_get_an_error_and_the_session_goes_on() {
        let mut session = ServerSession::default();
        session.on_frame(&frame(1, hello(1, 1)), &info(), false, ROOT);
        assert_eq!(
            code(&session.on_frame(b"\x00garbage", &info(), false, ROOT)),
            Some(ErrorCode::Malformed)
        );
        assert_eq!(
            code(&session.on_frame(br#"{"id":4,"type":"warp"}"#, &info(), false, ROOT)),
            Some(ErrorCode::UnknownMessage)
        );
        assert!(matches!(
            session.on_frame(&frame(5, Request::Status), &info(), false, ROOT),
            Dispatch::Serve { .. }
        ));
    }

    #[test]
    fn a_caller_who_may_not_change_the_tunnel_may_still_read_it() {
        let mut session = ServerSession::default();
        let visitor = Caller::new(1001, Some(501), false);
        session.on_frame(&frame(1, hello(1, 1)), &info(), false, visitor);
        for request in [Request::Status, Request::Stats, Request::Logs { lines: 5 }] {
            assert!(
                matches!(
                    session.on_frame(&frame(2, request.clone()), &info(), false, visitor),
                    Dispatch::Serve { .. }
                ),
                "{request:?}"
            );
        }
        for request in [
            Request::SetConfig {
                profile: "home".into(),
                config: String::new(),
            },
            Request::Start {
                profile: "home".into(),
            },
            Request::Stop,
            Request::Quiesce,
            Request::Resume,
        ] {
            let name = change_named(&request).unwrap();
            let Dispatch::Reply(reply) =
                session.on_frame(&frame(3, request), &info(), false, visitor)
            else {
                panic!("{name} was not refused");
            };
            let Response::Error { code, message } = reply.response else {
                panic!("{name}: {reply:?}");
            };
            assert_eq!(code, ErrorCode::NotPermitted, "{name}");
            assert!(
                message.contains("uid 1001") && message.contains(name),
                "{message}"
            );
        }
        let unknown = session.on_frame(&frame(4, Request::Stop), &info(), false, Caller::unknown());
        assert_eq!(code(&unknown), Some(ErrorCode::NotPermitted));
    }
}
