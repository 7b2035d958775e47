//! Apply any aggregation rule once to given vectors, outside a simulation: the library function
//! behind `safeguard-sim aggregate RULE INPUT`, for cross-checking a rule against another library
//! on one's own vectors.
//!
//! ```
//! use safeguard_sim::Registry;
//! use safeguard_sim::aggregate::aggregate_vectors;
//! let vectors = vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0], vec![7.0, 8.0, 9.0]];
//! // Krum needs n >= 2f + 3: with 3 vectors and f = 1, run past it explicitly.
//! let rule = r#"{"kind": "krum", "f": 1, "unchecked": true}"#;
//! let out = aggregate_vectors(&Registry::builtin(), rule, "RULE", &vectors, 0).unwrap();
//! assert_eq!(out.direction.to_vec(), vec![1.0, 2.0, 3.0]);
//! assert_eq!(out.selected, Some(vec![0]));
//! ```
//!
//! Semantics:
//! - The rule object is what a scenario's `aggregator` holds (`kind`, parameters, optional `pre`),
//!   resolved by the same registry code, so an error names the field path, the line:column and a
//!   did-you-mean. It is checked as in a scenario of `n` machines, none declared Byzantine: `n` is
//!   the number of vectors, and **`f` defaults to 0** (there is no scenario to take a Byzantine
//!   count from; give `f`). The resolved object, every default filled in, is returned.
//! - **Non-finite inputs.** A vector with a NaN or infinite entry is dropped before the rule, as
//!   the coordinator drops it in a run (where it is a recorded fault); its position is listed in
//!   `dropped`. Like a silent machine, it still counts in the `n` the rule was checked against. The rule sees the other vectors only (none left: the zero vector, as in a round
//!   where every machine is silent). Non-finite values can thus never reach a rule.
//! - **Overflow.** Finite inputs whose aggregate overflows `f64` (a mean of values near 1.8e308)
//!   give [`AggregateInputError::Overflow`], not a non-finite answer.
//! - Stateful rules: `centered_clipping` runs its first round (the centre at the zero vector);
//!   `safeguard` and `oracle` are refused ([`crate::aggregate::AggregatorKind::one_shot`]).
//!   `bucketing` draws its permutation from `seed`.
//! - Diagnostics refer to input positions: `selected` (the positions a selecting rule kept) and
//!   `scores` (one per input; `None` for a dropped one). Scores come from the Gram distances
//!   (about `1e-15` relative error for typical inputs); the selection itself is exact. A rule
//!   behind pre-aggregators has neither (its inputs are no longer the given vectors).

use crate::error::ScenarioError;
use crate::linalg::{Vector, is_finite};
use crate::problem::Problem;
use crate::registry::{BuildContext, CheckContext, Registry, Setting};
use crate::rng::SimRng;
use crate::scenario::locate;
use crate::scenario::{aggregator_object, build_aggregator, check_aggregator, resolve_aggregator};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What went wrong applying a rule once.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregateInputError {
    /// The rule object is malformed, or invalid for these vectors (located in its text).
    #[error(transparent)]
    Rule(#[from] ScenarioError),
    /// The vectors are unusable (none, empty, of different lengths).
    #[error("{source_name}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
    Vectors {
        /// Where the vectors came from.
        source_name: String,
        /// Which vector, as `[i]`; empty for the whole input.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The rule could not be built from valid parameters.
    #[error("{0}")]
    Build(String),
    /// The aggregate of these finite inputs is not finite.
    #[error(
        "the aggregate is not finite: these vectors overflow 64-bit arithmetic (largest magnitude {largest:e}); scale them down"
    )]
    Overflow {
        /// The largest absolute input value.
        largest: f64,
    },
}

/// The result of [`aggregate_vectors`].
#[derive(Debug, Clone, PartialEq)]
pub struct OneShot {
    /// The rule object as resolved (every default filled in).
    pub rule: Map<String, Value>,
    /// Number of vectors given (dropped ones included).
    pub n: usize,
    /// The aggregate.
    pub direction: Vector,
    /// Positions of the vectors the rule kept, for rules that select.
    pub selected: Option<Vec<usize>>,
    /// One score per input position (`None` for a dropped vector), for rules that score.
    pub scores: Option<Vec<Option<f64>>>,
    /// Positions of the vectors dropped for a NaN or infinite entry.
    pub dropped: Vec<usize>,
}

/// Stands in for the problem a rule is built with: only the dimension is known.
struct VectorsOnly {
    dim: usize,
}

impl Problem for VectorsOnly {
    fn name(&self) -> &str {
        "vectors"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_point(&self, _: &mut SimRng) -> Vector {
        Vector::zeros(self.dim)
    }
    fn loss(&self, _: &Vector) -> f64 {
        0.0
    }
    fn gradient(&self, _: &Vector) -> Vector {
        Vector::zeros(self.dim)
    }
    fn stochastic_gradient(&self, _: &Vector, _: usize, _: &mut SimRng) -> Vector {
        Vector::zeros(self.dim)
    }
    fn noise_level(&self) -> f64 {
        0.0
    }
}

/// Check the shape of `vectors`: at least one, each non-empty, all of one length.
pub fn check_vectors(
    vectors: &[Vec<f64>],
    source_name: &str,
) -> Result<usize, AggregateInputError> {
    let fail = |path: String, message: String| AggregateInputError::Vectors {
        source_name: source_name.to_string(),
        path,
        message,
    };
    let Some(first) = vectors.first() else {
        return Err(fail(
            String::new(),
            "no vectors: expected a JSON array of n >= 1 arrays of d >= 1 numbers".into(),
        ));
    };
    let d = first.len();
    if d == 0 {
        return Err(fail(
            "[0]".into(),
            "an empty vector: expected d >= 1 numbers".into(),
        ));
    }
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != d {
            return Err(fail(
                format!("[{i}]"),
                format!(
                    "has {} numbers, but [0] has {d}: every vector needs the same length",
                    v.len()
                ),
            ));
        }
    }
    Ok(d)
}

/// Apply the rule object in `rule` (JSON text; `rule_source` labels its errors) once to
/// `vectors`, with `seed` for rules that draw random numbers. See the module docs.
pub fn aggregate_vectors(
    registry: &Registry,
    rule: &str,
    rule_source: &str,
    vectors: &[Vec<f64>],
    seed: u64,
) -> Result<OneShot, AggregateInputError> {
    let d = check_vectors(vectors, "INPUT")?;
    let n = vectors.len();
    let located = |(path, message): (String, String)| {
        AggregateInputError::Rule(crate::scenario::locate_error(
            rule,
            rule_source,
            &path,
            &message,
        ))
    };
    let object = crate::scenario::parse_object(rule, rule_source, "the rule")?;
    let (mut aggregator, mut pre) = resolve_aggregator(registry, "", &object).map_err(located)?;
    let setting = Setting {
        seed,
        rounds: 1,
        honest: n,
        byzantine: 0,
        lr: 1.0,
        perturbation: 0.0,
        optimizer: Default::default(),
    };
    let ctx = CheckContext {
        setting,
        inputs: n,
        problem: None,
        aggregator: None,
        aggregator_windows: false,
    };
    check_aggregator(&mut aggregator, &mut pre, "", &ctx).map_err(located)?;
    aggregator
        .params
        .one_shot_dyn()
        .map_err(|why| located(("kind".into(), why)))?;
    let build = BuildContext::new(setting, Arc::new(VectorsOnly { dim: d }));
    let mut rule_impl = build_aggregator(&aggregator, &pre, &build)
        .map_err(|e| AggregateInputError::Build(e.to_string()))?;

    let dropped: Vec<usize> = (0..n)
        .filter(|&i| !vectors[i].iter().all(|x| x.is_finite()))
        .collect();
    let gradients: Vec<Option<Vector>> = vectors
        .iter()
        .map(|v| {
            let v = Vector::from(v.clone());
            is_finite(&v).then_some(v)
        })
        .collect();
    let workers: Vec<usize> = (0..n).collect();
    let zero = Vector::zeros(d);
    let out = rule_impl.aggregate(&super::RoundInput {
        round: 1,
        params: &zero,
        machines: n,
        workers: &workers,
        gradients: &gradients,
        honest_mean: &zero,
    });
    if out.direction.len() != d || !is_finite(&out.direction) {
        let largest = vectors
            .iter()
            .flatten()
            .filter(|x| x.is_finite())
            .fold(0.0f64, |a, x| a.max(x.abs()));
        return Err(AggregateInputError::Overflow { largest });
    }
    let scores = out.scores.map(|s| {
        let mut per = vec![None; n];
        for (i, v) in s {
            if i < n {
                per[i] = Some(v);
            }
        }
        per
    });
    Ok(OneShot {
        rule: aggregator_object(&aggregator, &pre),
        n,
        direction: out.direction,
        selected: out.selected,
        scores,
        dropped,
    })
}

impl OneShot {
    /// The result as the JSON object `safeguard-sim aggregate` prints: `rule`, `n`, `dropped`,
    /// `direction` (at full round-trip precision), and `selected` / `scores` where the rule has
    /// them (a non-finite score prints as `null`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("rule".into(), Value::Object(self.rule.clone()));
        m.insert("n".into(), Value::from(self.n));
        m.insert("dropped".into(), Value::from(self.dropped.clone()));
        m.insert(
            "direction".into(),
            Value::from(self.direction.iter().copied().collect::<Vec<f64>>()),
        );
        if let Some(s) = &self.selected {
            m.insert("selected".into(), Value::from(s.clone()));
        }
        if let Some(s) = &self.scores {
            let list: Vec<Value> = s
                .iter()
                .map(|x| match x {
                    Some(v) if v.is_finite() => Value::from(*v),
                    _ => Value::Null,
                })
                .collect();
            m.insert("scores".into(), Value::Array(list));
        }
        Value::Object(m)
    }
}

/// Files the `aggregate` command reads are limited to this size.
const MAX_INPUT_BYTES: u64 = 1 << 31;

fn unreadable(source: &str, message: String) -> crate::error::Error {
    crate::error::Error::Scenario(ScenarioError {
        source_name: source.to_string(),
        path: String::new(),
        line: 1,
        column: 1,
        message,
    })
}

/// Read a whole file (or stdin for `-`) as UTF-8 text, with a size limit; `source` names it.
fn read_text(arg: &str, source: &str) -> Result<String, crate::error::Error> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = if arg == "-" {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        let path = std::path::Path::new(arg);
        if path.is_dir() {
            return Err(unreadable(source, "is a directory, not a JSON file".into()));
        }
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| unreadable(source, format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(unreadable(
            source,
            format!("larger than {} GiB", MAX_INPUT_BYTES >> 30),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        unreadable(
            source,
            format!(
                "not valid UTF-8 (at byte offset {}): save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The rule argument of `safeguard-sim aggregate`: inline JSON when it starts with `{` (labelled
/// `RULE` in errors), a file path otherwise. Returns the text and its label.
pub fn read_rule(arg: &str) -> Result<(String, String), crate::error::Error> {
    if arg.trim_start().starts_with('{') {
        return Ok((arg.to_string(), "RULE".into()));
    }
    let source = crate::scenario::printable_name(arg);
    Ok((read_text(arg, &source)?, source))
}

/// The input argument of `safeguard-sim aggregate`: a file, or `-` for stdin, holding a JSON array
/// of `n >= 1` arrays of `d >= 1` numbers each. Errors name the position (`[i][k]`) and its
/// line:column.
pub fn read_input(arg: &str) -> Result<Vec<Vec<f64>>, crate::error::Error> {
    let source = if arg == "-" {
        "stdin".to_string()
    } else {
        crate::scenario::printable_name(arg)
    };
    let text = read_text(arg, &source)?;
    let at = |path: &str, line: usize, column: usize, message: String| {
        crate::error::Error::Scenario(ScenarioError {
            source_name: source.clone(),
            path: path.to_string(),
            line,
            column,
            message,
        })
    };
    if text.trim().is_empty() {
        return Err(at(
            "",
            1,
            1,
            "empty: expected a JSON array of vectors (arrays of numbers)".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    let position = |path: &str| {
        let pos = locate::locate(&text, &locate::parse_path(path), false);
        locate::line_col(&text, pos)
    };
    let fail = |path: &str, inner: serde_json::Error| {
        let message = crate::scenario::plain_message(&inner.to_string())
            .replace("expected a sequence", "expected an array");
        // A value of the wrong type: point at its start, as scenario errors do; a syntax error:
        // where the parser stopped.
        let (line, column) = if path.is_empty() || !inner.is_data() {
            (inner.line().max(1), inner.column().max(1))
        } else {
            position(path)
        };
        at(
            path,
            line,
            column,
            format!("{message} (expected a JSON array of vectors, each an array of numbers)"),
        )
    };
    let vectors: Vec<Vec<f64>> = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = crate::scenario::tagged::path_string(e.path());
            return Err(fail(&path, e.into_inner()));
        }
    };
    if let Err(e) = de.end() {
        return Err(fail("", e));
    }
    if let Err(AggregateInputError::Vectors { path, message, .. }) =
        check_vectors(&vectors, &source)
    {
        let (line, column) = position(&path);
        return Err(at(&path, line, column, message));
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: &str, vectors: &[Vec<f64>]) -> Result<OneShot, AggregateInputError> {
        aggregate_vectors(&Registry::builtin(), rule, "RULE", vectors, 0)
    }

    #[test]
    fn non_finite_vectors_are_dropped_and_listed() {
        let v = vec![
            vec![1.0, 2.0],
            vec![f64::NAN, 0.0],
            vec![3.0, 4.0],
            vec![f64::INFINITY, 1.0],
            vec![5.0, 6.0],
        ];
        for rule in [
            r#"{"kind": "mean"}"#,
            r#"{"kind": "median"}"#,
            r#"{"kind": "trimmed_mean", "f": 1}"#,
            r#"{"kind": "geometric_median"}"#,
            r#"{"kind": "centered_clipping"}"#,
            r#"{"kind": "krum", "f": 0}"#,
            r#"{"kind": "multi_krum", "f": 0}"#,
            r#"{"kind": "bulyan", "f": 0}"#,
            r#"{"kind": "median", "pre": [{"kind": "nnm", "f": 1}]}"#,
            r#"{"kind": "median", "pre": [{"kind": "bucketing", "size": 2}]}"#,
        ] {
            let out = run(rule, &v).unwrap();
            assert_eq!(out.dropped, vec![1, 3], "{rule}");
            assert!(out.direction.iter().all(|x| x.is_finite()), "{rule}");
            assert_eq!(out.n, 5);
            if let Some(scores) = &out.scores {
                assert!(scores[1].is_none() && scores[3].is_none() && scores[0].is_some());
            }
            if let Some(sel) = &out.selected {
                assert!(!sel.contains(&1) && !sel.contains(&3), "{rule}: {sel:?}");
            }
        }
        // The middle finite vector is the median of the finite ones.
        assert_eq!(
            run(r#"{"kind": "median"}"#, &v).unwrap().direction.to_vec(),
            vec![3.0, 4.0]
        );
        // Nothing finite left: no step, as in a round where every machine is silent.
        let all_bad = vec![vec![f64::NAN, 1.0], vec![1.0, f64::NEG_INFINITY]];
        let out = run(r#"{"kind": "krum", "f": 0, "unchecked": true}"#, &all_bad).unwrap();
        assert_eq!(out.direction.to_vec(), vec![0.0, 0.0]);
        assert_eq!(out.dropped, vec![0, 1]);
        assert_eq!(out.selected, Some(vec![]));
    }

    #[test]
    fn overflow_is_an_error_not_an_infinite_answer() {
        let v = vec![vec![1.7e308], vec![1.7e308]];
        match run(r#"{"kind": "mean"}"#, &v) {
            Err(AggregateInputError::Overflow { largest }) => assert_eq!(largest, 1.7e308),
            other => panic!("{other:?}"),
        }
        // The median of the same vectors is fine.
        assert_eq!(
            run(r#"{"kind": "median"}"#, &v).unwrap().direction[0],
            1.7e308
        );
    }

    #[test]
    fn bad_rules_and_vectors_are_named() {
        let v = vec![vec![1.0], vec![2.0], vec![3.0]];
        let e = run(r#"{"kind": "krun"}"#, &v).unwrap_err().to_string();
        assert!(
            e.starts_with("RULE:1:10: kind: unknown kind `krun`")
                && e.contains("did you mean `krum`"),
            "{e}"
        );
        let e = run(r#"{"kind": "krum", "f": 1}"#, &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n = 3 and f = 1 give 2f + 3 = 5"), "{e}");
        let e = run(r#"{"kind": "safeguard", "window_short": 1, "threshold": {"mode": "fixed", "long": 1, "short": 1}}"#, &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kind: the safeguard is stateful"), "{e}");
        let e = run(r#"{"kind": "oracle"}"#, &v).unwrap_err().to_string();
        assert!(e.contains("does not say which are honest"), "{e}");
        let e = run(r#"{"kind": "median"}"#, &[vec![1.0], vec![1.0, 2.0]])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "INPUT: [1]: has 2 numbers, but [0] has 1: every vector needs the same length"
        );
        assert!(
            run(r#"{"kind": "median"}"#, &[])
                .unwrap_err()
                .to_string()
                .contains("no vectors")
        );
        assert!(
            run(r#"{"kind": "median"}"#, &[vec![]])
                .unwrap_err()
                .to_string()
                .contains("empty vector")
        );
        let e = run("[1]", &v).unwrap_err().to_string();
        assert!(
            e.contains("expected a JSON object (the rule), got an array"),
            "{e}"
        );
    }

    #[test]
    fn json_output_keeps_every_bit() {
        let v = vec![
            vec![0.1, 1.0 / 3.0],
            vec![0.2, 2.0 / 3.0],
            vec![0.7, 1e-300],
        ];
        let out = run(r#"{"kind": "geometric_median"}"#, &v).unwrap();
        let text = serde_json::to_string(&out.to_json()).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        let printed: Vec<f64> = back["direction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(printed, out.direction.to_vec());
        assert_eq!(back["rule"]["nu"], 1e-6);
        assert!(back.get("selected").is_none());
    }
}
