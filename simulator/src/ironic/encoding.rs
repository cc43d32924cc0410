//! JSON text the way Ironic's Python API writes it: `", "` and `": "` separators, non-ASCII escaped,
//! and documents whose keys keep Ironic's order (so a diff against real Ironic lines up).

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;
use std::io;

/// A JSON object whose keys keep insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc(pub Vec<(String, Value)>);

impl Doc {
    /// An empty document.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a key (callers keep keys unique).
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.0.push((key.to_string(), value.into()));
    }

    /// Keeps only the keys in `keep` (in this document's order).
    pub fn retain_keys(&mut self, keep: &[String]) {
        self.0.retain(|(k, _)| keep.iter().any(|f| f == k));
    }

    /// The value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Converts to a plain (key-sorted) JSON value, for patching and tests.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.iter().cloned().collect())
    }
}

impl Serialize for Doc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// serde_json formatter matching Python's `json.dumps` defaults.
struct PythonStyle;

impl serde_json::ser::Formatter for PythonStyle {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if c.is_ascii() {
                let mut buf = [0u8; 1];
                w.write_all(c.encode_utf8(&mut buf).as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Serializes `value` as Python's `json.dumps` would.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonStyle);
    // Serializing in-memory JSON values cannot fail; an empty object is the safe fallback.
    if value.serialize(&mut ser).is_err() {
        return "{}".to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
}

/// Renders a JSON value the way Python prints it (Ironic's messages quote values with `repr`:
/// clean steps, schema errors).
pub(crate) fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_and_escapes_match_python_json_dumps() {
        let mut d = Doc::new();
        d.put("a", json!([1, 2]));
        d.put("b", json!({"c": "é\"x"}));
        assert_eq!(
            to_python_json(&d),
            r#"{"a": [1, 2], "b": {"c": "\u00e9\"x"}}"#
        );
    }

    #[test]
    fn astral_characters_become_surrogate_pairs() {
        assert_eq!(to_python_json(&json!("😀")), r#""\ud83d\ude00""#);
    }
}
