//! Requests on a collection: lists (selectors, `resourceVersion`, paging, Tables) and the options
//! of a watch (the stream itself is `watch`'s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::State;
use super::api::{json_response, table_response, wants_table};
use super::lifecycle::present;
use super::resource::Resource;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::watch::{self, WatchRequest};

/// Longest watch when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH: Duration = Duration::from_secs(1800);

pub(super) fn select(
    state: &State,
    res: &Resource,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Result<(Vec<Value>, u64), ApiError> {
    let objects = state
        .objects
        .lock()
        .map_err(|_| ApiError::new(500, "InternalError", "lock poisoned"))?;
    let items = objects
        .list(&res.storage, ns)
        .into_iter()
        .map(|(_, o)| present(res, o))
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    Ok((items, objects.rv()))
}

pub(super) fn selectors(
    res: &Resource,
    query: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    super::selector::check_fields(res, &fields)?;
    Ok((labels, fields))
}

pub(super) fn list(
    state: &State,
    res: &Resource,
    ns: Option<&str>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(res, query)?;
    let (mut items, rv) = select(state, res, ns, &labels, &fields)?;
    let requested = query.get("resourceVersion").map(String::as_str);
    if let Some(asked) = requested.and_then(|r| r.parse::<u64>().ok())
        && asked > rv
    {
        return Err(ApiError::too_large_resource_version(asked, rv));
    }
    // Continue tokens are `<namespace>/<name>` of the last item returned (live state, no snapshot).
    if let Some(token) = query.get("continue").filter(|c| !c.is_empty()) {
        let (cns, cname) = token
            .split_once('/')
            .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
        items.retain(|o| position(o) > (cns, cname));
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    // resourceVersion=0 is served whole from the watch cache: real servers ignore the limit.
    let paged = requested != Some("0") || query.get("continue").is_some_and(|c| !c.is_empty());
    if let Some(limit) = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0 && paged)
        && items.len() > limit
    {
        let remaining = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            let (ons, oname) = position(last);
            meta["continue"] = json!(format!("{ons}/{oname}"));
            // Counted only for an unfiltered list (etcd counts keys, not matches).
            if labels.is_empty() && fields.is_empty() {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
    }
    if wants_table(headers) {
        return Ok(table_response(state, res, &items, meta, query));
    }
    if !res.custom {
        // Typed lists carry the kind once, on the list (custom resources' items keep theirs).
        for item in &mut items {
            if let Some(m) = item.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
        }
    }
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": meta, "items": items}),
        &[],
    ))
}

pub(super) fn watch_request(
    state: &Arc<State>,
    res: &Resource,
    ns: Option<&str>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(res, query)?;
    let send_initial_events = match query.get("sendInitialEvents").map(String::as_str) {
        Some("true") | Some("1") => true,
        None | Some("") | Some("false") | Some("0") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid sendInitialEvents {other:?}"
            )));
        }
    };
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true" || b == "1");
    if send_initial_events
        && query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        return Err(ApiError::invalid_options(
            "ListOptions",
            "resourceVersionMatch",
            "FieldValueForbidden",
            "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH);
    let req = WatchRequest {
        res: res.clone(),
        namespace: ns.map(str::to_string),
        labels,
        fields,
        from,
        send_initial_events,
        bookmarks,
        timeout,
        table: wants_table(headers),
    };
    let body = watch::start(Arc::clone(state), req)?;
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

/// An object's place in list order, which a continue token names: `(namespace, name)`.
fn position(o: &Value) -> (&str, &str) {
    let field = |path| o.pointer(path).and_then(Value::as_str).unwrap_or("");
    (field("/metadata/namespace"), field("/metadata/name"))
}
