//! The control service: what the extension does with requests the session
//! rules let through. The tunnel engine is separate work; until it lands,
//! `Start` says so instead of pretending.

use vpn_ipc::{
    message::{ErrorCode, Request, Response, TunnelState, TunnelStats, TunnelStatus},
    unix::Service,
};

use crate::profiles::{ProfileError, ProfileStore};

pub struct ControlService {
    profiles: ProfileStore,
}

impl ControlService {
    pub fn new(profiles: ProfileStore) -> Self {
        Self { profiles }
    }
}

fn error(code: ErrorCode, message: impl ToString) -> Response {
    Response::Error {
        code,
        message: message.to_string(),
    }
}

fn profile_error(e: ProfileError) -> Response {
    match e {
        ProfileError::Missing(_) => error(ErrorCode::NoSuchProfile, e),
        ProfileError::BadName(_) => error(ErrorCode::InvalidConfig, e),
        ProfileError::Io { .. } => error(ErrorCode::Internal, e),
    }
}

impl Service for ControlService {
    fn handle(&self, request: &Request) -> Response {
        match request {
            Request::Status => Response::Status(TunnelStatus {
                state: TunnelState::Disconnected,
                profile: None,
                last_handshake: None,
            }),
            Request::SetConfig { profile, config } => match self.profiles.save(profile, config) {
                Ok(()) => Response::ConfigSaved,
                Err(e) => profile_error(e),
            },
            Request::Start { profile } => match self.profiles.load(profile) {
                Ok(_) => error(
                    ErrorCode::Internal,
                    "this build has no tunnel engine yet; the profile is stored",
                ),
                Err(e) => profile_error(e),
            },
            Request::Stop => Response::Stopped,
            Request::Stats => Response::Stats(TunnelStats::default()),
            // The session rules answer these before the service sees them.
            Request::Hello { .. } | Request::Quiesce => {
                error(ErrorCode::Internal, "handled by the session")
            }
        }
    }
}
