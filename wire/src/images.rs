//! The OS image a wire run provisions, served over HTTP on loopback with its `sha256sum` file, so
//! the fake agent's `write_image` downloads and verifies real bytes. Scenario files name it as
//! `$IMAGES/os.qcow2` (and `$IMAGES/os.qcow2.sha256sum`); the runner replaces `$IMAGES` with this
//! server's base URL in every string it sends.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use super::WireError;

/// The placeholder scenario files use for the image server's base URL.
pub const PLACEHOLDER: &str = "$IMAGES";

/// File name of the image.
pub const FILE: &str = "os.qcow2";

/// The running image server.
pub struct Images {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

/// Seeded image bytes (64 KiB) — the content only has to be stable and checkable.
fn image(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x696d_6167);
    let mut bytes = b"metal-sim scenario image\n".to_vec();
    while bytes.len() < 64 * 1024 {
        bytes.extend_from_slice(&rng.random::<u64>().to_le_bytes());
    }
    bytes
}

impl Images {
    /// Serves the image until `stop` is cancelled.
    pub async fn start(seed: u64, stop: CancellationToken) -> Result<Images, WireError> {
        let bytes = image(seed);
        let sum = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let checksum = format!("{sum}  {FILE}\n");
        let app = Router::new()
            .route(&format!("/{FILE}"), get(move || async move { bytes }))
            .route(
                &format!("/{FILE}.sha256sum"),
                get(move || async move { checksum }),
            );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| WireError::Start(format!("image server: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| WireError::Start(format!("image server: {e}")))?;
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "image server stopped");
            }
        });
        Ok(Images {
            base: format!("http://{addr}"),
        })
    }

    /// `value` with every `$IMAGES` in its strings replaced by the server's base URL.
    pub fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) if s.contains(PLACEHOLDER) => {
                Value::String(s.replace(PLACEHOLDER, &self.base))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The image URL.
    pub fn url(&self) -> String {
        format!("{}/{FILE}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_is_replaced_in_nested_strings_only() {
        let images = Images {
            base: "http://127.0.0.1:1234".into(),
        };
        let v = serde_json::json!({"spec": {"image": {"url": "$IMAGES/os.qcow2", "n": 3}}, "l": ["$IMAGES"]});
        let out = images.substitute(&v);
        assert_eq!(
            out["spec"]["image"]["url"],
            "http://127.0.0.1:1234/os.qcow2"
        );
        assert_eq!(out["spec"]["image"]["n"], 3);
        assert_eq!(out["l"][0], "http://127.0.0.1:1234");
    }

    #[test]
    fn the_image_is_the_same_for_the_same_seed() {
        assert_eq!(image(3), image(3));
        assert_ne!(image(3), image(4));
        assert!((64 * 1024..64 * 1024 + 8).contains(&image(3).len()));
    }
}
