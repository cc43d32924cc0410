//! The Ironic client's HTTP(S) shell: [`HttpTransport`](crate::ironic_http::HttpTransport)
//! carries the core's requests (`metal_core::provisioner::ironic::transport`) over one reqwest
//! connection pool with the configured TLS roots and basic auth, and paces polls on tokio's
//! timer; [`HttpIronicClient`](crate::ironic_http::HttpIronicClient) builds the core's
//! [`IronicClient`](crate::provisioner::ironic::IronicClient) over it from a
//! [`ClientConfig`](crate::ironic_http::ClientConfig).

use std::fmt;
use std::time::Duration;

use crate::provisioner::ironic::IronicClient;
use crate::provisioner::ironic::transport::{Request, Response, Transport};
use crate::provisioner::{Credentials, ProvisionerError};
use crate::telemetry::logging::error_chain;

/// How to reach Ironic. Built in `main` from flags; files are read there too.
#[derive(Clone)]
pub struct ClientConfig {
    /// `http(s)://host:port`, with or without a trailing `/v1`.
    pub endpoint: String,
    /// PEM bytes of the CA that signs Ironic's certificate; None uses the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// HTTP basic auth, when Ironic is behind it.
    pub basic_auth: Option<Credentials>,
    /// Accept any server certificate (upstream's `IRONIC_INSECURE`; testing only).
    pub insecure: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.endpoint)
            .field("ca_pem", &self.ca_pem.as_ref().map(|c| c.len()))
            .field("basic_auth", &self.basic_auth)
            .field("insecure", &self.insecure)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientConfig {
    /// A plain-HTTP configuration with upstream's 30 s timeout.
    pub fn new(endpoint: impl Into<String>) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            ca_pem: None,
            basic_auth: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The HTTP(S) constructor of the core's [`IronicClient`] (which lives in `metal-core`, a crate
/// without an HTTP stack, so the constructor is added here): `IronicClient::new(config)` with
/// this trait in scope.
pub trait HttpIronicClient: Sized {
    /// The client over HTTP(S) (TLS roots, timeouts). Makes no request.
    fn new(config: ClientConfig) -> Result<Self, ProvisionerError>;
}

impl HttpIronicClient for IronicClient {
    fn new(config: ClientConfig) -> Result<IronicClient, ProvisionerError> {
        Ok(IronicClient::over(HttpTransport::new(config)?))
    }
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
        let roots = match config.ca_pem.as_deref() {
            Some(pem) => metal_tls::Roots::Pem(pem),
            None => metal_tls::Roots::System,
        };
        let tls =
            metal_tls::client_config(roots, config.insecure).map_err(|e| setup(e.to_string()))?;
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

    async fn pause(&self, duration: Duration) -> Result<(), String> {
        tokio::time::sleep(duration).await;
        Ok(())
    }
}
