//! Our generated schemas accept everything upstream Metal3 v0.13.2's CRDs accept.
//!
//! The fixture lists every upstream field path with its type and constraints (facts extracted
//! once from the upstream CRDs). Each path must exist in our schema (or the API server would prune
//! the field), with a compatible type, enums that are supersets, bounds no stricter, the same
//! list/map markers and defaults, and `required` lists that are subsets of upstream's.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use metal_operator::api::crds;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/upstream-v0.13.2-schema.txt");

/// One line of the fixture.
struct UpstreamField {
    kind: String,
    path: String,
    type_: String,
    facts: serde_json::Map<String, Value>,
}

fn upstream_fields() -> Vec<UpstreamField> {
    FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let kind = parts.next().unwrap().to_string();
            let path = parts.next().unwrap().to_string();
            let type_ = parts.next().unwrap().to_string();
            let facts = match parts.next() {
                Some(json) => serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("bad fixture line {line:?}: {e}")),
                None => serde_json::Map::new(),
            };
            UpstreamField {
                kind,
                path,
                type_,
                facts,
            }
        })
        .collect()
}

fn our_roots() -> BTreeMap<String, JSONSchemaProps> {
    crds()
        .into_iter()
        .map(|c| {
            let schema = c.spec.versions[0]
                .schema
                .clone()
                .and_then(|s| s.open_api_v3_schema)
                .unwrap();
            (c.spec.names.kind, schema)
        })
        .collect()
}

/// Splits `.spec.raid.hardwareRAIDVolumes[].level` into steps.
fn steps(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let mut name = segment;
        let mut suffixes = Vec::new();
        loop {
            if let Some(rest) = name.strip_suffix("[]") {
                suffixes.push("[]");
                name = rest;
            } else if let Some(rest) = name.strip_suffix("{}") {
                suffixes.push("{}");
                name = rest;
            } else {
                break;
            }
        }
        out.push(name.to_string());
        out.extend(suffixes.into_iter().rev().map(String::from));
    }
    out
}

fn resolve<'a>(root: &'a JSONSchemaProps, path: &str) -> Result<&'a JSONSchemaProps, String> {
    let mut cur = root;
    for step in steps(path) {
        cur = match step.as_str() {
            "[]" => match &cur.items {
                Some(JSONSchemaPropsOrArray::Schema(s)) => s,
                _ => return Err(format!("{path}: no array items at {step}")),
            },
            "{}" => match &cur.additional_properties {
                Some(JSONSchemaPropsOrBool::Schema(s)) => s,
                _ => return Err(format!("{path}: no map values")),
            },
            key => cur
                .properties
                .as_ref()
                .and_then(|p| p.get(key))
                .ok_or_else(|| format!("{path}: property {key:?} missing"))?,
        };
    }
    Ok(cur)
}

fn type_compatible(upstream: &str, ours: &JSONSchemaProps) -> bool {
    if upstream == "int-or-string" {
        return ours.x_kubernetes_int_or_string == Some(true);
    }
    match (upstream, ours.type_.as_deref()) {
        (u, Some(o)) if u == o => true,
        ("integer", Some("number")) => true,
        _ => false,
    }
}

/// Everything about one field that would make us reject something upstream accepts.
fn incompatibilities(f: &UpstreamField, ours: &JSONSchemaProps) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("{} {}", f.kind, f.path);
    if !type_compatible(&f.type_, ours) {
        problems.push(format!(
            "{at}: upstream type {} but ours {:?}",
            f.type_, ours.type_
        ));
    }
    if let Some(our_enum) = &ours.enum_ {
        let ours: Vec<&Value> = our_enum.iter().map(|v| &v.0).collect();
        match f.facts.get("enum").and_then(Value::as_array) {
            Some(up) => {
                for v in up {
                    if !ours.contains(&v) {
                        problems.push(format!("{at}: enum lacks upstream value {v}"));
                    }
                }
            }
            None => problems.push(format!("{at}: we restrict to an enum, upstream does not")),
        }
    }
    if let Some(p) = &ours.pattern
        && f.facts.get("pattern").and_then(Value::as_str) != Some(p.as_str())
    {
        problems.push(format!("{at}: our pattern {p:?} differs from upstream's"));
    }
    if ours.type_.as_deref() == Some("string")
        && let Some(fmt) = &ours.format
        && f.facts.get("format").and_then(Value::as_str) != Some(fmt.as_str())
    {
        problems.push(format!("{at}: our string format {fmt:?} is not upstream's"));
    }
    let lower_bounds = [
        ("minimum", ours.minimum),
        ("minItems", ours.min_items.map(|v| v as f64)),
        ("minLength", ours.min_length.map(|v| v as f64)),
    ];
    for (key, ours_min) in lower_bounds {
        if let Some(m) = ours_min {
            match f.facts.get(key).and_then(Value::as_f64) {
                Some(up) if m <= up => {}
                other => problems.push(format!("{at}: our {key} {m} is stricter than {other:?}")),
            }
        }
    }
    let upper_bounds = [
        ("maximum", ours.maximum),
        ("maxItems", ours.max_items.map(|v| v as f64)),
        ("maxLength", ours.max_length.map(|v| v as f64)),
    ];
    for (key, ours_max) in upper_bounds {
        if let Some(m) = ours_max {
            match f.facts.get(key).and_then(Value::as_f64) {
                Some(up) if m >= up => {}
                other => problems.push(format!("{at}: our {key} {m} is stricter than {other:?}")),
            }
        }
    }
    if f.facts.get("nullable") == Some(&Value::Bool(true)) && ours.nullable != Some(true) {
        problems.push(format!("{at}: upstream admits null, ours does not"));
    }
    if let Some(d) = f.facts.get("default")
        && ours.default.as_ref().map(|j| &j.0) != Some(d)
    {
        problems.push(format!(
            "{at}: upstream default {d}, ours {:?}",
            ours.default
        ));
    }
    let markers = [
        (
            "x-kubernetes-map-type",
            ours.x_kubernetes_map_type.clone().map(Value::from),
        ),
        (
            "x-kubernetes-list-type",
            ours.x_kubernetes_list_type.clone().map(Value::from),
        ),
        (
            "x-kubernetes-list-map-keys",
            ours.x_kubernetes_list_map_keys.clone().map(Value::from),
        ),
    ];
    for (key, ours_marker) in markers {
        if let Some(up) = f.facts.get(key)
            && ours_marker.as_ref() != Some(up)
        {
            problems.push(format!("{at}: {key} upstream {up}, ours {ours_marker:?}"));
        }
    }
    problems
}

#[test]
fn fixture_covers_all_five_kinds_and_hundreds_of_paths() {
    let fields = upstream_fields();
    assert!(fields.len() > 300, "only {} upstream paths", fields.len());
    for kind in [
        "BareMetalHost",
        "FirmwareSchema",
        "HardwareData",
        "HostClaim",
        "HostFirmwareSettings",
    ] {
        assert!(fields.iter().any(|f| f.kind == kind), "no {kind} lines");
    }
}

#[test]
fn every_upstream_field_path_exists_in_our_schema_with_a_compatible_shape() {
    let roots = our_roots();
    let mut problems = Vec::new();
    for f in upstream_fields() {
        let root = roots
            .get(&f.kind)
            .unwrap_or_else(|| panic!("no CRD for {}", f.kind));
        match resolve(root, &f.path) {
            Ok(ours) => problems.extend(incompatibilities(&f, ours)),
            Err(e) => problems.push(format!("{}: {e}", f.kind)),
        }
    }
    assert!(
        problems.is_empty(),
        "{} incompatibilities:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn our_required_lists_are_subsets_of_upstreams() {
    let roots = our_roots();
    let upstream: BTreeMap<(String, String), Vec<String>> = upstream_fields()
        .into_iter()
        .map(|f| {
            let req = f
                .facts
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            ((f.kind, f.path), req)
        })
        .collect();
    let mut problems = Vec::new();
    for (kind, root) in &roots {
        walk_required(kind, ".", root, &upstream, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Checks `required` at every node; nodes upstream lacks may only require fields of our own
/// additions (they are optional themselves, so upstream objects never reach them).
fn walk_required(
    kind: &str,
    path: &str,
    s: &JSONSchemaProps,
    upstream: &BTreeMap<(String, String), Vec<String>>,
    problems: &mut Vec<String>,
) {
    if let Some(req) = &s.required
        && let Some(up) = upstream.get(&(kind.to_string(), path.to_string()))
    {
        for r in req.iter().filter(|r| !up.contains(r)) {
            problems.push(format!(
                "{kind} {path}: we require {r:?}, upstream does not"
            ));
        }
    }
    let join = |k: &str| {
        if path == "." {
            format!(".{k}")
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, v) in s.properties.iter().flatten() {
        walk_required(kind, &join(k), v, upstream, problems);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(i)) = &s.items {
        walk_required(kind, &format!("{path}[]"), i, upstream, problems);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(a)) = &s.additional_properties {
        walk_required(kind, &format!("{path}{{}}"), a, upstream, problems);
    }
}

#[test]
fn spec_online_is_the_one_upstream_requirement_we_relax() {
    let up = upstream_fields();
    let spec = up
        .iter()
        .find(|f| f.kind == "BareMetalHost" && f.path == ".spec")
        .unwrap();
    assert_eq!(spec.facts["required"], serde_json::json!(["online"]));
    let roots = our_roots();
    let ours = resolve(&roots["BareMetalHost"], ".spec").unwrap();
    assert!(ours.required.as_ref().is_none_or(|r| r.is_empty()));
}

#[test]
fn a_stricter_enum_would_be_reported() {
    // Guards the checker itself: an enum missing an upstream value must be flagged.
    let f = UpstreamField {
        kind: "BareMetalHost".into(),
        path: ".spec.bootMode".into(),
        type_: "string".into(),
        facts: serde_json::from_str(r#"{"enum":["UEFI","UEFISecureBoot","legacy"]}"#).unwrap(),
    };
    let narrow = JSONSchemaProps {
        type_: Some("string".into()),
        enum_: Some(vec![
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON("UEFI".into()),
        ]),
        ..Default::default()
    };
    let problems = incompatibilities(&f, &narrow);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let tighter = JSONSchemaProps {
        type_: Some("integer".into()),
        minimum: Some(1.0),
        ..Default::default()
    };
    let g = UpstreamField {
        kind: "BareMetalHost".into(),
        path: ".x".into(),
        type_: "integer".into(),
        facts: serde_json::from_str(r#"{"minimum":0}"#).unwrap(),
    };
    assert_eq!(incompatibilities(&g, &tighter).len(), 1);
}
