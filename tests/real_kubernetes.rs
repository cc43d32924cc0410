//! The real kube-apiserver as the judge of what the suite's other tests take for granted: the
//! operator's RBAC from `kind/` is what it needs and no identity without it gets in, and the users'
//! YAML (seed 1's bulk registration, no `spec.online`) is accepted with the default filled in by the
//! real server. `scripts/e2e.sh` runs this file only in its real pass, against `metal-kube up`'s
//! server; run alone it starts a control plane of its own.

use std::time::Duration;

use anyhow::Context as _;
use metal_e2e::binaries::workspace_root;
use metal_e2e::kubernetes::{Judge, client_for};
use metal_operator::api::BareMetalHost;
use metal_testkit::hosts::Bmh;
use serde_json::json;

/// The verbs `kind/operator/rbac.yaml` must grant the operator, as `kubectl auth can-i` asks them.
const OPERATOR_NEEDS: &[&str] = &[
    "list baremetalhosts.metal3.io",
    "watch baremetalhosts.metal3.io",
    "patch baremetalhosts.metal3.io",
    "patch baremetalhosts.metal3.io --subresource=status",
    "create hardwaredata.metal3.io",
    "patch hardwaredata.metal3.io",
    "create hostfirmwaresettings.metal3.io",
    "watch hostfirmwaresettings.metal3.io",
    "patch hostfirmwaresettings.metal3.io --subresource=status",
    "create firmwareschemas.metal3.io",
    "patch firmwareschemas.metal3.io",
    "delete firmwareschemas.metal3.io",
    "watch hostclaims.metal3.io",
    "patch hostclaims.metal3.io --subresource=status",
    "watch hostpools.metal-operator.io",
    "get hostpools.metal-operator.io",
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
    "update baremetalhosts.metal3.io",
    "delete hardwaredata.metal3.io",
    "delete hostfirmwaresettings.metal3.io",
    "patch hostfirmwaresettings.metal3.io",
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
    let file = workspace_root().join("tests/fixtures/seed-bulk-registration.yaml");
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

/// One webhook of kind's configuration, as the test registers it: by `url` on loopback (the way
/// envtest does), an empty `caBundle` for the operator to fill, and only the test's namespace.
fn webhook(name: &str, port: u16, path: &str, resource: &str, ns: &str) -> serde_json::Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "timeoutSeconds": 5,
        "clientConfig": {"url": format!("https://127.0.0.1:{port}{path}")},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
        "rules": [{
            "apiGroups": ["metal3.io"], "apiVersions": ["v1alpha1"], "resources": [resource],
            "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"
        }]
    })
}

fn host_yaml(ns: &str, name: &str, address: &str, mac: &str) -> String {
    Bmh::new(name)
        .namespace(ns)
        .bmc(address, &format!("{name}-bmc"))
        .boot_mac(mac)
        .yaml()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_webhook_refuses_a_bad_host_and_an_immutable_change_at_admission_on_the_real_apiserver()
-> anyhow::Result<()> {
    use metal_e2e::binaries::Binaries;
    use metal_e2e::process::Process;
    use metal_e2e::wait::{Check, eventually, eventually_ok};
    use metal_testkit::ports::free_port;

    let Some(judge) = Judge::get("real_kubernetes::webhook").await? else {
        return Ok(());
    };
    let ns = "webhook-judge";
    judge.kubectl(&["create", "namespace", ns], None).await?;
    // kind's configuration name, so the operator patches its CA in with exactly kind's RBAC.
    let config = "metal-operator";
    let port = free_port();
    let health = free_port();
    let metrics = free_port();
    let registration = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": config},
        "webhooks": [
            webhook("baremetalhost.metal3.io", port, "/validate-metal3-io-v1alpha1-baremetalhost", "baremetalhosts", ns),
            webhook("hostclaim.metal3.io", port, "/validate-metal3-io-v1alpha1-hostclaim", "hostclaims", ns),
        ]
    });
    judge
        .kubectl(&["apply", "-f", "-"], Some(&registration.to_string()))
        .await?;

    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("webhook-ca.pem");
    let bins = Binaries::locate()?;
    let args: Vec<String> = [
        "run",
        "--ironic-endpoint",
        // Never dialled for an invalid host; a valid one's registration fails on a closed port.
        "http://127.0.0.1:9",
        "--watch-namespace",
        ns,
        "--disable-host-claims",
        "--webhook-addr",
        &format!("127.0.0.1:{port}"),
        "--webhook-ca-file",
        &ca_file.display().to_string(),
        "--webhook-configuration",
        config,
        "--health-addr",
        &format!("127.0.0.1:{health}"),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut operator = Process::spawn(
        "operator-webhook",
        &bins.operator,
        &args,
        &[("KUBECONFIG", judge.operator_kubeconfig.as_os_str())],
        dir.path(),
    )?;
    let http = metal_e2e::sim::http_client()?;
    let ready = format!("http://127.0.0.1:{health}/readyz");
    let waited = eventually_ok(Duration::from_secs(60), "the operator to be ready", || {
        let exited = operator.exited();
        let tail = operator.tail(20);
        let http = http.clone();
        let ready = ready.clone();
        async move {
            anyhow::ensure!(exited.is_none(), "the operator exited: {tail}");
            let r = http.get(&ready).send().await?;
            Ok(if r.status().is_success() {
                Check::Done(())
            } else {
                Check::Pending(r.text().await.unwrap_or_default())
            })
        }
    })
    .await;
    if let Err(e) = waited {
        panic!("{e:#}\n{}", operator.tail(40));
    }
    // The operator patched its CA into every webhook of the configuration (kind's flow).
    let ca = std::fs::read_to_string(&ca_file)?;
    let bundles = judge
        .kubectl(
            &[
                "get",
                "validatingwebhookconfiguration",
                config,
                "-o",
                "jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{\"\\n\"}{end}",
            ],
            None,
        )
        .await?;
    use base64::Engine as _;
    for bundle in bundles.lines() {
        let pem = base64::engine::general_purpose::STANDARD.decode(bundle.trim())?;
        assert_eq!(
            String::from_utf8(pem)?,
            ca,
            "every caBundle is the CA the operator wrote"
        );
    }

    // A host whose BMC address has an unknown scheme: the schema takes any string, the webhook
    // refuses it naming the field and the value. The apiserver picks up a new configuration
    // asynchronously, so wait until the webhook is the one answering.
    let bad = host_yaml(ns, "bad-0", "foo://127.0.0.1:1", "aa:bb:cc:00:00:01");
    let refusal = eventually(
        Duration::from_secs(30),
        "the webhook to refuse a bad host",
        || {
            let judge = &judge;
            let bad = bad.clone();
            async move {
                Ok(
                    match judge.kubectl(&["create", "-f", "-"], Some(&bad)).await {
                        // The CRD's schema takes any string: only the webhook knows BMC schemes.
                        Err(e) if format!("{e:#}").contains("Unknown BMC type") => {
                            Check::Done(format!("{e:#}"))
                        }
                        Err(e) => Check::Pending(format!("{e:#}")),
                        Ok(_) => {
                            judge
                                .kubectl(
                                    &["delete", "bmh", "bad-0", "-n", ns, "--wait=false"],
                                    None,
                                )
                                .await?;
                            Check::Pending("created: the webhook was not called yet".into())
                        }
                    },
                )
            }
        },
    )
    .await?;
    // The webhook answers with a 422 Status naming the field and value, which the apiserver
    // hands to the client as it is.
    assert!(
        refusal.contains("The BareMetalHost \"bad-0\" is invalid")
            && refusal.contains("spec.bmc.address: Invalid value: \"foo://127.0.0.1:1\""),
        "{refusal}"
    );

    // A valid host is admitted; its bootMACAddress then cannot change.
    let good = host_yaml(ns, "good-0", "redfish://127.0.0.1:1", "aa:bb:cc:00:00:02");
    judge.kubectl(&["create", "-f", "-"], Some(&good)).await?;
    let err = judge
        .kubectl(
            &[
                "patch",
                "bmh",
                "good-0",
                "-n",
                ns,
                "--type=merge",
                "-p",
                r#"{"spec":{"bootMACAddress":"aa:bb:cc:00:00:03"}}"#,
            ],
            None,
        )
        .await
        .expect_err("bootMACAddress is immutable once set");
    let err = format!("{err:#}");
    assert!(
        err.contains("spec.bootMACAddress") && err.contains("can not be changed"),
        "{err}"
    );
    // The operator's answers are counted by webhook and code.
    let text = http
        .get(format!("http://127.0.0.1:{metrics}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let answered = |path: &str| {
        text.lines()
            .any(|l| l.starts_with("controller_runtime_webhook_requests_total") && l.contains(path))
    };
    assert!(
        answered("/validate-metal3-io-v1alpha1-baremetalhost"),
        "the refusals came from the operator's webhook:\n{text}"
    );

    judge
        .kubectl(&["delete", "validatingwebhookconfiguration", config], None)
        .await?;
    judge
        .kubectl(&["delete", "namespace", ns, "--wait=false"], None)
        .await?;
    operator.kill().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_manifests_pass_a_server_side_dry_run_on_the_real_apiserver() -> anyhow::Result<()> {
    let Some(judge) = Judge::get("real_kubernetes::kind").await? else {
        return Ok(());
    };
    // metal3-system exists (the harness installed the operator's namespace), so every namespaced
    // object of kind/ can be judged; nothing is stored.
    let kind = workspace_root().join("kind");
    let out = judge
        .kubectl(
            &[
                "apply",
                "--dry-run=server",
                "-k",
                &kind.display().to_string(),
            ],
            None,
        )
        .await?;
    for object in [
        "deployment.apps/metal-operator",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/metal-operator",
        "clusterrole.rbac.authorization.k8s.io/metal-operator",
        "service/metal-operator-webhook",
    ] {
        assert!(out.contains(object), "{object} missing from:\n{out}");
    }
    assert!(out.contains("(server dry run)"), "{out}");
    Ok(())
}
