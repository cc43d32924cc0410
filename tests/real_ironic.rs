//! The operator must not know whether it talks to real Ironic or to ours. The real operator binary
//! drives the same fleet (`fleets/real-ironic.yaml`: a Redfish and an IPMI server) through register →
//! inspect → available → provision (image served on loopback with its sha256sum file) → provisioned →
//! deprovision → available twice, at once: against real Ironic 39 (standalone, `metal-sim serve
//! --ironic-url`, no mock) and against the mock Ironic. A watch on the BareMetalHosts records the distinct
//! (`status.provisioning.state`, `operationalStatus`, `errorType`) each host goes through; the two
//! runs must give the same sequences. Real Ironic is slow (deploy and cleaning take tens of seconds),
//! so the deadlines are generous and nothing is timed; each run's wall time is printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use metal_e2e::compare::{Recorder, Snapshot};
use metal_e2e::ironic_real::RealIronic;
use metal_e2e::{Setup, Stack, external_cluster};
use metal_operator::api::ProvisioningState;

/// Deadline of each step (real Ironic deploys and cleans in tens of seconds; this is a ceiling).
const STEP: Duration = Duration::from_secs(300);
const FLEET: &str = "fleets/real-ironic.yaml";

/// One distinct status a host showed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    state: String,
    operational: String,
    error: String,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.state, self.operational)?;
        if !self.error.is_empty() {
            write!(f, "/{}", self.error)?;
        }
        Ok(())
    }
}

/// Each host's distinct statuses, in the order a watch delivered them.
type Sequences = BTreeMap<String, Vec<Seen>>;

/// What the recorder saw, reduced to (state, operationalStatus, errorType), runs collapsed.
fn sequences(history: &BTreeMap<String, Vec<Snapshot>>) -> Sequences {
    history
        .iter()
        .map(|(name, snaps)| {
            let mut seq: Vec<Seen> = Vec::new();
            for s in snaps.iter().filter(|s| !s.state.is_empty()) {
                let seen = Seen {
                    state: s.state.clone(),
                    operational: s.operational.clone(),
                    error: s.error_type.clone(),
                };
                if seq.last() != Some(&seen) {
                    seq.push(seen);
                }
            }
            (name.clone(), seq)
        })
        .collect()
}

/// Register → available → provision → provisioned → deprovision → available for every host of the
/// fleet (in parallel); returns what the watch saw.
async fn lifecycle(stack: &Stack) -> anyhow::Result<Sequences> {
    let recorder = Recorder::start(stack.client(), stack.namespace());
    let names: Vec<String> = stack.hosts().iter().map(|h| h.name.clone()).collect();
    stack.register_all().await?;
    stack
        .wait_all(&names, ProvisioningState::Available, STEP)
        .await?;
    for name in &names {
        stack.provision(name).await?;
    }
    stack
        .wait_all(&names, ProvisioningState::Provisioned, STEP)
        .await?;
    for name in &names {
        // Ground truth from the simulator: the machine booted the image from its disk.
        let machine = stack.wait_for_machine_power(name, "On", STEP).await?;
        let outcome = machine.last_boot.map(|b| b.outcome).unwrap_or_default();
        anyhow::ensure!(
            outcome["kind"] == "Disk" && outcome["image"] == stack.image().url.as_str(),
            "{name} should run the image from its disk; its last boot was {outcome}"
        );
    }
    for name in &names {
        stack.deprovision(name).await?;
    }
    stack
        .wait_all(&names, ProvisioningState::Available, STEP)
        .await?;
    // The last status write may still be on its way to the watch.
    recorder.catch_up(stack, &names).await?;
    Ok(sequences(&recorder.history()))
}

fn show(sequences: &Sequences) -> String {
    sequences
        .iter()
        .map(|(name, seq)| {
            let steps: Vec<String> = seq.iter().map(ToString::to_string).collect();
            format!("  {name}: {}", steps.join(" → "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_drives_hosts_through_the_same_states_against_real_ironic_and_the_mock()
-> anyhow::Result<()> {
    if external_cluster() {
        eprintln!("SKIP: real Ironic runs only in embedded mode (E2E_KUBECONFIG is set)");
        return Ok(());
    }
    let Some(real) = RealIronic::start().await? else {
        return Ok(());
    };

    // The two runs are independent stacks on their own loopback subnets: play them at once (the
    // run against real Ironic mostly waits on it).
    let against_real_ironic = async {
        let started = Instant::now();
        let stack = Stack::start(
            Setup::new("real-ironic", FLEET)
                .external_ironic(real.url())
                .deploy_images(real.deploy_base()),
        )
        .await?;
        // On failure the stack is dropped unfinished, which dumps its hosts and logs.
        let sequences = lifecycle(&stack).await?;
        let mut names: Vec<String> = stack.hosts().iter().map(|h| h.name.clone()).collect();
        names.sort();
        stack.finish().await;
        anyhow::Ok((sequences, names, started.elapsed()))
    };
    let against_the_mock = async {
        let started = Instant::now();
        let stack = Stack::start(Setup::new("real-vs-mock", FLEET)).await?;
        let sequences = lifecycle(&stack).await?;
        stack.finish().await;
        anyhow::Ok((sequences, started.elapsed()))
    };
    let (real_run, mock_run) = tokio::join!(against_real_ironic, against_the_mock);
    drop(real);
    let (against_real, names, real_wall) = real_run?;
    let (against_mock, mock_wall) = mock_run?;

    eprintln!(
        "against real Ironic ({:.1} s wall):\n{}\nagainst the mock Ironic ({:.1} s wall):\n{}",
        real_wall.as_secs_f64(),
        show(&against_real),
        mock_wall.as_secs_f64(),
        show(&against_mock)
    );
    // The story happened at all (a watch that saw nothing would compare equal), in this order.
    let story = [
        "registering",
        "inspecting",
        "available",
        "provisioning",
        "provisioned",
        "deprovisioning",
        "available",
    ];
    for (name, seq) in &against_real {
        let mut states = seq.iter().map(|s| s.state.as_str());
        let missing: Vec<&str> = story
            .iter()
            .copied()
            .filter(|step| !states.any(|s| s == *step))
            .collect();
        assert!(
            missing.is_empty(),
            "{name} skipped {missing:?} of {story:?}: {seq:?}"
        );
        assert!(
            seq.iter().all(|s| s.error.is_empty()),
            "{name} had an error: {seq:?}"
        );
    }
    assert_eq!(against_real.keys().cloned().collect::<Vec<_>>(), names);
    assert_eq!(against_mock.keys().cloned().collect::<Vec<_>>(), names);
    assert_eq!(
        against_real, against_mock,
        "the BareMetalHost state sequences differ between real Ironic and the mock"
    );
    Ok(())
}
