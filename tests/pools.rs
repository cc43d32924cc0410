//! HostClaims and HostPools end to end, with the real binaries: seed 2's MachineSet story as a pool
//! scaled 0 → 1 → 0 → 1 (three externally provisioned masters are never touched; the worker is
//! provisioned, deprovisioned back to `available`, then reused), and seed 1's node types as two
//! pools whose selectors tell GPU servers from compute servers.
//!
//! Embedded mode only: the fleet (`fleets/pools-e2e.yaml`) is not part of the kind fleet. The
//! `kubectl get bmh` output of each step of seed 2's story is printed (run with `--no-capture` to
//! see it).

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use metal_e2e::{Check, FleetHost, Setup, Stack, eventually};
use metal_operator::api::{BareMetalHost, HostClaim, HostPool, ProvisioningState};
use serde_json::json;

const FLEET: &str = "fleets/pools-e2e.yaml";
const STEP: Duration = Duration::from_secs(240);

/// Starts a stack whose control plane also serves the HostPool CRD, with the operator started
/// after the CRD exists (so its pool controller watches from the start).
async fn pool_stack(name: &str) -> anyhow::Result<Option<Stack>> {
    if metal_e2e::external_cluster() {
        eprintln!(
            "SKIP: {name} runs in embedded mode only (its fleet is not served by the kind fleet)"
        );
        return Ok(None);
    }
    let mut stack = Stack::start(Setup::new(name, FLEET)).await?;
    let crd = metal_e2e::binaries::workspace_root().join("kind/crds/hostpools.yaml");
    let crd = crd.to_string_lossy().into_owned();
    stack.kubectl(&["apply", "-f", &crd]).await?;
    stack.kill_operator(0).await?;
    stack.start_operator(0).await?;
    Ok(Some(stack))
}

fn hosts(stack: &Stack, prefix: &str) -> Vec<FleetHost> {
    stack
        .hosts()
        .iter()
        .filter(|h| h.name.starts_with(prefix))
        .cloned()
        .collect()
}

async fn get_bmh(stack: &Stack, step: &str) -> anyhow::Result<String> {
    let ns = stack.namespace().to_owned();
    let out = stack.kubectl(&["get", "bmh", "-n", &ns]).await?;
    println!("--- {step}\n$ kubectl get bmh\n{out}");
    Ok(out)
}

fn consumer(host: &BareMetalHost) -> Option<String> {
    host.spec.consumer_ref.as_ref().and_then(|r| r.name.clone())
}

fn state(host: &BareMetalHost) -> ProvisioningState {
    host.status
        .as_ref()
        .map(|s| s.provisioning.state)
        .unwrap_or_default()
}

/// Waits until `look` accepts the host `name`.
async fn wait_host(
    stack: &Stack,
    name: &str,
    what: &str,
    look: impl Fn(&BareMetalHost) -> bool,
) -> anyhow::Result<BareMetalHost> {
    let api = stack.bmhs();
    let look = &look;
    eventually(STEP, &format!("{name}: {what}"), || {
        let api = api.clone();
        async move {
            let h = api.get(name).await?;
            Ok(if look(&h) {
                Check::Done(h)
            } else {
                Check::Pending(format!(
                    "state {:?}, consumer {:?}, online {}",
                    state(&h),
                    consumer(&h),
                    h.spec.online
                ))
            })
        }
    })
    .await
}

/// Waits until `look` accepts the pool `name`.
async fn wait_pool(
    stack: &Stack,
    name: &str,
    what: &str,
    look: impl Fn(&HostPool) -> bool,
) -> anyhow::Result<HostPool> {
    let api = stack.api::<HostPool>();
    let look = &look;
    eventually(STEP, &format!("pool {name}: {what}"), || {
        let api = api.clone();
        async move {
            let p = api.get(name).await?;
            Ok(if look(&p) {
                Check::Done(p)
            } else {
                Check::Pending(format!("status {:?}", p.status))
            })
        }
    })
    .await
}

fn pool_manifest(stack: &Stack, name: &str, replicas: i32, selector: serde_json::Value) -> String {
    let image = stack.image();
    let pool = json!({
        "apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
        "metadata": {"name": name, "namespace": stack.namespace()},
        "spec": {"replicas": replicas, "template": {
            "metadata": {"labels": {"node-pool": name}},
            "spec": {
                "hostSelector": selector,
                "poweredOn": true,
                "image": {"url": image.url, "checksum": image.checksum_url, "checksumType": "sha256"},
                "userData": {"name": "worker-user-data"},
            }}},
    });
    serde_yaml::to_string(&pool).unwrap_or_default()
}

async fn user_data(stack: &Stack) -> anyhow::Result<()> {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "worker-user-data", "namespace": stack.namespace()},
        "stringData": {"userData": "#cloud-config\nhostname: worker\n"},
    });
    let ns = stack.namespace().to_owned();
    stack
        .kubectl_with_input(
            &["apply", "-n", &ns, "-f", "-"],
            Some(&serde_yaml::to_string(&secret)?),
        )
        .await?;
    Ok(())
}

async fn scale(stack: &Stack, pool: &str, replicas: u32) -> anyhow::Result<()> {
    let ns = stack.namespace().to_owned();
    let out = stack
        .kubectl(&[
            "scale",
            "-n",
            &ns,
            &format!("hostpool/{pool}"),
            &format!("--replicas={replicas}"),
        ])
        .await?;
    println!("$ kubectl scale hostpool/{pool} --replicas={replicas}\n{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_scaled_one_zero_one_provisions_releases_and_reuses_the_worker_never_a_master()
-> anyhow::Result<()> {
    let Some(stack) = pool_stack("pools-seed2").await? else {
        return Ok(());
    };
    let ns = stack.namespace().to_owned();
    let masters = hosts(&stack, "openshift-master-");
    let worker = hosts(&stack, "openshift-worker-");
    anyhow::ensure!(
        masters.len() == 3 && worker.len() == 1,
        "fleet {FLEET} changed"
    );
    stack
        .register_with_spec(
            &masters,
            &json!({"online": true, "externallyProvisioned": true}),
        )
        .await?;
    stack.register(&worker, true).await?;
    for m in &masters {
        stack
            .wait_for_state(&m.name, ProvisioningState::ExternallyProvisioned, STEP)
            .await?;
    }
    let w = "openshift-worker-0";
    stack
        .wait_for_state(w, ProvisioningState::Available, STEP)
        .await?;
    get_bmh(
        &stack,
        "the cluster: three masters deployed earlier, one worker ready",
    )
    .await?;

    user_data(&stack).await?;
    stack
        .kubectl_with_input(
            &["apply", "-n", &ns, "-f", "-"],
            Some(&pool_manifest(
                &stack,
                "ostest-worker-0",
                0,
                json!({"matchLabels": {"role": "worker"}}),
            )),
        )
        .await?;
    wait_pool(&stack, "ostest-worker-0", "reconciled at 0", |p| {
        p.status
            .as_ref()
            .is_some_and(|s| s.selector.is_some() && s.replicas == 0)
    })
    .await?;
    println!(
        "$ kubectl get hostpools\n{}",
        stack.kubectl(&["get", "hostpools", "-n", &ns]).await?
    );

    scale(&stack, "ostest-worker-0", 1).await?;
    let claimed = wait_host(&stack, w, "claimed and deploying", |h| {
        consumer(h).is_some() && state(h) != ProvisioningState::Available
    })
    .await?;
    let first_claim = consumer(&claimed).unwrap_or_default();
    assert!(first_claim.starts_with("ostest-worker-0-"), "{first_claim}");
    let out = get_bmh(
        &stack,
        "scaled to 1: the worker is claimed and provisioning",
    )
    .await?;
    assert!(out.contains(&first_claim), "{out}");
    let provisioned = stack
        .wait_for_state(w, ProvisioningState::Provisioned, STEP)
        .await?;
    assert_eq!(
        provisioned
            .spec
            .user_data
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("worker-user-data")
    );
    assert!(provisioned.spec.online);
    get_bmh(&stack, "provisioned").await?;
    let pool = wait_pool(&stack, "ostest-worker-0", "one ready", |p| {
        p.status.as_ref().is_some_and(|s| s.ready_replicas == 1)
    })
    .await?;
    let status = pool.status.unwrap_or_default();
    assert_eq!(status.claimed_hosts, [format!("{ns}/{w}")]);
    let claim = stack.api::<HostClaim>().get(&first_claim).await?;
    let ready = claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    assert_eq!(ready.as_deref(), Some("True"));
    println!(
        "$ kubectl get hostpools\n{}",
        stack.kubectl(&["get", "hostpools", "-n", &ns]).await?
    );

    scale(&stack, "ostest-worker-0", 0).await?;
    let leaving = wait_host(&stack, w, "deprovisioning or back", |h| {
        h.spec.image.is_none()
            && matches!(
                state(h),
                ProvisioningState::Deprovisioning | ProvisioningState::Available
            )
    })
    .await?;
    assert!(!leaving.spec.online, "a released host is powered off");
    get_bmh(
        &stack,
        "scaled to 0: the image is removed, the worker deprovisions",
    )
    .await?;
    wait_host(&stack, w, "available and unclaimed", |h| {
        state(h) == ProvisioningState::Available && consumer(h).is_none()
    })
    .await?;
    get_bmh(
        &stack,
        "deprovisioned: the worker is available again, unclaimed",
    )
    .await?;
    let claims_api = stack.api::<HostClaim>();
    eventually(STEP, "the released claim to be gone", || {
        let api = claims_api.clone();
        let name = first_claim.clone();
        async move {
            Ok(match api.get_opt(&name).await? {
                None => Check::Done(()),
                Some(c) => Check::Pending(format!("finalizers {:?}", c.metadata.finalizers)),
            })
        }
    })
    .await?;

    scale(&stack, "ostest-worker-0", 1).await?;
    let again = wait_host(&stack, w, "claimed by a new claim", |h| {
        consumer(h).is_some_and(|c| c != first_claim)
    })
    .await?;
    let second_claim = consumer(&again).unwrap_or_default();
    stack
        .wait_for_state(w, ProvisioningState::Provisioned, STEP)
        .await?;
    get_bmh(&stack, "scaled to 1 again: the same worker is reused").await?;
    assert_ne!(second_claim, first_claim);

    for m in &masters {
        let h = stack.bmhs().get(&m.name).await?;
        assert_eq!(consumer(&h), None, "{} is never claimed", m.name);
        assert_eq!(state(&h), ProvisioningState::ExternallyProvisioned);
    }
    let requests = stack.ironic().requests().await?;
    let deploys: Vec<&str> = requests
        .iter()
        .filter(|r| r.is_provision_target("active"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(deploys.len(), 2, "two deployments: {deploys:?}");
    assert_eq!(deploys[0], deploys[1], "both on the worker's node");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.is_provision_target("deleted"))
            .count(),
        1,
        "one deprovisioning"
    );
    stack.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_and_compute_pools_take_only_the_servers_their_selectors_match() -> anyhow::Result<()> {
    let Some(stack) = pool_stack("pools-seed1").await? else {
        return Ok(());
    };
    let ns = stack.namespace().to_owned();
    let mut servers = hosts(&stack, "gpu-");
    servers.extend(hosts(&stack, "compute-"));
    anyhow::ensure!(servers.len() == 4, "fleet {FLEET} changed");
    stack.register(&servers, true).await?;
    let names: Vec<String> = servers.iter().map(|h| h.name.clone()).collect();
    stack
        .wait_all(&names, ProvisioningState::Available, STEP)
        .await?;
    user_data(&stack).await?;
    for (pool, replicas, node_type) in [("gpu", 2, "gpu"), ("compute", 1, "compute")] {
        stack
            .kubectl_with_input(
                &["apply", "-n", &ns, "-f", "-"],
                Some(&pool_manifest(
                    &stack,
                    pool,
                    replicas,
                    json!({"matchLabels": {"node-type": node_type}}),
                )),
            )
            .await?;
    }
    for name in ["gpu-0", "gpu-1"] {
        let h = stack
            .wait_for_state(name, ProvisioningState::Provisioned, STEP)
            .await?;
        assert!(
            consumer(&h).is_some_and(|c| c.starts_with("gpu-")),
            "{name}: {:?}",
            consumer(&h)
        );
    }
    let gpu = wait_pool(&stack, "gpu", "two ready", |p| {
        p.status.as_ref().is_some_and(|s| s.ready_replicas == 2)
    })
    .await?;
    assert_eq!(gpu.status.unwrap_or_default().available_hosts, 0);
    let compute = wait_pool(&stack, "compute", "one ready", |p| {
        p.status
            .as_ref()
            .is_some_and(|s| s.ready_replicas == 1 && s.available_hosts == 1)
    })
    .await?;
    let taken = compute.status.unwrap_or_default().claimed_hosts;
    assert_eq!(taken.len(), 1);
    assert!(taken[0].starts_with(&format!("{ns}/compute-")), "{taken:?}");
    get_bmh(
        &stack,
        "seed 1: two GPU servers and one compute server claimed by their pools",
    )
    .await?;

    // A third GPU node cannot be had: the pool says so, and never takes the free compute server.
    stack
        .api::<HostPool>()
        .patch(
            "gpu",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    let short = wait_pool(&stack, "gpu", "short of hosts", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "HostsAvailable" && c.status == "False" && c.reason == "NotEnoughHosts"
            })
        })
    })
    .await?;
    assert_eq!(short.status.unwrap_or_default().bound_replicas, 2);
    // The Event follows the status write.
    eventually(STEP, "a NotEnoughHosts Event", || async {
        let events = stack.kubectl(&["get", "events", "-n", &ns]).await?;
        Ok(if events.contains("NotEnoughHosts") {
            Check::Done(())
        } else {
            Check::Pending(events)
        })
    })
    .await?;
    let free: Vec<BareMetalHost> = stack
        .bmhs()
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|h| {
            h.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("compute-"))
                && consumer(h).is_none()
        })
        .collect();
    assert_eq!(free.len(), 1, "the spare compute server stays free");
    println!(
        "$ kubectl get hostpools\n{}",
        stack.kubectl(&["get", "hostpools", "-n", &ns]).await?
    );

    // Deleting a pool deletes its claims (owner references), and each claim gives its host back.
    stack
        .kubectl(&["delete", "hostpool", "gpu", "-n", &ns, "--wait=false"])
        .await?;
    for name in ["gpu-0", "gpu-1"] {
        wait_host(&stack, name, "released after its pool was deleted", |h| {
            state(h) == ProvisioningState::Available && consumer(h).is_none()
        })
        .await?;
    }
    // The claims go once the garbage collector has deleted them and the operator has removed their
    // finalizers, which may come after their hosts are free again (a real apiserver's collector
    // runs on its own schedule): wait for it, bounded.
    let claims = stack.api::<HostClaim>();
    eventually(STEP, "the gpu pool's claims are gone", || {
        let claims = claims.clone();
        async move {
            let left: Vec<String> = claims
                .list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .filter(|n| n.starts_with("gpu-"))
                .collect();
            Ok(if left.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(format!("claims left: {left:?}"))
            })
        }
    })
    .await?;
    get_bmh(
        &stack,
        "seed 1: the GPU pool deleted, its servers deprovisioned and free",
    )
    .await?;
    stack.finish().await;
    Ok(())
}
