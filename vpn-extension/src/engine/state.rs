//! The tunnel's life as the app sees it. Transitions are typed: the engine
//! reports events, and an event that makes no sense in the current state is
//! an error rather than a silent jump (a bug to find, not a state to show).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelState {
    Disconnected,
    /// Started; no handshake has completed yet.
    Connecting,
    /// At least one peer has a live session.
    Connected,
    /// Every session expired; handshakes are being retried.
    Reconnecting,
    Disconnecting,
    /// The engine stopped on its own (device or socket failure).
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelEvent {
    Start,
    HandshakeCompleted,
    SessionsExpired,
    Stop,
    Stopped,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no transition from {from:?} on {event:?}")]
pub struct InvalidTransition {
    pub from: TunnelState,
    pub event: TunnelEvent,
}

impl TunnelState {
    pub fn on(self, event: TunnelEvent) -> Result<TunnelState, InvalidTransition> {
        use TunnelEvent as E;
        use TunnelState as S;
        Ok(match (self, event) {
            (S::Disconnected | S::Error, E::Start) => S::Connecting,
            (S::Connecting | S::Reconnecting | S::Connected, E::HandshakeCompleted) => S::Connected,
            (S::Connected, E::SessionsExpired) => S::Reconnecting,
            (S::Connecting | S::Reconnecting, E::SessionsExpired) => self,
            (S::Connecting | S::Connected | S::Reconnecting | S::Error, E::Stop) => {
                S::Disconnecting
            }
            (S::Disconnecting, E::Stopped) => S::Disconnected,
            (S::Connecting | S::Connected | S::Reconnecting, E::Failed) => S::Error,
            (from, event) => return Err(InvalidTransition { from, event }),
        })
    }

    /// Whether the engine is (or should be) running in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Connecting | Self::Connected | Self::Reconnecting
        )
    }
}

impl fmt::Display for TunnelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Disconnecting => "disconnecting",
            Self::Error => "error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{TunnelEvent as E, TunnelState as S};

    #[test]
    fn a_session_lifetime() {
        let mut state = S::Disconnected;
        for (event, expected) in [
            (E::Start, S::Connecting),
            (E::SessionsExpired, S::Connecting),
            (E::HandshakeCompleted, S::Connected),
            (E::HandshakeCompleted, S::Connected),
            (E::SessionsExpired, S::Reconnecting),
            (E::HandshakeCompleted, S::Connected),
            (E::Failed, S::Error),
            (E::Start, S::Connecting),
            (E::Stop, S::Disconnecting),
            (E::Stopped, S::Disconnected),
        ] {
            state = state.on(event).unwrap();
            assert_eq!(state, expected, "after {event:?}");
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for (from, event) in [
            (S::Disconnected, E::HandshakeCompleted),
            (S::Disconnected, E::Stop),
            (S::Connected, E::Start),
            (S::Disconnecting, E::Start),
            (S::Disconnecting, E::HandshakeCompleted),
            (S::Disconnected, E::Failed),
        ] {
            let e = from.on(event).unwrap_err();
            assert_eq!((e.from, e.event), (from, event));
        }
    }
}
