//! How the Ironic client's requests travel. The client decides everything a request says (path,
//! microversion, body) and reads everything an answer means (status, error body, JSON); a
//! [`Transport`] only carries the bytes, and paces the client's polling. `metal-operator`'s
//! `ironic_http::HttpTransport` carries them over HTTP(S) to a real or mock Ironic (production
//! and wire mode); the simulator's engine mode supplies one that hands them in-process to the
//! mock Ironic's API, so every mode runs the same client and provisioner.

use std::fmt;
use std::time::Duration;

use http::Method;

use super::client::{ApiVersion, VERSION_HEADER};

/// One request to the Ironic API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Path and query from the API root, e.g. `/v1/nodes/abc?fields=uuid`.
    pub path: String,
    /// The microversion to ask for (none for version discovery).
    pub version: Option<ApiVersion>,
    /// A JSON body, already encoded.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// The microversion header's value, when one is asked for.
    pub fn version_header(&self) -> Option<(&'static str, String)> {
        self.version.map(|v| (VERSION_HEADER, v.to_string()))
    }
}

/// Ironic's answer: status and body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Carries requests to Ironic and answers back, and knows how to wait between them.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends one request. An `Err` means no answer came (connection refused, TLS failure,
    /// timeout); its text says why.
    async fn send(&self, request: Request) -> Result<Response, String>;

    /// Waits `duration` before the caller polls again (the lifecycle drivers' pacing). Each
    /// transport waits on its own clock: the HTTP transport on the async runtime's timer. An
    /// `Err` means this transport cannot wait (engine mode's in-process one); its text says why.
    async fn pause(&self, duration: Duration) -> Result<(), String>;
}
