//! A node's target RAID configuration, validated as Ironic 39 validates it
//! (`ironic/common/raid.py` against `drivers/raid_config_schema.json`, then the raid interface's
//! own rule): the schema's errors worded as python-jsonschema words them, the one picked when
//! several apply chosen as its `best_match` does (the shallowest, then the greatest path; inside
//! `anyOf`, the deepest unless two tie), then the root-volume rule.

use serde_json::{Map, Value, json};

use crate::ironic::encoding::python_repr;

/// RAID levels the schema allows.
pub const RAID_LEVELS: [&str; 9] = ["JBOD", "0", "1", "2", "5", "6", "1+0", "5+0", "6+0"];

/// The logical disk properties and their descriptions, in the schema's order
/// (`GET /v1/drivers/{name}/raid/logical_disk_properties`).
pub const LOGICAL_DISK_PROPERTIES: [(&str, &str); 10] = [
    (
        "raid_level",
        "RAID level for the logical disk. Valid values are 'JBOD', '0', '1', '2', '5', '6', '1+0', '5+0' and '6+0'. Required.",
    ),
    (
        "size_gb",
        "Size in GiB (Integer) for the logical disk. Use 'MAX' as size_gb if this logical disk is supposed to use the rest of the space available. Required.",
    ),
    (
        "volume_name",
        "Name of the volume to be created. If this is not specified, it will be auto-generated. Optional.",
    ),
    (
        "is_root_volume",
        "Specifies whether this disk is a root volume. By default, this is False. Optional.",
    ),
    (
        "share_physical_disks",
        "Specifies whether other logical disks can share physical disks with this logical disk. By default, this is False. Optional.",
    ),
    (
        "disk_type",
        "The type of disk preferred. Valid values are 'hdd' and 'ssd'. If this is not specified, disk type will not be a selection criterion for choosing backing physical disks. Optional.",
    ),
    (
        "interface_type",
        "The interface type of disk. Valid values are 'sata', 'scsi' and 'sas'. If this is not specified, interface type will not be a selection criterion for choosing backing physical disks. Optional.",
    ),
    (
        "number_of_physical_disks",
        "Number of physical disks to use for this logical disk. By default, the driver uses the minimum number of disks required for that RAID level. Optional.",
    ),
    (
        "controller",
        "Controller to use for this logical disk. If not specified, the driver will choose a suitable RAID controller on the bare metal node. Optional.",
    ),
    (
        "physical_disks",
        "The physical disks to use for this logical disk. If not specified, the driver will choose suitable physical disks to use. Optional.",
    ),
];

/// The logical disk properties document.
pub fn logical_disk_properties() -> Value {
    Value::Object(
        LOGICAL_DISK_PROPERTIES
            .iter()
            .map(|(k, d)| ((*k).to_string(), json!(d)))
            .collect(),
    )
}

/// One step of an error's path: a property name or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Index(usize),
    Key(&'static str),
}

/// A schema error as jsonschema reports it.
#[derive(Debug, Clone)]
struct SchemaError {
    path: Vec<Seg>,
    /// `anyOf` errors are weak: a sibling error at the same place wins.
    weak: bool,
    /// The instance is of the type the failing subschema declares.
    matches_type: bool,
    message: String,
    /// The errors of each `anyOf` branch.
    context: Vec<SchemaError>,
}

impl SchemaError {
    fn new(path: &[Seg], matches_type: bool, message: String) -> Self {
        SchemaError {
            path: path.to_vec(),
            weak: false,
            matches_type,
            message,
            context: Vec::new(),
        }
    }

    /// jsonschema's `relevance` key; the greatest is the best match.
    fn key(&self) -> (isize, Vec<Seg>, bool, bool) {
        let depth = isize::try_from(self.path.len()).unwrap_or(isize::MAX);
        (-depth, self.path.clone(), !self.weak, !self.matches_type)
    }
}

/// jsonschema's draft-4 type check (booleans are no numbers; `1.0` is no integer).
fn is_type(v: &Value, ty: &str) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => false,
    }
}

fn type_error(path: &[Seg], v: &Value, ty: &str) -> SchemaError {
    SchemaError::new(
        path,
        false,
        format!("{} is not of type '{ty}'", python_repr(v)),
    )
}

fn enum_error(path: &[Seg], v: &Value, allowed: &[&str], ty: &str) -> SchemaError {
    let list: Vec<Value> = allowed.iter().map(|a| json!(a)).collect();
    SchemaError::new(
        path,
        is_type(v, ty),
        format!(
            "{} is not one of {}",
            python_repr(v),
            python_repr(&Value::Array(list))
        ),
    )
}

/// `{"type": ty, "enum": allowed}`: the type error first, then the enum's.
fn typed_enum(path: &[Seg], v: &Value, ty: &str, allowed: &[&str]) -> Vec<SchemaError> {
    let mut out = Vec::new();
    if !is_type(v, ty) {
        out.push(type_error(path, v, ty));
    }
    if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
        out.push(enum_error(path, v, allowed, ty));
    }
    out
}

fn extras_error(path: &[Seg], extras: &mut [&String]) -> SchemaError {
    extras.sort();
    let names: Vec<String> = extras.iter().map(|e| format!("'{e}'")).collect();
    let verb = if names.len() == 1 { "was" } else { "were" };
    SchemaError::new(
        path,
        true,
        format!(
            "Additional properties are not allowed ({} {verb} unexpected)",
            names.join(", ")
        ),
    )
}

fn any_of(path: &[Seg], v: &Value, branches: Vec<Vec<SchemaError>>) -> Vec<SchemaError> {
    if branches.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    vec![SchemaError {
        path: path.to_vec(),
        weak: true,
        matches_type: false,
        message: format!(
            "{} is not valid under any of the given schemas",
            python_repr(v)
        ),
        context: branches.into_iter().flatten().collect(),
    }]
}

fn size_gb(path: &[Seg], v: &Value) -> Vec<SchemaError> {
    let mut integer = Vec::new();
    if !is_type(v, "integer") {
        integer.push(type_error(path, v, "integer"));
    } else if v.as_i64().is_some_and(|n| n < 0) {
        integer.push(SchemaError::new(
            path,
            true,
            format!("{} is less than the minimum of 0", python_repr(v)),
        ));
    }
    let text = typed_enum(path, v, "string", &["MAX"]);
    any_of(path, v, vec![integer, text])
}

fn physical_disks(path: &[Seg], v: &Value) -> Vec<SchemaError> {
    let items_of = |ty: &str| -> Vec<SchemaError> {
        if !is_type(v, "array") {
            return vec![type_error(path, v, "array")];
        }
        v.as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, item)| !is_type(item, ty))
            .map(|(i, item)| {
                let mut p = path.to_vec();
                p.push(Seg::Index(i));
                type_error(&p, item, ty)
            })
            .collect()
    };
    let names = items_of("string");
    let mut objects = items_of("object");
    if let Some(a) = v.as_array().filter(|a| a.len() < 2) {
        let what = if a.is_empty() {
            "should be non-empty".to_string()
        } else {
            "is too short".to_string()
        };
        objects.push(SchemaError::new(
            path,
            true,
            format!("{} {what}", python_repr(v)),
        ));
    }
    // Branch errors are judged relative to the `anyOf`'s place.
    let relative = |mut errs: Vec<SchemaError>| {
        for e in &mut errs {
            e.path.drain(..path.len());
        }
        errs
    };
    let mut out = any_of(path, v, vec![relative(names), relative(objects)]);
    // The top-level error keeps its place; its context, relative paths.
    for e in &mut out {
        e.path = path.to_vec();
    }
    out
}

fn logical_disk(path: &[Seg], v: &Value) -> Vec<SchemaError> {
    let Some(disk) = v.as_object() else {
        return vec![type_error(path, v, "object")];
    };
    let mut out = Vec::new();
    let at = |k: &'static str| {
        let mut p = path.to_vec();
        p.push(Seg::Key(k));
        p
    };
    for (name, _) in LOGICAL_DISK_PROPERTIES {
        let Some(x) = disk.get(name) else { continue };
        let p = at(name);
        match name {
            "raid_level" => out.extend(typed_enum(&p, x, "string", &RAID_LEVELS)),
            "size_gb" => out.extend(size_gb(&p, x)),
            "volume_name" | "controller" if !is_type(x, "string") => {
                out.push(type_error(&p, x, "string"));
            }
            "is_root_volume" | "share_physical_disks" if !is_type(x, "boolean") => {
                out.push(type_error(&p, x, "boolean"));
            }
            "disk_type" => out.extend(typed_enum(&p, x, "string", &["hdd", "ssd"])),
            "interface_type" => out.extend(typed_enum(&p, x, "string", &["sata", "scsi", "sas"])),
            "number_of_physical_disks" => {
                if !is_type(x, "integer") {
                    out.push(type_error(&p, x, "integer"));
                } else if x.as_i64().is_some_and(|n| n <= 0) {
                    out.push(SchemaError::new(
                        &p,
                        true,
                        format!(
                            "{} is less than or equal to the minimum of 0",
                            python_repr(x)
                        ),
                    ));
                }
            }
            "physical_disks" => out.extend(physical_disks(&p, x)),
            _ => {}
        }
    }
    for required in ["raid_level", "size_gb"] {
        if !disk.contains_key(required) {
            out.push(SchemaError::new(
                path,
                true,
                format!("'{required}' is a required property"),
            ));
        }
    }
    let mut extras: Vec<&String> = disk
        .keys()
        .filter(|k| !LOGICAL_DISK_PROPERTIES.iter().any(|(p, _)| p == k))
        .collect();
    if !extras.is_empty() {
        out.push(extras_error(path, &mut extras));
    }
    if disk.contains_key("physical_disks") && !disk.contains_key("controller") {
        out.push(SchemaError::new(
            path,
            true,
            "'controller' is a dependency of 'physical_disks'".into(),
        ));
    }
    out
}

fn schema_errors(config: &Map<String, Value>) -> Vec<SchemaError> {
    let mut out = Vec::new();
    if let Some(disks) = config.get("logical_disks") {
        let p = [Seg::Key("logical_disks")];
        match disks.as_array() {
            None => out.push(type_error(&p, disks, "array")),
            Some(list) => {
                for (i, d) in list.iter().enumerate() {
                    out.extend(logical_disk(&[Seg::Key("logical_disks"), Seg::Index(i)], d));
                }
                if list.is_empty() {
                    out.push(SchemaError::new(&p, true, "[] should be non-empty".into()));
                }
            }
        }
    } else {
        out.push(SchemaError::new(
            &[],
            true,
            "'logical_disks' is a required property".into(),
        ));
    }
    let mut extras: Vec<&String> = config.keys().filter(|k| *k != "logical_disks").collect();
    if !extras.is_empty() {
        out.push(extras_error(&[], &mut extras));
    }
    out
}

/// jsonschema's `best_match`: the most relevant error (the first of equals), then down an
/// `anyOf`'s context to the least relevant branch error unless two tie.
fn best_match(errors: Vec<SchemaError>) -> Option<SchemaError> {
    let mut best: Option<SchemaError> = None;
    for e in errors {
        if best.as_ref().is_none_or(|b| e.key() > b.key()) {
            best = Some(e);
        }
    }
    let mut best = best?;
    while !best.context.is_empty() {
        let mut ctx = best.context.clone();
        ctx.sort_by_key(SchemaError::key);
        if ctx.len() >= 2 && ctx[0].key() == ctx[1].key() {
            return Some(best);
        }
        best = ctx.swap_remove(0);
    }
    Some(best)
}

/// Validates a target RAID configuration for a node whose raid interface is `raid_interface`;
/// the error is the text of Ironic's `InvalidParameterValue`.
pub fn validate_target(config: &Map<String, Value>, raid_interface: &str) -> Result<(), String> {
    if let Some(e) = best_match(schema_errors(config)) {
        return Err(format!("RAID config validation error: {}", e.message));
    }
    let disks = config
        .get("logical_disks")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let roots = disks
        .iter()
        .filter(|d| d.get("is_root_volume") == Some(&Value::Bool(true)))
        .count();
    if roots > 1 {
        return Err(format!(
            "Raid config cannot have more than one root volume. {roots} root volumes were specified"
        ));
    }
    if raid_interface == "redfish"
        && disks
            .iter()
            .any(|d| d.get("interface_type").and_then(Value::as_str) == Some("scsi"))
    {
        return Err("interface type `scsi` not supported by Redfish RAID".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case's text is what python-jsonschema 4.26 (Ironic 39's) answers for it.
    #[test]
    fn schema_errors_read_as_jsonschema_words_and_picks_them() {
        let cases = [
            (json!({}), "'logical_disks' is a required property"),
            (json!({"logical_disks": []}), "[] should be non-empty"),
            (json!({"logical_disks": "x"}), "'x' is not of type 'array'"),
            (json!({"foo": 1}), "'logical_disks' is a required property"),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1"}], "foo": 1, "bar": 2}),
                "Additional properties are not allowed ('bar', 'foo' were unexpected)",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10}]}),
                "'raid_level' is a required property",
            ),
            (
                json!({"logical_disks": [{"raid_level": "1"}]}),
                "'size_gb' is a required property",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "7"}]}),
                "'7' is not one of ['JBOD', '0', '1', '2', '5', '6', '1+0', '5+0', '6+0']",
            ),
            (
                json!({"logical_disks": [{"size_gb": "big", "raid_level": "1"}]}),
                "'big' is not one of ['MAX']",
            ),
            (
                json!({"logical_disks": [{"size_gb": -1, "raid_level": "1"}]}),
                "-1 is less than the minimum of 0",
            ),
            (
                json!({"logical_disks": [{"size_gb": 1.5, "raid_level": "1"}]}),
                "1.5 is not valid under any of the given schemas",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": 1}]}),
                "1 is not of type 'string'",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "is_root_volume": "yes"}]}),
                "'yes' is not of type 'boolean'",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "disk_type": "nvme"}]}),
                "'nvme' is not one of ['hdd', 'ssd']",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "number_of_physical_disks": 0}]}),
                "0 is less than or equal to the minimum of 0",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "physical_disks": ["a"]}]}),
                "'controller' is a dependency of 'physical_disks'",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "physical_disks": [{"a": 1}], "controller": "c"}]}),
                "{'a': 1} is not of type 'string'",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "physical_disks": [1, 2], "controller": "c"}]}),
                "[1, 2] is not valid under any of the given schemas",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "bogus": 1}]}),
                "Additional properties are not allowed ('bogus' was unexpected)",
            ),
            (
                json!({"logical_disks": ["x"]}),
                "'x' is not of type 'object'",
            ),
            (
                json!({"logical_disks": [{"size_gb": "big", "raid_level": "7"}]}),
                "'big' is not one of ['MAX']",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "7", "bogus": 1}]}),
                "Additional properties are not allowed ('bogus' was unexpected)",
            ),
            (
                json!({"logical_disks": [{"raid_level": "7"}]}),
                "'size_gb' is a required property",
            ),
            (
                json!({"logical_disks": [{"size_gb": 10, "raid_level": "1"}, {"size_gb": 10}]}),
                "'raid_level' is a required property",
            ),
            (
                json!({"logical_disks": [{"size_gb": true, "raid_level": "1"}]}),
                "True is not valid under any of the given schemas",
            ),
        ];
        for (config, want) in cases {
            let got = validate_target(config.as_object().expect("object"), "redfish");
            assert_eq!(
                got,
                Err(format!("RAID config validation error: {want}")),
                "{config}"
            );
        }
    }

    #[test]
    fn two_root_volumes_and_scsi_on_redfish_are_refused_after_the_schema() {
        let two = json!({"logical_disks": [
            {"size_gb": 10, "raid_level": "1", "is_root_volume": true},
            {"size_gb": "MAX", "raid_level": "0", "is_root_volume": true},
        ]});
        assert_eq!(
            validate_target(two.as_object().expect("object"), "redfish"),
            Err(
                "Raid config cannot have more than one root volume. 2 root volumes were specified"
                    .into()
            )
        );
        let scsi = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "interface_type": "scsi"}]});
        let scsi = scsi.as_object().expect("object");
        assert_eq!(
            validate_target(scsi, "redfish"),
            Err("interface type `scsi` not supported by Redfish RAID".into())
        );
        assert_eq!(validate_target(scsi, "agent"), Ok(()));
    }
}
