//! Engine mode: whole lifecycles of the demo fleet in virtual time.

use std::time::Duration;

use metal_scenario::engine::{Engine, EngineSettings};
use metal_scenario::trace::to_jsonl;
use metal_sim::fleet::Fleet;
use metal_sim::machine::SimTime;

const IMAGE: &str = "http://images.example/os.qcow2";

fn hours(h: u64) -> SimTime {
    SimTime::from_secs(h * 3600)
}

fn engine(seed: u64) -> (Engine, Fleet) {
    let fleet = Fleet::demo().expect("demo fleet");
    let e = Engine::new(&fleet, seed, EngineSettings::default());
    (e, fleet)
}

fn keys(e: &Engine) -> Vec<String> {
    e.rows().into_iter().map(|r| r.key).collect()
}

fn provision_all(e: &mut Engine) {
    for key in keys(e) {
        e.edit_host(&key, "set image", |h| {
            h.spec.image = Some(metal_core::api::Image {
                url: IMAGE.into(),
                checksum: Some(format!("{IMAGE}.sha256sum")),
                checksum_type: None,
                ..Default::default()
            });
        })
        .expect("edit");
    }
}

fn deprovision_all(e: &mut Engine) {
    for key in keys(e) {
        e.edit_host(&key, "remove image", |h| h.spec.image = None)
            .expect("edit");
    }
}

fn dump(e: &Engine) -> String {
    let trace = e.trace();
    let tail = &trace[trace.len().saturating_sub(60)..];
    format!("{:#?}\n{}", e.rows(), to_jsonl(tail))
}

#[test]
fn the_demo_fleet_registers_inspects_provisions_and_deprovisions() {
    let (mut e, fleet) = engine(1);
    e.register_fleet(&fleet).expect("register");
    let n = fleet.hosts().len();
    let at = e
        .advance_until(|e| e.count_in("available") == n, hours(2))
        .unwrap_or_else(|err| panic!("{err}\n{}", dump(&e)));
    if std::env::var_os("ENGINE_DEBUG").is_some() {
        eprintln!("{}", to_jsonl(e.trace()));
    }
    assert!(
        at > SimTime::from_secs(20),
        "inspection waits for the agent: {at}"
    );
    for key in keys(&e) {
        assert!(e.hardware_data(&key).is_some(), "{key} has hardware data");
    }
    provision_all(&mut e);
    e.advance_until(
        |e| e.count_in("provisioned") == n,
        e.now() + Duration::from_secs(7200),
    )
    .unwrap_or_else(|err| panic!("{err}\n{}", dump(&e)));
    for h in fleet.hosts() {
        let m = e.machine(&h.name).expect("machine");
        assert!(
            m.disks()
                .iter()
                .any(|d| d.image.as_ref().is_some_and(|i| i.url == IMAGE)),
            "{} has the image on a disk",
            h.name
        );
    }
    deprovision_all(&mut e);
    e.advance_until(
        |e| e.count_in("available") == n,
        e.now() + Duration::from_secs(7200),
    )
    .unwrap_or_else(|err| panic!("{err}\n{}", dump(&e)));
    for h in fleet.hosts() {
        let m = e.machine(&h.name).expect("machine");
        assert!(
            m.disks().iter().all(|d| !d.bootable()),
            "{} has no bootable disk after cleaning",
            h.name
        );
    }
}
