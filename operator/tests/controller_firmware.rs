//! The HostFirmwareSettings controller against the mocked API server and the provisioner
//! double: each registered host gets a HostFirmwareSettings owned by it, holding the node's
//! BIOS settings and naming one FirmwareSchema shared by hosts with the same settings; a valid
//! change takes the host through `preparing` (manual clean `bios.apply_configuration`, only the
//! changed setting) and back to `available` with the status refreshed; an invalid one is refused
//! by the `Valid` condition and an Event naming the setting, and nothing is applied.

mod controller_support;

use std::time::Duration;

use controller_support::world::{NS, World, host, secret};
use metal_operator::firmware::{Observed, schema_name};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(20);

fn hfs(world: &World, name: &str) -> Option<Value> {
    world.api.get("hostfirmwaresettings", NS, name)
}

fn condition(hfs: &Value, kind: &str) -> Option<(String, String)> {
    hfs["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

async fn registered(world: &World, names: &[&str]) {
    for name in names {
        let secret_name = format!("bmc-{name}");
        world
            .api
            .upsert("secrets", secret(&secret_name, "admin", "pw"));
        world.api.upsert("baremetalhosts", host(name, &secret_name));
    }
    for name in names {
        assert!(
            world.wait_for_state(name, "available", LONG).await,
            "{name}: {:?}",
            world.status_states(name)
        );
    }
}

async fn settled(world: &World, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let ok = world
        .api
        .wait_until(LONG, |_| hfs(world, name).is_some_and(|h| pred(&h)))
        .await;
    let now = hfs(world, name).unwrap_or(Value::Null);
    assert!(ok, "{name}: {what}; HostFirmwareSettings: {now:#}");
    now
}

fn set_spec(world: &World, name: &str, settings: Value) {
    world.api.modify("hostfirmwaresettings", NS, name, |h| {
        h["spec"] = json!({"settings": settings});
        let generation = h["metadata"]["generation"].as_i64().unwrap_or(1);
        h["metadata"]["generation"] = json!(generation + 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_host_gets_its_settings_and_hosts_alike_share_one_schema() {
    let world = World::start().await;
    registered(&world, &["host-0", "host-1"]).await;
    let expected = Observed::from_ironic(&controller_support::provisioner::default_bios());
    let name = schema_name(&expected.schema);
    for host_name in ["host-0", "host-1"] {
        let h = settled(&world, host_name, "settings read", |h| {
            h["status"]["settings"]["BootDelay"] == "5"
        })
        .await;
        assert_eq!(
            h["status"]["settings"],
            json!({"AssetTag": "fake", "BootDelay": "5", "ProcTurboMode": "Enabled"})
        );
        assert_eq!(
            h["status"]["schema"],
            json!({"name": name, "namespace": NS})
        );
        let owner = &h["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "BareMetalHost");
        assert_eq!(owner["name"], host_name);
        assert_eq!(condition(&h, "ChangeDetected").unwrap().0, "False");
        assert_eq!(condition(&h, "Valid").unwrap().0, "True");
    }
    let schemas = world.api.list("firmwareschemas");
    assert_eq!(schemas.len(), 1, "{schemas:#?}");
    let schema = &schemas[0];
    assert_eq!(schema["metadata"]["name"], name.as_str());
    let owners: Vec<&str> = schema["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert!(owners.contains(&"host-0") && owners.contains(&"host-1"));
    assert_eq!(
        schema["spec"]["schema"]["BootDelay"],
        json!({"attribute_type": "Integer", "lower_bound": 0, "upper_bound": 30, "read_only": false})
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_change_is_applied_in_preparing_and_only_the_changed_setting_is_sent() {
    let world = World::start().await;
    registered(&world, &["host-0"]).await;
    settled(&world, "host-0", "settings read", |h| {
        h["status"]["settings"]["BootDelay"] == "5"
    })
    .await;
    set_spec(
        &world,
        "host-0",
        json!({"BootDelay": 10, "ProcTurboMode": "Enabled"}),
    );
    let h = settled(&world, "host-0", "the change applied and read back", |h| {
        h["status"]["settings"]["BootDelay"] == "10"
            && condition(h, "ChangeDetected").is_some_and(|c| c.0 == "False")
    })
    .await;
    assert_eq!(condition(&h, "Valid").unwrap().0, "True");
    assert!(world.wait_for_state("host-0", "available", LONG).await);
    let states = world.status_states("host-0");
    let preparing = states.iter().filter(|s| *s == "preparing").count();
    assert!(preparing >= 2, "registration and the change: {states:?}");
    assert_eq!(
        world.provisioner.count("host-0", "clean"),
        1,
        "one manual clean"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_change_is_refused_naming_each_setting_and_nothing_is_applied() {
    let world = World::start().await;
    registered(&world, &["host-0"]).await;
    settled(&world, "host-0", "settings read", |h| {
        h["status"]["settings"]["BootDelay"] == "5"
    })
    .await;
    set_spec(
        &world,
        "host-0",
        json!({"BootDelay": 99, "AssetTag": "mine", "NoSuchSetting": "x"}),
    );
    let h = settled(&world, "host-0", "Valid=False", |h| {
        condition(h, "Valid").is_some_and(|c| c.0 == "False")
    })
    .await;
    let (_, message) = condition(&h, "Valid").unwrap();
    for part in [
        "setting BootDelay: 99 is above the maximum 30",
        "setting AssetTag: it is read-only",
        "setting NoSuchSetting: the host has no such setting",
    ] {
        assert!(message.contains(part), "{message}");
    }
    let warned = world
        .api
        .wait_until(LONG, |api| {
            api.list("events").iter().any(|e| {
                e["reason"] == "ValidationFailed"
                    && e["note"]
                        .as_str()
                        .is_some_and(|n| n.contains("setting BootDelay"))
            })
        })
        .await;
    assert!(warned, "events: {:#?}", world.api.list("events"));
    assert_eq!(world.provisioner.count("host-0", "clean"), 0);
    assert_eq!(world.state("host-0").as_deref(), Some("available"));
    world.stop().await;
}
