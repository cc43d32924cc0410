//! Fleet and scenario files, through `Fleet::parse` and `Scenario::parse` (what `metal-sim`
//! calls on `--fleet` and scenario paths).

use std::path::Path;

use metal_scenario::Scenario;
use metal_sim::fleet::Fleet;
use metal_sim::machine::SimClock;

/// The largest fleet the body also builds into a world (bigger valid fleets are only parsed).
const BUILD_UP_TO: usize = 64;

/// A fleet file is refused with a typed error or expands to hosts; a small valid fleet builds
/// a world.
pub fn fleet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(fleet) = Fleet::parse(text, "<fuzz>") else {
        return;
    };
    let _ = fleet.timing();
    if fleet.hosts().len() <= BUILD_UP_TO {
        let _ = fleet.build_world(SimClock::start_now());
    }
}

/// A scenario file is refused with a typed error or validates (its fleet and paths resolved in
/// the project's `scenarios/` folder, as the library's scenarios are).
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    if let Ok(s) = Scenario::parse(text, "<fuzz>", &dir) {
        let _ = (s.seed(), s.name(), s.max_busy());
    }
}
