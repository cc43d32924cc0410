//! Just enough of the Kubernetes protobuf encoding to accept what Go clients post: kubectl's
//! `create namespace|secret|configmap` generators and controller-runtime's client (which sends
//! built-in kinds as `application/vnd.kubernetes.protobuf`; upstream baremetal-operator creates
//! core/v1 Events and updates Secrets that way). Covered: the `k8s\0` envelope,
//! `runtime.Unknown`, ObjectMeta (every field but managedFields), and the Namespace, Secret,
//! ConfigMap and core/v1 Event fields. Other kinds are refused (415).

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtobufError {
    #[error("not a Kubernetes protobuf envelope")]
    Envelope,
    #[error("truncated or malformed protobuf at byte {0}")]
    Malformed(usize),
    #[error("protobuf bodies of kind {0:?} are not supported (send JSON)")]
    Kind(String),
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtobufError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(ProtobufError::Malformed(*pos))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(ProtobufError::Malformed(*pos))
}

/// The (field number, value) pairs of one message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtobufError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((number, Field::Varint(varint(buf, &mut pos)?))),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| ProtobufError::Malformed(pos))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or(ProtobufError::Malformed(pos))?;
                out.push((number, Field::Bytes(&buf[pos..end])));
                pos = end;
            }
            1 => {
                pos = pos
                    .checked_add(8)
                    .filter(|e| *e <= buf.len())
                    .ok_or(ProtobufError::Malformed(pos))?
            }
            5 => {
                pos = pos
                    .checked_add(4)
                    .filter(|e| *e <= buf.len())
                    .ok_or(ProtobufError::Malformed(pos))?
            }
            _ => return Err(ProtobufError::Malformed(pos)),
        }
    }
    Ok(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A map entry message: (key, value bytes).
fn entry(b: &[u8]) -> Result<(String, Vec<u8>), ProtobufError> {
    let mut key = String::new();
    let mut value = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = text(k),
            (2, Field::Bytes(v)) => value = v.to_vec(),
            _ => {}
        }
    }
    Ok((key, value))
}

/// A `metav1.Time` (`micro`: a `MicroTime`) as its JSON text; `None` for the zero time, which Go
/// writes as an empty message.
fn time(b: &[u8], micro: bool) -> Result<Option<Value>, ProtobufError> {
    if b.is_empty() {
        return Ok(None);
    }
    let (mut seconds, mut nanos) = (0i64, 0u32);
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => seconds = v as i64,
            (2, Field::Varint(v)) => nanos = v as u32,
            _ => {}
        }
    }
    let at = DateTime::from_timestamp(seconds, nanos).ok_or(ProtobufError::Malformed(0))?;
    let format = if micro {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Secs
    };
    Ok(Some(Value::from(at.to_rfc3339_opts(format, true))))
}

/// The string and boolean fields of a message, by field number, into a JSON object (empty
/// strings, which Go writes for unset fields, left out).
fn strings(b: &[u8], names: &[(u64, &str)], bools: &[(u64, &str)]) -> Result<Value, ProtobufError> {
    let mut out = Map::new();
    for (n, f) in fields(b)? {
        match f {
            Field::Bytes(v) if !v.is_empty() => {
                if let Some((_, name)) = names.iter().find(|(m, _)| *m == n) {
                    out.insert((*name).into(), Value::from(text(v)));
                }
            }
            Field::Varint(v) => {
                if let Some((_, name)) = bools.iter().find(|(m, _)| *m == n) {
                    out.insert((*name).into(), Value::from(v != 0));
                }
            }
            Field::Bytes(_) => {}
        }
    }
    Ok(Value::Object(out))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut owners = Vec::new();
    let mut finalizers = Vec::new();
    let owner = |v: &[u8]| {
        strings(
            v,
            &[(1, "kind"), (3, "name"), (4, "uid"), (5, "apiVersion")],
            &[(6, "controller"), (7, "blockOwnerDeletion")],
        )
    };
    for (n, f) in fields(b)? {
        match (n, f) {
            (7, Field::Varint(g)) if g != 0 => {
                meta.insert("generation".into(), Value::from(g as i64));
            }
            (10, Field::Varint(s)) => {
                meta.insert("deletionGracePeriodSeconds".into(), Value::from(s as i64));
            }
            (_, Field::Varint(_)) => {}
            // Go's protobuf writes empty strings; the JSON form omits them.
            (1..=6, Field::Bytes(v)) if !v.is_empty() => {
                let name = [
                    "name",
                    "generateName",
                    "namespace",
                    "selfLink",
                    "uid",
                    "resourceVersion",
                ][n as usize - 1];
                meta.insert(name.into(), Value::from(text(v)));
            }
            (8 | 9, Field::Bytes(v)) => {
                if let Some(t) = time(v, false)? {
                    let name = if n == 8 {
                        "creationTimestamp"
                    } else {
                        "deletionTimestamp"
                    };
                    meta.insert(name.into(), t);
                }
            }
            (11, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                labels.insert(k, Value::from(text(&val)));
            }
            (12, Field::Bytes(v)) => {
                let (k, val) = entry(v)?;
                annotations.insert(k, Value::from(text(&val)));
            }
            (13, Field::Bytes(v)) => owners.push(owner(v)?),
            (14, Field::Bytes(v)) => finalizers.push(Value::from(text(v))),
            // managedFields (17) and anything newer: not kept.
            _ => {}
        }
    }
    for (field, value) in [
        ("labels", Value::Object(labels)),
        ("annotations", Value::Object(annotations)),
        ("ownerReferences", Value::Array(owners)),
        ("finalizers", Value::Array(finalizers)),
    ] {
        let empty = match &value {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if !empty {
            meta.insert(field.into(), value);
        }
    }
    Ok(Value::Object(meta))
}

/// An `ObjectReference` (an Event's involvedObject or related).
fn object_reference(b: &[u8]) -> Result<Value, ProtobufError> {
    strings(
        b,
        &[
            (1, "kind"),
            (2, "namespace"),
            (3, "name"),
            (4, "uid"),
            (5, "apiVersion"),
            (6, "resourceVersion"),
            (7, "fieldPath"),
        ],
        &[],
    )
}

/// The fields of a core/v1 Event after its metadata.
fn event_field(obj: &mut Value, n: u64, f: Field<'_>) -> Result<(), ProtobufError> {
    match (n, f) {
        (2, Field::Bytes(v)) => obj["involvedObject"] = object_reference(v)?,
        (13, Field::Bytes(v)) => obj["related"] = object_reference(v)?,
        (5, Field::Bytes(v)) => {
            obj["source"] = strings(v, &[(1, "component"), (2, "host")], &[])?;
        }
        (6 | 7 | 10, Field::Bytes(v)) => {
            if let Some(t) = time(v, n == 10)? {
                let name = match n {
                    6 => "firstTimestamp",
                    7 => "lastTimestamp",
                    _ => "eventTime",
                };
                obj[name] = t;
            }
        }
        (8, Field::Varint(c)) if c != 0 => obj["count"] = Value::from(c as i32),
        (11, Field::Bytes(v)) => {
            let mut series = Map::new();
            for (m, g) in fields(v)? {
                match (m, g) {
                    (1, Field::Varint(c)) => {
                        series.insert("count".into(), Value::from(c as i32));
                    }
                    (2, Field::Bytes(t)) => {
                        if let Some(t) = time(t, true)? {
                            series.insert("lastObservedTime".into(), t);
                        }
                    }
                    _ => {}
                }
            }
            obj["series"] = Value::Object(series);
        }
        (3 | 4 | 9 | 12 | 14 | 15, Field::Bytes(v)) if !v.is_empty() => {
            let name = match n {
                3 => "reason",
                4 => "message",
                9 => "type",
                12 => "action",
                14 => "reportingComponent",
                _ => "reportingInstance",
            };
            obj[name] = Value::from(text(v));
        }
        _ => {}
    }
    Ok(())
}

/// Decodes a protobuf request body into the JSON form of the object.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let inner = body.strip_prefix(MAGIC).ok_or(ProtobufError::Envelope)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(inner)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (m, g) in fields(tm)? {
                    match (m, g) {
                        (1, Field::Bytes(v)) => api_version = text(v),
                        (2, Field::Bytes(v)) => kind = text(v),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let supported = match kind.as_str() {
        "Namespace" | "Secret" | "ConfigMap" => true,
        // core/v1 only; events.k8s.io/v1 Events have other fields.
        "Event" => api_version == "v1",
        _ => false,
    };
    if !supported {
        return Err(ProtobufError::Kind(kind));
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let (mut data, mut string_data, mut binary) = (Map::new(), Map::new(), Map::new());
    for (n, f) in fields(raw)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(m)) => obj["metadata"] = object_meta(m)?,
            ("Secret", 2, Field::Bytes(e)) => {
                let (k, v) = entry(e)?;
                data.insert(k, Value::from(b64.encode(v)));
            }
            ("Secret", 3, Field::Bytes(t)) => obj["type"] = Value::from(text(t)),
            ("Secret", 4, Field::Bytes(e)) => {
                let (k, v) = entry(e)?;
                string_data.insert(k, Value::from(text(&v)));
            }
            ("Secret" | "ConfigMap", 5, Field::Varint(i)) | ("ConfigMap", 4, Field::Varint(i)) => {
                obj["immutable"] = Value::from(i != 0)
            }
            ("ConfigMap", 2, Field::Bytes(e)) => {
                let (k, v) = entry(e)?;
                data.insert(k, Value::from(text(&v)));
            }
            ("ConfigMap", 3, Field::Bytes(e)) => {
                let (k, v) = entry(e)?;
                binary.insert(k, Value::from(b64.encode(v)));
            }
            ("Event", n, f) => event_field(&mut obj, n, f)?,
            _ => {}
        }
    }
    for (field, map) in [
        ("data", data),
        ("stringData", string_data),
        ("binaryData", binary),
    ] {
        if !map.is_empty() {
            obj[field] = Value::Object(map);
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2];
        out.extend(varint_bytes(bytes.len() as u64));
        out.extend_from_slice(bytes);
        out
    }

    fn varint_bytes(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn a_secret_envelope_decodes_to_json_with_base64_data() {
        let meta = [
            field(1, b"s"),
            field(3, b"ns"),
            field(11, &[field(1, b"a"), field(2, b"b")].concat()),
        ]
        .concat();
        let raw = [
            field(1, &meta),
            field(2, &[field(1, b"user"), field(2, b"admin")].concat()),
            field(3, b"Opaque"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(obj["metadata"]["name"], "s");
        assert_eq!(obj["metadata"]["labels"]["a"], "b");
        assert_eq!(obj["data"]["user"], "YWRtaW4=");
        assert_eq!(obj["type"], "Opaque");
    }

    fn varint_field(n: u8, v: u64) -> Vec<u8> {
        [vec![n << 3], varint_bytes(v)].concat()
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    #[test]
    fn a_secret_update_keeps_owner_references_resource_version_and_timestamps() {
        let owner = [
            field(1, b"BareMetalHost"),
            field(3, b"h"),
            field(4, b"u-1"),
            field(5, b"metal3.io/v1alpha1"),
            varint_field(6, 0),
            varint_field(7, 1),
        ]
        .concat();
        let meta = [
            field(1, b"s"),
            field(2, b""),
            field(3, b"ns"),
            field(5, b"u-2"),
            field(6, b"41"),
            varint_field(7, 0),
            field(
                8,
                &[varint_field(1, 1_796_000_000), varint_field(2, 0)].concat(),
            ),
            field(9, &[]),
            field(13, &owner),
            field(14, b"f"),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Secret", &field(1, &meta))).unwrap();
        let m = &obj["metadata"];
        assert_eq!(m["resourceVersion"], "41");
        assert_eq!(m["uid"], "u-2");
        assert_eq!(m["creationTimestamp"], "2026-11-30T00:53:20Z");
        assert!(m.get("deletionTimestamp").is_none());
        assert!(m.get("generateName").is_none());
        assert!(m.get("generation").is_none());
        assert_eq!(
            m["ownerReferences"],
            json!([{"kind": "BareMetalHost", "name": "h", "uid": "u-1",
                    "apiVersion": "metal3.io/v1alpha1", "controller": false,
                    "blockOwnerDeletion": true}])
        );
        assert_eq!(m["finalizers"], json!(["f"]));
    }

    #[test]
    fn a_core_event_as_controller_runtime_posts_it_decodes() {
        let meta = [field(2, b"Registered-"), field(3, b"ns")].concat();
        let involved = [
            field(1, b"BareMetalHost"),
            field(2, b"ns"),
            field(3, b"h"),
            field(4, b"u-1"),
            field(5, b"metal3.io/v1alpha1"),
            field(6, b""),
        ]
        .concat();
        let t = [varint_field(1, 1_796_000_000)].concat();
        let raw = [
            field(1, &meta),
            field(2, &involved),
            field(3, b"Registered"),
            field(4, b"Registered new host"),
            field(
                5,
                &[field(1, b"metal3-baremetal-controller"), field(2, b"")].concat(),
            ),
            field(6, &t),
            field(7, &t),
            varint_field(8, 1),
            field(9, b"Normal"),
            field(10, &[]),
            field(12, b""),
            field(13, &[]),
            field(14, b"metal3.io/baremetal-controller"),
            field(15, b""),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Event", &raw)).unwrap();
        assert_eq!(obj["metadata"]["generateName"], "Registered-");
        assert_eq!(obj["involvedObject"]["kind"], "BareMetalHost");
        assert_eq!(obj["involvedObject"]["name"], "h");
        assert!(obj["involvedObject"].get("resourceVersion").is_none());
        assert_eq!(obj["reason"], "Registered");
        assert_eq!(obj["message"], "Registered new host");
        assert_eq!(obj["type"], "Normal");
        assert_eq!(obj["count"], 1);
        assert_eq!(
            obj["source"],
            json!({"component": "metal3-baremetal-controller"})
        );
        assert_eq!(obj["firstTimestamp"], "2026-11-30T00:53:20Z");
        assert!(obj.get("eventTime").is_none());
        assert!(obj.get("action").is_none());
        assert_eq!(obj["related"], json!({}));
        assert_eq!(obj["reportingComponent"], "metal3.io/baremetal-controller");
        // events.k8s.io/v1 Events have other field numbers: refused, not misread.
        assert_eq!(
            decode(&envelope("events.k8s.io/v1", "Event", &raw)),
            Err(ProtobufError::Kind("Event".into()))
        );
    }

    #[test]
    fn truncated_or_foreign_bodies_are_refused_not_panicked_on() {
        assert_eq!(decode(b"{}"), Err(ProtobufError::Envelope));
        assert!(decode(b"k8s\0\x0a\x7f").is_err());
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &[])].concat();
        assert_eq!(decode(&body), Err(ProtobufError::Kind("Pod".into())));
    }
}
