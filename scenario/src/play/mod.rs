//! One player of a scenario's timeline for both modes, over a [`Backend`]: the engine (virtual
//! time, `engine::scenario`) or the wire stack (real time, `scenario::wire`).
//!
//! The player owns what the modes share: the step loop and its `step` / `step_failed` trace
//! lines, fault windows (names, targets, hosts, `for` expiring at its instant), time passing with
//! those expiries, and `wait` / `assert` conditions with their failure messages. A backend
//! carries out the operations and supplies the views; what really differs between the modes
//! (waiting in real time and polling, or advancing virtual time) stays inside it.
//!
//! - [`backend`]: the [`Backend`] trait and the host view conditions read;
//! - [`faults`]: a fault in force and a host's BMC fault set with the active ones;
//! - [`conditions`]: host conditions and [`one_line`];
//! - [`objects`]: the objects `register` and `create_claim` write.

mod backend;
mod conditions;
mod faults;
mod objects;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use backend::{Backend, HostConditionView};
pub use conditions::one_line;
pub use faults::{ActiveFault, bmc_faults};
pub use objects::{claim_object, register_documents};

use super::Scenario;
use super::format::{Condition, FaultTarget, InjectFault, Span, Step};
use super::trace::Happening;

/// Why a step could not be carried out.
#[derive(Debug)]
pub enum PlayError<E> {
    /// The backend could not do it.
    Backend(E),
    /// The step itself is wrong (a fault with no target, an empty condition).
    Scenario(String),
}

impl<E: fmt::Display> fmt::Display for PlayError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlayError::Backend(e) => e.fmt(f),
            PlayError::Scenario(m) => f.write_str(m),
        }
    }
}

/// Where playing stopped because a step could not be carried out (its `step_failed` line is in
/// the trace).
#[derive(Debug)]
pub struct Stopped<E> {
    /// 0-based step index.
    pub index: usize,
    /// The step's line in the scenario file.
    pub line: usize,
    /// Why.
    pub error: PlayError<E>,
}

/// A step's result: `Ok(Err(reason))` is a `wait` or `assert` that did not hold.
type StepResult<E> = Result<Result<(), String>, PlayError<E>>;

/// Plays a scenario's timeline over a backend.
pub struct Player<'a, B> {
    scenario: &'a Scenario,
    backend: B,
    faults: BTreeMap<String, ActiveFault>,
}

impl<'a, B: Backend> Player<'a, B> {
    /// A player of `scenario` over `backend`.
    pub fn new(scenario: &'a Scenario, backend: B) -> Self {
        Player {
            scenario,
            backend,
            faults: BTreeMap::new(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, given back.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Plays every step in order; stops at the first that does not hold (recorded as
    /// `step_failed`, `Ok`) or cannot be carried out (recorded, and returned as `Err`).
    pub async fn play_all(&mut self) -> Result<(), Stopped<B::Error>> {
        let scenario = self.scenario;
        for (index, step) in scenario.file.timeline.iter().enumerate() {
            let line = scenario.step_line(index);
            self.backend.step_started(index, step.keyword());
            self.backend.record(Happening::Step {
                index,
                line,
                keyword: step.keyword().to_owned(),
                summary: one_line(step),
            });
            let outcome = self.play(index, step).await;
            self.backend.step_done(index);
            let (reason, error) = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(reason)) => (reason, None),
                Err(e) => (e.to_string(), Some(e)),
            };
            self.backend.record(Happening::StepFailed {
                index,
                line,
                reason,
            });
            return match error {
                Some(error) => Err(Stopped { index, line, error }),
                None => Ok(()),
            };
        }
        Ok(())
    }

    /// One step.
    async fn play(&mut self, index: usize, step: &Step) -> StepResult<B::Error> {
        self.expire().await?;
        let b = &mut self.backend;
        match step {
            Step::Register(r) => b.register(r).await.map_err(PlayError::Backend)?,
            Step::Apply(o) => b.apply(&o.objects).await.map_err(PlayError::Backend)?,
            Step::Patch(p) => b
                .patch(&p.target(), p.patch_type, &p.patch)
                .await
                .map_err(PlayError::Backend)?,
            Step::Annotate(m) => b
                .metadata("annotations", m)
                .await
                .map_err(PlayError::Backend)?,
            Step::Label(m) => b.metadata("labels", m).await.map_err(PlayError::Backend)?,
            Step::Delete(t) => b.delete(t).await.map_err(PlayError::Backend)?,
            Step::CreateClaim(c) => b.create_claim(c).await.map_err(PlayError::Backend)?,
            Step::DeleteClaim(c) => b.delete_claim(c).await.map_err(PlayError::Backend)?,
            Step::ScalePool(s) => b.scale_pool(s).await.map_err(PlayError::Backend)?,
            Step::RestartOperator(r) => {
                b.stop_operator(r).await.map_err(PlayError::Backend)?;
                b.record(Happening::Operator { running: false });
                self.pass(self.backend.span(r.down_for.0)).await?;
                self.backend
                    .start_operator()
                    .await
                    .map_err(PlayError::Backend)?;
                self.backend.record(Happening::Operator { running: true });
            }
            Step::InjectFault(f) => self.inject(index, f).await?,
            Step::ClearFault(c) => {
                let names: Vec<String> = if c.all {
                    self.faults.keys().cloned().collect()
                } else {
                    c.name.iter().cloned().collect()
                };
                self.clear(names).await?;
            }
            Step::Advance(span) => self.pass(self.backend.span(span.0)).await?,
            Step::Wait(w) => {
                let factor = self.backend.wait_factor();
                let within = if factor == 1.0 {
                    w.within
                } else {
                    Span(w.within.0.mul_f64(factor))
                };
                let deadline = within.after(self.backend.now());
                loop {
                    self.expire().await?;
                    let Err(why) = self.holds(&w.until)? else {
                        break;
                    };
                    let now = self.backend.now();
                    if now >= deadline {
                        let scaled = if factor == 1.0 {
                            String::new()
                        } else {
                            format!(" ({} × the operator's wait factor {factor})", w.within)
                        };
                        return Ok(Err(format!("not within {within}{scaled}: {why}")));
                    }
                    self.pass_to(now.saturating_add(B::POLL).min(deadline))
                        .await?;
                }
            }
            Step::Assert(c) => return self.holds(c),
        }
        Ok(Ok(()))
    }

    /// Whether a condition holds now; `Ok(Err(..))` says what is off.
    fn holds(&self, c: &Condition) -> StepResult<B::Error> {
        if let Some(sel) = &c.hosts {
            let names = self.scenario.host_names(sel);
            let views = self.backend.hosts(&names);
            return Ok(conditions::hosts_hold(&names, &views, c, B::ABSENT));
        }
        if let Some(claim) = &c.claim {
            let bound = self.backend.claim_bound(claim);
            if c.bound.is_some_and(|b| b != bound) {
                return Ok(Err(format!(
                    "claim {claim} is {}",
                    if bound { "bound" } else { "not bound" }
                )));
            }
            if !c.reason.is_empty() {
                let reason = self.backend.claim_reason(claim);
                if !reason.as_ref().is_some_and(|r| c.reason.contains(r)) {
                    return Ok(Err(format!(
                        "claim {claim}'s Bound condition says {}, not {}",
                        reason.as_deref().unwrap_or("nothing yet"),
                        c.reason.join(" or ")
                    )));
                }
            }
            return Ok(Ok(()));
        }
        if let Some(pool) = &c.pool {
            let ready = self.backend.pool_ready(pool);
            return Ok(if Some(ready) == c.ready {
                Ok(())
            } else {
                Err(format!("pool {pool} has {ready} ready"))
            });
        }
        Err(PlayError::Scenario("an empty condition".into()))
    }

    /// Lets `d` pass.
    async fn pass(&mut self, d: Duration) -> Result<(), PlayError<B::Error>> {
        let t = self.backend.now().saturating_add(d);
        self.pass_to(t).await
    }

    /// Lets time pass until `t`, ending faults whose `for` runs out on the way at their instant.
    async fn pass_to(&mut self, t: metal_sim::machine::SimTime) -> Result<(), PlayError<B::Error>> {
        loop {
            self.expire().await?;
            let now = self.backend.now();
            if now >= t {
                return Ok(());
            }
            let stop = self
                .faults
                .values()
                .filter_map(|f| f.until)
                .filter(|u| *u > now)
                .min()
                .map_or(t, |u| u.min(t));
            self.backend
                .pass_to(stop)
                .await
                .map_err(PlayError::Backend)?;
        }
    }

    /// Ends the faults whose `for` has run out.
    async fn expire(&mut self) -> Result<(), PlayError<B::Error>> {
        let now = self.backend.now();
        let due: Vec<String> = self
            .faults
            .values()
            .filter(|f| f.until.is_some_and(|u| u <= now))
            .map(|f| f.name.clone())
            .collect();
        self.clear(due).await
    }

    async fn inject(&mut self, index: usize, f: &InjectFault) -> Result<(), PlayError<B::Error>> {
        let name = f
            .name
            .clone()
            .unwrap_or_else(|| format!("fault-{}", index + 1));
        let target = f
            .target()
            .ok_or_else(|| PlayError::Scenario("a fault needs exactly one target".into()))?;
        let now = self.backend.now();
        let duration = f.duration.map(|d| Span(self.backend.span(d.0)));
        let until = duration.map(|d| d.after(now));
        let hosts = match target {
            FaultTarget::Bmc | FaultTarget::Agent => self.scenario.host_names(&f.hosts),
            FaultTarget::Ironic | FaultTarget::ControlPlane => Vec::new(),
        };
        let fault = ActiveFault {
            name: name.clone(),
            target,
            hosts: hosts.clone(),
            bmc: f
                .bmc
                .as_ref()
                .map(|b| b.fault_set(now, until))
                .unwrap_or_default(),
            ironic: f.ironic.clone(),
            duration: duration.map(|d| d.0),
            until,
        };
        self.faults.insert(name.clone(), fault.clone());
        if let Err(e) = self.backend.fault_started(&fault, &self.faults).await {
            self.faults.remove(&name);
            return Err(PlayError::Backend(e));
        }
        self.backend.record(Happening::Fault {
            name,
            target,
            hosts,
            active: true,
        });
        Ok(())
    }

    async fn clear(&mut self, names: Vec<String>) -> Result<(), PlayError<B::Error>> {
        for name in names {
            let Some(f) = self.faults.remove(&name) else {
                continue;
            };
            self.backend
                .fault_ended(&f, &self.faults)
                .await
                .map_err(PlayError::Backend)?;
            self.backend.record(Happening::Fault {
                name,
                target: f.target,
                hosts: f.hosts,
                active: false,
            });
        }
        Ok(())
    }
}
