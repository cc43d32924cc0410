//! The commands a scenario (or a test) gives the engine's world: creating, patching and deleting
//! objects, fault settings, and operator restarts. Each one records itself in the trace and
//! delivers the watch events a real API server would.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rand::RngExt;
use serde_json::Value;

use metal_core::api::BareMetalHost;

use super::ironic::IronicFaults;
use super::simulation::{Engine, EngineError, Event, HostObject};
use crate::trace::Happening;
use metal_sim::fault::FaultSet;
use metal_sim::fleet::Fleet;
use metal_sim::machine::derive_rng;

impl Engine {
    /// Creates a Secret and a BareMetalHost per fleet host, as `kubectl apply` of the fleet
    /// manifests would (`metal-sim`'s `fleet::manifests`).
    pub fn register_fleet(&mut self, fleet: &Fleet) -> Result<(), EngineError> {
        let text = metal_sim::fleet::manifests(fleet)
            .map_err(|e| EngineError::Manifests(e.to_string()))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = <Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| EngineError::Manifests(e.to_string()))?;
            self.apply_object(value)?;
        }
        Ok(())
    }

    /// Creates or updates a `Secret` or `BareMetalHost` given as JSON (a parsed manifest).
    pub fn apply_object(&mut self, value: Value) -> Result<(), EngineError> {
        match value.get("kind").and_then(Value::as_str) {
            Some("Secret") => {
                let secret: Secret = serde_json::from_value(value)
                    .map_err(|e| EngineError::InvalidObject(e.to_string()))?;
                self.apply_secret(secret)
            }
            Some("BareMetalHost") => {
                let host: BareMetalHost = serde_json::from_value(value)
                    .map_err(|e| EngineError::InvalidObject(e.to_string()))?;
                self.apply_host(host)
            }
            other => Err(EngineError::InvalidObject(format!(
                "kind {other:?} is not served in engine mode (Secret and BareMetalHost are)"
            ))),
        }
    }

    pub(super) fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Creates or replaces a Secret; hosts using a labelled BMC Secret are reconciled.
    pub fn apply_secret(&mut self, mut secret: Secret) -> Result<(), EngineError> {
        let name = secret
            .metadata
            .name
            .clone()
            .ok_or_else(|| EngineError::InvalidObject("Secret without a name".into()))?;
        let ns = secret
            .metadata
            .namespace
            .get_or_insert_with(|| "default".into())
            .clone();
        let key = format!("{ns}/{name}");
        if let Some(old) = self.secrets.get(&key) {
            // Labels the operator added survive a re-apply only if the new manifest has them;
            // as with kubectl apply, the object is replaced by what is given.
            secret.metadata.uid = old.metadata.uid.clone();
        }
        secret.metadata.resource_version = Some(self.next_version());
        if let Some(d) = secret.string_data.take() {
            let data = secret.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in d {
                data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
            }
        }
        self.secrets.insert(key.clone(), secret);
        self.command(Some(&key), "apply Secret".into());
        self.secret_changed(&key);
        Ok(())
    }

    /// A Secret (`namespace/name`).
    pub fn secret(&self, key: &str) -> Option<&Secret> {
        self.secrets.get(key)
    }

    /// Deletes a Secret (`namespace/name`); hosts using it see it gone at their next reconcile.
    pub fn delete_secret(&mut self, key: &str) {
        if self.secrets.remove(key).is_some() {
            self.command(Some(key), "delete Secret".into());
        }
    }

    /// Reconciles the hosts whose BMC Secret is `key`, when the Secret carries the BMC label
    /// (the operator only watches labelled Secrets).
    pub(super) fn secret_changed(&mut self, key: &str) {
        let labelled = self.secrets.get(key).is_some_and(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(metal_core::api::annotations::ENVIRONMENT_LABEL))
                .map(String::as_str)
                == Some(metal_core::api::annotations::ENVIRONMENT_LABEL_VALUE)
        });
        if !labelled {
            return;
        }
        let users: Vec<usize> = self
            .secret_users
            .get(key)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for idx in users {
            self.watch_event(idx);
        }
    }

    fn secret_key_of(host: &BareMetalHost) -> Option<String> {
        let ns = host.metadata.namespace.clone().unwrap_or_default();
        let name = host.spec.bmc.credentials_name.as_str();
        if name.is_empty() {
            return None;
        }
        Some(match name.split_once('/') {
            Some((n, s)) => format!("{n}/{s}"),
            None => format!("{ns}/{name}"),
        })
    }

    /// Creates a BareMetalHost, or replaces the labels, annotations and spec of an existing one
    /// (status, finalizers and deletion stay, as with `kubectl apply`).
    pub fn apply_host(&mut self, mut host: BareMetalHost) -> Result<(), EngineError> {
        let name = host
            .metadata
            .name
            .clone()
            .ok_or_else(|| EngineError::InvalidObject("BareMetalHost without a name".into()))?;
        let ns = host
            .metadata
            .namespace
            .get_or_insert_with(|| "default".into())
            .clone();
        let key = format!("{ns}/{name}");
        let version = self.next_version();
        let idx = match self.object_by_key.get(&key).copied() {
            Some(idx) if self.objects[idx].object.is_some() => {
                let old_secret = self.objects[idx]
                    .object
                    .as_ref()
                    .and_then(Self::secret_key_of);
                if let Some(existing) = self.objects[idx].object.as_mut() {
                    existing.metadata.labels = host.metadata.labels.take();
                    existing.metadata.annotations = host.metadata.annotations.take();
                    existing.spec = host.spec;
                    existing.metadata.resource_version = Some(version);
                }
                self.reindex_secret(idx, old_secret);
                self.command(Some(&key), "apply BareMetalHost (update)".into());
                idx
            }
            _ => {
                let bytes: [u8; 16] = self.uid_rng.random();
                host.metadata.uid = Some(
                    uuid::Builder::from_random_bytes(bytes)
                        .into_uuid()
                        .to_string(),
                );
                host.metadata.resource_version = Some(version);
                host.metadata.creation_timestamp = Some(self.k8s_time());
                host.metadata.deletion_timestamp = None;
                host.metadata.finalizers = None;
                host.status = None;
                let idx = self.objects.len();
                let rng = derive_rng(self.seed, "operator", idx as u64);
                self.objects.push(HostObject {
                    key: key.clone(),
                    object: Some(host),
                    rng,
                    pacer: Default::default(),
                    pending: None,
                    hardware_data: None,
                    last_status: None,
                    last_facts: None,
                });
                self.object_by_key.insert(key.clone(), idx);
                self.count_state(idx, true);
                self.reindex_secret(idx, None);
                self.command(Some(&key), "apply BareMetalHost (create)".into());
                idx
            }
        };
        self.watch_event(idx);
        Ok(())
    }

    fn reindex_secret(&mut self, idx: usize, old: Option<String>) {
        if let Some(old) = old
            && let Some(set) = self.secret_users.get_mut(&old)
        {
            set.remove(&idx);
        }
        if let Some(new) = self.objects[idx]
            .object
            .as_ref()
            .and_then(Self::secret_key_of)
        {
            self.secret_users.entry(new).or_default().insert(idx);
        }
    }

    pub(super) fn k8s_time(&self) -> Time {
        let wall = self.wall(self.now);
        let ts = k8s_openapi::jiff::Timestamp::from_second(wall.timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        Time(ts)
    }

    /// Applies a JSON merge patch to a host's metadata and spec (`kubectl patch --type merge`).
    pub fn patch_host(&mut self, key: &str, patch: &Value) -> Result<(), EngineError> {
        let idx = self.live_index(key)?;
        let Some(obj) = self.objects[idx].object.as_ref() else {
            return Err(EngineError::NoSuchHost(key.to_owned()));
        };
        let mut doc =
            serde_json::to_value(obj).map_err(|e| EngineError::InvalidObject(e.to_string()))?;
        let mut limited = serde_json::Map::new();
        for part in ["metadata", "spec"] {
            if let Some(p) = patch.get(part) {
                limited.insert(part.into(), p.clone());
            }
        }
        json_patch::merge(&mut doc, &Value::Object(limited));
        let mut patched: BareMetalHost =
            serde_json::from_value(doc).map_err(|e| EngineError::InvalidObject(e.to_string()))?;
        let old_secret = Self::secret_key_of(obj);
        patched.status = obj.status.clone();
        patched.metadata.resource_version = Some(self.next_version());
        self.objects[idx].object = Some(patched);
        self.reindex_secret(idx, old_secret);
        self.command(Some(key), format!("patch {patch}"));
        self.watch_event(idx);
        Ok(())
    }

    /// Changes a host with a closure (for programmatic scenarios and the benchmark).
    pub fn edit_host(
        &mut self,
        key: &str,
        what: &str,
        edit: impl FnOnce(&mut BareMetalHost),
    ) -> Result<(), EngineError> {
        let idx = self.live_index(key)?;
        let old_secret = self.objects[idx]
            .object
            .as_ref()
            .and_then(Self::secret_key_of);
        let version = self.next_version();
        if let Some(obj) = self.objects[idx].object.as_mut() {
            edit(obj);
            obj.metadata.resource_version = Some(version);
        }
        self.reindex_secret(idx, old_secret);
        self.command(Some(key), what.to_owned());
        self.watch_event(idx);
        Ok(())
    }

    /// Deletes a host: with finalizers it gets a deletionTimestamp, without it is gone.
    pub fn delete_host(&mut self, key: &str) -> Result<(), EngineError> {
        let idx = self.live_index(key)?;
        let now = self.k8s_time();
        let version = self.next_version();
        let has_finalizers = self.objects[idx].object.as_ref().is_some_and(|o| {
            o.metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| !f.is_empty())
        });
        self.command(Some(key), "delete BareMetalHost".into());
        if has_finalizers {
            if let Some(obj) = self.objects[idx].object.as_mut()
                && obj.metadata.deletion_timestamp.is_none()
            {
                obj.metadata.deletion_timestamp = Some(now);
                obj.metadata.resource_version = Some(version);
            }
            self.watch_event(idx);
        } else {
            self.remove_object(idx);
        }
        Ok(())
    }

    pub(super) fn remove_object(&mut self, idx: usize) {
        let old_secret = self.objects[idx]
            .object
            .as_ref()
            .and_then(Self::secret_key_of);
        self.count_state(idx, false);
        let held = self.slots.holds(idx);
        self.slots.by_status(idx, false);
        self.slots.reserve(idx, false);
        if let Some(woken) = self.slots.line.gone(&idx, held) {
            let now = self.now;
            self.schedule_reconcile(woken, now);
        }
        self.objects[idx].object = None;
        self.objects[idx].pending = None;
        if let Some(old) = old_secret
            && let Some(set) = self.secret_users.get_mut(&old)
        {
            set.remove(&idx);
        }
        let host = super::trace::host_name(&self.objects[idx].key);
        self.record(Happening::HostGone { host });
    }

    fn live_index(&self, key: &str) -> Result<usize, EngineError> {
        self.object_by_key
            .get(key)
            .copied()
            .filter(|&i| self.objects[i].object.is_some())
            .ok_or_else(|| EngineError::NoSuchHost(key.to_owned()))
    }

    /// Adds (`add`) or removes the object's state from the per-state counts.
    pub(super) fn count_state(&mut self, idx: usize, add: bool) {
        let Some(obj) = self.objects[idx].object.as_ref() else {
            return;
        };
        let state = obj
            .status
            .as_ref()
            .map(|s| s.provisioning.state)
            .unwrap_or_default()
            .as_str();
        let entry = self.state_counts.entry(state).or_insert(0);
        if add {
            *entry += 1;
        } else {
            *entry = entry.saturating_sub(1);
            if *entry == 0 {
                self.state_counts.remove(state);
            }
        }
    }

    /// Replaces the BMC faults of fleet host `name`.
    pub fn set_bmc_faults(&mut self, name: &str, faults: FaultSet) -> Result<(), EngineError> {
        let i = *self
            .machine_by_name
            .get(name)
            .ok_or_else(|| EngineError::NoSuchMachine(name.to_owned()))?;
        let release = faults.power_stick_rate == 0.0;
        self.command(
            Some(name),
            format!(
                "set BMC faults {}",
                serde_json::to_string(&faults).unwrap_or_default()
            ),
        );
        let now = self.now;
        let slot = &mut self.machines[i];
        slot.faults = faults;
        if release {
            slot.machine.tick(now);
            slot.machine.set_stuck(false);
        }
        self.after_machine(i);
        Ok(())
    }

    /// Restarts the mock Ironic on an empty database: every node and port forgotten. Nothing
    /// tells the operator; its next look at each host finds the node gone.
    pub fn lose_ironic_database(&mut self) {
        self.ironic.store(|s| s.lose_database());
        self.command(None, "Ironic restarted with an empty database".into());
    }

    /// Replaces the Ironic API faults.
    pub fn set_ironic_faults(&mut self, faults: IronicFaults) {
        self.command(
            None,
            format!(
                "set Ironic faults {}",
                serde_json::to_string(&faults).unwrap_or_default()
            ),
        );
        self.ironic.set_faults(faults);
    }

    /// Kills the operator inside a reconcile of host `key` (`namespace/name`): the reconcile runs
    /// now and the operator dies at its API write number `after_writes + 1` (the writes before it
    /// are kept, nothing after it happens); then as [`Engine::restart_operator`]. A host that is
    /// gone, or an operator already down, is killed between reconciles.
    pub fn kill_operator_mid_reconcile(
        &mut self,
        key: &str,
        after_writes: u32,
        down_for: Duration,
    ) {
        if let Ok(idx) = self.live_index(key)
            && self.operator_up
        {
            self.command(
                Some(key),
                format!(
                    "operator killed inside this host's reconcile, after {after_writes} API writes"
                ),
            );
            self.ironic.kill.arm(after_writes);
            self.reconcile(idx);
            self.ironic.kill.disarm();
        }
        self.restart_operator(down_for);
    }

    /// Stops the operator for `down_for` (its in-memory state — slot reservations, RNG
    /// streams, the work queue — is lost) and starts it again, which lists every host.
    pub fn restart_operator(&mut self, down_for: Duration) {
        self.command(None, format!("restart (down for {down_for:?})"));
        self.operator_up = false;
        self.operator_epoch += 1;
        self.slots.clear_reservations();
        for (idx, o) in self.objects.iter_mut().enumerate() {
            o.pending = None;
            o.rng = derive_rng(self.seed ^ self.operator_epoch, "operator", idx as u64);
        }
        self.queue.push(self.now + down_for, Event::OperatorUp);
    }
}
