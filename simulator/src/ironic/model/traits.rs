//! Traits: the names Ironic accepts (a standard os-traits name, or `CUSTOM_[A-Z0-9_]+`, at most
//! 255 characters) and a node's set of them (sorted, without repeats, at most 50). Node traits,
//! deploy templates, runbooks and allocations all check names with [`trait_problem`].

use std::sync::OnceLock;

use serde_json::Value;

use super::Node;
use crate::ironic::encoding::python_repr;

/// The longest trait name Ironic accepts.
pub const TRAIT_MAX_LEN: usize = 255;

/// The most traits a node may carry (Ironic's database refuses more).
pub const MAX_TRAITS_PER_NODE: usize = 50;

/// The pattern a custom trait must match, as Ironic's schema writes it.
pub const CUSTOM_TRAIT_PATTERN: &str = "^CUSTOM_[A-Z0-9_]+$";

/// The standard trait names (os-traits 3.9.0, the release Ironic 39 validates against), one a
/// line; `ironic_traits_compare` has real Ironic accept every one of them.
const STANDARD_TRAITS: &str = include_str!("standard_traits.txt");

fn standard() -> &'static [&'static str] {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut v: Vec<&str> = STANDARD_TRAITS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        v.sort_unstable();
        v
    })
}

/// Every standard trait name, sorted.
pub fn standard_traits() -> &'static [&'static str] {
    standard()
}

/// True for a name of the standard list.
pub fn is_standard_trait(name: &str) -> bool {
    standard().binary_search(&name).is_ok()
}

/// True for `CUSTOM_` followed by at least one of `A-Z`, `0-9`, `_`.
pub fn is_custom_trait(name: &str) -> bool {
    name.strip_prefix("CUSTOM_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// What Ironic's trait schema says of `value`, or None when it is a valid trait name: the text
/// after `Schema error for <what>: `.
pub fn trait_problem(value: &Value) -> Option<String> {
    let Value::String(name) = value else {
        return Some(format!("{} is not of type 'string'", python_repr(value)));
    };
    let shown = python_repr(value);
    let length = name.chars().count();
    if length > TRAIT_MAX_LEN {
        return Some(format!("{shown} is too long"));
    }
    if length == 0 {
        return Some(format!("{shown} is too short"));
    }
    if is_custom_trait(name) || is_standard_trait(name) {
        return None;
    }
    Some(format!(
        "{shown} is not valid under any of the given schemas. Possible root cause: {shown} does not match '{CUSTOM_TRAIT_PATTERN}'"
    ))
}

/// A refused change to a node's traits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraitError {
    /// The node would carry more than [`MAX_TRAITS_PER_NODE`] (the number is the node's row id).
    #[error(
        "Could not modify traits for node {node_id} as it would exceed the maximum number of traits per node ({count} vs. {MAX_TRAITS_PER_NODE})"
    )]
    TooMany {
        /// The node's row id (Ironic prints it).
        node_id: u64,
        /// How many the node would carry.
        count: usize,
    },
    /// Removing a trait the node does not carry.
    #[error("Node {node} doesn't have a trait '{name}'")]
    Missing {
        /// The node's UUID.
        node: String,
        /// The trait asked for.
        name: String,
    },
}

/// A change to a node's traits (names already checked with [`trait_problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraitChange {
    /// Replace them all (`PUT /traits` with a body).
    Replace(Vec<String>),
    /// Add one (`PUT /traits/{trait}`).
    Add(String),
    /// Remove one (`DELETE /traits/{trait}`).
    Remove(String),
    /// Remove them all (`DELETE /traits`).
    Clear,
}

/// A node's traits, sorted.
pub fn node_traits(node: &Node) -> Vec<String> {
    node.misc
        .get("traits")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The node's traits after `change`, sorted and without repeats; the node is not touched.
pub fn changed_traits(node: &Node, change: &TraitChange) -> Result<Vec<String>, TraitError> {
    let mut set: std::collections::BTreeSet<String> = node_traits(node).into_iter().collect();
    match change {
        TraitChange::Replace(all) => set = all.iter().cloned().collect(),
        TraitChange::Add(name) => {
            set.insert(name.clone());
        }
        TraitChange::Remove(name) => {
            if !set.remove(name) {
                return Err(TraitError::Missing {
                    node: node.uuid.to_string(),
                    name: name.clone(),
                });
            }
        }
        TraitChange::Clear => set.clear(),
    }
    // Ironic counts the new set (repeats of a replacing list count once).
    let count = set.len();
    if count > MAX_TRAITS_PER_NODE {
        return Err(TraitError::TooMany {
            node_id: node.id,
            count,
        });
    }
    Ok(set.into_iter().collect())
}

/// Sets the node's traits (as [`changed_traits`] returned them).
pub fn set_node_traits(node: &mut Node, traits: Vec<String>) {
    node.misc.insert(
        "traits".into(),
        Value::Array(traits.into_iter().map(Value::String).collect()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::version::Version;
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use uuid::Uuid;

    fn node() -> Node {
        Node::new(
            7,
            Uuid::nil(),
            "fake-hardware",
            DateTime::<Utc>::MIN_UTC,
            Version::v1(115),
        )
    }

    #[test]
    fn custom_and_standard_names_pass_and_others_are_refused_with_ironics_texts() {
        for ok in [
            "CUSTOM_A",
            "CUSTOM_9_Z",
            "HW_CPU_X86_AVX2",
            "COMPUTE_ACCELERATORS",
        ] {
            assert_eq!(trait_problem(&json!(ok)), None, "{ok}");
        }
        assert_eq!(
            trait_problem(&json!("custom_a")).as_deref(),
            Some(
                "'custom_a' is not valid under any of the given schemas. Possible root cause: 'custom_a' does not match '^CUSTOM_[A-Z0-9_]+$'"
            )
        );
        for bad in ["CUSTOM_", "CUSTOM_a", "HW_BOGUS_THING", "CUSTOM_ A"] {
            assert!(trait_problem(&json!(bad)).is_some(), "{bad}");
        }
        assert_eq!(
            trait_problem(&json!(1)).as_deref(),
            Some("1 is not of type 'string'")
        );
        let longest = format!("CUSTOM_{}", "X".repeat(TRAIT_MAX_LEN - 7));
        assert_eq!(trait_problem(&json!(longest)), None);
        let over = format!("CUSTOM_{}", "X".repeat(TRAIT_MAX_LEN - 6));
        assert_eq!(
            trait_problem(&json!(over.clone())),
            Some(format!("'{over}' is too long"))
        );
    }

    #[test]
    fn the_standard_list_is_sorted_unique_and_holds_no_custom_name() {
        let all = standard_traits();
        assert!(all.len() > 300);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(all.iter().all(|t| !t.starts_with("CUSTOM_")));
    }

    #[test]
    fn changes_keep_the_set_sorted_and_refuse_too_many_or_a_missing_trait() {
        let mut n = node();
        let t = changed_traits(
            &n,
            &TraitChange::Replace(vec![
                "CUSTOM_B".into(),
                "CUSTOM_A".into(),
                "CUSTOM_B".into(),
            ]),
        )
        .unwrap();
        assert_eq!(t, ["CUSTOM_A", "CUSTOM_B"]);
        set_node_traits(&mut n, t);
        assert_eq!(
            changed_traits(&n, &TraitChange::Add("CUSTOM_0".into())).unwrap(),
            ["CUSTOM_0", "CUSTOM_A", "CUSTOM_B"]
        );
        assert_eq!(
            changed_traits(&n, &TraitChange::Remove("CUSTOM_Z".into()))
                .unwrap_err()
                .to_string(),
            "Node 00000000-0000-0000-0000-000000000000 doesn't have a trait 'CUSTOM_Z'"
        );
        assert_eq!(
            changed_traits(&n, &TraitChange::Clear).unwrap(),
            Vec::<String>::new()
        );
        let fifty: Vec<String> = (0..50).map(|i| format!("CUSTOM_T{i}")).collect();
        let all = changed_traits(&n, &TraitChange::Replace(fifty)).unwrap();
        set_node_traits(&mut n, all);
        assert_eq!(
            changed_traits(&n, &TraitChange::Add("CUSTOM_MORE".into()))
                .unwrap_err()
                .to_string(),
            "Could not modify traits for node 7 as it would exceed the maximum number of traits per node (51 vs. 50)"
        );
        // Adding one it already has keeps fifty.
        assert!(changed_traits(&n, &TraitChange::Add("CUSTOM_T3".into())).is_ok());
    }
}
