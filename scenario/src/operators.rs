//! Which operators a scenario is about: the Metal3 behaviour every Metal3-compatible operator must
//! show, and our extensions (HostClaim/HostPool pools in the timeline, expectations marked
//! `extension: true`) that only our operator has. `metal-sim run --operator` refuses a scenario
//! whose timeline needs an extension, and reports extension expectations as not applicable.

use super::Scenario;
use super::format::{Condition, OperatorKind, Step};

/// Kinds of objects that exist only with our extensions.
const EXTENSION_KINDS: [&str; 2] = ["HostClaim", "HostPool"];

fn condition_uses_extension(c: &Condition) -> bool {
    c.claim.is_some() || c.pool.is_some()
}

fn kind_is_extension(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| EXTENSION_KINDS.contains(&k))
}

impl Scenario {
    /// Why the timeline needs one of our extensions: one line per step that does
    /// (`line N: create_claim (HostClaim pools)`), empty when it is pure Metal3 behaviour.
    pub fn extensions_needed(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, step) in self.file.timeline.iter().enumerate() {
            let uses = match step {
                Step::CreateClaim(_) | Step::DeleteClaim(_) | Step::ScalePool(_) => true,
                Step::Wait(w) => condition_uses_extension(&w.until),
                Step::Assert(c) => condition_uses_extension(c),
                Step::Apply(o) => o.objects.iter().any(|obj| {
                    kind_is_extension(obj.get("kind").and_then(serde_json::Value::as_str))
                }),
                Step::Patch(p) => kind_is_extension(p.kind.as_deref()),
                Step::Delete(t) => kind_is_extension(t.kind.as_deref()),
                _ => false,
            };
            if uses {
                out.push(format!(
                    "line {}: {} (HostClaim/HostPool pools)",
                    self.step_line(i),
                    step.keyword()
                ));
            }
        }
        out
    }

    /// The operators the scenario is about: its `operators:` list, else every kind when the
    /// timeline is pure Metal3 behaviour and `[ours]` when it needs an extension.
    pub fn operators(&self) -> Vec<OperatorKind> {
        match &self.file.operators {
            Some(list) => list.clone(),
            None if self.extensions_needed().is_empty() => OperatorKind::ALL.to_vec(),
            None => vec![OperatorKind::Ours],
        }
    }

    /// Why the scenario cannot be played against `kind` (`None`: it can).
    pub fn refusal(&self, kind: OperatorKind) -> Option<String> {
        if self.operators().contains(&kind) {
            return None;
        }
        let needed = self.extensions_needed();
        let why = if needed.is_empty() {
            let listed: Vec<&str> = self.operators().iter().map(|k| k.as_str()).collect();
            format!("its `operators:` list is [{}]", listed.join(", "))
        } else {
            format!(
                "it needs our extensions, which only `--operator ours` has: {}",
                needed.join("; ")
            )
        };
        Some(format!(
            "{}: not applicable to operator {}: {why}",
            self.source,
            kind.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(extra: &str, timeline: &str) -> Scenario {
        let text =
            format!("name: t\n{extra}fleet:\n  groups:\n    - name: h-0\ntimeline:\n{timeline}");
        Scenario::parse(&text, "t.yaml", Path::new(".")).unwrap()
    }

    #[test]
    fn a_pure_metal3_timeline_applies_to_every_operator() {
        let s = scenario("", "  - register: {hosts: all}\n");
        assert!(s.extensions_needed().is_empty());
        assert_eq!(s.operators(), OperatorKind::ALL.to_vec());
        assert_eq!(s.refusal(OperatorKind::Bmo), None);
    }

    #[test]
    fn a_timeline_with_pools_is_refused_for_other_operators_with_the_step_named() {
        let s = scenario(
            "",
            "  - register: {hosts: all}\n  - create_claim: {name: c}\n  - wait: {until: {claim: c, bound: true}, within: 1m}\n",
        );
        assert_eq!(s.operators(), vec![OperatorKind::Ours]);
        let why = s.refusal(OperatorKind::Bmo).unwrap();
        assert!(why.contains("not applicable to operator bmo"), "{why}");
        assert!(why.contains("line 7: create_claim"), "{why}");
        assert!(why.contains("line 8: wait"), "{why}");
        assert_eq!(s.refusal(OperatorKind::Ours), None);
    }

    #[test]
    fn an_operators_list_names_who_may_run_it() {
        let s = scenario(
            "operators: [ours, command]\n",
            "  - register: {hosts: all}\n",
        );
        assert!(s.refusal(OperatorKind::Command).is_none());
        let why = s.refusal(OperatorKind::Bmo).unwrap();
        assert!(why.contains("[ours, command]"), "{why}");
    }

    #[test]
    fn listing_another_operator_for_a_timeline_with_pools_is_a_validation_error() {
        let text = "name: t\noperators: [bmo]\nfleet:\n  groups:\n    - name: h-0\ntimeline:\n  - create_claim: {name: c}\n";
        let e = Scenario::parse(text, "t.yaml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("extension"), "{e}");
    }
}
