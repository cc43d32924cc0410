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
    /// Generates a CA and a serving certificate for `127.0.0.1`/`localhost`; the token comes
    /// from the operating system's random generator (a secret: never from the seed).
    pub fn generate() -> Result<Self, IdentityError> {
        let ca = metal_tls::Authority::generate("metal-sim control plane CA")?;
        let leaf = ca.sign_server(&["127.0.0.1", "localhost"], "metal-sim-apiserver")?;
        let config = leaf.server_config()?;
        let token = metal_tls::secret::random_hex(24);
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

    /// Writes the kubeconfig privately (it holds the token): created mode 0600 on Unix, replaced
    /// atomically (`metal_tls::secret::write_private`).
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> Result<(), IdentityError> {
        metal_tls::secret::write_private(path, self.kubeconfig(server).as_bytes()).map_err(
            |source| IdentityError::Write {
                path: path.display().to_string(),
                source,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Identity::generate().unwrap()
    }

    #[test]
    fn each_identity_has_its_own_token_and_debug_does_not_print_it() {
        let (a, b) = (identity(), identity());
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 48);
        let printed = format!("{a:?}");
        assert!(!printed.contains(&a.token), "{printed}");
    }

    #[cfg(unix)]
    #[test]
    fn the_kubeconfig_is_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, "an older, world-readable file").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let id = identity();
        id.write_kubeconfig(&path, "https://127.0.0.1:6443")
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains(&id.token));
    }
}
