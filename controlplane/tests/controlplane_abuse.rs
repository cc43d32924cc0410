//! The control plane against a client creating without end: a resource holds at most
//! `Options::max_objects_per_resource` objects; the create beyond it is refused 403 Forbidden
//! "exceeded quota", as kube-apiserver refuses a create over a ResourceQuota's object count.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use metal_controlplane::{self as controlplane, Options};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_beyond_the_per_resource_cap_are_refused_exceeded_quota() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(chrono::Utc::now),
        11,
    );
    options.max_objects_per_resource = 3;
    let running = controlplane::start(options).await.unwrap();
    let client = metal_testkit::kube::client(&running.kubeconfig())
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        api.create(&PostParams::default(), &cm(name)).await.unwrap();
    }
    // The cap counts every namespace: the fourth is refused in another one too.
    let other: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    for refused in [&api, &other] {
        match refused.create(&PostParams::default(), &cm("d")).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403);
                assert_eq!(status.reason, "Forbidden");
                assert_eq!(
                    status.message,
                    "configmaps \"d\" is forbidden: exceeded quota: object-cap, requested: count/configmaps=1, used: count/configmaps=3, limited: count/configmaps=3"
                );
            }
            other => panic!("the fourth create was not refused: {other:?}"),
        }
    }
    // A freed slot is taken again.
    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &cm("d")).await.unwrap();
    running.shutdown().await.unwrap();
}
