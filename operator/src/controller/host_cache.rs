//! One cache of the watched BareMetalHosts for the whole process, shared by the host, claim and
//! pool controllers.
//!
//! Each controller used to start its own watch and keep its own copy of every host: three
//! copies of 1 000 hosts, two of them with their managed fields, and every change decoded three
//! times. Here one watch fills one store, as controller-runtime's shared informer does for
//! upstream's controllers; like it, the watch runs from start-up, leading or not, so a new
//! leadership term starts from a warm cache.
//!
//! A controller [`subscribe`](HostCache::subscribe)s for the hosts it must look at: first every
//! host in the cache, then each host as the watch applies a change to it (deletions are not
//! sent: a deleted host has nothing left to reconcile, and one with a finalizer is changed, not
//! deleted). A subscription ends when the cache does; dropping it unsubscribes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::api::BareMetalHost;

/// The shared host cache: cheap to clone; the watch stops when the last clone is dropped.
#[derive(Clone)]
pub struct HostCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store<BareMetalHost>,
    subscribers: Arc<Subscribers>,
    watch: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

/// The senders of the live subscriptions. Sending and subscribing hold the same lock, so a
/// subscriber gets every change applied after its snapshot of the store was taken.
#[derive(Default)]
struct Subscribers {
    senders: Mutex<Vec<mpsc::UnboundedSender<Arc<BareMetalHost>>>>,
}

impl Subscribers {
    fn publish(&self, host: &Arc<BareMetalHost>) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        senders.retain(|tx| tx.send(host.clone()).is_ok());
    }

    fn subscribe(
        &self,
        store: &Store<BareMetalHost>,
    ) -> mpsc::UnboundedReceiver<Arc<BareMetalHost>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        for host in store.state() {
            // The receiver is held right here: this send cannot fail.
            let _ = tx.send(host);
        }
        senders.push(tx);
        rx
    }
}

impl HostCache {
    /// Starts the one watch of BareMetalHosts in `namespace` (all namespaces when `None`).
    /// Must be called inside a tokio runtime.
    pub fn start(client: &kube::Client, namespace: Option<&str>) -> Self {
        let api: Api<BareMetalHost> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let (store, writer) = reflector::store();
        let subscribers = Arc::new(Subscribers::default());
        let publishing = subscribers.clone();
        let cached = store.clone();
        // A cached host never needs its managed fields, which for a host whose status we write
        // are as large as the status itself.
        let changes = reflector(
            writer,
            watcher(api, watcher::Config::default())
                .modify(|host| host.metadata.managed_fields = None)
                .default_backoff(),
        )
        .applied_objects();
        let watch = tokio::spawn(async move {
            let mut changes = std::pin::pin!(changes);
            let mut failing = false;
            while let Some(change) = changes.next().await {
                match change {
                    Ok(host) => {
                        failing = false;
                        // The store's own copy, so a subscriber that lags holds no second one.
                        let host = cached
                            .get(&ObjectRef::from_obj(&host))
                            .unwrap_or_else(|| Arc::new(host));
                        publishing.publish(&host);
                    }
                    // The backoff paces the retries; say so once per outage, not per retry.
                    Err(error) if !failing => {
                        failing = true;
                        warn!(error = %error, "BareMetalHost watch failed, retrying");
                    }
                    Err(_) => {}
                }
            }
        });
        HostCache {
            inner: Arc::new(Inner {
                store,
                subscribers,
                watch,
            }),
        }
    }

    /// A reader of the cache.
    pub fn store(&self) -> Store<BareMetalHost> {
        self.inner.store.clone()
    }

    /// Every cached host, then each host the watch changes, for as long as the stream is held.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<BareMetalHost>> + Send + 'static {
        let rx = self.inner.subscribers.subscribe(&self.inner.store);
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|h| (h, rx)) })
    }

    /// Waits until the first list is in the cache, or `timeout` passes; true when ready.
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.inner.store.wait_until_ready())
            .await
            .is_ok_and(|ready| ready.is_ok())
    }
}
