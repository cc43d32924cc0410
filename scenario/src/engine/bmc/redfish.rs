//! The fake Redfish BMC's answers to the conductor's calls in engine mode: power, boot device,
//! BIOS read and changes, firmware, boot mode, secure boot, health, NMI, the system document.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn redfish(
    target: &RedfishTarget,
    url: &str,
    op: &BmcOp,
    host: &mut HostBmc<'_>,
    now: SimTime,
) -> Result<CallResult, BmcFailure> {
    let method = redfish_method(op);
    let http_error =
        |e: RedfishError, url: &str| BmcFailure::http(method, url, e.status().as_u16(), e);
    let creds = &host.bmc.credentials;
    let authorised = match (&target.username, &target.password) {
        (Some(u), Some(p)) => creds.matches(u, p),
        _ => false,
    };
    if !authorised {
        return Err(http_error(RedfishError::Unauthorized, url));
    }
    match op {
        BmcOp::GetPower => {
            Ok(CallResult::Power(match host.machine.power() {
                metal_sim::machine::PowerState::On
                | metal_sim::machine::PowerState::PoweringOff => NodePower::On,
                metal_sim::machine::PowerState::Off
                | metal_sim::machine::PowerState::PoweringOn => NodePower::Off,
            }))
        }
        BmcOp::GetSystem => Ok(CallResult::System(system_document(host))),
        BmcOp::GetBios => Ok(CallResult::Bios {
            attributes: bios_attributes(host),
            registry: metal_sim::ironic::model::bios::from_redfish_registry(&json!({
                "RegistryEntries": {"Attributes": metal_sim::redfish::registry::attribute_entries(
                    &host.machine.bios().registry
                )}
            })),
        }),
        // The documents the Redfish facade serves for the System and its Manager (the engine's
        // chassis has no NetworkAdapters, as the facade's has none), read by the model's rule.
        BmcOp::GetFirmware => Ok(CallResult::Firmware(
            metal_sim::ironic::model::firmware::from_redfish(
                &json!({"BiosVersion": host.profile.bios.version}),
                Some(&json!({
                    "FirmwareVersion": metal_sim::redfish::bmc_firmware_version(host.profile),
                    "Model": metal_sim::redfish::bmc_model(host.profile),
                })),
                &[],
            ),
        )),
        // The System and SecureBoot documents' fields the facade serves, read by the model's rules.
        BmcOp::GetBootMode => Ok(CallResult::BootMode {
            boot_mode: bmc_status::boot_mode(&json!({
                "Boot": {"BootSourceOverrideMode": host.machine.boot_mode().as_str()}
            }))
            .map(str::to_string),
            secure_boot: bmc_status::secure_boot(
                &json!({"SecureBootEnable": host.machine.secure_boot()}),
            ),
        }),
        BmcOp::GetHealth => Ok(CallResult::Health(
            bmc_status::health(&json!({"Status": {"Health": host
                .faults
                .machine_health(host.profile.disks.len())
                .as_str()}}))
            .map(str::to_string),
        )),
        BmcOp::SetBootMode(mode) => {
            let mode = match mode {
                BootModeTarget::Uefi => BootMode::Uefi,
                BootModeTarget::Bios => BootMode::Legacy,
            };
            host.machine.set_boot_mode(now, mode);
            Ok(CallResult::Done)
        }
        BmcOp::InjectNmi => ResetType::Nmi
            .apply(host.machine, now)
            .map(|_| CallResult::Done)
            .map_err(|e| {
                http_error(
                    RedfishError::ActionNotPossible {
                        action: "ComputerSystem.Reset".into(),
                        reason: e.to_string(),
                    },
                    &format!("{url}/Actions/ComputerSystem.Reset"),
                )
            }),
        // As the facade's PATCH of SecureBoot, after Ironic's checks (no change; UEFI only).
        BmcOp::SetSecureBoot(on) => {
            if host.machine.secure_boot() == *on {
                return Ok(CallResult::Done);
            }
            host.machine
                .set_secure_boot(now, *on)
                .map(|_| CallResult::Done)
                .map_err(|_| {
                    BmcFailure::text(format!(
                        "Redfish exception occurred. Error: Configuring secure boot requires UEFI for node {}",
                        host.node
                    ))
                })
        }
        BmcOp::SetPower(p) => {
            let reset = match p {
                NodePower::On => ResetType::On,
                NodePower::Off => ResetType::ForceOff,
                NodePower::SoftOff => ResetType::GracefulShutdown,
                NodePower::Rebooting => ResetType::ForceRestart,
                NodePower::SoftRebooting => ResetType::GracefulRestart,
            };
            let action_url = format!("{url}/Actions/ComputerSystem.Reset");
            host.power_action(now, |m| reset.apply(m, now))
                .map(|_| CallResult::Done)
                .map_err(|e| {
                    let refusal = match e {
                        MachineError::PoweredOff { .. } | MachineError::InTransition { .. } => {
                            RedfishError::Conflict {
                                reason: e.to_string(),
                            }
                        }
                        other => RedfishError::ActionNotPossible {
                            action: "ComputerSystem.Reset".into(),
                            reason: other.to_string(),
                        },
                    };
                    http_error(refusal, &action_url)
                })
        }
        BmcOp::SetBootDevice(dev) => {
            let (source, mode) = match dev {
                BootDevice::Pxe => (BootSource::Pxe, OverrideMode::Once),
                BootDevice::Disk => (BootSource::Hdd, OverrideMode::Continuous),
            };
            host.machine.set_boot_override(now, source, mode);
            Ok(CallResult::Done)
        }
        BmcOp::PatchBiosSettings(attributes) => {
            // The fake BMC's rule, and sushy's reading of its refusal, as over the wire.
            let settings_url = format!("{url}/Bios/Settings");
            let refused = |e: RedfishError| {
                BmcFailure::sushy(method, &settings_url, e.status().as_u16(), &e.body())
            };
            let changes = metal_sim::redfish::bios::to_bios_values(attributes).map_err(refused)?;
            host.machine
                .patch_bios(now, changes)
                .map_err(|e| refused(metal_sim::redfish::bios::machine_refusal(e)))?;
            Ok(CallResult::Done)
        }
        BmcOp::ResetBios => {
            host.machine.reset_bios_to_defaults(now);
            Ok(CallResult::Done)
        }
    }
}

/// The Bios resource's `Attributes` as the Redfish facade shows them.
fn bios_attributes(host: &HostBmc<'_>) -> serde_json::Map<String, Value> {
    host.machine
        .bios()
        .current
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

/// The fields of the Redfish ComputerSystem document the conductor reads when inspecting.
fn system_document(host: &HostBmc<'_>) -> Value {
    let p = host.profile;
    // Memory sizes are far below 2^52 MiB, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let memory_gib = p.memory.total_mib as f64 / 1024.0;
    json!({
        "Id": host.bmc.system_id,
        "Name": host.name,
        "UUID": p.system.uuid.to_string(),
        "Manufacturer": p.system.vendor,
        "Model": p.system.model,
        "SerialNumber": p.system.serial,
        "SKU": p.system.sku,
        "PowerState": host.machine.power().as_str(),
        "ProcessorSummary": {
            "Count": p.cpu.count,
            "CoreCount": p.cpu.count.saturating_mul(p.cpu.cores),
            "LogicalProcessorCount": p.cpu_threads(),
            "Model": p.cpu.model,
        },
        "MemorySummary": {"TotalSystemMemoryGiB": memory_gib},
    })
}
