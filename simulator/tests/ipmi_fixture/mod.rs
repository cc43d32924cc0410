//! Shared by the IPMI integration tests: a world of IPMI hosts served on ephemeral loopback ports.
#![allow(dead_code)]

pub mod engine;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metal_sim::fleet::Fleet;
use metal_sim::ipmi::{Counters, IpmiBinding, IpmiSettings, serve};
use metal_sim::machine::{MachineView, SimClock, World};
use metal_testkit::wait::{Check, Wait};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// A running set of fake IPMI BMCs. Dropping it stops them.
pub struct Bmcs {
    pub world: Arc<World>,
    pub addrs: Vec<SocketAddr>,
    pub counters: Vec<Arc<Counters>>,
    stop: CancellationToken,
}

impl Drop for Bmcs {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Fleet YAML with `count` IPMI hosts (admin/password), power transitions at `time_scale`.
pub fn fleet_yaml(count: usize, time_scale: f64, extra_group_yaml: &str) -> String {
    format!(
        "seed: 7\ntime_scale: {time_scale}\nlayout: {{mode: single-address, base: 127.0.0.1, ipmi_port: 40000}}\n\
         groups:\n  - name: ipmi-{{index}}\n    count: {count}\n    profile: small\n    \
         bmc: {{protocol: ipmi, username: admin, password: password}}\n{extra_group_yaml}"
    )
}

impl Bmcs {
    /// Starts `count` BMCs on 127.0.0.1 with ephemeral ports.
    pub async fn start(count: usize) -> Bmcs {
        Self::start_yaml(&fleet_yaml(count, 0.01, ""), &["127.0.0.1"; 1]).await
    }

    /// Starts `count` BMCs on 127.0.0.1 with ephemeral ports under `settings`.
    pub async fn start_with(count: usize, settings: IpmiSettings) -> Bmcs {
        Self::start_yaml_with(&fleet_yaml(count, 0.01, ""), &["127.0.0.1"; 1], settings).await
    }

    /// Starts every host of the fleet, binding host i on `ips[i % ips.len()]` port 0.
    pub async fn start_yaml(yaml: &str, ips: &[&str]) -> Bmcs {
        Self::start_yaml_with(yaml, ips, IpmiSettings::default()).await
    }

    /// [`Bmcs::start_yaml`] under `settings`.
    pub async fn start_yaml_with(yaml: &str, ips: &[&str], settings: IpmiSettings) -> Bmcs {
        let fleet = Fleet::parse(yaml, "<test>").expect("fleet parses");
        let world = Arc::new(
            fleet
                .build_world(SimClock::start_now())
                .expect("world builds"),
        );
        let mut bindings = Vec::new();
        let mut addrs = Vec::new();
        let mut counters = Vec::new();
        for host in 0..world.hosts().len() {
            let ip = ips[host % ips.len()];
            let socket = UdpSocket::bind((ip, 0)).await.expect("bind loopback");
            addrs.push(socket.local_addr().unwrap());
            let c = Arc::new(Counters::default());
            counters.push(c.clone());
            bindings.push(IpmiBinding {
                socket,
                host,
                counters: c,
            });
        }
        let stop = CancellationToken::new();
        let (w, s) = (world.clone(), stop.clone());
        tokio::spawn(async move { serve(w, bindings, settings, s).await.expect("serve") });
        Bmcs {
            world,
            addrs,
            counters,
            stop,
        }
    }

    /// Ground truth of host `i`.
    pub fn view(&self, i: usize) -> MachineView {
        self.world.hosts()[i].view(self.world.now())
    }

    /// Waits (bounded: 2 s) until `holds()`; the panic names `what` and what was last seen.
    async fn wait_until(what: String, holds: impl Fn() -> bool, seen: impl Fn() -> String) {
        Wait::new(what, Duration::from_secs(2))
            .every(Duration::from_millis(10))
            .until(|| Check::when(holds(), &seen))
            .await
            .unwrap();
    }

    /// Waits (bounded) until `pred` holds for host `i`'s ground truth.
    pub async fn wait_for(&self, i: usize, what: &str, pred: impl Fn(&MachineView) -> bool) {
        Self::wait_until(
            format!("host {i}: {what}"),
            || pred(&self.view(i)),
            || format!("power {:?}", self.view(i).power),
        )
        .await;
    }

    /// Waits (bounded) until `pred` holds for host `i`'s traffic counters.
    pub async fn wait_for_counters(&self, i: usize, what: &str, pred: impl Fn(&Counters) -> bool) {
        Self::wait_until(
            format!("host {i}'s BMC: {what}"),
            || pred(&self.counters[i]),
            || format!("{:?}", self.counters[i]),
        )
        .await;
    }
}
