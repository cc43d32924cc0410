//! Seeded chaos: a seed draws a fleet (about half of it claimable) and a timeline of HostClaims
//! (created, deleted, competing for fewer hosts; `Draw::settle_claims` says what their convergence
//! means) and host operations (provision, deprovision, online and detach toggles, a BMC Secret changed to a wrong password and back, deletes at
//! random instants, so in whatever state the host is in) interleaved with fault windows from the
//! scenario vocabulary (BMC outages and 5xx, IPMI packet loss, Ironic 5xx, agent heartbeat loss,
//! the operator killed and restarted, Ironic restarted with an empty database, watch disconnects
//! in wire mode), then a last phase: every
//! fault cleared, every Secret right, every host attached, and each host must converge —
//! provisioned or available as last asked, powered as `online` says, no error; each deleted host
//! gone, its finalizer removed — within [`converge_bound`] (30 min virtual in engine mode).
//!
//! The draw is a pure function of (seed, mode) and yields a scenario file as text, so a failing
//! seed is replayed as `metal-sim chaos --seeds N..N` or written out as a library scenario and
//! played with `metal-sim run`. The invariants judged are the scenario defaults (all on).

use std::path::Path;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::{Mode, Scenario, ScenarioError};

#[cfg(test)]
mod tests;

/// How long each host has to converge once the faults are cleared: virtual time in engine mode,
/// wall time in wire mode (where the fleet runs at `time_scale` 0.05 and the mock Ironic's
/// callback timeout is 60 s in scenarios with agent faults).
pub fn converge_bound(mode: Mode) -> Duration {
    match mode {
        Mode::Engine => Duration::from_secs(30 * 60),
        Mode::Wire => Duration::from_secs(5 * 60),
    }
}

/// What a drawing may pick, per mode: wire mode's timeline runs in wall time, so its pauses and
/// fault windows are shorter, in proportion to its machines' `time_scale`.
struct Ranges {
    hosts: (usize, usize),
    operations: (usize, usize),
    /// Pause before each operation, seconds.
    pause: (u64, u64),
    bmc_fault: (u64, u64),
    ironic_fault: (u64, u64),
    heartbeat_loss: (u64, u64),
    operator_down: (u64, u64),
}

const ENGINE: Ranges = Ranges {
    hosts: (2, 6),
    operations: (4, 14),
    pause: (1, 90),
    bmc_fault: (5, 120),
    ironic_fault: (5, 60),
    heartbeat_loss: (10, 300),
    operator_down: (0, 30),
};

const WIRE: Ranges = Ranges {
    hosts: (2, 3),
    operations: (4, 8),
    pause: (1, 8),
    bmc_fault: (2, 15),
    ironic_fault: (2, 10),
    heartbeat_loss: (3, 30),
    operator_down: (0, 5),
};

/// The name a seed's scenario carries (`chaos-engine-17`).
pub fn name(seed: u64, mode: Mode) -> String {
    format!("chaos-{}-{seed}", mode_word(mode))
}

fn ranges(mode: Mode) -> &'static Ranges {
    match mode {
        Mode::Engine => &ENGINE,
        Mode::Wire => &WIRE,
    }
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Engine => "engine",
        Mode::Wire => "wire",
    }
}

/// The scenario file (YAML) that `seed` draws for `mode`.
pub fn draw(seed: u64, mode: Mode) -> String {
    Draw::new(seed, mode).scenario()
}

/// The drawn scenario, parsed and validated (a drawing that does not validate is a bug of the
/// generator, reported as the validation error).
pub fn scenario(seed: u64, mode: Mode) -> Result<Scenario, ScenarioError> {
    let text = draw(seed, mode);
    Scenario::parse(&text, &format!("{}.yaml", name(seed, mode)), Path::new("."))
}

/// What the generator knows about one host while drawing its timeline.
struct Plan {
    name: String,
    protocol: &'static str,
    password: String,
    deleted: bool,
    image: bool,
    online: bool,
    detached: bool,
    wrong_secret: bool,
    /// Labelled for the chaos claims (`chaos-pool: claims`): its image and `online` are the
    /// claims' to write, so the generator never patches them.
    claimable: bool,
}

/// What the generator knows about one HostClaim.
struct ClaimPlan {
    name: String,
    /// Its selector matches the claimable hosts (else it selects a label no host carries).
    matchable: bool,
    deleted: bool,
}

/// The Secret holding the user data every claim names.
const USER_DATA: &str = "chaos-user-data";

/// The label the claimable hosts carry and the claims select.
const CLAIM_LABEL: (&str, &str) = ("chaos-pool", "claims");

struct Draw {
    rng: ChaCha8Rng,
    seed: u64,
    mode: Mode,
    hosts: Vec<Plan>,
    claims: Vec<ClaimPlan>,
    steps: Vec<Value>,
    faults: usize,
    /// One line per operation, for the file's header comment.
    story: Vec<String>,
}

const PROTOCOLS: [&str; 3] = ["redfish", "ipmi", "redfish-virtualmedia"];

impl Draw {
    fn new(seed: u64, mode: Mode) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (lo, hi) = ranges(mode).hosts;
        let count = rng.random_range(lo..=hi);
        let hosts = (0..count)
            .map(|i| {
                let protocol = PROTOCOLS[rng.random_range(0..PROTOCOLS.len())];
                // Long and distinctive, so the credential invariant cannot match ordinary words.
                let password = format!("chaos-pw-{:016x}", rng.random::<u64>());
                let claimable = rng.random_bool(0.5);
                Plan {
                    name: format!("chaos-{i}"),
                    protocol,
                    password,
                    deleted: false,
                    image: false,
                    online: true,
                    detached: false,
                    wrong_secret: false,
                    claimable,
                }
            })
            .collect();
        Draw {
            rng,
            seed,
            mode,
            hosts,
            claims: Vec::new(),
            steps: Vec::new(),
            faults: 0,
            story: Vec::new(),
        }
    }

    fn scenario(mut self) -> String {
        self.steps.push(json!({"register": {"hosts": "all"}}));
        // The user data every claim deploys with (a Secret its `spec.userData` names).
        self.steps.push(json!({"apply": {"objects": [{
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": USER_DATA},
            "stringData": {"userData": "#cloud-config\nhostname: chaos\n"},
        }]}}));
        let r = ranges(self.mode);
        let operations = self.rng.random_range(r.operations.0..=r.operations.1);
        for _ in 0..operations {
            let pause = self.rng.random_range(r.pause.0..=r.pause.1);
            self.steps.push(json!({"advance": format!("{pause}s")}));
            self.operation();
        }
        self.settle();
        self.render()
    }

    fn secs(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    fn alive(&self) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|i| !self.hosts[*i].deleted)
            .collect()
    }

    /// The hosts still there whose image and `online` the generator writes (not claimable).
    fn manual(&self) -> Vec<usize> {
        self.alive()
            .into_iter()
            .filter(|i| !self.hosts[*i].claimable)
            .collect()
    }

    fn claimable(&self) -> Vec<usize> {
        self.alive()
            .into_iter()
            .filter(|i| self.hosts[*i].claimable)
            .collect()
    }

    fn live_claims(&self) -> Vec<usize> {
        (0..self.claims.len())
            .filter(|i| !self.claims[*i].deleted)
            .collect()
    }

    fn pick(&mut self, among: &[usize]) -> usize {
        among[self.rng.random_range(0..among.len())]
    }

    /// A non-empty random subset of the hosts still there.
    fn some_hosts(&mut self) -> Vec<String> {
        let alive = self.alive();
        let mut out: Vec<String> = alive
            .iter()
            .filter(|_| self.rng.random_bool(0.5))
            .map(|i| self.hosts[*i].name.clone())
            .collect();
        if out.is_empty() {
            let i = self.pick(&alive);
            out.push(self.hosts[i].name.clone());
        }
        out
    }

    fn operation(&mut self) {
        // Weights: host operations first, then faults, then claims.
        let watch = u32::from(self.mode == Mode::Wire);
        let weights = [3, 2, 1, 1, 1, 1, 3, 2, 1, 2, watch, 1, 3, 2, 1];
        let total: u32 = weights.iter().sum();
        let mut draw = self.rng.random_range(0..total);
        let mut choice = 0;
        for (i, w) in weights.iter().enumerate() {
            if draw < *w {
                choice = i;
                break;
            }
            draw -= w;
        }
        let alive = self.alive();
        let manual = self.manual();
        let live_claims = self.live_claims();
        match choice {
            0 if !manual.is_empty() => {
                let i = self.pick(&manual);
                let h = &mut self.hosts[i];
                h.image = true;
                let name = h.name.clone();
                self.patch_host(&name, json!({"spec": {"image": image()}}), "provision");
            }
            1 if !manual.is_empty() => {
                let i = self.pick(&manual);
                let h = &mut self.hosts[i];
                h.image = false;
                let name = h.name.clone();
                self.patch_host(&name, json!({"spec": {"image": null}}), "deprovision");
            }
            2 if !manual.is_empty() => {
                let i = self.pick(&manual);
                let h = &mut self.hosts[i];
                h.online = !h.online;
                let (name, online) = (h.name.clone(), h.online);
                self.patch_host(
                    &name,
                    json!({"spec": {"online": online}}),
                    &format!("online {online}"),
                );
            }
            3 => {
                let i = self.pick(&alive);
                self.hosts[i].detached = !self.hosts[i].detached;
                let detached = self.hosts[i].detached;
                self.detach(i, detached);
            }
            4 if alive.len() > 1 => {
                let i = self.pick(&alive);
                self.delete_host(i);
            }
            5 => {
                let i = self.pick(&alive);
                let wrong = !self.hosts[i].wrong_secret;
                self.secret(i, wrong);
            }
            6 => self.bmc_fault(),
            7 => {
                let rate = [0.3, 0.6, 1.0][self.rng.random_range(0..3)];
                let secs = self.secs(ranges(self.mode).ironic_fault);
                self.fault(
                    json!({"ironic": {"http_5xx_rate": rate}, "for": format!("{secs}s")}),
                    format!("Ironic 5xx rate {rate} for {secs}s"),
                );
            }
            8 => {
                let hosts = self.some_hosts();
                let secs = self.secs(ranges(self.mode).heartbeat_loss);
                self.fault(
                    json!({"hosts": hosts, "agent": {"heartbeat_loss": true}, "for": format!("{secs}s")}),
                    format!("agent heartbeat loss on {} for {secs}s", hosts.join(",")),
                );
            }
            9 => self.kill_operator(&alive),
            10 => self.fault(
                json!({"control_plane": {"watch_disconnect": true}, "for": "5s"}),
                "every watch cut".into(),
            ),
            11 => self.fault(
                json!({"ironic": {"database_lost": true}, "for": "1s"}),
                "Ironic restarted with an empty database".into(),
            ),
            12 => self.create_claim(),
            13 if !live_claims.is_empty() => {
                let c = self.pick(&live_claims);
                self.claims[c].deleted = true;
                let name = self.claims[c].name.clone();
                self.story.push(format!("delete claim {name}"));
                self.steps.push(json!({"delete_claim": {"name": name}}));
            }
            // A claim created at the instant a claimable host is deleted or detached.
            14 => {
                let claimable = self.claimable();
                if !claimable.is_empty() {
                    let i = self.pick(&claimable);
                    if alive.len() > 1 && self.rng.random_bool(0.5) {
                        self.delete_host(i);
                    } else if !self.hosts[i].detached {
                        self.hosts[i].detached = true;
                        self.detach(i, true);
                    }
                }
                self.create_claim();
            }
            // A claim delete with no live claim: a claim create instead.
            13 => self.create_claim(),
            // A delete that would leave no host, or an image or power change with no host whose
            // image and power are the generator's: a BMC fault instead.
            _ => self.bmc_fault(),
        }
    }

    /// The operator killed and restarted; in engine mode, half the time inside a reconcile of a
    /// host still there, after 0 to 3 of its API writes (wire mode cannot place such a kill).
    fn kill_operator(&mut self, alive: &[usize]) {
        let secs = self.secs(ranges(self.mode).operator_down);
        let mut restart = json!({"down_for": format!("{secs}s")});
        if self.mode == Mode::Engine && self.rng.random_bool(0.5) {
            let i = self.pick(alive);
            let host = self.hosts[i].name.clone();
            let after_writes = self.rng.random_range(0..=3u32);
            self.story.push(format!(
                "operator killed inside a reconcile of {host} after {after_writes} API writes, down {secs}s"
            ));
            restart["mid_reconcile"] = json!({"host": host, "after_writes": after_writes});
        } else {
            self.story.push(format!("operator killed, down {secs}s"));
        }
        self.steps.push(json!({"restart_operator": restart}));
    }

    fn delete_host(&mut self, i: usize) {
        self.hosts[i].deleted = true;
        let name = self.hosts[i].name.clone();
        self.story.push(format!("delete {name}"));
        self.steps.push(json!({"delete": {"hosts": [name]}}));
    }

    /// A HostClaim selecting the claimable hosts (one in eight selects a label no host carries,
    /// and must stay unbound).
    fn create_claim(&mut self) {
        let name = format!("claim-{}", self.claims.len());
        let matchable = !self.rng.random_ratio(1, 8);
        let value = if matchable { CLAIM_LABEL.1 } else { "nowhere" };
        self.story.push(format!(
            "create claim {name} selecting {}={value}",
            CLAIM_LABEL.0
        ));
        self.steps.push(json!({"create_claim": {
            "name": name,
            "match_labels": {CLAIM_LABEL.0: value},
            "user_data": USER_DATA,
        }}));
        self.claims.push(ClaimPlan {
            name,
            matchable,
            deleted: false,
        });
    }

    fn patch_host(&mut self, name: &str, patch: Value, what: &str) {
        self.story.push(format!("{what} {name}"));
        self.steps
            .push(json!({"patch": {"hosts": [name], "patch": patch}}));
    }

    fn detach(&mut self, i: usize, detached: bool) {
        let name = self.hosts[i].name.clone();
        let key = "baremetalhost.metal3.io/detached";
        if detached {
            self.story.push(format!("detach {name}"));
            self.steps
                .push(json!({"annotate": {"hosts": [name], "set": {key: ""}}}));
        } else {
            self.story.push(format!("attach {name}"));
            self.steps
                .push(json!({"annotate": {"hosts": [name], "remove": [key]}}));
        }
    }

    fn secret(&mut self, i: usize, wrong: bool) {
        let h = &mut self.hosts[i];
        h.wrong_secret = wrong;
        let password = if wrong {
            format!("{}-wrong", h.password)
        } else {
            h.password.clone()
        };
        let name = h.name.clone();
        self.story.push(format!(
            "{name}'s BMC Secret changed to the {} password",
            if wrong { "wrong" } else { "right" }
        ));
        self.steps.push(json!({"patch": {
            "kind": "Secret",
            "name": format!("{name}-bmc-secret"),
            "patch": {"stringData": {"password": password}},
        }}));
    }

    fn bmc_fault(&mut self) {
        let hosts = self.some_hosts();
        let secs = self.secs(ranges(self.mode).bmc_fault);
        let (fault, what) = match self.rng.random_range(0..4) {
            0 => (json!({"unreachable": true}), "unreachable".to_owned()),
            1 => {
                let rate = [0.3, 0.7, 1.0][self.rng.random_range(0..3)];
                (
                    json!({"http_5xx_rate": rate}),
                    format!("Redfish 5xx rate {rate}"),
                )
            }
            2 => {
                let loss = [0.2, 0.5][self.rng.random_range(0..2)];
                (
                    json!({"ipmi_packet_loss": loss}),
                    format!("IPMI packet loss {loss}"),
                )
            }
            _ => (
                json!({"latency": {"min": "50ms", "max": "2s"}}),
                "latency 50ms..2s".to_owned(),
            ),
        };
        let text = format!("BMC {what} on {} for {secs}s", hosts.join(","));
        self.fault(
            json!({"hosts": hosts, "bmc": fault, "for": format!("{secs}s")}),
            text,
        );
    }

    fn fault(&mut self, mut body: Value, what: String) {
        self.faults += 1;
        body["name"] = json!(format!("chaos-fault-{}", self.faults));
        self.story.push(what);
        self.steps.push(json!({"inject_fault": body}));
    }

    /// Faults cleared, Secrets right, hosts attached; then each host must converge.
    fn settle(&mut self) {
        self.steps.push(json!({"clear_fault": {"all": true}}));
        for i in self.alive() {
            if self.hosts[i].wrong_secret {
                self.secret(i, false);
            }
            if self.hosts[i].detached {
                self.hosts[i].detached = false;
                self.detach(i, false);
            }
        }
        // A host that is not online is not provisioned (Metal3 provisions online hosts only), so
        // every host is brought online to converge, and those last asked to be off are turned
        // off again afterwards and must power off.
        let offline: Vec<usize> = self
            .alive()
            .into_iter()
            .filter(|i| !self.hosts[*i].online)
            .collect();
        for i in &offline {
            let name = self.hosts[*i].name.clone();
            self.steps
                .push(json!({"patch": {"hosts": [name], "patch": {"spec": {"online": true}}}}));
        }
        let within = format!("{}s", converge_bound(self.mode).as_secs());
        for h in &self.hosts {
            let until = if h.deleted {
                json!({"hosts": [h.name], "gone": true})
            } else if h.claimable {
                continue;
            } else {
                json!({
                    "hosts": [h.name],
                    "state": if h.image { "provisioned" } else { "available" },
                    "error_type": "none",
                    "powered_on": true,
                })
            };
            self.steps
                .push(json!({"wait": {"until": until, "within": within}}));
        }
        self.settle_claims(&within);
        for i in offline {
            let h = &self.hosts[i];
            let state = if h.image { "provisioned" } else { "available" };
            self.steps
                .push(json!({"patch": {"hosts": [h.name], "patch": {"spec": {"online": false}}}}));
            self.steps.push(json!({"wait": {"until": {
                "hosts": [h.name],
                "state": state,
                "error_type": "none",
                "powered_on": false,
            }, "within": within}}));
        }
    }

    /// What convergence means for the claims: with `k` live matchable claims and `m` claimable
    /// hosts left, `min(k, m)` claimable hosts are provisioned (powered on, no error) and the
    /// others back `available` with no error (a deleted claim's host released); when every live
    /// claim can have a host (`k <= m`) each is bound; a claim whose selector matches no host, and
    /// every deleted claim, is (soon) not bound.
    fn settle_claims(&mut self, within: &str) {
        let m = self.claimable().len();
        let live: Vec<&ClaimPlan> = self.claims.iter().filter(|c| !c.deleted).collect();
        let k = live.iter().filter(|c| c.matchable).count();
        let mut waits = Vec::new();
        for c in live.iter().filter(|c| c.matchable) {
            if k <= m {
                waits.push(json!({"claim": c.name, "bound": true, "reason": ["HostBound"]}));
            } else if m == 0 {
                waits.push(json!({"claim": c.name, "bound": false, "reason": ["NoMatchingHost"]}));
            } else {
                // Which claims win is not judged; each loser says no matching host is free.
                waits.push(json!({"claim": c.name, "reason": ["HostBound", "NoHostAvailable"]}));
            }
        }
        let selector = json!({"labels": {CLAIM_LABEL.0: CLAIM_LABEL.1}});
        if k.min(m) > 0 {
            waits.push(json!({
                "hosts": selector,
                "at_least": k.min(m),
                "state": "provisioned",
                "error_type": "none",
                "powered_on": true,
            }));
        }
        if m > k {
            waits.push(json!({
                "hosts": selector,
                "at_least": m - k,
                "state": "available",
                "error_type": "none",
            }));
        }
        // A live claim whose selector matches no host says so; a deleted one is gone.
        let unbound: Vec<Value> = self
            .claims
            .iter()
            .filter(|c| c.deleted || !c.matchable)
            .map(|c| {
                if c.deleted {
                    json!({"claim": c.name, "bound": false})
                } else {
                    json!({"claim": c.name, "bound": false, "reason": ["NoMatchingHost"]})
                }
            })
            .collect();
        // Unbound is waited for too: a deleted claim lets its host go (clears its consumerRef)
        // on the claim's next reconcile after the host is back `available`, not at that instant.
        for until in waits.into_iter().chain(unbound) {
            self.steps
                .push(json!({"wait": {"until": until, "within": within}}));
        }
    }

    fn render(&self) -> String {
        let base = 100 + self.seed % 100;
        let groups: Vec<Value> = self
            .hosts
            .iter()
            .map(|h| {
                let mut g = json!({
                    "name": h.name,
                    "bmc": {"protocol": h.protocol, "username": "chaos", "password": h.password},
                });
                if h.claimable {
                    g["labels"] = json!({CLAIM_LABEL.0: CLAIM_LABEL.1});
                }
                g
            })
            .collect();
        let fleet = json!({
            "time_scale": 0.05,
            "layout": {"mode": "per-address", "base": format!("127.0.{base}.1")},
            "groups": groups,
        });
        let mut out = String::new();
        out.push_str(&format!(
            "# Drawn by `metal-sim chaos` from seed {} ({} mode): {} hosts, then\n",
            self.seed,
            mode_word(self.mode),
            self.hosts.len()
        ));
        for line in &self.story {
            out.push_str(&format!("#  - {line}\n"));
        }
        out.push_str(&format!(
            "# then every fault cleared and every host converged within {}s.\n",
            converge_bound(self.mode).as_secs()
        ));
        out.push_str(&format!("name: {}\n", name(self.seed, self.mode)));
        out.push_str(&format!(
            "description: >-\n  Seeded chaos (seed {}): host operations interleaved with faults; every host converges once they clear.\n",
            self.seed
        ));
        out.push_str(&format!("modes: [{}]\n", mode_word(self.mode)));
        out.push_str(&format!("seed: {}\n", self.seed));
        out.push_str(&format!("fleet: {fleet}\n"));
        out.push_str("timeline:\n");
        for step in &self.steps {
            out.push_str(&format!("  - {step}\n"));
        }
        out
    }
}

fn image() -> Value {
    json!({
        "url": "$IMAGES/os.qcow2",
        "checksum": "$IMAGES/os.qcow2.sha256sum",
        "checksumType": "sha256",
    })
}

/// The outcome of one chaos seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Trace events recorded.
    pub events: usize,
    /// One line per violation (a failed invariant, a host that did not converge, a run that
    /// could not be played); empty when the seed passed.
    pub violations: Vec<String>,
}

/// Draws and plays `seed` in engine mode and judges its trace.
pub fn run_engine(seed: u64) -> SeedOutcome {
    let outcome = |events, violations| SeedOutcome {
        seed,
        events,
        violations,
    };
    let s = match scenario(seed, Mode::Engine) {
        Ok(s) => s,
        Err(e) => return outcome(0, vec![format!("the drawn scenario is invalid: {e}")]),
    };
    match crate::engine::run(&s, seed) {
        Ok(trace) => {
            let verdict = crate::check::check(&s, &trace);
            outcome(
                trace.events.len(),
                verdict.failures.iter().map(ToString::to_string).collect(),
            )
        }
        Err(e) => outcome(0, vec![e.to_string()]),
    }
}
