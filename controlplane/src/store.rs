//! In-memory objects with a global resourceVersion, and watch fan-out with a bounded history:
//! a watch that starts before the oldest remembered change is told 410 Gone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The watch event `type`.
    pub fn wire(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change, as remembered for watches.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub storage: String,
    pub namespace: String,
    pub kind: ChangeKind,
    pub object: Value,
    /// The object before a modification (watches with selectors tell entering from leaving).
    pub prev: Option<Value>,
}

/// Identity of a stored object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub storage: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(storage: &str, namespace: &str, name: &str) -> Self {
        Self {
            storage: storage.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// The requested starting point is older than the remembered history.
#[derive(Debug, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Gone {
    pub requested: u64,
    pub oldest: u64,
}

/// The objects and their change history (callers hold the lock for read-modify-write).
pub struct Objects {
    rv: u64,
    /// Shared, not copied, by [`Objects::copy`]: a stored object is replaced, never changed in place.
    objects: BTreeMap<Key, Arc<Value>>,
    /// How many objects each storage holds (the per-resource cap reads it).
    counts: BTreeMap<String, usize>,
    history: VecDeque<Arc<Change>>,
    capacity: usize,
    /// Changes compacted away: a watch from before this is Gone.
    compacted_through: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

/// A watch's backlog and its live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Arc<Change>>,
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::from(rv.to_string()));
    }
}

impl Objects {
    /// An empty store remembering `history` changes for watches.
    pub fn new(history: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            counts: BTreeMap::new(),
            history: VecDeque::new(),
            capacity: history.max(1),
            compacted_through: 0,
            tx,
        }
    }

    /// A copy of every object, count and remembered change, with a watch feed of its own (the
    /// copy's watchers never see this store's changes, nor this store's watchers the copy's).
    pub fn copy(&self) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            rv: self.rv,
            objects: self.objects.clone(),
            counts: self.counts.clone(),
            history: self.history.clone(),
            capacity: self.capacity,
            compacted_through: self.compacted_through,
            tx,
        }
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|v| &**v)
    }

    /// Objects of a storage, optionally in one namespace, in (namespace, name) order.
    pub fn list(&self, storage: &str, namespace: Option<&str>) -> Vec<(&Key, &Value)> {
        let start = Key::new(storage, namespace.unwrap_or(""), "");
        self.objects
            .range(start..)
            .take_while(|(k, _)| {
                k.storage == storage && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(k, v)| (k, &**v))
            .collect()
    }

    /// How many objects a storage holds, in every namespace.
    pub fn count(&self, storage: &str) -> usize {
        self.counts.get(storage).copied().unwrap_or(0)
    }

    /// Every key in a namespace, any storage.
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<Key> {
        self.objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect()
    }

    /// Every stored object (for owner-reference garbage collection).
    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter().map(|(k, v)| (k, &**v))
    }

    fn record(&mut self, key: &Key, kind: ChangeKind, object: Value, prev: Option<Value>) {
        let change = Arc::new(Change {
            rv: self.rv,
            storage: key.storage.clone(),
            namespace: key.namespace.clone(),
            kind,
            object,
            prev,
        });
        self.history.push_back(Arc::clone(&change));
        while self.history.len() > self.capacity {
            if let Some(old) = self.history.pop_front() {
                self.compacted_through = old.rv;
            }
        }
        // No receivers is normal.
        let _ = self.tx.send(change);
    }

    /// Stores `obj` (new or replacing) with a fresh resourceVersion; returns the stored object.
    pub fn put(&mut self, key: Key, mut obj: Value) -> Value {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let prev = self
            .objects
            .insert(key.clone(), Arc::new(obj.clone()))
            .map(Arc::unwrap_or_clone);
        let kind = if prev.is_some() {
            ChangeKind::Modified
        } else {
            *self.counts.entry(key.storage.clone()).or_default() += 1;
            ChangeKind::Added
        };
        self.record(&key, kind, obj.clone(), prev);
        obj
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut obj = Arc::unwrap_or_clone(self.objects.remove(key)?);
        if let Some(n) = self.counts.get_mut(&key.storage) {
            *n = n.saturating_sub(1);
        }
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        self.record(key, ChangeKind::Deleted, obj.clone(), None);
        Some(obj)
    }

    /// Replaces every object (a snapshot restore): the counter continues from `rv` and the
    /// history starts empty, so watches from before it are Gone.
    pub fn restore(&mut self, rv: u64, objects: BTreeMap<Key, Value>) {
        self.counts.clear();
        for key in objects.keys() {
            *self.counts.entry(key.storage.clone()).or_default() += 1;
        }
        self.objects = objects.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        self.rv = self.rv.max(rv);
        self.compact();
    }

    /// Drops all remembered history (as an etcd compaction would): older watches get 410.
    pub fn compact(&mut self) {
        self.compacted_through = self.rv;
        self.history.clear();
    }

    /// Changes after `from` for `storage` plus a live receiver; Gone when `from` was compacted.
    pub fn subscribe(&self, storage: &str, from: u64) -> Result<Subscription, Gone> {
        if from < self.compacted_through {
            return Err(Gone {
                requested: from,
                oldest: self.compacted_through + 1,
            });
        }
        let backlog = self
            .history
            .iter()
            .filter(|c| c.rv > from && c.storage == storage)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            live: self.tx.subscribe(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_watch_from_before_the_history_window_is_gone() {
        let mut o = Objects::new(2);
        for i in 0..5 {
            o.put(
                Key::new("s", "ns", &format!("o{i}")),
                json!({"metadata": {}}),
            );
        }
        assert!(o.subscribe("s", 2).is_err());
        let sub = o.subscribe("s", o.rv() - 1).unwrap();
        assert_eq!(sub.backlog.len(), 1);
        o.compact();
        assert!(o.subscribe("s", o.rv() - 1).is_err());
    }

    #[test]
    fn every_write_advances_the_resource_version() {
        let mut o = Objects::new(10);
        let a = o.put(Key::new("s", "", "a"), json!({"metadata": {}}));
        let b = o.put(Key::new("s", "", "a"), json!({"metadata": {}}));
        assert_ne!(
            a["metadata"]["resourceVersion"],
            b["metadata"]["resourceVersion"]
        );
        let d = o.remove(&Key::new("s", "", "a")).unwrap();
        assert_eq!(d["metadata"]["resourceVersion"], json!(o.rv().to_string()));
    }
}
