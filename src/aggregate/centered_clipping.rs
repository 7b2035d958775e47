//! `centered_clipping`: S. P. Karimireddy, L. He, M. Jaggi, "Learning from History for Byzantine
//! Robust Optimization", ICML 2021.
//!
//! `v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||)`, `iterations` times (`L`; the
//! paper finds one enough), starting from the previous round's output: the rule is stateful
//! across rounds. The centre starts at the zero vector in the first round (ByzFL's default,
//! and the convention), so a one-shot call (`safeguard-sim aggregate`) is the first
//! round: clipping around zero. A vector at distance 0 from `v` is not clipped.
//!
//! With `tau = inf` every factor is 1 and one iteration gives the mean. No precondition; a round
//! with no vector takes no step and keeps the centre. Defaults `tau = 100`, `iterations = 1` are
//! ByzFL's; the paper tunes `tau` (its theory sets it from the noise level and momentum).
//! Cost: `O(L n d)`.

use super::kernel::Rows;
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `centered_clipping`: v <- v + (1/n) sum (x_i - v) min(1, tau/||x_i - v||), `iterations`
/// times, v starting at the previous round's output (the zero vector in the first round)
/// (Karimireddy et al. 2021). Stateful. Any n works. Cost: O(iterations n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CenteredClippingParams {
    /// Clipping radius tau > 0.
    pub tau: f64,
    /// Clipping iterations L per round.
    pub iterations: usize,
}

impl Default for CenteredClippingParams {
    fn default() -> Self {
        CenteredClippingParams {
            tau: 100.0,
            iterations: 1,
        }
    }
}

impl Params for CenteredClippingParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_positive("tau", self.tau, false)?;
        if self.iterations == 0 || self.iterations > 10_000 {
            return Err(ParamError::new(
                "iterations",
                format!("expected 1 to 10000 iterations, got {}", self.iterations),
            ));
        }
        Ok(())
    }
}

impl AggregatorKind for CenteredClippingParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(CenteredClipping::new(
            self.tau,
            self.iterations,
            ctx.problem.dim(),
        )))
    }
}

/// The centered clipping rule, with its centre (last round's output).
#[derive(Debug, Clone)]
pub struct CenteredClipping {
    /// Clipping radius.
    pub tau: f64,
    /// Iterations per round.
    pub iterations: usize,
    centre: Vec<f64>,
}

impl CenteredClipping {
    /// A fresh rule for dimension `dim`: the centre starts at the zero vector.
    pub fn new(tau: f64, iterations: usize, dim: usize) -> Self {
        CenteredClipping {
            tau,
            iterations,
            centre: vec![0.0; dim],
        }
    }

    /// The current centre (the last round's output).
    pub fn centre(&self) -> &[f64] {
        &self.centre
    }
}

impl Aggregator for CenteredClipping {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        if rows.is_empty() {
            return Aggregate::direction(Vector::zeros(rows.dim));
        }
        if self.centre.len() != rows.dim {
            self.centre = vec![0.0; rows.dim];
        }
        let v = centered_clipping(&rows.slices(), &self.centre, self.tau, self.iterations);
        self.centre.clone_from(&v);
        Aggregate::direction(Vector::from(v))
    }
}

/// `iterations` clipping steps from `centre` on `rows` (each at least `centre.len()` long;
/// finite values); the centre itself without rows.
pub fn centered_clipping(rows: &[&[f64]], centre: &[f64], tau: f64, iterations: usize) -> Vec<f64> {
    let dim = centre.len();
    let mut v = centre.to_vec();
    if rows.is_empty() {
        return v;
    }
    let n = rows.len() as f64;
    let mut acc = vec![0.0; dim];
    for _ in 0..iterations {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for r in rows {
            let r = &r[..dim];
            let norm = crate::linalg::squared_distance(r, &v).sqrt();
            let factor = if norm > tau { tau / norm } else { 1.0 };
            for ((a, x), c) in acc.iter_mut().zip(r).zip(&v) {
                *a += (x - c) * factor;
            }
        }
        for (c, a) in v.iter_mut().zip(&acc) {
            *c += a / n;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        // ByzFL's unit test: tau = 100, L = 1, centre 0: no clipping, the mean.
        let v = reference();
        assert_eq!(
            centered_clipping(&slices(&v), &[0.0; 3], 100.0, 1),
            vec![4.0, 5.0, 6.0]
        );
        // tau = 1 around 0: each vector shrinks to norm 1. [3, 4] -> [0.6, 0.8]; [0, 0.5] stays.
        let v = vec![vec![3.0, 4.0], vec![0.0, 0.5]];
        let out = centered_clipping(&slices(&v), &[0.0, 0.0], 1.0, 1);
        assert!(
            (out[0] - 0.3).abs() < 1e-15 && (out[1] - 0.65).abs() < 1e-15,
            "{out:?}"
        );
    }

    #[test]
    fn the_centre_carries_over_rounds_and_silence_keeps_it() {
        let params = Vector::zeros(1);
        let mut cc = CenteredClipping::new(1.0, 1, 1);
        let g = vec![Some(Vector::from(vec![10.0]))];
        let input = RoundInput {
            round: 1,
            params: &params,
            machines: 1,
            workers: &[0],
            gradients: &g,
            honest_mean: &params,
        };
        assert_eq!(cc.aggregate(&input).direction.to_vec(), vec![1.0]);
        assert_eq!(cc.aggregate(&input).direction.to_vec(), vec![2.0]);
        let silent = vec![None];
        let quiet = RoundInput {
            gradients: &silent,
            ..input
        };
        assert_eq!(cc.aggregate(&quiet).direction.to_vec(), vec![0.0]);
        assert_eq!(cc.centre(), &[2.0]);
        assert_eq!(cc.aggregate(&input).direction.to_vec(), vec![3.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn infinite_tau_is_the_mean_and_order_does_not_matter(
            rows in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 3), 1..20),
            tau in 0.1f64..10.0,
        ) {
            let mean = crate::aggregate::kernel::mean_of_rows(rows.iter().map(|r| r.as_slice()), 3);
            let out = centered_clipping(&slices(&rows), &[0.0; 3], f64::INFINITY, 1);
            let mut rev = rows.clone();
            rev.reverse();
            let clipped = centered_clipping(&slices(&rows), &[0.0; 3], tau, 3);
            let clipped_rev = centered_clipping(&slices(&rev), &[0.0; 3], tau, 3);
            for k in 0..3 {
                prop_assert!((out[k] - mean[k]).abs() <= 1e-9 * (1.0 + mean[k].abs()));
                prop_assert!((clipped[k] - clipped_rev[k]).abs() <= 1e-9 * (1.0 + clipped[k].abs()));
            }
            // Each step moves the centre by at most tau.
            let first = centered_clipping(&slices(&rows), &[0.0; 3], tau, 1);
            prop_assert!(crate::linalg::squared_distance(&first, &[0.0; 3]).sqrt() <= tau * (1.0 + 1e-12));
        }
    }
}
