//! CustomResourceDefinitions: turning a CRD object into served resources, and the structural
//! schema's pruning, defaulting and validation of custom objects.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::builtin::FieldError;
use super::resource::{Column, Resource, ScalePaths};

/// A CRD that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("CustomResourceDefinition {name}: {reason}")]
pub struct CrdError {
    pub name: String,
    pub reason: String,
}

fn s(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The resources (one per served version) a CRD object defines.
pub fn resources(crd: &Value) -> Result<Vec<Resource>, CrdError> {
    let name = s(crd.pointer("/metadata/name"));
    let err = |reason: &str| CrdError {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let spec = crd.get("spec").ok_or_else(|| err("spec is required"))?;
    let group = s(spec.get("group"));
    let names = spec
        .get("names")
        .ok_or_else(|| err("spec.names is required"))?;
    let plural = s(names.get("plural"));
    let kind = s(names.get("kind"));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(err(
            "spec.group, spec.names.plural and spec.names.kind are required",
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(err(
            "metadata.name must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let singular = match s(names.get("singular")) {
        x if x.is_empty() => kind.to_lowercase(),
        x => x,
    };
    let namespaced = match s(spec.get("scope")).as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        _ => return Err(err("spec.scope must be Namespaced or Cluster")),
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| err("spec.versions is required"))?;
    let mut out = Vec::new();
    for v in versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let version = s(v.get("name"));
        if version.is_empty() {
            return Err(err("every version needs a name"));
        }
        let schema = v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new);
        let sub = v.get("subresources");
        let scale = sub.and_then(|s| s.get("scale")).map(|sc| ScalePaths {
            spec_replicas: s(sc.get("specReplicasPath")),
            status_replicas: s(sc.get("statusReplicasPath")),
            label_selector: sc
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let mut columns: Vec<Column> = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| Column {
                        name: s(c.get("name")),
                        type_: s(c.get("type")),
                        format: s(c.get("format")),
                        description: s(c.get("description")),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: s(c.get("jsonPath")),
                        compute: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if columns.is_empty() {
            columns.push(Column::new(
                "Age",
                "date",
                ".metadata.creationTimestamp",
                "Time since creation",
            ));
        }
        out.push(Resource {
            group: group.clone(),
            version,
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            status: sub.and_then(|s| s.get("status")).is_some(),
            scale,
            columns,
            schema,
            storage: format!("{group}/{plural}"),
            custom: true,
        });
    }
    Ok(out)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn embedded(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Drops fields the schema does not know (and nulls where not nullable); returns the dropped
/// field paths (for `fieldValidation=Strict|Warn`).
pub fn prune(schema: &Value, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let keep_meta = root || embedded(schema);
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if keep_meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    match props.get(&k) {
                        Some(sub) => {
                            let nullable =
                                sub.get("nullable").and_then(Value::as_bool) == Some(true);
                            if map.get(&k).is_some_and(Value::is_null) && !nullable {
                                map.remove(&k);
                            } else if let Some(child) = map.get_mut(&k) {
                                prune(sub, child, &join(path, &k), false, unknown);
                            }
                        }
                        None if preserves(schema) => {}
                        None => {
                            map.remove(&k);
                            unknown.push(join(path, &k));
                        }
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in map.iter_mut() {
                    prune(add, child, &format!("{path}[{k}]"), false, unknown);
                }
            } else if !preserves(schema)
                && schema.get("type").and_then(Value::as_str) == Some("object")
                && !(root || embedded(schema))
            {
                // An object with neither properties nor additionalProperties keeps nothing
                // unless it preserves unknown fields; metadata at the root is ObjectMeta.
                if path != "metadata" {
                    for k in map.keys().cloned().collect::<Vec<_>>() {
                        unknown.push(join(path, &k));
                    }
                    map.clear();
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fills `default`s for absent properties of present objects (recursively).
pub fn default(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if !map.contains_key(k)
                        && let Some(d) = sub.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = map.get_mut(k) {
                        default(sub, child);
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    default(add, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    default(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_err(path: &str, v: &Value, want: &str) -> FieldError {
    FieldError {
        reason: "FieldValueTypeInvalid",
        field: path.to_string(),
        message: format!(
            "Invalid value: \"{}\": {path} in body must be of type {want}: \"{}\"",
            type_name(v),
            type_name(v)
        ),
    }
}

/// Validates a (pruned, defaulted) value against a structural schema.
pub fn validate(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true)
            && schema.get("type").is_some()
        {
            errors.push(type_err(
                path,
                value,
                schema
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("object"),
            ));
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if int_or_string {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(type_err(path, value, "integer or string"));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            errors.push(type_err(path, value, t));
            return;
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
        errors.push(FieldError {
            reason: "FieldValueNotSupported",
            field: path.to_string(),
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        });
    }
    match value {
        Value::String(text) => validate_string(schema, text, path, errors),
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                let excl_min =
                    schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
                let excl_max =
                    schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && (x < min || (excl_min && x == min))
                {
                    errors.push(FieldError::invalid(path, format!("Invalid value: {n}: {path} in body should be greater than or equal to {min}")));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && (x > max || (excl_max && x == max))
                {
                    errors.push(FieldError::invalid(path, format!("Invalid value: {n}: {path} in body should be less than or equal to {max}")));
                }
            }
        }
        Value::Array(items) => validate_array(schema, items, path, errors),
        Value::Object(map) => validate_object(schema, map, path, errors),
        _ => {}
    }
}

fn validate_string(schema: &Value, text: &str, path: &str, errors: &mut Vec<FieldError>) {
    let len = text.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(FieldError {
            reason: "FieldValueTooLong",
            field: path.to_string(),
            message: format!("Too long: may not be more than {max} bytes"),
        });
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(FieldError::invalid(
            path,
            format!(
                "Invalid value: \"{text}\": {path} in body should be at least {min} chars long"
            ),
        ));
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(p) {
            Ok(re) if !re.is_match(text) => errors.push(FieldError::invalid(
                path,
                format!("Invalid value: \"{text}\": {path} in body should match '{p}'"),
            )),
            Ok(_) => {}
            Err(_) => errors.push(FieldError::invalid(
                path,
                format!("schema pattern '{p}' does not compile"),
            )),
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(text).is_err()
    {
        errors.push(FieldError::invalid(
            path,
            format!(
                "Invalid value: \"{text}\": {path} in body must be of type date-time: \"{text}\""
            ),
        ));
    }
}

fn validate_array(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && items.len() as u64 > max
    {
        errors.push(FieldError {
            reason: "FieldValueTooMany",
            field: path.to_string(),
            message: format!("Too many: {}: must have at most {max} items", items.len()),
        });
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        errors.push(FieldError::invalid(
            path,
            format!("{path} in body should have at least {min} items"),
        ));
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(FieldError {
                        reason: "FieldValueDuplicate",
                        field: format!("{path}[{i}]"),
                        message: format!("Duplicate value: {item}"),
                    });
                }
            }
        }
        Some("map") => {
            let keys = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let key_of = |item: &Value| -> Vec<Value> {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                    .collect()
            };
            for (i, item) in items.iter().enumerate() {
                let k = key_of(item);
                if items[..i].iter().any(|o| key_of(o) == k) {
                    errors.push(FieldError {
                        reason: "FieldValueDuplicate",
                        field: format!("{path}[{i}]"),
                        message: format!("Duplicate value: {}", Value::Array(k)),
                    });
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(r) {
            errors.push(FieldError::required(&join(path, r)));
        }
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && map.len() as u64 > max
    {
        errors.push(FieldError {
            reason: "FieldValueTooMany",
            field: path.to_string(),
            message: format!("Too many: {}: must have at most {max} items", map.len()),
        });
    }
    if embedded(schema) {
        for f in ["apiVersion", "kind"] {
            if map.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                errors.push(FieldError::required(&join(path, f)));
            }
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let add = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, v) in map {
        if let Some(sub) = props.and_then(|p| p.get(k)) {
            validate(sub, v, &join(path, k), errors);
        } else if let Some(add) = add {
            validate(add, v, &format!("{path}[{k}]"), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "metadata": {"type": "object"},
            "spec": {"type": "object", "required": ["bmc"], "properties": {
                "bmc": {"type": "object", "required": ["address"], "properties": {"address": {"type": "string"}}},
                "mac": {"type": "string", "pattern": "[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}"},
                "mode": {"type": "string", "enum": ["UEFI", "legacy"], "default": "UEFI"},
                "count": {"type": "integer", "minimum": 0, "maximum": 3},
                "size": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }}
        }})
    }

    #[test]
    fn unknown_fields_are_pruned_and_reported_but_preserved_ones_stay() {
        let mut obj = json!({"metadata": {"name": "x"}, "spec": {"bmc": {"address": "a", "junk": 1}, "free": {"any": 1}}, "extra": true});
        let mut unknown = Vec::new();
        prune(&schema(), &mut obj, "", true, &mut unknown);
        assert_eq!(
            unknown,
            vec!["extra".to_string(), "spec.bmc.junk".to_string()]
        );
        assert_eq!(obj["spec"]["free"]["any"], json!(1));
        assert_eq!(obj["metadata"]["name"], json!("x"));
    }

    #[test]
    fn defaults_fill_absent_fields_only() {
        let mut obj = json!({"spec": {"bmc": {"address": "a"}}});
        default(&schema(), &mut obj);
        assert_eq!(obj["spec"]["mode"], json!("UEFI"));
    }

    #[test]
    fn violations_name_the_field() {
        let obj =
            json!({"spec": {"bmc": {}, "mac": "zz", "mode": "bios", "count": 7, "size": 1.5}});
        let mut errors = Vec::new();
        validate(&schema(), &obj, "", &mut errors);
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            vec![
                "spec.bmc.address",
                "spec.count",
                "spec.mac",
                "spec.mode",
                "spec.size"
            ]
        );
    }
}
