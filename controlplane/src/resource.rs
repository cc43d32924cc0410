//! What the control plane knows about one served resource: its names, scope, subresources,
//! printer columns and (for custom resources) its structural schema.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A cell a built-in printer computes from an object (and the time, for ages).
pub type Cell = fn(&Value, DateTime<Utc>) -> Value;

/// A printer column (`additionalPrinterColumns` or a built-in printer's).
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
    /// Computed instead of read from `json_path` (built-in printers).
    pub compute: Option<Cell>,
}

impl Column {
    /// A column with priority 0 and no format.
    pub fn new(name: &str, type_: &str, json_path: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            type_: type_.to_string(),
            format: String::new(),
            description: description.to_string(),
            priority: 0,
            json_path: json_path.to_string(),
            compute: None,
        }
    }
}

/// Where a scale subresource reads and writes replicas.
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served resource in one group/version.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `/status` subresource (status and spec are written separately).
    pub status: bool,
    pub scale: Option<ScalePaths>,
    pub columns: Vec<Column>,
    /// `openAPIV3Schema` of a custom resource version.
    pub schema: Option<Arc<Value>>,
    /// Objects of all versions of one resource share this storage key (`group/plural`).
    pub storage: String,
    /// Registered from a CustomResourceDefinition.
    pub custom: bool,
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (as in error messages: `baremetalhosts.metal3.io`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Kind.group` as real servers name it in Status messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The verbs served (namespaces cannot be deleted as a collection).
    pub fn verbs(&self) -> Vec<&'static str> {
        let mut verbs = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        if self.group.is_empty() && self.plural == "namespaces" {
            verbs.retain(|v| *v != "deletecollection");
        }
        verbs
    }
}
