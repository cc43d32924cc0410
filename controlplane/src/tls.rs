//! The control plane's identity: a self-signed CA, a serving certificate for 127.0.0.1 signed by
//! it (rcgen), a bearer token, and the kubeconfig file that carries all three to clients.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Failures building the identity or writing the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// rcgen could not generate a key or certificate.
    #[error("generating the {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
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

fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> IdentityError {
    move |source| IdentityError::Generate { what, source }
}

impl Identity {
    /// Generates a CA and a serving certificate for `127.0.0.1`/`localhost`; the token is drawn
    /// from `rng` (seeded by the caller).
    pub fn generate(rng: &mut impl rand::Rng) -> Result<Self, IdentityError> {
        let ca_key = KeyPair::generate().map_err(generate("CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(generate("CA"))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "metal-sim control plane CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(generate("CA"))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().map_err(generate("serving key"))?;
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .map_err(generate("serving certificate"))?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "metal-sim-apiserver");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .map_err(generate("serving certificate"))?;

        let cert_der: CertificateDer<'static> = leaf.der().clone();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut bytes = [0u8; 24];
        rng.fill_bytes(&mut bytes);
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            ca_pem: ca_cert.pem(),
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
