//! A node's cached firmware components, as Ironic 39 keeps them for a node whose firmware
//! interface is `redfish`: read from the BMC when the node is verified (`bios` from the System's
//! `BiosVersion`, `bmc` from its first Manager's `FirmwareVersion` and `Model`, one `nic:<id>`
//! per NetworkAdapter controller with a `FirmwarePackageVersion`), kept with the version first
//! seen and the last one flashed; shown by `GET /v1/nodes/{id}/firmware` (1.86; the identity
//! fields from 1.114).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::ts;

/// The microversion the firmware API (and the node's `firmware_interface`) appeared in.
pub const FIRMWARE_VERSION: u32 = 86;
/// The microversion that added `vendor`, `model` and `serial_number`.
pub const IDENTITY_VERSION: u32 = 114;

/// The fields a client may ask for with `fields=`, in the order Ironic's schema lists them (its
/// refusal names them in this order).
pub const FIELDS: [&str; 9] = [
    "created_at",
    "updated_at",
    "component",
    "initial_version",
    "current_version",
    "last_version_flashed",
    "vendor",
    "model",
    "serial_number",
];

/// The fields shown by default.
const DEFAULT_FIELDS: [&str; 4] = [
    "component",
    "initial_version",
    "current_version",
    "last_version_flashed",
];

/// The identity fields (1.114).
pub const IDENTITY_FIELDS: [&str; 3] = ["vendor", "model", "serial_number"];

/// One component as the BMC reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedComponent {
    /// `bios`, `bmc` or `nic:<adapter serial or id>`.
    pub component: String,
    pub current_version: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
}

/// One cached component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareComponent {
    pub component: String,
    /// The version seen when the component was first cached.
    pub initial_version: String,
    pub current_version: String,
    /// The version a later read found after a change (Ironic's name for it).
    pub last_version_flashed: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The most NetworkAdapters (and controllers per adapter) read from one BMC.
pub const MAX_ADAPTERS: usize = 64;

/// The components of a Redfish BMC's documents, as Ironic's `cache_firmware_components` reads
/// them through sushy: the System (`BiosVersion`), its first Manager (`FirmwareVersion`,
/// `Model`; `None` when the System names none), and the NetworkAdapter documents of its first
/// Chassis. Empty or missing versions are skipped.
pub fn from_redfish(
    system: &Value,
    manager: Option<&Value>,
    adapters: &[Value],
) -> Vec<ReportedComponent> {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut out = Vec::new();
    if let Some(version) = text(system, "BiosVersion") {
        out.push(ReportedComponent {
            component: "bios".into(),
            current_version: version,
            vendor: None,
            model: None,
            serial_number: None,
        });
    }
    if let Some(m) = manager
        && let Some(version) = text(m, "FirmwareVersion")
    {
        out.push(ReportedComponent {
            component: "bmc".into(),
            current_version: version,
            vendor: None,
            model: text(m, "Model"),
            serial_number: None,
        });
    }
    for adapter in adapters.iter().take(MAX_ADAPTERS) {
        let serial = text(adapter, "SerialNumber");
        let Some(id) = serial.clone().or_else(|| text(adapter, "Id")) else {
            continue;
        };
        let controllers = adapter
            .get("Controllers")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for c in controllers.iter().take(MAX_ADAPTERS) {
            let Some(version) = c
                .pointer("/FirmwarePackageVersion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            out.push(ReportedComponent {
                component: format!("nic:{id}"),
                current_version: version.to_string(),
                vendor: text(adapter, "Manufacturer"),
                model: text(adapter, "Model"),
                serial_number: serial.clone(),
            });
        }
    }
    out
}

/// The cache after a read that reported `reported` at `now`, by Ironic's rule: a new component is
/// created with `initial_version` = `current_version`; a known one whose version (or, once a
/// version was flashed, whose version against the last flashed one) or identity changed is
/// updated — a new version becomes both `current_version` and `last_version_flashed` — and gets
/// `updated_at`; components the BMC no longer reports are kept. `None` when the BMC reported
/// nothing (Ironic: no supported components; the cache stays as it was).
pub fn sync(
    cached: &[FirmwareComponent],
    reported: &[ReportedComponent],
    now: DateTime<Utc>,
) -> Option<Vec<FirmwareComponent>> {
    if reported.is_empty() {
        return None;
    }
    let mut out = cached.to_vec();
    for r in reported {
        match out.iter_mut().find(|c| c.component == r.component) {
            Some(c) => {
                let cv_changed = r.current_version != c.current_version;
                let lvf_changed = c
                    .last_version_flashed
                    .as_ref()
                    .is_some_and(|l| *l != r.current_version);
                let identity_changed = r.vendor != c.vendor
                    || r.model != c.model
                    || r.serial_number != c.serial_number;
                if cv_changed || lvf_changed || identity_changed {
                    if cv_changed {
                        c.last_version_flashed = Some(r.current_version.clone());
                        c.current_version = r.current_version.clone();
                    }
                    c.vendor = r.vendor.clone();
                    c.model = r.model.clone();
                    c.serial_number = r.serial_number.clone();
                    c.updated_at = Some(now);
                }
            }
            None => out.push(FirmwareComponent {
                component: r.component.clone(),
                initial_version: r.current_version.clone(),
                current_version: r.current_version.clone(),
                last_version_flashed: None,
                vendor: r.vendor.clone(),
                model: r.model.clone(),
                serial_number: r.serial_number.clone(),
                created_at: now,
                updated_at: None,
            }),
        }
    }
    Some(out)
}

/// Why a `fields` query is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldsRefusal {
    /// A name not in [`FIELDS`].
    Unknown(String),
    /// Identity fields below 1.114 (sorted, comma-separated).
    TooNew(String),
}

/// The fields a listing shows at microversion `minor`, given the query's `fields`: those asked
/// for, else the default ones of the microversion. (Ironic 39 also declares `detail`, but its
/// query schema types it as a boolean while query values are text, so it refuses every value.)
pub fn shown_fields(minor: u32, fields: Option<&[String]>) -> Result<Vec<String>, FieldsRefusal> {
    if let Some(asked) = fields {
        if let Some(bad) = asked.iter().find(|f| !FIELDS.contains(&f.as_str())) {
            return Err(FieldsRefusal::Unknown(bad.clone()));
        }
        if minor < IDENTITY_VERSION {
            let mut too_new: Vec<&str> = asked
                .iter()
                .map(String::as_str)
                .filter(|f| IDENTITY_FIELDS.contains(f))
                .collect();
            too_new.sort_unstable();
            too_new.dedup();
            if !too_new.is_empty() {
                return Err(FieldsRefusal::TooNew(too_new.join(", ")));
            }
        }
        return Ok(asked.to_vec());
    }
    let mut out: Vec<String> = DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect();
    if minor >= IDENTITY_VERSION {
        out.extend(IDENTITY_FIELDS.iter().map(|f| f.to_string()));
    }
    Ok(out)
}

impl FirmwareComponent {
    fn field(&self, name: &str) -> Value {
        match name {
            "created_at" => ts(Some(self.created_at)),
            "updated_at" => ts(self.updated_at),
            "component" => json!(self.component),
            "initial_version" => json!(self.initial_version),
            "current_version" => json!(self.current_version),
            "last_version_flashed" => json!(self.last_version_flashed),
            "vendor" => json!(self.vendor),
            "model" => json!(self.model),
            "serial_number" => json!(self.serial_number),
            _ => Value::Null,
        }
    }

    /// The document Ironic shows: the times, then `fields` (from [`shown_fields`]).
    pub fn document(&self, fields: &[String]) -> Value {
        let mut d = Map::new();
        for f in ["created_at", "updated_at"]
            .into_iter()
            .chain(fields.iter().map(String::as_str))
        {
            d.insert(f.to_string(), self.field(f));
        }
        Value::Object(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn reported(component: &str, version: &str) -> ReportedComponent {
        ReportedComponent {
            component: component.into(),
            current_version: version.into(),
            vendor: None,
            model: None,
            serial_number: None,
        }
    }

    #[test]
    fn the_bios_the_first_manager_and_each_nic_controller_with_a_version_are_read() {
        let system = json!({"BiosVersion": "U30 v2.54"});
        let manager = json!({"FirmwareVersion": "iLO 5 v2.72", "Model": "iLO 5"});
        let adapters = [
            json!({"Id": "NIC.1", "SerialNumber": "SN1", "Manufacturer": "Intel", "Model": "X710",
                   "Controllers": [{"FirmwarePackageVersion": "9.1"}]}),
            json!({"Id": "NIC.2", "Controllers": [{"FirmwarePackageVersion": "1.0"}, {}]}),
            json!({"Id": "NIC.3", "Controllers": [{"FirmwarePackageVersion": ""}]}),
        ];
        let got = from_redfish(&system, Some(&manager), &adapters);
        let names: Vec<&str> = got.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(names, ["bios", "bmc", "nic:SN1", "nic:NIC.2"]);
        assert_eq!(got[1].model.as_deref(), Some("iLO 5"));
        assert_eq!(got[2].vendor.as_deref(), Some("Intel"));
        assert_eq!(got[2].serial_number.as_deref(), Some("SN1"));
        assert_eq!(got[3].serial_number, None);
        assert!(from_redfish(&json!({"BiosVersion": ""}), None, &[]).is_empty());
    }

    #[test]
    fn a_new_component_starts_at_its_initial_version_and_a_flash_moves_current_and_last_flashed() {
        let first = sync(&[], &[reported("bios", "1.0")], at(0)).expect("read");
        assert_eq!(first[0].initial_version, "1.0");
        assert_eq!(first[0].current_version, "1.0");
        assert_eq!(first[0].last_version_flashed, None);
        assert_eq!(first[0].updated_at, None);

        let same = sync(&first, &[reported("bios", "1.0")], at(5)).expect("read");
        assert_eq!(
            same, first,
            "an unchanged read changes nothing, not even the time"
        );

        let flashed = sync(&first, &[reported("bios", "2.0")], at(9)).expect("read");
        assert_eq!(flashed[0].initial_version, "1.0");
        assert_eq!(flashed[0].current_version, "2.0");
        assert_eq!(flashed[0].last_version_flashed.as_deref(), Some("2.0"));
        assert_eq!(flashed[0].updated_at, Some(at(9)));
        assert_eq!(flashed[0].created_at, at(0));
    }

    #[test]
    fn a_component_gone_from_the_bmc_is_kept_and_an_empty_read_leaves_the_cache_alone() {
        let both = sync(&[], &[reported("bios", "1"), reported("bmc", "2")], at(0)).expect("read");
        let later = sync(&both, &[reported("bmc", "2")], at(1)).expect("read");
        assert_eq!(later.len(), 2);
        assert_eq!(sync(&both, &[], at(2)), None);
    }

    #[test]
    fn an_identity_change_alone_updates_the_time_but_not_the_versions() {
        let first = sync(&[], &[reported("bmc", "1")], at(0)).expect("read");
        let mut with_model = reported("bmc", "1");
        with_model.model = Some("BMC".into());
        let got = sync(&first, &[with_model], at(3)).expect("read");
        assert_eq!(got[0].model.as_deref(), Some("BMC"));
        assert_eq!(got[0].last_version_flashed, None);
        assert_eq!(got[0].updated_at, Some(at(3)));
    }

    #[test]
    fn fields_follow_the_microversion_and_unknown_or_too_new_names_are_refused() {
        assert_eq!(shown_fields(86, None).expect("ok").len(), 4);
        assert_eq!(shown_fields(114, None).expect("ok").len(), 7);
        let asked = |s: &[&str]| s.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shown_fields(86, Some(&asked(&["bogus"]))),
            Err(FieldsRefusal::Unknown("bogus".into()))
        );
        assert_eq!(
            shown_fields(113, Some(&asked(&["vendor", "model", "component"]))),
            Err(FieldsRefusal::TooNew("model, vendor".into()))
        );
        assert_eq!(
            shown_fields(114, Some(&asked(&["vendor"]))),
            Ok(asked(&["vendor"]))
        );
        let one = FirmwareComponent {
            component: "bios".into(),
            initial_version: "1".into(),
            current_version: "1".into(),
            last_version_flashed: None,
            vendor: None,
            model: None,
            serial_number: None,
            created_at: at(0),
            updated_at: None,
        };
        let doc = one.document(&asked(&["component"]));
        let mut keys: Vec<&String> = doc.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["component", "created_at", "updated_at"]);
    }
}
