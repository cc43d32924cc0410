//! The life machine driven by hand: sequences of answers and the actions they lead to.

use std::time::Duration;

use super::*;
use crate::machine::derive_rng;

const MS: Duration = Duration::from_millis(1);

fn life(settings: LifeSettings) -> Life {
    Life::new(settings, derive_rng(7, "agent-life", 0))
}

fn wait_of(action: Next, call: Call) -> Duration {
    match action {
        Next::After(d, c) if c == call => d,
        Next::Now(c) if c == call => Duration::ZERO,
        other => panic!("expected a {call:?}, got {other:?}"),
    }
}

/// A life brought to its heartbeats at time zero.
fn heartbeating(settings: LifeSettings) -> Life {
    let mut l = life(settings);
    assert_eq!(l.start(), Next::Now(Call::Negotiate));
    let t = Duration::ZERO;
    assert_eq!(
        l.answer(Answer::Negotiate(Negotiation::Agreed), t),
        Next::Now(Call::Lookup)
    );
    assert_eq!(
        l.answer(Answer::Lookup(LookupAnswer::Found), t),
        Next::Now(Call::Inspect)
    );
    assert_eq!(
        l.answer(Answer::Inspect(InspectionAnswer::NotInspecting), t),
        Next::Now(Call::Heartbeat)
    );
    l
}

#[test]
fn the_happy_life_negotiates_looks_up_inspects_then_heartbeats() {
    let mut l = heartbeating(LifeSettings::default());
    assert_eq!(l.stage(), Stage::Heartbeat);
    let interval = l.settings().heartbeat_interval;
    let mut t = Duration::ZERO;
    for _ in 0..100 {
        let d = wait_of(
            l.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), t),
            Call::Heartbeat,
        );
        assert!(
            d >= interval.mul_f64(0.75) && d <= interval.mul_f64(1.25),
            "{d:?}"
        );
        t += d;
    }
}

#[test]
fn inspection_never_goes_straight_to_heartbeats() {
    let mut l = life(LifeSettings {
        inspection: InspectionMode::Never,
        ..LifeSettings::default()
    });
    l.start();
    l.answer(Answer::Negotiate(Negotiation::Agreed), Duration::ZERO);
    assert_eq!(
        l.answer(Answer::Lookup(LookupAnswer::Found), Duration::ZERO),
        Next::Now(Call::Heartbeat)
    );
}

#[test]
fn every_inspection_answer_but_409_moves_on_to_heartbeats() {
    for answer in [
        InspectionAnswer::Accepted,
        InspectionAnswer::NotInspecting,
        InspectionAnswer::Failed,
    ] {
        let mut l = life(LifeSettings::default());
        l.start();
        l.answer(Answer::Negotiate(Negotiation::Agreed), Duration::ZERO);
        l.answer(Answer::Lookup(LookupAnswer::Found), Duration::ZERO);
        assert_eq!(
            l.answer(Answer::Inspect(answer), Duration::ZERO),
            Next::Now(Call::Heartbeat),
            "{answer:?}"
        );
    }
}

#[test]
fn inspection_409s_are_retried_with_the_lookup_backoff_then_heartbeats_follow() {
    let settings = LifeSettings::default();
    let policy = settings.lookup;
    let mut l = life(settings.clone());
    let mut twin = derive_rng(7, "agent-life", 0);
    l.start();
    l.answer(Answer::Negotiate(Negotiation::Agreed), Duration::ZERO);
    l.answer(Answer::Lookup(LookupAnswer::Found), Duration::ZERO);
    for attempt in 0..settings.inspection_attempts {
        let action = l.answer(Answer::Inspect(InspectionAnswer::Conflict), Duration::ZERO);
        let expected = policy.delay(attempt, &mut twin);
        if attempt + 1 < settings.inspection_attempts {
            assert_eq!(action, Next::After(expected, Call::Inspect));
        } else {
            // The last 409: no more posts; the first heartbeat waits the same back-off.
            assert_eq!(action, Next::After(expected, Call::Heartbeat));
        }
    }
    assert_eq!(l.stage(), Stage::Heartbeat);
}

#[test]
fn lookup_retries_back_off_and_give_up_after_the_attempts() {
    let settings = LifeSettings {
        lookup: RetryPolicy {
            attempts: 6,
            budget: Duration::from_secs(3600),
            ..RetryPolicy::default()
        },
        ..LifeSettings::default()
    };
    let policy = settings.lookup;
    let mut l = life(settings);
    let mut twin = derive_rng(7, "agent-life", 0);
    l.start();
    let mut t = Duration::from_secs(1);
    l.answer(Answer::Negotiate(Negotiation::Agreed), t);
    for n in 1..policy.attempts {
        let answer = if n % 2 == 0 {
            LookupAnswer::Failed
        } else {
            LookupAnswer::NotYet
        };
        let d = wait_of(l.answer(Answer::Lookup(answer), t), Call::Lookup);
        assert_eq!(d, policy.delay(n - 1, &mut twin));
        assert!(d <= policy.cap);
        t += d;
    }
    assert_eq!(
        l.answer(Answer::Lookup(LookupAnswer::NotYet), t),
        Next::Stop(End::LookupGaveUp)
    );
    assert_eq!(l.stage(), Stage::Over(End::LookupGaveUp));
    // Over is over, whatever comes next.
    assert_eq!(
        l.answer(Answer::Lookup(LookupAnswer::Found), t),
        Next::Stop(End::LookupGaveUp)
    );
}

#[test]
fn the_lookup_budget_counts_from_the_first_lookup() {
    let settings = LifeSettings {
        lookup: RetryPolicy {
            attempts: 1000,
            budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        },
        ..LifeSettings::default()
    };
    let mut l = life(settings);
    l.start();
    // Negotiation took a minute: the lookup budget starts now.
    let start = Duration::from_secs(60);
    l.answer(Answer::Negotiate(Negotiation::Agreed), start);
    let mut t = start;
    let mut lookups = 1;
    loop {
        match l.answer(Answer::Lookup(LookupAnswer::NotYet), t) {
            Next::After(d, Call::Lookup) => {
                t += d;
                assert!(t - start < Duration::from_secs(10));
                lookups += 1;
            }
            Next::Stop(End::LookupGaveUp) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(lookups > 3, "{lookups}");
}

#[test]
fn an_unusable_lookup_reply_ends_the_life_at_once() {
    let mut l = life(LifeSettings::default());
    l.start();
    l.answer(Answer::Negotiate(Negotiation::Agreed), Duration::ZERO);
    assert_eq!(
        l.answer(Answer::Lookup(LookupAnswer::Unusable), Duration::ZERO),
        Next::Stop(End::LookupGaveUp)
    );
}

#[test]
fn negotiation_is_retried_within_attempts_and_budget_and_too_old_is_final() {
    let settings = LifeSettings {
        lookup: RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        },
        ..LifeSettings::default()
    };
    let policy = settings.lookup;
    let mut l = life(settings.clone());
    let mut twin = derive_rng(7, "agent-life", 0);
    l.start();
    for failures in 1..3 {
        assert_eq!(
            l.answer(Answer::Negotiate(Negotiation::Failed), Duration::ZERO),
            Next::After(policy.delay(failures, &mut twin), Call::Negotiate)
        );
    }
    assert_eq!(
        l.answer(Answer::Negotiate(Negotiation::Failed), Duration::ZERO),
        Next::Stop(End::Unreachable)
    );

    let mut l = life(settings.clone());
    l.start();
    assert_eq!(
        l.answer(Answer::Negotiate(Negotiation::Failed), policy.budget + MS),
        Next::Stop(End::Unreachable)
    );

    let mut l = life(settings);
    l.start();
    assert_eq!(
        l.answer(Answer::Negotiate(Negotiation::TooOld), Duration::ZERO),
        Next::Stop(End::Incompatible)
    );
}

#[test]
fn heartbeat_waits_depend_on_the_answer() {
    let mut l = heartbeating(LifeSettings::default());
    let interval = l.settings().heartbeat_interval;
    for _ in 0..50 {
        let d = wait_of(
            l.answer(Answer::Heartbeat(HeartbeatAnswer::Conflict), Duration::ZERO),
            Call::Heartbeat,
        );
        assert!(d >= 150 * MS && d <= 400 * MS, "{d:?}");
    }
    for answer in [
        HeartbeatAnswer::Refused(403),
        HeartbeatAnswer::Refused(404),
        HeartbeatAnswer::Failed,
        HeartbeatAnswer::Silenced,
    ] {
        assert_eq!(
            l.answer(Answer::Heartbeat(answer), Duration::ZERO),
            Next::After(interval, Call::Heartbeat),
            "{answer:?}"
        );
    }
}

#[test]
fn unjittered_waits_draw_nothing_from_the_rng() {
    let mut a = heartbeating(LifeSettings::default());
    let mut b = heartbeating(LifeSettings::default());
    a.answer(Answer::Heartbeat(HeartbeatAnswer::Silenced), Duration::ZERO);
    a.answer(
        Answer::Heartbeat(HeartbeatAnswer::Refused(404)),
        Duration::ZERO,
    );
    assert_eq!(
        a.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), Duration::ZERO),
        b.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), Duration::ZERO)
    );
}

#[test]
fn no_heartbeat_starts_at_or_after_the_lifetime() {
    let settings = LifeSettings {
        heartbeat_interval: Duration::from_secs(10),
        lifetime: Some(Duration::from_secs(60)),
        ..LifeSettings::default()
    };
    let mut l = heartbeating(settings);
    let mut t = Duration::ZERO;
    let mut beats = 1;
    loop {
        match l.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), t) {
            Next::After(d, Call::Heartbeat) => {
                t += d;
                assert!(t < Duration::from_secs(60));
                beats += 1;
            }
            Next::Stop(End::Lifetime) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!((5..=8).contains(&beats), "{beats}");

    // A life that reaches heartbeats after its lifetime sends none.
    let mut l = life(LifeSettings {
        lifetime: Some(Duration::from_secs(1)),
        ..LifeSettings::default()
    });
    l.start();
    let late = Duration::from_secs(2);
    l.answer(Answer::Negotiate(Negotiation::Agreed), late);
    l.answer(Answer::Lookup(LookupAnswer::Found), late);
    assert_eq!(
        l.answer(Answer::Inspect(InspectionAnswer::Accepted), late),
        Next::Stop(End::Lifetime)
    );

    // Without a lifetime the heartbeats go on.
    let mut l = heartbeating(LifeSettings {
        lifetime: None,
        ..LifeSettings::default()
    });
    let year = Duration::from_secs(365 * 86_400);
    assert!(matches!(
        l.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), year),
        Next::After(_, Call::Heartbeat)
    ));
}

#[test]
fn an_answer_to_a_call_not_asked_ends_the_life() {
    let mut l = life(LifeSettings::default());
    l.start();
    assert_eq!(
        l.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), Duration::ZERO),
        Next::Stop(End::Misanswered)
    );
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let run = || {
        let mut l = heartbeating(LifeSettings::default());
        (0..20)
            .map(|i| {
                let answer = if i % 5 == 0 {
                    HeartbeatAnswer::Conflict
                } else {
                    HeartbeatAnswer::Accepted
                };
                l.answer(Answer::Heartbeat(answer), Duration::ZERO)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn backoff_grows_is_capped_and_jittered_reproducibly() {
    let p = RetryPolicy::default();
    let mut a = derive_rng(7, "agent", 0);
    let mut b = derive_rng(7, "agent", 0);
    let da: Vec<_> = (0..10).map(|n| p.delay(n, &mut a)).collect();
    let db: Vec<_> = (0..10).map(|n| p.delay(n, &mut b)).collect();
    assert_eq!(da, db);
    assert!(da.iter().all(|d| *d <= p.cap));
    assert!(da[0] <= p.base && da[0] >= p.base / 2);
}

#[test]
fn a_finished_command_forces_a_beat_once_the_gap_since_the_last_has_passed() {
    let settings = LifeSettings {
        heartbeat_interval: Duration::from_secs(30),
        forced_gap: Duration::from_secs(5),
        ..LifeSettings::default()
    };
    // Before heartbeats start there is nothing to force.
    let mut l = life(settings.clone());
    l.start();
    assert_eq!(l.command_finished(Duration::ZERO), None);

    let mut l = heartbeating(settings);
    // No beat yet: the forced one goes out at once.
    assert_eq!(l.command_finished(Duration::ZERO), Some(Duration::ZERO));
    let beat = Duration::from_secs(100);
    let planned = wait_of(
        l.answer(Answer::Heartbeat(HeartbeatAnswer::Accepted), beat),
        Call::Heartbeat,
    );
    assert!(planned >= Duration::from_secs(22), "{planned:?}");
    // A command finished 2 s after the beat: the forced beat comes 5 s after the beat.
    assert_eq!(
        l.command_finished(beat + Duration::from_secs(2)),
        Some(Duration::from_secs(3))
    );
    // One finished 8 s after it: at once.
    assert_eq!(
        l.command_finished(beat + Duration::from_secs(8)),
        Some(Duration::ZERO)
    );
    // A failed or silenced beat counts as a beat too (IPA times its next one from any attempt).
    let silent = beat + Duration::from_secs(10);
    l.answer(Answer::Heartbeat(HeartbeatAnswer::Silenced), silent);
    assert_eq!(
        l.command_finished(silent + Duration::from_secs(1)),
        Some(Duration::from_secs(4))
    );
}

#[test]
fn a_fleets_forced_gap_follows_its_time_scale() {
    assert_eq!(
        LifeSettings::for_fleet(1.0, 1).forced_gap,
        Duration::from_secs(5)
    );
    assert_eq!(
        LifeSettings::for_fleet(0.05, 1).forced_gap,
        Duration::from_millis(250)
    );
    assert_eq!(
        LifeSettings::for_fleet(0.0, 1000).forced_gap,
        Duration::from_millis(100)
    );
}
