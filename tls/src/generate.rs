use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// rcgen could not generate a key or certificate.
#[derive(Debug, thiserror::Error)]
#[error("generating the {what}: {source}")]
pub struct GenerateError {
    /// What was being generated ("CA key", "serving certificate for [..]", …).
    pub what: String,
    #[source]
    pub source: rcgen::Error,
}

fn failed(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> GenerateError {
    let what = what.into();
    move |source| GenerateError { what, source }
}

/// A certificate and its private key, in PEM and DER.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of every log line.
        f.debug_struct("Leaf").finish_non_exhaustive()
    }
}

impl Leaf {
    fn new(cert: rcgen::Certificate, key: &KeyPair) -> Leaf {
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    /// A fresh self-signed certificate valid for `names` (DNS names or IP literals).
    pub fn self_signed<S: AsRef<str>>(names: &[S]) -> Result<Leaf, GenerateError> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_owned()).collect();
        let what = format!("self-signed certificate for {names:?}");
        let certified = rcgen::generate_simple_self_signed(names).map_err(failed(what))?;
        Ok(Leaf::new(certified.cert, &certified.signing_key))
    }

    /// The certificate chain to serve (this certificate alone).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    /// The private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }

    /// A server configuration serving this certificate ([`crate::server_config`]).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, rustls::Error> {
        crate::server_config(self.chain(), self.key())
    }
}

/// A certificate authority generated at start, able to sign server and client certificates.
#[derive(Clone)]
pub struct Authority {
    params: CertificateParams,
    key_pem: String,
    ca_pem: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A fresh self-signed CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Authority, GenerateError> {
        let key = KeyPair::generate().map_err(failed("CA key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(failed("CA certificate"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(failed("CA certificate"))?;
        Ok(Authority {
            params,
            key_pem: key.serialize_pem(),
            ca_pem: cert.pem(),
        })
    }

    /// The CA certificate (PEM) clients trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A serving certificate for `names` (DNS names or IP literals) named `common_name`.
    pub fn sign_server<S: AsRef<str>>(
        &self,
        names: &[S],
        common_name: &str,
    ) -> Result<Leaf, GenerateError> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_owned()).collect();
        let what = format!("serving certificate for {common_name}");
        let mut params = CertificateParams::new(names).map_err(failed(what.clone()))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, what)
    }

    /// A client certificate for user `name`; Kubernetes reads each of `groups` (an Organization
    /// of the subject) as a group.
    pub fn sign_client(&self, name: &str, groups: &[&str]) -> Result<Leaf, GenerateError> {
        let what = format!("client certificate for {name}");
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(failed(what.clone()))?;
        params.distinguished_name.push(DnType::CommonName, name);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, what)
    }

    fn sign(&self, mut params: CertificateParams, what: String) -> Result<Leaf, GenerateError> {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let ca_key = KeyPair::from_pem(&self.key_pem).map_err(failed("CA key"))?;
        let issuer = Issuer::from_params(&self.params, ca_key);
        let key = KeyPair::generate().map_err(failed(format!("key of the {what}")))?;
        let cert = params.signed_by(&key, &issuer).map_err(failed(what))?;
        Ok(Leaf::new(cert, &key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_build_server_configs_and_keep_their_keys_out_of_debug() {
        let ca = Authority::generate("test CA").unwrap();
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let server = ca
            .sign_server(&["127.0.0.1", "localhost"], "server")
            .unwrap();
        assert!(server.server_config().is_ok());
        let client = ca.sign_client("admin", &["system:masters"]).unwrap();
        assert!(client.key_pem.contains("PRIVATE KEY"));
        let own = Leaf::self_signed(&["localhost"]).unwrap();
        assert!(own.server_config().is_ok());
        for debug in [format!("{client:?}"), format!("{own:?}"), format!("{ca:?}")] {
            assert!(!debug.contains("PRIVATE KEY"));
        }
    }
}
