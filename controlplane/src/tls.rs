//! The control plane's identity: a self-signed CA, a serving certificate for 127.0.0.1 signed by
//! it (`metal_tls::Authority`), a bearer token, and the kubeconfig file that carries all three to
//! clients.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;

/// Failures building the identity or writing the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// rcgen could not generate a key or certificate.
    #[error(transparent)]
    Generate(#[from] metal_tls::GenerateError),
    /// rustls refused the configuration.
    #[error("configuring rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The kubeconfig could not be written.
    #[error("writing kubeconfig {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// CA and serving certificate plus the bearer token clients must present.
#[derive(Clone)]
pub struct Identity {
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    /// The bearer token clients must send (`Authorization: Bearer …`).
    pub token: String,
    config: RustlsConfig,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Generates a CA and a serving certificate for `127.0.0.1`/`localhost`; the token is drawn
    /// from `rng` (seeded by the caller).
    pub fn generate(rng: &mut impl rand::Rng) -> Result<Self, IdentityError> {
        let ca = metal_tls::Authority::generate("metal-sim control plane CA")?;
        let leaf = ca.sign_server(&["127.0.0.1", "localhost"], "metal-sim-apiserver")?;
        let config = leaf.server_config()?;
        let mut bytes = [0u8; 24];
        rng.fill_bytes(&mut bytes);
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            ca_pem: ca.ca_pem().to_owned(),
            token,
            config: RustlsConfig::from_config(Arc::new(config)),
        })
    }

    /// The axum-server rustls configuration.
    pub fn rustls(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// The kubeconfig document for a server at `server` (e.g. `https://127.0.0.1:6443`).
    pub fn kubeconfig(&self, server: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: metal-sim\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: metal-sim\n  user:\n    token: {token}\ncontexts:\n- name: metal-sim\n  context:\n    cluster: metal-sim\n    user: metal-sim\n    namespace: default\ncurrent-context: metal-sim\n",
            token = self.token
        )
    }

    /// Writes the kubeconfig (mode 0600 on Unix: it holds the token).
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> Result<(), IdentityError> {
        let err = |source| IdentityError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(path, self.kubeconfig(server)).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        Ok(())
    }
}
