//! The RAID target API against REAL Ironic 39 and the mock, side by side: a redfish node's
//! `target_raid_config` set, shown (by microversion), refused for each way Ironic's RAID schema
//! and root-volume rule refuse it, and cleared; a node with `no-raid`; the nodes' RAID fields by
//! microversion; and the drivers' logical disk properties. Same status and body once addresses,
//! UUIDs and times are replaced by labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> Step {
    (method, path.to_string(), body)
}

fn put(body: Value) -> Step {
    step("PUT", "/v1/nodes/rf/states/raid", Some(body))
}

/// Node documents: the status, the RAID fields and whether each is there at all.
fn shape(line: &str) -> String {
    let (head, rest) = line.split_once(" location=").unwrap_or((line, ""));
    let body = rest.split_once(' ').map_or(rest, |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("driver").is_some() || v.get("nodes").is_some() {
        let node = v.get("nodes").and_then(|n| n.get(0)).unwrap_or(&v);
        let field = |k: &str| node.get(k).map_or("absent".to_string(), Value::to_string);
        format!(
            "{head} target_raid_config={} raid_config={} raid_interface={}",
            field("target_raid_config"),
            field("raid_config"),
            field("raid_interface")
        )
    } else {
        line.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_validate_and_store_target_raid_configs_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 9).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let disk = |extra: Value| {
        let mut d = json!({"size_gb": 100, "raid_level": "1"});
        if let (Some(o), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        json!({"logical_disks": [d]})
    };
    let mut steps: Vec<(Step, Option<&str>)> = vec![
        (
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "rf", "driver": "redfish"})),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "nr", "driver": "redfish", "raid_interface": "no-raid"})),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "fk", "driver": "fake-hardware"})),
            ),
            None,
        ),
        (step("GET", "/v1/nodes/rf", None), None),
        (step("GET", "/v1/nodes/rf", None), Some("1.11")),
        (
            put(json!({"logical_disks": [
                {"size_gb": 100, "raid_level": "1", "is_root_volume": true, "volume_name": "root",
                 "controller": "RAID.Integrated.1-1", "physical_disks": ["d0", "d1"]},
                {"size_gb": "MAX", "raid_level": "0", "disk_type": "hdd", "interface_type": "sata",
                 "number_of_physical_disks": 2, "share_physical_disks": false},
            ]})),
            None,
        ),
        (step("GET", "/v1/nodes/rf", None), None),
        (step("GET", "/v1/nodes/rf", None), Some("1.11")),
        (
            step("GET", "/v1/nodes?fields=name,target_raid_config", None),
            None,
        ),
        (put(disk(json!({}))), Some("1.11")),
    ];
    let bad = [
        json!({}),
        json!({"logical_disks": []}),
        json!({"logical_disks": "x"}),
        json!({"foo": 1}),
        json!({"logical_disks": [{"size_gb": 10, "raid_level": "1"}], "foo": 1, "bar": 2}),
        json!({"logical_disks": [{"size_gb": 10}]}),
        json!({"logical_disks": [{"raid_level": "7"}]}),
        disk(json!({"raid_level": "7"})),
        disk(json!({"size_gb": "big"})),
        disk(json!({"size_gb": -1})),
        disk(json!({"size_gb": 1.5})),
        disk(json!({"raid_level": 1})),
        disk(json!({"is_root_volume": "yes"})),
        disk(json!({"disk_type": "nvme"})),
        disk(json!({"interface_type": "usb"})),
        disk(json!({"interface_type": "scsi"})),
        disk(json!({"number_of_physical_disks": 0})),
        disk(json!({"physical_disks": ["a"]})),
        disk(json!({"physical_disks": [{"a": 1}], "controller": "c"})),
        disk(json!({"physical_disks": [1, 2], "controller": "c"})),
        disk(json!({"bogus": 1})),
        disk(json!({"volume_name": 5})),
        json!({"logical_disks": ["x"]}),
        json!({"logical_disks": [
            {"size_gb": 10, "raid_level": "1", "is_root_volume": true},
            {"size_gb": 10, "raid_level": "1", "is_root_volume": true},
        ]}),
        json!([]),
    ];
    for b in bad {
        // `{}` clears the target; the others are refused and leave it as it was.
        steps.push((put(b), None));
    }
    steps.extend([
        (step("GET", "/v1/nodes/rf", None), None),
        (
            step("PUT", "/v1/nodes/nr/states/raid", Some(disk(json!({})))),
            None,
        ),
        (
            step("PUT", "/v1/nodes/fk/states/raid", Some(disk(json!({})))),
            None,
        ),
        (
            step("PUT", "/v1/nodes/nosuch/states/raid", Some(disk(json!({})))),
            None,
        ),
        (
            step(
                "GET",
                "/v1/drivers/redfish/raid/logical_disk_properties",
                None,
            ),
            None,
        ),
        (
            step(
                "GET",
                "/v1/drivers/redfish/raid/logical_disk_properties",
                None,
            ),
            Some("1.11"),
        ),
        (
            step("GET", "/v1/drivers/ipmi/raid/logical_disk_properties", None),
            None,
        ),
        (
            step(
                "GET",
                "/v1/drivers/fake-hardware/raid/logical_disk_properties",
                None,
            ),
            None,
        ),
        (
            step(
                "GET",
                "/v1/drivers/nosuch/raid/logical_disk_properties",
                None,
            ),
            None,
        ),
    ]);
    let differences = replay(&mut servers, steps, shape).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "answers differ from real Ironic:\n{}",
        differences.join("\n")
    );
}
