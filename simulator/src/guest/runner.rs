//! The guests' shell: when a machine boots its disk and the image is a Kubernetes node image
//! ([`GuestSettings::node_images`]), cloud-init runs on the disk's config drive and, if it left a
//! kubeconfig, a kubelet registers the Node in that cluster, keeps its Lease renewed and its Ready
//! condition true while the machine runs, and posts Ready=False (the kubelet's graceful shutdown)
//! when the machine powers off. The cluster must be on loopback (the egress rule, `crate::egress`):
//! a user data naming any other server gets a refusal in the guest's status, never a connection.
//!
//! What each guest did is kept per host ([`Guests::status`]) for the control API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::cloudinit;
use super::kubelet::{self, Credentials, KubeletPlan, NodeFacts};
use crate::egress::{self, Network};
use crate::machine::{BootOutcome, Host, MachineEvent, PowerState, World};

/// Which images are node images, and the kubelet's pace.
#[derive(Debug, Clone)]
pub struct GuestSettings {
    /// An image whose URL contains one of these runs a kubelet (empty: none does).
    pub node_images: Vec<String>,
    /// How often the kubelet renews its Lease (its default is 10 s).
    pub lease_renew: Duration,
    /// Networks beyond loopback the kubelet may connect to (none from the command line: loopback only).
    pub allowed: Vec<Network>,
}

impl GuestSettings {
    /// For a fleet running at `time_scale`: the Lease renewed at the kubelet's 10 s, scaled, at
    /// least once a second. No node images: the fleet file names them.
    pub fn for_fleet(time_scale: f64) -> GuestSettings {
        let renew = Duration::from_secs_f64((10.0 * time_scale).clamp(1.0, 10.0));
        GuestSettings {
            lease_renew: renew,
            ..GuestSettings::default()
        }
    }
}

impl Default for GuestSettings {
    fn default() -> Self {
        GuestSettings {
            node_images: Vec::new(),
            lease_renew: Duration::from_secs(10),
            allowed: Vec::new(),
        }
    }
}

/// What the guest of one host did on its last disk boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestStatus {
    /// Which boot of the machine.
    pub boot: u64,
    /// The image booted.
    pub image: String,
    /// The hostname cloud-init set.
    pub hostname: Option<String>,
    /// What cloud-init could not do.
    pub notes: Vec<String>,
    /// The kubelet's state.
    pub kubelet: KubeletState,
}

/// The kubelet's state, in words a test can match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KubeletState {
    /// The image is not a node image: no kubelet.
    NotANodeImage,
    /// cloud-init left no kubeconfig: the kubelet does not start.
    NoKubeconfig,
    /// What cloud-init left cannot be used (or the cluster's address is refused).
    Refused {
        /// Why.
        reason: String,
    },
    /// Registering, or retrying after an error (the last one, if any).
    Registering {
        /// The Node's name.
        node: String,
        /// The last error, if a request failed.
        error: Option<String>,
    },
    /// The Node is registered and the Lease renewed.
    Running {
        /// The Node's name.
        node: String,
    },
    /// The kubelet stopped.
    Stopped {
        /// The Node's name.
        node: String,
        /// Why (power off, another boot, the Node deleted).
        reason: String,
    },
}

type Table = Arc<Mutex<HashMap<usize, (GuestStatus, Option<CancellationToken>)>>>;

fn lock(t: &Table) -> MutexGuard<'_, HashMap<usize, (GuestStatus, Option<CancellationToken>)>> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running guests.
#[derive(Clone, Debug, Default)]
pub struct Guests {
    table: Table,
}

impl Guests {
    /// Subscribes to `world` and runs until `stop` is cancelled.
    pub fn spawn(
        world: Arc<World>,
        settings: GuestSettings,
        stop: CancellationToken,
    ) -> (Guests, tokio::task::JoinHandle<()>) {
        let guests = Guests::default();
        let table = Arc::clone(&guests.table);
        let mut events = world.subscribe();
        let task = tokio::spawn(async move {
            let ctx = Ctx {
                world,
                settings,
                table,
                stop: stop.clone(),
            };
            ctx.reconcile_all();
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => break,
                    e = events.recv() => e,
                };
                match event {
                    Ok(e) => ctx.on_event(e.host, &e.event),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "guest runner fell behind; reconciling");
                        ctx.reconcile_all();
                    }
                    Err(RecvError::Closed) => break,
                }
            }
            for (_, (_, token)) in lock(&ctx.table).iter_mut() {
                if let Some(t) = token.take() {
                    t.cancel();
                }
            }
        });
        (guests, task)
    }

    /// What the guest of host `index` did on its last disk boot, if it booted one.
    pub fn status(&self, index: usize) -> Option<GuestStatus> {
        lock(&self.table).get(&index).map(|(s, _)| s.clone())
    }
}

struct Ctx {
    world: Arc<World>,
    settings: GuestSettings,
    table: Table,
    stop: CancellationToken,
}

impl Ctx {
    fn on_event(&self, index: usize, event: &MachineEvent) {
        match event {
            MachineEvent::Booted { record } => match &record.outcome {
                BootOutcome::Disk { disk, image } => self.start(index, record.count, disk, image),
                _ => self.halt(index, "the machine booted something else"),
            },
            MachineEvent::PowerChanged {
                to: PowerState::Off,
                ..
            } => self.halt(index, "the machine powered off"),
            _ => {}
        }
    }

    fn reconcile_all(&self) {
        let now = self.world.now();
        for host in self.world.hosts() {
            let view = host.view(now);
            match view.last_boot.as_ref().map(|b| (b.count, &b.outcome)) {
                Some((count, BootOutcome::Disk { disk, image }))
                    if view.power == PowerState::On =>
                {
                    self.start(host.index, count, disk, image)
                }
                _ => self.halt(host.index, "the machine is not running its disk"),
            }
        }
    }

    fn halt(&self, index: usize, reason: &str) {
        if let Some((status, token)) = lock(&self.table).get_mut(&index)
            && let Some(t) = token.take()
        {
            tracing::info!(host = index, reason, "guest stopping");
            t.cancel();
            if let KubeletState::Running { node } | KubeletState::Registering { node, .. } =
                &status.kubelet
            {
                status.kubelet = KubeletState::Stopped {
                    node: node.clone(),
                    reason: reason.to_string(),
                };
            }
        }
    }

    fn start(&self, index: usize, boot: u64, disk: &str, image: &str) {
        if lock(&self.table)
            .get(&index)
            .is_some_and(|(s, _)| s.boot == boot)
        {
            return;
        }
        self.halt(index, "the machine booted again");
        let Some(host) = self.world.host(index).map(Arc::clone) else {
            return;
        };
        let mut status = GuestStatus {
            boot,
            image: image.to_string(),
            hostname: None,
            notes: Vec::new(),
            kubelet: KubeletState::NotANodeImage,
        };
        if !self
            .settings
            .node_images
            .iter()
            .any(|n| image.contains(n.as_str()))
        {
            lock(&self.table).insert(index, (status, None));
            return;
        }
        let view = host.view(self.world.now());
        let drive = view
            .disks
            .iter()
            .find(|d| d.name == disk)
            .and_then(|d| d.image.as_ref())
            .and_then(|i| i.config_drive.clone());
        let Some(drive) = drive else {
            status.notes.push("the disk has no config drive".into());
            status.kubelet = KubeletState::NoKubeconfig;
            lock(&self.table).insert(index, (status, None));
            return;
        };
        let booted = cloudinit::first_boot(&drive);
        status.hostname = booted.hostname.clone();
        status.notes = booted.notes.clone();
        let plan = kubelet::plan(&booted).and_then(|p| match p {
            Some(p) => self.admit(&p).map(|()| Some(p)),
            None => Ok(None),
        });
        let plan = match plan {
            Ok(Some(p)) => p,
            Ok(None) => {
                status.kubelet = KubeletState::NoKubeconfig;
                lock(&self.table).insert(index, (status, None));
                return;
            }
            Err(reason) => {
                tracing::warn!(host = %host.name, %reason, "kubelet refused to start");
                status.kubelet = KubeletState::Refused { reason };
                lock(&self.table).insert(index, (status, None));
                return;
            }
        };
        let http = match client(&plan, &self.settings.allowed) {
            Ok(c) => c,
            Err(reason) => {
                status.kubelet = KubeletState::Refused { reason };
                lock(&self.table).insert(index, (status, None));
                return;
            }
        };
        let facts = NodeFacts {
            system_uuid: host.profile.system.uuid.to_string(),
            internal_ip: None,
            boot_id: format!("{}-{boot}", host.profile.system.uuid),
            image: image.to_string(),
        };
        status.kubelet = KubeletState::Registering {
            node: plan.node_name.clone(),
            error: None,
        };
        let token = self.stop.child_token();
        lock(&self.table).insert(index, (status, Some(token.clone())));
        tracing::info!(host = %host.name, node = %plan.node_name, server = %plan.api.server, "kubelet starting");
        let kubelet = Kubelet {
            http,
            plan,
            facts,
            renew: self.settings.lease_renew,
            table: Arc::clone(&self.table),
            index,
            boot,
        };
        tokio::spawn(kubelet.run(token, host));
    }

    fn admit(&self, plan: &KubeletPlan) -> Result<(), String> {
        let url = url::Url::parse(&plan.api.server)
            .map_err(|e| format!("server {:?} is not a URL: {e}", plan.api.server))?;
        let host = url
            .host()
            .ok_or_else(|| format!("server {:?} has no host", plan.api.server))?;
        egress::admit_host(&host, &self.settings.allowed)
            .map(|_| ())
            .map_err(|e| format!("server {}: {e}", plan.api.server))
    }
}

fn client(plan: &KubeletPlan, allowed: &[Network]) -> Result<reqwest::Client, String> {
    let roots = plan
        .api
        .ca_pem
        .as_deref()
        .ok_or("the kubeconfig has no certificate-authority-data")?;
    let (tls, token) = match &plan.api.credentials {
        Credentials::Certificate { cert_pem, key_pem } => (
            metal_tls::client::client_auth_config(
                roots.as_bytes(),
                cert_pem.as_bytes(),
                key_pem.as_bytes(),
            ),
            None,
        ),
        Credentials::Token(t) => (
            metal_tls::client_config(metal_tls::Roots::Pem(roots.as_bytes()), false),
            Some(t.clone()),
        ),
    };
    let tls = tls.map_err(|e| format!("kubeconfig TLS: {e}"))?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|_| "the kubeconfig token is not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    egress::confine(reqwest::Client::builder(), allowed)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .default_headers(headers)
        .user_agent("kubelet/v1.36.3 (linux/amd64) metal-sim")
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

struct Kubelet {
    http: reqwest::Client,
    plan: KubeletPlan,
    facts: NodeFacts,
    renew: Duration,
    table: Table,
    index: usize,
    boot: u64,
}

/// Why a request failed: the object is gone, or anything else (retried).
enum Failure {
    NotFound,
    Other(String),
}

const MERGE: &str = "application/merge-patch+json";

impl Kubelet {
    fn set(&self, state: KubeletState) {
        if let Some((s, _)) = lock(&self.table).get_mut(&self.index)
            && s.boot == self.boot
            && !matches!(s.kubelet, KubeletState::Stopped { .. })
        {
            s.kubelet = state;
        }
    }

    fn now() -> (String, String) {
        let now = chrono::Utc::now();
        (
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), Failure> {
        let url = format!("{}{path}", self.plan.api.server.trim_end_matches('/'));
        let reply = self
            .http
            .request(method, &url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Failure::Other(format!("{url}: {e}")))?;
        let status = reply.status();
        let value: Value = reply.json().await.unwrap_or(Value::Null);
        match status {
            s if s.is_success() || s == StatusCode::CONFLICT => Ok((s, value)),
            StatusCode::NOT_FOUND => Err(Failure::NotFound),
            s => Err(Failure::Other(format!(
                "{url}: {s}: {}",
                value.get("message").and_then(Value::as_str).unwrap_or("")
            ))),
        }
    }

    /// Registers the Node (or takes over an existing one) and posts its status; its uid.
    async fn register(&self) -> Result<String, Failure> {
        let (now, _) = Self::now();
        let node = kubelet::node_object(&self.plan, &self.facts, &now, true);
        let name = &self.plan.node_name;
        let (status, created) = self
            .call(Method::POST, "/api/v1/nodes", "application/json", &node)
            .await?;
        let meta = if status == StatusCode::CONFLICT {
            let mut patch = json!({"metadata": {"labels": self.plan.labels}});
            if let Some(id) = &self.plan.provider_id {
                patch["spec"] = json!({"providerID": id});
            }
            self.call(
                Method::PATCH,
                &format!("/api/v1/nodes/{name}"),
                MERGE,
                &patch,
            )
            .await?
            .1
        } else {
            created
        };
        self.post_status(true).await?;
        Ok(meta["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn post_status(&self, ready: bool) -> Result<(), Failure> {
        let (now, _) = Self::now();
        let status = json!({"status": kubelet::node_status(&self.plan, &self.facts, &now, ready)});
        let path = format!("/api/v1/nodes/{}/status", self.plan.node_name);
        self.call(Method::PATCH, &path, MERGE, &status)
            .await
            .map(drop)
    }

    async fn renew_lease(&self, uid: &str) -> Result<(), Failure> {
        let (_, micro) = Self::now();
        let base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        let lease = kubelet::lease_object(&self.plan, uid, &micro);
        let path = format!("{base}/{}", self.plan.node_name);
        let patch = json!({"spec": {"renewTime": micro, "holderIdentity": self.plan.node_name}});
        match self.call(Method::PATCH, &path, MERGE, &patch).await {
            Err(Failure::NotFound) => self
                .call(Method::POST, base, "application/json", &lease)
                .await
                .map(drop),
            other => other.map(drop),
        }
    }

    async fn run(self, stop: CancellationToken, host: Arc<Host>) {
        let node = self.plan.node_name.clone();
        let mut uid = None;
        // Status is re-posted every few renewals, which also notices a deleted Node.
        let mut round: u64 = 0;
        loop {
            let step = async {
                let id = match &uid {
                    Some(id) => id,
                    None => uid.insert(self.register().await?),
                };
                self.renew_lease(id).await?;
                if round % 4 == 3 {
                    self.post_status(true).await?;
                }
                Ok::<(), Failure>(())
            };
            let result = tokio::select! {
                () = stop.cancelled() => break,
                r = step => r,
            };
            match result {
                Ok(()) => self.set(KubeletState::Running { node: node.clone() }),
                Err(Failure::NotFound) if uid.is_some() => {
                    tracing::info!(host = %host.name, %node, "Node deleted; kubelet stops");
                    self.set(KubeletState::Stopped {
                        node: node.clone(),
                        reason: "the Node was deleted".into(),
                    });
                    return;
                }
                Err(Failure::NotFound) => self.set(KubeletState::Registering {
                    node: node.clone(),
                    error: Some("404 Not Found".into()),
                }),
                Err(Failure::Other(e)) => {
                    tracing::warn!(host = %host.name, %node, error = %e, "kubelet request failed");
                    self.set(KubeletState::Registering {
                        node: node.clone(),
                        error: Some(e),
                    });
                }
            }
            round += 1;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.renew) => {}
            }
        }
        // Graceful shutdown: tell the cluster the node is going away (bounded by the client's
        // timeout; a machine cut off hard would only stop renewing its Lease).
        if uid.is_some() && self.post_status(false).await.is_err() {
            tracing::warn!(host = %host.name, %node, "could not post NotReady at shutdown");
        }
    }
}
