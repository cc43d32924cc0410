//! The OS image a test provisions: served over HTTP on loopback with its `sha256sum` file, so the
//! simulator's fake agent really downloads it, checks the checksum and writes it to the machine's disk
//! (the bytes and the server are `metal_testkit::images`).

use metal_testkit::images::{FileServer, Image};

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
    _files: FileServer,
}

impl ImageServer {
    /// Serves the image for `label` on 127.0.0.1 (a free port).
    pub async fn start(label: &str) -> anyhow::Result<ImageServer> {
        let image = Image::new(label, 64 * 1024);
        let files = FileServer::start([
            (format!("/e2e/{FILE}"), image.bytes().to_vec()),
            (
                format!("/e2e/{FILE}.sha256sum"),
                image.sha256sum_file(FILE).into_bytes(),
            ),
        ])
        .await?;
        Ok(ImageServer {
            image: ImageRef {
                url: files.url(&format!("/e2e/{FILE}")),
                checksum_url: files.url(&format!("/e2e/{FILE}.sha256sum")),
            },
            _files: files,
        })
    }

    /// The image's URLs.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }
}
