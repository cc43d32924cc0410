//! Ironic's paging of a collection, as Ironic 39 does it: `limit` (at most `[api] max_limit`,
//! 1 000), `marker` (the UUID of the last item seen), `sort_key` (a database column, ties broken
//! by creation order), `sort_dir`, and the `next` link added whenever a page is full. The rules
//! and error texts were read off real Ironic answers (`ironic_compare` replays them side by side).

use std::cmp::Ordering;

use serde_json::Value;
use uuid::Uuid;

use crate::ironic::error::ApiError;

/// Ironic's default `[api] max_limit`: a page never holds more, whatever `limit` asks.
pub const MAX_LIMIT: usize = 1_000;

/// What a collection may be sorted by.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    /// The table's columns (`created_at`, `updated_at` and `version` included).
    pub columns: &'static [&'static str],
    /// Keys the API refuses before asking the database (JSON columns).
    pub refused: &'static [&'static str],
}

/// The node table's columns.
pub const NODE_COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "instance_uuid",
        "instance_name",
        "name",
        "chassis_id",
        "power_state",
        "target_power_state",
        "provision_state",
        "target_provision_state",
        "provision_updated_at",
        "last_error",
        "instance_info",
        "properties",
        "driver",
        "driver_info",
        "driver_internal_info",
        "clean_step",
        "deploy_step",
        "resource_class",
        "raid_config",
        "target_raid_config",
        "reservation",
        "conductor_affinity",
        "conductor_group",
        "maintenance",
        "maintenance_reason",
        "fault",
        "console_enabled",
        "inspection_finished_at",
        "inspection_started_at",
        "extra",
        "automated_clean",
        "protected",
        "protected_reason",
        "owner",
        "lessee",
        "allocation_id",
        "description",
        "bios_interface",
        "boot_interface",
        "console_interface",
        "deploy_interface",
        "firmware_interface",
        "inspect_interface",
        "management_interface",
        "network_interface",
        "raid_interface",
        "rescue_interface",
        "retired",
        "retired_reason",
        "network_data",
        "storage_interface",
        "power_interface",
        "vendor_interface",
        "boot_mode",
        "secure_boot",
        "shard",
        "parent_node",
        "service_step",
        "disable_power_off",
        "health",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &[
        "properties",
        "driver_info",
        "extra",
        "instance_info",
        "driver_internal_info",
        "clean_step",
        "deploy_step",
        "raid_config",
        "target_raid_config",
        "traits",
        "network_data",
        "service_step",
    ],
};

/// The port table's columns.
pub const PORT_COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "address",
        "node_id",
        "extra",
        "local_link_connection",
        "portgroup_id",
        "pxe_enabled",
        "internal_info",
        "physical_network",
        "is_smartnic",
        "name",
        "description",
        "vendor",
        "category",
        "available_for_dynamic_portgroup",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra", "internal_info", "local_link_connection"],
};

/// The paging parameters of a list request, checked as Ironic checks their form.
#[derive(Debug, Clone, PartialEq)]
pub struct Paging {
    /// Items per page (1 ..= [`MAX_LIMIT`]).
    pub limit: usize,
    /// Items after this one.
    pub marker: Option<Uuid>,
    /// The column, as given (`""` or absent: creation order).
    pub sort_key: String,
    /// `sort_dir=desc`.
    pub descending: bool,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            limit: MAX_LIMIT,
            marker: None,
            sort_key: "id".into(),
            descending: false,
        }
    }
}

/// The raw paging parameters of a query, `None` when absent.
#[derive(Debug, Clone, Default)]
pub struct PagingQuery {
    /// `limit`.
    pub limit: Option<String>,
    /// `marker`.
    pub marker: Option<String>,
    /// `sort_key`.
    pub sort_key: Option<String>,
    /// `sort_dir`.
    pub sort_dir: Option<String>,
}

impl PagingQuery {
    /// Takes `key=value` when it is a paging parameter; false for any other key.
    pub fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "limit" => &mut self.limit,
            "marker" => &mut self.marker,
            "sort_key" => &mut self.sort_key,
            "sort_dir" => &mut self.sort_dir,
            _ => return false,
        };
        *slot = Some(value.to_string());
        true
    }

    /// Checks the parameters' form in Ironic's order: `limit` an integer, `marker` a UUID, the
    /// limit positive (and capped), the direction `asc` or `desc`.
    pub fn check(&self) -> Result<Paging, ApiError> {
        let limit = match &self.limit {
            None => None,
            Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("Expected an integer for limit: {v}"))
            })?),
        };
        let marker = match self.marker.as_deref() {
            None => None,
            Some(m) => Some(
                Uuid::parse_str(m)
                    .map_err(|_| ApiError::BadRequest(format!("Expected UUID for marker: {m}")))?,
            ),
        };
        let limit = match limit {
            None => MAX_LIMIT,
            Some(l) if l <= 0 => {
                return Err(ApiError::BadRequest("Limit must be positive".into()));
            }
            Some(l) => usize::try_from(l).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        };
        let descending = match self.sort_dir.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid sort direction: {other}. Acceptable values are 'asc' or 'desc'"
                )));
            }
        };
        Ok(Paging {
            limit,
            marker,
            sort_key: self.sort_key.clone().unwrap_or_else(|| "id".into()),
            descending,
        })
    }
}

impl Paging {
    /// `sort_dir` as the `next` link writes it.
    pub fn sort_dir(&self) -> &'static str {
        if self.descending { "desc" } else { "asc" }
    }

    /// The API's own refusal of a JSON column (before the database is asked).
    pub fn refuse_json_key(&self, columns: &Columns) -> Result<(), ApiError> {
        if columns.refused.contains(&self.sort_key.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "The sort_key value {} is an invalid field for sorting",
                self.sort_key
            )));
        }
        Ok(())
    }

    /// The database's refusal of a key that is no column.
    pub fn refuse_unknown_key(&self, columns: &Columns) -> Result<(), ApiError> {
        if !self.sort_key.is_empty() && !columns.columns.contains(&self.sort_key.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "The sort_key value \"{}\" is an invalid field for sorting",
                self.sort_key
            )));
        }
        Ok(())
    }

    /// Whether items are compared by a column (otherwise only creation order counts).
    fn by_column(&self) -> Option<&str> {
        match self.sort_key.as_str() {
            "" | "id" => None,
            key => Some(key),
        }
    }

    /// One page of `items` (in creation order, each with its UUID, creation sequence and a
    /// reader of column values): sorted by the key then creation order, after `marker_at` (the
    /// marker's position: its column value and sequence), at most `limit` of them.
    pub fn page<T>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> Sortable,
        marker_at: Option<Sortable>,
    ) -> Vec<T> {
        let column = self.by_column();
        let compare = |a: &Sortable, b: &Sortable| {
            let by_value = match column {
                Some(_) => compare_values(&a.value, &b.value),
                None => Ordering::Equal,
            };
            let order = by_value.then(a.seq.cmp(&b.seq));
            if self.descending {
                order.reverse()
            } else {
                order
            }
        };
        let mut keyed: Vec<(Sortable, T)> = items.into_iter().map(|i| (key(&i), i)).collect();
        keyed.sort_by(|a, b| compare(&a.0, &b.0));
        keyed
            .into_iter()
            .filter(|(k, _)| {
                marker_at
                    .as_ref()
                    .is_none_or(|m| compare(k, m) == Ordering::Greater)
            })
            .take(self.limit)
            .map(|(_, i)| i)
            .collect()
    }

    /// The `next` link of a listing answering `q`: `sort_key`, `sort_dir`, the carried filters,
    /// `detail` when the query gave it, and `fields` (those asked for; on a short listing without
    /// them, the short listing's own), as Ironic writes them.
    pub fn next_of(&self, base: &str, q: &NextQuery<'_>, page: &[Uuid]) -> Option<String> {
        let mut parameters = vec![
            ("sort_key", self.sort_key.clone()),
            ("sort_dir", self.sort_dir().to_string()),
        ];
        parameters.extend(q.filters.iter().cloned());
        if let Some(d) = q.detail_asked {
            parameters.push(("detail", if d { "True" } else { "False" }.into()));
        }
        let detailed = q.detail_endpoint || q.detail_asked == Some(true);
        let fields = match (&q.fields, detailed) {
            (Some(f), _) => Some(f.as_str()),
            (None, false) if !q.default_fields.is_empty() => Some(q.default_fields),
            (None, _) => None,
        };
        let url = if q.detail_endpoint {
            format!("{}/detail", q.collection)
        } else {
            q.collection.to_string()
        };
        self.next_link(base, &url, &parameters, fields, page)
    }

    /// The `next` link Ironic adds when the page is full: `{base}/v1/{url}?` the parameters in
    /// order, `fields=` when given, `limit=` and the last item's UUID as `marker=`.
    pub fn next_link(
        &self,
        base: &str,
        url: &str,
        parameters: &[(&str, String)],
        fields: Option<&str>,
        page: &[Uuid],
    ) -> Option<String> {
        let last = page.last()?;
        if page.len() != self.limit {
            return None;
        }
        let mut query = String::new();
        for (k, v) in parameters {
            query.push_str(&format!("{k}={v}&"));
        }
        if let Some(f) = fields {
            query.push_str(&format!("fields={f}&"));
        }
        Some(format!(
            "{base}/v1/{url}?{query}limit={}&marker={last}",
            self.limit
        ))
    }
}

/// `fields=` checked against a resource schema's names, refused as Ironic's schema refuses them
/// (`Schema error: 'x' is not one of [...]`): chassis, port groups, volume connectors and targets,
/// deploy templates.
pub fn schema_fields(raw: &str, known: &[&str]) -> Result<crate::ironic::model::Shape, ApiError> {
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = fields.iter().find(|f| !known.contains(&f.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "Schema error: '{bad}' is not one of [{}]",
            known
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(crate::ironic::model::Shape::Fields(fields))
}

/// What a listing's `next` link repeats of its query.
#[derive(Debug, Clone)]
pub struct NextQuery<'a> {
    /// `nodes`, `ports`, `chassis`.
    pub collection: &'a str,
    /// Answering the collection's `/detail` endpoint.
    pub detail_endpoint: bool,
    /// `detail=` as the query gave it.
    pub detail_asked: Option<bool>,
    /// Filters the link carries, after `sort_dir`.
    pub filters: Vec<(&'static str, String)>,
    /// `fields=` as asked (joined by commas).
    pub fields: Option<String>,
    /// The short listing's fields, named when none were asked (empty: a listing that always
    /// shows whole documents, as allocations do).
    pub default_fields: &'a str,
}

/// A listing as Ironic answers it: the items under the collection's name, then `next` when the
/// page is full.
#[derive(Debug)]
pub struct Listing<T> {
    /// `nodes`, `ports`, …
    pub name: &'static str,
    /// The page.
    pub items: Vec<T>,
    /// The link to the next page.
    pub next: Option<String>,
}

impl<T: serde::Serialize> serde::Serialize for Listing<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1 + usize::from(self.next.is_some())))?;
        map.serialize_entry(self.name, &self.items)?;
        if let Some(next) = &self.next {
            map.serialize_entry("next", next)?;
        }
        map.end()
    }
}

/// Where an item falls in a sorted collection: its column value and creation sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sortable {
    /// The sort column's value (`null` when the item has none).
    pub value: Value,
    /// Creation order (the table's `id`).
    pub seq: u64,
}

/// SQL's order for one column: NULL first, then booleans, numbers and strings by value.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) | Value::Object(_) => 4,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(pairs: &[(&str, &str)]) -> Result<Paging, ApiError> {
        let mut q = PagingQuery::default();
        for (k, v) in pairs {
            assert!(q.take(k, v));
        }
        q.check()
    }

    fn message(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn bad_paging_parameters_are_refused_with_ironics_texts() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("limit", "x")], "Expected an integer for limit: x"),
            (&[("limit", "")], "Expected an integer for limit: "),
            (&[("limit", "0")], "Limit must be positive"),
            (&[("limit", "-1")], "Limit must be positive"),
            (&[("marker", "n-a")], "Expected UUID for marker: n-a"),
            (&[("marker", "")], "Expected UUID for marker: "),
            (
                &[("sort_dir", "up")],
                "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'",
            ),
        ];
        for (pairs, text) in cases {
            assert_eq!(message(query(pairs).unwrap_err()), text, "{pairs:?}");
        }
        let p = query(&[("sort_key", "driver_info")]).unwrap();
        assert_eq!(
            message(p.refuse_json_key(&NODE_COLUMNS).unwrap_err()),
            "The sort_key value driver_info is an invalid field for sorting"
        );
        let p = query(&[("sort_key", "bogus")]).unwrap();
        assert!(p.refuse_json_key(&NODE_COLUMNS).is_ok());
        assert_eq!(
            message(p.refuse_unknown_key(&NODE_COLUMNS).unwrap_err()),
            "The sort_key value \"bogus\" is an invalid field for sorting"
        );
        assert_eq!(query(&[("limit", "5000")]).unwrap().limit, MAX_LIMIT);
        assert!(
            query(&[("sort_key", "")])
                .unwrap()
                .refuse_unknown_key(&NODE_COLUMNS)
                .is_ok()
        );
    }

    fn items() -> Vec<(Uuid, Value)> {
        // Created in this order; names out of order, one without a name.
        ["b", "c", "", "a"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = if n.is_empty() { Value::Null } else { json!(n) };
                (Uuid::from_u128(i as u128 + 1), json!({"name": name}))
            })
            .collect()
    }

    fn names(page: &[(Uuid, Value)]) -> Vec<Value> {
        page.iter().map(|(_, d)| d["name"].clone()).collect()
    }

    fn sortable(items: &[(Uuid, Value)], column: &str) -> impl Fn(&(Uuid, Value)) -> Sortable {
        let seqs: Vec<Uuid> = items.iter().map(|(u, _)| *u).collect();
        let column = column.to_string();
        move |(u, d)| {
            let seq = seqs.iter().position(|x| x == u).unwrap() as u64;
            Sortable {
                value: d.get(&column).cloned().unwrap_or(Value::Null),
                seq,
            }
        }
    }

    #[test]
    fn pages_follow_the_sort_key_then_creation_order_and_continue_after_the_marker() {
        let all = items();
        let key = sortable(&all, "name");
        let by_name = query(&[("sort_key", "name"), ("limit", "2")]).unwrap();
        let first = by_name.page(all.clone(), &key, None);
        // NULL sorts first, as in SQL.
        assert_eq!(names(&first), [Value::Null, json!("a")]);
        let after = key(first.last().unwrap());
        let second = by_name.page(all.clone(), &key, Some(after));
        assert_eq!(names(&second), [json!("b"), json!("c")]);

        let desc = query(&[("sort_key", "name"), ("sort_dir", "desc")]).unwrap();
        assert_eq!(
            names(&desc.page(all.clone(), &key, None)),
            [json!("c"), json!("b"), json!("a"), Value::Null]
        );
        let created = query(&[]).unwrap();
        assert_eq!(
            names(&created.page(all.clone(), &key, None)),
            [json!("b"), json!("c"), Value::Null, json!("a")]
        );
    }

    #[test]
    fn a_full_page_links_to_the_next_with_the_parameters_in_ironics_order() {
        let p = query(&[("limit", "2")]).unwrap();
        let page = [Uuid::from_u128(1), Uuid::from_u128(2)];
        assert_eq!(
            p.next_link(
                "http://h",
                "nodes",
                &[("sort_key", "id".into()), ("sort_dir", "asc".into())],
                Some("uuid,name"),
                &page
            )
            .unwrap(),
            format!(
                "http://h/v1/nodes?sort_key=id&sort_dir=asc&fields=uuid,name&limit=2&marker={}",
                page[1]
            )
        );
        // A page that is not full has no next link.
        assert_eq!(
            p.next_link("http://h", "nodes", &[], None, &page[..1]),
            None
        );
        assert_eq!(p.next_link("http://h", "nodes", &[], None, &[]), None);
    }
}
