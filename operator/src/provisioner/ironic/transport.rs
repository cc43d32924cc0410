//! How the Ironic client's requests travel. The client decides everything a request says (path,
//! microversion, body) and reads everything an answer means (status, error body, JSON); a
//! [`Transport`] only carries the bytes. [`HttpTransport`] carries them over HTTP(S) to a real or
//! mock Ironic (production and wire mode); the simulator's engine mode supplies one that hands
//! them in-process to the mock Ironic's API, so every mode runs the same client and provisioner.

use std::fmt;

use http::Method;

use super::client::{ApiVersion, ClientConfig, VERSION_HEADER};
use super::tls::tls_config;
use crate::provisioner::{Credentials, ProvisionerError};
use crate::telemetry::logging::error_chain;

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

/// Carries requests to Ironic and answers back. An `Err` means no answer came (connection
/// refused, TLS failure, timeout); its text says why.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    async fn send(&self, request: Request) -> Result<Response, String>;
}

/// HTTP(S) with one connection pool, the configured TLS roots and optional basic auth.
pub struct HttpTransport {
    http: reqwest::Client,
    base: String,
    auth: Option<Credentials>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

impl HttpTransport {
    /// Builds the HTTP client (TLS roots, timeouts). Sends nothing.
    pub fn new(config: ClientConfig) -> Result<HttpTransport, ProvisionerError> {
        let setup = |message: String| ProvisionerError::Unreachable {
            operation: "client setup",
            message,
        };
        if config.insecure {
            tracing::warn!(endpoint = %config.endpoint, "ironic TLS certificate verification disabled");
        }
        let tls = tls_config(config.ca_pem.as_deref(), config.insecure).map_err(setup)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| setup(error_chain(&e)))?;
        let trimmed = config.endpoint.trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_string();
        Ok(HttpTransport {
            http,
            base,
            auth: config.basic_auth,
        })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: Request) -> Result<Response, String> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = self
            .http
            .request(request.method.clone(), &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some((name, value)) = request.version_header() {
            builder = builder.header(name, value);
        }
        if let Some(auth) = &self.auth {
            builder = builder.basic_auth(&auth.username, Some(&auth.password));
        }
        if let Some(body) = request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = builder.send().await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| error_chain(&e))?;
        Ok(Response {
            status,
            body: body.to_vec(),
        })
    }
}
