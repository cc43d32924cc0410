//! Upstream Metal3 as the judge of our operator. Upstream's baremetal-operator (BMO, built by
//! `make bmo` from its Go module) and ours play the same story on the same fleet
//! (`fleets/upstream-comparison.yaml`), side by side on one real kube-apiserver set up as upstream users
//! have it — BMO's own CRDs, each operator as its own ServiceAccount with its own RBAC — each with its
//! own simulator and mock Ironic:
//! a Redfish, a Redfish virtual-media and an IPMI host through register → inspect → available →
//! provision → provisioned → `online: false`/`true` → reboot annotation → deprovision → available,
//! a host registered as externally provisioned, a host registered with a wrong password that is then
//! fixed, and deleting an available and an externally provisioned host. An NVMe-only host is
//! provisioned too and judged apart: upstream's implicit `/dev/sda` root device hint (its deprecated
//! `unknown` hardware profile) must fail its deploy, ours must deploy it.
//!
//! What a user sees of each run is reduced to what timing cannot change ([`metal_e2e::compare`]):
//! each host's provisioning states, operationalStatus and error types, its hardware and
//! HardwareData, `kubectl get bmh` (and `-o wide`) rows, the Event reasons. Every difference must be
//! one we know and keep ([`KNOWN`], docs/upstream-differences.md, with its reason); any other fails
//! the test, printed side by side.
//!
//! A second test plays the Redfish lifecycle with both operators against real Ironic 39.
//!
//! It runs in the e2e pass on the real apiserver (`scripts/e2e.sh`); it starts its own apiserver
//! because upstream's CRDs differ from the ones the rest of the suite installs.

use std::time::{Duration, Instant};

use metal_e2e::compare::{Known, Observed, Recorder, differences};
use metal_e2e::ironic_real::RealIronic;
use metal_e2e::kubernetes::{KubeBinaries, RealControlPlane, upstream};
use metal_e2e::mode::RealState;
use metal_e2e::{FleetHost, OperatorUnderTest, Setup, Stack};
use metal_operator::api::ProvisioningState;
use metal_testkit::bmo::Bmo;
use serde_json::json;

/// Deadline of each step: BMO polls Ironic every 10 s in some states and backs off on errors.
const STEP: Duration = Duration::from_secs(300);
const FLEET: &str = "fleets/upstream-comparison.yaml";
/// The hosts that go through the whole lifecycle.
const LIFECYCLE: [&str; 3] = ["up-rf-0", "up-vm-0", "up-ipmi-0"];
/// The hosts whose BIOS settings are compared: those whose BMC speaks Redfish (Ironic reads no
/// BIOS settings over IPMI).
const FIRMWARE: [&str; 2] = ["up-rf-0", "up-vm-0"];
const EXTERNAL: &str = "up-ext-0";
const BAD: &str = "up-bad-0";
/// A GPU server whose only disks are NVMe: upstream's implicit `/dev/sda` root device hint (its
/// deprecated `unknown` hardware profile) finds no disk there; ours gives no hint unless asked.
const NVME: &str = "up-nvme-0";

/// What became of the NVMe-only host's deploy.
#[derive(Debug)]
enum NvmeOutcome {
    Provisioned,
    Failed(String),
}

/// Differences between upstream BMO and ours that stay, each with its reason; the same list, with
/// more words, is docs/upstream-differences.md. A difference that shows and is not here fails.
const KNOWN: &[Known] = &[
    Known::UpstreamOnlyItem {
        aspect: "Event reasons of ",
        item: "ProfileSet",
        reason: "upstream still applies the deprecated hardware profiles: after registration it \
                 sets status.hardwareProfile (\"unknown\") and says so in a ProfileSet Event; ours \
                 has no hardware profiles",
    },
    Known::Value {
        aspect: "status.hardwareProfile of ",
        ours: "(none)",
        upstream: "unknown",
        reason: "the deprecated hardware profile, which also gives every host without \
                 spec.rootDeviceHints the root device hint /dev/sda (a host with only NVMe disks \
                 has none); ours leaves the choice to the agent unless the user gives hints",
    },
];

/// A real apiserver with upstream's CRDs and both operators' accounts, or `None` after a loud
/// SKIP — in kind mode (`E2E_KUBECONFIG`), or when BMO or Kubernetes is not built (a panic then
/// under `REQUIRE_PEERS=1`).
async fn upstream_cluster(
    test: &str,
) -> anyhow::Result<Option<(RealControlPlane, RealState, Bmo)>> {
    if metal_e2e::external_cluster() {
        eprintln!("SKIP {test}: the comparison starts its own apiserver (E2E_KUBECONFIG is set)");
        return Ok(None);
    }
    let Some(bmo) = Bmo::for_test(test) else {
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
    let state = RealState {
        server: plane.server().to_owned(),
        version: plane.version().to_owned(),
        admin_kubeconfig: plane.admin_kubeconfig().to_path_buf(),
        operator_kubeconfig: access.operator_kubeconfig,
        bmo_kubeconfig: Some(access.bmo_kubeconfig),
        ca_cert: plane.pki().ca_cert.clone(),
    };
    Ok(Some((plane, state, bmo)))
}

fn host(stack: &Stack, name: &str) -> anyhow::Result<FleetHost> {
    Ok(stack.host(name)?.clone())
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Waits until `name` shows `error_type` in its status.
async fn wait_for_error(stack: &Stack, name: &str, error_type: &str) -> anyhow::Result<()> {
    stack
        .wait_for_host(name, &format!("errorType {error_type}"), STEP, |h| {
            let seen = h
                .status
                .as_ref()
                .and_then(|s| s.error_type.as_ref())
                .map(|e| serde_json::to_value(e).unwrap_or_default());
            match seen {
                Some(v) if v == error_type => Ok(()),
                other => Err(format!("errorType {other:?}")),
            }
        })
        .await
        .map(drop)
}

/// The whole story on one stack; returns what a user saw (without the NVMe-only host) and what
/// became of the NVMe-only host's deploy.
async fn story(stack: &Stack, upstream: bool) -> anyhow::Result<(Observed, NvmeOutcome)> {
    let recorder = Recorder::start(stack.client(), stack.namespace());
    let mut observed = Observed::default();
    let lifecycle: Vec<FleetHost> = LIFECYCLE
        .iter()
        .map(|n| host(stack, n))
        .collect::<anyhow::Result<_>>()?;
    let life = names(&LIFECYCLE);

    // Registration: three hosts to inspect, one already running its OS, one with a bad password.
    stack.register(&lifecycle, true).await?;
    stack.register(&[host(stack, NVME)?], true).await?;
    stack
        .register_with_spec(
            &[host(stack, EXTERNAL)?],
            &json!({"online": true, "externallyProvisioned": true}),
        )
        .await?;
    let mut bad = host(stack, BAD)?;
    bad.password = "not-the-password".into();
    stack.register(std::slice::from_ref(&bad), true).await?;
    stack
        .wait_all(&life, ProvisioningState::Available, STEP)
        .await?;
    stack
        .wait_for_state(EXTERNAL, ProvisioningState::ExternallyProvisioned, STEP)
        .await?;
    wait_for_error(stack, BAD, "registration error").await?;
    // The user fixes the Secret; the host recovers.
    stack.register(&[host(stack, BAD)?], true).await?;
    stack
        .wait_for_state(BAD, ProvisioningState::Available, STEP)
        .await?;
    stack
        .wait_for_state(NVME, ProvisioningState::Available, STEP)
        .await?;
    for name in LIFECYCLE.iter().chain([&BAD]) {
        observed.add_hardware(stack, name).await?;
    }
    // BIOS settings: each Redfish host's HostFirmwareSettings and the FirmwareSchema it names.
    for name in FIRMWARE {
        observed
            .add_firmware(stack, name, "after registration")
            .await?;
    }
    firmware_changes(stack, &mut observed).await?;
    observed.add_rows(stack, "after registration").await?;

    // Provisioning.
    for name in life.iter().chain([&NVME.to_owned()]) {
        stack.provision(name).await?;
    }
    stack
        .wait_all(&life, ProvisioningState::Provisioned, STEP)
        .await?;
    for name in &life {
        stack.wait_powered_on(name, true).await?;
    }
    observed.add_rows(stack, "all provisioned").await?;

    let nvme = if upstream {
        wait_for_error(stack, NVME, "provisioning error").await?;
        let host = stack.bmhs().get(NVME).await?;
        NvmeOutcome::Failed(host.status.map(|s| s.error_message).unwrap_or_default())
    } else {
        stack
            .wait_for_state(NVME, ProvisioningState::Provisioned, STEP)
            .await?;
        NvmeOutcome::Provisioned
    };

    // Power: off and on again by spec.online, a reboot by annotation.
    stack
        .patch_spec("up-rf-0", json!({"online": false}))
        .await?;
    stack.wait_for_machine_power("up-rf-0", "Off", STEP).await?;
    stack.wait_powered_on("up-rf-0", false).await?;
    stack.patch_spec("up-rf-0", json!({"online": true})).await?;
    stack.wait_for_machine_power("up-rf-0", "On", STEP).await?;
    stack.wait_powered_on("up-rf-0", true).await?;
    stack.reboot("up-vm-0", "").await?;

    // Deprovisioning (the NVMe-only host too, deployed or not).
    for name in life.iter().chain([&NVME.to_owned()]) {
        stack.deprovision(name).await?;
    }
    stack
        .wait_for_state(NVME, ProvisioningState::Available, STEP)
        .await?;
    stack
        .wait_all(&life, ProvisioningState::Available, STEP)
        .await?;

    // Deleting an available host and an externally provisioned one.
    let ns = stack.namespace().to_owned();
    for name in ["up-ipmi-0", EXTERNAL] {
        stack
            .kubectl(&["delete", "bmh", name, "-n", &ns, "--wait=false"])
            .await?;
    }
    stack.wait_gone("up-ipmi-0", STEP).await?;
    stack.wait_gone(EXTERNAL, STEP).await?;

    let remaining = names(&["up-rf-0", "up-vm-0", BAD, NVME]);
    recorder.catch_up(stack, &remaining).await?;
    observed.add_history(&recorder.history());
    observed.add_rows(stack, "at the end").await?;
    observed.add_events(stack).await?;
    Ok((observed.without_host(NVME), nvme))
}

/// Day 2, BIOS settings: a valid change on one host is applied by manual cleaning in
/// `preparing` (the BMC then holds the new values; the HostFirmwareSettings reads them back), and
/// an invalid one on the other is refused by the `Valid` condition and applied nowhere.
async fn firmware_changes(stack: &Stack, observed: &mut Observed) -> anyhow::Result<()> {
    let [changed, refused] = FIRMWARE;
    stack
        .set_firmware_settings(
            changed,
            json!({"PxeRetryCount": 5, "ProcVirtualization": "Disabled"}),
        )
        .await?;
    stack
        .set_firmware_settings(refused, json!({"PxeRetryCount": 11}))
        .await?;
    let settings = |h: &metal_operator::api::HostFirmwareSettings, k: &str| {
        h.status
            .as_ref()
            .and_then(|s| s.settings.get(k).cloned())
            .unwrap_or_default()
    };
    let condition = |h: &metal_operator::api::HostFirmwareSettings, t: &str| {
        h.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.clone())
        })
    };
    stack
        .wait_for_firmware(changed, "the change applied and read back", STEP, |h| {
            settings(h, "PxeRetryCount") == "5"
                && settings(h, "ProcVirtualization") == "Disabled"
                && condition(h, "ChangeDetected").as_deref() == Some("False")
        })
        .await?;
    stack
        .wait_for_state(changed, ProvisioningState::Available, STEP)
        .await?;
    let bios = stack.bmc_bios(changed).await?;
    anyhow::ensure!(
        bios["PxeRetryCount"] == 5 && bios["ProcVirtualization"] == "Disabled",
        "{changed}'s BMC does not hold the new settings: {bios}"
    );
    stack
        .wait_for_firmware(refused, "the change refused", STEP, |h| {
            condition(h, "Valid").as_deref() == Some("False")
        })
        .await?;
    let bios = stack.bmc_bios(refused).await?;
    anyhow::ensure!(
        bios["PxeRetryCount"] == 3,
        "{refused}'s BMC was changed by a refused setting: {bios}"
    );
    for name in FIRMWARE {
        observed
            .add_firmware(stack, name, "after the changes")
            .await?;
    }
    Ok(())
}

/// Seed 1's BareMetalHost (no `spec.online`) against upstream's CRD: refused, naming the field
/// (ours accepts it and defaults `online` to false — docs/upstream-differences.md, "Kept").
async fn seed_one_yaml_is_refused_by_upstreams_crd(state: &RealState) -> anyhow::Result<()> {
    let host = metal_testkit::hosts::Bmh::new("seed-one")
        .namespace("default")
        .bmc("redfish://127.0.0.1:1/redfish/v1/Systems/1", "seed-one-bmc")
        .without("/spec/online")
        .json();
    let refused = metal_e2e::kubectl::kubectl(
        &state.admin_kubeconfig,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&host.to_string()),
    )
    .await;
    let message = match refused {
        Ok(out) => anyhow::bail!("upstream's CRD accepted a host without spec.online: {out}"),
        Err(e) => format!("{e:#}"),
    };
    anyhow::ensure!(
        message.contains("spec.online") && message.contains("Required value"),
        "upstream's CRD refused a host without spec.online, but not for that: {message}"
    );
    Ok(())
}

/// Prints what each operator showed, side by side; `against` names the Ironic ("" for the mock).
fn report(bmo: &Bmo, against: &str, ours: (&Observed, Duration), upstream: (&Observed, Duration)) {
    let one = |label: String, (observed, wall): (&Observed, Duration)| {
        let mut out = format!("--- {label} ({:.1} s wall)\n", wall.as_secs_f64());
        for (aspect, value) in &observed.aspects {
            out.push_str(&format!(
                "  {aspect}:\n    {}\n",
                value.replace('\n', "\n    ")
            ));
        }
        out
    };
    eprintln!(
        "{}{}",
        one(format!("our operator{against}"), ours),
        one(format!("upstream BMO {}{against}", bmo.version), upstream)
    );
}

/// Fails on every difference not in [`KNOWN`]; prints the known ones that showed.
fn judge(ours: &Observed, upstream: &Observed) -> anyhow::Result<()> {
    let found = differences(ours, upstream);
    let mut unknown = Vec::new();
    for d in &found {
        match KNOWN.iter().find(|k| k.matches(d)) {
            Some(k) => eprintln!("known difference, {}: {}", d.aspect, k.reason()),
            None => unknown.push(format!(
                "{}:\n    ours:     {}\n    upstream: {}",
                d.aspect,
                d.ours.replace('\n', "\n              "),
                d.upstream.replace('\n', "\n              ")
            )),
        }
    }
    anyhow::ensure!(
        unknown.is_empty(),
        "{} difference(s) between our operator and upstream BMO that are neither fixed nor listed \
         in docs/upstream-differences.md (and KNOWN in tests/upstream_bmo.rs):\n  {}",
        unknown.len(),
        unknown.join("\n  ")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_bmo_and_ours_show_a_user_the_same_hosts_on_the_mock_ironic() -> anyhow::Result<()>
{
    let Some((plane, state, bmo)) = upstream_cluster("upstream_bmo (mock Ironic)").await? else {
        return Ok(());
    };
    seed_one_yaml_is_refused_by_upstreams_crd(&state).await?;
    let run = |name: &'static str, operator: OperatorUnderTest| {
        let state = state.clone();
        async move {
            let started = Instant::now();
            let upstream = matches!(operator, OperatorUnderTest::Bmo(_));
            let stack =
                Stack::start(Setup::new(name, FLEET).on_cluster(state).operator(operator)).await?;
            // On failure the stack is dropped unfinished, which dumps its hosts and logs.
            let observed = story(&stack, upstream).await?;
            stack.finish().await;
            anyhow::Ok((observed, started.elapsed()))
        }
    };
    let (ours, upstream) = tokio::join!(
        run("cmp-ours", OperatorUnderTest::Ours),
        run("cmp-bmo", OperatorUnderTest::Bmo(bmo.clone()))
    );
    let ((ours, ours_nvme), ours_wall) = ours?;
    let ((upstream, upstream_nvme), upstream_wall) = upstream?;
    report(&bmo, "", (&ours, ours_wall), (&upstream, upstream_wall));
    eprintln!(
        "NVMe-only host {NVME}: ours {ours_nvme:?}; upstream {upstream_nvme:?} \
         (docs/upstream-differences.md, \"Kept\": hardware profiles)"
    );
    drop(plane);
    // The one difference the story provokes on purpose: upstream's implicit /dev/sda hint.
    anyhow::ensure!(
        matches!(ours_nvme, NvmeOutcome::Provisioned),
        "ours should deploy the NVMe-only host: {ours_nvme:?}"
    );
    match &upstream_nvme {
        NvmeOutcome::Failed(message) if message.contains("No suitable device") => {}
        other => anyhow::bail!(
            "upstream BMO should fail to deploy the NVMe-only host for its /dev/sda hint \
             (if it no longer does, remove the item from docs/upstream-differences.md): {other:?}"
        ),
    }
    judge(&ours, &upstream)
}

/// The Redfish lifecycle against real Ironic 39, by both operators: the same provisioning states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_bmo_and_ours_take_a_redfish_host_through_real_ironic_alike() -> anyhow::Result<()>
{
    let Some((plane, state, bmo)) = upstream_cluster("upstream_bmo (real Ironic)").await? else {
        return Ok(());
    };
    // One real Ironic per operator: both register the same fleet, whose MACs one Ironic would
    // refuse the second time ("MAC address … conflicts with existing node").
    let Some(real_ours) = RealIronic::start().await? else {
        return Ok(());
    };
    let Some(real_bmo) = RealIronic::start().await? else {
        return Ok(());
    };
    let run = |name: &'static str, operator: OperatorUnderTest, real: &RealIronic| {
        let state = state.clone();
        let (url, deploy) = (real.url().to_owned(), real.deploy_base().to_owned());
        async move {
            let started = Instant::now();
            let stack = Stack::start(
                Setup::new(name, FLEET)
                    .on_cluster(state)
                    .operator(operator)
                    .external_ironic(&url)
                    .deploy_images(&deploy),
            )
            .await?;
            let recorder = Recorder::start(stack.client(), stack.namespace());
            let name = "up-rf-0";
            stack.register(&[host(&stack, name)?], true).await?;
            stack
                .wait_for_state(name, ProvisioningState::Available, STEP)
                .await?;
            stack.provision(name).await?;
            stack
                .wait_for_state(name, ProvisioningState::Provisioned, STEP)
                .await?;
            stack.deprovision(name).await?;
            stack
                .wait_for_state(name, ProvisioningState::Available, STEP)
                .await?;
            recorder.catch_up(&stack, &names(&[name])).await?;
            let mut observed = Observed::default();
            observed.add_history(&recorder.history());
            observed.add_hardware(&stack, name).await?;
            observed.add_events(&stack).await?;
            stack.finish().await;
            anyhow::Ok((observed, started.elapsed()))
        }
    };
    // At once, each with its own Ironic.
    let (ours, upstream) = tokio::join!(
        run("rcmp-ours", OperatorUnderTest::Ours, &real_ours),
        run("rcmp-bmo", OperatorUnderTest::Bmo(bmo.clone()), &real_bmo)
    );
    let (ours, ours_wall) = ours?;
    let (upstream, upstream_wall) = upstream?;
    report(
        &bmo,
        ", real Ironic",
        (&ours, ours_wall),
        (&upstream, upstream_wall),
    );
    drop(real_ours);
    drop(real_bmo);
    drop(plane);
    judge(&ours, &upstream)
}
