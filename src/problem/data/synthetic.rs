//! Synthetic classification data generated from a seeded stream.
//!
//! - [`GaussianMixture`]: `k` classes in `d` dimensions. Class `c` has mean
//!   `mu_c = separation * u_c`, with `u_c` uniform on the unit sphere (a normalised Gaussian),
//!   and its samples are `mu_c + N(0, I_d)`. Two means are about `separation * sqrt(2)` apart,
//!   whatever `d`, so `separation` alone sets how hard the task is.
//! - [`Spirals`]: `k` interleaved 2-D spiral arms (the "two spirals" benchmark of Lang &
//!   Witbrock 1988, generalised to `k` arms as in Karpathy's CS231n notes). Arm `c` holds the
//!   points `r (cos theta, sin theta) + N(0, noise^2 I_2)` with `r = t`,
//!   `theta = 2 pi (c / k + turns * t)`, for `t` evenly spaced in `(0, 1]`. Not linearly
//!   separable: a linear model stays near chance, an MLP separates the arms.
//!
//! Labels are balanced: sample `i` of `n` belongs to class `i mod k` (so class sizes differ by at
//! most one); the train/test split permutes them.

use crate::linalg::Vector;
use crate::problem::data::Samples;
use crate::problem::error::{ProblemError, require, require_finite};
use crate::rng::{SimRng, normal};
use ndarray::Array2;

/// Largest number of feature values (`samples * dim`) a synthetic set may have: 2^25 values,
/// 256 MiB of `f64`. A precondition the scenario check must enforce (here it is an error).
pub const MAX_VALUES: usize = 1 << 25;

/// Parameters of a Gaussian mixture data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianMixture {
    /// Number of classes `k >= 2` (suggested default 4).
    pub classes: usize,
    /// Dimension `d >= 1` (suggested default 10).
    pub dim: usize,
    /// Total number of samples (suggested default 2000), at least `classes`.
    pub samples: usize,
    /// Norm of every class mean (suggested default 2.0), finite and `>= 0`.
    pub separation: f64,
}

impl GaussianMixture {
    /// Draw the data set from `rng`: first the `k` means, then the samples in order.
    pub fn generate(&self, rng: &mut SimRng) -> Result<Samples, ProblemError> {
        let GaussianMixture {
            classes,
            dim,
            samples,
            separation,
        } = *self;
        check_counts(classes, samples, dim)?;
        require_finite("separation", separation, false)?;
        let means: Vec<Vector> = (0..classes)
            .map(|_| {
                let u = Vector::from_shape_simple_fn(dim, || normal(rng));
                let n = crate::linalg::norm(&u);
                if n > 0.0 { u * (separation / n) } else { u }
            })
            .collect();
        let features =
            Array2::from_shape_fn((samples, dim), |(i, j)| means[i % classes][j] + normal(rng));
        let labels = (0..samples).map(|i| i % classes).collect();
        Samples::new(features, labels, classes)
    }
}

/// Parameters of a spirals data set (2 features).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spirals {
    /// Number of arms (= classes) `k >= 2` (suggested default 2).
    pub classes: usize,
    /// Total number of samples (suggested default 1000), at least `classes`.
    pub samples: usize,
    /// Standard deviation of the Gaussian jitter (suggested default 0.05), finite and `>= 0`.
    pub noise: f64,
    /// Turns of each arm (suggested default 1.0), finite and `> 0`.
    pub turns: f64,
}

impl Spirals {
    /// Draw the data set from `rng`, sample by sample.
    pub fn generate(&self, rng: &mut SimRng) -> Result<Samples, ProblemError> {
        let Spirals {
            classes,
            samples,
            noise,
            turns,
        } = *self;
        check_counts(classes, samples, 2)?;
        require_finite("noise", noise, false)?;
        require_finite("turns", turns, true)?;
        let mut features = Array2::zeros((samples, 2));
        for i in 0..samples {
            let c = i % classes;
            // Arm c holds samples c, c + k, c + 2k, ...: its j-th point of n_c.
            let n_c = (samples - c).div_ceil(classes);
            let t = (i / classes + 1) as f64 / n_c as f64;
            let theta = std::f64::consts::TAU * (c as f64 / classes as f64 + turns * t);
            features[[i, 0]] = t * theta.cos() + noise * normal(rng);
            features[[i, 1]] = t * theta.sin() + noise * normal(rng);
        }
        let labels = (0..samples).map(|i| i % classes).collect();
        Samples::new(features, labels, classes)
    }
}

fn check_counts(classes: usize, samples: usize, dim: usize) -> Result<(), ProblemError> {
    require(classes >= 2, "classes", || {
        format!("must be at least 2, got {classes}")
    })?;
    require(dim >= 1, "dim", || "must be at least 1".into())?;
    require(samples >= classes, "samples", || {
        format!("must be at least the number of classes ({classes}), got {samples}")
    })?;
    require(
        samples.checked_mul(dim).is_some_and(|v| v <= MAX_VALUES),
        "samples",
        || format!("{samples} samples x {dim} features exceed the limit of {MAX_VALUES} values"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn gaussian_mixture_is_seeded_balanced_and_clustered() {
        let p = GaussianMixture {
            classes: 3,
            dim: 5,
            samples: 3000,
            separation: 4.0,
        };
        let a = p.generate(&mut stream(1, 0)).unwrap();
        assert_eq!(a, p.generate(&mut stream(1, 0)).unwrap());
        assert_ne!(a, p.generate(&mut stream(2, 0)).unwrap());
        assert_eq!(a.class_counts(), vec![1000, 1000, 1000]);
        // Class means have norm ~ separation; within-class variance ~ 1 per coordinate.
        for c in 0..3 {
            let rows: Vec<usize> = (0..3000).filter(|i| i % 3 == c).collect();
            let sub = a.features().select(ndarray::Axis(0), &rows);
            let mean = sub.mean_axis(ndarray::Axis(0)).unwrap();
            assert!((crate::linalg::norm(&mean) - 4.0).abs() < 0.2);
            let var = sub.var_axis(ndarray::Axis(0), 0.0);
            assert!(var.iter().all(|v| (v - 1.0).abs() < 0.15), "{var}");
        }
    }

    #[test]
    fn spirals_lie_on_their_arms() {
        let p = Spirals {
            classes: 2,
            samples: 401,
            noise: 0.0,
            turns: 1.0,
        };
        let s = p.generate(&mut stream(0, 0)).unwrap();
        assert_eq!(s.num_features(), 2);
        assert_eq!(s.class_counts(), vec![201, 200]);
        // Without noise, the radius is t in (0, 1]: the last point of each arm has r = 1.
        let r = |i: usize| s.row(i).dot(&s.row(i)).sqrt();
        assert!((r(400) - 1.0).abs() < 1e-12);
        assert!((r(399) - 1.0).abs() < 1e-12);
        assert!(s.features().iter().all(|v| v.abs() <= 1.0 + 1e-12));
        let noisy = Spirals { noise: 0.1, ..p }
            .generate(&mut stream(0, 0))
            .unwrap();
        assert_ne!(noisy, s);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let g = GaussianMixture {
            classes: 2,
            dim: 2,
            samples: 10,
            separation: 1.0,
        };
        let mut rng = stream(0, 0);
        assert!(
            GaussianMixture { classes: 1, ..g }
                .generate(&mut rng)
                .is_err()
        );
        assert!(GaussianMixture { dim: 0, ..g }.generate(&mut rng).is_err());
        assert!(
            GaussianMixture { samples: 1, ..g }
                .generate(&mut rng)
                .is_err()
        );
        assert!(
            GaussianMixture {
                separation: f64::NAN,
                ..g
            }
            .generate(&mut rng)
            .is_err()
        );
        assert!(
            GaussianMixture {
                samples: usize::MAX,
                ..g
            }
            .generate(&mut rng)
            .is_err()
        );
        let s = Spirals {
            classes: 2,
            samples: 10,
            noise: 0.1,
            turns: 1.0,
        };
        assert!(Spirals { turns: 0.0, ..s }.generate(&mut rng).is_err());
        assert!(Spirals { noise: -1.0, ..s }.generate(&mut rng).is_err());
        assert!(Spirals { classes: 0, ..s }.generate(&mut rng).is_err());
    }
}
