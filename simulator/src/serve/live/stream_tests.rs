//! One page's stream: snapshot first, changed rows after, coalesced and bounded, a fresh
//! snapshot when it falls behind, and the rows the page ends up with matching the machines.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::fault::FaultSet;
use crate::fleet::Fleet;
use crate::machine::{BiosValue, SimClock};

/// `count` Redfish hosts on one (never bound) loopback socket; `time_scale` 100 keeps a power-on
/// in progress for the whole test, 0 completes it at once.
fn world(count: usize, time_scale: f64) -> Arc<World> {
    let yaml = format!(
        "seed: 9\ntime_scale: {time_scale}\nlayout: {{mode: single-address, base: 127.0.77.1}}\n\
         groups:\n  - name: live-{{index}}\n    count: {count}\n"
    );
    Arc::new(
        Fleet::parse(&yaml, "live.yaml")
            .unwrap()
            .build_world(SimClock::start_now())
            .unwrap(),
    )
}

fn sources(world: &Arc<World>) -> Sources {
    Sources {
        world: Arc::clone(world),
        agents: None,
        guests: None,
        heartbeats: HeartbeatSwitch::default(),
        changed: broadcast::channel(1024).0,
    }
}

fn settings(sweep: usize) -> StreamSettings {
    StreamSettings {
        period: Duration::from_millis(250),
        max_rows: 1000,
        sweep,
    }
}

fn json(m: &Message) -> serde_json::Value {
    serde_json::from_str(&m.data).unwrap()
}

/// The next message, or `None` when none comes within `limit` (virtual time: tests pause it).
async fn next_within(stream: &mut Stream, limit: Duration) -> Option<Message> {
    tokio::time::timeout(limit, stream.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test(start_paused = true)]
async fn the_first_message_is_every_row_then_a_power_on_sends_that_hosts_row_alone() {
    let world = world(3, 100.0);
    let mut stream = Stream::new(sources(&world), settings(0));
    let first = stream.next().await.unwrap();
    assert_eq!(first.event, "snapshot");
    let v = json(&first);
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
    assert_eq!(v["counts"]["off"], 3);
    assert!(!first.data.contains('\n'), "one SSE data line");

    let host = world.host(1).unwrap();
    host.power_action(world.now(), |m| m.power_on(world.now()))
        .unwrap();
    let next = next_within(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(next.event, "rows");
    let rows = json(&next)["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "live-1");
    assert_eq!(rows[0]["state"], "powering-on");
    // Nothing else changed: the stream stays quiet.
    assert_eq!(next_within(&mut stream, Duration::from_secs(5)).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_fault_set_through_the_control_api_reaches_the_stream_without_a_sweep() {
    let world = world(2, 100.0);
    let sources = sources(&world);
    let mut stream = Stream::new(sources.clone(), settings(0));
    assert_eq!(stream.next().await.unwrap().event, "snapshot");
    let host = world.host(0).unwrap();
    let faults = FaultSet {
        power_stick_rate: 1.0,
        ..FaultSet::none()
    };
    host.set_faults(world.now(), faults);
    // Faults publish no machine event; the control API's broadcast tells the stream.
    assert_eq!(next_within(&mut stream, Duration::from_secs(5)).await, None);
    sources.changed.send(0).unwrap();
    let m = next_within(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(json(&m)["rows"][0]["faults"][0], "power actions stick 100%");
}

#[tokio::test(start_paused = true)]
async fn changes_that_publish_no_event_are_found_by_the_sweep() {
    let world = world(5, 100.0);
    let mut stream = Stream::new(sources(&world), settings(2));
    assert_eq!(stream.next().await.unwrap().event, "snapshot");
    let host = world.host(4).unwrap();
    host.with_machine(world.now(), |m| {
        let changes = [("PxeRetryCount".to_string(), BiosValue::Int(7))].into();
        m.patch_bios(world.now(), changes).unwrap();
    });
    // Two hosts a period: host 4 is re-read in the third period.
    let m = next_within(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(json(&m)["rows"][0]["bios"], "PxeRetryCount=7");
    assert_eq!(stream.sent()[4].bios, "PxeRetryCount=7");
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_falls_behind_gets_a_fresh_snapshot_not_a_backlog() {
    let world = world(2, 0.0);
    let mut stream = Stream::new(sources(&world), settings(0));
    assert_eq!(stream.next().await.unwrap().event, "snapshot");
    // Far more events than the broadcast holds (4096 for a small fleet), none read meanwhile.
    let host = world.host(0).unwrap();
    for _ in 0..3000 {
        host.with_machine(world.now(), |m| {
            m.power_on(world.now()).unwrap();
            m.force_off(world.now()).unwrap();
        });
    }
    let m = stream.next().await.unwrap();
    assert_eq!(m.event, "snapshot");
    assert_eq!(json(&m)["rows"].as_array().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_machines_powering_on_stream_in_bounded_messages_that_end_right() {
    const HOSTS: usize = 10_000;
    let world = world(HOSTS, 100.0);
    let mut stream = Stream::new(sources(&world), settings(1000));
    let first = stream.next().await.unwrap();
    assert_eq!(first.event, "snapshot");
    let v = json(&first);
    assert_eq!(v["rows"].as_array().unwrap().len(), HOSTS);
    assert_eq!(v["counts"]["off"], HOSTS);
    let per_host = first.data.len() / HOSTS;
    assert!(
        per_host < 400,
        "snapshot {} bytes, {per_host} per host",
        first.data.len()
    );

    let now = world.now();
    for h in world.hosts() {
        h.power_action(now, |m| m.power_on(now)).unwrap();
    }
    let mut messages = 0;
    let mut rows_sent = 0;
    while let Some(m) = next_within(&mut stream, Duration::from_secs(2)).await {
        assert_eq!(
            m.event, "rows",
            "no lag: the broadcast holds 4 events a host"
        );
        let n = json(&m)["rows"].as_array().unwrap().len();
        assert!(n <= 1000, "{n} rows in one message");
        assert!(
            m.data.len() <= 1000 * 400,
            "{} bytes in one message",
            m.data.len()
        );
        messages += 1;
        rows_sent += n;
        assert!(messages <= 20, "changes coalesced into few messages");
    }
    eprintln!(
        "snapshot of {HOSTS}: {} bytes; power-on of all: {messages} messages, {rows_sent} rows",
        first.data.len()
    );
    assert_eq!(rows_sent, HOSTS, "each host's change sent once");
    assert!(messages >= HOSTS / 1000, "{messages} messages");
    // What the page holds now is what the machines are.
    let sources = sources(&world);
    for h in world.hosts() {
        assert_eq!(stream.sent()[h.index], sources.row(h));
        assert_eq!(stream.sent()[h.index].state, "powering-on");
    }
}
