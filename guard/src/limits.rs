use std::time::Duration;

/// The bounds a server's listener enforces; [`Limits::default`] holds the production values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers (and, on a new connection, to
    /// start its first request) before the connection is closed. Default 10 s.
    pub header_read_timeout: Duration,
    /// How long the server may take to answer a request, reading its body included, before it
    /// answers `408 Request Timeout` instead. A streamed response body (a watch) is not counted:
    /// the bound ends when the response head is ready. Default 60 s (kube-apiserver's
    /// `--request-timeout` default).
    pub request_timeout: Duration,
    /// How many requests may be in flight at once; the next is answered `503` with
    /// `Retry-After: 1`. Default 1024.
    pub max_concurrent_requests: usize,
    /// The largest request body accepted, in bytes; a larger one is answered `413`. Default 8 MiB.
    pub body_limit: usize,
    /// Paths (exact) that the concurrency limit never refuses: health probes, which must answer
    /// while the server is busy. Default none.
    pub exempt_paths: Vec<String>,
    /// How many connections may be open at once (TLS handshakes and idle keep-alive connections
    /// included); a connection beyond it is closed as soon as it is accepted, before anything is
    /// read from it. Default 4096.
    pub max_connections: usize,
}

impl Limits {
    /// The default header-read timeout.
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default request timeout.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default concurrency limit.
    pub const MAX_CONCURRENT_REQUESTS: usize = 1024;
    /// The default body limit (8 MiB).
    pub const BODY_LIMIT: usize = 8 << 20;
    /// The default connection cap.
    pub const MAX_CONNECTIONS: usize = 4096;

    /// These limits with another body limit.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// These limits with `paths` exempt from the concurrency limit.
    #[must_use]
    pub fn with_exempt_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.exempt_paths.extend(paths.into_iter().map(Into::into));
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::HEADER_READ_TIMEOUT,
            request_timeout: Self::REQUEST_TIMEOUT,
            max_concurrent_requests: Self::MAX_CONCURRENT_REQUESTS,
            body_limit: Self::BODY_LIMIT,
            exempt_paths: Vec::new(),
            max_connections: Self::MAX_CONNECTIONS,
        }
    }
}
