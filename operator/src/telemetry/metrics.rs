//! The Prometheus registry, with upstream Metal3 metric names and label keys.
//!
//! Labels only ever carry Kubernetes object names and constant strings from our own enums, never
//! `Debug` output, error texts or anything read from a Secret.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::{ErrorType, ProvisioningState};

/// `{namespace, host}`: the host a sample is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    pub namespace: String,
    pub host: String,
}

impl HostLabels {
    pub fn new(namespace: &str, host: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            host: host.to_owned(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorTypeLabels {
    error_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConfigDataLabels {
    host_data_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateChangeLabels {
    prev_state: &'static str,
    new_state: &'static str,
}

/// controller-runtime's label keys: the webhook's path and the HTTP status answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PowerLabels {
    namespace: String,
    host: String,
    on_off: &'static str,
}

/// The long-running operations upstream times, each with its own histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Register,
    Inspect,
    Provision,
    Deprovision,
}

impl Operation {
    /// The operation a host performs while in `state`, if that state is timed.
    pub fn of_state(state: ProvisioningState) -> Option<Self> {
        match state {
            ProvisioningState::Registering => Some(Self::Register),
            ProvisioningState::Inspecting => Some(Self::Inspect),
            ProvisioningState::Provisioning => Some(Self::Provision),
            ProvisioningState::Deprovisioning => Some(Self::Deprovision),
            _ => None,
        }
    }
}

/// Which gated operation a capacity delay held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    Provisioning,
    Deprovisioning,
}

/// A condition upstream counts with a label-less counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incident {
    CredentialsMissing,
    CredentialsInvalid,
    CredentialsUpdated,
    RegistrationRequired,
    HostUnmanaged,
    DeleteWithoutDeprovisioning,
    DeleteWithoutPoweringOff,
    ProvisionerNotReady,
    DeleteDelayedForDetached,
}

impl Incident {
    const ALL: [Incident; 9] = [
        Self::CredentialsMissing,
        Self::CredentialsInvalid,
        Self::CredentialsUpdated,
        Self::RegistrationRequired,
        Self::HostUnmanaged,
        Self::DeleteWithoutDeprovisioning,
        Self::DeleteWithoutPoweringOff,
        Self::ProvisionerNotReady,
        Self::DeleteDelayedForDetached,
    ];

    /// Metric name without the `_total` suffix the encoder appends to counters.
    fn metric_name(self) -> &'static str {
        match self {
            Self::CredentialsMissing => "metal3_credentials_missing",
            Self::CredentialsInvalid => "metal3_credentials_invalid",
            Self::CredentialsUpdated => "metal3_credentials_updated",
            Self::RegistrationRequired => "metal3_host_registration_required",
            Self::HostUnmanaged => "metal3_host_unmanaged",
            Self::DeleteWithoutDeprovisioning => "metal3_delete_without_deprovisioning",
            Self::DeleteWithoutPoweringOff => "metal3_delete_without_powering_off",
            Self::ProvisionerNotReady => "metal3_provisioner_not_ready",
            Self::DeleteDelayedForDetached => "metal3_delete_delayed_for_detached",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Self::CredentialsMissing => {
                "Number of times a host's BMC credentials Secret was missing"
            }
            Self::CredentialsInvalid => "Number of times a host's BMC credentials were invalid",
            Self::CredentialsUpdated => "Number of times a host's BMC credentials changed",
            Self::RegistrationRequired => "Number of times a host had to be (re-)registered",
            Self::HostUnmanaged => "Number of times a host was found without BMC details",
            Self::DeleteWithoutDeprovisioning => {
                "Number of hosts deleted after deprovisioning failed too often"
            }
            Self::DeleteWithoutPoweringOff => {
                "Number of hosts deleted after powering off failed too often"
            }
            Self::ProvisionerNotReady => "Number of times the provisioner was not ready",
            Self::DeleteDelayedForDetached => {
                "Number of times deletion waited because the host is detached"
            }
        }
    }
}

/// Every metric the operator exports, cheap to clone and share.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconcile: Family<HostLabels, Counter>,
    reconcile_error: Counter,
    host_error: Family<ErrorTypeLabels, Counter>,
    state_change: Family<StateChangeLabels, Counter>,
    power_change: Family<PowerLabels, Counter>,
    delayed_provisioning: Family<HostLabels, Counter>,
    delayed_deprovisioning: Family<HostLabels, Counter>,
    incidents: Arc<[(Incident, Counter); 9]>,
    config_data_error: Family<ConfigDataLabels, Counter>,
    register_duration: Family<HostLabels, Histogram>,
    inspect_duration: Family<HostLabels, Histogram>,
    provision_duration: Family<HostLabels, Histogram>,
    deprovision_duration: Family<HostLabels, Histogram>,
    webhook_requests: Family<WebhookLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn duration_family() -> Family<HostLabels, Histogram> {
    // 1 s .. ~9 h: operations range from a quick registration to a long disk wipe.
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 2.0, 16)))
}

impl Metrics {
    /// Builds a fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile = Family::<HostLabels, Counter>::default();
        registry.register(
            "metal3_reconcile",
            "Number of reconcile loops run",
            reconcile.clone(),
        );
        let reconcile_error = Counter::default();
        registry.register(
            "metal3_reconcile_error",
            "Number of reconcile loops that ended in an error",
            reconcile_error.clone(),
        );
        let host_error = Family::<ErrorTypeLabels, Counter>::default();
        registry.register(
            "metal3_host_error",
            "Number of times a host entered an error state, by error type",
            host_error.clone(),
        );
        let state_change = Family::<StateChangeLabels, Counter>::default();
        registry.register(
            "metal3_provisioning_state_change",
            "Number of provisioning state transitions, by previous and new state",
            state_change.clone(),
        );
        let power_change = Family::<PowerLabels, Counter>::default();
        registry.register(
            "metal3_operation_power_change",
            "Number of power changes requested, by host and direction",
            power_change.clone(),
        );
        // Upstream spells these with a double underscore; dashboards depend on the exact name.
        let delayed_provisioning = Family::<HostLabels, Counter>::default();
        registry.register(
            "metal3_delayed__provisioning",
            "Number of times provisioning waited for a free provisioning slot",
            delayed_provisioning.clone(),
        );
        let delayed_deprovisioning = Family::<HostLabels, Counter>::default();
        registry.register(
            "metal3_delayed__deprovisioning",
            "Number of times deprovisioning waited for a free provisioning slot",
            delayed_deprovisioning.clone(),
        );
        let config_data_error = Family::<ConfigDataLabels, Counter>::default();
        registry.register(
            "metal3_host_config_data_error",
            "Number of times a host's user, network or meta data Secret could not be read",
            config_data_error.clone(),
        );
        let incidents = Incident::ALL.map(|incident| {
            let counter = Counter::default();
            registry.register(incident.metric_name(), incident.help(), counter.clone());
            (incident, counter)
        });
        let mut duration = |name: &str, help: &str| {
            let family = duration_family();
            registry.register(name, help, family.clone());
            family
        };
        let register_duration = duration(
            "metal3_operation_register_duration_seconds",
            "Length of time per registration per host",
        );
        let inspect_duration = duration(
            "metal3_operation_inspect_duration_seconds",
            "Length of time per inspection per host",
        );
        let provision_duration = duration(
            "metal3_operation_provision_duration_seconds",
            "Length of time per provisioning per host",
        );
        let deprovision_duration = duration(
            "metal3_operation_deprovision_duration_seconds",
            "Length of time per deprovisioning per host",
        );
        // controller-runtime's name, which upstream's webhook exports.
        let webhook_requests = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "controller_runtime_webhook_requests",
            "Total number of admission requests by HTTP status code",
            webhook_requests.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconcile,
            reconcile_error,
            host_error,
            state_change,
            power_change,
            delayed_provisioning,
            delayed_deprovisioning,
            incidents: Arc::new(incidents),
            config_data_error,
            register_duration,
            inspect_duration,
            provision_duration,
            deprovision_duration,
            webhook_requests,
        }
    }

    /// One reconcile of a host started.
    /// Drops every series about one host (it was deleted): a cluster whose hosts come and go
    /// keeps a bounded set of series.
    pub fn forget_host(&self, namespace: &str, host: &str) {
        let labels = HostLabels::new(namespace, host);
        self.reconcile.remove(&labels);
        self.delayed_provisioning.remove(&labels);
        self.delayed_deprovisioning.remove(&labels);
        self.register_duration.remove(&labels);
        self.inspect_duration.remove(&labels);
        self.provision_duration.remove(&labels);
        self.deprovision_duration.remove(&labels);
        for on_off in ["on", "off"] {
            self.power_change.remove(&PowerLabels {
                namespace: namespace.to_owned(),
                host: host.to_owned(),
                on_off,
            });
        }
    }

    pub fn reconcile(&self, namespace: &str, host: &str) {
        self.reconcile
            .get_or_create(&HostLabels::new(namespace, host))
            .inc();
    }

    /// A reconcile ended in an error (requeued with backoff).
    pub fn reconcile_error(&self) {
        self.reconcile_error.inc();
    }

    /// A host entered an error state of this class.
    pub fn host_error(&self, error_type: ErrorType) {
        self.host_error
            .get_or_create(&ErrorTypeLabels {
                error_type: error_type.as_str(),
            })
            .inc();
    }

    /// A host moved between provisioning states.
    pub fn state_change(&self, prev: ProvisioningState, new: ProvisioningState) {
        self.state_change
            .get_or_create(&StateChangeLabels {
                prev_state: prev.as_str(),
                new_state: new.as_str(),
            })
            .inc();
    }

    /// A power change was requested.
    pub fn power_change(&self, namespace: &str, host: &str, on: bool) {
        let labels = PowerLabels {
            namespace: namespace.to_owned(),
            host: host.to_owned(),
            on_off: if on { "on" } else { "off" },
        };
        self.power_change.get_or_create(&labels).inc();
    }

    /// The capacity gate held a host back.
    pub fn delayed(&self, delay: Delay, namespace: &str, host: &str) {
        let family = match delay {
            Delay::Provisioning => &self.delayed_provisioning,
            Delay::Deprovisioning => &self.delayed_deprovisioning,
        };
        family
            .get_or_create(&HostLabels::new(namespace, host))
            .inc();
    }

    /// Counts one occurrence of a label-less upstream condition.
    pub fn incident(&self, incident: Incident) {
        if let Some((_, counter)) = self.incidents.iter().find(|(i, _)| *i == incident) {
            counter.inc();
        }
    }

    /// A config-data Secret (`userData`, `networkData` or `metaData`) could not be read.
    pub fn config_data_error(&self, host_data_type: &'static str) {
        self.config_data_error
            .get_or_create(&ConfigDataLabels { host_data_type })
            .inc();
    }

    /// Records how long a host spent in a timed operation.
    pub fn operation_duration(&self, op: Operation, namespace: &str, host: &str, seconds: f64) {
        let family = match op {
            Operation::Register => &self.register_duration,
            Operation::Inspect => &self.inspect_duration,
            Operation::Provision => &self.provision_duration,
            Operation::Deprovision => &self.deprovision_duration,
        };
        family
            .get_or_create(&HostLabels::new(namespace, host))
            .observe(seconds.max(0.0));
    }

    /// The admission webhook at `webhook` (its path) answered with HTTP status `code`.
    pub fn webhook_request(&self, webhook: &'static str, code: u16) {
        self.webhook_requests
            .get_or_create(&WebhookLabels { webhook, code })
            .inc();
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deleted host's series go; the other host's and the per-kind totals stay.
    #[test]
    fn a_forgotten_host_has_no_series_left() {
        let m = Metrics::new();
        for host in ["gone", "kept"] {
            m.reconcile("ns", host);
            m.power_change("ns", host, true);
            m.power_change("ns", host, false);
            m.delayed(Delay::Provisioning, "ns", host);
            m.delayed(Delay::Deprovisioning, "ns", host);
            for op in [
                Operation::Register,
                Operation::Inspect,
                Operation::Provision,
                Operation::Deprovision,
            ] {
                m.operation_duration(op, "ns", host, 1.0);
            }
        }
        m.host_error(ErrorType::Registration);
        let before = m.render().unwrap();
        assert!(before.contains("host=\"gone\""));
        m.forget_host("ns", "gone");
        let after = m.render().unwrap();
        assert!(!after.contains("host=\"gone\""), "{after}");
        let kept = |text: &str| text.matches("host=\"kept\"").count();
        assert_eq!(kept(&after), kept(&before));
        assert!(after.contains("error_type=\"registration error\""));
    }

    #[test]
    fn rendered_metrics_use_upstream_names() {
        let m = Metrics::new();
        m.reconcile("ns", "h1");
        m.reconcile_error();
        m.host_error(ErrorType::Registration);
        m.state_change(
            ProvisioningState::Registering,
            ProvisioningState::Inspecting,
        );
        m.operation_duration(Operation::Register, "ns", "h1", 3.5);
        m.operation_duration(Operation::Inspect, "ns", "h1", 60.0);
        m.operation_duration(Operation::Provision, "ns", "h1", 120.0);
        m.operation_duration(Operation::Deprovision, "ns", "h1", 30.0);
        m.delayed(Delay::Provisioning, "ns", "h1");
        m.incident(Incident::RegistrationRequired);
        m.incident(Incident::DeleteWithoutDeprovisioning);
        m.power_change("ns", "h1", true);
        m.config_data_error("userData");
        m.webhook_request("/validate-metal3-io-v1alpha1-baremetalhost", 200);
        let text = m.render().unwrap();
        for needle in [
            "metal3_reconcile_total{namespace=\"ns\",host=\"h1\"} 1",
            "metal3_reconcile_error_total 1",
            "metal3_host_error_total{error_type=\"registration error\"} 1",
            "metal3_provisioning_state_change_total{prev_state=\"registering\",new_state=\"inspecting\"} 1",
            "metal3_operation_register_duration_seconds_sum{namespace=\"ns\",host=\"h1\"} 3.5",
            "metal3_operation_deprovision_duration_seconds_count{namespace=\"ns\",host=\"h1\"} 1",
            "metal3_operation_inspect_duration_seconds_sum{namespace=\"ns\",host=\"h1\"} 60.0",
            "metal3_operation_provision_duration_seconds_sum{namespace=\"ns\",host=\"h1\"} 120.0",
            "metal3_delayed__provisioning_total{namespace=\"ns\",host=\"h1\"} 1",
            "metal3_host_registration_required_total 1",
            "metal3_delete_without_deprovisioning_total 1",
            "metal3_delete_without_powering_off_total 0",
            "metal3_host_config_data_error_total{host_data_type=\"userData\"} 1",
            "metal3_operation_power_change_total{namespace=\"ns\",host=\"h1\",on_off=\"on\"} 1",
            "controller_runtime_webhook_requests_total{webhook=\"/validate-metal3-io-v1alpha1-baremetalhost\",code=\"200\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn operation_is_timed_only_for_the_four_upstream_states() {
        assert_eq!(
            Operation::of_state(ProvisioningState::Inspecting),
            Some(Operation::Inspect)
        );
        assert_eq!(Operation::of_state(ProvisioningState::Available), None);
        assert_eq!(Operation::of_state(ProvisioningState::Deleting), None);
    }
}
