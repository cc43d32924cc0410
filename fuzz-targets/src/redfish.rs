//! The fake Redfish service of the fuzz fleet's Redfish host (the demo fleet's first): paths,
//! queries, headers and bodies through `metal_sim::redfish::app`.

use std::sync::Arc;

use metal_sim::machine::{ListenerKind, SimClock};
use metal_sim::redfish::{self, ServiceOptions};

use crate::http;

/// Sends the input's requests to a fresh Redfish service (Basic auth as the fleet's admin
/// unless the request says otherwise); no answer may be a 500 or mislabelled JSON.
pub fn requests(data: &[u8]) {
    let requests = http::parse(data);
    if requests.is_empty() {
        return;
    }
    let fleet = crate::fuzz_fleet();
    let world = Arc::new(
        fleet
            .build_world(SimClock::start_now())
            .expect("the fuzz world builds"),
    );
    let plan = world
        .listeners()
        .into_iter()
        .find(|p| p.kind == ListenerKind::RedfishHttp)
        .expect("the fuzz fleet has a Redfish listener");
    let router = redfish::app(redfish::state_for(&world, &plan, ServiceOptions::default()));
    http::block_on(async {
        for r in &requests {
            // admin:password, the fleet's credentials.
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
