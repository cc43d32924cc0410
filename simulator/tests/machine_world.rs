//! The thread-safe runtime: lookups, power actions through the fault facade, the event stream,
//! and reproducibility of a whole world for a seed.

use std::sync::Arc;
use std::time::Duration;

use metal_sim::fault::{FaultKind, FaultSet, Verdict};
use metal_sim::fleet::Fleet;
use metal_sim::machine::{
    Ack, BootOutcome, ListenerKind, MachineEvent, PowerState, RamdiskSource, SimClock, SimTime,
    World, WorldError,
};

const FLEET: &str = "\
seed: 11
time_scale: 0
layout: {mode: single-address, base: 127.0.0.1, redfish_port: 8000, ipmi_port: 7000}
groups:
  - name: w-{index}
    count: 3
  - name: w-secure
    bmc: {protocol: redfish-virtualmedia, tls: true}
  - name: w-ipmi-{index}
    count: 2
    profile: small
    bmc: {protocol: ipmi}
";

fn world() -> World {
    Fleet::parse(FLEET, "w.yaml")
        .unwrap()
        .build_world(SimClock::start_now())
        .unwrap()
}

#[test]
fn hosts_are_found_by_name_system_id_and_socket() {
    let w = world();
    let h = w.host_by_name("w-1").unwrap();
    assert_eq!(w.host_by_system_id(&h.bmc.system_id).unwrap().name, "w-1");
    assert!(w.host_by_name("nope").is_none());
    let shared: Vec<&str> = w.hosts_at(h.bmc.socket).map(|h| h.name.as_str()).collect();
    assert_eq!(shared, ["w-0", "w-1", "w-2"]);
    assert_eq!(w.host_by_bmc_address(&h.bmc.address()).unwrap().name, "w-1");
    assert_eq!(
        w.host_by_bmc_address("ipmi://127.0.0.1:7001").unwrap().name,
        "w-ipmi-1"
    );
    let ipmi = w.host_by_name("w-ipmi-1").unwrap();
    assert_eq!(ipmi.bmc.socket.to_string(), "127.0.0.1:7001");
    assert!(
        w.host_by_system_id(&ipmi.bmc.system_id).is_none(),
        "IPMI hosts have no Redfish system"
    );
}

#[test]
fn listeners_group_redfish_systems_and_keep_one_socket_per_ipmi_bmc() {
    let w = world();
    let plans = w.listeners();
    let kinds: Vec<(String, ListenerKind, usize)> = plans
        .iter()
        .map(|p| (p.socket.to_string(), p.kind, p.hosts.len()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("127.0.0.1:7000".to_string(), ListenerKind::Ipmi, 1),
            ("127.0.0.1:7001".to_string(), ListenerKind::Ipmi, 1),
            ("127.0.0.1:8000".to_string(), ListenerKind::RedfishHttp, 3),
            ("127.0.0.1:8443".to_string(), ListenerKind::RedfishHttps, 1),
        ]
    );
}

#[test]
fn mixing_http_and_https_on_one_socket_is_refused() {
    let text = FLEET.replace("redfish_port: 8000", "redfish_port: 8443");
    let fleet = Fleet::parse(&text, "w.yaml").unwrap();
    let err = World::new(
        1,
        fleet.timing(),
        SimClock::start_now(),
        fleet.hosts().to_vec(),
    )
    .unwrap_err();
    assert!(matches!(err, WorldError::SocketConflict { .. }), "{err}");
}

#[test]
fn a_power_action_with_an_ack_no_effect_fault_changes_nothing() {
    let w = world();
    let h = w.host_by_name("w-0").unwrap();
    h.set_faults(
        SimTime::ZERO,
        FaultSet {
            power_ack_no_effect_rate: 1.0,
            ..FaultSet::none()
        },
    );
    let now = w.now();
    assert_eq!(h.power_action(now, |m| m.power_on(now)), Ok(Ack::Started));
    assert_eq!(h.view(now).power, PowerState::Off);
    assert_eq!(h.faults_injected(), 1);
}

#[test]
fn the_event_stream_reports_a_pxe_ramdisk_boot_for_the_agent() {
    let w = world();
    let mut events = w.subscribe();
    let h = w.host_by_name("w-2").unwrap();
    let now = w.now();
    h.power_action(now, |m| m.power_on(now)).unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.name, "w-2");
        seen.push(e.event);
    }
    let mac = h.profile.boot_mac().unwrap().to_string();
    assert!(
        seen.iter().any(|e| matches!(e, MachineEvent::Booted { record }
            if record.outcome == BootOutcome::Ramdisk { via: RamdiskSource::Pxe { mac: mac.clone() } })),
        "{seen:?}"
    );
}

#[test]
fn the_same_seed_reproduces_jitter_and_fault_draws() {
    let run = || {
        let fleet =
            Fleet::parse(&FLEET.replace("time_scale: 0", "time_scale: 1"), "w.yaml").unwrap();
        let w = Arc::new(fleet.build_world(SimClock::start_now()).unwrap());
        let mut out = Vec::new();
        for h in w.hosts() {
            h.set_faults(
                SimTime::ZERO,
                FaultSet {
                    http_5xx_rate: 0.5,
                    ..FaultSet::none()
                },
            );
            let t = SimTime::from_secs(1);
            h.with_machine(t, |m| m.power_on(t)).unwrap();
            let deadline = h.with_machine(t, |m| m.next_deadline());
            let verdicts: Vec<Verdict> = (0..16)
                .map(|_| h.fault_verdict(FaultKind::HttpRequest, t))
                .collect();
            out.push((deadline, verdicts));
        }
        out
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_ne!(a[0].0, a[1].0, "hosts draw from different streams");
    let d = a[0].0.unwrap().saturating_since(SimTime::from_secs(1));
    assert!(
        d > Duration::from_secs(2) && d < Duration::from_secs(6),
        "{d:?}"
    );
}

#[tokio::test]
async fn the_ticker_completes_transitions_without_anyone_polling() {
    let fleet = Fleet::parse(
        &FLEET.replace("time_scale: 0", "time_scale: 0.005"),
        "w.yaml",
    )
    .unwrap();
    let w = Arc::new(fleet.build_world(SimClock::start_now()).unwrap());
    let mut events = w.subscribe();
    let stop = tokio_util::sync::CancellationToken::new();
    let ticker = w.spawn_ticker(Duration::from_millis(5), stop.clone());
    let h = Arc::clone(w.host_by_name("w-0").unwrap());
    let now = w.now();
    h.power_action(now, |m| m.power_on(now)).unwrap();
    let booted = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e.event, MachineEvent::Booted { .. }) {
                return e.name;
            }
        }
    })
    .await
    .expect("the ticker should complete the power-on within 5 s");
    assert_eq!(booted, "w-0");
    stop.cancel();
    ticker.await.unwrap();
}
