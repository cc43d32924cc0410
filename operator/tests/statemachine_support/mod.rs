//! Builders for state-machine tests: hosts, nodes, inputs, and a tiny simulated Ironic.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use metal_operator::api::annotations::HOST_FINALIZER;
use metal_operator::api::{
    BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, BmcDetails, ErrorType, Image,
    OperationalStatus, ProvisioningState,
};
use metal_operator::provisioner::{Action, Credentials, NodeView, Observation, PowerChange};
use metal_operator::statemachine::{
    ActionFailure, CapacityView, ConfigData, CredentialsView, Decision, Effect, FinalizerChange,
    HardwareFetch, Input, Settings, decide, registration,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use metal_operator::api::ProvisioningState as S;

pub const NS: &str = "metal3";
pub const SECRET: &str = "bmc-secret";
pub const SECRET_VERSION: &str = "7";
pub const REDFISH: &str = "redfish://192.0.2.10/redfish/v1/Systems/1";
pub const MAC: &str = "52:54:00:00:00:01";
pub const IMAGE_URL: &str = "http://images.example/os.qcow2";
pub const PASSWORD: &str = "s3cr3t-Pa55word";

/// The fixed "now" of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid time")
}

pub fn time(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).expect("valid timestamp"))
}

pub fn image() -> Image {
    Image {
        url: IMAGE_URL.to_string(),
        checksum: Some("http://images.example/os.qcow2.sha256sum".to_string()),
        ..Image::default()
    }
}

pub fn credentials() -> Credentials {
    Credentials {
        username: "admin".to_string(),
        password: PASSWORD.to_string(),
    }
}

pub fn creds_ok() -> CredentialsView {
    CredentialsView::Ok {
        credentials: credentials(),
        secret_version: SECRET_VERSION.to_string(),
    }
}

/// A host builder; defaults to a Redfish host with a Secret, a boot MAC, online, finalizer
/// present, in `state` with a status saved a day ago.
pub struct HostBuilder {
    host: BareMetalHost,
}

pub fn host(state: ProvisioningState) -> HostBuilder {
    let spec = BareMetalHostSpec {
        bmc: BmcDetails {
            address: REDFISH.to_string(),
            credentials_name: SECRET.to_string(),
            disable_certificate_verification: false,
        },
        boot_mac_address: Some(MAC.to_string()),
        online: true,
        ..BareMetalHostSpec::default()
    };
    let mut host = BareMetalHost::new("host-0", spec);
    host.metadata.namespace = Some(NS.to_string());
    host.metadata.finalizers = Some(vec![HOST_FINALIZER.to_string()]);
    let mut status = BareMetalHostStatus {
        operational_status: OperationalStatus::Ok,
        last_updated: Some(time(now() - chrono::Duration::days(1))),
        ..BareMetalHostStatus::default()
    };
    status.provisioning.state = state;
    host.status = Some(status);
    HostBuilder { host }
}

/// A host as a user creates it: no status, no finalizer.
pub fn fresh_host() -> HostBuilder {
    let mut b = host(S::None);
    b.host.status = None;
    b.host.metadata.finalizers = None;
    b
}

impl HostBuilder {
    pub fn spec(mut self, f: impl FnOnce(&mut BareMetalHostSpec)) -> Self {
        f(&mut self.host.spec);
        self
    }

    pub fn status(mut self, f: impl FnOnce(&mut BareMetalHostStatus)) -> Self {
        f(self.host.status.get_or_insert_with(Default::default));
        self
    }

    pub fn image(self) -> Self {
        self.spec(|s| s.image = Some(image()))
    }

    /// The host runs `image()` (status.provisioning.image set).
    pub fn provisioned_image(self) -> Self {
        self.image()
            .status(|st| st.provisioning.image = Some(image()))
    }

    pub fn online(self, on: bool) -> Self {
        self.spec(|s| s.online = on)
    }

    pub fn powered(self, on: bool) -> Self {
        self.status(|st| st.powered_on = on)
    }

    pub fn error(self, kind: ErrorType, count: i64) -> Self {
        self.status(|st| {
            st.operational_status = OperationalStatus::Error;
            st.error_type = Some(kind);
            st.error_message = format!("earlier {kind}");
            st.error_count = count;
        })
    }

    pub fn op(self, op: OperationalStatus) -> Self {
        self.status(|st| st.operational_status = op)
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.host
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
        self
    }

    pub fn deleting(mut self) -> Self {
        self.host.metadata.deletion_timestamp = Some(time(now() - chrono::Duration::seconds(5)));
        self
    }

    pub fn no_finalizer(mut self) -> Self {
        self.host.metadata.finalizers = None;
        self
    }

    pub fn build(self) -> BareMetalHost {
        self.host
    }
}

/// The fingerprint `registration()` writes for `host` with the default Secret.
pub fn fingerprint(host: &BareMetalHost) -> Option<String> {
    registration(host, &credentials(), SECRET_VERSION)
        .ok()
        .map(|r| r.fingerprint)
}

/// A registered node of `host` in Ironic state `state`, powered off, not moving.
pub fn node(host: &BareMetalHost, state: &str) -> NodeView {
    NodeView {
        uuid: "4b2c0c3e-0000-4000-8000-000000000001".to_string(),
        provision_state: state.to_string(),
        power_state: Some("power off".to_string()),
        automated_clean: Some(true),
        registration_fingerprint: fingerprint(host),
        ..NodeView::default()
    }
}

pub fn observed(host: &BareMetalHost, state: &str) -> Observation {
    Observation::Node(node(host, state))
}

/// One decision's inputs, with defaults for everything but the host and observation.
pub struct Case {
    pub host: BareMetalHost,
    pub observation: Observation,
    pub credentials: CredentialsView,
    pub capacity: CapacityView,
    pub hardware: HardwareFetch,
    pub config: Result<ConfigData, String>,
    pub failure: Option<ActionFailure>,
    pub settings: Settings,
    pub now: DateTime<Utc>,
    pub seed: u64,
    /// The host's HostFirmwareSettings, if any.
    pub firmware: Option<metal_operator::api::HostFirmwareSettings>,
    /// The node's BIOS settings, when the case has read them.
    pub bios: metal_operator::statemachine::BiosFetch,
}

impl Case {
    pub fn new(host: BareMetalHost, observation: Observation) -> Self {
        Case {
            host,
            observation,
            credentials: creds_ok(),
            capacity: CapacityView::default(),
            hardware: HardwareFetch::NotFetched,
            config: Ok(ConfigData::default()),
            failure: None,
            settings: Settings::default(),
            now: now(),
            seed: 7,
            firmware: None,
            bios: Default::default(),
        }
    }

    /// A host whose node is in Ironic state `state`.
    pub fn at(host: BareMetalHost, state: &str) -> Self {
        let obs = observed(&host, state);
        Case::new(host, obs)
    }

    pub fn node(mut self, f: impl FnOnce(&mut NodeView)) -> Self {
        if let Observation::Node(n) = &mut self.observation {
            f(n);
        }
        self
    }

    pub fn run(&self) -> Decision {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let input = Input {
            host: &self.host,
            credentials: self.credentials.clone(),
            observation: &self.observation,
            now: self.now,
            capacity: self.capacity,
            hardware: self.hardware.clone(),
            config_data: self.config.clone(),
            firmware: metal_operator::statemachine::FirmwareView {
                settings: self.firmware.as_ref(),
                current: self.bios.clone(),
            },
            action_failure: self.failure.clone(),
            settings: &self.settings,
        };
        decide(&input, &mut rng)
    }
}

pub fn state(d: &Decision) -> ProvisioningState {
    d.status.provisioning.state
}

pub fn action(d: &Decision) -> Option<&Action> {
    match &d.effect {
        Effect::Provisioner(a) => Some(a),
        _ => None,
    }
}

pub fn action_name(d: &Decision) -> Option<&'static str> {
    action(d).map(Action::name)
}

/// Applies a decision to the host as the controller would (status, annotations, finalizer).
pub fn apply(host: &mut BareMetalHost, d: &Decision) {
    if d.status_changed {
        host.status = Some(d.status.clone());
    }
    if let Some(a) = host.metadata.annotations.as_mut() {
        for k in &d.remove_annotations {
            a.remove(k);
        }
    }
    match d.finalizer {
        FinalizerChange::Add => host
            .metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(HOST_FINALIZER.to_string()),
        FinalizerChange::Remove => {
            if let Some(f) = host.metadata.finalizers.as_mut() {
                f.retain(|x| x != HOST_FINALIZER);
            }
        }
        FinalizerChange::Keep => {}
    }
}

/// A tiny Ironic: one node whose state moves one step per `tick`, as the real conductor would
/// move it asynchronously after an API call.
#[derive(Debug, Default)]
pub struct SimIronic {
    pub node: Option<NodeView>,
    pub inventory: Option<serde_json::Value>,
    /// States still to pass through before the current operation settles.
    pub pending: Vec<&'static str>,
    pub calls: Vec<&'static str>,
    /// How many of the next deployments fail (ending in `deploy failed`).
    pub fail_deploys: u32,
}

impl SimIronic {
    pub fn observation(&self) -> Observation {
        match &self.node {
            Some(n) => Observation::Node(n.clone()),
            None => Observation::NotRegistered,
        }
    }

    fn start(&mut self, steps: &[&'static str], target: &str) {
        if let Some(n) = self.node.as_mut() {
            n.provision_state = steps[0].to_string();
            n.target_provision_state = Some(target.to_string());
            self.pending = steps[1..].to_vec();
        }
    }

    /// Carries out an action the way Ironic's API does: synchronously into the first
    /// transient state.
    pub fn act(&mut self, action: &Action) {
        self.calls.push(action.name());
        match action {
            Action::Register(reg) => {
                let n = self.node.get_or_insert_with(|| NodeView {
                    uuid: "5f1e2d3c-0000-4000-8000-00000000beef".to_string(),
                    provision_state: "enroll".to_string(),
                    power_state: Some("power off".to_string()),
                    ..NodeView::default()
                });
                n.registration_fingerprint = Some(reg.fingerprint.clone());
                n.automated_clean = Some(reg.automated_clean);
            }
            Action::Manage => {
                if self
                    .node
                    .as_ref()
                    .is_some_and(|n| n.provision_state == "enroll")
                {
                    self.start(&["verifying", "manageable"], "manageable");
                } else if let Some(n) = self.node.as_mut() {
                    n.provision_state = "manageable".to_string();
                }
            }
            Action::Inspect => {
                self.start(&["inspecting", "inspect wait", "manageable"], "manageable");
                self.inventory = Some(serde_json::json!({
                    "ramMebibytes": 131072,
                    "hostname": "host-0",
                    "cpu": {"arch": "x86_64", "model": "Sim CPU", "clockMegahertz": 2400.0, "count": 16}
                }));
            }
            Action::Provide => self.start(&["cleaning", "clean wait", "available"], "available"),
            Action::Deploy(d) => {
                if let Some(n) = self.node.as_mut() {
                    n.image_source = Some(d.image_url.clone());
                    n.last_error = None;
                }
                if self.fail_deploys > 0 {
                    self.fail_deploys -= 1;
                    self.start(&["deploying", "wait call-back", "deploy failed"], "active");
                } else {
                    self.start(
                        &["deploying", "wait call-back", "deploying", "active"],
                        "active",
                    );
                }
            }
            Action::Undeploy => self.start(
                &["deleting", "cleaning", "clean wait", "available"],
                "available",
            ),
            Action::Clean { .. } => {
                self.start(&["cleaning", "clean wait", "manageable"], "manageable")
            }
            Action::Adopt => self.start(&["adopting", "active"], "active"),
            Action::Power(change) => {
                if let Some(n) = self.node.as_mut() {
                    let on = matches!(
                        change,
                        PowerChange::On | PowerChange::Reboot | PowerChange::SoftReboot
                    );
                    n.target_power_state =
                        Some(if on { "power on" } else { "power off" }.to_string());
                }
            }
            Action::SetAutomatedClean(on) => {
                if let Some(n) = self.node.as_mut() {
                    n.automated_clean = Some(*on);
                }
            }
            Action::SetMaintenance { on, .. } => {
                if let Some(n) = self.node.as_mut() {
                    n.maintenance = *on;
                }
            }
            Action::Abort => {
                if let Some(n) = self.node.as_mut() {
                    n.provision_state = "manageable".to_string();
                    n.target_provision_state = None;
                    self.pending.clear();
                }
            }
            Action::Detach { .. } | Action::Delete => self.node = None,
        }
    }

    /// Lets time pass: one step of the pending operation and any power change.
    pub fn tick(&mut self) {
        let Some(n) = self.node.as_mut() else { return };
        if let Some(target) = n.target_power_state.take() {
            n.power_state = Some(target);
        }
        if !self.pending.is_empty() {
            let next = self.pending.remove(0);
            n.provision_state = next.to_string();
            if self.pending.is_empty() {
                n.target_provision_state = None;
                match next {
                    "deploy failed" => {
                        n.last_error =
                            Some("Agent returned error for deploy step: disk write failed".into())
                    }
                    "active" => n.power_state = Some("power on".to_string()),
                    "available" | "manageable" => n.power_state = Some("power off".to_string()),
                    _ => {}
                }
            }
        }
    }
}

// ---- assertions shared by the table tests ----

pub fn provisioning_case(ironic: &str) -> Case {
    let mut case = Case::at(host(S::Provisioning).image().build(), ironic);
    case.capacity.holds_slot = true;
    case
}

pub fn provisioned_on(ironic: &str) -> Case {
    Case::at(
        host(S::Provisioned)
            .provisioned_image()
            .powered(true)
            .build(),
        ironic,
    )
    .node(|n| n.power_state = Some("power on".into()))
}

pub fn condition<'a>(d: &'a Decision, kind: &str) -> (&'a str, &'a str) {
    let c = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("condition {kind} missing"));
    (c.status.as_str(), c.reason.as_str())
}

pub fn secs(d: &Decision) -> f64 {
    d.requeue_after.expect("a requeue").as_secs_f64()
}

pub fn has_event(d: &Decision, reason: &str) -> bool {
    d.events.iter().any(|e| e.reason == reason)
}
