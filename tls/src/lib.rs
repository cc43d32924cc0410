//! TLS plumbing written once for every crate that speaks or serves HTTPS: rustls with the ring
//! crypto provider throughout; and the secrets helpers every crate shares (OS randomness,
//! constant-time comparison, private files). It depends on no other crate of the workspace.

/// Client configurations: roots from a CA bundle, the system, or none, and the `insecure` verifier
/// that accepts any server certificate (handshake signatures still checked).
pub mod client;
/// Generated certificates: a self-signed server certificate, or a CA and the server and client
/// leaves it signs.
pub mod generate;
/// Secrets: randomness from the operating system, constant-time comparison, private files
/// (mode 0600 from creation) replaced atomically and durably.
pub mod secret;
/// Server configurations from a certificate chain and key (HTTP/2 and HTTP/1.1 offered).
pub mod server;

pub use client::{ClientError, Roots, client_config};
pub use generate::{Authority, GenerateError, Leaf};
pub use server::server_config;

use std::sync::Arc;

/// The crypto provider every configuration here is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
