//! Files a provisioning test serves over HTTP on loopback: the OS image the fake agent downloads,
//! checks and writes to a machine's disk, its `sha256sum` file, and the deploy kernel, ramdisk
//! and ISO that real Ironic downloads into its image cache before each ramdisk boot (their bytes
//! are placeholders: the fake agent never runs them).
//!
//! ```ignore
//! let image = Image::new("worker-0", 256 << 10);
//! let files = FileServer::start(deploy_images().chain([("/disk.raw".into(), image.bytes().to_vec())])).await?;
//! let url = files.url("/disk.raw");
//! ```

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

/// The `Last-Modified` every file is served with (Ironic's image cache asks for it).
pub const LAST_MODIFIED: &str = "Sun, 01 Nov 2026 00:00:00 GMT";

/// The deploy kernel's path on a [`FileServer`] serving [`deploy_images`].
pub const KERNEL: &str = "/ipa.kernel";
/// The deploy ramdisk's path.
pub const RAMDISK: &str = "/ipa.initramfs";
/// The deploy ISO's path (virtual-media boot).
pub const ISO: &str = "/ipa.iso";

/// The deploy kernel, ramdisk and ISO as `(path, bytes)`: placeholder bytes at [`KERNEL`],
/// [`RAMDISK`] and [`ISO`].
pub fn deploy_images() -> impl Iterator<Item = (String, Vec<u8>)> {
    [
        (KERNEL, vec![0x4d_u8; 4096]),
        (RAMDISK, vec![0x1f_u8; 8192]),
        (ISO, vec![0_u8; 8192]),
    ]
    .into_iter()
    .map(|(path, bytes)| (path.to_owned(), bytes))
}

/// An OS image: deterministic bytes for a label, and their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    bytes: Vec<u8>,
}

impl Image {
    /// `len` bytes (at least the header line) for `label`: a header line naming it, then a
    /// xorshift stream, the same for the same label and length.
    pub fn new(label: &str, len: usize) -> Image {
        let mut bytes = format!("metal-e2e test image for {label}\n").into_bytes();
        let mut x: u32 = 0x9e37_79b9;
        while bytes.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        Image { bytes }
    }

    /// The image's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The lowercase hex SHA-256 of the bytes.
    pub fn sha256(&self) -> String {
        Sha256::digest(&self.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The image's `sha256sum` file for `name`: `SUM  NAME\n`.
    pub fn sha256sum_file(&self, name: &str) -> String {
        format!("{}  {name}\n", self.sha256())
    }
}

/// A running HTTP server on 127.0.0.1 serving fixed files; stops when dropped.
#[derive(Debug)]
pub struct FileServer {
    base: String,
    task: JoinHandle<()>,
}

impl FileServer {
    /// Serves each `(path, bytes)` (`path` starts with `/`) on a free loopback port, with
    /// [`LAST_MODIFIED`]; any other path is 404.
    pub async fn start(
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> anyhow::Result<FileServer> {
        let mut app = Router::new();
        for (path, bytes) in files {
            let bytes = bytes::Bytes::from(bytes);
            app = app.route(
                &path,
                get(move || {
                    let bytes = bytes.clone();
                    async move { ([(header::LAST_MODIFIED, LAST_MODIFIED)], bytes) }
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the file server")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("file server on {addr} stopped: {e}");
            }
        });
        Ok(FileServer {
            base: format!("http://{addr}"),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path` (starting with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(url: &str) -> (u16, Option<String>, Vec<u8>) {
        // A bare HTTP/1.0 GET over TCP: this crate has no HTTP client.
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head[9..12].parse().unwrap();
        let modified = head
            .lines()
            .find_map(|l| l.strip_prefix("last-modified: "))
            .map(str::to_owned);
        (status, modified, raw[split + 4..].to_vec())
    }

    #[tokio::test]
    async fn files_are_served_on_loopback_with_a_fixed_last_modified() {
        let image = Image::new("w0", 1000);
        assert_eq!(image, Image::new("w0", 1000));
        assert!(image.bytes().starts_with(b"metal-e2e test image for w0\n"));
        assert_eq!(image.sha256().len(), 64);
        let files = FileServer::start(
            deploy_images().chain([("/os.img".to_owned(), image.bytes().to_vec())]),
        )
        .await
        .unwrap();
        assert!(files.base().starts_with("http://127.0.0.1:"));
        let (status, modified, body) = get(&files.url("/os.img")).await;
        assert_eq!(status, 200);
        assert_eq!(modified.as_deref(), Some(LAST_MODIFIED));
        assert_eq!(body, image.bytes());
        assert_eq!(get(&files.url(KERNEL)).await.2.len(), 4096);
        assert_eq!(get(&files.url("/nothing")).await.0, 404);
    }
}
