//! The real kube-apiserver as the judge of what the suite's other tests take for granted: the
//! operator's RBAC from `kind/` is what it needs and no identity without it gets in, and the users'
//! YAML (seed 1's bulk registration, no `spec.online`) is accepted with the default filled in by the
//! real server. `scripts/e2e.sh` runs this file only in its real pass, against `metal-kube up`'s
//! server; run alone it starts a control plane of its own.

use anyhow::Context as _;
use metal_e2e::binaries::workspace_root;
use metal_e2e::kubernetes::{Judge, client_for};
use metal_operator::api::BareMetalHost;
use serde_json::json;

/// The verbs `kind/operator/rbac.yaml` must grant the operator, as `kubectl auth can-i` asks them.
const OPERATOR_NEEDS: &[&str] = &[
    "list baremetalhosts.metal3.io",
    "watch baremetalhosts.metal3.io",
    "patch baremetalhosts.metal3.io",
    "patch baremetalhosts.metal3.io --subresource=status",
    "create hardwaredata.metal3.io",
    "patch hardwaredata.metal3.io",
    "delete hardwaredata.metal3.io",
    "watch hostclaims.metal3.io",
    "patch hostclaims.metal3.io --subresource=status",
    "watch hostpools.metal-operator.io",
    "patch hostpools.metal-operator.io --subresource=status",
    "get secrets",
    "watch secrets",
    "patch secrets",
    "create events.events.k8s.io",
];

/// What the operator has no business doing.
const OPERATOR_MUST_NOT: &[&str] = &[
    "create baremetalhosts.metal3.io",
    "delete baremetalhosts.metal3.io",
    "create secrets",
    "delete secrets",
    "list pods",
    "create pods",
    "get nodes",
    "create clusterrolebindings.rbac.authorization.k8s.io",
    "create serviceaccounts --subresource=token",
];

async fn can_i(kubeconfig: &std::path::Path, ask: &str, ns: &str) -> bool {
    let mut args = vec!["auth", "can-i"];
    args.extend(ask.split(' '));
    args.extend(["-n", ns]);
    // `can-i` exits 1 for "no": only an answer of "yes" counts.
    metal_e2e::kubectl::kubectl(kubeconfig, &args, None)
        .await
        .is_ok_and(|out| out.trim() == "yes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_account_may_do_what_the_operator_does_and_an_account_without_the_role_is_refused()
-> anyhow::Result<()> {
    let Some(judge) = Judge::get("real_kubernetes::rbac").await? else {
        return Ok(());
    };
    let ns = "rbac-judge";
    judge.kubectl(&["create", "namespace", ns], None).await?;

    let operator = &judge.operator_kubeconfig;
    let mut missing = Vec::new();
    for ask in OPERATOR_NEEDS {
        if !can_i(operator, ask, ns).await {
            missing.push(*ask);
        }
    }
    assert!(
        missing.is_empty(),
        "kind/operator/rbac.yaml does not grant: {missing:?}"
    );
    let mut excess = Vec::new();
    for ask in OPERATOR_MUST_NOT {
        if can_i(operator, ask, ns).await {
            excess.push(*ask);
        }
    }
    assert!(excess.is_empty(), "the operator may also: {excess:?}");

    // An account of the same cluster without the role: authenticated, and refused.
    judge
        .kubectl(&["create", "serviceaccount", "stranger", "-n", ns], None)
        .await?;
    let stranger = tempfile::NamedTempFile::new()?;
    judge
        .cluster
        .write_account_kubeconfig(ns, "stranger", stranger.path())
        .await?;
    let client = client_for(stranger.path()).await?;
    let hosts: kube::Api<BareMetalHost> = kube::Api::namespaced(client.clone(), ns);
    let err = hosts
        .list(&Default::default())
        .await
        .expect_err("a ServiceAccount without the role must not list hosts");
    match &err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains("system:serviceaccount:rbac-judge:stranger"),
                "{status:?}"
            );
        }
        other => panic!("expected 403 Forbidden, got {other}"),
    }
    // The same list with the operator's token is allowed.
    let as_operator: kube::Api<BareMetalHost> =
        kube::Api::namespaced(client_for(operator).await?, ns);
    as_operator
        .list(&Default::default())
        .await
        .context("the operator's account lists hosts")?;
    judge
        .kubectl(&["delete", "namespace", ns, "--wait=false"], None)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_one_bulk_registration_without_online_is_accepted_and_defaulted_by_the_real_server()
-> anyhow::Result<()> {
    let Some(judge) = Judge::get("real_kubernetes::seed").await? else {
        return Ok(());
    };
    // metal3-system: no operator of the suite watches it (each watches its own test namespace), so
    // nothing ever acts on the seed's 192.168.1.x BMCs.
    let file = workspace_root().join("e2e/fixtures/seed-bulk-registration.yaml");
    let yaml = std::fs::read_to_string(&file)?;
    let out = judge.kubectl(&["apply", "-f", "-"], Some(&yaml)).await?;
    assert!(
        out.contains("baremetalhost.metal3.io/server-01 created")
            && out.contains("baremetalhost.metal3.io/server-02 created"),
        "{out}"
    );
    let hosts: kube::Api<BareMetalHost> =
        kube::Api::namespaced(judge.admin_client().await?, "metal3-system");
    for name in ["server-01", "server-02"] {
        let raw: serde_json::Value = serde_json::to_value(hosts.get(name).await?)?;
        assert_eq!(
            raw["spec"]["online"],
            json!(false),
            "{name}: the CRD's default for spec.online, filled in by the real server"
        );
        assert!(
            raw.get("status").is_none_or(|s| s.is_null()),
            "{name}: nothing may act on the seed's private BMC addresses, yet it has a status"
        );
    }
    judge.kubectl(&["delete", "-f", "-"], Some(&yaml)).await?;
    // A field the schema does not know is refused under strict validation, as kubectl does by default.
    let typo = yaml.replace("bootMACAddress:", "bootMacAddress:");
    let err = judge
        .kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&typo))
        .await
        .expect_err("an unknown field is refused by strict field validation");
    assert!(
        format!("{err:#}").contains("unknown field \"spec.bootMacAddress\""),
        "{err:#}"
    );
    Ok(())
}
