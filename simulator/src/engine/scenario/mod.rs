//! Playing a scenario's timeline in engine mode: each step becomes an engine command, waits
//! advance virtual time, and the engine's records become the scenario trace (the same event
//! types the wire runner writes).
//!
//! [`run`] is what `metal-sim run --engine` calls; [`sweep`] runs a scenario over a range of
//! seeds and reports the ones whose checks fail.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Value, json};

mod conditions;
mod faults;

use conditions::hosts_hold;
use faults::ActiveFault;

use super::claims::{ClaimWorld, TICK};
use super::simulation::{Engine, EngineError, EngineSettings};
use crate::machine::SimTime;
use crate::scenario::check::{Verdict, check};
use crate::scenario::format::{
    Claim, Condition, MetadataChange, PatchType, Register, Step, Target,
};
use crate::scenario::trace::Happening;
use crate::scenario::{Mode, Scenario, Trace};

/// How often a `wait` looks at the hosts (virtual time).
const POLL: Duration = Duration::from_secs(1);

/// The placeholder scenario files use for the image server's base URL.
const IMAGES_PLACEHOLDER: &str = "$IMAGES";
/// What it stands for in engine mode (any URL: the engine's image store generates the bytes).
const ENGINE_IMAGES: &str = "http://images.engine.invalid";

/// Why a scenario could not be played in engine mode (a failing `wait` or `assert` is not an
/// error: it is recorded in the trace and judged by the checks).
#[derive(Debug, thiserror::Error)]
pub enum EngineRunError {
    /// The scenario uses something engine mode does not model.
    #[error("{file}:{line}: {what} is not supported in engine mode")]
    Unsupported {
        /// Scenario file.
        file: String,
        /// Line of the step.
        line: usize,
        /// What.
        what: String,
    },
    /// A step could not be carried out.
    #[error("{file}:{line}: {message}")]
    Step {
        /// Scenario file.
        file: String,
        /// Line of the step.
        line: usize,
        /// Why.
        message: String,
    },
}

/// A seed whose run failed its checks (or could not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// One line per failure.
    pub failures: Vec<String>,
}

/// The settings a scenario asks for.
pub fn settings_for(scenario: &Scenario) -> EngineSettings {
    let defaults = EngineSettings::default();
    EngineSettings {
        provisioning_limit: scenario.file.operator.provisioning_limit,
        operator: metal_operator::statemachine::Settings {
            max_provisioning_retries: scenario.file.operator.max_provisioning_retries,
            ..defaults.operator.clone()
        },
        ..defaults
    }
}

/// Plays `scenario` with `seed` in engine mode and returns its trace. The same scenario and
/// seed give a byte-identical trace.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Trace, EngineRunError> {
    let scenario = scenario.with_seed(seed).map_err(|e| EngineRunError::Step {
        file: scenario.source.clone(),
        line: 1,
        message: e.to_string(),
    })?;
    let mut player = Player::new(&scenario);
    player.play_all()?;
    Ok(player.trace)
}

/// Runs `scenario` for every seed in `seeds` and returns the seeds whose checks failed (or that
/// could not run), in seed order.
pub fn sweep(scenario: &Scenario, seeds: RangeInclusive<u64>) -> Vec<SeedFailure> {
    let mut out = Vec::new();
    for seed in seeds {
        let failures = match run(scenario, seed) {
            Ok(trace) => {
                let verdict: Verdict = match scenario.with_seed(seed) {
                    Ok(s) => check(&s, &trace),
                    Err(e) => {
                        out.push(SeedFailure {
                            seed,
                            failures: vec![e.to_string()],
                        });
                        continue;
                    }
                };
                verdict
                    .failures
                    .iter()
                    .map(|f| format!("{}:{}: {}", scenario.source, f.line, f.message))
                    .collect()
            }
            Err(e) => vec![e.to_string()],
        };
        if !failures.is_empty() {
            out.push(SeedFailure { seed, failures });
        }
    }
    out
}

struct Player<'a> {
    scenario: &'a Scenario,
    engine: Engine,
    trace: Trace,
    faults: BTreeMap<String, ActiveFault>,
    line: usize,
    /// HostClaims and HostPools, reconciled every [`TICK`] while the operator runs.
    claims: ClaimWorld,
    /// The operator (and so its claim and pool controllers) is down until then.
    down_until: SimTime,
}

fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) if s.contains(IMAGES_PLACEHOLDER) => {
            Value::String(s.replace(IMAGES_PLACEHOLDER, ENGINE_IMAGES))
        }
        Value::Array(a) => Value::Array(a.iter().map(substitute).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), substitute(v))).collect())
        }
        other => other.clone(),
    }
}

impl<'a> Player<'a> {
    fn new(scenario: &'a Scenario) -> Self {
        let engine = Engine::new(&scenario.fleet, scenario.seed(), settings_for(scenario));
        let mut trace = Trace::new();
        trace.push(SimTime::ZERO, Happening::Operator { running: true });
        Player {
            scenario,
            engine,
            trace,
            faults: BTreeMap::new(),
            line: 1,
            claims: ClaimWorld::new(scenario.seed()),
            down_until: SimTime::ZERO,
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> EngineRunError {
        EngineRunError::Unsupported {
            file: self.scenario.source.clone(),
            line: self.line,
            what: what.into(),
        }
    }

    fn failed(&self, e: impl std::fmt::Display) -> EngineRunError {
        EngineRunError::Step {
            file: self.scenario.source.clone(),
            line: self.line,
            message: e.to_string(),
        }
    }

    fn ns(&self) -> &str {
        self.scenario.namespace()
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.ns())
    }

    /// Moves the engine's new records into the scenario trace.
    fn drain(&mut self) {
        for line in self.engine.take_trace() {
            if !line.what.is_engine_detail() {
                self.trace.push(line.t, line.what);
            }
        }
        let now = self.engine.now();
        for h in self.claims.take_happenings() {
            self.trace.push(now, h);
        }
    }

    fn push(&mut self, what: Happening) {
        self.drain();
        self.trace.push(self.engine.now(), what);
    }

    fn play_all(&mut self) -> Result<(), EngineRunError> {
        if !self.scenario.runs_in(Mode::Engine) {
            return Err(self.unsupported("a scenario marked `modes: [wire]`"));
        }
        for (i, step) in self.scenario.file.timeline.iter().enumerate() {
            self.line = self.scenario.step_line(i);
            self.push(Happening::Step {
                index: i,
                line: self.line,
                keyword: step.keyword().to_owned(),
                summary: one_line(step),
            });
            if let Err(reason) = self.play(i, step)? {
                self.push(Happening::StepFailed {
                    index: i,
                    line: self.line,
                    reason,
                });
                break;
            }
        }
        self.drain();
        Ok(())
    }

    /// One step. `Ok(Err(..))`: a wait or assert that did not hold.
    fn play(&mut self, index: usize, step: &Step) -> Result<Result<(), String>, EngineRunError> {
        match step {
            Step::Register(r) => self.register(r)?,
            Step::Apply(o) => {
                for obj in &o.objects {
                    self.apply(substitute(obj))?;
                }
            }
            Step::Patch(p) => self.patch(&p.target(), p.patch_type, &substitute(&p.patch))?,
            Step::Annotate(m) => self.metadata("annotations", m)?,
            Step::Label(m) => self.metadata("labels", m)?,
            Step::Delete(t) => self.delete(t)?,
            Step::CreateClaim(c) => self.create_claim(c)?,
            Step::DeleteClaim(c) => {
                let ns = c.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
                let now = self.wall();
                if !self.claims.delete_claim(&format!("{ns}/{}", c.name), now) {
                    return Err(self.failed(format!("no HostClaim {ns}/{}", c.name)));
                }
            }
            Step::ScalePool(sc) => {
                let ns = sc.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
                self.claims
                    .scale_pool(&format!("{ns}/{}", sc.name), sc.replicas)
                    .map_err(|e| self.failed(e))?;
            }
            Step::RestartOperator(r) => {
                self.push(Happening::Operator { running: false });
                self.down_until = self.engine.now() + r.down_for.0;
                self.engine.restart_operator(r.down_for.0);
                self.claims.restart();
                self.advance(r.down_for.0)?;
                self.push(Happening::Operator { running: true });
            }
            Step::InjectFault(f) => self.inject(index, f)?,
            Step::ClearFault(c) => {
                let names: Vec<String> = if c.all {
                    self.faults.keys().cloned().collect()
                } else {
                    c.name.iter().cloned().collect()
                };
                self.clear(names)?;
            }
            Step::Advance(span) => self.advance(span.0)?,
            Step::Wait(w) => {
                let deadline = self.engine.now() + w.within.0;
                while let Err(why) = self.holds(&w.until)? {
                    if self.engine.now() >= deadline {
                        return Ok(Err(format!("not reached within {:?}: {why}", w.within.0)));
                    }
                    let next = (self.engine.now() + POLL).min(deadline);
                    self.advance_to(next)?;
                }
            }
            Step::Assert(c) => return self.holds(c),
        }
        self.drain();
        Ok(Ok(()))
    }

    fn register(&mut self, r: &Register) -> Result<(), EngineRunError> {
        let text = crate::fleet::manifests(&self.scenario.fleet).map_err(|e| self.failed(e))?;
        let wanted = self.scenario.host_names(&r.hosts);
        let b64 = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut doc: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| self.failed(e))?;
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
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
                        json_patch::merge(&mut doc, &substitute(p));
                    }
                }
                _ => continue,
            }
            self.apply(doc)?;
        }
        Ok(())
    }

    fn apply(&mut self, mut obj: Value) -> Result<(), EngineRunError> {
        if obj.pointer("/metadata/namespace").is_none()
            && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.insert("namespace".into(), json!(self.ns()));
        }
        let now = self.wall();
        match obj.get("kind").and_then(Value::as_str) {
            Some("HostClaim") => {
                return self
                    .claims
                    .apply_claim(obj, now)
                    .map_err(|e| self.failed(e));
            }
            Some("HostPool") => {
                return self.claims.apply_pool(obj, now).map_err(|e| self.failed(e));
            }
            _ => {}
        }
        match self.engine.apply_object(obj) {
            Ok(()) => Ok(()),
            Err(EngineError::InvalidObject(m)) if m.contains("not served in engine mode") => {
                Err(self.unsupported(format!(
                    "an object of {}",
                    m.replace(
                        " is not served in engine mode (Secret and BareMetalHost are)",
                        ""
                    )
                )))
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The BareMetalHost keys (or the one object) a target names.
    fn targets(&self, t: &Target) -> Result<(String, Vec<String>), EngineRunError> {
        if let Some(sel) = &t.hosts {
            let keys = self
                .scenario
                .host_names(sel)
                .iter()
                .map(|n| self.key(n))
                .collect();
            return Ok(("BareMetalHost".into(), keys));
        }
        let kind = t.kind.clone().unwrap_or_else(|| "BareMetalHost".into());
        let name = t
            .name
            .clone()
            .ok_or_else(|| self.failed("a target needs `hosts` or `kind` and `name`"))?;
        let ns = t.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        Ok((kind, vec![format!("{ns}/{name}")]))
    }

    fn patch(
        &mut self,
        t: &Target,
        patch_type: PatchType,
        body: &Value,
    ) -> Result<(), EngineRunError> {
        let (kind, keys) = self.targets(t)?;
        for key in keys {
            match kind.as_str() {
                "BareMetalHost" => {
                    let result = match patch_type {
                        PatchType::Merge => self.engine.patch_host(&key, body),
                        PatchType::Json => self.json_patch_host(&key, body),
                    };
                    result.map_err(|e| self.failed(e))?;
                }
                "Secret" => self.patch_secret(&key, patch_type, body)?,
                "HostPool" if patch_type == PatchType::Merge => {
                    let replicas = body
                        .pointer("/spec/replicas")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok());
                    let other_fields = body
                        .as_object()
                        .is_some_and(|o| o.keys().any(|k| k != "spec"))
                        || body["spec"].as_object().is_some_and(|o| o.len() != 1);
                    match replicas {
                        Some(n) if !other_fields => self
                            .claims
                            .scale_pool(&key, n)
                            .map_err(|e| self.failed(e))?,
                        _ => {
                            return Err(
                                self.unsupported("patching a HostPool beyond spec.replicas")
                            );
                        }
                    }
                }
                other => return Err(self.unsupported(format!("patching a {other}"))),
            }
        }
        Ok(())
    }

    fn json_patch_host(&mut self, key: &str, body: &Value) -> Result<(), EngineError> {
        let ops: json_patch::Patch = serde_json::from_value(body.clone())
            .map_err(|e| EngineError::InvalidObject(format!("JSON patch: {e}")))?;
        let current = self
            .engine
            .host(key)
            .ok_or_else(|| EngineError::NoSuchHost(key.to_owned()))?;
        let mut doc =
            serde_json::to_value(current).map_err(|e| EngineError::InvalidObject(e.to_string()))?;
        json_patch::patch(&mut doc, &ops).map_err(|e| EngineError::InvalidObject(e.to_string()))?;
        let patched: metal_operator::api::BareMetalHost =
            serde_json::from_value(doc).map_err(|e| EngineError::InvalidObject(e.to_string()))?;
        self.engine
            .edit_host(key, &format!("json patch {body}"), |h| {
                h.metadata.labels = patched.metadata.labels;
                h.metadata.annotations = patched.metadata.annotations;
                h.spec = patched.spec;
            })
    }

    fn patch_secret(
        &mut self,
        key: &str,
        patch_type: PatchType,
        body: &Value,
    ) -> Result<(), EngineRunError> {
        let secret = self
            .engine
            .secret(key)
            .cloned()
            .ok_or_else(|| self.failed(format!("no Secret {key}")))?;
        let mut doc = serde_json::to_value(&secret).map_err(|e| self.failed(e))?;
        match patch_type {
            PatchType::Merge => json_patch::merge(&mut doc, body),
            PatchType::Json => {
                let ops: json_patch::Patch =
                    serde_json::from_value(body.clone()).map_err(|e| self.failed(e))?;
                json_patch::patch(&mut doc, &ops).map_err(|e| self.failed(e))?;
            }
        }
        let patched = serde_json::from_value(doc).map_err(|e| self.failed(e))?;
        self.engine
            .apply_secret(patched)
            .map_err(|e| self.failed(e))
    }

    fn metadata(&mut self, field: &str, m: &MetadataChange) -> Result<(), EngineRunError> {
        let mut map = serde_json::Map::new();
        for (k, v) in &m.set {
            map.insert(k.clone(), json!(v));
        }
        for k in &m.remove {
            map.insert(k.clone(), Value::Null);
        }
        let body = json!({"metadata": {field: map}});
        for name in self.scenario.host_names(&m.hosts) {
            let key = self.key(&name);
            self.engine
                .patch_host(&key, &body)
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    fn delete(&mut self, t: &Target) -> Result<(), EngineRunError> {
        let (kind, keys) = self.targets(t)?;
        for key in keys {
            match kind.as_str() {
                "BareMetalHost" => self.engine.delete_host(&key).map_err(|e| self.failed(e))?,
                "Secret" => self.engine.delete_secret(&key),
                "HostClaim" => {
                    let now = self.wall();
                    if !self.claims.delete_claim(&key, now) {
                        return Err(self.failed(format!("no HostClaim {key}")));
                    }
                }
                "HostPool" => {
                    let now = self.wall();
                    if !self.claims.delete_pool(&key, &now) {
                        return Err(self.failed(format!("no HostPool {key}")));
                    }
                }
                other => return Err(self.unsupported(format!("deleting a {other}"))),
            }
        }
        Ok(())
    }

    /// Advances to `t`, clearing faults whose `for` runs out on the way, at their instant.
    fn advance_to(&mut self, t: SimTime) -> Result<(), EngineRunError> {
        loop {
            let next_expiry = self
                .faults
                .values()
                .filter_map(|f| f.until)
                .filter(|u| *u <= t)
                .min();
            let mut stop = next_expiry.unwrap_or(t);
            let ticking = !self.claims.is_empty();
            if ticking {
                stop = stop.min(self.next_tick());
            }
            self.engine.advance_to(stop).map_err(|e| self.failed(e))?;
            let now = self.engine.now();
            if ticking && now == self.next_tick_from(now) && now >= self.down_until {
                self.drain();
                self.claims
                    .reconcile_all(&mut self.engine)
                    .map_err(|e| self.failed(e))?;
                self.drain();
            }
            let due: Vec<String> = self
                .faults
                .iter()
                .filter(|(_, f)| f.until.is_some_and(|u| u <= now))
                .map(|(n, _)| n.clone())
                .collect();
            self.clear(due)?;
            if now >= t {
                self.drain();
                return Ok(());
            }
        }
    }

    /// The first claim/pool tick after now.
    fn next_tick(&self) -> SimTime {
        let now = self.engine.now();
        let tick = self.next_tick_from(now);
        if tick > now { tick } else { now + TICK }
    }

    /// The tick at or after `t` (ticks fall on whole multiples of [`TICK`]).
    fn next_tick_from(&self, t: SimTime) -> SimTime {
        let step = u64::try_from(TICK.as_nanos()).unwrap_or(u64::MAX).max(1);
        SimTime::from_nanos(t.as_nanos().div_ceil(step).saturating_mul(step))
    }

    /// Now as the operator's clock shows it, as an API timestamp.
    fn wall(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
        metal_operator::claim::progress::to_time(self.engine.wall(self.engine.now()))
    }

    /// `create_claim`: a HostClaim as the wire runner writes it.
    fn create_claim(&mut self, c: &Claim) -> Result<(), EngineRunError> {
        let ns = c.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        let image = c.image.as_ref().map_or_else(
            || format!("{ENGINE_IMAGES}/os.qcow2"),
            |i| i.replace(IMAGES_PLACEHOLDER, ENGINE_IMAGES),
        );
        let mut spec = json!({
            "hostSelector": {"matchLabels": c.match_labels},
            "image": {"url": image, "checksum": format!("{image}.sha256sum"), "checksumType": "sha256"},
            "poweredOn": c.powered_on,
        });
        if let Some(fd) = &c.failure_domain {
            spec["failureDomain"] = json!(fd);
        }
        let obj = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": c.name, "namespace": ns},
            "spec": spec,
        });
        let now = self.wall();
        self.claims
            .apply_claim(obj, now)
            .map_err(|e| self.failed(e))
    }

    fn advance(&mut self, d: Duration) -> Result<(), EngineRunError> {
        let t = self.engine.now() + d;
        self.advance_to(t)
    }

    /// Whether a condition holds now; `Ok(Err(..))` says what is off.
    fn holds(&self, c: &Condition) -> Result<Result<(), String>, EngineRunError> {
        if let Some(sel) = &c.hosts {
            return Ok(hosts_hold(self, sel, c));
        }
        if let Some(claim) = &c.claim {
            let bound = self.claims.is_bound(&self.key(claim));
            return Ok(if Some(bound) == c.bound {
                Ok(())
            } else {
                Err(format!(
                    "claim {claim} is {}",
                    if bound { "bound" } else { "not bound" }
                ))
            });
        }
        if let Some(pool) = &c.pool {
            let ready = self.claims.pool_ready(&self.key(pool));
            return Ok(if Some(ready) == c.ready {
                Ok(())
            } else {
                Err(format!("pool {pool} has {ready} ready"))
            });
        }
        Err(self.failed("an empty condition"))
    }
}

fn one_line(step: &Step) -> String {
    let s = serde_json::to_string(step).unwrap_or_default();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}
