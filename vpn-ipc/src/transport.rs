//! The app's end of the control channel, whatever carries it: a Unix
//! socket on Linux, XPC on macOS. The app's commands are written once
//! against this.

use crate::{
    message::{Request, Response},
    negotiation::SUPPORTED,
    session::{handshake_outcome, HandshakeOutcome},
};

/// A transport's own error, boxed so commands can hold any transport.
#[derive(Debug)]
pub struct TransportError(Box<dyn std::error::Error + Send + Sync>);

impl TransportError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

pub trait ControlClient {
    /// Sends one request and waits for its reply.
    fn request(&mut self, request: Request) -> Result<Response, TransportError>;

    /// Sends `Hello` and reads what it says about the extension.
    fn hello(
        &mut self,
        app_version: &str,
        app_build: &str,
    ) -> Result<HandshakeOutcome, TransportError> {
        let reply = self.request(Request::Hello {
            protocol: SUPPORTED,
            app_version: app_version.into(),
            app_build: app_build.into(),
        })?;
        Ok(handshake_outcome(&reply, app_build))
    }
}
