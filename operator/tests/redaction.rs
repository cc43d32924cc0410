//! Credentials never reach a log line, an Event, a status write or a metric: reconciles run with a
//! known BMC password through success and failure paths while everything is captured.

mod controller_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use controller_support::provisioner::FakeProvisioner;
use controller_support::world::{NS, World, host, secret};
use serde_json::json;

const PASSWORD: &str = "s3cr3t-Pa55w0rd!";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bmc_password_appears_in_no_log_event_status_or_metric() {
    let logs = Capture::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // A lower layer that echoes the password in its error: the controller must still not leak it.
    let provisioner = FakeProvisioner::default();
    provisioner.refuse_register(
        "leaky",
        &format!("authentication with password {PASSWORD} failed"),
    );
    let world = World::start_with(provisioner).await;

    world
        .api
        .upsert("secrets", secret("bmc-ok", "admin", PASSWORD));
    world
        .api
        .upsert("secrets", secret("bmc-leaky", "admin", PASSWORD));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    world.api.upsert(
        "secrets",
        json!({"metadata": {"name": "bmc-nouser", "namespace": NS}, "data": {"password": b64(PASSWORD)}}),
    );
    world.api.upsert("baremetalhosts", host("ok", "bmc-ok"));
    world
        .api
        .upsert("baremetalhosts", host("leaky", "bmc-leaky"));
    world
        .api
        .upsert("baremetalhosts", host("nouser", "bmc-nouser"));
    world
        .api
        .upsert("baremetalhosts", host("missing", "bmc-missing"));

    let long = Duration::from_secs(20);
    assert!(
        world.wait_for_state("ok", "available", long).await,
        "states: {:?}",
        world.status_states("ok")
    );
    for (name, error) in [
        ("leaky", "registration error"),
        ("nouser", "registration error"),
        ("missing", "registration error"),
    ] {
        let errored = world
            .api
            .wait_until(long, |api| {
                api.get("baremetalhosts", NS, name)
                    .is_some_and(|h| h["status"]["errorType"] == error)
            })
            .await;
        assert!(
            errored,
            "{name}: {:?}",
            world.api.get("baremetalhosts", NS, name)
        );
    }
    // The failure path really carried the (scrubbed) message through.
    let leaky = world.api.get("baremetalhosts", NS, "leaky").unwrap();
    let message = leaky["status"]["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("authentication with password <redacted> failed"),
        "{message}"
    );

    // Delete the successful host too, so the deletion path is covered.
    world.api.delete("baremetalhosts", NS, "ok");
    assert!(
        world
            .api
            .wait_until(long, |api| api.get("baremetalhosts", NS, "ok").is_none())
            .await
    );
    let metrics = world.metrics.render().unwrap();
    let api = world.api.clone();
    world.stop().await;

    let forbidden = [PASSWORD.to_owned(), b64(PASSWORD)];
    let log_text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(log_text.contains("state transition"), "logs were captured");
    assert!(log_text.lines().count() > 20, "TRACE logs were captured");

    let requests = api.requests();
    let status_writes: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .collect();
    assert!(status_writes.len() >= 5, "status writes were captured");
    let event_writes: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/events"))
        .collect();
    assert!(
        event_writes.iter().any(|r| r.body.contains("Warning")),
        "warning events were captured"
    );
    let events = serde_json::to_string(&api.list("events")).unwrap();
    let hosts = serde_json::to_string(&api.list("baremetalhosts")).unwrap();

    for needle in &forbidden {
        for line in log_text.lines() {
            assert!(
                !line.contains(needle.as_str()),
                "log line leaks the password: {line}"
            );
        }
        for r in &status_writes {
            assert!(
                !r.body.contains(needle.as_str()),
                "status write leaks the password: {}",
                r.body
            );
        }
        for r in &event_writes {
            assert!(
                !r.body.contains(needle.as_str()),
                "event leaks the password: {}",
                r.body
            );
        }
        // No request the operator sends carries it: it only ever reads Secrets.
        for r in &requests {
            assert!(
                !r.body.contains(needle.as_str()),
                "{} {} leaks the password",
                r.method,
                r.path
            );
        }
        assert!(
            !events.contains(needle.as_str()),
            "stored events leak the password"
        );
        assert!(
            !hosts.contains(needle.as_str()),
            "stored hosts leak the password"
        );
        assert!(
            !metrics.contains(needle.as_str()),
            "metrics leak the password"
        );
    }
}
