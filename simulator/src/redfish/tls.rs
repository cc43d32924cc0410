//! HTTPS: a self-signed certificate generated at start (`metal_tls::Leaf::self_signed`) served
//! through rustls with the ring crypto provider.

use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;

/// Failures building the TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not generate the key or certificate.
    #[error(transparent)]
    Generate(#[from] metal_tls::GenerateError),
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
        let leaf = metal_tls::Leaf::self_signed(names)?;
        let config = leaf.server_config()?;
        Ok(Self {
            certificate_pem: leaf.cert_pem,
            config: RustlsConfig::from_config(Arc::new(config)),
        })
    }

    /// The axum-server rustls configuration.
    pub fn rustls(&self) -> RustlsConfig {
        self.config.clone()
    }
}
