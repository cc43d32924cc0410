//! What a run measures, from the outside: the hosts' provisioning states (one watch), the mock
//! Ironic's request journal, the apiserver's audit log, and the operator process's CPU time and peak
//! resident memory from `/proc`. Also how the child processes start (clean environment, killed on
//! drop).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{Read as _, Seek as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, watcher};
use metal_e2e::process::Process;
use serde::Deserialize;

/// Starts a child process (`metal_e2e::process::Process`, killed on drop) with nothing inherited
/// from the driver's environment but `PATH` and `HOME`: a stray `BMO_CONCURRENCY` or
/// `PROVISIONING_LIMIT` must not change a "default" run.
pub fn spawn(
    name: &str,
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<Process> {
    let envs: Vec<(&str, &OsStr)> = envs
        .iter()
        .map(|(k, v)| (k.as_str(), OsStr::new(v)))
        .collect();
    Process::spawn_isolated(name, program, args, &envs, dir)
}

/// CPU seconds (user + system) and peak resident set of a live process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
}

/// Reads `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmHWM) — before the process
/// is killed, since both vanish with it.
pub fn usage_of(pid: u32, ticks_per_second: f64) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15 → indexes 11 and 12.
    let ticks: u64 = fields.get(11).context("no utime")?.parse::<u64>()?
        + fields.get(12).context("no stime")?.parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM in /proc status")?;
    Ok(Usage {
        cpu_seconds: ticks as f64 / ticks_per_second,
        peak_rss_kib,
    })
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Every BareMetalHost of a namespace: name → `status.provisioning.state` (empty until set), kept
/// current by one watch (the driver lists nothing; its requests are the admin's and not counted).
#[derive(Clone, Default)]
pub struct States {
    inner: Arc<Mutex<HashMap<String, HostState>>>,
    /// Woken after every change the watch delivers.
    changed: Arc<tokio::sync::Notify>,
}

#[derive(Clone, Default)]
struct HostState {
    state: String,
    error: String,
}

/// A count of the hosts in one state, and the errors seen.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub hosts: usize,
    pub in_state: usize,
    pub errored: usize,
    /// Hosts per state, for a report after a timeout.
    pub by_state: BTreeMap<String, usize>,
}

impl States {
    /// Starts the watch; it runs until the returned task is aborted.
    pub fn watch(client: kube::Client, namespace: &str) -> (States, tokio::task::JoinHandle<()>) {
        let states = States::default();
        let gvk = GroupVersionKind::gvk("metal3.io", "v1alpha1", "BareMetalHost");
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, namespace, &ApiResource::from_gvk(&gvk));
        let inner = Arc::clone(&states.inner);
        let changed = Arc::clone(&states.changed);
        let task = tokio::spawn(async move {
            // kube's backoff keeps a broken stream from spinning while the watcher re-lists.
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { continue };
                let mut map = inner.lock().expect("states lock");
                match event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        let name = o.metadata.name.clone().unwrap_or_default();
                        let status = o.data.get("status");
                        let text = |v: Option<&serde_json::Value>| {
                            v.and_then(|v| v.as_str()).unwrap_or_default().to_owned()
                        };
                        map.insert(
                            name,
                            HostState {
                                state: text(
                                    status
                                        .and_then(|s| s.get("provisioning"))
                                        .and_then(|p| p.get("state")),
                                ),
                                error: text(status.and_then(|s| s.get("errorType"))),
                            },
                        );
                    }
                    watcher::Event::Delete(o) => {
                        map.remove(&o.metadata.name.clone().unwrap_or_default());
                    }
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
                drop(map);
                changed.notify_waiters();
            }
        });
        (states, task)
    }

    /// A future that resolves on the watch's next change. It counts changes from its creation, not
    /// from its first poll: created before a tally, it does not miss a change that lands between.
    pub fn changed(&self) -> tokio::sync::futures::OwnedNotified {
        Arc::clone(&self.changed).notified_owned()
    }

    /// The hosts seen so far.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .lock()
            .expect("states lock")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    pub fn tally(&self, state: &str) -> Tally {
        let map = self.inner.lock().expect("states lock");
        let mut tally = Tally {
            hosts: map.len(),
            ..Tally::default()
        };
        for host in map.values() {
            if host.state == state {
                tally.in_state += 1;
            }
            if !host.error.is_empty() {
                tally.errored += 1;
            }
            let key = if host.state.is_empty() {
                "(none)".to_owned()
            } else {
                host.state.clone()
            };
            *tally.by_state.entry(key).or_default() += 1;
        }
        tally
    }
}

/// Requests the mock Ironic answered, split into the operator's and the fake agents' (lookup,
/// heartbeat, continue_inspection), read from its journal (`GET /_sim/requests?since=N`) often
/// enough that the ring never drops an entry unread.
#[derive(Debug, Clone, Default)]
pub struct IronicCount {
    pub operator: u64,
    pub agents: u64,
    /// Entries pushed out of the ring before they were read (the counts are then low by this much).
    pub lost: u64,
    /// The operator's requests per method and path pattern (UUIDs and names folded).
    pub by_kind: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct Journal {
    first: u64,
    requests: Vec<JournalEntry>,
}

#[derive(Deserialize)]
struct JournalEntry {
    method: String,
    path: String,
    #[serde(default)]
    target: Option<String>,
}

/// Reads the journal every second until aborted; the final count comes from [`IronicCounter::drain`].
pub struct IronicCounter {
    count: Arc<Mutex<IronicCount>>,
    next: Arc<Mutex<u64>>,
    http: reqwest::Client,
    base: String,
}

impl IronicCounter {
    pub fn new(base: &str, http: reqwest::Client) -> IronicCounter {
        IronicCounter {
            count: Arc::default(),
            next: Arc::default(),
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Polls in the background until the task is aborted.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone_handle();
        tokio::spawn(async move {
            // A sampler, not a wait: one read per second, a slow read delaying the next.
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let _ = me.read_once().await;
            }
        })
    }

    fn clone_handle(&self) -> IronicCounter {
        IronicCounter {
            count: Arc::clone(&self.count),
            next: Arc::clone(&self.next),
            http: self.http.clone(),
            base: self.base.clone(),
        }
    }

    async fn read_once(&self) -> anyhow::Result<()> {
        let since = *self.next.lock().expect("journal lock");
        let url = format!("{}/_sim/requests?since={since}", self.base);
        let journal: Journal = self
            .http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        // Two readers never run at once (the poller is aborted before the drain).
        let mut count = self.count.lock().expect("journal lock");
        count.lost += journal.first.saturating_sub(since);
        for entry in &journal.requests {
            let agent = entry.path == "/v1/lookup"
                || entry.path == "/v1/continue_inspection"
                || entry.path.starts_with("/v1/heartbeat/");
            if agent {
                count.agents += 1;
            } else {
                count.operator += 1;
                *count.by_kind.entry(kind_of(entry)).or_default() += 1;
            }
        }
        *self.next.lock().expect("journal lock") = journal.first + journal.requests.len() as u64;
        Ok(())
    }

    /// One last read (after the operator is gone), then the totals.
    pub async fn drain(&self) -> anyhow::Result<IronicCount> {
        self.read_once()
            .await
            .context("reading the mock Ironic's journal")?;
        Ok(self.count.lock().expect("journal lock").clone())
    }
}

/// `METHOD /v1/nodes/{id}/states/provision (target)`: path segments that name one object folded.
fn kind_of(entry: &JournalEntry) -> String {
    let mut parts: Vec<&str> = entry.path.split('/').collect();
    for i in 1..parts.len() {
        if matches!(parts[i - 1], "nodes" | "ports" | "drivers")
            && !matches!(parts[i], "" | "detail")
        {
            parts[i] = "{id}";
        }
    }
    let mut kind = format!("{} {}", entry.method, parts.join("/"));
    if let Some(t) = &entry.target {
        kind.push_str(&format!(" ({t})"));
    }
    kind
}

/// The audit log's size now: a run counts only what is written after it.
pub fn audit_offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Requests of `user` in the audit log after `offset`: the total and per verb and resource.
pub fn audit_count(
    log: &Path,
    offset: u64,
    user: &str,
) -> anyhow::Result<(u64, BTreeMap<String, u64>)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Line {
        verb: String,
        user: LineUser,
        #[serde(default)]
        object_ref: Option<ObjectRef>,
    }
    #[derive(Deserialize)]
    struct LineUser {
        username: String,
    }
    #[derive(Deserialize)]
    struct ObjectRef {
        #[serde(default)]
        resource: String,
        #[serde(default)]
        subresource: String,
    }
    let mut file =
        std::fs::File::open(log).with_context(|| format!("opening {}", log.display()))?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut total = 0;
    let mut by_kind = BTreeMap::new();
    for line in text.lines() {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            continue;
        };
        if line.user.username != user {
            continue;
        }
        total += 1;
        let resource = match line.object_ref {
            Some(o) if !o.resource.is_empty() && !o.subresource.is_empty() => {
                format!("{}/{}", o.resource, o.subresource)
            }
            Some(o) if !o.resource.is_empty() => o.resource,
            _ => "(non-resource)".to_owned(),
        };
        *by_kind
            .entry(format!("{} {resource}", line.verb))
            .or_default() += 1;
    }
    Ok((total, by_kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ironic_paths_fold_to_kinds() {
        let e = |m: &str, p: &str, t: Option<&str>| JournalEntry {
            method: m.into(),
            path: p.into(),
            target: t.map(str::to_owned),
        };
        assert_eq!(
            kind_of(&e("PUT", "/v1/nodes/abc/states/provision", Some("active"))),
            "PUT /v1/nodes/{id}/states/provision (active)"
        );
        assert_eq!(
            kind_of(&e("GET", "/v1/nodes/detail", None)),
            "GET /v1/nodes/detail"
        );
        assert_eq!(kind_of(&e("GET", "/v1/nodes", None)), "GET /v1/nodes");
    }
}
