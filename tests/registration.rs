//! Seed 1's bulk registration, end to end: a user applies the Secrets and BareMetalHosts of a Redfish
//! server, a GPU server (Redfish virtual media) and an IPMI box in one YAML; the real operator
//! registers and inspects them through the mock Ironic and the fake BMCs, and each ends `available`
//! with its labels and the hardware the simulated machine really has.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use metal_e2e::{Setup, Stack};
use metal_operator::api::{HardwareData, OperationalStatus, ProvisioningState};

const REGISTRATION: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_registration_makes_every_host_available_with_its_labels_and_real_hardware()
-> anyhow::Result<()> {
    let stack = Stack::start(Setup::new("registration", "fleets/e2e-registration.yaml")).await?;
    let applied = stack.register_all().await?;
    for host in stack.hosts() {
        anyhow::ensure!(
            applied.contains(&format!("baremetalhost.metal3.io/{} created", host.name))
                && applied.contains(&format!("secret/{} created", host.secret_name())),
            "kubectl apply did not create {}: {applied}",
            host.name
        );
    }
    let names: Vec<String> = stack.hosts().iter().map(|h| h.name.clone()).collect();
    stack
        .wait_all(&names, ProvisioningState::Available, REGISTRATION)
        .await?;

    let protocols: Vec<&str> = stack.hosts().iter().map(|h| h.protocol.as_str()).collect();
    assert!(
        protocols.contains(&"redfish") && protocols.contains(&"ipmi"),
        "{protocols:?}"
    );
    let hardware_data = stack.api::<HardwareData>();
    for spec in stack.fleet().fleet.hosts() {
        let bmh = stack.bmhs().get(&spec.name).await?;
        let status = bmh.status.clone().expect("an available host has a status");
        assert_eq!(
            status.operational_status,
            OperationalStatus::Ok,
            "{}",
            spec.name
        );
        assert_eq!(
            bmh.metadata.labels.as_ref(),
            Some(&spec.labels),
            "{}: labels",
            spec.name
        );
        let history = status.operation_history.clone().unwrap_or_default();
        for (what, op) in [
            ("register", &history.register),
            ("inspect", &history.inspect),
        ] {
            assert!(
                op.as_ref().is_some_and(|m| m.end.is_some()),
                "{}: {what} is not recorded as finished: {history:?}",
                spec.name
            );
        }
        let good = status
            .good_credentials
            .as_ref()
            .and_then(|c| c.credentials.as_ref());
        assert_eq!(
            good.and_then(|r| r.name.as_deref()),
            Some(format!("{}-bmc-secret", spec.name).as_str()),
            "{}: goodCredentials",
            spec.name
        );
        // The BMC Secret is still there (and now owned by the host's finalizer logic, not deleted).
        stack
            .api::<Secret>()
            .get(&format!("{}-bmc-secret", spec.name))
            .await?;

        let hw = status
            .hardware
            .unwrap_or_else(|| panic!("{}: no status.hardware", spec.name));
        let machine = &spec.profile;
        assert_eq!(
            hw.system_vendor.as_ref().map(|v| v.serial_number.as_str()),
            Some(machine.system.serial.as_str()),
            "{}: serial number",
            spec.name
        );
        assert_eq!(
            hw.ram_mebibytes,
            i64::try_from(machine.memory.total_mib)?,
            "{}: RAM",
            spec.name
        );
        let boot_mac = machine.boot_mac().expect("every e2e profile has a PXE NIC");
        assert!(
            hw.nics.iter().any(|n| n.mac.eq_ignore_ascii_case(boot_mac)),
            "{}: boot NIC {boot_mac} not among {:?}",
            spec.name,
            hw.nics.iter().map(|n| &n.mac).collect::<Vec<_>>()
        );
        assert_eq!(hw.gpus.len(), machine.gpu_count(), "{}: GPUs", spec.name);
        assert_eq!(
            hw.cpu.as_ref().map(|c| c.arch.as_str()),
            Some(machine.cpu.arch.as_str()),
            "{}: CPU architecture",
            spec.name
        );

        // HardwareData carries the same inventory.
        let data = hardware_data.get(&spec.name).await?;
        let recorded = data.spec.hardware.expect("HardwareData.spec.hardware");
        assert_eq!(recorded.ram_mebibytes, hw.ram_mebibytes, "{}", spec.name);
        assert_eq!(recorded.gpus.len(), hw.gpus.len(), "{}", spec.name);
    }
    let gpu = stack.host("reg-gpu-0")?;
    assert_eq!(gpu.profile, "gpu");
    let gpus = stack.fleet().fleet.hosts()[1].profile.gpu_count();
    assert_eq!(gpus, 4, "the GPU server of the e2e fleet has 4 GPUs");

    // Seed 1 picks servers by their labels, as a user would with kubectl.
    let ns = stack.namespace().to_owned();
    let selected = stack
        .kubectl(&["get", "bmh", "-n", &ns, "-l", "node-type=gpu", "-o", "name"])
        .await?;
    assert_eq!(selected.trim(), "baremetalhost.metal3.io/reg-gpu-0");
    stack.finish().await;
    Ok(())
}
