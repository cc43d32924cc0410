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

/// The Ironic endpoint as it may be logged or printed: any userinfo (`http://user:pass@host`)
/// removed, so credentials embedded in the URL never reach a log line. The one place this is
/// done; an endpoint that does not parse as a URL is shown as `<unparseable>` (it might still
/// hold credentials).
pub fn endpoint_for_logs(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "<unparseable>".to_owned(),
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &endpoint_for_logs(&self.endpoint))
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
            .field("base", &endpoint_for_logs(&self.base))
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
            tracing::warn!(
                endpoint = %endpoint_for_logs(&config.endpoint),
                "ironic TLS certificate verification disabled"
            );
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

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    #[test]
    fn userinfo_is_stripped_from_the_endpoint_for_logs() {
        assert_eq!(
            endpoint_for_logs("http://ironic:s3cret@127.0.0.1:6385/v1"),
            "http://127.0.0.1:6385/v1"
        );
        assert_eq!(
            endpoint_for_logs("https://only-user@ironic.example:6385"),
            "https://ironic.example:6385/"
        );
        assert_eq!(
            endpoint_for_logs("http://127.0.0.1:6385"),
            "http://127.0.0.1:6385/"
        );
        assert_eq!(endpoint_for_logs("not a url s3cret"), "<unparseable>");
    }

    #[test]
    fn debug_of_the_config_and_transport_shows_no_credentials() {
        let mut config = ClientConfig::new("http://ironic:s3cret@127.0.0.1:6385/v1");
        config.basic_auth = Some(Credentials {
            username: "ironic".into(),
            password: "hunter2".into(),
        });
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("hunter2"),
            "{printed}"
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = HttpTransport::new(config).unwrap();
        let printed = format!("{transport:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("hunter2"),
            "{printed}"
        );
    }
}
