//! Seed 2 for real: the Metal³ introduction's MachineSet story played by the real Cluster API and
//! CAPM3 (built by `make capi`) on a real kube-apiserver, with our operator and then with upstream
//! BMO driving the simulated hosts (`fleets/seed-two-capi.yaml`).
//!
//! Three masters run their OS already (registered externally provisioned) and their Nodes exist;
//! `openshift-worker-0` is registered with IPMI credentials and becomes available. `kubectl scale
//! machineset ostest-worker-0 --replicas=1`: CAPM3 claims the host and gives it the image and the
//! user data; the operator provisions it; the machine boots the image, and its simulated cloud-init
//! and kubelet (`simulator/src/guest`) join the cluster — the workload cluster is this same
//! apiserver — with CAPM3's `metal3.io/uuid` label; CAPM3 sets the providerID and the Machine gets
//! its nodeRef and runs. Scaling to 0 deletes the Machine: the host deprovisions back to available
//! and the Node is deleted. Scaling to 1 again reuses the same host. `kubectl get` prints each step as
//! the seed does. What differs from the seed is in docs/capi.md.

use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use metal_e2e::capi::{Capi, RunningCapi};
use metal_e2e::kubectl::kubectl;
use metal_e2e::kubernetes::pki::{Credential, write_kubeconfig};
use metal_e2e::kubernetes::{KubeBinaries, RealControlPlane, upstream};
use metal_e2e::mode::RealState;
use metal_e2e::wait::{Check, eventually};
use metal_e2e::{OperatorUnderTest, Setup, Stack};
use metal_operator::api::ProvisioningState;
use metal_testkit::bmo::Bmo;
use serde_json::{Value, json};

const FLEET: &str = "fleets/seed-two-capi.yaml";
/// Deadline of each step: BMO and CAPM3 poll and back off.
const STEP: Duration = Duration::from_secs(300);
const WORKER: &str = "openshift-worker-0";
const MASTERS: [&str; 3] = [
    "openshift-master-0",
    "openshift-master-1",
    "openshift-master-2",
];
const CLUSTER: &str = "ostest";
const MACHINESET: &str = "ostest-worker-0";

/// The shared apiserver, the judges and the kubelets' identity.
struct World {
    plane: RealControlPlane,
    state: RealState,
    capi: RunningCapi,
    /// What `make capi` built (for the releases' roles).
    build: Capi,
    bmo: Bmo,
    /// A kubeconfig for the simulated kubelets (group `system:nodes`, bound to `system:node`).
    kubelet_kubeconfig: String,
}

async fn world(test: &str) -> anyhow::Result<Option<World>> {
    if metal_e2e::external_cluster() {
        eprintln!("SKIP {test}: it starts its own apiserver (E2E_KUBECONFIG is set)");
        return Ok(None);
    }
    let Some(bmo) = Bmo::for_test(test) else {
        return Ok(None);
    };
    let Some(capi) = Capi::for_test(test) else {
        return Ok(None);
    };
    if let Err(e) = KubeBinaries::locate() {
        if metal_testkit::peers::peers_required() {
            return Err(e.context("REQUIRE_PEERS=1 and the real control plane is missing"));
        }
        eprintln!("\n!!!!!!!! SKIP {test}: {e:#} !!!!!!!!\n");
        return Ok(None);
    }
    let plane = RealControlPlane::start(None).await?;
    let access = upstream::install(&plane, &metal_e2e::binaries::workspace_root(), &bmo).await?;
    let running = RunningCapi::start(&plane, &capi).await?;
    eprintln!(
        "Cluster API {} and CAPM3 {} running against {}",
        capi.capi_version,
        capi.capm3_version,
        plane.server()
    );
    // The kubelets: members of system:nodes, with the system:node role (the apiserver runs RBAC).
    let admin = plane.admin_kubeconfig().to_path_buf();
    kubectl(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "metal-sim-kubelets",
            "--clusterrole=system:node",
            "--group=system:nodes",
        ],
        None,
    )
    .await?;
    let identity = plane.pki().client("metal-sim-kubelet", &["system:nodes"])?;
    let path = plane.dir().join("kubelet.kubeconfig");
    write_kubeconfig(
        &path,
        plane.server(),
        &plane.pki().ca_pem,
        "kubelet",
        Credential::Certificate(&identity),
    )?;
    let kubelet_kubeconfig = std::fs::read_to_string(&path)?;
    let state = RealState {
        server: plane.server().to_owned(),
        version: plane.version().to_owned(),
        admin_kubeconfig: admin,
        operator_kubeconfig: access.operator_kubeconfig,
        bmo_kubeconfig: Some(access.bmo_kubeconfig),
        ca_cert: plane.pki().ca_cert.clone(),
    };
    Ok(Some(World {
        plane,
        state,
        capi: running,
        build: capi,
        bmo,
        kubelet_kubeconfig,
    }))
}

/// `kubectl` as the cluster admin.
async fn admin(world: &World, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
    kubectl(&world.state.admin_kubeconfig, args, input).await
}

/// One object as JSON, or `None` when it does not exist.
async fn get(world: &World, args: &[&str]) -> anyhow::Result<Option<Value>> {
    let mut full = vec!["get", "-o", "json", "--ignore-not-found"];
    full.extend_from_slice(args);
    let out = admin(world, &full, None).await?;
    if out.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(
        serde_json::from_str(&out).context("parsing kubectl's JSON")?,
    ))
}

/// Prints what the seed prints at each step.
async fn show(world: &World, ns: &str, step: &str) -> anyhow::Result<()> {
    let objects = admin(world, &["get", "machines,machinesets,bmh", "-n", ns], None).await?;
    let nodes = admin(world, &["get", "nodes"], None).await?;
    eprintln!(
        "\n=== {step} ({ns})\n$ kubectl get machines,machinesets,bmh\n{objects}\n$ kubectl get nodes\n{nodes}"
    );
    Ok(())
}

/// The user data every worker Machine boots with: cloud-init writes the kubelet's kubeconfig and
/// its flags, the node label CAPM3 looks for filled in from the config drive (as CAPM3's kubeadm
/// templates do with `node-labels`).
fn user_data(kubelet_kubeconfig: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(kubelet_kubeconfig);
    format!(
        "## template: jinja\n#cloud-config\nwrite_files:\n\
         - path: /etc/kubernetes/kubelet.conf\n  encoding: b64\n  permissions: '0600'\n  content: {b64}\n\
         - path: /etc/default/kubelet\n  content: |\n    \
         KUBELET_EXTRA_ARGS=\"--node-labels=metal3.io/uuid={{{{ ds.meta_data.uuid }}}},node-role.kubernetes.io/worker=\"\n"
    )
}

/// Cluster API's objects for the worker MachineSet (at 0 replicas) and the cluster it belongs to.
fn cluster_objects(ns: &str, world: &World, stack: &Stack) -> anyhow::Result<String> {
    let url = url::Url::parse(world.plane.server())?;
    let host = url.host_str().context("the apiserver URL has no host")?;
    let port = url.port().context("the apiserver URL has no port")?;
    let image = stack.image();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let admin = std::fs::read_to_string(&world.state.admin_kubeconfig)?;
    let docs = [
        // The workload cluster's kubeconfig: this same apiserver.
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": format!("{CLUSTER}-kubeconfig"), "namespace": ns,
                            "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER}},
               "type": "cluster.x-k8s.io/secret", "data": {"value": b64(&admin)}}),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "worker-user-data", "namespace": ns,
                            "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER}},
               "type": "cluster.x-k8s.io/secret",
               "data": {"value": b64(&user_data(&world.kubelet_kubeconfig)), "format": b64("cloud-config")}}),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
               "metadata": {"name": CLUSTER, "namespace": ns},
               "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                              "kind": "Metal3Cluster", "name": CLUSTER}}}),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Cluster",
               "metadata": {"name": CLUSTER, "namespace": ns},
               "spec": {"controlPlaneEndpoint": {"host": host, "port": port},
                        "cloudProviderEnabled": false}}),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3MachineTemplate",
               "metadata": {"name": "ostest-worker", "namespace": ns},
               "spec": {"template": {"spec": {
                   "image": {"url": image.url, "checksum": image.checksum_url,
                             "checksumType": "sha256", "diskFormat": "raw"},
                   "hostSelector": {"matchLabels": {"role": "worker"}}}}}}),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet",
               "metadata": {"name": MACHINESET, "namespace": ns},
               "spec": {"clusterName": CLUSTER, "replicas": 0,
                        "selector": {"matchLabels": {"machineset": MACHINESET}},
                        "template": {"metadata": {"labels": {"machineset": MACHINESET}},
                                     "spec": {"clusterName": CLUSTER,
                                              "bootstrap": {"dataSecretName": "worker-user-data"},
                                              "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                                                    "kind": "Metal3MachineTemplate",
                                                                    "name": "ostest-worker"}}}}}),
    ];
    let mut docs = docs.to_vec();
    docs.push(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "master-user-data", "namespace": ns,
                     "labels": {"cluster.x-k8s.io/cluster-name": CLUSTER}},
        "type": "cluster.x-k8s.io/secret",
        "data": {"value": b64("#cloud-config\n"), "format": b64("cloud-config")}}));
    for i in 0..MASTERS.len() {
        let name = format!("ostest-master-{i}");
        docs.push(
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Machine",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"image": {"url": image.url, "checksum": image.checksum_url,
                               "checksumType": "sha256", "diskFormat": "raw"},
                     "hostSelector": {"matchLabels": {"role": "master"}}}}),
        );
        docs.push(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"cluster.x-k8s.io/control-plane": "",
                                    "cluster.x-k8s.io/cluster-name": CLUSTER}},
            "spec": {"clusterName": CLUSTER,
                     "bootstrap": {"dataSecretName": "master-user-data"},
                     "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                           "kind": "Metal3Machine", "name": name}}}),
        );
    }
    let mut yaml = String::new();
    for d in docs {
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml::to_string(&d)?);
    }
    Ok(yaml)
}

/// The masters' Nodes: their OS was installed before Metal3 knew the hosts (seed: 24h old).
async fn master_nodes(world: &World) -> anyhow::Result<()> {
    for (i, _) in MASTERS.iter().enumerate() {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("master-{i}"),
                         "labels": {"node-role.kubernetes.io/master": "", "kubernetes.io/hostname": format!("master-{i}")}}});
        admin(world, &["apply", "-f", "-"], Some(&node.to_string())).await?;
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
        admin(
            world,
            &[
                "patch",
                "node",
                &format!("master-{i}"),
                "--subresource=status",
                "--type=merge",
                "-p",
                &ready.to_string(),
            ],
            None,
        )
        .await?;
    }
    Ok(())
}

/// Waits until `look` (on `kubectl get -o json ARGS`) says done.
async fn wait_json(
    world: &World,
    what: &str,
    args: &[&str],
    look: impl Fn(Option<&Value>) -> Result<(), String>,
) -> anyhow::Result<()> {
    eventually(STEP, what, || async {
        let seen = get(world, args).await?;
        Ok(match look(seen.as_ref()) {
            Ok(()) => Check::Done(()),
            Err(e) => Check::Pending(e),
        })
    })
    .await
}

/// The worker Machine's name, once it runs with a nodeRef.
async fn wait_machine_running(world: &World, ns: &str) -> anyhow::Result<String> {
    eventually(
        STEP,
        "the worker Machine Running with a nodeRef",
        || async {
            let list = get(
                world,
                &[
                    "machines",
                    "-n",
                    ns,
                    "-l",
                    &format!("machineset={MACHINESET}"),
                ],
            )
            .await?
            .unwrap_or(Value::Null);
            let machines = list["items"].as_array().cloned().unwrap_or_default();
            Ok(match machines.as_slice() {
                [m] if m["status"]["phase"] == "Running"
                    && m["status"]["nodeRef"]["name"].is_string() =>
                {
                    Check::Done(
                        m["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                }
                [m] => Check::Pending(format!(
                    "phase {}, nodeRef {}",
                    m["status"]["phase"], m["status"]["nodeRef"]
                )),
                other => Check::Pending(format!("{} machines", other.len())),
            })
        },
    )
    .await
}

async fn scale(world: &World, ns: &str, replicas: u32) -> anyhow::Result<()> {
    admin(
        world,
        &[
            "scale",
            "machineset",
            MACHINESET,
            "-n",
            ns,
            &format!("--replicas={replicas}"),
        ],
        None,
    )
    .await
    .map(drop)
}

/// Scale to 1 and wait for the Node; returns the Machine's name.
async fn scale_up(world: &World, stack: &Stack, ns: &str, round: u32) -> anyhow::Result<String> {
    scale(world, ns, 1).await?;
    stack
        .wait_for_host(WORKER, "consumed by a Metal3Machine", STEP, |h| {
            match h.spec.consumer_ref.as_ref() {
                Some(_) => Ok(()),
                None => Err("no consumerRef".into()),
            }
        })
        .await?;
    show(
        world,
        ns,
        &format!("scale to 1 (round {round}): the host is claimed"),
    )
    .await?;
    let host = stack
        .wait_for_state(WORKER, ProvisioningState::Provisioned, STEP)
        .await?;
    let uid = host.metadata.uid.clone().unwrap_or_default();
    wait_json(
        world,
        "the worker's Node Ready with CAPM3's label and providerID",
        &["node", WORKER],
        |n| {
            let n = n.ok_or("no Node yet")?;
            let label = &n["metadata"]["labels"]["metal3.io/uuid"];
            let ready = n["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"].clone());
            let provider = n["spec"]["providerID"].as_str().unwrap_or_default();
            if *label == json!(uid)
                && ready == Some(json!("True"))
                && provider.starts_with("metal3://")
            {
                Ok(())
            } else {
                Err(format!(
                    "label {label}, Ready {ready:?}, providerID {provider:?}"
                ))
            }
        },
    )
    .await?;
    let machine = wait_machine_running(world, ns).await?;
    show(
        world,
        ns,
        &format!("scale to 1 (round {round}): provisioned, Node Ready, Machine Running"),
    )
    .await?;
    Ok(machine)
}

/// Scale to 0 and wait until the host is available again and the Node is gone.
async fn scale_down(world: &World, stack: &Stack, ns: &str, round: u32) -> anyhow::Result<()> {
    scale(world, ns, 0).await?;
    stack
        .wait_for_host(WORKER, "deprovisioning or available", STEP, |h| {
            match h.status.as_ref().map(|s| s.provisioning.state) {
                Some(ProvisioningState::Deprovisioning | ProvisioningState::Available) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
    show(
        world,
        ns,
        &format!("scale to 0 (round {round}): deprovisioning"),
    )
    .await?;
    // CAPM3 lets go of the host (its consumerRef) once the host is available again.
    stack
        .wait_for_host(WORKER, "available and no longer consumed", STEP, |h| {
            let state = h.status.as_ref().map(|s| s.provisioning.state);
            match (state, h.spec.consumer_ref.as_ref()) {
                (Some(ProvisioningState::Available), None) => Ok(()),
                (state, consumer) => Err(format!("state {state:?}, consumerRef {consumer:?}")),
            }
        })
        .await?;
    wait_json(
        world,
        "the worker's Node deleted",
        &["node", WORKER],
        |n| match n {
            None => Ok(()),
            Some(_) => Err("the Node still exists".into()),
        },
    )
    .await?;
    let selector = format!("machineset={MACHINESET}");
    wait_json(
        world,
        "no worker Machine",
        &["machines", "-n", ns, "-l", &selector],
        |l| {
            let n = l.and_then(|l| l["items"].as_array()).map_or(0, Vec::len);
            if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} machines"))
            }
        },
    )
    .await?;
    show(
        world,
        ns,
        &format!("scale to 0 (round {round}): available again"),
    )
    .await
}

/// Bad input, round 2: the MachineSet switched to a template whose image checksum is wrong, and
/// scaled to two Machines with one worker. One Machine takes the worker, whose deploy fails on the
/// checksum (the host shows the error); the other waits with CAPM3's condition saying no host is
/// available, and takes no master. Then the user fixes the MachineSet's template and scales to 0:
/// the host deprovisions back to available for the next Machine (round 3).
async fn bad_template_and_too_many_machines(
    world: &World,
    stack: &Stack,
    ns: &str,
) -> anyhow::Result<()> {
    let image = stack.image();
    let bad = json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3MachineTemplate",
        "metadata": {"name": "ostest-worker-bad-checksum", "namespace": ns},
        "spec": {"template": {"spec": {
            "image": {"url": image.url, "checksum": "0".repeat(64),
                      "checksumType": "sha256", "diskFormat": "raw"},
            "hostSelector": {"matchLabels": {"role": "worker"}}}}}});
    admin(world, &["apply", "-f", "-"], Some(&bad.to_string())).await?;
    let point_at = |template: &str| {
        json!({"spec": {"template": {"spec": {"infrastructureRef": {"name": template}}}}})
            .to_string()
    };
    admin(
        world,
        &[
            "patch",
            "machineset",
            MACHINESET,
            "-n",
            ns,
            "--type=merge",
            "-p",
            &point_at("ostest-worker-bad-checksum"),
        ],
        None,
    )
    .await?;
    scale(world, ns, 2).await?;
    stack
        .wait_for_host(
            WORKER,
            "a provisioning error (bad checksum)",
            STEP,
            |h| match h.status.as_ref().and_then(|s| s.error_type.as_ref()) {
                Some(e) if serde_json::to_value(e).unwrap_or_default() == "provisioning error" => {
                    Ok(())
                }
                other => Err(format!(
                    "errorType {other:?}, state {:?}",
                    h.status.as_ref().map(|s| s.provisioning.state)
                )),
            },
        )
        .await?;
    wait_json(
        world,
        "the second Machine's Metal3Machine waiting for a host",
        &["metal3machines", "-n", ns],
        |l| {
            let items = l
                .and_then(|l| l["items"].as_array())
                .cloned()
                .unwrap_or_default();
            let waiting = items.iter().filter(|m| {
                m["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["type"] == "AssociateBareMetalHost"
                            && c["status"] == "False"
                            && c["message"]
                                .as_str()
                                .is_some_and(|t| t.contains("no available host"))
                    })
                })
            });
            match waiting.count() {
                1 => Ok(()),
                n => Err(format!("{n} Metal3Machines say no host is available")),
            }
        },
    )
    .await?;
    for (i, master) in MASTERS.iter().enumerate() {
        let host = stack.bmhs().get(master).await?;
        let consumer = host
            .spec
            .consumer_ref
            .and_then(|c| c.name)
            .unwrap_or_default();
        anyhow::ensure!(
            consumer == format!("ostest-master-{i}"),
            "{master} was taken by {consumer:?}: a host outside the selector must not be"
        );
    }
    show(
        world,
        ns,
        "bad input: two Machines for one worker, the template's checksum wrong",
    )
    .await?;
    // The fix: the good template again, and the failed Machines scaled away.
    admin(
        world,
        &[
            "patch",
            "machineset",
            MACHINESET,
            "-n",
            ns,
            "--type=merge",
            "-p",
            &point_at("ostest-worker"),
        ],
        None,
    )
    .await?;
    scale_down(world, stack, ns, 2).await
}

async fn story(world: &World, operator: OperatorUnderTest, name: &str) -> anyhow::Result<()> {
    let stack = Stack::start(
        Setup::new(name, FLEET)
            .on_cluster(world.state.clone())
            .operator(operator),
    )
    .await?;
    let ns = stack.namespace().to_owned();
    let masters: Vec<_> = MASTERS
        .iter()
        .map(|m| stack.host(m).cloned())
        .collect::<anyhow::Result<_>>()?;
    // The masters run their OS already, and each belongs to its Machine's Metal3Machine from the
    // start (as the seed's masters belong to ostest-master-N): CAPM3 takes a host whose consumerRef
    // names the Metal3Machine before any other.
    for (i, master) in masters.iter().enumerate() {
        let consumer = json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                              "kind": "Metal3Machine", "name": format!("ostest-master-{i}"),
                              "namespace": ns});
        stack
            .register_with_spec(
                std::slice::from_ref(master),
                &json!({"online": true, "externallyProvisioned": true, "consumerRef": consumer}),
            )
            .await?;
    }
    stack.register(&[stack.host(WORKER)?.clone()], true).await?;
    for m in MASTERS {
        stack
            .wait_for_state(m, ProvisioningState::ExternallyProvisioned, STEP)
            .await?;
    }
    stack
        .wait_for_state(WORKER, ProvisioningState::Available, STEP)
        .await?;
    admin(
        world,
        &["apply", "-f", "-"],
        Some(&cluster_objects(&ns, world, &stack)?),
    )
    .await?;
    wait_json(
        world,
        "the Cluster's infrastructure provisioned",
        &["cluster", CLUSTER, "-n", &ns],
        |c| {
            let c = c.ok_or("no Cluster")?;
            match c["status"]["initialization"]["infrastructureProvisioned"].as_bool() {
                Some(true) => Ok(()),
                _ => Err(format!("status {}", c["status"])),
            }
        },
    )
    .await?;
    show(
        world,
        &ns,
        "the MachineSet at 0 replicas, the worker available",
    )
    .await?;

    let first = scale_up(world, &stack, &ns, 1).await?;
    scale_down(world, &stack, &ns, 1).await?;
    bad_template_and_too_many_machines(world, &stack, &ns).await?;
    let again = scale_up(world, &stack, &ns, 3).await?;
    anyhow::ensure!(
        first != again,
        "a new Machine should have claimed the host ({first})"
    );
    scale_down(world, &stack, &ns, 3).await?;
    stack.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_two_machineset_scales_onto_our_hosts_with_our_operator_and_upstream_bmo()
-> anyhow::Result<()> {
    let Some(mut world) = world("seed_two_capi").await? else {
        return Ok(());
    };
    master_nodes(&world).await?;
    // One operator after the other: the worker's Node has the same name in both runs.
    let runs = [
        ("capi-ours", OperatorUnderTest::Ours),
        ("capi-bmo", OperatorUnderTest::Bmo(world.bmo.clone())),
    ];
    for (name, operator) in runs {
        let label = operator.name();
        let started = std::time::Instant::now();
        if let Err(e) = story(&world, operator, name).await {
            let _ = world.capi.check_running();
            anyhow::bail!("seed 2 with {label}: {e:#}\n{}", world.capi.log_tails(40));
        }
        eprintln!(
            "seed 2 with {label}: passed in {:.1} s (three scale-ups, three scale-downs)",
            started.elapsed().as_secs_f64()
        );
    }
    world.capi.check_running()?;
    // Each manager ran as its own account, and its release's role grants every request it made.
    for line in world.build.audit(&world.plane)? {
        eprintln!("{line}");
    }
    drop(world);
    Ok(())
}
