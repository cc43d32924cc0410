//! The webhook's TLS identity: a serving certificate signed by a CA generated at start (rcgen),
//! or `tls.crt` and `tls.key` loaded from a directory, as controller-runtime reads a mounted
//! cert-manager Secret (whose optional `ca.crt` is then the CA).

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the serving identity could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// rcgen could not generate a key or certificate.
    #[error("generating the webhook certificate")]
    Generate(#[from] metal_tls::GenerateError),
    /// A file of the certificate directory could not be read.
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{path} holds no PEM {what}")]
    NoPem { path: PathBuf, what: &'static str },
    /// rustls refused the certificate and key.
    #[error("configuring TLS for the webhook")]
    Rustls(#[from] rustls::Error),
}

/// The names the generated certificate is valid for: loopback, the webhook Service's in-cluster
/// DNS names when a Service is given, and `extra`, without duplicates, in that order.
pub fn serving_names(service: Option<&str>, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    if let Some(service) = service.filter(|s| !s.is_empty()) {
        names.push(format!("{service}.{namespace}.svc"));
        names.push(format!("{service}.{namespace}.svc.cluster.local"));
    }
    for name in extra {
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// A serving certificate chain and key, and the CA (PEM) that signed it when known.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_pem: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of every log line.
        f.debug_struct("Identity")
            .field("has_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh CA and a serving certificate it signs for `names` (DNS names or IP addresses).
    pub fn generate(names: &[String]) -> Result<Self, CertificateError> {
        let ca = metal_tls::Authority::generate("metal-operator webhook CA")?;
        let leaf = ca.sign_server(names, "metal-operator-webhook")?;
        Ok(Self {
            chain: leaf.chain(),
            key: leaf.key(),
            ca_pem: Some(ca.ca_pem().to_owned()),
        })
    }

    /// `tls.crt` and `tls.key` from `dir`, and `ca.crt` when present; parsed now, so a bad file
    /// fails the start rather than the first handshake.
    pub fn load(dir: &Path) -> Result<Self, CertificateError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| CertificateError::Read { path, source })
        };
        let no_pem = |name: &str, what| CertificateError::NoPem {
            path: dir.join(name),
            what,
        };
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &read("tls.crt")?[..])
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(no_pem("tls.crt", "certificate"));
        }
        let key = rustls_pemfile::private_key(&mut &read("tls.key")?[..])
            .ok()
            .flatten()
            .ok_or_else(|| no_pem("tls.key", "private key"))?;
        let ca_pem = if dir.join("ca.crt").exists() {
            let pem = String::from_utf8(read("ca.crt")?).map_err(|_| no_pem("ca.crt", "CA"))?;
            Some(pem)
        } else {
            None
        };
        Ok(Self { chain, key, ca_pem })
    }

    /// The CA that signed the serving certificate (PEM), for `caBundle`s and clients.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The rustls server configuration (ring provider; HTTP/2 and HTTP/1.1 offered).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, CertificateError> {
        Ok(metal_tls::server_config(
            self.chain.clone(),
            self.key.clone_key(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    #[test]
    fn the_service_names_join_loopback_only_when_a_service_is_known() {
        assert_eq!(serving_names(None, "ns", &[]), ["127.0.0.1", "localhost"]);
        assert_eq!(
            serving_names(
                Some("metal-operator-webhook"),
                "metal3-system",
                &["localhost".into(), "webhook.example".into()]
            ),
            [
                "127.0.0.1",
                "localhost",
                "metal-operator-webhook.metal3-system.svc",
                "metal-operator-webhook.metal3-system.svc.cluster.local",
                "webhook.example",
            ]
        );
    }

    #[test]
    fn a_generated_identity_carries_its_ca_and_a_usable_server_config() {
        let identity = Identity::generate(&serving_names(None, "ns", &[])).unwrap();
        assert!(
            identity
                .ca_pem()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(identity.server_config().is_ok());
        assert!(!format!("{identity:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_certificate_directory_is_loaded_with_its_optional_ca_and_refused_naming_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
        let error = Identity::load(dir.path()).unwrap_err();
        assert!(matches!(&error, CertificateError::Read { path, .. } if path.ends_with("tls.key")));
        std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
        let error = Identity::load(dir.path()).unwrap_err();
        assert!(
            matches!(&error, CertificateError::NoPem { path, .. } if path.ends_with("tls.key"))
        );
        std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
        let loaded = Identity::load(dir.path()).unwrap();
        assert!(loaded.ca_pem().is_none() && loaded.server_config().is_ok());
        std::fs::write(dir.path().join("ca.crt"), cert.pem()).unwrap();
        assert_eq!(
            Identity::load(dir.path()).unwrap().ca_pem(),
            Some(&*cert.pem())
        );
    }
}
