//! The `oracle_pre_run` thresholds: the paper's "automated process" (Section 5: thresholds
//! "selected by ... pre-running the experiment"), as a clean pre-run with the honest machines
//! only. A real master cannot tell honest machines apart, so this mode is *oracle-assisted*; the
//! `adaptive` mode ([`super::Thresholds::Adaptive`]) uses no such knowledge.

use super::{Thresholds, Variant, Window};
use crate::aggregate::RoundInput;
use crate::linalg::{Vector, mean};
use crate::problem::Problem;
use crate::rng::{stream, streams};

/// The pre-run's setting: the run's own machines, step and windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreRun {
    /// Honest machines of the run (the pre-run uses them only).
    pub honest: usize,
    /// Step size.
    pub lr: f64,
    /// Perturbation `nu`.
    pub perturbation: f64,
    /// Double or single: whether the long window is measured.
    pub variant: Variant,
    /// `T1`.
    pub window_long: u64,
    /// `T0`.
    pub window_short: u64,
    /// Rounds of the pre-run.
    pub rounds: u64,
    /// Master seed (the pre-run draws from its own streams).
    pub seed: u64,
}

/// Which pre-run measurement sets the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// The distance of each honest machine's windowed sum to the most central one's (the machine
    /// minimising the largest distance): a radius.
    Central,
    /// The distance between any two honest machines' windowed sums: the algorithm's own
    /// precondition (every honest pair within `Th` means no honest machine is ever expelled,
    /// whichever machine is the reference).
    Pairwise,
}

/// What the calibration pre-run measured (the largest value over its rounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Largest honest distance to the most central machine in the long window (sums divided by
    /// the honest count), or 0 for the single variant.
    pub max_long: f64,
    /// The same in the short window.
    pub max_short: f64,
    /// Largest distance between two honest windowed sums in the long window (0 for single).
    pub max_pairwise_long: f64,
    /// The same in the short window.
    pub max_pairwise_short: f64,
    /// Largest distance between two honest gradients of one round: a measured `2V`, the radius
    /// of the per-round filter when the problem states no noise bound.
    pub max_pairwise_gradient: f64,
    /// Honest machines of the pre-run (the sums were divided by this).
    pub honest: usize,
}

impl Calibration {
    /// The thresholds: `factor x` the chosen statistic, rescaled by `h / |good_t|` since windowed
    /// sums are divided by the size of the good set.
    pub fn thresholds(&self, statistic: Statistic, factor: f64) -> Thresholds {
        let (long, short) = match statistic {
            Statistic::Central => (self.max_long, self.max_short),
            Statistic::Pairwise => (self.max_pairwise_long, self.max_pairwise_short),
        };
        let h = self.honest as f64;
        Thresholds::PerGood {
            long: factor * long * h,
            short: factor * short * h,
        }
    }

    /// The measurements as `(name, value)` pairs for summary.json.
    pub fn report(&self, variant: Variant) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if variant == Variant::Double {
            out.push(("calibrated_max_distance_long".into(), self.max_long));
            out.push((
                "calibrated_max_pairwise_long".into(),
                self.max_pairwise_long,
            ));
        }
        out.push(("calibrated_max_distance_short".into(), self.max_short));
        out.push((
            "calibrated_max_pairwise_short".into(),
            self.max_pairwise_short,
        ));
        out.push((
            "calibrated_max_pairwise_gradient".into(),
            self.max_pairwise_gradient,
        ));
        out
    }
}

/// Largest pairwise distance and central radius (min over `r` of the largest distance to `r`).
fn spread(vectors: &[&Vector]) -> (f64, f64) {
    let largest: Vec<f64> = super::filter::pairwise_distances(vectors)
        .iter()
        .map(|row| row.iter().copied().fold(0.0, f64::max))
        .collect();
    let diameter = largest.iter().copied().fold(0.0, f64::max);
    let radius = largest.into_iter().fold(f64::INFINITY, f64::min);
    (diameter, radius)
}

/// Run the pre-run: `rounds` rounds of plain mean SGD with the `honest` machines only, the same
/// step and perturbation, from the run's initial point, on its own random streams (the main run
/// is unaffected). Every round it measures the honest windowed sums in both windows and the
/// honest gradients themselves.
pub fn calibrate(problem: &dyn Problem, setting: &PreRun) -> Calibration {
    let dim = problem.dim();
    let h = setting.honest.max(1);
    let seed = setting.seed;
    let mut x = problem.initial_point(&mut stream(seed, streams::INIT));
    let mut rngs: Vec<_> = (0..h)
        .map(|i| stream(seed, streams::CALIBRATION + i as u64))
        .collect();
    let mut xi_rng = stream(seed, streams::CALIBRATION - 1);
    // The same windows as the safeguard itself, over the honest machines only.
    let mut long = Window::new("long", setting.window_long.max(1), h, dim);
    let mut short = Window::new("short", setting.window_short.max(1), h, dim);
    let workers: Vec<usize> = (0..h).collect();
    let good = vec![true; h];
    let mut cal = Calibration {
        max_long: 0.0,
        max_short: 0.0,
        max_pairwise_long: 0.0,
        max_pairwise_short: 0.0,
        max_pairwise_gradient: 0.0,
        honest: h,
    };
    for t in 0..setting.rounds {
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
        if setting.variant == Variant::Double {
            let (diameter, radius) = spread(&long.sums.iter().collect::<Vec<_>>());
            cal.max_long = cal.max_long.max(radius);
            cal.max_pairwise_long = cal.max_pairwise_long.max(diameter);
        }
        let (diameter, radius) = spread(&short.sums.iter().collect::<Vec<_>>());
        cal.max_short = cal.max_short.max(radius);
        cal.max_pairwise_short = cal.max_pairwise_short.max(diameter);
        let (diameter, _) = spread(&gradients.iter().flatten().collect::<Vec<_>>());
        cal.max_pairwise_gradient = cal.max_pairwise_gradient.max(diameter);
        let xi = Vector::from_shape_simple_fn(dim, || {
            setting.perturbation * crate::rng::normal(&mut xi_rng)
        });
        x = x - setting.lr * (xi + step);
        if !crate::linalg::is_finite(&x) {
            break;
        }
    }
    cal
}
