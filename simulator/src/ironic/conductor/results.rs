//! What a finished BMC call writes into the node's record: power, the BIOS and firmware
//! caches, boot mode, secure boot and health (with a history event per health change), and the
//! inventory of an out-of-band inspection (its NICs' MACs become ports).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::inventory;
use super::{BmcOp, CallResult, DiscoveredPort, history_uuid};
use crate::ironic::model::bmc_status::health_change_event;
use crate::ironic::model::{HistoryEvent, InventoryRecord, Node, record_history};

/// What the conductor keeps besides the node record.
#[derive(Default)]
pub(super) struct Recorded {
    /// The BIOS attributes just read (a BIOS step checks its values against them).
    pub bios_read: Option<Map<String, Value>>,
    /// Ports to create for the MACs an out-of-band inspection found.
    pub discovered: Vec<DiscoveredPort>,
}

/// Writes `result` of `op` into node `uuid`'s record `n`.
pub(super) fn record(
    n: &mut Node,
    uuid: Uuid,
    op: &BmcOp,
    result: CallResult,
    now: DateTime<Utc>,
) -> Recorded {
    let mut out = Recorded::default();
    match (op, result) {
        (_, CallResult::Power(p)) => n.power_state = Some(p),
        (
            _,
            CallResult::Bios {
                attributes,
                registry,
            },
        ) => {
            out.bios_read = Some(attributes.clone());
            n.bios = crate::ironic::model::bios::refresh(&n.bios, &attributes, &registry, now);
        }
        (_, CallResult::Firmware(reported)) => {
            match crate::ironic::model::firmware::sync(&n.firmware, &reported, now) {
                Some(cache) => n.firmware = cache,
                None => tracing::warn!(
                    node = %uuid,
                    "firmware components not cached: the BMC reports none"
                ),
            }
        }
        (
            _,
            CallResult::BootMode {
                boot_mode,
                secure_boot,
            },
        ) => {
            n.misc
                .insert("boot_mode".into(), serde_json::json!(boot_mode));
            n.misc
                .insert("secure_boot".into(), serde_json::json!(secure_boot));
        }
        (_, CallResult::Health(health)) => {
            let old = n.misc.get("health").and_then(Value::as_str);
            if let Some(event) = health_change_event(old, health.as_deref()) {
                let record = HistoryEvent {
                    uuid: history_uuid(uuid, n.history.len(), now),
                    created_at: now,
                    severity: "INFO",
                    event_type: "monitoring".into(),
                    event,
                    state: n.provision_state.as_str().to_string(),
                    target_provision_state: n
                        .target_provision_state
                        .map(|t| t.as_str().to_string()),
                    duration_seconds: None,
                };
                record_history(&mut n.history, record);
                n.misc.insert("health".into(), serde_json::json!(health));
            }
        }
        (BmcOp::SetPower(p), _) => n.power_state = Some(p.settled()),
        (BmcOp::SetBootMode(m), _) => {
            n.misc.insert("boot_mode".into(), m.as_str().into());
        }
        (BmcOp::SetSecureBoot(on), _) => {
            n.misc.insert("secure_boot".into(), (*on).into());
        }
        (_, CallResult::System(sys)) => {
            let (inv, macs) = inventory::from_bmc(&sys);
            n.inventory = Some(InventoryRecord::new(&inv));
            out.discovered
                .extend(macs.into_iter().map(|address| DiscoveredPort {
                    node: uuid,
                    address,
                    pxe_enabled: true,
                }));
        }
        _ => {}
    }
    out
}
