//! The mock Ironic's API: node and port bodies, JSON patches, queries, agent endpoints, through
//! `metal_sim::ironic::app`.

use std::sync::Arc;

use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::ironic::{AppState, Clock, app};

use crate::http::{self, Written};

/// The BMC password of the node every input starts with: no answer may show it.
pub const SECRET: &str = "fuzz-Secret-9f3b";
/// That node's UUID (seeds patch it).
pub const NODE: &str = "5a1d0000-0000-4000-8000-000000000001";
const VERSION: (&str, &str) = ("x-openstack-ironic-api-version", "1.89");

/// Creates a node whose `driver_info` holds [`SECRET`], then sends the input's requests (at
/// microversion 1.89 unless they name one). No answer may be a 500 or mislabelled JSON, and
/// unless the input itself carries the secret, no answer may contain it (masked fields, `copy`
/// and `move` patches, lookups).
pub fn requests(data: &[u8]) {
    let requests = http::parse(data);
    if requests.is_empty() {
        return;
    }
    let clock: Clock = Arc::new(crate::fixed_now);
    let state = AppState::new(Settings::with(Timings::instant(), false), 7, clock)
        .expect("the mock's state builds");
    let router = app(state);
    let input_has_secret = data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    http::block_on(async {
        let create = Written {
            method: axum::http::Method::POST,
            target: "/v1/nodes".into(),
            headers: axum::http::HeaderMap::new(),
            body: serde_json::json!({
                "uuid": NODE,
                "name": "fuzz-node",
                "driver": "redfish",
                "driver_info": {
                    "redfish_address": "http://127.0.0.1:1",
                    "redfish_system_id": "/redfish/v1/Systems/1",
                    "redfish_username": "admin",
                    "redfish_password": SECRET,
                },
            })
            .to_string()
            .into_bytes(),
        };
        let defaults = [VERSION, ("content-type", "application/json")];
        let made = http::send(&router, &create, &defaults).await;
        assert!(
            made.status.is_success(),
            "the first node is created: {made:?}"
        );
        for r in &requests {
            let answer = http::send(&router, r, &defaults).await;
            answer.check("ironic", r);
            let shows_secret = answer
                .body
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes());
            assert!(
                input_has_secret || !shows_secret,
                "ironic: the BMC password in the answer to {} {}: {}",
                r.method,
                r.target,
                String::from_utf8_lossy(&answer.body)
            );
        }
    });
}
