//! Just enough of the Kubernetes protobuf encoding to accept what `kubectl create namespace|
//! secret|configmap` send (they post `application/vnd.kubernetes.protobuf`): the `k8s\0`
//! envelope, `runtime.Unknown`, ObjectMeta (name, generateName, namespace, labels, annotations,
//! finalizers) and the Namespace, Secret and ConfigMap fields. Other kinds are refused (415).

use base64::Engine as _;
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

fn object_meta(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(v) = f else { continue };
        match n {
            // Go's protobuf writes empty strings; the JSON form omits them.
            1 if !v.is_empty() => {
                meta.insert("name".into(), Value::from(text(v)));
            }
            2 if !v.is_empty() => {
                meta.insert("generateName".into(), Value::from(text(v)));
            }
            3 if !v.is_empty() => {
                meta.insert("namespace".into(), Value::from(text(v)));
            }
            11 => {
                let (k, val) = entry(v)?;
                labels.insert(k, Value::from(text(&val)));
            }
            12 => {
                let (k, val) = entry(v)?;
                annotations.insert(k, Value::from(text(&val)));
            }
            14 => finalizers.push(Value::from(text(v))),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
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
            ("Namespace" | "Secret" | "ConfigMap", _, _) => {}
            (other, _, _) => return Err(ProtobufError::Kind(other.to_string())),
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "Secret" | "ConfigMap") {
        return Err(ProtobufError::Kind(kind));
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
        let mut out = vec![(n << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
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

    #[test]
    fn truncated_or_foreign_bodies_are_refused_not_panicked_on() {
        assert_eq!(decode(b"{}"), Err(ProtobufError::Envelope));
        assert!(decode(b"k8s\0\x0a\x7f").is_err());
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &[])].concat();
        assert_eq!(decode(&body), Err(ProtobufError::Kind("Pod".into())));
    }
}
