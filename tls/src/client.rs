use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone, Copy)]
pub enum Roots<'a> {
    /// The certificates of a PEM bundle (at least one).
    Pem(&'a [u8]),
    /// The system's certificates; unreadable ones only limit which servers verify.
    System,
    /// None: every server certificate fails verification (unless `insecure`).
    Empty,
}

/// Why a client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The bundle is not valid PEM.
    #[error("CA file is not valid PEM: {0}")]
    Pem(std::io::Error),
    /// rustls refused a certificate of the bundle.
    #[error("CA certificate rejected: {0}")]
    Rejected(rustls::Error),
    /// The bundle holds no certificate.
    #[error("CA file holds no certificate")]
    NoCertificate,
    /// rustls refused the protocol versions.
    #[error("TLS set-up failed: {0}")]
    Setup(rustls::Error),
    /// The client certificate or key could not be read or was refused.
    #[error("client certificate: {0}")]
    Identity(String),
}

/// A rustls client configuration trusting `roots`, or, when `insecure`, accepting any server
/// certificate (the roots are still read, so a bad bundle is refused either way).
pub fn client_config(
    roots: Roots<'_>,
    insecure: bool,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::Pem(pem) => {
            let mut reader = pem;
            let mut added = 0usize;
            for cert in rustls_pemfile::certs(&mut reader) {
                store
                    .add(cert.map_err(ClientError::Pem)?)
                    .map_err(ClientError::Rejected)?;
                added += 1;
            }
            if added == 0 {
                return Err(ClientError::NoCertificate);
            }
        }
        Roots::System => {
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
        Roots::Empty => {}
    }
    let provider = crate::provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ClientError::Setup)?;
    Ok(if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder.with_root_certificates(store).with_no_client_auth()
    })
}

/// Accepts any server certificate but still checks handshake signatures (`insecure`, Ironic's
/// `IRONIC_INSECURE`, `redfish_verify_ca=false`).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client configuration trusting `roots` (PEM) and presenting the client certificate
/// chain `cert_pem` with its private key `key_pem` (mutual TLS, e.g. a kubelet's kubeconfig).
pub fn client_auth_config(
    roots: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<rustls::ClientConfig, ClientError> {
    let mut store = rustls::RootCertStore::empty();
    let mut reader = roots;
    for cert in rustls_pemfile::certs(&mut reader) {
        store
            .add(cert.map_err(ClientError::Pem)?)
            .map_err(ClientError::Rejected)?;
    }
    if store.is_empty() {
        return Err(ClientError::NoCertificate);
    }
    let mut reader = cert_pem;
    let chain = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Identity(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(ClientError::Identity("no certificate in the PEM".into()));
    }
    let mut reader = key_pem;
    let key = rustls_pemfile::private_key(&mut reader)
        .map_err(|e| ClientError::Identity(format!("key is not PEM: {e}")))?
        .ok_or_else(|| ClientError::Identity("no private key in the PEM".into()))?;
    rustls::ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(ClientError::Setup)?
        .with_root_certificates(store)
        .with_client_auth_cert(chain, key)
        .map_err(|e| ClientError::Identity(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_certificate_is_refused_and_every_trust_builds() {
        assert!(matches!(
            client_config(Roots::Pem(b"no pem here"), false),
            Err(ClientError::NoCertificate)
        ));
        let ca = crate::Authority::generate("test CA").unwrap();
        assert!(client_config(Roots::Pem(ca.ca_pem().as_bytes()), false).is_ok());
        assert!(client_config(Roots::Empty, true).is_ok());
        assert!(client_config(Roots::System, false).is_ok());
    }
}
