//! An attack's vector outside a run: what `safeguard-sim attack ATTACK HONEST` prints.
//!
//! Only attacks whose vector is a function of the round's honest gradients (and their
//! parameters) can be computed this way: their kind declares no [`Dependency`]
//! ([`super::AttackKind::depends_on`]). Anything else (its own gradient, history, the defense,
//! the problem, random draws) is refused with a message saying what is missing.
//!
//! ```
//! use safeguard_sim::attack::standalone::{attack_vector, parse_honest};
//! use safeguard_sim::Registry;
//!
//! let honest = parse_honest("[[1, 2, 3], [4, 5, 6], [7, 8, 9]]").unwrap();
//! let attack = r#"{"kind": "alie", "z": 1.5, "sign": "plus", "ddof": 1}"#;
//! let v = attack_vector(&Registry::builtin(), attack, "ATTACK", &honest, 1).unwrap();
//! assert_eq!(v.unwrap().to_vec(), vec![8.5, 9.5, 10.5]);
//! ```

use super::{Adversaries, AttackContext, Dependency, RoundView};
use crate::aggregate::PublicState;
use crate::error::Error;
use crate::linalg::{Vector, is_finite};
use crate::problem::Problem;
use crate::registry::{BuildContext, Registry, Setting};
use crate::rng::{SimRng, stream, streams};
use crate::scenario::attack_object::parse_attack_object;
use serde_json::Value;
use std::sync::Arc;

/// Parse the honest gradients: a JSON array of arrays of numbers, all of the same non-zero
/// length. Machine `i` is the `i`-th array. Errors name the position (`HONEST[2][0]`).
pub fn parse_honest(text: &str) -> Result<Vec<Vector>, Error> {
    let bad = |m: String| Error::Input(format!("HONEST{m}"));
    let value: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            ": invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            crate::scenario::errors::strip_position(&e.to_string())
        ))
    })?;
    let Value::Array(rows) = value else {
        return Err(bad(
            ": expected an array of arrays of numbers (one array per honest machine)".into(),
        ));
    };
    if rows.is_empty() {
        return Err(bad(": expected at least one honest gradient".into()));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Value::Array(xs) = row else {
            return Err(bad(format!(
                "[{i}]: expected an array of numbers, got {}",
                crate::scenario::tagged::json_type(row)
            )));
        };
        if xs.is_empty() {
            return Err(bad(format!("[{i}]: expected at least one number")));
        }
        let mut v = Vec::with_capacity(xs.len());
        for (j, x) in xs.iter().enumerate() {
            match x.as_f64() {
                Some(x) => v.push(x),
                None => {
                    return Err(bad(format!(
                        "[{i}][{j}]: expected a number, got {}",
                        crate::scenario::tagged::json_type(x)
                    )));
                }
            }
        }
        if let Some(first) = out.first().map(|f: &Vector| f.len())
            && v.len() != first
        {
            return Err(bad(format!(
                "[{i}]: has {} numbers, but HONEST[0] has {first} (every gradient has the problem's dimension)",
                v.len()
            )));
        }
        out.push(Vector::from_vec(v));
    }
    Ok(out)
}

/// A problem that only knows its dimension: the attacks computed here never look at it.
struct Detached(usize);

impl Problem for Detached {
    fn name(&self) -> &str {
        "detached"
    }
    fn dim(&self) -> usize {
        self.0
    }
    fn initial_point(&self, _: &mut SimRng) -> Vector {
        Vector::zeros(self.0)
    }
    fn loss(&self, _: &Vector) -> f64 {
        0.0
    }
    fn gradient(&self, _: &Vector) -> Vector {
        Vector::zeros(self.0)
    }
    fn stochastic_gradient(&self, _: &Vector, _: usize, _: &mut SimRng) -> Vector {
        Vector::zeros(self.0)
    }
    fn noise_level(&self) -> f64 {
        0.0
    }
}

/// The vector the attack described by `attack_text` (an attack object, as in a scenario's
/// `attack`; `source_name` labels its errors) sends in a round whose honest gradients are
/// `honest` (machines `0..h`), with `byzantine` colluding machines (`h..h + byzantine`; it is
/// also ALIE's default `f`, and `n = h + byzantine`). `None`: the attack stays silent.
///
/// Errors (all bad input, exit code 2): a malformed attack object (with its field, position
/// and a did-you-mean), no honest gradient, `byzantine` = 0, an attack that needs more than the
/// honest gradients (naming what), or a vector with non-finite entries (which JSON cannot
/// carry).
pub fn attack_vector(
    registry: &Registry,
    attack_text: &str,
    source_name: &str,
    honest: &[Vector],
    byzantine: usize,
) -> Result<Option<Vector>, Error> {
    let Some(dim) = honest.first().map(|g| g.len()) else {
        return Err(Error::Input(
            "HONEST: expected at least one honest gradient".into(),
        ));
    };
    if honest.iter().any(|g| g.len() != dim) {
        return Err(Error::Input(
            "HONEST: every gradient must have the same length".into(),
        ));
    }
    if byzantine == 0 {
        return Err(Error::Input(
            "--byzantine: expected at least 1 Byzantine machine".into(),
        ));
    }
    let h = honest.len();
    let setting = Setting {
        seed: 0,
        rounds: 1,
        honest: h,
        byzantine,
        lr: 1.0,
        perturbation: 0.0,
    };
    let object = parse_attack_object(attack_text, source_name, registry, setting, dim)?;
    let kind = &object.attack.kind;
    let mut needs = object.attack.params.depends_on_dyn();
    needs.sort();
    needs.dedup();
    if !needs.is_empty() {
        let what: Vec<&str> = needs.iter().map(Dependency::describe).collect();
        let what = match what.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => what.join(""),
        };
        return Err(Error::Input(format!(
            "attack `{kind}` depends on {what}, not only on the round's honest gradients: run it in a scenario"
        )));
    }
    let ctx = BuildContext::new(setting, Arc::new(Detached(dim)));
    let build = |e: String| Error::Input(format!("attack `{kind}`: {e}"));
    let Adversaries::Each(mut make) = object.attack.params.build_dyn(&ctx).map_err(build)? else {
        return Err(build(
            "it runs as its own actors, which need a run: use it in a scenario".into(),
        ));
    };
    let view = RoundView::new(
        object.from_round,
        Arc::new(Vector::zeros(dim)),
        h + byzantine,
        h + byzantine,
        Arc::new(honest.iter().cloned().enumerate().collect()),
        Arc::new((h..h + byzantine).collect()),
        Arc::new(PublicState::default()),
    );
    let own = Vector::zeros(dim);
    let mut rng = stream(0, streams::ADVERSARY + h as u64);
    let mut adversary = make(h);
    let out = adversary.attack(&mut AttackContext {
        id: h,
        own: &own,
        rng: &mut rng,
        view: &view,
    });
    match out {
        Some(v) if !is_finite(&v) => Err(Error::Input(format!(
            "attack `{kind}` sends a vector with non-finite entries, which JSON cannot carry"
        ))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn reference() -> Vec<Vector> {
        parse_honest("[[1,2,3],[4,5,6],[7,8,9]]").unwrap()
    }

    fn vector(attack: &str) -> Result<Option<Vector>, Error> {
        attack_vector(&Registry::builtin(), attack, "ATTACK", &reference(), 1)
    }

    #[test]
    fn the_reference_answers() {
        let v = |a: &str| vector(a).unwrap().unwrap();
        assert_eq!(
            v(r#"{"kind": "sign_flip", "of": "honest_mean"}"#),
            array![-4.0, -5.0, -6.0]
        );
        assert_eq!(
            v(r#"{"kind": "ipm", "eps": 2}"#),
            array![-8.0, -10.0, -12.0]
        );
        assert_eq!(
            v(r#"{"kind": "alie", "z": 1.5, "sign": "plus", "ddof": 1}"#),
            array![8.5, 9.5, 10.5]
        );
        assert_eq!(v(r#"{"kind": "zero"}"#), array![0.0, 0.0, 0.0]);
        assert_eq!(
            v(r#"{"kind": "mimic", "target": 2}"#),
            array![7.0, 8.0, 9.0]
        );
        assert_eq!(
            vector(r#"{"kind": "faulty", "mode": "silent"}"#).unwrap(),
            None
        );
    }

    #[test]
    fn alie_rules_use_n_and_f_from_the_command() {
        // 6 honest + 4 Byzantine: n = 10, f = 4, z = 0.8416 (baruch).
        let honest: Vec<Vector> = (0..6).map(|i| array![i as f64]).collect();
        let v = attack_vector(&Registry::builtin(), r#"{"kind": "alie"}"#, "A", &honest, 4)
            .unwrap()
            .unwrap();
        let (mu, s) = (2.5, 3.5f64.sqrt());
        assert!(
            (v[0] - (mu - 0.841_621_233_572_914_3 * s)).abs() < 1e-12,
            "{v}"
        );
    }

    #[test]
    fn attacks_that_need_more_are_refused_with_the_reason() {
        for (attack, needs) in [
            (r#"{"kind": "sign_flip"}"#, "own honest gradient"),
            (r#"{"kind": "delayed"}"#, "earlier rounds"),
            (r#"{"kind": "threshold_aware"}"#, "the defense"),
            (r#"{"kind": "alie_search"}"#, "the defense"),
            (r#"{"kind": "saddle_trap"}"#, "the problem"),
            (r#"{"kind": "gaussian"}"#, "random draws"),
            (r#"{"kind": "faulty", "mode": "panic"}"#, "actor"),
        ] {
            let e = vector(attack).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(needs), "{attack}: {e}");
        }
        let e = vector(r#"{"kind": "faulty", "mode": "nan"}"#).unwrap_err();
        assert!(e.to_string().contains("non-finite"), "{e}");
    }

    #[test]
    fn bad_honest_input_names_the_position() {
        let e = |t: &str| parse_honest(t).unwrap_err().to_string();
        assert!(e("[]").contains("at least one"));
        assert!(
            e("[[1,2],[3]]").starts_with("HONEST[1]: has 1 numbers"),
            "{}",
            e("[[1,2],[3]]")
        );
        assert!(e("[[1,\"x\"]]").starts_with("HONEST[0][1]: expected a number, got a string"));
        assert!(e("{\"a\": 1}").contains("expected an array of arrays"));
        assert!(e("[[1, 2]").contains("invalid JSON at line 1"));
        assert!(e("[[]]").starts_with("HONEST[0]: expected at least one number"));
        assert!(e("[[1e400]]").contains("invalid JSON"));
    }
}
