//! A claim's `hostSelector` compiled into label requirements.
//!
//! `matchLabels` become equality requirements; each `matchExpressions` entry becomes one
//! requirement whose operator is read case-insensitively, as CAPM3 lower-cases it before handing
//! it to Kubernetes label selection: `In`, `NotIn`, `Exists`, `DoesNotExist` (also spelled `!`),
//! `=`/`==`, `!=`, and the numeric `Gt`/`Lt`.

use std::collections::BTreeMap;
use std::fmt;

use crate::api::hostclaim::{HostSelector, HostSelectorRequirement};

/// Why a `hostSelector` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("matchExpressions[{index}]: unknown operator {operator:?} for key {key:?}")]
    UnknownOperator {
        index: usize,
        key: String,
        operator: String,
    },
    #[error("matchExpressions[{index}]: operator {operator} on key {key:?} needs {needs}")]
    BadValues {
        index: usize,
        key: String,
        operator: Operator,
        needs: &'static str,
    },
    #[error("matchExpressions[{index}]: the key is empty")]
    EmptyKey { index: usize },
}

/// A set-based label operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Equals,
    NotEquals,
    GreaterThan,
    LessThan,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
            Self::Equals => "=",
            Self::NotEquals => "!=",
            Self::GreaterThan => "Gt",
            Self::LessThan => "Lt",
        })
    }
}

impl Operator {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "in" => Self::In,
            "notin" => Self::NotIn,
            "exists" => Self::Exists,
            "doesnotexist" | "!" => Self::DoesNotExist,
            "=" | "==" => Self::Equals,
            "!=" => Self::NotEquals,
            "gt" => Self::GreaterThan,
            "lt" => Self::LessThan,
            _ => return None,
        })
    }
}

/// One compiled requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let number = |v: &str| v.parse::<i64>().ok();
        let bound = self.values.first().and_then(|v| number(v));
        match self.operator {
            Operator::In | Operator::Equals => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan => {
                matches!((value.and_then(|v| number(v)), bound), (Some(v), Some(b)) if v > b)
            }
            Operator::LessThan => {
                matches!((value.and_then(|v| number(v)), bound), (Some(v), Some(b)) if v < b)
            }
        }
    }
}

/// A compiled selector: every requirement must hold. The empty selector matches every host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// Compiles a `hostSelector`; `None` selects every host.
    pub fn compile(selector: Option<&HostSelector>) -> Result<Self, SelectorError> {
        let Some(selector) = selector else {
            return Ok(Self::default());
        };
        let mut requirements: Vec<Requirement> = selector
            .match_labels
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::Equals,
                values: vec![v.clone()],
            })
            .collect();
        for (index, expression) in selector.match_expressions.iter().enumerate() {
            requirements.push(compile_expression(index, expression)?);
        }
        Ok(Self { requirements })
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

fn compile_expression(
    index: usize,
    expression: &HostSelectorRequirement,
) -> Result<Requirement, SelectorError> {
    let key = expression.key.clone();
    if key.is_empty() {
        return Err(SelectorError::EmptyKey { index });
    }
    let operator =
        Operator::parse(&expression.operator).ok_or_else(|| SelectorError::UnknownOperator {
            index,
            key: key.clone(),
            operator: expression.operator.clone(),
        })?;
    let values = expression.values.clone();
    let bad = |needs| SelectorError::BadValues {
        index,
        key: key.clone(),
        operator,
        needs,
    };
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(bad("at least one value"));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(bad("no values"));
        }
        Operator::Equals | Operator::NotEquals if values.len() != 1 => {
            return Err(bad("exactly one value"));
        }
        Operator::GreaterThan | Operator::LessThan
            if values.len() != 1 || values[0].parse::<i64>().is_err() =>
        {
            return Err(bad("exactly one integer value"));
        }
        _ => {}
    }
    Ok(Requirement {
        key,
        operator,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> HostSelectorRequirement {
        HostSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn selector(match_labels: &[(&str, &str)], exprs: Vec<HostSelectorRequirement>) -> Selector {
        Selector::compile(Some(&HostSelector {
            in_namespace: None,
            match_labels: labels(match_labels),
            match_expressions: exprs,
        }))
        .unwrap()
    }

    #[test]
    fn no_selector_matches_every_host() {
        let s = Selector::compile(None).unwrap();
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("role", "gpu")])));
    }

    #[test]
    fn match_labels_need_every_pair_with_the_same_value() {
        let s = selector(&[("role", "compute"), ("rack", "a")], vec![]);
        assert!(s.matches(&labels(&[("role", "compute"), ("rack", "a"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("role", "compute")])));
        assert!(!s.matches(&labels(&[("role", "compute"), ("rack", "b")])));
    }

    #[test]
    fn set_operators_read_in_any_case_behave_as_kubernetes_label_selection() {
        let s = selector(&[], vec![expr("rack", "in", &["a", "b"])]);
        assert!(s.matches(&labels(&[("rack", "b")])));
        assert!(!s.matches(&labels(&[("rack", "c")])));
        assert!(!s.matches(&labels(&[])));
        let s = selector(&[], vec![expr("rack", "NotIn", &["a"])]);
        assert!(s.matches(&labels(&[("rack", "b")])));
        assert!(
            s.matches(&labels(&[])),
            "NotIn holds when the key is absent"
        );
        assert!(!s.matches(&labels(&[("rack", "a")])));
        let s = selector(&[], vec![expr("gpu", "Exists", &[])]);
        assert!(s.matches(&labels(&[("gpu", "")])));
        assert!(!s.matches(&labels(&[])));
        let s = selector(&[], vec![expr("gpu", "DoesNotExist", &[])]);
        assert!(!s.matches(&labels(&[("gpu", "a100")])));
        assert!(s.matches(&labels(&[])));
        let s = selector(&[], vec![expr("gpus", "gt", &["2"])]);
        assert!(s.matches(&labels(&[("gpus", "4")])));
        assert!(!s.matches(&labels(&[("gpus", "2")])));
        assert!(!s.matches(&labels(&[("gpus", "many")])));
    }

    #[test]
    fn malformed_expressions_are_refused_with_their_index() {
        let compile = |e| {
            Selector::compile(Some(&HostSelector {
                match_expressions: vec![expr("ok", "exists", &[]), e],
                ..Default::default()
            }))
        };
        assert!(matches!(
            compile(expr("rack", "near", &["a"])),
            Err(SelectorError::UnknownOperator { index: 1, .. })
        ));
        assert!(matches!(
            compile(expr("rack", "In", &[])),
            Err(SelectorError::BadValues { index: 1, .. })
        ));
        assert!(matches!(
            compile(expr("rack", "Exists", &["a"])),
            Err(SelectorError::BadValues { .. })
        ));
        assert!(matches!(
            compile(expr("n", "Gt", &["x"])),
            Err(SelectorError::BadValues { .. })
        ));
        assert_eq!(
            compile(expr("", "Exists", &[])),
            Err(SelectorError::EmptyKey { index: 1 })
        );
    }
}
