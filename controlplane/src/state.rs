//! The state every request shares: the objects and their watch history, the served resources
//! (built-in and from CRDs), the clock, the seeded RNG, the bearer token and the watch cuts.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::resource::Resource;
use crate::server::{ControlPlaneError, Options};
use crate::store::Objects;
use crate::{builtin, disconnect, lifecycle};

/// The source of "now" (the wall clock in the binary, a fixed or stepped clock in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Shared server state.
pub struct State {
    pub(crate) objects: Mutex<Objects>,
    pub(crate) registry: RwLock<Vec<Resource>>,
    pub(crate) clock: Clock,
    pub(crate) rng: Mutex<ChaCha8Rng>,
    pub(crate) token: String,
    pub(crate) server_address: Mutex<String>,
    pub(crate) bookmark_interval: Duration,
    pub(crate) cuts: disconnect::WatchCuts,
    /// `Options::max_objects_per_resource`.
    pub(crate) max_objects_per_resource: usize,
}

impl State {
    /// A fresh state with the built-in resources and the standard namespaces.
    pub fn new(options: &Options, token: String) -> Arc<Self> {
        let state = Arc::new(Self {
            objects: Mutex::new(Objects::new(options.history)),
            registry: RwLock::new(builtin::resources()),
            clock: Arc::clone(&options.clock),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(options.seed)),
            token,
            server_address: Mutex::new(String::new()),
            bookmark_interval: options.bookmark_interval,
            cuts: disconnect::WatchCuts::default(),
            max_objects_per_resource: options.max_objects_per_resource,
        });
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // The standard namespaces are valid by construction; a failure here is a bug we log.
            if let Err(e) = lifecycle::create_builtin(&state, "namespaces", obj) {
                tracing::error!(error = %e, "creating a standard namespace");
            }
        }
        state
    }

    /// An independent copy of this state: the same objects, resourceVersion, served resources,
    /// clock, RNG position and token, and watches of its own (none open). What a test or a fuzz
    /// input starts from instead of creating the same CustomResourceDefinitions again.
    pub fn fork(&self) -> Result<Arc<Self>, ControlPlaneError> {
        let poisoned = || ControlPlaneError::Poisoned;
        let objects = self.objects.lock().map_err(|_| poisoned())?.copy();
        let registry = self.registry.read().map_err(|_| poisoned())?.clone();
        let rng = self.rng.lock().map_err(|_| poisoned())?.clone();
        let server_address = self.server_address.lock().map_err(|_| poisoned())?.clone();
        Ok(Arc::new(Self {
            objects: Mutex::new(objects),
            registry: RwLock::new(registry),
            clock: Arc::clone(&self.clock),
            rng: Mutex::new(rng),
            token: self.token.clone(),
            server_address: Mutex::new(server_address),
            bookmark_interval: self.bookmark_interval,
            cuts: disconnect::WatchCuts::default(),
            max_objects_per_resource: self.max_objects_per_resource,
        }))
    }

    /// A snapshot of the served resources.
    pub fn resources(&self) -> Vec<Resource> {
        self.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Registers CRDs from a (multi-document) YAML file; a CRD that exists already (restored
    /// from a snapshot) is replaced by the file's definition.
    pub fn load_crds(self: &Arc<Self>, path: &Path) -> Result<usize, ControlPlaneError> {
        let err = |reason: String| ControlPlaneError::Crds {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        self.load_crds_text(path, &text)
    }

    /// Registers CRDs from YAML text; `source` names it in errors (a file, or a built-in set).
    pub fn load_crds_text(
        self: &Arc<Self>,
        source: &Path,
        text: &str,
    ) -> Result<usize, ControlPlaneError> {
        let err = |reason: String| ControlPlaneError::Crds {
            path: source.to_path_buf(),
            reason,
        };
        let mut count = 0;
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| err(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                return Err(err(format!(
                    "a document is not a CustomResourceDefinition: kind {:?}",
                    value.get("kind")
                )));
            }
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match lifecycle::create_builtin(self, "customresourcedefinitions", value.clone()) {
                Ok(_) => {}
                Err(e) if e.code == 409 => {
                    lifecycle::replace_builtin(self, "customresourcedefinitions", &name, value)
                        .map_err(|e| err(e.message))?;
                }
                Err(e) => return Err(err(e.message)),
            }
            count += 1;
        }
        Ok(count)
    }

    /// Forgets all watch history (as an etcd compaction would): older watches get 410 Gone.
    pub fn compact(&self) {
        if let Ok(mut o) = self.objects.lock() {
            o.compact();
        }
    }

    /// Cuts every open watch stream (clients must re-watch); for `refuse_for` after the cut new
    /// watches are refused with 503. Returns how many streams were open.
    pub fn disconnect_watches(&self, refuse_for: Option<Duration>) -> usize {
        let until = refuse_for
            .and_then(|d| chrono::TimeDelta::from_std(d).ok())
            .map(|d| self.now() + d);
        let open = self.cuts.cut(until);
        tracing::info!(open, "watches disconnected");
        open
    }

    /// Ends a watch refusal window early.
    pub fn resume_watches(&self) {
        self.cuts.resume();
        tracing::info!("watches accepted again");
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.cuts.open()
    }

    /// How many times watches were disconnected.
    pub fn watch_disconnects(&self) -> u64 {
        self.cuts.count()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(name: &str) -> Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
        })
    }

    fn create_config_map(state: &Arc<State>, name: &str) {
        let res = state
            .resources()
            .into_iter()
            .find(|r| r.plural == "configmaps")
            .unwrap();
        let options = lifecycle::WriteOptions::default();
        lifecycle::create(state, &res, "default", config_map(name), &options).unwrap();
    }

    fn names_in_default(state: &State) -> Vec<String> {
        let objects = state.objects.lock().unwrap();
        objects
            .keys_in_namespace("default")
            .into_iter()
            .map(|k| k.name)
            .collect()
    }

    #[test]
    fn a_fork_starts_with_the_same_objects_and_then_goes_its_own_way() {
        let options = Options::new(([127, 0, 0, 1], 0).into(), Arc::new(Utc::now), 7);
        let state = State::new(&options, "t".into());
        create_config_map(&state, "before");
        let rv = state.objects.lock().unwrap().rv();
        let mut original_feed = state
            .objects
            .lock()
            .unwrap()
            .subscribe("/configmaps", rv)
            .unwrap()
            .live;

        let fork = state.fork().unwrap();
        assert_eq!(fork.objects.lock().unwrap().rv(), rv);
        assert_eq!(names_in_default(&fork), ["before"]);
        assert_eq!(fork.resources().len(), state.resources().len());

        create_config_map(&fork, "in-fork");
        create_config_map(&state, "in-original");
        assert_eq!(names_in_default(&fork), ["before", "in-fork"]);
        assert_eq!(names_in_default(&state), ["before", "in-original"]);
        // The original's watchers saw only the original's change.
        let seen = original_feed.try_recv().unwrap();
        assert!(
            serde_json::to_string(&seen.object)
                .unwrap()
                .contains("in-original")
        );
        assert!(original_feed.try_recv().is_err());
    }
}
