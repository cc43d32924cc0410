//! The rules of BIOS settings (HostFirmwareSettings and FirmwareSchema), pure: what Ironic read
//! becomes in the status and the schema, how a wanted setting is checked against the schema, and
//! which settings a manual clean must apply. Used by the firmware-settings controller (status and
//! schema) and by the host state machine (`available` → `preparing` → `apply_configuration`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::firmware::{
    AttributeType, HostFirmwareSettings, HostFirmwareSettingsStatus, SchemaReference, SettingSchema,
};

#[cfg(test)]
mod tests;

/// Condition: the spec asks for a value the host does not have.
pub const CHANGE_DETECTED: &str = "ChangeDetected";
/// Condition: every wanted setting passes the schema.
pub const VALID: &str = "Valid";
/// Reason of a condition that holds without trouble.
pub const REASON_SUCCESS: &str = "Success";
/// Reason of `Valid=False`.
pub const REASON_CONFIGURATION_ERROR: &str = "ConfigurationError";

/// One BIOS setting as Ironic reports it (`GET /v1/nodes/{id}/bios?detail=True`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BiosSetting {
    /// The setting's name.
    pub name: String,
    /// Its current value, as Ironic keeps it (text).
    pub value: String,
    /// Its type and limits from the BMC's registry (empty when the BMC publishes none).
    pub schema: SettingSchema,
}

/// Password settings are never copied out of Ironic, nor set through us.
fn is_password(name: &str, schema: Option<&SettingSchema>) -> bool {
    name.contains("Password")
        || schema.and_then(|s| s.attribute_type) == Some(AttributeType::Password)
}

/// The FirmwareSchema's name for a schema as Ironic gave it: `schema-` and the first eight hex
/// digits of a SHA-256 over every setting's name, type, allowed values, bounds, lengths and
/// read-only flag, sorted. Upstream Metal3 names its schemas the same way, so hosts of the same
/// model share one schema whichever of the two operators created it.
pub fn schema_name(schema: &BTreeMap<String, SettingSchema>) -> String {
    let mut words: Vec<String> = Vec::new();
    for (name, s) in schema {
        words.push(name.clone());
        words.push(
            s.attribute_type
                .map(AttributeType::as_str)
                .unwrap_or("")
                .into(),
        );
        words.extend(s.allowable_values.iter().cloned());
        for n in [s.lower_bound, s.upper_bound, s.min_length, s.max_length]
            .into_iter()
            .flatten()
        {
            words.push(n.to_string());
        }
        if let Some(ro) = s.read_only {
            words.push(ro.to_string());
        }
    }
    words.sort();
    // Upstream hashes the list as Go prints a slice of strings: `[a b c]`.
    let printed = format!("[{}]", words.join(" "));
    let digest = Sha256::digest(printed.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("schema-{hex}")
}

/// What one read of Ironic's BIOS settings gives the status and the schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Current values, password settings left out.
    pub settings: BTreeMap<String, String>,
    /// Every setting's schema as read (the schema's name is hashed over all of them).
    pub schema: BTreeMap<String, SettingSchema>,
}

impl Observed {
    /// Sorts one read of Ironic's BIOS settings.
    pub fn from_ironic(read: &[BiosSetting]) -> Observed {
        let mut out = Observed::default();
        for s in read {
            out.schema.insert(s.name.clone(), s.schema.clone());
            if !is_password(&s.name, Some(&s.schema)) {
                out.settings.insert(s.name.clone(), s.value.clone());
            }
        }
        out
    }

    /// The FirmwareSchema's name.
    pub fn schema_name(&self) -> String {
        schema_name(&self.schema)
    }

    /// The FirmwareSchema's `spec.schema`: every setting but the password ones.
    pub fn published_schema(&self) -> BTreeMap<String, SettingSchema> {
        self.schema
            .iter()
            .filter(|(name, s)| !is_password(name, Some(s)))
            .map(|(name, s)| (name.clone(), s.clone()))
            .collect()
    }
}

/// A wanted value as text (how Ironic reports the current one).
pub fn value_text(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Checks one wanted setting; the error names the setting and says what is wrong.
pub fn validate_setting(
    name: &str,
    value: &IntOrString,
    current: &BTreeMap<String, String>,
    schema: Option<&SettingSchema>,
) -> Result<(), String> {
    let text = value_text(value);
    if is_password(name, schema) {
        return Err(format!("setting {name}: password settings cannot be set"));
    }
    if !current.contains_key(name) {
        return Err(format!("setting {name}: the host has no such setting"));
    }
    let Some(s) = schema else {
        return Ok(());
    };
    if s.read_only == Some(true) {
        return Err(format!("setting {name}: it is read-only"));
    }
    match s.attribute_type {
        Some(AttributeType::Enumeration) => {
            if !s.allowable_values.contains(&text) {
                return Err(format!(
                    "setting {name}: {text:?} is not one of the allowed values [{}]",
                    s.allowable_values.join(", ")
                ));
            }
        }
        Some(AttributeType::Integer) => {
            let n: i64 = match value {
                IntOrString::Int(i) => i64::from(*i),
                IntOrString::String(t) => t.trim().parse().map_err(|_| {
                    format!("setting {name}: {t:?} is not an integer, and an integer is expected")
                })?,
            };
            if let Some(lo) = s.lower_bound.filter(|lo| n < *lo) {
                return Err(format!("setting {name}: {n} is below the minimum {lo}"));
            }
            if let Some(hi) = s.upper_bound.filter(|hi| n > *hi) {
                return Err(format!("setting {name}: {n} is above the maximum {hi}"));
            }
        }
        Some(AttributeType::String) => {
            let len = text.chars().count() as i64;
            if let Some(min) = s.min_length.filter(|m| len < *m) {
                return Err(format!(
                    "setting {name}: {len} characters, fewer than the minimum {min}"
                ));
            }
            if let Some(max) = s.max_length.filter(|m| len > *m) {
                return Err(format!(
                    "setting {name}: {len} characters, more than the maximum {max}"
                ));
            }
        }
        Some(AttributeType::Boolean) => {
            if !matches!(text.as_str(), "true" | "false") {
                return Err(format!(
                    "setting {name}: {text:?} is not a boolean (true or false)"
                ));
            }
        }
        Some(AttributeType::Password) | None => {}
    }
    Ok(())
}

/// The wanted settings whose value differs from the current one, as the arguments of the clean
/// (or service) step `bios.apply_configuration`: `[{"name", "value"}]`, integers as integers, in
/// name order. Empty when nothing differs.
pub fn changes(
    wanted: &BTreeMap<String, IntOrString>,
    current: &BTreeMap<String, String>,
) -> Vec<Value> {
    wanted
        .iter()
        .filter(|(name, value)| current.get(*name) != Some(&value_text(value)))
        .map(|(name, value)| match value {
            IntOrString::Int(i) => json!({"name": name, "value": i}),
            IntOrString::String(s) => json!({"name": name, "value": s}),
        })
        .collect()
}

/// Every problem of the spec against what was read, one line per setting, in name order.
pub fn problems(hfs: &HostFirmwareSettings, observed: &Observed) -> Vec<String> {
    hfs.spec
        .settings
        .iter()
        .filter_map(|(name, value)| {
            validate_setting(name, value, &observed.settings, observed.schema.get(name)).err()
        })
        .collect()
}

/// The new status after a read (`schema` is None when Ironic read no setting), and the
/// problems to report. `lastUpdated` moves only when
/// something else changed, so writing an unchanged status is a no-op.
pub fn status(
    hfs: &HostFirmwareSettings,
    observed: &Observed,
    schema: Option<SchemaReference>,
    now: DateTime<Utc>,
) -> (HostFirmwareSettingsStatus, Vec<String>) {
    let old = hfs.status.clone().unwrap_or_default();
    let now = Time(
        k8s_openapi::jiff::Timestamp::from_second(now.timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    );
    let generation = hfs.metadata.generation;
    let differs = !changes(&hfs.spec.settings, &observed.settings).is_empty();
    let found = if differs {
        problems(hfs, observed)
    } else {
        Vec::new()
    };
    let verdicts = [
        (CHANGE_DETECTED, differs, REASON_SUCCESS, String::new()),
        if found.is_empty() {
            (VALID, true, REASON_SUCCESS, String::new())
        } else {
            (
                VALID,
                false,
                REASON_CONFIGURATION_ERROR,
                format!("Invalid BIOS setting: {}", found.join("; ")),
            )
        },
    ];
    let conditions = verdicts
        .into_iter()
        .map(|(type_, ok, reason, message)| {
            let value = if ok { "True" } else { "False" };
            let since = old
                .conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == value)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: type_.to_owned(),
                status: value.to_owned(),
                reason: reason.to_owned(),
                message,
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect();
    let mut next = HostFirmwareSettingsStatus {
        conditions,
        last_updated: old.last_updated.clone(),
        schema,
        settings: observed.settings.clone(),
    };
    if next != old {
        next.last_updated = Some(now);
    }
    (next, found)
}

/// What the host state machine learns from the host's HostFirmwareSettings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pending {
    /// No HostFirmwareSettings, no wanted change, or a change that does not pass the schema
    /// (the HostFirmwareSettings' `Valid` condition says why).
    #[default]
    Nothing,
    /// Valid wanted changes: preparing must apply them.
    Changes,
    /// The status does not describe the current spec yet (its conditions are from an older
    /// generation, or nothing was read yet); look again soon.
    NotReady(String),
}

/// Reads the conditions the firmware-settings controller wrote, as upstream's host controller
/// does: a change counts only once the conditions describe this generation and say `Valid`.
pub fn pending(hfs: Option<&HostFirmwareSettings>) -> Pending {
    let Some(hfs) = hfs else {
        return Pending::Nothing;
    };
    let Some(status) = hfs.status.as_ref() else {
        return if hfs.spec.settings.is_empty() {
            Pending::Nothing
        } else {
            Pending::NotReady("the settings were not read from Ironic yet".into())
        };
    };
    let find = |t: &str| status.conditions.iter().find(|c| c.type_ == t);
    let Some(changed) = find(CHANGE_DETECTED) else {
        return Pending::Nothing;
    };
    if changed.observed_generation != hfs.metadata.generation {
        return Pending::NotReady(format!(
            "the status describes generation {:?}, the spec is generation {:?}",
            changed.observed_generation, hfs.metadata.generation
        ));
    }
    let valid = find(VALID).is_some_and(|c| c.status == "True");
    if valid && changed.status == "True" {
        Pending::Changes
    } else {
        Pending::Nothing
    }
}

/// True when the host's firmware settings are kept: it is registered with Ironic (a node ID),
/// managed (neither paused nor detached) and not being deleted. Upstream creates the
/// HostFirmwareSettings once registration succeeded, and leaves paused and detached hosts alone.
pub fn serves(host: &crate::api::BareMetalHost) -> bool {
    use crate::api::ProvisioningState as S;
    use crate::api::annotations::{DETACHED, PAUSED};
    let annotations = host.metadata.annotations.as_ref();
    let held = annotations.is_some_and(|a| a.contains_key(PAUSED) || a.contains_key(DETACHED));
    let Some(status) = host.status.as_ref() else {
        return false;
    };
    let registered = !status.provisioning.id.is_empty()
        && !matches!(
            status.provisioning.state,
            S::None | S::Unmanaged | S::Registering | S::Deleting | S::PoweringOffBeforeDelete
        );
    registered && !held && host.metadata.deletion_timestamp.is_none()
}

/// What the last read of a host's settings was made for. Settings are read again when the
/// host's provisioning state or the HostFirmwareSettings' generation changed, or when `period`
/// (upstream: 5 minutes, 1 minute while a change is pending) has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadMark {
    /// The host's provisioning state when read.
    pub state: crate::api::ProvisioningState,
    /// The HostFirmwareSettings' generation when read (None before it exists).
    pub generation: Option<i64>,
    /// When read.
    pub at: DateTime<Utc>,
}

/// True when the settings must be read again (see [`ReadMark`]).
pub fn read_due(last: Option<&ReadMark>, now: &ReadMark, period: chrono::TimeDelta) -> bool {
    match last {
        None => true,
        Some(last) => {
            last.state != now.state
                || last.generation != now.generation
                || now.at - last.at >= period
        }
    }
}
