//! The one listener rule every HTTP server of the project serves under.
//!
//! A server hands its service (an axum `Router`, or a wrapper around one) to [`serve`] with the
//! [`Limits`] it wants; [`serve`] accepts plain TCP or TLS connections and applies, to every
//! connection and request:
//!
//! - a header-read timeout (HTTP/1: hyper's `header_read_timeout` on a Tokio timer; and, for any
//!   protocol, a bound on the time before the first request arrives): a client that trickles its
//!   headers is cut off;
//! - a request timeout: a request whose handling (reading its body included) takes longer is
//!   answered `408 Request Timeout`;
//! - a concurrency limit: when that many requests are in flight, the next is answered
//!   `503 Service Unavailable` with `Retry-After` at once (load shedding, not a queue), except on
//!   the paths the server exempts (health probes);
//! - a body limit enforced while the body is read: a declared `Content-Length` above it is answered
//!   `413 Payload Too Large` before the handler runs; a chunked body is cut at the limit, and the
//!   handler's extractor answers 413, so no more than the limit is ever buffered;
//! - a connection cap: at most that many connections open at once (handshakes and idle
//!   keep-alive connections included); one beyond it is closed as soon as it is accepted.

/// The connection cap (an acceptor wrapping the plain or TLS one).
mod connections;
/// What the rule allows: the [`Limits`] and their production defaults.
mod limits;
/// The accept loop: [`serve`] over plain TCP or TLS.
mod serve;
/// The per-request part of the rule: the tower service wrapping a server's own.
mod service;

pub use limits::Limits;
pub use serve::serve;
pub use service::{Guarded, is_over_limit};
