//! The conductor service as the API shows it (`/v1/conductors`, from 1.49): the mock runs one
//! conductor, in the default (empty) conductor group, serving every hardware type the mock
//! serves. A node belongs to it unless its `conductor_group` names a group no conductor serves,
//! which Ironic refuses.

use super::{DRIVERS, Shape, links};
use crate::ironic::encoding::Doc;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The mock conductor's host name (a node's `conductor`).
pub const CONDUCTOR_HOST: &str = "localhost";

/// The microversion conductors appeared in.
pub const CONDUCTORS_VERSION: u32 = 49;

/// Fields a conductor listing or `fields=` may name.
pub const CONDUCTOR_FIELDS: [&str; 7] = [
    "alive",
    "conductor_group",
    "created_at",
    "drivers",
    "hostname",
    "links",
    "updated_at",
];

/// The conductor's document, registered at `started` and alive since.
pub fn conductor_document(base: &str, started: DateTime<Utc>, shape: &Shape) -> Doc {
    let mut d = Doc::new();
    d.put("created_at", super::ts(Some(started)));
    d.put("updated_at", super::ts(Some(started)));
    d.put("hostname", CONDUCTOR_HOST);
    d.put("conductor_group", "");
    d.put(
        "drivers",
        Value::Array(DRIVERS.iter().map(|x| Value::from(*x)).collect()),
    );
    d.put(
        "links",
        links(base, &format!("conductors/{CONDUCTOR_HOST}")),
    );
    d.put("alive", true);
    match shape {
        Shape::Detail => {}
        Shape::List => d.retain_keys(&[
            "hostname".into(),
            "conductor_group".into(),
            "links".into(),
            "alive".into(),
        ]),
        Shape::Fields(f) => {
            let mut keep = f.clone();
            keep.push("links".into());
            d.retain_keys(&keep);
        }
    }
    d
}

/// Ironic's refusal of a node in conductor group `group` (any group but the default one: no
/// conductor serves it), as `(driver, group)` for `ApiError::NoValidHost`.
pub fn unserved_group(group: &str) -> bool {
    !group.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_conductor_serves_the_default_group_with_every_driver() {
        let d = conductor_document("http://x", DateTime::UNIX_EPOCH, &Shape::List);
        let keys: Vec<&str> = d.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["hostname", "conductor_group", "links", "alive"]);
        let d = conductor_document("http://x", DateTime::UNIX_EPOCH, &Shape::Detail);
        assert_eq!(
            d.get("drivers"),
            Some(&serde_json::json!(["fake-hardware", "ipmi", "redfish"]))
        );
        assert!(!unserved_group(""));
        assert!(unserved_group("g1"));
    }
}
