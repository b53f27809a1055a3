//! Who is at the other end of a connection, and what that lets them do.
//! The identity comes from the kernel (a Unix socket's peer credentials, an
//! XPC connection's effective uid), never from a message.
//!
//! Reading the tunnel (`Status`, `Stats`, `Logs`) is open to any local user
//! the transport lets in. Changing it is not: the tunnel carries every
//! user's traffic, so a profile that sends it elsewhere, or a `Stop`, is
//! for root (the pkg scripts), the user at the console, or an
//! administrator.

use crate::message::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `None` where the channel does not say (a provider's app messages).
    pub uid: Option<u32>,
    /// Root, the console user, or an administrator.
    pub may_change_the_tunnel: bool,
}

impl Caller {
    /// A caller of `uid` on a machine where `console_uid` is logged in at
    /// the console, `admin` saying whether `uid` is an administrator.
    pub fn new(uid: u32, console_uid: Option<u32>, admin: bool) -> Self {
        Self {
            uid: Some(uid),
            may_change_the_tunnel: uid == 0 || console_uid == Some(uid) || admin,
        }
    }

    /// A caller the channel does not identify: it may only read.
    pub fn unknown() -> Self {
        Self {
            uid: None,
            may_change_the_tunnel: false,
        }
    }
}

/// The name of `request` if it changes the tunnel or the extension for
/// everyone; `None` for the requests that only read.
pub fn change_named(request: &Request) -> Option<&'static str> {
    match request {
        Request::SetConfig { .. } => Some("SetConfig"),
        Request::Start { .. } => Some("Start"),
        Request::Stop => Some("Stop"),
        Request::Quiesce => Some("Quiesce"),
        Request::Resume => Some("Resume"),
        Request::Hello { .. }
        | Request::Status
        | Request::Stats
        | Request::Logs { .. }
        | Request::Profiles => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_the_console_user_and_administrators_may_change_the_tunnel() {
        assert!(Caller::new(0, None, false).may_change_the_tunnel);
        assert!(Caller::new(501, Some(501), false).may_change_the_tunnel);
        assert!(Caller::new(502, Some(501), true).may_change_the_tunnel);
        assert!(!Caller::new(502, Some(501), false).may_change_the_tunnel);
        assert!(!Caller::new(502, None, false).may_change_the_tunnel);
        assert!(!Caller::unknown().may_change_the_tunnel);
    }
}
