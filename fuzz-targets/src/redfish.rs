//! The fake Redfish service of the demo fleet's first Redfish listener: paths, queries, headers
//! and bodies through `metal_sim::redfish::app`.

use std::sync::Arc;

use metal_sim::machine::{ListenerKind, SimClock};
use metal_sim::redfish::{self, ServiceOptions};

use crate::http;

/// Sends the input's requests to a fresh Redfish service (Basic auth as the demo fleet's admin
/// unless the request says otherwise); no answer may be a 500 or mislabelled JSON.
pub fn requests(data: &[u8]) {
    let requests = http::parse(data);
    if requests.is_empty() {
        return;
    }
    let fleet = crate::demo_fleet();
    let world = Arc::new(
        fleet
            .build_world(SimClock::start_now())
            .expect("the demo world builds"),
    );
    let plan = world
        .listeners()
        .into_iter()
        .find(|p| p.kind == ListenerKind::RedfishHttp)
        .expect("the demo fleet has a Redfish listener");
    let router = redfish::app(redfish::state_for(&world, &plan, ServiceOptions::default()));
    http::block_on(async {
        for r in &requests {
            // admin:password, the demo fleet's credentials.
            let answer = http::send(
                &router,
                r,
                &[("authorization", "Basic YWRtaW46cGFzc3dvcmQ=")],
            )
            .await;
            answer.check("redfish", r);
        }
    });
}
