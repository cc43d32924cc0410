//! The OS image a test provisions: served over HTTP on loopback with its `sha256sum` file, so the
//! simulator's fake agent really downloads it, checks the checksum and writes it to the machine's disk.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

/// The image's file name.
const FILE: &str = "os.img";

/// Where a host's `spec.image` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `spec.image.url`.
    pub url: String,
    /// `spec.image.checksum` (the URL of a `sha256sum` file).
    pub checksum_url: String,
}

/// A running image server; stops when dropped.
#[derive(Debug)]
pub struct ImageServer {
    image: ImageRef,
    task: JoinHandle<()>,
}

/// A deterministic image body for `label` (64 KiB).
fn body(label: &str) -> Vec<u8> {
    let header = format!("metal-e2e test image for {label}\n");
    let mut bytes = header.into_bytes();
    let mut x: u32 = 0x9e37_79b9;
    while bytes.len() < 64 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

impl ImageServer {
    /// Serves the image for `label` on 127.0.0.1 (a free port).
    pub async fn start(label: &str) -> anyhow::Result<ImageServer> {
        let image = body(label);
        let sum = Sha256::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let sum_file = format!("{sum}  {FILE}\n");
        let app = Router::new()
            .route(&format!("/e2e/{FILE}"), get(move || async move { image }))
            .route(
                &format!("/e2e/{FILE}.sha256sum"),
                get(move || async move { sum_file }),
            );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the image server")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("image server stopped: {e}");
            }
        });
        Ok(ImageServer {
            image: ImageRef {
                url: format!("http://{addr}/e2e/{FILE}"),
                checksum_url: format!("http://{addr}/e2e/{FILE}.sha256sum"),
            },
            task,
        })
    }

    /// The image's URLs.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
