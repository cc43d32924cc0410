//! The one host cache the host, claim and pool controllers share, against the mocked API server:
//! one watch however many subscribe, every cached host to a new subscriber, every later change
//! to each live subscriber, and a dropped subscriber forgotten.

mod controller_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use controller_support::FakeApiServer;
use controller_support::claims::host;
use futures::{Stream, StreamExt};
use metal_operator::api::BareMetalHost;
use metal_operator::controller::HostCache;
use serde_json::json;

const NS: &str = "cache";
const WAIT: Duration = Duration::from_secs(15);

/// The names of the next `n` hosts a subscription yields (within `WAIT`).
async fn next_names(
    stream: &mut (impl Stream<Item = Arc<BareMetalHost>> + Unpin),
    n: usize,
) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..n {
        let host = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("a host within the wait")
            .expect("the subscription is live");
        names.push(host.metadata.name.clone().unwrap_or_default());
    }
    names
}

/// The host watches (not lists) the server was asked for.
fn host_watches(api: &FakeApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.path.ends_with("/baremetalhosts") && r.query.contains("watch=true"))
        .count()
}

fn relabel(api: &FakeApiServer, name: &str, value: &str) {
    api.modify("baremetalhosts", NS, name, |h| {
        h["metadata"]["labels"] = json!({"step": value});
    });
}

#[tokio::test]
async fn subscribers_share_one_watch_and_each_sees_every_host_then_every_change() {
    let api = FakeApiServer::start().await;
    for name in ["a", "b", "c"] {
        api.upsert("baremetalhosts", host(NS, name, "available", json!({})));
    }
    let cache = HostCache::start(&api.client(), Some(NS));
    assert!(cache.wait_until_ready(WAIT).await, "the first list arrives");
    assert_eq!(cache.store().state().len(), 3);

    // A subscriber first gets every cached host.
    let mut first = Box::pin(cache.subscribe());
    let names: BTreeSet<String> = next_names(&mut first, 3).await.into_iter().collect();
    assert_eq!(names, BTreeSet::from(["a".into(), "b".into(), "c".into()]));

    // A change reaches it, with the store updated before.
    relabel(&api, "b", "one");
    assert_eq!(next_names(&mut first, 1).await, ["b"]);
    let cached = cache
        .store()
        .state()
        .into_iter()
        .find(|h| h.metadata.name.as_deref() == Some("b"))
        .expect("b cached");
    assert_eq!(cached.metadata.labels.as_ref().unwrap()["step"], "one");
    assert!(
        cached.metadata.managed_fields.is_none(),
        "the cache keeps no managed fields"
    );

    // A second subscriber gets the hosts as they are now, then the same changes as the first.
    let mut second = Box::pin(cache.subscribe());
    assert_eq!(next_names(&mut second, 3).await.len(), 3);
    api.upsert("baremetalhosts", host(NS, "d", "available", json!({})));
    assert_eq!(next_names(&mut first, 1).await, ["d"]);
    assert_eq!(next_names(&mut second, 1).await, ["d"]);

    // A dropped subscriber is forgotten; the other goes on.
    drop(first);
    relabel(&api, "c", "two");
    assert_eq!(next_names(&mut second, 1).await, ["c"]);

    // However many subscribed, the server served one watch of hosts.
    assert_eq!(
        host_watches(&api),
        1,
        "one host watch: {:?}",
        api.requests()
    );
}

#[tokio::test]
async fn the_watch_stops_with_the_last_handle() {
    let api = FakeApiServer::start().await;
    api.upsert("baremetalhosts", host(NS, "a", "available", json!({})));
    let cache = HostCache::start(&api.client(), Some(NS));
    assert!(cache.wait_until_ready(WAIT).await);
    assert!(
        api.wait_until(WAIT, |api| api.open_watches(NS) == 1).await,
        "one open watch while the cache lives"
    );
    let clone = cache.clone();
    drop(cache);
    assert_eq!(api.open_watches(NS), 1, "a clone keeps the watch");
    let mut changes = Box::pin(clone.subscribe());
    drop(clone);
    assert!(
        api.wait_until(WAIT, |api| api.open_watches(NS) == 0).await,
        "the watch closes with the last handle"
    );
    // A subscription outliving the cache yields what was cached, then ends.
    assert_eq!(next_names(&mut changes, 1).await, ["a"]);
    let end = tokio::time::timeout(WAIT, changes.next()).await;
    assert!(matches!(end, Ok(None)), "the subscription ends");
}
