//! The validating admission webhook: the API server sends an `admission.k8s.io/v1` AdmissionReview
//! for every create and update of a BareMetalHost, HostClaim or HostPool, and the operator
//! answers with the rules its controllers already apply, so a bad spec is refused at `kubectl
//! apply` instead of surfacing later as an error status.
//!
//! * [`review`]: the pure core, AdmissionReview in → AdmissionReview out.
//! * [`server`]: the axum router (one path per kind) and HTTPS serving.
//! * [`certificate`]: the serving certificate, generated with its own CA or loaded from a
//!   directory.
//! * [`registration`]: writing a generated CA into a ValidatingWebhookConfiguration's `caBundle`.
//!
//! A generated CA is new at every start, so every replica has its own: run one replica (as kind
//! does), or give all replicas the same certificate with a directory (cert-manager).

pub mod certificate;
pub mod registration;
pub mod review;
pub mod server;

use std::path::{Path, PathBuf};

use tracing::info;

use crate::telemetry::Readiness;

pub use certificate::{CertificateError, Identity, serving_names};
pub use registration::{RegistrationError, ca_bundle_patch, register};
pub use review::{Review, ReviewError, Target, review};
pub use server::{Serving, WebhookState, app, serve};

/// Where the serving certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// A CA and a certificate for these names (DNS names or IP addresses), generated at start.
    Generate { names: Vec<String> },
    /// `tls.crt`, `tls.key` and, when present, `ca.crt` in this directory.
    Directory(PathBuf),
}

impl std::fmt::Display for CertificateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate { names } => write!(f, "generated for {}", names.join(", ")),
            Self::Directory(dir) => write!(f, "loaded from {}", dir.display()),
        }
    }
}

/// The webhook's settings (`metal-operator run`'s `--webhook-*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    pub certificate: CertificateSource,
    /// ValidatingWebhookConfiguration whose webhooks get the CA as `caBundle` at start.
    pub configuration: Option<String>,
    /// File the CA (PEM) is written to, for a harness registering the webhook by URL.
    pub ca_file: Option<PathBuf>,
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The serving certificate could not be generated or loaded.
    #[error("preparing the webhook certificate")]
    Certificate(#[from] CertificateError),
    /// A CA is needed but the certificate directory has no `ca.crt`.
    #[error("the webhook certificate ({certificate}) comes without ca.crt, which {purpose} needs")]
    NoCa {
        certificate: String,
        purpose: &'static str,
    },
    /// The CA file could not be written.
    #[error("writing the webhook CA to {path}")]
    WriteCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The HTTPS server could not start on the listener.
    #[error("starting the webhook server")]
    Serve(#[source] std::io::Error),
}

/// Starts the webhook on `listener`: the certificate, the HTTPS server, the CA file, then (in the
/// background, retried until it succeeds) the `caBundle` patch. `readiness` is held back from
/// the call until the server listens and the patch, if any, is written.
pub async fn start(
    settings: WebhookSettings,
    listener: std::net::TcpListener,
    state: WebhookState,
    client: kube::Client,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Serving, WebhookError> {
    readiness.await_webhook();
    let WebhookSettings {
        certificate,
        configuration,
        ca_file,
    } = settings;
    let identity = match &certificate {
        CertificateSource::Generate { names } => Identity::generate(names)?,
        CertificateSource::Directory(dir) => Identity::load(dir)?,
    };
    let ca_needed = |purpose| {
        identity
            .ca_pem()
            .map(str::to_owned)
            .ok_or_else(|| WebhookError::NoCa {
                certificate: certificate.to_string(),
                purpose,
            })
    };
    let bundle = configuration
        .as_ref()
        .map(|_| ca_needed("--webhook-configuration"))
        .transpose()?;
    let ca_copy = ca_file
        .as_ref()
        .map(|path| ca_needed("--webhook-ca-file").map(|ca| (path, ca)))
        .transpose()?;
    let tls = identity.server_config()?;
    let serving = serve(listener, app(state), tls, shutdown)
        .await
        .map_err(WebhookError::Serve)?;
    info!(address = %serving.address, certificate = %certificate, "webhook serving");
    if let Some((path, ca)) = ca_copy {
        write_atomically(path, &ca).map_err(|source| WebhookError::WriteCa {
            path: path.clone(),
            source,
        })?;
        info!(path = %path.display(), "webhook CA written");
    }
    match (configuration, bundle) {
        (Some(name), Some(ca)) => {
            tokio::spawn(async move {
                registration::register_until_done(client, &name, &ca).await;
                readiness.set_webhook_serving();
            });
        }
        _ => readiness.set_webhook_serving(),
    }
    Ok(serving)
}

/// Writes `text` to a sibling temporary file and renames it over `path`, so a reader polling for
/// the file never sees it half written.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
