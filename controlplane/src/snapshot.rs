//! Snapshots of the store: every object and the resourceVersion counter written to a JSON file
//! (mode 0600 from creation, through a temporary file, fsync and a rename, so a crash never
//! leaves half a snapshot; written on a blocking thread, off the async workers) and read back at
//! start. Watch history is not kept: after a restore, watches from older resourceVersions are
//! told 410 Gone, as after an etcd compaction.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::State;
use super::lifecycle;
use super::store::Key;

/// The snapshot format written by this version.
const FORMAT: u32 = 1;
/// Where CustomResourceDefinitions are stored (restored CRDs are served again).
const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Failures reading or writing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading snapshot {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {path} is not a control plane snapshot: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("snapshot {path} has format {found}; this control plane reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("writing snapshot {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control plane state lock poisoned")]
    Lock,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    storage: String,
    namespace: String,
    name: String,
    object: Value,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    resource_version: u64,
    objects: Vec<Entry>,
}

/// When and where a running control plane writes snapshots.
#[derive(Clone, Debug)]
pub struct SnapshotSettings {
    pub path: PathBuf,
    /// A snapshot is written this often when something changed, and once more at shutdown.
    pub interval: Duration,
}

impl State {
    /// Writes every object and the resourceVersion to `path`; returns the resourceVersion saved.
    pub fn save_snapshot(&self, path: &Path) -> Result<u64, SnapshotError> {
        let file = {
            let objects = self.objects.lock().map_err(|_| SnapshotError::Lock)?;
            File {
                format: FORMAT,
                resource_version: objects.rv(),
                objects: objects
                    .all()
                    .map(|(k, v)| Entry {
                        storage: k.storage.clone(),
                        namespace: k.namespace.clone(),
                        name: k.name.clone(),
                        object: v.clone(),
                    })
                    .collect(),
            }
        };
        let write_err = |source| SnapshotError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec(&file).map_err(|e| write_err(std::io::Error::other(e)))?;
        // Secrets are among the objects: private from creation, and durable once renamed.
        metal_tls::secret::write_private(path, &text).map_err(write_err)?;
        Ok(file.resource_version)
    }

    /// Replaces the store with the snapshot at `path` and serves its CRDs again; returns the
    /// number of objects restored.
    pub fn load_snapshot(&self, path: &Path) -> Result<usize, SnapshotError> {
        let text = std::fs::read(path).map_err(|source| SnapshotError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: File = serde_json::from_slice(&text).map_err(|e| SnapshotError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if file.format != FORMAT {
            return Err(SnapshotError::Format {
                path: path.to_path_buf(),
                found: file.format,
            });
        }
        let mut restored = BTreeMap::new();
        let mut highest = 0u64;
        for e in file.objects {
            let rv = e
                .object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|r| r.parse::<u64>().ok())
                .ok_or_else(|| SnapshotError::Parse {
                    path: path.to_path_buf(),
                    reason: format!(
                        "object {}/{}/{} has no numeric metadata.resourceVersion",
                        e.storage, e.namespace, e.name
                    ),
                })?;
            highest = highest.max(rv);
            restored.insert(Key::new(&e.storage, &e.namespace, &e.name), e.object);
        }
        if highest > file.resource_version {
            return Err(SnapshotError::Parse {
                path: path.to_path_buf(),
                reason: format!(
                    "an object has resourceVersion {highest}, newer than the snapshot's {}",
                    file.resource_version
                ),
            });
        }
        let crds: Vec<Value> = restored
            .iter()
            .filter(|(k, _)| k.storage == CRD_STORAGE)
            .map(|(_, v)| v.clone())
            .collect();
        let count = restored.len();
        self.objects
            .lock()
            .map_err(|_| SnapshotError::Lock)?
            .restore(file.resource_version, restored);
        for crd in &crds {
            lifecycle::register_crd(self, crd);
        }
        Ok(count)
    }
}

/// [`State::save_snapshot`] on a blocking thread: serialising, writing and fsyncing must not
/// hold up the async workers serving requests.
async fn save_off_the_workers(state: &Arc<State>, path: &Path) -> Result<u64, SnapshotError> {
    let (state, owned) = (Arc::clone(state), path.to_path_buf());
    tokio::task::spawn_blocking(move || state.save_snapshot(&owned))
        .await
        .unwrap_or_else(|e| {
            Err(SnapshotError::Write {
                path: path.to_path_buf(),
                source: std::io::Error::other(e),
            })
        })
}

/// Writes a snapshot every `interval` when the resourceVersion moved, and once more when `stop`
/// is cancelled. Write failures are logged and retried at the next tick.
pub(super) async fn keep(state: Arc<State>, settings: SnapshotSettings, stop: CancellationToken) {
    let current = |state: &State| state.objects.lock().map(|o| o.rv()).unwrap_or(0);
    let mut saved = current(&state);
    let mut tick = tokio::time::interval(settings.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if current(&state) == saved {
            continue;
        }
        match save_off_the_workers(&state, &settings.path).await {
            Ok(rv) => saved = rv,
            Err(e) => tracing::warn!(error = %e, "snapshot not written"),
        }
    }
    match save_off_the_workers(&state, &settings.path).await {
        Ok(rv) => {
            tracing::info!(path = %settings.path.display(), resource_version = rv, "snapshot written at shutdown")
        }
        Err(e) => tracing::error!(error = %e, "snapshot not written at shutdown"),
    }
}
