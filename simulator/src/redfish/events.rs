//! EventService and its Subscriptions (EventDestination): a client subscribes a loopback http(s)
//! destination with optional event types, registry prefixes, a context and HTTP headers (kept for
//! delivery, never shown back), and deletes it. What is delivered, and how, is `delivery`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::delivery::{self, QUEUE, Record};
use super::document::{self, ALLOW_GET, ALLOW_GET_DELETE, ALLOW_GET_POST, ALLOW_POST, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::RedfishState;
use super::session::Caller;

const SERVICE: &str = "/redfish/v1/EventService";
const SUBSCRIPTIONS: &str = "/redfish/v1/EventService/Subscriptions";
/// The event types a subscription may ask for.
pub const EVENT_TYPES: [&str; 2] = ["StatusChange", "Alert"];
/// The registry prefixes of the messages events carry.
pub const REGISTRY_PREFIXES: [&str; 1] = ["ResourceEvent"];
/// Subscriptions per service.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Headers per subscription, and the longest context.
const MAX_HEADERS: usize = 16;
const MAX_CONTEXT: usize = 256;

/// One subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Id (never reused within a service).
    pub id: u64,
    /// Where events are POSTed (http(s) on loopback).
    pub destination: String,
    /// Event types asked for (empty = all).
    pub event_types: Vec<String>,
    /// Registry prefixes asked for (empty = all).
    pub registry_prefixes: Vec<String>,
    /// Echoed in every event.
    pub context: String,
    /// Names of the HTTP headers sent with each event (their values stay with the sender task).
    pub header_names: Vec<String>,
    /// Systems the subscribing account manages: events of other systems are not sent.
    pub systems: Vec<String>,
    /// The sender task's queue.
    pub queue: mpsc::Sender<Value>,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

/// The subscriptions of one service.
#[derive(Debug, Default)]
pub struct EventState {
    /// Current subscriptions, oldest first.
    pub subscriptions: Vec<Subscription>,
    next_subscription: u64,
    next_event: u64,
    /// Whether the dispatcher task runs.
    pub dispatching: bool,
}

impl EventState {
    /// A fresh event id.
    pub fn next_event_id(&mut self) -> u64 {
        self.next_event += 1;
        self.next_event
    }
}

/// `GET /redfish/v1/EventService`.
pub async fn get_service() -> Document {
    Document::ok(
        json!({
            "@odata.id": SERVICE,
            "@odata.type": types::EVENT_SERVICE,
            "Id": "EventService",
            "Name": "Event Service",
            "ServiceEnabled": true,
            "DeliveryRetryAttempts": 0,
            "DeliveryRetryIntervalSeconds": 1,
            "EventTypesForSubscription": EVENT_TYPES,
            "RegistryPrefixes": REGISTRY_PREFIXES,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Subscriptions": {"@odata.id": SUBSCRIPTIONS},
            "Actions": {
                "#EventService.SubmitTestEvent": {
                    "target": format!("{SERVICE}/Actions/EventService.SubmitTestEvent"),
                },
            },
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/EventService/Subscriptions`.
pub async fn list(State(state): State<RedfishState>) -> Document {
    let events = state.events();
    let events = events.lock().unwrap_or_else(|e| e.into_inner());
    let members: Vec<Value> = events
        .subscriptions
        .iter()
        .map(|s| json!({"@odata.id": format!("{SUBSCRIPTIONS}/{}", s.id)}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": SUBSCRIPTIONS,
            "@odata.type": types::EVENT_DESTINATION_COLLECTION,
            "Name": "Event Subscriptions Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET_POST,
    )
}

fn subscription_body(s: &Subscription) -> Value {
    json!({
        "@odata.id": format!("{SUBSCRIPTIONS}/{}", s.id),
        "@odata.type": types::EVENT_DESTINATION,
        "Id": s.id.to_string(),
        "Name": format!("Subscription {}", s.id),
        "Destination": s.destination,
        "EventTypes": s.event_types,
        "RegistryPrefixes": s.registry_prefixes,
        "Context": s.context,
        "Protocol": "Redfish",
        "SubscriptionType": "RedfishEvent",
        // The specification has HttpHeaders null or empty in responses: they may hold secrets.
        "HttpHeaders": [],
    })
}

/// `GET /redfish/v1/EventService/Subscriptions/{id}`.
pub async fn get(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let uri = format!("{SUBSCRIPTIONS}/{id}");
    let events = state.events();
    let events = events.lock().unwrap_or_else(|e| e.into_inner());
    events
        .subscriptions
        .iter()
        .find(|s| s.id.to_string() == id)
        .map(|s| Document::ok(subscription_body(s), ALLOW_GET_DELETE))
        .ok_or(RedfishError::NotFound { uri })
}

/// `DELETE /redfish/v1/EventService/Subscriptions/{id}`: stops delivery (its sender ends).
pub async fn delete(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Response, RedfishError> {
    let uri = format!("{SUBSCRIPTIONS}/{id}");
    let events = state.events();
    let mut events = events.lock().unwrap_or_else(|e| e.into_inner());
    let pos = events
        .subscriptions
        .iter()
        .position(|s| s.id.to_string() == id)
        .ok_or(RedfishError::NotFound { uri })?;
    let removed = events.subscriptions.remove(pos);
    tracing::info!(
        subscription = removed.id,
        "redfish event subscription deleted"
    );
    Ok(document::no_content(ALLOW_GET_DELETE))
}

fn strings(key: &str, value: &Value, allowed: &[&str]) -> Result<Vec<String>, RedfishError> {
    let items = value
        .as_array()
        .ok_or_else(|| RedfishError::PropertyValueTypeError {
            property: key.to_string(),
            value: value.to_string(),
        })?;
    items
        .iter()
        .map(|item| {
            let s = item
                .as_str()
                .ok_or_else(|| RedfishError::PropertyValueTypeError {
                    property: key.to_string(),
                    value: item.to_string(),
                })?;
            if allowed.contains(&s) {
                Ok(s.to_string())
            } else {
                Err(RedfishError::PropertyValueNotInList {
                    property: key.to_string(),
                    value: s.to_string(),
                })
            }
        })
        .collect()
}

/// Checks a destination: an absolute http(s) URL on loopback (the egress rule with no extra
/// network), so events never leave the machine.
pub fn check_destination(destination: &str) -> Result<(), RedfishError> {
    let refuse = |reason: String| RedfishError::PropertyValueIncorrect {
        property: "Destination".into(),
        value: destination.to_string(),
        reason,
    };
    let url = url::Url::parse(destination).map_err(|e| refuse(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    let host = url.host().ok_or_else(|| refuse("no host".into()))?;
    crate::egress::admit_host(&host, &[])
        .map(|_| ())
        .map_err(|refusal| {
            refuse(format!(
                "{refusal}; events are sent to loopback (127.0.0.0/8, ::1) only"
            ))
        })
}

/// Reads `HttpHeaders` (an array of objects of header name → string value).
fn http_headers(value: &Value) -> Result<HeaderMap, RedfishError> {
    let type_error = || RedfishError::PropertyValueTypeError {
        property: "HttpHeaders".into(),
        // Values may be secrets: the error names the property only.
        value: "(not shown)".into(),
    };
    let mut headers = HeaderMap::new();
    for entry in value.as_array().ok_or_else(type_error)? {
        for (name, v) in entry.as_object().ok_or_else(type_error)? {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                RedfishError::PropertyValueIncorrect {
                    property: "HttpHeaders".into(),
                    value: name.clone(),
                    reason: "not an HTTP header name".into(),
                }
            })?;
            let v = v
                .as_str()
                .and_then(|v| HeaderValue::from_str(v).ok())
                .ok_or_else(type_error)?;
            headers.append(name, v);
            if headers.len() > MAX_HEADERS {
                return Err(RedfishError::PropertyValueIncorrect {
                    property: "HttpHeaders".into(),
                    value: format!("{} headers", headers.len()),
                    reason: format!("at most {MAX_HEADERS}"),
                });
            }
        }
    }
    Ok(headers)
}

struct Request {
    destination: String,
    event_types: Vec<String>,
    registry_prefixes: Vec<String>,
    context: String,
    headers: HeaderMap,
}

fn read_request(body: &Map<String, Value>) -> Result<Request, RedfishError> {
    let text = |key: &str, value: &Value| {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| RedfishError::PropertyValueTypeError {
                property: key.to_string(),
                value: value.to_string(),
            })
    };
    let mut request = Request {
        destination: String::new(),
        event_types: Vec::new(),
        registry_prefixes: Vec::new(),
        context: String::new(),
        headers: HeaderMap::new(),
    };
    let mut destination = None;
    for (key, value) in body {
        match key.as_str() {
            "Destination" => destination = Some(text(key, value)?),
            "EventTypes" => request.event_types = strings(key, value, &EVENT_TYPES)?,
            "RegistryPrefixes" => {
                request.registry_prefixes = strings(key, value, &REGISTRY_PREFIXES)?
            }
            "Context" => {
                request.context = text(key, value)?;
                if request.context.chars().count() > MAX_CONTEXT {
                    return Err(RedfishError::StringValueTooLong {
                        property: key.clone(),
                        length: MAX_CONTEXT,
                    });
                }
            }
            "Protocol" => {
                let protocol = text(key, value)?;
                if protocol != "Redfish" {
                    return Err(RedfishError::PropertyValueNotInList {
                        property: key.clone(),
                        value: protocol,
                    });
                }
            }
            "SubscriptionType" => {
                let kind = text(key, value)?;
                if kind != "RedfishEvent" {
                    return Err(RedfishError::PropertyValueNotInList {
                        property: key.clone(),
                        value: kind,
                    });
                }
            }
            "HttpHeaders" => request.headers = http_headers(value)?,
            other => {
                return Err(RedfishError::PropertyUnknown {
                    property: other.to_string(),
                });
            }
        }
    }
    request.destination =
        destination.ok_or_else(|| RedfishError::CreateFailedMissingReqProperties {
            property: "Destination".into(),
        })?;
    check_destination(&request.destination)?;
    Ok(request)
}

/// `POST /redfish/v1/EventService/Subscriptions`: 201 with the new subscription's `Location`.
pub async fn create(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let caller = caller.map(|c| c.0.0).ok_or(RedfishError::Unauthorized)?;
    let request = read_request(&document::parse_object(&body)?)?;
    let systems: Vec<String> = state
        .system_ids()
        .filter(|id| super::session::may_manage(&state, caller, id))
        .map(str::to_string)
        .collect();
    // The loopback client every simulator part uses (names and redirects confined to loopback).
    let client = crate::agent::client::http_client(delivery::POST_TIMEOUT).map_err(|e| {
        RedfishError::Internal {
            reason: format!("event client: {e}"),
        }
    })?;
    let events = state.events();
    let (body, id) = {
        let mut guard = events.lock().unwrap_or_else(|e| e.into_inner());
        if guard.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(RedfishError::Conflict {
                reason: format!("this service keeps at most {MAX_SUBSCRIPTIONS} subscriptions"),
            });
        }
        guard.next_subscription += 1;
        let id = guard.next_subscription;
        let (queue, receiver) = mpsc::channel(QUEUE);
        let subscription = Subscription {
            id,
            destination: request.destination.clone(),
            event_types: request.event_types,
            registry_prefixes: request.registry_prefixes,
            context: request.context,
            header_names: request.headers.keys().map(|k| k.to_string()).collect(),
            systems,
            queue,
            dropped: 0,
        };
        let body = subscription_body(&subscription);
        guard.subscriptions.push(subscription);
        tokio::spawn(delivery::deliver(
            client,
            id,
            request.destination,
            request.headers,
            receiver,
        ));
        (body, id)
    };
    let world = Arc::clone(state.world());
    delivery::ensure_dispatcher(
        &events,
        || world.subscribe(),
        || {
            state
                .hosts()
                .iter()
                .map(|h| (h.index, h.bmc.system_id.clone()))
                .collect()
        },
    );
    tracing::info!(subscription = id, "redfish event subscription created");
    let location = format!("{SUBSCRIPTIONS}/{id}");
    Ok(Document::created(body, ALLOW_GET_DELETE, location).into_response())
}

/// `POST /redfish/v1/EventService/Actions/EventService.SubmitTestEvent`: an `Alert` about each
/// system the caller manages, sent to the subscriptions that want it.
pub async fn submit_test_event(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let caller = caller.map(|c| c.0.0).ok_or(RedfishError::Unauthorized)?;
    let request = document::parse_object(&body)?;
    let message = match request.get("Message") {
        None => "A test event was submitted.".to_string(),
        Some(Value::String(m)) => m.clone(),
        Some(other) => {
            return Err(RedfishError::PropertyValueTypeError {
                property: "Message".into(),
                value: other.to_string(),
            });
        }
    };
    let events = state.events();
    for system in state
        .system_ids()
        .filter(|id| super::session::may_manage(&state, caller, id))
    {
        let record = Record {
            event_type: "Alert",
            message_id: "ResourceEvent.1.3.ResourceChanged".into(),
            message: message.clone(),
            args: vec![system.to_string()],
            severity: "OK",
            system: system.to_string(),
        };
        delivery::publish(&events, &record);
    }
    Ok(document::no_content(ALLOW_POST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_off_loopback_or_not_http_are_refused() {
        for ok in [
            "http://127.0.0.1:9000/events",
            "https://localhost/e",
            "http://[::1]/",
        ] {
            assert_eq!(check_destination(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://192.168.1.10/events",
            "https://events.example.com/",
            "mailto:ops@example.com",
            "127.0.0.1:9000",
        ] {
            assert!(
                matches!(check_destination(bad), Err(RedfishError::PropertyValueIncorrect { ref property, .. }) if property == "Destination"),
                "{bad}"
            );
        }
    }

    #[test]
    fn header_values_never_appear_in_a_refusal() {
        let e = http_headers(&json!([{"X-Token": 42}])).unwrap_err();
        assert!(!format!("{e:?}").contains("42"));
        let e = http_headers(&json!([{"bad header": "secret-value"}])).unwrap_err();
        assert!(!format!("{e:?}").contains("secret-value"));
        let ok = http_headers(&json!([{"X-Token": "secret-value"}, {"X-Other": "b"}])).unwrap();
        assert_eq!(ok.len(), 2);
    }
}
