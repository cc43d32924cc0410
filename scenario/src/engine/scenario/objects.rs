//! The engine backend's object operations: `register`, `apply`, `patch`, `annotate` / `label`,
//! `delete` and `create_claim` as engine commands on the engine's objects and its `ClaimWorld`.

use serde_json::{Value, json};

use super::{EngineBackend, StepError, failed, unsupported};
use crate::engine::simulation::EngineError;
use crate::format::{Claim, MetadataChange, PatchType, Register, Target};
use crate::play::{claim_object, register_documents};

/// The placeholder scenario files use for the image server's base URL.
const IMAGES_PLACEHOLDER: &str = "$IMAGES";
/// What it stands for in engine mode (any URL: the engine's image store generates the bytes).
const ENGINE_IMAGES: &str = "http://images.engine.invalid";

/// `value` with `$IMAGES` replaced in every string.
pub(super) fn substitute(v: &Value) -> Value {
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

impl EngineBackend<'_> {
    pub(super) fn register(&mut self, r: &Register) -> Result<(), StepError> {
        let docs = register_documents(self.scenario, &self.scenario.fleet, r, substitute)
            .map_err(failed)?;
        for doc in docs {
            self.apply(doc)?;
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, mut obj: Value) -> Result<(), StepError> {
        if obj.pointer("/metadata/namespace").is_none()
            && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.insert("namespace".into(), json!(self.ns()));
        }
        let now = self.wall();
        match obj.get("kind").and_then(Value::as_str) {
            Some("HostClaim") => {
                return self.claims.apply_claim(obj, now).map_err(failed);
            }
            Some("HostPool") => {
                return self.claims.apply_pool(obj, now).map_err(failed);
            }
            _ => {}
        }
        match self.engine.apply_object(obj) {
            Ok(()) => Ok(()),
            Err(EngineError::InvalidObject(m)) if m.contains("not served in engine mode") => {
                Err(unsupported(format!(
                    "an object of {}",
                    m.replace(
                        " is not served in engine mode (Secret and BareMetalHost are)",
                        ""
                    )
                )))
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// The BareMetalHost keys (or the one object) a target names.
    fn targets(&self, t: &Target) -> Result<(String, Vec<String>), StepError> {
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
            .ok_or_else(|| failed("a target needs `hosts` or `kind` and `name`"))?;
        let ns = t.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        Ok((kind, vec![format!("{ns}/{name}")]))
    }

    pub(super) fn patch(
        &mut self,
        t: &Target,
        patch_type: PatchType,
        body: &Value,
    ) -> Result<(), StepError> {
        let (kind, keys) = self.targets(t)?;
        for key in keys {
            match kind.as_str() {
                "BareMetalHost" => {
                    let result = match patch_type {
                        PatchType::Merge => self.engine.patch_host(&key, body),
                        PatchType::Json => self.json_patch_host(&key, body),
                    };
                    result.map_err(failed)?;
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
                        Some(n) if !other_fields => {
                            self.claims.scale_pool(&key, n).map_err(failed)?
                        }
                        _ => {
                            return Err(unsupported("patching a HostPool beyond spec.replicas"));
                        }
                    }
                }
                other => return Err(unsupported(format!("patching a {other}"))),
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
        let patched: metal_core::api::BareMetalHost =
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
    ) -> Result<(), StepError> {
        let secret = self
            .engine
            .secret(key)
            .cloned()
            .ok_or_else(|| failed(format!("no Secret {key}")))?;
        let mut doc = serde_json::to_value(&secret).map_err(failed)?;
        match patch_type {
            PatchType::Merge => json_patch::merge(&mut doc, body),
            PatchType::Json => {
                let ops: json_patch::Patch =
                    serde_json::from_value(body.clone()).map_err(failed)?;
                json_patch::patch(&mut doc, &ops).map_err(failed)?;
            }
        }
        let patched = serde_json::from_value(doc).map_err(failed)?;
        self.engine.apply_secret(patched).map_err(failed)
    }

    pub(super) fn metadata(&mut self, field: &str, m: &MetadataChange) -> Result<(), StepError> {
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
            self.engine.patch_host(&key, &body).map_err(failed)?;
        }
        Ok(())
    }

    pub(super) fn delete(&mut self, t: &Target) -> Result<(), StepError> {
        let (kind, keys) = self.targets(t)?;
        for key in keys {
            match kind.as_str() {
                "BareMetalHost" => self.engine.delete_host(&key).map_err(failed)?,
                "Secret" => self.engine.delete_secret(&key),
                "HostClaim" => {
                    let now = self.wall();
                    if !self.claims.delete_claim(&key, now) {
                        return Err(failed(format!("no HostClaim {key}")));
                    }
                }
                "HostPool" => {
                    let now = self.wall();
                    if !self.claims.delete_pool(&key, &now) {
                        return Err(failed(format!("no HostPool {key}")));
                    }
                }
                other => return Err(unsupported(format!("deleting a {other}"))),
            }
        }
        Ok(())
    }

    /// Now as the operator's clock shows it, as an API timestamp.
    pub(super) fn wall(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
        metal_core::claim::progress::to_time(self.engine.wall(self.engine.now()))
    }

    /// `create_claim`: a HostClaim as the wire runner writes it.
    pub(super) fn create_claim(&mut self, c: &Claim) -> Result<(), StepError> {
        let ns = c.namespace.clone().unwrap_or_else(|| self.ns().to_owned());
        let image = c.image.as_ref().map_or_else(
            || format!("{ENGINE_IMAGES}/os.qcow2"),
            |i| i.replace(IMAGES_PLACEHOLDER, ENGINE_IMAGES),
        );
        let obj = claim_object(c, &ns, &image);
        let now = self.wall();
        self.claims.apply_claim(obj, now).map_err(failed)
    }
}
