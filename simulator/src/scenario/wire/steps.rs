//! Playing a timeline against the running stack: each step becomes Kubernetes API calls, fault
//! settings on the fleet's BMCs, an operator restart, or a wait on the observed state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use serde_json::{Value, json};

use super::WireError;
use super::images::{Images, PLACEHOLDER};
use super::observe::{HostView, Recorder};
use super::stack::{Stack, bmh_resource, claim_resource, pool_resource};
use crate::fault::FaultSet;
use crate::fleet::{Fleet, manifests};
use crate::machine::SimTime;
use crate::scenario::Scenario;
use crate::scenario::format::{
    Claim, Condition, FaultTarget, HostSelector, InjectFault, MetadataChange, PatchType, Register,
    Step, Target,
};
use crate::scenario::trace::{Happening, Protocol};

/// How often waits look at the observed state (and fault expiries are handled).
const POLL: Duration = Duration::from_millis(100);

/// Field manager of the runner's server-side applies.
const MANAGER: &str = "metal-sim-run";

/// A fault in force.
struct ActiveFault {
    target: FaultTarget,
    hosts: Vec<String>,
    bmc: FaultSet,
    until: Option<SimTime>,
}

/// How long the mock Ironic keeps an API fault that has no `for` (the runner clears it earlier
/// with `clear_fault`; the bound keeps a forgotten one from outliving the run).
const IRONIC_FAULT_BOUND: Duration = Duration::from_secs(3600);

/// Switches the mock Ironic's API fault on (`Some(body)`) or off (`None`) at `/_sim/faults`.
async fn switch_ironic_fault(ironic_url: &str, body: Option<Value>) -> Result<(), String> {
    let url = format!("{}/_sim/faults", ironic_url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let request = match body {
        Some(b) => http.post(&url).json(&b),
        None => http.delete(&url),
    };
    let resp = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!("{url}: {status}: {text}"))
    }
}

/// Plays steps; owns the stack while it does.
pub struct Player<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) stack: Stack,
    pub(super) fleet: Fleet,
    pub(super) recorder: Arc<Recorder>,
    images: Images,
    faults: BTreeMap<String, ActiveFault>,
}

/// Why a step did not hold (a wait past its deadline, a failed assert).
pub struct StepFailure(pub String);

impl<'a> Player<'a> {
    /// A player over a started stack; `fleet` is the fleet as served (after address overrides).
    pub fn new(
        scenario: &'a Scenario,
        stack: Stack,
        fleet: Fleet,
        recorder: Arc<Recorder>,
        images: Images,
    ) -> Self {
        Player {
            scenario,
            stack,
            fleet,
            recorder,
            images,
            faults: BTreeMap::new(),
        }
    }

    fn ns(&self) -> &str {
        self.scenario.namespace()
    }

    fn call(&self, method: &str, target: String, status: Option<u16>, host: Option<&str>) {
        self.recorder.push(Happening::Call {
            host: host.map(str::to_string),
            protocol: Protocol::Kubernetes,
            method: method.to_string(),
            target,
            status,
            action: None,
            detail: None,
        });
    }

    fn api(&self, resource: &ApiResource, namespaced: bool) -> Api<DynamicObject> {
        if namespaced {
            Api::namespaced_with(self.stack.client.clone(), self.ns(), resource)
        } else {
            Api::all_with(self.stack.client.clone(), resource)
        }
    }

    /// Server-side applies one object (its namespace defaults to the fleet's).
    async fn apply(&self, obj: Value) -> Result<(), WireError> {
        let mut obj = self.images.substitute(&obj);
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, caps) = pinned_kind(&self.stack.client, &gvk)
            .await
            .map_err(|e| WireError::Step(format!("{api_version} {kind} is not served: {e}")))?;
        let namespaced = caps.scope == Scope::Namespaced;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(self.ns())
            .to_string();
        if namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(self.stack.client.clone(), &ns, &resource)
        } else {
            Api::all_with(self.stack.client.clone(), &resource)
        };
        let host = (kind == "BareMetalHost").then_some(name.as_str());
        let result = api
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&obj),
            )
            .await;
        self.call(
            "APPLY",
            format!("{kind}/{name}"),
            Some(status_of(&result)),
            host,
        );
        result
            .map(|_| ())
            .map_err(|e| WireError::Step(format!("applying {kind}/{name}: {e}")))
    }

    /// The BareMetalHosts and Secrets of `register`.
    async fn register(&self, r: &Register) -> Result<(), WireError> {
        let text = manifests(&self.fleet).map_err(|e| WireError::Step(e.to_string()))?;
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| WireError::Step(format!("fleet manifests: {e}")))?;
            if !v.is_null() {
                docs.push(v);
            }
        }
        let wanted = self.scenario.host_names(&r.hosts);
        let b64 = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        for mut doc in docs {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match doc["kind"].as_str() {
                Some("Secret") => {
                    let host = name.trim_end_matches("-bmc-secret");
                    if !wanted.iter().any(|w| w == host) {
                        continue;
                    }
                    if let Some(p) = &r.password {
                        doc["data"]["password"] = json!(b64(p));
                    }
                }
                Some("BareMetalHost") => {
                    if !wanted.contains(&name) {
                        continue;
                    }
                    doc["spec"]["online"] = json!(r.online);
                    if r.externally_provisioned {
                        doc["spec"]["externallyProvisioned"] = json!(true);
                    }
                    if r.inspection_disabled {
                        doc["metadata"]["annotations"] = json!({
                            metal_operator::api::annotations::INSPECT:
                                metal_operator::api::annotations::INSPECT_DISABLED
                        });
                    }
                    if let Some(p) = &r.patch {
                        json_patch::merge(&mut doc, &self.images.substitute(p));
                    }
                }
                _ => continue,
            }
            self.apply(doc).await?;
        }
        Ok(())
    }

    /// Resolves a `Target` to (resource, names).
    fn resolve(&self, t: &Target) -> Result<(ApiResource, Vec<String>), WireError> {
        if let Some(sel) = &t.hosts {
            return Ok((bmh_resource(), self.scenario.host_names(sel)));
        }
        let kind = t.kind.as_deref().unwrap_or_default();
        let resource = match kind {
            "BareMetalHost" => bmh_resource(),
            "HostClaim" => claim_resource(),
            "HostPool" => pool_resource(),
            "HardwareData" => ApiResource::erase::<metal_operator::api::HardwareData>(&()),
            "Secret" => super::stack::core_resource("Secret", "secrets"),
            "ConfigMap" => super::stack::core_resource("ConfigMap", "configmaps"),
            other => {
                return Err(WireError::Step(format!(
                    "kind {other:?} is not one the runner patches or deletes (BareMetalHost, HostClaim, HostPool, HardwareData, Secret, ConfigMap)"
                )));
            }
        };
        Ok((resource, t.name.clone().into_iter().collect()))
    }

    async fn patch(&self, t: &Target, patch: Patch<Value>) -> Result<(), WireError> {
        let (resource, names) = self.resolve(t)?;
        let api = match &t.namespace {
            Some(ns) => Api::namespaced_with(self.stack.client.clone(), ns, &resource),
            None => self.api(&resource, true),
        };
        for name in names {
            let result = api.patch(&name, &PatchParams::default(), &patch).await;
            let host = (resource.kind == "BareMetalHost").then_some(name.as_str());
            self.call(
                "PATCH",
                format!("{}/{name}", resource.kind),
                Some(status_of(&result)),
                host,
            );
            result
                .map_err(|e| WireError::Step(format!("patching {}/{name}: {e}", resource.kind)))?;
        }
        Ok(())
    }

    async fn metadata(&self, field: &str, m: &MetadataChange) -> Result<(), WireError> {
        let mut map = serde_json::Map::new();
        for (k, v) in &m.set {
            map.insert(k.clone(), json!(v));
        }
        for k in &m.remove {
            map.insert(k.clone(), Value::Null);
        }
        let target = Target {
            hosts: Some(m.hosts.clone()),
            kind: None,
            name: None,
            namespace: None,
        };
        self.patch(&target, Patch::Merge(json!({"metadata": {field: map}})))
            .await
    }

    async fn delete(&self, t: &Target) -> Result<(), WireError> {
        let (resource, names) = self.resolve(t)?;
        let api = match &t.namespace {
            Some(ns) => Api::namespaced_with(self.stack.client.clone(), ns, &resource),
            None => self.api(&resource, true),
        };
        for name in names {
            let result = api.delete(&name, &DeleteParams::default()).await;
            let status = match &result {
                Ok(_) => 200,
                Err(kube::Error::Api(s)) => s.code,
                Err(_) => 0,
            };
            let host = (resource.kind == "BareMetalHost").then_some(name.as_str());
            self.call(
                "DELETE",
                format!("{}/{name}", resource.kind),
                Some(status),
                host,
            );
            result
                .map_err(|e| WireError::Step(format!("deleting {}/{name}: {e}", resource.kind)))?;
        }
        Ok(())
    }

    async fn create_claim(&self, c: &Claim) -> Result<(), WireError> {
        let ns = c.namespace.as_deref().unwrap_or(self.ns());
        let image = c.image.as_ref().map_or_else(
            || self.images.url(),
            |i| i.replace(PLACEHOLDER, &self.images.base),
        );
        let mut spec = json!({
            "hostSelector": {"matchLabels": c.match_labels},
            "image": {"url": image, "checksum": format!("{image}.sha256sum"), "checksumType": "sha256"},
            "poweredOn": c.powered_on,
        });
        if let Some(fd) = &c.failure_domain {
            spec["failureDomain"] = json!(fd);
        }
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": c.name, "namespace": ns},
            "spec": spec,
        }))
        .map_err(|e| WireError::Step(e.to_string()))?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.stack.client.clone(), ns, &claim_resource());
        let result = api.create(&PostParams::default(), &obj).await;
        self.call(
            "POST",
            format!("HostClaim/{}", c.name),
            Some(status_of(&result)),
            None,
        );
        result
            .map(|_| ())
            .map_err(|e| WireError::Step(format!("creating claim {}: {e}", c.name)))
    }

    /// Recomputes each of `hosts`' BMC faults: the fleet's own plus every active BMC fault on it.
    fn apply_bmc_faults(&self, hosts: &[String]) {
        let world = self.stack.world();
        let now = world.now();
        for name in hosts {
            let Some(host) = world.host_by_name(name) else {
                continue;
            };
            let mut set = self
                .fleet
                .hosts()
                .iter()
                .find(|h| &h.name == name)
                .map(|h| h.faults.clone())
                .unwrap_or_default();
            for f in self.faults.values() {
                if f.target == FaultTarget::Bmc && f.hosts.contains(name) {
                    set.merge(&f.bmc);
                }
            }
            host.set_faults(now, set);
        }
    }

    async fn inject(&mut self, index: usize, f: &InjectFault) -> Result<(), WireError> {
        let name = f
            .name
            .clone()
            .unwrap_or_else(|| format!("fault-{}", index + 1));
        let target = f
            .target()
            .ok_or_else(|| WireError::Step("a fault needs exactly one target".into()))?;
        let now = self.recorder.now();
        let until = f.duration.map(|d| d.after(now));
        let hosts = match target {
            FaultTarget::Bmc | FaultTarget::Agent => self.scenario.host_names(&f.hosts),
            FaultTarget::Ironic | FaultTarget::ControlPlane => Vec::new(),
        };
        let bmc = f
            .bmc
            .as_ref()
            .map(|b| b.fault_set(now, until))
            .unwrap_or_default();
        match (target, &f.ironic) {
            (FaultTarget::Bmc, _) => {}
            (FaultTarget::Ironic, Some(ironic)) if self.stack.mock_ironic => {
                let seconds = f.duration.map_or(IRONIC_FAULT_BOUND, |d| d.0);
                let body = json!({
                    "http_5xx_rate": ironic.http_5xx_rate,
                    "status": ironic.status.unwrap_or(503),
                    "for_seconds": seconds.as_secs_f64(),
                });
                switch_ironic_fault(&self.stack.ironic_url, Some(body))
                    .await
                    .map_err(|e| WireError::Step(format!("injecting {name}: {e}")))?;
            }
            (FaultTarget::Ironic, _) => {
                return Err(WireError::Unsupported(
                    "Ironic faults need the mock Ironic (`ironic: mock`)".into(),
                ));
            }
            (FaultTarget::Agent, _) => self.stack.silence_agents(&hosts, until)?,
            (FaultTarget::ControlPlane, _) => {
                let open = self.stack.disconnect_watches(f.duration.map(|d| d.0));
                tracing::info!(fault = %name, open, "control-plane watches cut");
            }
        }
        self.faults.insert(
            name.clone(),
            ActiveFault {
                target,
                hosts: hosts.clone(),
                bmc,
                until,
            },
        );
        self.apply_bmc_faults(&hosts);
        self.recorder.push(Happening::Fault {
            name,
            target,
            hosts,
            active: true,
        });
        Ok(())
    }

    async fn clear(&mut self, names: Vec<String>) {
        for name in names {
            if let Some(f) = self.faults.remove(&name) {
                self.apply_bmc_faults(&f.hosts);
                self.end_switch_fault(&f);
                if f.target == FaultTarget::Ironic
                    && let Err(e) = switch_ironic_fault(&self.stack.ironic_url, None).await
                {
                    // The mock's own window still ends it.
                    tracing::warn!(fault = %name, error = %e, "could not clear the Ironic fault");
                }
                self.recorder.push(Happening::Fault {
                    name,
                    target: f.target,
                    hosts: f.hosts,
                    active: false,
                });
            }
        }
    }

    /// Ends an agent or control-plane fault; another such fault still in force stays in force.
    fn end_switch_fault(&self, ended: &ActiveFault) {
        match ended.target {
            FaultTarget::Agent => {
                self.stack.resume_agents(&ended.hosts);
                for f in self.faults.values() {
                    if f.target == FaultTarget::Agent {
                        // Agents ran when this fault started, so the launcher is there.
                        let _ = self.stack.silence_agents(&f.hosts, f.until);
                    }
                }
            }
            FaultTarget::ControlPlane => {
                let others = self
                    .faults
                    .values()
                    .any(|f| f.target == FaultTarget::ControlPlane);
                if !others {
                    self.stack.resume_watches();
                }
            }
            FaultTarget::Bmc | FaultTarget::Ironic => {}
        }
    }

    /// Clears the faults whose `for` has run out.
    async fn expire(&mut self) {
        let now = self.recorder.now();
        let due: Vec<String> = self
            .faults
            .iter()
            .filter(|(_, f)| f.until.is_some_and(|u| u <= now))
            .map(|(n, _)| n.clone())
            .collect();
        self.clear(due).await;
    }

    /// Sleeps `d` while expiring faults on time.
    async fn pass(&mut self, d: Duration) {
        let end = self.recorder.now().saturating_add(d);
        loop {
            self.expire().await;
            let now = self.recorder.now();
            if now >= end {
                return;
            }
            tokio::time::sleep(POLL.min(end.saturating_since(now))).await;
        }
    }

    /// Plays one step. `Ok(Err(..))` is a step that did not hold; `Err` a step that could not run.
    pub async fn play(
        &mut self,
        index: usize,
        step: &Step,
    ) -> Result<Result<(), StepFailure>, WireError> {
        self.expire().await;
        match step {
            Step::Register(r) => self.register(r).await?,
            Step::Apply(o) => {
                for obj in &o.objects {
                    self.apply(obj.clone()).await?;
                }
            }
            Step::Patch(p) => {
                let body = self.images.substitute(&p.patch);
                let patch = match p.patch_type {
                    PatchType::Merge => Patch::Merge(body),
                    PatchType::Json => Patch::Json(
                        serde_json::from_value(body)
                            .map_err(|e| WireError::Step(format!("json patch: {e}")))?,
                    ),
                };
                self.patch(&p.target(), patch).await?;
            }
            Step::Annotate(m) => self.metadata("annotations", m).await?,
            Step::Label(m) => self.metadata("labels", m).await?,
            Step::Delete(t) => self.delete(t).await?,
            Step::CreateClaim(c) => self.create_claim(c).await?,
            Step::DeleteClaim(c) => {
                let t = Target {
                    hosts: None,
                    kind: Some("HostClaim".into()),
                    name: Some(c.name.clone()),
                    namespace: c.namespace.clone(),
                };
                self.delete(&t).await?;
            }
            Step::ScalePool(s) => {
                let t = Target {
                    hosts: None,
                    kind: Some("HostPool".into()),
                    name: Some(s.name.clone()),
                    namespace: s.namespace.clone(),
                };
                self.patch(&t, Patch::Merge(json!({"spec": {"replicas": s.replicas}})))
                    .await?;
            }
            Step::RestartOperator(r) => {
                self.stack.stop_operator().await;
                self.recorder.push(Happening::Operator { running: false });
                self.pass(r.down_for.0).await;
                self.stack.start_operator()?;
                self.recorder.push(Happening::Operator { running: true });
            }
            Step::InjectFault(f) => self.inject(index, f).await?,
            Step::ClearFault(c) => {
                let names = if c.all {
                    self.faults.keys().cloned().collect()
                } else {
                    c.name.clone().into_iter().collect()
                };
                self.clear(names).await;
            }
            Step::Advance(span) => self.pass(span.0).await,
            Step::Wait(w) => {
                let deadline = self.recorder.now().saturating_add(w.within.0);
                loop {
                    self.expire().await;
                    let verdict = self.holds(&w.until);
                    if verdict.is_ok() {
                        break;
                    }
                    if self.recorder.now() >= deadline {
                        return Ok(verdict.map_err(|why| {
                            StepFailure(format!("not within {}: {why}", w.within))
                        }));
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            Step::Assert(c) => return Ok(self.holds(c).map_err(StepFailure)),
        }
        Ok(Ok(()))
    }

    /// Whether a condition holds on what has been observed; `Err` says what is off.
    pub fn holds(&self, c: &Condition) -> Result<(), String> {
        if let Some(sel) = &c.hosts {
            return hosts_hold(self.scenario, sel, c, &self.recorder.hosts());
        }
        if let Some(claim) = &c.claim {
            let bound = self
                .recorder
                .claims()
                .get(claim)
                .is_some_and(|h| h.is_some());
            return if Some(bound) == c.bound {
                Ok(())
            } else {
                Err(format!(
                    "claim {claim} is {}",
                    if bound { "bound" } else { "not bound" }
                ))
            };
        }
        if let Some(pool) = &c.pool {
            let ready = self.recorder.pools().get(pool).map_or(0, |p| p.1);
            return if Some(ready) == c.ready {
                Ok(())
            } else {
                Err(format!("pool {pool} has {ready} ready"))
            };
        }
        Err("empty condition".into())
    }
}

fn status_of<T>(r: &Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(_) => 0,
    }
}

/// Checks a host condition against the observed views.
fn hosts_hold(
    scenario: &Scenario,
    sel: &HostSelector,
    c: &Condition,
    views: &BTreeMap<String, HostView>,
) -> Result<(), String> {
    let names = scenario.host_names(sel);
    let mut off = Vec::new();
    let mut matching = 0usize;
    for name in &names {
        let v = views.get(name);
        let why = match v {
            None if c.gone == Some(true) => None,
            None => Some("not seen yet".to_string()),
            Some(v) => host_mismatch(c, v),
        };
        match why {
            None => matching += 1,
            Some(w) => off.push(format!("{name} {w}")),
        }
    }
    let needed = c.at_least.map_or(names.len(), |n| n as usize);
    if matching >= needed {
        return Ok(());
    }
    let shown: Vec<&String> = off.iter().take(5).collect();
    let more = if off.len() > 5 {
        format!(" and {} more", off.len() - 5)
    } else {
        String::new()
    };
    Err(format!(
        "{matching} of {} hosts match (need {needed}); {}{more}",
        names.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

fn host_mismatch(c: &Condition, v: &HostView) -> Option<String> {
    if let Some(gone) = c.gone {
        if gone != v.gone {
            return Some(if v.gone { "is gone" } else { "still exists" }.into());
        }
        if gone {
            return None;
        }
    }
    if let Some(s) = &c.state
        && &v.state != s
    {
        return Some(format!("is {:?}", v.state));
    }
    if let Some(s) = &c.operational_status
        && &v.operational_status != s
    {
        return Some(format!("has operational status {:?}", v.operational_status));
    }
    if let Some(e) = &c.error_type {
        let got = v.error_type.as_deref().unwrap_or("none");
        if got != e {
            return Some(format!("has error type {got:?}"));
        }
    }
    if let Some(p) = c.powered_on
        && v.powered_on != Some(p)
    {
        return Some(format!("has poweredOn {:?}", v.powered_on));
    }
    None
}
