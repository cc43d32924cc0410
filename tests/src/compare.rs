//! Two operators judged on the same story: what a Metal3 user sees of each — every status a host
//! went through (recorded from a watch), its final hardware and HardwareData, the `kubectl get bmh`
//! rows and the Events — reduced to what must agree, and the differences between them.
//!
//! What is compared is chosen so that timing cannot make it differ: runs of the same status are
//! collapsed, addresses and ages are masked, Event messages are left out (their reasons are kept).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;

use crate::stack::Stack;
use crate::wait::{Check, eventually};

/// A host's status as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `status.provisioning.state` (empty before the first status).
    pub state: String,
    /// `status.operationalStatus`.
    pub operational: String,
    /// `status.errorType`.
    pub error_type: String,
    /// `status.errorCount` is above zero.
    pub erred: bool,
    /// `status.poweredOn`.
    pub powered_on: bool,
}

impl Snapshot {
    fn of(host: &Value) -> Snapshot {
        let s = &host["status"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Snapshot {
            state: text(&s["provisioning"]["state"]),
            operational: text(&s["operationalStatus"]),
            error_type: text(&s["errorType"]),
            erred: s["errorCount"].as_i64().unwrap_or(0) > 0,
            powered_on: s["poweredOn"].as_bool().unwrap_or(false),
        }
    }
}

/// Every status each host of a namespace went through, from a watch started before the hosts exist.
pub struct Recorder {
    seen: Arc<Mutex<BTreeMap<String, Vec<Snapshot>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts watching the BareMetalHosts of `namespace`.
    pub fn start(client: kube::Client, namespace: &str) -> Recorder {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client,
            namespace,
            &kube::core::ApiResource::erase::<metal_operator::api::BareMetalHost>(&()),
        );
        let seen: Arc<Mutex<BTreeMap<String, Vec<Snapshot>>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects();
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                // The watcher re-lists by itself after an error; a gap only loses a transient status.
                let Ok(o) = item else { continue };
                let name = o.metadata.name.clone().unwrap_or_default();
                let snap = Snapshot::of(&serde_json::to_value(&o).unwrap_or_default());
                let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
                let list = seen.entry(name).or_default();
                if list.last() != Some(&snap) {
                    list.push(snap);
                }
            }
        });
        Recorder { seen, task }
    }

    /// The last status the watch delivered for `name`.
    pub fn latest(&self, name: &str) -> Option<Snapshot> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(name).and_then(|s| s.last().cloned())
    }

    /// Waits (bounded) until the watch has delivered the status the API server holds for each of
    /// `names` (the last status write may still be on its way).
    pub async fn catch_up(&self, stack: &Stack, names: &[String]) -> anyhow::Result<()> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            stack.client(),
            stack.namespace(),
            &kube::core::ApiResource::erase::<metal_operator::api::BareMetalHost>(&()),
        );
        eventually(
            Duration::from_secs(30),
            "the watch to see every host's last status",
            || {
                let api = api.clone();
                async move {
                    let mut behind = Vec::new();
                    for name in names {
                        let held = match api.get_opt(name).await? {
                            Some(o) => Some(Snapshot::of(&serde_json::to_value(&o)?)),
                            None => None,
                        };
                        let watched = self.latest(name);
                        if held.is_some() && watched != held {
                            behind.push(format!("{name}: watch {watched:?}, API {held:?}"));
                        }
                    }
                    Ok(if behind.is_empty() {
                        Check::Done(())
                    } else {
                        Check::Pending(behind.join("; "))
                    })
                }
            },
        )
        .await
    }

    /// What has been seen so far.
    pub fn history(&self) -> BTreeMap<String, Vec<Snapshot>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one operator's run showed, reduced to what can be compared.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Per aspect (`states of HOST`, `events of HOST`, …) a canonical text.
    pub aspects: BTreeMap<String, String>,
}

impl Observed {
    /// Records the status history (collapsed per field).
    pub fn add_history(&mut self, history: &BTreeMap<String, Vec<Snapshot>>) {
        for (host, snaps) in history {
            let run = |f: &dyn Fn(&Snapshot) -> String| {
                let mut out: Vec<String> = Vec::new();
                for v in snaps.iter().map(f) {
                    if out.last() != Some(&v) {
                        out.push(v);
                    }
                }
                out.join(" → ")
            };
            self.aspects.insert(
                format!("provisioning states of {host}"),
                run(&|s| s.state.clone()),
            );
            self.aspects.insert(
                format!("operationalStatus of {host}"),
                run(&|s| s.operational.clone()),
            );
            let errors: BTreeSet<&str> = snaps
                .iter()
                .map(|s| s.error_type.as_str())
                .filter(|e| !e.is_empty())
                .collect();
            self.aspects.insert(
                format!("error types of {host}"),
                errors.into_iter().collect::<Vec<_>>().join(", "),
            );
        }
    }

    /// Records a host's hardware as `status.hardware` and its HardwareData hold it.
    pub async fn add_hardware(&mut self, stack: &Stack, host: &str) -> anyhow::Result<()> {
        let ns = stack.namespace();
        let bmh = stack
            .kubectl(&["get", "bmh", host, "-n", ns, "-o", "json"])
            .await?;
        let bmh: Value = serde_json::from_str(&bmh)?;
        self.aspects.insert(
            format!("status.hardware of {host}"),
            hardware_summary(&bmh["status"]["hardware"]),
        );
        self.aspects.insert(
            format!("status.hardwareProfile of {host}"),
            bmh["status"]["hardwareProfile"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned(),
        );
        let data = stack
            .kubectl(&["get", "hardwaredata", host, "-n", ns, "-o", "json"])
            .await?;
        let data: Value = serde_json::from_str(&data)?;
        self.aspects.insert(
            format!("HardwareData of {host}"),
            hardware_summary(&data["spec"]["hardware"]),
        );
        Ok(())
    }

    /// Records a host's HostFirmwareSettings (settings, conditions, schema name, owner) and the
    /// FirmwareSchema it names, once the operator has read the settings from Ironic (both
    /// operators do it in the background, so this waits for a status that describes the spec).
    pub async fn add_firmware(
        &mut self,
        stack: &Stack,
        host: &str,
        label: &str,
    ) -> anyhow::Result<()> {
        use metal_operator::api::{FirmwareSchema, HostFirmwareSettings};
        let settings: Api<HostFirmwareSettings> =
            Api::namespaced(stack.client(), stack.namespace());
        let schemas: Api<FirmwareSchema> = Api::namespaced(stack.client(), stack.namespace());
        let hfs = eventually(
            Duration::from_secs(120),
            &format!("the HostFirmwareSettings of {host} to hold what Ironic read"),
            || {
                let settings = settings.clone();
                async move {
                    let Some(hfs) = settings.get_opt(host).await? else {
                        return Ok(Check::Pending("absent".into()));
                    };
                    let read = hfs.status.as_ref().is_some_and(|s| {
                        !s.settings.is_empty()
                            && s.schema.is_some()
                            && s.conditions.iter().any(|c| {
                                c.type_ == "ChangeDetected"
                                    && c.observed_generation == hfs.metadata.generation
                            })
                    });
                    Ok(if read {
                        Check::Done(hfs)
                    } else {
                        Check::Pending(format!("status {:?}", hfs.status))
                    })
                }
            },
        )
        .await?;
        let status = hfs.status.clone().unwrap_or_default();
        let lines = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.aspects.insert(
            format!("HostFirmwareSettings status.settings of {host}, {label}"),
            lines(&status.settings),
        );
        let mut conditions: Vec<String> = status
            .conditions
            .iter()
            .map(|c| format!("{}={} ({})", c.type_, c.status, c.reason))
            .collect();
        conditions.sort();
        self.aspects.insert(
            format!("HostFirmwareSettings conditions of {host}, {label}"),
            conditions.join(", "),
        );
        let owners: Vec<String> = hfs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        self.aspects.insert(
            format!("HostFirmwareSettings owners of {host}, {label}"),
            owners.join(", "),
        );
        let name = status.schema.map(|s| s.name).unwrap_or_default();
        self.aspects.insert(
            format!("FirmwareSchema name of {host}, {label}"),
            name.clone(),
        );
        let schema = schemas.get(&name).await?;
        self.aspects.insert(
            format!("FirmwareSchema of {host}, {label}"),
            serde_json::to_string_pretty(&serde_json::to_value(&schema.spec)?)?,
        );
        Ok(())
    }

    /// Records `kubectl get bmh` and `-o wide` (ages and addresses masked).
    pub async fn add_rows(&mut self, stack: &Stack, label: &str) -> anyhow::Result<()> {
        let ns = stack.namespace();
        for (wide, args) in [
            (false, vec!["get", "bmh", "-n", ns]),
            (true, vec!["get", "bmh", "-n", ns, "-o", "wide"]),
        ] {
            let text = stack.kubectl(&args).await?;
            let key = if wide {
                format!("kubectl get bmh -o wide, {label}")
            } else {
                format!("kubectl get bmh, {label}")
            };
            self.aspects.insert(key, mask_rows(&text));
        }
        Ok(())
    }

    /// Records the Event reasons per host (messages differ in wording by design).
    pub async fn add_events(&mut self, stack: &Stack) -> anyhow::Result<()> {
        let api: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(stack.client(), stack.namespace());
        let mut reasons: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in api.list(&ListParams::default()).await? {
            if e.involved_object.kind.as_deref() != Some("BareMetalHost") {
                continue;
            }
            let host = e.involved_object.name.clone().unwrap_or_default();
            reasons
                .entry(host)
                .or_default()
                .insert(e.reason.clone().unwrap_or_default());
        }
        for (host, set) in reasons {
            self.aspects.insert(
                format!("Event reasons of {host}"),
                set.into_iter().collect::<Vec<_>>().join(", "),
            );
        }
        Ok(())
    }
}

impl Observed {
    /// The same without `host`: its aspects, and its rows in the tables.
    pub fn without_host(mut self, host: &str) -> Observed {
        let suffix = format!(" of {host}");
        let row = format!("{host} |");
        self.aspects.retain(|aspect, _| !aspect.ends_with(&suffix));
        for (aspect, value) in self.aspects.iter_mut() {
            if aspect.starts_with("kubectl get bmh") {
                *value = value
                    .lines()
                    .filter(|l| !l.starts_with(&row))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        }
        self
    }
}

/// CPU, memory, NICs (name, MAC), disks (name, size), system vendor — what a user reads.
fn hardware_summary(hw: &Value) -> String {
    if hw.is_null() {
        return "(none)".into();
    }
    let nics: BTreeSet<String> = hw["nics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            format!(
                "{}={}",
                n["name"].as_str().unwrap_or(""),
                n["mac"].as_str().unwrap_or("")
            )
        })
        .collect();
    let disks: BTreeSet<String> = hw["storage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{}:{}",
                d["name"].as_str().unwrap_or(""),
                d["sizeBytes"].as_i64().unwrap_or(0)
            )
        })
        .collect();
    format!(
        "cpu {} x{} {}; ram {} MiB; nics [{}]; disks [{}]; vendor {} {}; firmware {}",
        hw["cpu"]["arch"].as_str().unwrap_or(""),
        hw["cpu"]["count"].as_i64().unwrap_or(0),
        hw["cpu"]["model"].as_str().unwrap_or(""),
        hw["ramMebibytes"].as_i64().unwrap_or(0),
        nics.into_iter().collect::<Vec<_>>().join(" "),
        disks.into_iter().collect::<Vec<_>>().join(" "),
        hw["systemVendor"]["manufacturer"].as_str().unwrap_or(""),
        hw["systemVendor"]["productName"].as_str().unwrap_or(""),
        hw["firmware"]["bios"]["version"].as_str().unwrap_or(""),
    )
}

/// Table rows with the AGE column dropped and loopback addresses masked (each stack has its own).
/// Cells are cut at the header's column starts, so an empty cell stays a column.
fn mask_rows(text: &str) -> String {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let mut starts: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for word in header.split_whitespace() {
        let i = header[at..].find(word).map_or(at, |i| at + i);
        starts.push((i, word));
        at = i + word.len();
    }
    let cell = |line: &str, column: usize| -> String {
        let from = starts[column].0;
        let to = starts.get(column + 1).map_or(line.len(), |c| c.0);
        line.get(from.min(line.len())..to.min(line.len()))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let mut rows: Vec<String> = Vec::new();
    for line in std::iter::once(header).chain(lines) {
        let cells: Vec<String> = (0..starts.len())
            .filter(|&c| starts[c].1 != "AGE")
            .map(|c| {
                let v = mask_address(&cell(line, c));
                if v.is_empty() { "-".to_owned() } else { v }
            })
            .collect();
        rows.push(cells.join(" | "));
    }
    rows.join("\n")
}

/// `…127.A.B.C…` → `…127.x.x.x…`.
fn mask_address(cell: &str) -> String {
    let mut out = String::new();
    let mut rest = cell;
    while let Some(i) = rest.find("127.") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        out.push_str("127.x.x.x");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One aspect where the two operators disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The aspect (`provisioning states of up-rf-0`, …).
    pub aspect: String,
    /// What ours showed (`(absent)` when it has no such aspect).
    pub ours: String,
    /// What upstream showed.
    pub upstream: String,
}

/// Every aspect on which `ours` and `upstream` differ.
pub fn differences(ours: &Observed, upstream: &Observed) -> Vec<Difference> {
    let keys: BTreeSet<&String> = ours.aspects.keys().chain(upstream.aspects.keys()).collect();
    let absent = "(absent)".to_owned();
    keys.into_iter()
        .filter_map(|k| {
            let a = ours.aspects.get(k).unwrap_or(&absent);
            let b = upstream.aspects.get(k).unwrap_or(&absent);
            (a != b).then(|| Difference {
                aspect: k.clone(),
                ours: a.clone(),
                upstream: b.clone(),
            })
        })
        .collect()
}

/// A difference we know of and keep, with its reason (docs/upstream-differences.md says more).
#[derive(Debug, Clone, Copy)]
pub enum Known {
    /// On every aspect starting with `aspect`, upstream's list (`a, b, c`) has `item` and ours
    /// does not; otherwise the two agree.
    UpstreamOnlyItem {
        aspect: &'static str,
        item: &'static str,
        reason: &'static str,
    },
    /// On every aspect starting with `aspect`, ours shows `ours` where upstream shows `upstream`.
    Value {
        aspect: &'static str,
        ours: &'static str,
        upstream: &'static str,
        reason: &'static str,
    },
}

impl Known {
    /// Why the difference stays.
    pub fn reason(&self) -> &'static str {
        match self {
            Known::UpstreamOnlyItem { reason, .. } | Known::Value { reason, .. } => reason,
        }
    }

    /// Whether `d` is this known difference.
    pub fn matches(&self, d: &Difference) -> bool {
        match *self {
            Known::UpstreamOnlyItem { aspect, item, .. } => {
                let without: Vec<&str> = d.upstream.split(", ").filter(|i| *i != item).collect();
                d.aspect.starts_with(aspect)
                    && d.upstream.split(", ").any(|i| i == item)
                    && without.join(", ") == d.ours
            }
            Known::Value {
                aspect,
                ours,
                upstream,
                ..
            } => d.aspect.starts_with(aspect) && d.ours == ours && d.upstream == upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_addresses_do_not_make_rows_differ() {
        let a = "NAME   STATUS   BMC                          ONLINE   AGE\n\
                 h1     OK       redfish+http://127.0.3.2:80  true     7s\n";
        let b = "NAME   STATUS   BMC                            ONLINE   AGE\n\
                 h1     OK       redfish+http://127.10.93.2:80  true     2m1s\n";
        assert_eq!(mask_rows(a), mask_rows(b));
        assert!(mask_rows(a).contains("redfish+http://127.x.x.x:80 |"));
        let table = "NAME   STATE       CONSUMER   ONLINE   ERROR   AGE\n\
                     h1     available              true             7s\n";
        assert_eq!(
            mask_rows(table),
            "NAME | STATE | CONSUMER | ONLINE | ERROR\nh1 | available | - | true | -"
        );
    }

    #[test]
    fn runs_of_one_status_collapse_and_differences_name_the_aspect() {
        let snap = |state: &str| Snapshot {
            state: state.into(),
            operational: "OK".into(),
            error_type: String::new(),
            erred: false,
            powered_on: false,
        };
        let mut ours = Observed::default();
        ours.add_history(&BTreeMap::from([(
            "h".to_owned(),
            vec![snap("registering"), snap("inspecting"), snap("available")],
        )]));
        let mut upstream = Observed::default();
        let mut powered = snap("inspecting");
        powered.powered_on = true;
        upstream.add_history(&BTreeMap::from([(
            "h".to_owned(),
            vec![
                snap("registering"),
                snap("inspecting"),
                powered,
                snap("available"),
            ],
        )]));
        assert!(differences(&ours, &upstream).is_empty());
        upstream.add_history(&BTreeMap::from([(
            "h".to_owned(),
            vec![snap("registering"), snap("available")],
        )]));
        let d = differences(&ours, &upstream);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].aspect, "provisioning states of h");
        assert_eq!(d[0].upstream, "registering → available");
    }

    #[test]
    fn a_known_difference_matches_only_itself() {
        let known = Known::UpstreamOnlyItem {
            aspect: "Event reasons of ",
            item: "ProfileSet",
            reason: "r",
        };
        let d = |ours: &str, upstream: &str| Difference {
            aspect: "Event reasons of h".into(),
            ours: ours.into(),
            upstream: upstream.into(),
        };
        assert!(known.matches(&d("A, B", "A, B, ProfileSet")));
        assert!(
            !known.matches(&d("A", "A, B, ProfileSet")),
            "another difference too"
        );
        assert!(!known.matches(&d("A, B", "A, B, C")));
    }
}
