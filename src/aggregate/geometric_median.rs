//! `geometric_median`: the geometric median `argmin_z sum_i ||x_i - z||` by the smoothed
//! Weiszfeld algorithm of RFA (K. Pillutla, S. M. Kakade, Z. Harchaoui, "Robust Aggregation for
//! Federated Learning", IEEE Trans. Signal Processing 2022; E. Weiszfeld, 1937).
//!
//! `z <- sum_i w_i x_i / sum_i w_i` with `w_i = 1 / max(||x_i - z||, nu)`: the smoothing `nu > 0`
//! keeps the weights finite when `z` lands on a data point. Iterated to a tolerance, not a fixed
//! number of steps (ByzFL runs 3): the loop stops when the objective
//! `F(z) = sum_i ||x_i - z||` decreased by at most `tolerance * F(z)` in the last step (RFA's
//! `ftol` test), or after `iterations` steps.
//!
//! The start is a convention libraries disagree on, so it is a knob: `"mean"` (RFA's weighted
//! mean; the default, and translation equivariant) or `"zero"` (ByzFL's zero vector; with
//! `iterations: 3`, `tolerance: 0`, `nu: 0.1` this reproduces ByzFL's `GeometricMedian`).
//! No precondition (the breakdown point is 1/2); no vector gives the zero vector (no step).
//! Cost: `O(n d)` per step.

use super::kernel::{Rows, mean_of_rows};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where Weiszfeld's iteration starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// The mean of the vectors (RFA).
    Mean,
    /// The zero vector (ByzFL).
    Zero,
}

/// `geometric_median`: argmin_z sum ||x_i - z|| by smoothed Weiszfeld (RFA, Pillutla et al.
/// 2022): z <- sum w_i x_i / sum w_i, w_i = 1/max(||x_i - z||, nu), until the objective's relative
/// decrease is at most `tolerance` or `iterations` steps. Any n works. Cost: O(n d) per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GeometricMedianParams {
    /// Smoothing nu > 0: distances below it count as nu.
    pub nu: f64,
    /// Most Weiszfeld steps.
    pub iterations: usize,
    /// Stop when the objective decreased by at most tolerance x its value in the last step.
    pub tolerance: f64,
    /// "mean" (RFA) or "zero" (ByzFL).
    pub start: Start,
}

impl Default for GeometricMedianParams {
    fn default() -> Self {
        GeometricMedianParams {
            nu: 1e-6,
            iterations: 100,
            tolerance: 1e-6,
            start: Start::Mean,
        }
    }
}

impl Params for GeometricMedianParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_positive("nu", self.nu, false)?;
        ParamError::require_positive("tolerance", self.tolerance, true)?;
        if self.iterations == 0 || self.iterations > 1_000_000 {
            return Err(ParamError::new(
                "iterations",
                format!("expected 1 to 1000000 steps, got {}", self.iterations),
            ));
        }
        Ok(())
    }
}

impl AggregatorKind for GeometricMedianParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(GeometricMedian {
            params: self.clone(),
        }))
    }
}

/// The geometric median rule.
#[derive(Debug, Clone)]
pub struct GeometricMedian {
    /// Its (checked) parameters.
    pub params: GeometricMedianParams,
}

impl Aggregator for GeometricMedian {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        Aggregate::direction(geometric_median(&rows.slices(), rows.dim, &self.params).point)
    }
}

/// The result of the smoothed Weiszfeld iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct WeiszfeldOutcome {
    /// The approximate geometric median.
    pub point: Vector,
    /// Weiszfeld steps taken.
    pub iterations: usize,
    /// True when the tolerance test stopped the loop (false: the step cap did).
    pub converged: bool,
}

/// `sum_k (a_k - b_k)^2`, then the square root.
fn dist(a: &[f64], b: &[f64]) -> f64 {
    crate::linalg::squared_distance(a, b).sqrt()
}

/// The smoothed Weiszfeld iteration on `rows` (each of length >= `dim`; finite values).
pub fn geometric_median(
    rows: &[&[f64]],
    dim: usize,
    p: &GeometricMedianParams,
) -> WeiszfeldOutcome {
    let n = rows.len();
    let mut z = match p.start {
        Start::Mean => mean_of_rows(rows.iter().copied(), dim),
        Start::Zero => vec![0.0; dim],
    };
    if n == 0 {
        return WeiszfeldOutcome {
            point: Vector::from(z),
            iterations: 0,
            converged: true,
        };
    }
    let mut previous: Option<f64> = None;
    let mut next = vec![0.0; dim];
    let mut distances = vec![0.0; n];
    for step in 0..p.iterations {
        for (d, r) in distances.iter_mut().zip(rows) {
            *d = dist(&r[..dim], &z);
        }
        let objective: f64 = distances.iter().sum();
        if let Some(prev) = previous
            && prev - objective <= p.tolerance * objective
        {
            return WeiszfeldOutcome {
                point: Vector::from(z),
                iterations: step,
                converged: true,
            };
        }
        previous = Some(objective);
        next.iter_mut().for_each(|x| *x = 0.0);
        let mut total = 0.0;
        for (r, &d) in rows.iter().zip(&distances) {
            let w = 1.0 / d.max(p.nu);
            total += w;
            for (o, x) in next.iter_mut().zip(&r[..dim]) {
                *o += w * x;
            }
        }
        for (zk, o) in z.iter_mut().zip(&next) {
            *zk = o / total;
        }
    }
    WeiszfeldOutcome {
        point: Vector::from(z),
        iterations: p.iterations,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use proptest::prelude::*;

    fn objective(rows: &[Vec<f64>], z: &[f64]) -> f64 {
        rows.iter().map(|r| dist(r, z)).sum()
    }

    /// A brute-force minimiser of the (convex) objective: compass search from the mean, halving
    /// the step until it is tiny.
    fn brute(rows: &[Vec<f64>]) -> Vec<f64> {
        let d = rows[0].len();
        let mut z = mean_of_rows(rows.iter().map(|r| r.as_slice()), d);
        let mut step = 1.0;
        while step > 1e-12 {
            let mut improved = false;
            for k in 0..d {
                for s in [step, -step] {
                    let mut y = z.clone();
                    y[k] += s;
                    if objective(rows, &y) < objective(rows, &z) {
                        z = y;
                        improved = true;
                    }
                }
            }
            if !improved {
                step /= 2.0;
            }
        }
        z
    }

    #[test]
    fn reproduces_byzfl_with_its_conventions() {
        // ByzFL's GeometricMedian(nu=0.1, T=3) on the reference vectors: 3.78788764, ...
        let v = reference();
        let p = GeometricMedianParams {
            nu: 0.1,
            iterations: 3,
            tolerance: 0.0,
            start: Start::Zero,
        };
        let o = geometric_median(&slices(&v), 3, &p);
        assert_eq!(o.iterations, 3);
        for (k, want) in [3.78788764, 4.78788764, 5.78788764].iter().enumerate() {
            assert!((o.point[k] - want).abs() < 5e-9, "{} vs {want}", o.point[k]);
        }
        // Our default (start at the mean, iterate to the tolerance) gets the true answer, the
        // middle point of three collinear points.
        let o = geometric_median(&slices(&v), 3, &GeometricMedianParams::default());
        assert!(o.converged);
        for (k, want) in [4.0, 5.0, 6.0].iter().enumerate() {
            assert!((o.point[k] - want).abs() < 1e-4, "{}", o.point[k]);
        }
    }

    #[test]
    fn empty_and_single() {
        let p = GeometricMedianParams::default();
        assert_eq!(geometric_median(&[], 2, &p).point.to_vec(), vec![0.0, 0.0]);
        let v = vec![vec![3.0, -1.0]];
        assert_eq!(
            geometric_median(&slices(&v), 2, &p).point.to_vec(),
            vec![3.0, -1.0]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn matches_a_brute_force_minimiser(
            rows in prop::collection::vec(prop::collection::vec(-5f64..5.0, 2), 1..6),
        ) {
            let p = GeometricMedianParams { nu: 1e-12, iterations: 100_000, tolerance: 1e-15, start: Start::Mean };
            let o = geometric_median(&slices(&rows), 2, &p);
            let best = objective(&rows, &brute(&rows));
            let got = objective(&rows, o.point.as_slice().unwrap());
            prop_assert!(got <= best + 1e-6 * (1.0 + best), "{got} vs brute force {best}");
        }

        #[test]
        fn permutation_invariant_and_translation_equivariant(
            rows in prop::collection::vec(prop::collection::vec(-5f64..5.0, 3), 1..10),
            shift in prop::collection::vec(-100f64..100.0, 3),
        ) {
            let p = GeometricMedianParams::default();
            let base = geometric_median(&slices(&rows), 3, &p).point;
            let mut rev = rows.clone();
            rev.reverse();
            let r = geometric_median(&slices(&rev), 3, &p).point;
            let moved: Vec<Vec<f64>> = rows.iter().map(|x| x.iter().zip(&shift).map(|(a, s)| a + s).collect()).collect();
            let m = geometric_median(&slices(&moved), 3, &p).point;
            for k in 0..3 {
                prop_assert!((r[k] - base[k]).abs() <= 1e-6 * (1.0 + base[k].abs()));
                prop_assert!((m[k] - base[k] - shift[k]).abs() <= 1e-6 * (1.0 + shift[k].abs()));
            }
        }
    }
}
