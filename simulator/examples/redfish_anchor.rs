//! The physical anchor of the Redfish benchmark (`scripts/bench-redfish.sh`): the smallest useful
//! hyper 1.x HTTP/1.1 server, answering every request with one fixed response — the exact body
//! (and headers) our fake Redfish BMC returned for a System, captured once by the script. Whatever
//! our fake does beyond this (routing, authentication, rendering the machine's state) is what the
//! ratio "metal-sim / anchor" prices.
//!
//! ```text
//! redfish_anchor --listen 127.0.0.1:0 --body system.json [--headers headers.txt] [--max-seconds 600]
//! ```
//!
//! `--headers` takes `Name: value` lines (e.g. `curl -D` output; the status line, `Date`,
//! `Content-Length`, `Connection` and `Transfer-Encoding` are skipped, hyper writes those).
//! Prints `listening on ADDRESS` once bound; loopback only; exits after `--max-seconds`
//! (default 600) so a forgotten anchor never outlives its benchmark.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

struct Options {
    listen: SocketAddr,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    max_seconds: u64,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "redfish_anchor: {problem}\nusage: redfish_anchor --listen 127.0.0.1:PORT --body FILE [--headers FILE] [--max-seconds N]"
    );
    std::process::exit(2)
}

/// `Name: value` lines; hop-by-hop and length headers are left to hyper.
fn parse_headers(text: &str) -> Vec<(HeaderName, HeaderValue)> {
    const SKIPPED: [&str; 4] = ["date", "content-length", "connection", "transfer-encoding"];
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| !SKIPPED.contains(&name.trim().to_ascii_lowercase().as_str()))
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                HeaderValue::from_str(value.trim()).ok()?,
            ))
        })
        .collect()
}

fn options() -> Options {
    let mut listen = None;
    let mut body = None;
    let mut headers = Vec::new();
    let mut max_seconds = 600;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let read = |path: &str| {
            std::fs::read(path).unwrap_or_else(|e| usage(&format!("cannot read {path}: {e}")))
        };
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse::<SocketAddr>()
                        .unwrap_or_else(|e| usage(&format!("--listen {value}: {e}"))),
                );
            }
            "--body" => body = Some(Bytes::from(read(&value))),
            "--headers" => headers = parse_headers(&String::from_utf8_lossy(&read(&value))),
            "--max-seconds" => {
                max_seconds = value
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--max-seconds {value}: {e}")));
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    let listen = listen.unwrap_or_else(|| usage("--listen is required"));
    if !listen.ip().is_loopback() {
        usage("the anchor listens on loopback only");
    }
    Options {
        listen,
        body: body.unwrap_or_else(|| usage("--body is required")),
        headers,
        max_seconds,
    }
}

fn response(body: &Bytes, headers: &[(HeaderName, HeaderValue)]) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.clone()));
    for (name, value) in headers {
        r.headers_mut().append(name.clone(), value.clone());
    }
    r
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Options {
        listen,
        body,
        headers,
        max_seconds,
    } = options();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let shared = std::sync::Arc::new((body, headers));
    let accept = async {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let (body, headers) = &*shared;
                    std::future::ready(Ok::<_, Infallible>(response(body, headers)))
                });
                // A client closing mid-request is not the anchor's concern.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    tokio::select! {
        r = accept => r,
        () = tokio::time::sleep(Duration::from_secs(max_seconds)) => Ok(()),
    }
}
