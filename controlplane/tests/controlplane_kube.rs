//! The embedded control plane judged by kube-rs: watchers see changes in order, stale writes
//! get 409, compacted resourceVersions get 410 Gone, bookmarks arrive when asked.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use metal_controlplane::{self as controlplane, Options, Running};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kind/crds/metal3.io.yaml");

async fn start(bookmark: Duration, history: usize) -> (Running, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(chrono::Utc::now),
        11,
    );
    options.bookmark_interval = bookmark;
    options.history = history;
    let running = controlplane::start(options).await.unwrap();
    running.state.load_crds(Path::new(CRDS)).unwrap();
    let client = metal_testkit::kube::client(&running.kubeconfig())
        .await
        .unwrap();
    (running, client)
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"k": value}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_watcher_sees_create_modify_delete_in_order() {
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    // The initial list completes before any change is made.
    let deadline = Duration::from_secs(20);
    loop {
        let ev = tokio::time::timeout(deadline, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(ev, watcher::Event::InitDone) {
            break;
        }
    }
    api.create(&PostParams::default(), &cm("w", "1"))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(deadline, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Apply(o) => {
                seen.push(format!("apply:{}", o.data.unwrap_or_default()["k"]))
            }
            watcher::Event::Delete(o) => {
                seen.push(format!("delete:{}", o.metadata.name.unwrap_or_default()))
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["apply:1", "apply:2", "delete:w"]);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_with_a_stale_resource_version_is_a_conflict() {
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let mut second = first.clone();
    second.data = Some([("k".to_string(), "2".to_string())].into());
    api.replace("c", &PostParams::default(), &second)
        .await
        .unwrap();
    let mut stale = first;
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let err = api
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
        }
        other => panic!("expected a 409 Conflict, got {other:?}"),
    }
    let duplicate = api
        .create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{duplicate:?}"
    );
    running.shutdown().await.unwrap();
}

/// Concurrent merge patches that name no resourceVersion each apply to the current object, as
/// kube-apiserver's GuaranteedUpdate does: none is answered 409 and none is lost. A patch that
/// names a stale resourceVersion is still a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_without_a_resource_version_never_conflict_and_none_is_lost() {
    let (running, client) = start(Duration::from_secs(5), 10_000).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("p", "0"))
        .await
        .unwrap();
    const WRITERS: usize = 4;
    const EACH: usize = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let key = format!("w{w}-{i}");
                    api.patch(
                        "p",
                        &PatchParams::default(),
                        &Patch::Merge(serde_json::json!({"data": {key: "x"}})),
                    )
                    .await
                    .map_err(|e| format!("patch {w}/{i}: {e}"))?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let data = api.get("p").await.unwrap().data.unwrap_or_default();
    assert_eq!(data.len(), 1 + WRITERS * EACH, "every patch kept");
    let stale = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"resourceVersion": created.metadata.resource_version},
                "data": {"late": "x"}
            })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{stale:?}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_resource_version_is_gone_and_bookmarks_arrive() {
    let (running, client) = start(Duration::from_millis(200), 1000).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &cm("g", "1"))
        .await
        .unwrap();
    let old_rv = created.metadata.resource_version.unwrap();
    api.patch(
        "g",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    running.state.compact();
    let mut gone = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), gone.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Error(status) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    let current = api
        .get("g")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut live = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            }
            .timeout(10),
            &current,
        )
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), live.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, current),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_owner_collects_its_dependents_and_a_namespace_its_contents() {
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "gc"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "gc");
    let owner = api
        .create(&PostParams::default(), &cm("owner", "1"))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let dependent: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "dependent", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
        ]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    let orphan: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kept", "finalizers": ["example.com/hold"], "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
        ]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &orphan).await.unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(api.get_opt("dependent").await.unwrap().is_none());
    // A dependent created after its owner is gone (a controller acting on a stale cache) is
    // created, then collected, as kube-controller-manager's collector does; beside a live owner
    // only the reference to the absent one is dropped.
    let live = api
        .create(&PostParams::default(), &cm("live-owner", "1"))
        .await
        .unwrap();
    let live_uid = live.metadata.uid.unwrap();
    for (name, owners) in [
        ("late", vec![("owner", uid.clone())]),
        (
            "half",
            vec![("owner", uid.clone()), ("live-owner", live_uid.clone())],
        ),
    ] {
        let refs: Vec<serde_json::Value> = owners
            .iter()
            .map(|(n, u)| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": u}))
            .collect();
        let late: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "ownerReferences": refs}
        }))
        .unwrap();
        let created = api.create(&PostParams::default(), &late).await.unwrap();
        assert_eq!(created.metadata.name.as_deref(), Some(name));
    }
    assert!(api.get_opt("late").await.unwrap().is_none());
    let half = api.get("half").await.unwrap();
    let left: Vec<String> = half
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.uid)
        .collect();
    assert_eq!(left, vec![live_uid]);
    // A dependent with a finalizer is only marked for deletion.
    let kept = api.get("kept").await.unwrap();
    assert!(kept.metadata.deletion_timestamp.is_some());
    // The namespace terminates until its last object's finalizer is gone.
    namespaces
        .delete("gc", &DeleteParams::default())
        .await
        .unwrap();
    let phase = namespaces
        .get("gc")
        .await
        .unwrap()
        .status
        .and_then(|s| s.phase);
    assert_eq!(phase.as_deref(), Some("Terminating"));
    let refused = api
        .create(&PostParams::default(), &cm("late", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, kube::Error::Api(ref s) if s.code == 403),
        "{refused:?}"
    );
    api.patch(
        "kept",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(
                serde_json::json!([{"op": "remove", "path": "/metadata/finalizers"}]),
            )
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert!(api.get_opt("kept").await.unwrap().is_none());
    assert!(namespaces.get_opt("gc").await.unwrap().is_none());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_run_and_label_selectors_work_through_kube() {
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&dry, &cm("dry", "1")).await.unwrap();
    assert!(api.get_opt("dry").await.unwrap().is_none());
    for (name, tier) in [("a", "db"), ("b", "web"), ("c", "cache")] {
        let obj: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"tier": tier}}
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
    }
    let lp = kube::api::ListParams::default().labels("tier in (db,web)");
    let names: Vec<String> = api
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let page = api
        .list(&kube::api::ListParams::default().limit(2))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = api
        .list(
            &kube::api::ListParams::default()
                .limit(2)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.metadata.continue_.is_none_or(|c| c.is_empty()));
    let by_field = api
        .list(&kube::api::ListParams::default().fields("metadata.name=c"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), 1);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_event_recorder_series_reads_back_as_one_core_event_with_its_series() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("subject", "1"))
        .await
        .unwrap();
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: owner.metadata.name.clone(),
        namespace: owner.metadata.namespace.clone(),
        uid: owner.metadata.uid.clone(),
        ..Default::default()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "metal3-test".into(),
            instance: Some("op-0".into()),
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Registered".into(),
        note: Some("registered with Ironic".into()),
        action: "Register".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let listed = core
        .list(&kube::api::ListParams::default().fields("involvedObject.name=subject"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let e = &listed.items[0];
    assert_eq!(e.message.as_deref(), Some("registered with Ironic"));
    assert_eq!(e.reason.as_deref(), Some("Registered"));
    // As on a real server, the core view carries the series, not a deprecated count.
    assert_eq!(e.series.as_ref().and_then(|s| s.count), Some(2));
    assert_eq!(e.involved_object.uid, owner.metadata.uid);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_event_keeps_legacy_names_and_an_events_k8s_io_one_does_not() {
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    // As upstream baremetal-operator creates them: generateName from the reason, capitalised.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let event: k8s_openapi::api::core::v1::Event = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "Registered-", "namespace": "default"},
        "involvedObject": {"kind": "BareMetalHost", "name": "h", "namespace": "default"},
        "reason": "Registered",
        "message": "Registered new host",
        "type": "Normal",
        "count": 1,
        "source": {"component": "metal3-baremetal-controller"}
    }))
    .unwrap();
    let created = core.create(&PostParams::default(), &event).await.unwrap();
    assert!(
        created
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("Registered-")),
        "{:?}",
        created.metadata.name
    );
    let mut slashed = event.clone();
    slashed.metadata.generate_name = None;
    slashed.metadata.name = Some("a/b".into());
    let err = core
        .create(&PostParams::default(), &slashed)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 || s.code == 404),
        "{err}"
    );
    let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let strict: k8s_openapi::api::events::v1::Event = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "Registered-x", "namespace": "default"},
        "eventTime": "2026-12-07T00:00:00.000000Z",
        "reportingController": "metal3.io/test",
        "reportingInstance": "op-0",
        "action": "Register",
        "reason": "Registered",
        "type": "Normal",
        "regarding": {"kind": "BareMetalHost", "name": "h", "namespace": "default"}
    }))
    .unwrap();
    let err = new
        .create(&PostParams::default(), &strict)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("RFC 1123")),
        "{err}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_an_object_deleted_bumps_its_generation_once() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let (running, client) = start(Duration::from_secs(5), 1000).await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metal3.io", "v1alpha1", "BareMetalHost"),
        "baremetalhosts",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let host: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "h", "finalizers": ["baremetalhost.metal3.io"]},
        "spec": {"online": true}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &host).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // As kube-apiserver's markAsDeleting: a controller filtering on generation sees the delete.
    let _ = api.delete("h", &DeleteParams::default()).await.unwrap();
    let marked = api.get("h").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.generation, Some(2));
    let _ = api.delete("h", &DeleteParams::default()).await.unwrap();
    assert_eq!(api.get("h").await.unwrap().metadata.generation, Some(2));
    running.shutdown().await.unwrap();
}
