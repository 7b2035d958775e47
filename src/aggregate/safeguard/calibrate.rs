//! Calibrated thresholds: the paper's "automated process" (Section 5), as a clean pre-run.

use super::{Thresholds, Variant, Window};
use crate::aggregate::RoundInput;
use crate::linalg::{Vector, distance, mean};
use crate::problem::Problem;
use crate::rng::{stream, streams};

/// What the calibration pre-run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Largest honest distance to the reference seen in the long window (sums divided by the
    /// honest count), or 0 for the single variant.
    pub max_long: f64,
    /// Largest honest distance to the reference seen in the short window.
    pub max_short: f64,
    /// The resulting thresholds: `factor * max * h / |good_t|`.
    pub thresholds: Thresholds,
}

/// The paper's "automated process" for thresholds (Section 5: "pre-running the experiment"):
/// a clean pre-run of `rounds` rounds with the `honest` honest machines only, plain mean SGD with
/// the same step and perturbation. In each window the distance of every honest machine to the
/// most central one (the machine minimising the largest distance) is measured; the threshold is
/// `factor` times the largest such distance seen, rescaled by `h / |good_t|` since windowed sums
/// are divided by the size of the good set. The pre-run uses its own random streams, so the main
/// run is unaffected.
#[allow(clippy::too_many_arguments)]
pub fn calibrate(
    problem: &dyn Problem,
    honest: usize,
    lr: f64,
    perturbation: f64,
    variant: Variant,
    window_long: u64,
    window_short: u64,
    rounds: u64,
    factor: f64,
    seed: u64,
) -> Calibration {
    let dim = problem.dim();
    let h = honest.max(1);
    let mut x = problem.initial_point(&mut stream(seed, streams::INIT));
    let mut rngs: Vec<_> = (0..h)
        .map(|i| stream(seed, streams::CALIBRATION + i as u64))
        .collect();
    let mut xi_rng = stream(seed, streams::CALIBRATION - 1);
    // The same windows as the safeguard itself, over the honest machines only.
    let mut long = Window::new("long", window_long.max(1), h, dim);
    let mut short = Window::new("short", window_short.max(1), h, dim);
    let workers: Vec<usize> = (0..h).collect();
    let good = vec![true; h];
    let (mut max_long, mut max_short) = (0.0f64, 0.0f64);
    let radius = |sums: &[Vector]| -> f64 {
        (0..sums.len())
            .map(|r| {
                sums.iter()
                    .map(|s| distance(s, &sums[r]))
                    .fold(0.0, f64::max)
            })
            .fold(f64::INFINITY, f64::min)
    };
    for t in 0..rounds {
        let gradients: Vec<Option<Vector>> = (0..h)
            .map(|i| Some(problem.stochastic_gradient(&x, i, &mut rngs[i])))
            .collect();
        let step = mean(gradients.iter().flatten(), dim);
        let input = RoundInput {
            round: t + 1,
            params: &x,
            machines: h,
            workers: &workers,
            gradients: &gradients,
            honest_mean: &step,
        };
        long.accumulate(t, &input, h, &good);
        short.accumulate(t, &input, h, &good);
        if variant == Variant::Double {
            max_long = max_long.max(radius(&long.sums));
        }
        max_short = max_short.max(radius(&short.sums));
        let xi =
            Vector::from_shape_simple_fn(dim, || perturbation * crate::rng::normal(&mut xi_rng));
        x = x - lr * (xi + step);
        if !crate::linalg::is_finite(&x) {
            break;
        }
    }
    let hf = h as f64;
    Calibration {
        max_long,
        max_short,
        thresholds: Thresholds::PerGood {
            long: factor * max_long * hf,
            short: factor * max_short * hf,
        },
    }
}
