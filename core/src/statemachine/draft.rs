//! The decision under construction: status edits, the one effect, events and requeue.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::backoff::{backoff_floor, error_backoff_in};
use super::{
    Decision, Effect, EventKind, FinalizerChange, Flow, HostEvent, Input, Note, Phase, SlotChange,
    capacity, conditions,
};
use crate::api::{
    BareMetalHost, BareMetalHostStatus, BootMode, ErrorType, OperationMetric, OperationalStatus,
    ProvisioningState,
};
use crate::provisioner::{Action, Observation};

pub(crate) struct Draft<'a> {
    pub input: &'a Input<'a>,
    pub status: BareMetalHostStatus,
    /// The status as read (borrowed from the host; a default only for a host without one).
    original: Cow<'a, BareMetalHostStatus>,
    effect: Effect,
    finalizer: FinalizerChange,
    remove: BTreeSet<String>,
    events: Vec<HostEvent>,
    requeue: Option<Duration>,
    poll: bool,
    slot: SlotChange,
    from: ProvisioningState,
    notes: Vec<Note>,
    cause: String,
}

impl<'a> Draft<'a> {
    pub fn new(input: &'a Input<'a>) -> Self {
        let original = match &input.host.status {
            Some(status) => Cow::Borrowed(status),
            None => Cow::Owned(BareMetalHostStatus::default()),
        };
        let status = original.as_ref().clone();
        Draft {
            input,
            from: status.provisioning.state,
            original,
            status,
            effect: Effect::None,
            finalizer: FinalizerChange::Keep,
            remove: BTreeSet::new(),
            events: Vec::new(),
            requeue: None,
            poll: false,
            slot: SlotChange::Keep,
            notes: Vec::new(),
            cause: String::new(),
        }
    }

    pub fn host(&self) -> &'a BareMetalHost {
        self.input.host
    }

    pub fn observation(&self) -> &'a Observation {
        self.input.observation
    }

    pub fn state(&self) -> ProvisioningState {
        self.status.provisioning.state
    }

    pub fn deleting(&self) -> bool {
        self.input.host.metadata.deletion_timestamp.is_some()
    }

    pub fn now_time(&self) -> Time {
        to_time(self.input.now)
    }

    /// Replaces the status wholesale (restore from the status annotation).
    pub fn replace_status(&mut self, status: BareMetalHostStatus) {
        self.from = status.provisioning.state;
        self.status = status;
    }

    pub fn because(&mut self, cause: impl Into<String>) {
        self.cause = cause.into();
    }

    /// Reconcile again after `after` (a retry, a steady-state check: never paced).
    pub fn requeue(&mut self, after: Duration) {
        self.requeue = Some(after);
        self.poll = false;
    }

    /// Look at a change in progress again after `after` at the latest (a [`super::Pacer`] may
    /// look sooner).
    pub fn poll(&mut self, after: Duration) {
        self.requeue = Some(after);
        self.poll = true;
    }

    pub fn requeue_now(&mut self) {
        self.requeue(Duration::ZERO);
    }

    pub fn no_requeue(&mut self) {
        self.requeue = None;
        self.poll = false;
    }

    /// Carry out `action`, then poll its progress after `poll` at the latest.
    pub fn act(&mut self, action: Action, poll: Duration) {
        self.effect = Effect::Provisioner(action);
        self.poll(poll);
    }

    pub fn effect(&mut self, effect: Effect) {
        self.effect = effect;
    }

    pub fn add_finalizer(&mut self) {
        self.finalizer = FinalizerChange::Add;
        self.requeue_now();
    }

    pub fn remove_finalizer(&mut self) {
        self.finalizer = FinalizerChange::Remove;
        self.requeue = None;
    }

    pub fn remove_annotation(&mut self, key: &str) {
        self.remove.insert(key.to_string());
    }

    pub fn event(&mut self, kind: EventKind, reason: &'static str, message: impl Into<String>) {
        self.events.push(HostEvent {
            kind,
            reason,
            message: message.into(),
        });
    }

    pub fn note(&mut self, note: Note) {
        self.notes.push(note);
    }

    pub fn take_slot(&mut self) {
        self.slot = SlotChange::Take;
    }

    /// Moves to `to`, recording the phase history; entering a slot-holding state passes the
    /// capacity gate first. `Flow::Stop` means the gate held the host back (opStatus delayed).
    pub fn go<R: rand::Rng + ?Sized>(&mut self, to: ProvisioningState, rng: &mut R) -> Flow {
        let from = self.state();
        if from == to {
            return Flow::Continue;
        }
        if capacity::gated(to) && !capacity::gated(from) && capacity::blocked(self) {
            capacity::delay(self, to, rng);
            return Flow::Stop;
        }
        let now = self.now_time();
        if let Some(phase) = phase_of(from) {
            self.end_phase(phase);
        }
        if let Some(phase) = phase_of(to) {
            let history = self
                .status
                .operation_history
                .get_or_insert_with(Default::default);
            let metric = metric_mut(history, phase);
            let restart = match metric {
                None => true,
                Some(m) => m.start.is_none() || m.end.is_some(),
            };
            if restart {
                *metric = Some(OperationMetric {
                    start: Some(now),
                    end: None,
                });
            }
        }
        if matches!(
            to,
            ProvisioningState::Registering
                | ProvisioningState::Inspecting
                | ProvisioningState::Provisioning
        ) {
            let mode = self.host().spec.boot_mode.clone().unwrap_or(BootMode::Uefi);
            self.status.provisioning.boot_mode = Some(mode);
        }
        match (capacity::gated(from), capacity::gated(to)) {
            (false, true) if !capacity::exempt(self) => self.slot = SlotChange::Take,
            (true, false) if !capacity::exempt(self) => self.slot = SlotChange::Release,
            _ => {}
        }
        self.status.provisioning.state = to;
        if self.requeue.is_none() {
            self.requeue_now();
        }
        Flow::Continue
    }

    /// Starts the register phase again (re-registration outside `registering`).
    pub fn restart_phase(&mut self, phase: Phase) {
        let now = self.now_time();
        let history = self
            .status
            .operation_history
            .get_or_insert_with(Default::default);
        let metric = metric_mut(history, phase);
        if metric
            .as_ref()
            .is_none_or(|m| m.end.is_some() || m.start.is_none())
        {
            *metric = Some(OperationMetric {
                start: Some(now),
                end: None,
            });
        }
    }

    /// Ends a running phase; returns true when it was running.
    pub fn end_phase(&mut self, phase: Phase) -> bool {
        let now = self.now_time();
        let Some(history) = self.status.operation_history.as_mut() else {
            return false;
        };
        let metric = metric_mut(history, phase);
        if let Some(m) = metric.as_mut()
            && let (Some(start), None) = (&m.start, &m.end)
        {
            let secs = now.0.as_second().saturating_sub(start.0.as_second()).max(0);
            m.end = Some(now);
            self.notes.push(Note::OperationFinished(
                phase,
                u64::try_from(secs).unwrap_or(0),
            ));
            return true;
        }
        false
    }

    /// Records an error: opStatus `error`, errorType, message, errorCount + 1, a Warning Event,
    /// and a requeue after the exponential backoff.
    pub fn fail<R: rand::Rng + ?Sized>(&mut self, kind: ErrorType, message: String, rng: &mut R) {
        self.set_error(kind, message);
        self.requeue(error_backoff_in(
            self.input.settings.error_backoff_unit,
            self.status.error_count,
            rng,
        ));
    }

    /// Records an error that only the user can fix: no requeue, and nothing new (no count, no
    /// Event) when exactly this error is already recorded.
    pub fn fail_permanently(&mut self, kind: ErrorType, message: String) {
        self.fail_permanently_as(kind, message, kind.event_reason());
    }

    /// [`Draft::fail_permanently`] with an Event reason other than the error type's.
    pub fn fail_permanently_as(&mut self, kind: ErrorType, message: String, reason: &'static str) {
        self.requeue = None;
        if self.status.error_type == Some(kind) && self.status.error_message == message {
            return;
        }
        self.set_error_as(kind, message, reason);
    }

    fn set_error(&mut self, kind: ErrorType, message: String) {
        self.set_error_as(kind, message, kind.event_reason());
    }

    fn set_error_as(&mut self, kind: ErrorType, message: String, reason: &'static str) {
        self.status.operational_status = OperationalStatus::Error;
        self.status.error_type = Some(kind);
        self.status.error_count = self.status.error_count.saturating_add(1);
        self.event(EventKind::Warning, reason, message.clone());
        self.status.error_message = message;
        self.notes.push(Note::HostError(kind));
    }

    /// Clears errorType and message (and opStatus `error`), keeping errorCount for the backoff.
    pub fn clear_error(&mut self) {
        if matches!(
            self.status.operational_status,
            OperationalStatus::Error | OperationalStatus::Unknown
        ) {
            self.status.operational_status = OperationalStatus::Ok;
        }
        self.status.error_type = None;
        self.status.error_message.clear();
    }

    /// Clears the error and resets errorCount (a successful step).
    pub fn succeed(&mut self) {
        self.clear_error();
        self.status.error_count = 0;
    }

    pub fn error_is(&self, kind: ErrorType) -> bool {
        self.status.error_type == Some(kind)
    }

    /// Time left before a recorded error may be retried: at least the lower bound of the
    /// backoff since the error was saved (guards against watch events that arrive early).
    pub fn backoff_left(&self) -> Option<Duration> {
        self.status.error_type?;
        let saved = self.original.last_updated.as_ref()?;
        let floor = backoff_floor(
            self.input.settings.error_backoff_unit,
            self.status.error_count,
        );
        let floor_ms = i64::try_from(floor.as_millis()).unwrap_or(i64::MAX);
        let until = saved.0.as_millisecond().saturating_add(floor_ms);
        let now = self.input.now.timestamp_millis();
        (until > now).then(|| Duration::from_millis(u64::try_from(until - now).unwrap_or(0)))
    }

    /// A decision that changes nothing and waits for the next event.
    pub fn idle(self, cause: &str) -> Decision {
        Decision::unchanged(self.input.host, cause)
    }

    pub fn finish(mut self, cause: &str) -> Decision {
        self.cause = cause.to_string();
        self.finish_owned()
    }

    pub fn finish_owned(mut self) -> Decision {
        let now = self.now_time();
        conditions::compute(&mut self.status, &self.original, &now);
        let status_changed = self.status != *self.original;
        if status_changed {
            self.status.last_updated = Some(now);
        }
        let to = self.status.provisioning.state;
        let transition = (self.from != to).then_some((self.from, to));
        let present = self.input.host.metadata.annotations.as_ref();
        let remove_annotations = self
            .remove
            .into_iter()
            .filter(|k| present.is_some_and(|a| a.contains_key(k)))
            .collect();
        Decision {
            status: self.status,
            status_changed,
            effect: self.effect,
            finalizer: self.finalizer,
            remove_annotations,
            events: self.events,
            requeue_after: self.requeue,
            poll: self.poll,
            slot: self.slot,
            transition,
            notes: self.notes,
            cause: self.cause,
        }
    }
}

/// Kubernetes times carry whole seconds on the wire; keep them that way so a status read back
/// from the API server compares equal.
pub(crate) fn to_time(now: chrono::DateTime<chrono::Utc>) -> Time {
    Time(Timestamp::from_second(now.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

pub(crate) fn phase_of(state: ProvisioningState) -> Option<Phase> {
    match state {
        ProvisioningState::Registering => Some(Phase::Register),
        ProvisioningState::Inspecting => Some(Phase::Inspect),
        ProvisioningState::Provisioning => Some(Phase::Provision),
        ProvisioningState::Deprovisioning => Some(Phase::Deprovision),
        _ => None,
    }
}

fn metric_mut(
    history: &mut crate::api::OperationHistory,
    phase: Phase,
) -> &mut Option<OperationMetric> {
    match phase {
        Phase::Register => &mut history.register,
        Phase::Inspect => &mut history.inspect,
        Phase::Provision => &mut history.provision,
        Phase::Deprovision => &mut history.deprovision,
    }
}
