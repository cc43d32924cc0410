//! Event delivery: what a machine event becomes as a Redfish Event (pure), which subscriptions
//! want it (pure), and the tasks that POST it: one dispatcher per service listening to the world's
//! events, and one sender per subscription with a bounded queue and a timeout, so a slow or dead
//! subscriber never blocks the BMC or the other subscribers.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::events::{EventState, Subscription};
use super::metadata::types;
use crate::fault::Health;
use crate::machine::{BootOutcome, HostEvent, MachineEvent, PowerState};

/// Events waiting per subscriber; more are dropped (and counted) until the sender catches up.
pub const QUEUE: usize = 32;
/// How long one POST to a subscriber may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(2);

/// One event record before it is addressed to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `Alert` or `StatusChange`.
    pub event_type: &'static str,
    /// Registry-qualified message id, e.g. `ResourceEvent.1.3.ResourcePoweredOn`.
    pub message_id: String,
    /// Human message.
    pub message: String,
    /// Message arguments.
    pub args: Vec<String>,
    /// `OK`, `Warning` or `Critical`.
    pub severity: &'static str,
    /// The system the event is about.
    pub system: String,
}

const RESOURCE_EVENT: &str = "ResourceEvent.1.3";

impl Record {
    /// The registry prefix of the message (`ResourceEvent`, `Base`, ...).
    pub fn registry_prefix(&self) -> &str {
        self.message_id.split('.').next().unwrap_or_default()
    }
}

/// What system `system`'s machine event becomes, if subscribers hear of it: power reaching On or
/// Off (`StatusChange`), a boot finding nothing bootable, an NMI and a health change (`Alert`).
pub fn record_of(system: &str, event: &MachineEvent) -> Option<Record> {
    let record = |event_type, key: &str, message: String, severity| Record {
        event_type,
        message_id: format!("{RESOURCE_EVENT}.{key}"),
        message,
        args: vec![system.to_string()],
        severity,
        system: system.to_string(),
    };
    match event {
        MachineEvent::PowerChanged {
            to: PowerState::On, ..
        } => Some(record(
            "StatusChange",
            "ResourcePoweredOn",
            format!("The resource {system} has powered on."),
            "OK",
        )),
        MachineEvent::PowerChanged {
            to: PowerState::Off,
            ..
        } => Some(record(
            "StatusChange",
            "ResourcePoweredOff",
            format!("The resource {system} has powered off."),
            "OK",
        )),
        MachineEvent::Booted { record: boot } if boot.outcome == BootOutcome::NoBootableDevice => {
            Some(record(
                "Alert",
                "ResourceErrorsDetected",
                format!(
                    "The resource property {system} has detected errors of type 'NoBootableDevice'."
                ),
                "Critical",
            ))
        }
        MachineEvent::Nmi { .. } => Some(record(
            "Alert",
            "ResourceChanged",
            format!("A diagnostic interrupt was delivered to {system}."),
            "Warning",
        )),
        MachineEvent::HealthChanged { to, .. } => {
            let (key, severity) = match to {
                Health::OK => ("ResourceStatusChangedOK", "OK"),
                Health::Warning => ("ResourceStatusChangedWarning", "Warning"),
                Health::Critical => ("ResourceStatusChangedCritical", "Critical"),
            };
            Some(record(
                "Alert",
                key,
                format!(
                    "The health of resource '{system}' has changed to {} from its parts.",
                    to.as_str()
                ),
                severity,
            ))
        }
        _ => None,
    }
}

/// Whether `subscription` wants `record`: the subscriber's account manages the system, and the
/// event type and registry prefix are among those it asked for (an empty list asks for all).
pub fn wants(subscription: &Subscription, record: &Record) -> bool {
    subscription.systems.contains(&record.system)
        && (subscription.event_types.is_empty()
            || subscription
                .event_types
                .iter()
                .any(|t| t == record.event_type))
        && (subscription.registry_prefixes.is_empty()
            || subscription
                .registry_prefixes
                .iter()
                .any(|p| p == record.registry_prefix()))
}

/// The Event document a subscriber receives for `record`.
pub fn event_body(id: u64, context: &str, record: &Record) -> Value {
    json!({
        "@odata.type": types::EVENT,
        "Id": id.to_string(),
        "Name": "metal-sim BMC event",
        "Context": context,
        "Events": [{
            "MemberId": "0",
            "EventType": record.event_type,
            "EventId": id.to_string(),
            "Severity": record.severity,
            "MessageSeverity": record.severity,
            "MessageId": record.message_id,
            "Message": record.message,
            "MessageArgs": record.args,
            "OriginOfCondition": {"@odata.id": format!("/redfish/v1/Systems/{}", record.system)},
        }],
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `record` for every subscription that wants it; a full queue drops the event for that
/// subscriber only.
pub fn publish(events: &Mutex<EventState>, record: &Record) {
    let mut state = lock(events);
    let id = state.next_event_id();
    for sub in state.subscriptions.iter_mut().filter(|s| wants(s, record)) {
        let body = event_body(id, &sub.context, record);
        if sub.queue.try_send(body).is_err() {
            sub.dropped = sub.dropped.saturating_add(1);
            tracing::warn!(
                subscription = sub.id,
                dropped = sub.dropped,
                "redfish event dropped: subscriber queue full"
            );
        }
    }
}

/// Listens to the world's events and publishes those of `systems` (host index → system id) until
/// the service is gone (its event state dropped) or the world stops.
pub async fn dispatch(
    mut world_events: broadcast::Receiver<HostEvent>,
    systems: Vec<(usize, String)>,
    events: Weak<Mutex<EventState>>,
) {
    loop {
        let event = match world_events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "redfish event dispatcher lagged behind the world");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(events) = events.upgrade() else {
            return;
        };
        let Some((_, system)) = systems.iter().find(|(i, _)| *i == event.host) else {
            continue;
        };
        if let Some(record) = record_of(system, &event.event) {
            publish(&events, &record);
        }
    }
}

/// Sends what arrives on `queue` to `destination` until the subscription is deleted (the queue's
/// sender dropped). Each POST has [`POST_TIMEOUT`]; failures are logged and not retried.
pub async fn deliver(
    client: reqwest::Client,
    subscription: u64,
    destination: String,
    headers: reqwest::header::HeaderMap,
    mut queue: mpsc::Receiver<Value>,
) {
    while let Some(body) = queue.recv().await {
        let result = client
            .post(&destination)
            .headers(headers.clone())
            .json(&body)
            .timeout(POST_TIMEOUT)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(subscription, "redfish event delivered");
            }
            Ok(response) => {
                tracing::info!(
                    subscription,
                    status = response.status().as_u16(),
                    "redfish event refused by subscriber"
                );
            }
            Err(error) => {
                tracing::info!(subscription, error = %error, "redfish event delivery failed");
            }
        }
    }
}

/// Starts the dispatcher of a service once (when its first subscription arrives).
pub fn ensure_dispatcher(
    events: &Arc<Mutex<EventState>>,
    world_events: impl FnOnce() -> broadcast::Receiver<HostEvent>,
    systems: impl FnOnce() -> Vec<(usize, String)>,
) {
    let mut state = lock(events);
    if state.dispatching {
        return;
    }
    state.dispatching = true;
    tokio::spawn(dispatch(world_events(), systems(), Arc::downgrade(events)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::SimTime;

    fn subscription(types: &[&str], prefixes: &[&str]) -> Subscription {
        let (queue, _) = mpsc::channel(1);
        Subscription {
            id: 1,
            destination: "http://127.0.0.1:9/events".into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            registry_prefixes: prefixes.iter().map(|t| t.to_string()).collect(),
            context: "ctx".into(),
            header_names: Vec::new(),
            systems: vec!["sys-1".into()],
            queue,
            dropped: 0,
        }
    }

    #[test]
    fn power_reaching_on_or_off_is_a_status_change_and_transitions_are_not_events() {
        let on = MachineEvent::PowerChanged {
            at: SimTime::ZERO,
            from: PowerState::PoweringOn,
            to: PowerState::On,
        };
        let r = record_of("sys-1", &on).unwrap();
        assert_eq!(r.event_type, "StatusChange");
        assert_eq!(r.message_id, "ResourceEvent.1.3.ResourcePoweredOn");
        assert_eq!(r.registry_prefix(), "ResourceEvent");
        let powering = MachineEvent::PowerChanged {
            at: SimTime::ZERO,
            from: PowerState::Off,
            to: PowerState::PoweringOn,
        };
        assert_eq!(record_of("sys-1", &powering), None);
        let health = MachineEvent::HealthChanged {
            at: SimTime::ZERO,
            from: Health::OK,
            to: Health::Critical,
        };
        let alert = record_of("sys-1", &health).unwrap();
        assert_eq!((alert.event_type, alert.severity), ("Alert", "Critical"));
    }

    #[test]
    fn subscriptions_filter_by_system_type_and_registry_prefix() {
        let on = record_of(
            "sys-1",
            &MachineEvent::PowerChanged {
                at: SimTime::ZERO,
                from: PowerState::PoweringOn,
                to: PowerState::On,
            },
        )
        .unwrap();
        assert!(wants(&subscription(&[], &[]), &on));
        assert!(wants(
            &subscription(&["StatusChange"], &["ResourceEvent"]),
            &on
        ));
        assert!(!wants(&subscription(&["Alert"], &[]), &on));
        assert!(!wants(&subscription(&[], &["Base"]), &on));
        let other = Record {
            system: "sys-2".into(),
            ..on
        };
        assert!(
            !wants(&subscription(&[], &[]), &other),
            "not this account's system"
        );
    }

    #[test]
    fn a_full_queue_drops_events_for_that_subscriber_only() {
        let events = Mutex::new(EventState::default());
        let (full, _keep) = mpsc::channel(1);
        let (roomy, mut receiver) = mpsc::channel(8);
        {
            let mut s = lock(&events);
            s.subscriptions.push(Subscription {
                queue: full,
                ..subscription(&[], &[])
            });
            s.subscriptions.push(Subscription {
                id: 2,
                queue: roomy,
                ..subscription(&[], &[])
            });
        }
        let record = record_of("sys-1", &MachineEvent::Nmi { at: SimTime::ZERO }).unwrap();
        for _ in 0..3 {
            publish(&events, &record);
        }
        let s = lock(&events);
        assert_eq!(s.subscriptions[0].dropped, 2);
        assert_eq!(s.subscriptions[1].dropped, 0);
        drop(s);
        let mut got = 0;
        while receiver.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 3);
    }
}
