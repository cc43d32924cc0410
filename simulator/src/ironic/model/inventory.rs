//! A node's inspection record (`GET /v1/nodes/{node}/inventory`: the inventory and the plugin
//! data), kept as the text the API serves.
//!
//! A record is written once per inspection and read as a whole, never field by field, so it is
//! held as its encoded text: a fraction of the memory of a JSON tree (a tree keeps every key and
//! value in its own allocation), shared by every copy of the node (a node is copied on each
//! `PATCH`), and served without encoding it again.

use bytes::Bytes;
use serde_json::Value;

use crate::ironic::encoding::to_python_json;

/// An inspection record as its served text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRecord(Bytes);

impl InventoryRecord {
    /// The record of `doc` (`{"inventory": …, "plugin_data": …}`), encoded as the API answers it.
    pub fn new(doc: &Value) -> InventoryRecord {
        InventoryRecord(Bytes::from(to_python_json(doc)))
    }

    /// The answer's body (a reference count, not a copy).
    pub fn text(&self) -> Bytes {
        self.0.clone()
    }

    /// The record as a JSON tree (decoded from its text; `Null` if the text were not JSON, which
    /// [`InventoryRecord::new`] never writes).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_is_served_as_the_api_encodes_it_and_reads_back_as_written() {
        let doc = json!({"inventory": {"cpu": {"count": 4, "architecture": "x86_64"}},
                         "plugin_data": {"root_disk": {"name": "/dev/sda"}}});
        let record = InventoryRecord::new(&doc);
        assert_eq!(record.text(), Bytes::from(to_python_json(&doc)));
        assert_eq!(record.value(), doc);
        assert_eq!(
            record.clone(),
            record,
            "copies share and compare by their text"
        );
    }
}
