//! The real control plane's PKI, generated in Rust (`metal_tls::Authority`) for every start: a CA,
//! the apiserver's serving certificate for loopback, an admin client certificate in
//! `system:masters`, and the service-account signing key pair. Nothing is reused between runs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use metal_tls::Authority;
use rcgen::KeyPair;

/// Names the apiserver's serving certificate is valid for. Only the loopback ones are ever dialled;
/// the in-cluster names are there because clients inside a cluster use them.
const SERVING_NAMES: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The files one start writes into its directory.
#[derive(Debug, Clone)]
pub struct Pki {
    /// CA certificate (PEM), trusted by clients and used as the apiserver's client CA.
    pub ca_cert: PathBuf,
    /// The apiserver's serving certificate and key.
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    /// Service-account token signing key (private, PKCS#8) and its public half.
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
    /// The CA in PEM, for kubeconfigs and webhook `caBundle`s.
    pub ca_pem: String,
    /// A CA able to sign more leaves (webhook servers, further clients).
    ca: Authority,
}

/// A client or serving identity: certificate and key in PEM (`cert_pem`, `key_pem`).
pub type ClientIdentity = metal_tls::Leaf;

/// Writes a key or a credential: mode 0600 from creation (`metal_tls::secret::write_private`).
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    metal_tls::secret::write_private(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

impl Pki {
    /// Generates every key and certificate into `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<Pki> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ca = Authority::generate("metal-e2e kubernetes CA")?;
        let serving = ca.sign_server(SERVING_NAMES, "kube-apiserver")?;
        let sa = KeyPair::generate().context("generating the service-account key")?;

        let pki = Pki {
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            ca_pem: ca.ca_pem().to_owned(),
            ca,
        };
        std::fs::write(&pki.ca_cert, &pki.ca_pem)?;
        std::fs::write(&pki.serving_cert, &serving.cert_pem)?;
        write_private(&pki.serving_key, &serving.key_pem)?;
        write_private(&pki.sa_key, &sa.serialize_pem())?;
        std::fs::write(&pki.sa_pub, sa.public_key_pem())?;
        Ok(pki)
    }

    /// A client certificate for user `name` in `groups`, signed by the CA the apiserver trusts.
    pub fn client(&self, name: &str, groups: &[&str]) -> anyhow::Result<ClientIdentity> {
        Ok(self.ca.sign_client(name, groups)?)
    }

    /// A serving certificate for `names` (e.g. a webhook on 127.0.0.1), signed by the CA.
    pub fn server(&self, names: &[&str], common_name: &str) -> anyhow::Result<ClientIdentity> {
        Ok(self.ca.sign_server(names, common_name)?)
    }
}

/// How a kubeconfig's user proves who it is.
pub enum Credential<'a> {
    /// A client certificate.
    Certificate(&'a ClientIdentity),
    /// A bearer token (e.g. a ServiceAccount's).
    Token(&'a str),
}

/// Writes a kubeconfig for `server` trusting `ca_pem` (mode 0600: it holds a credential).
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    user: &str,
    credential: Credential<'_>,
) -> anyhow::Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let user_fields = match credential {
        Credential::Certificate(id) => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&id.cert_pem),
            b64(&id.key_pem)
        ),
        Credential::Token(token) => format!("    token: {token}\n"),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n{user_fields}contexts:\n\
         - name: {user}\n  context:\n    cluster: real\n    user: {user}\n    namespace: default\n\
         current-context: {user}\n",
        ca = b64(ca_pem),
    );
    write_private(path, &text)
}
