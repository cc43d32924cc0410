//! A running controller against the mocked API server and the provisioner double.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use metal_operator::controller::{self, Clock, ControllerSettings, HostCache, Leadership, Runtime};
use metal_operator::statemachine;
use metal_operator::telemetry::{Metrics, Readiness};
use metal_testkit::hosts::Bmh;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::FakeApiServer;
use super::provisioner::FakeProvisioner;

pub const NS: &str = "metal3";

/// Starts at a fixed instant and moves one second per reading.
#[derive(Default)]
pub struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let step = self.0.fetch_add(1, Ordering::SeqCst);
        DateTime::from_timestamp(1_800_000_000 + step, 0).unwrap_or_default()
    }
}

pub struct World {
    pub api: FakeApiServer,
    /// The namespace the controller watches (hosts of other namespaces are not its own).
    pub namespace: String,
    pub provisioner: Arc<FakeProvisioner>,
    pub metrics: Metrics,
    pub readiness: Readiness,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// State-machine settings with delays short enough for tests.
pub fn fast_settings() -> statemachine::Settings {
    statemachine::Settings {
        short_delay: Duration::from_millis(50),
        long_delay: Duration::from_millis(80),
        steady_delay: Duration::from_millis(300),
        slow_delay: Duration::from_secs(5),
        missing_secret_delay: Duration::from_millis(200),
        ..statemachine::Settings::default()
    }
}

pub fn secret(name: &str, username: &str, password: &str) -> Value {
    secret_in(NS, name, username, password)
}

pub fn secret_in(namespace: &str, name: &str, username: &str, password: &str) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {"username": b64(username), "password": b64(password)},
    })
}

pub fn host(name: &str, secret: &str) -> Value {
    host_in(NS, name, secret)
}

pub fn host_in(namespace: &str, name: &str, secret: &str) -> Value {
    Bmh::new(name)
        .namespace(namespace)
        .boot_mac("00:11:22:33:44:55")
        .bmc(
            &format!("redfish+http://127.0.0.1:8000/redfish/v1/Systems/{name}"),
            secret,
        )
        .json()
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(FakeProvisioner::default()).await
    }

    pub async fn start_with(provisioner: FakeProvisioner) -> Self {
        Self::start_led(provisioner, Leadership::always()).await
    }

    /// Starts a controller that acts only while `leadership` is held.
    pub async fn start_led(provisioner: FakeProvisioner, leadership: Leadership) -> Self {
        Self::start_configured(provisioner, leadership, 20).await
    }

    /// Starts a controller with a given `PROVISIONING_LIMIT`.
    pub async fn start_configured(
        provisioner: FakeProvisioner,
        leadership: Leadership,
        provisioning_limit: u32,
    ) -> Self {
        let api = FakeApiServer::start().await;
        Self::spawn(api, NS, provisioner, leadership, provisioning_limit)
    }

    /// Starts a second controller on `api`, watching `namespace` only: its requests and its
    /// hosts are told apart from the first one's by namespace.
    pub fn start_beside(
        api: &FakeApiServer,
        namespace: &str,
        provisioner: FakeProvisioner,
        leadership: Leadership,
    ) -> Self {
        Self::spawn(api.clone(), namespace, provisioner, leadership, 20)
    }

    fn spawn(
        api: FakeApiServer,
        namespace: &str,
        provisioner: FakeProvisioner,
        leadership: Leadership,
        provisioning_limit: u32,
    ) -> Self {
        let provisioner = Arc::new(provisioner);
        let metrics = Metrics::new();
        let readiness = Readiness::default();
        let runtime = Runtime {
            provisioner: provisioner.clone(),
            metrics: metrics.clone(),
            readiness: readiness.clone(),
            clock: Arc::new(SteppingClock::default()),
            settings: ControllerSettings {
                watch_namespace: Some(namespace.into()),
                concurrency: 4,
                provisioning_limit,
                seed: 7,
                instance: Some("test-replica".into()),
            },
            machine: fast_settings(),
            leadership,
            events: None,
            hosts: HostCache::start(&api.client(), Some(namespace)),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let client = api.client();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = controller::run(client, runtime, shutdown).await {
                panic!("controller stopped: {error}");
            }
        });
        World {
            api,
            namespace: namespace.to_owned(),
            provisioner,
            metrics,
            readiness,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The host's `status.provisioning.state`, or None when it has no status (or is gone).
    pub fn state(&self, name: &str) -> Option<String> {
        let h = self.api.get("baremetalhosts", &self.namespace, name)?;
        h["status"]["provisioning"]["state"]
            .as_str()
            .map(str::to_owned)
    }

    /// The `/metrics` text once it contains `needle`, or after `timeout` (the caller asserts).
    /// Metrics are recorded after a reconcile's status write and Events, so a test that has just
    /// seen a state may otherwise read them a moment too early.
    pub async fn metrics_eventually(&self, needle: &str, timeout: Duration) -> String {
        let found = Wait::new(format!("/metrics to contain {needle}"), timeout)
            .until(|| {
                let text = self.metrics.render().unwrap_or_default();
                if text.contains(needle) {
                    Check::Done(text)
                } else {
                    Check::Pending("absent".into())
                }
            })
            .await;
        found.unwrap_or_else(|_| self.metrics.render().unwrap_or_default())
    }

    pub async fn wait_for_state(&self, name: &str, want: &str, timeout: Duration) -> bool {
        self.api
            .wait_until(timeout, |_| self.state(name).as_deref() == Some(want))
            .await
    }

    /// Every `status.provisioning.state` written through `/status`, in order.
    pub fn status_states(&self, name: &str) -> Vec<String> {
        self.api
            .requests()
            .iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.path.ends_with(&format!(
                        "/namespaces/{}/baremetalhosts/{name}/status",
                        self.namespace
                    ))
            })
            .filter_map(|r| {
                let v: Value = serde_json::from_str(&r.body).ok()?;
                v["status"]["provisioning"]["state"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Stops the controller and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("controller stops within 5 s")
                .expect("controller task did not panic");
        }
    }
}
