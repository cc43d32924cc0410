//! One page's event stream: a snapshot, then the rows that changed, at most one message per
//! period and at most `max_rows` rows in it.
//!
//! Machines publish their changes on the world's broadcast (the wire observer's source too);
//! faults changed through the control API on the control state's own. Boot overrides and BIOS
//! patches publish nothing, so each period also re-reads a slice of the fleet (`sweep` hosts),
//! reaching every host within `hosts / sweep` periods. A stream that falls behind either broadcast
//! (its page reads slowly) gets a fresh snapshot rather than a backlog: what it keeps is one row
//! per host and a set of dirty indexes, whatever happens.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use super::view::{self, AgentView, Changes, HostInput, Row, Snapshot};
use crate::agent::{HeartbeatSwitch, Launcher};
use crate::guest::Guests;
use crate::machine::{Host, HostEvent, World};

/// How a stream paces and bounds what it sends.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// At most one message per period (changes within it are coalesced).
    pub period: Duration,
    /// The most rows one change message holds; more wait for the next period.
    pub max_rows: usize,
    /// How many hosts each period re-reads for changes that publish no event.
    pub sweep: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            period: Duration::from_millis(250),
            max_rows: 1000,
            sweep: 1000,
        }
    }
}

/// Where rows are read from.
#[derive(Clone)]
pub struct Sources {
    /// The fleet.
    pub world: Arc<World>,
    /// The agents, when `serve` runs them.
    pub agents: Option<Launcher>,
    /// What the machines' disks booted into, when `serve` runs the guests.
    pub guests: Option<Guests>,
    /// The agent fault switch.
    pub heartbeats: HeartbeatSwitch,
    /// Indexes of hosts whose faults the control API changed.
    pub changed: broadcast::Sender<usize>,
}

impl Sources {
    /// The row of `host` now.
    pub fn row(&self, host: &Host) -> Row {
        let now = self.world.now();
        let machine = host.view(now);
        let faults = host.faults();
        let agent = AgentView {
            stage: self.agents.as_ref().and_then(|a| a.stage(host.index)),
            last_command: self.agents.as_ref().and_then(|a| {
                a.with_agent(host.index, |agent| {
                    agent
                        .commands()
                        .last()
                        .map(|c| (c.command_name.clone(), c.command_status))
                })
                .flatten()
            }),
            heartbeat_loss: self.heartbeats.is_silent(&host.name, now),
        };
        let guest = self.guests.as_ref().and_then(|g| g.status(host.index));
        view::row(HostInput {
            index: host.index,
            name: &host.name,
            protocol: host.bmc.protocol.as_str(),
            address: &host.bmc.address(),
            machine: &machine,
            faults: &faults,
            agent: &agent,
            guest: guest.as_ref(),
            now,
        })
    }

    fn now_seconds(&self) -> f64 {
        self.world.now().since_start().as_secs_f64()
    }
}

/// What a stream sends: an SSE event name and its one-line JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `snapshot` or `rows`.
    pub event: &'static str,
    /// The JSON (no newline).
    pub data: String,
}

/// One page's stream state.
pub struct Stream {
    sources: Sources,
    settings: StreamSettings,
    machines: broadcast::Receiver<HostEvent>,
    faults: broadcast::Receiver<usize>,
    /// The rows as the page has them (empty until the first snapshot).
    sent: Vec<Row>,
    dirty: BTreeSet<usize>,
    snapshot_due: bool,
    next_sweep: usize,
    ticks: tokio::time::Interval,
}

impl Stream {
    /// A stream whose first message is a snapshot. Subscribes at once, so no change made after
    /// this call is missed.
    pub fn new(sources: Sources, settings: StreamSettings) -> Stream {
        let machines = sources.world.subscribe();
        let faults = sources.changed.subscribe();
        let mut ticks = tokio::time::interval(settings.period.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Stream {
            sources,
            settings,
            machines,
            faults,
            sent: Vec::new(),
            dirty: BTreeSet::new(),
            snapshot_due: true,
            next_sweep: 0,
            ticks,
        }
    }

    /// The next message; `None` once the world's broadcast is gone (the fleet stopped).
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            if self.snapshot_due {
                return Some(self.snapshot());
            }
            tokio::select! {
                // The period first: a flood of events must not hold every message back.
                biased;
                _ = self.ticks.tick() => {
                    if let Some(m) = self.changes() {
                        return Some(m);
                    }
                }
                e = self.machines.recv() => match e {
                    Ok(e) => { self.dirty.insert(e.host); }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "live view stream fell behind; sending a snapshot");
                        self.snapshot_due = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
                f = self.faults.recv() => match f {
                    Ok(i) => { self.dirty.insert(i); }
                    Err(RecvError::Lagged(_)) => self.snapshot_due = true,
                    // The sources hold a sender, so this never closes while the stream lives.
                    Err(RecvError::Closed) => {}
                },
            }
        }
    }

    fn snapshot(&mut self) -> Message {
        self.snapshot_due = false;
        self.dirty.clear();
        // Changes already queued are in the snapshot; drop them rather than resend them.
        self.machines = self.machines.resubscribe();
        self.faults = self.faults.resubscribe();
        let hosts = self.sources.world.hosts();
        self.sent = hosts.iter().map(|h| self.sources.row(h)).collect();
        let data = serde_json::to_string(&Snapshot {
            now: self.sources.now_seconds(),
            groups: &view::STATES,
            counts: view::counts(&self.sent),
            rows: &self.sent,
        })
        .unwrap_or_else(|e| panic_free_error(&e));
        Message {
            event: "snapshot",
            data,
        }
    }

    /// The rows that changed, up to `max_rows` of them, after marking this period's sweep slice.
    fn changes(&mut self) -> Option<Message> {
        let hosts = self.sources.world.hosts();
        if hosts.is_empty() {
            return None;
        }
        let sweep = self.settings.sweep.min(hosts.len());
        for k in 0..sweep {
            self.dirty.insert((self.next_sweep + k) % hosts.len());
        }
        self.next_sweep = (self.next_sweep + sweep) % hosts.len();
        let mut changed = Vec::new();
        while changed.len() < self.settings.max_rows.max(1) {
            let Some(i) = self.dirty.pop_first() else {
                break;
            };
            let (Some(host), Some(old)) = (hosts.get(i), self.sent.get(i)) else {
                continue;
            };
            let new = self.sources.row(host);
            if new != *old {
                changed.push(i);
                self.sent[i] = new;
            }
        }
        if changed.is_empty() {
            return None;
        }
        let rows: Vec<&Row> = changed.iter().filter_map(|&i| self.sent.get(i)).collect();
        let data = serde_json::to_string(&Changes {
            now: self.sources.now_seconds(),
            rows: &rows,
        })
        .unwrap_or_else(|e| panic_free_error(&e));
        Some(Message {
            event: "rows",
            data,
        })
    }

    /// The rows as the page has them once it applied every message sent so far.
    pub fn sent(&self) -> &[Row] {
        &self.sent
    }
}

/// Rows are plain strings and numbers, so serialising cannot fail; should it ever, the page gets
/// an error it shows instead of a stream that dies.
fn panic_free_error(e: &serde_json::Error) -> String {
    serde_json::json!({ "error": format!("cannot serialise the live view: {e}") }).to_string()
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
