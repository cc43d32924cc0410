//! HTTPS: a self-signed certificate generated at start (rcgen) served through rustls with the ring
//! crypto provider.

use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Failures building the TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not generate the key or certificate.
    #[error("generating a self-signed certificate for {names:?}: {source}")]
    Generate {
        names: Vec<String>,
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the configuration.
    #[error("configuring rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A self-signed server identity: the certificate (PEM, for clients that want to pin it) and the
/// ready rustls configuration.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate in PEM form.
    pub certificate_pem: String,
    config: RustlsConfig,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Generates a fresh self-signed certificate valid for `names` (DNS names or IP literals).
    pub fn self_signed(names: &[String]) -> Result<Self, TlsError> {
        let certified = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|source| {
            TlsError::Generate {
                names: names.to_vec(),
                source,
            }
        })?;
        let cert_der: CertificateDer<'static> = certified.cert.der().clone();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            certificate_pem: certified.cert.pem(),
            config: RustlsConfig::from_config(Arc::new(config)),
        })
    }

    /// The axum-server rustls configuration.
    pub fn rustls(&self) -> RustlsConfig {
        self.config.clone()
    }
}
