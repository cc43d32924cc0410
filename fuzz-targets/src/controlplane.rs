//! The embedded control plane: requests through `metal_controlplane::api::router` (paths,
//! queries with label and field selectors and watch parameters, create, update and patch
//! bodies), and its patch and selector parsers on their own.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use metal_controlplane::patch::{self, PatchKind};
use metal_controlplane::selector::{FieldSelector, LabelSelector};
use metal_controlplane::server::Options;
use metal_controlplane::state::{Clock, State};
use serde_json::{Value, json};

use crate::http;

const TOKEN: &str = "fuzz-token";
const CRDS: &str = include_str!("../../kind/crds/metal3.io.yaml");

/// Sends the input's requests to a fresh control plane holding the project's CRDs (with the
/// bearer token unless the request gives one); no answer may be a 500 or mislabelled JSON.
pub fn requests(data: &[u8]) {
    let requests = http::parse(data);
    if requests.is_empty() {
        return;
    }
    // Each input gets its own copy of a control plane that already holds the CRDs: creating them
    // (admission, schema checks) took most of each input's time.
    let state = template().fork().expect("the template state forks");
    let router = metal_controlplane::api::router(state);
    http::block_on(async {
        for r in &requests {
            let answer = http::send(
                &router,
                r,
                &[
                    ("authorization", "Bearer fuzz-token"),
                    ("content-type", "application/json"),
                ],
            )
            .await;
            answer.check("controlplane", r);
        }
    });
}

/// A control plane on the fixed clock with the project's CRDs, created once per process the way
/// `State::load_crds_text` creates them; every input starts from a fork of it.
fn template() -> &'static Arc<State> {
    static TEMPLATE: OnceLock<Arc<State>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let clock: Clock = Arc::new(crate::fixed_now);
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        let state = State::new(&Options::new(listen, clock, 7), TOKEN.into());
        state
            .load_crds_text(Path::new("metal3.io.yaml"), CRDS)
            .expect("the project's CRDs load");
        state
    })
}

fn live() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "fuzz",
            "namespace": "default",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["metal3.io/baremetalhost"],
            "resourceVersion": "7",
        },
        "data": {"a": "1", "b": "2"},
        "list": [1, 2, {"x": [3]}],
    })
}

/// The first byte picks the patch kind (merge, JSON, strategic, apply), the rest is the body:
/// decoding and applying it to an object either succeeds or refuses with a typed error. A JSON
/// patch that applies once applies the same way again to the same object (no hidden state).
pub fn patches(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let kind = [
        PatchKind::Merge,
        PatchKind::Json,
        PatchKind::Strategic,
        PatchKind::Apply,
    ][usize::from(first % 4)];
    let Ok(p) = patch::decode(kind, body) else {
        return;
    };
    let live = live();
    let once = patch::apply(kind, &live, &p).map_err(|e| e.to_string());
    let again = patch::apply(kind, &live, &p).map_err(|e| e.to_string());
    assert_eq!(once, again, "the same patch on the same object differs");
    if kind == PatchKind::Merge
        && let Ok(merged) = &once
    {
        // RFC 7386: a merge patch is idempotent.
        let twice = patch::apply(kind, merged, &p).expect("a merge patch applies again");
        assert_eq!(&twice, merged, "merge patch not idempotent");
    }
}

/// The input, as text, split at the first newline: a label selector and a field selector, each
/// parsed as `?labelSelector=` and `?fieldSelector=` are; what parses is matched against an
/// object (an empty selector matches everything), and parsing is deterministic.
pub fn selectors(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (labels, fields) = text.split_once('\n').unwrap_or((&text, ""));
    let obj = live();
    if let Ok(s) = LabelSelector::parse(labels) {
        assert!(
            !s.is_empty() || s.matches(&obj),
            "an empty label selector matches all"
        );
        assert_eq!(LabelSelector::parse(labels).ok(), Some(s));
    }
    if let Ok(s) = FieldSelector::parse(fields) {
        assert!(
            !s.is_empty() || s.matches(&obj),
            "an empty field selector matches all"
        );
        let _ = s.paths().count();
        assert_eq!(FieldSelector::parse(fields).ok(), Some(s));
    }
}
