//! The wire backend's steps: each object step becomes Kubernetes API calls (recorded as
//! `kubernetes` calls in the trace), `restart_operator` stops and starts the operator (our task
//! or the operator process), time passes in real time (an operator process that exits meanwhile
//! stops the run), and conditions read what the observers recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use serde_json::{Value, json};

use super::WireError;
use super::images::{Images, PLACEHOLDER};
use super::observe::Recorder;
use super::stack::{Stack, bmh_resource, claim_resource, pool_resource};
use metal_core::statemachine::TESTBED_SPAN_FLOOR;
use metal_scenario::Scenario;
use metal_scenario::format::{
    Claim, MetadataChange, Named, PatchType, Register, Restart, Scale, Target,
};
use metal_scenario::play::{
    ActiveFault, Backend, HostConditionView, claim_object, register_documents,
};
use metal_scenario::trace::{Happening, Protocol};
use metal_sim::fleet::Fleet;
use metal_sim::machine::SimTime;

/// How often waits look at the observed state (and fault expiries are handled).
const POLL: Duration = Duration::from_millis(100);

/// Field manager of the runner's server-side applies.
const MANAGER: &str = "metal-sim-run";

/// How long a span the scenario wrote lasts when it follows `time_scale` (`None`: as written):
/// scaled, never below [`TESTBED_SPAN_FLOOR`] nor above the span as written.
pub fn scenario_span(written: Duration, time_scale: Option<f64>) -> Duration {
    match time_scale {
        Some(scale) => metal_core::duration::scaled(written, scale, TESTBED_SPAN_FLOOR),
        None => written,
    }
}

/// The running stack as the player's backend; owns the stack while the timeline plays.
pub struct WireBackend<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) stack: Stack,
    pub(super) fleet: Fleet,
    pub(super) recorder: Arc<Recorder>,
    images: Images,
    /// Steps done, for the progress display.
    done: Arc<AtomicUsize>,
    /// What every `wait`'s `within` is multiplied by.
    wait_factor: f64,
    /// The time scale the scenario's spans follow (`None`: as written).
    span_scale: Option<f64>,
}

impl<'a> WireBackend<'a> {
    /// A backend over a started stack; `fleet` is the fleet as served (after address
    /// overrides); `done` counts the steps played.
    pub fn new(
        scenario: &'a Scenario,
        stack: Stack,
        fleet: Fleet,
        recorder: Arc<Recorder>,
        images: Images,
        done: Arc<AtomicUsize>,
    ) -> Self {
        WireBackend {
            scenario,
            stack,
            fleet,
            recorder,
            images,
            done,
            wait_factor: 1.0,
            span_scale: None,
        }
    }

    /// Multiplies every `wait`'s `within` by `factor` (the operator's pace).
    pub fn with_wait_factor(mut self, factor: f64) -> Self {
        self.wait_factor = factor;
        self
    }

    /// Scales the scenario's spans (`advance`, `for`, `down_for`) by `time_scale`, never below
    /// [`TESTBED_SPAN_FLOOR`] nor above the span as written: for an operator whose polls follow
    /// the fleet's time scale (`OperatorChoice::follows_time_scale`).
    pub fn with_span_scale(mut self, time_scale: Option<f64>) -> Self {
        self.span_scale = time_scale;
        self
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
    async fn apply_objects(&self, obj: Value) -> Result<(), WireError> {
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
    async fn register_hosts(&self, r: &Register) -> Result<(), WireError> {
        let docs = register_documents(self.scenario, &self.fleet, r, |v| self.images.substitute(v))
            .map_err(WireError::Step)?;
        for doc in docs {
            self.apply_objects(doc).await?;
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

    async fn patch_objects(&self, t: &Target, patch: Patch<Value>) -> Result<(), WireError> {
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

    async fn patch_metadata(&self, field: &str, m: &MetadataChange) -> Result<(), WireError> {
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
        self.patch_objects(&target, Patch::Merge(json!({"metadata": {field: map}})))
            .await
    }

    async fn delete_objects(&self, t: &Target) -> Result<(), WireError> {
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

    async fn post_claim(&self, c: &Claim) -> Result<(), WireError> {
        let ns = c.namespace.as_deref().unwrap_or(self.ns());
        let image = c.image.as_ref().map_or_else(
            || self.images.url(),
            |i| i.replace(PLACEHOLDER, &self.images.base),
        );
        let obj: DynamicObject = serde_json::from_value(claim_object(c, ns, &image))
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
}

impl Backend for WireBackend<'_> {
    type Error = WireError;

    const POLL: Duration = POLL;

    const ABSENT: &'static str = "not seen yet";

    fn now(&self) -> SimTime {
        self.recorder.now()
    }

    fn wait_factor(&self) -> f64 {
        self.wait_factor
    }

    fn span(&self, written: Duration) -> Duration {
        scenario_span(written, self.span_scale)
    }

    fn record(&mut self, what: Happening) {
        self.recorder.push(what);
    }

    fn step_started(&mut self, index: usize, keyword: &str) {
        self.recorder
            .set_step(format!("step {} ({keyword})", index + 1));
    }

    fn step_done(&mut self, index: usize) {
        self.done.store(index + 1, Ordering::Relaxed);
    }

    async fn register(&mut self, r: &Register) -> Result<(), WireError> {
        self.register_hosts(r).await
    }

    async fn apply(&mut self, objects: &[Value]) -> Result<(), WireError> {
        for obj in objects {
            self.apply_objects(obj.clone()).await?;
        }
        Ok(())
    }

    async fn patch(
        &mut self,
        target: &Target,
        patch_type: PatchType,
        body: &Value,
    ) -> Result<(), WireError> {
        let body = self.images.substitute(body);
        let patch = match patch_type {
            PatchType::Merge => Patch::Merge(body),
            PatchType::Json => Patch::Json(
                serde_json::from_value(body)
                    .map_err(|e| WireError::Step(format!("json patch: {e}")))?,
            ),
        };
        self.patch_objects(target, patch).await
    }

    async fn metadata(&mut self, field: &str, change: &MetadataChange) -> Result<(), WireError> {
        self.patch_metadata(field, change).await
    }

    async fn delete(&mut self, target: &Target) -> Result<(), WireError> {
        self.delete_objects(target).await
    }

    async fn create_claim(&mut self, claim: &Claim) -> Result<(), WireError> {
        self.post_claim(claim).await
    }

    async fn delete_claim(&mut self, c: &Named) -> Result<(), WireError> {
        let t = Target {
            hosts: None,
            kind: Some("HostClaim".into()),
            name: Some(c.name.clone()),
            namespace: c.namespace.clone(),
        };
        self.delete_objects(&t).await
    }

    async fn scale_pool(&mut self, s: &Scale) -> Result<(), WireError> {
        let t = Target {
            hosts: None,
            kind: Some("HostPool".into()),
            name: Some(s.name.clone()),
            namespace: s.namespace.clone(),
        };
        self.patch_objects(&t, Patch::Merge(json!({"spec": {"replicas": s.replicas}})))
            .await
    }

    /// A kill inside a reconcile is refused before the run starts (`unsupported_for`).
    async fn stop_operator(&mut self, _restart: &Restart) -> Result<(), WireError> {
        self.stack.stop_operator().await;
        Ok(())
    }

    async fn start_operator(&mut self) -> Result<(), WireError> {
        self.stack.start_operator().await
    }

    async fn fault_started(
        &mut self,
        started: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), WireError> {
        self.switch_on(started, active).await
    }

    async fn fault_ended(
        &mut self,
        ended: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), WireError> {
        self.switch_off(ended, active).await;
        Ok(())
    }

    /// Sleeps towards `t`, at most [`POLL`] at a time; an operator process that has exited
    /// stops the run here.
    async fn pass_to(&mut self, t: SimTime) -> Result<(), WireError> {
        if let Some(why) = self.stack.operator_exited() {
            return Err(WireError::Operator(why));
        }
        let now = self.recorder.now();
        if now < t {
            tokio::time::sleep(POLL.min(t.saturating_since(now))).await;
        }
        Ok(())
    }

    fn hosts(&self, names: &[String]) -> Vec<Option<HostConditionView>> {
        let views = self.recorder.hosts();
        names
            .iter()
            .map(|n| {
                views.get(n).map(|v| HostConditionView {
                    state: v.state.clone(),
                    operational_status: v.operational_status.clone(),
                    error_type: v.error_type.clone(),
                    powered_on: v.powered_on,
                    gone: v.gone,
                })
            })
            .collect()
    }

    fn claim_bound(&self, name: &str) -> bool {
        self.recorder
            .claims()
            .get(name)
            .is_some_and(|h| h.is_some())
    }

    fn claim_reason(&self, name: &str) -> Option<String> {
        self.recorder.claim_reasons().get(name).cloned()
    }

    fn pool_ready(&self, name: &str) -> u32 {
        self.recorder.pools().get(name).map_or(0, |p| p.1)
    }
}

fn status_of<T>(r: &Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(_) => 0,
    }
}
