//! The `saddle` problem: a strict saddle with known minima.

use super::noise::{NoiseSpec, default_noise};
use super::{Noise, Problem, ProblemInfo, ProblemKind};
use crate::linalg::Vector;
use crate::registry::{CheckContext, ParamError, Params, Setting};
use crate::rng::SimRng;
use crate::scenario::Tagged;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `saddle`: a strict saddle with `k` negative-curvature directions,
/// `f(x) = sum_{i<k} (x_i^4/4 - x_i^2/2) + sum_{i>=k} x_i^2/2`; saddle at 0, minimum `-k/4`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SaddleParams {
    /// Dimension `d`.
    pub dim: usize,
    /// `k`, the number of negative-curvature directions (minimum `-k/4`).
    pub negative_dims: usize,
    /// Start at the saddle plus a random offset of this norm (0: exactly at the saddle).
    pub start_offset: f64,
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for SaddleParams {
    fn default() -> Self {
        SaddleParams {
            dim: 10,
            negative_dims: 2,
            start_offset: 0.0,
            noise: default_noise(),
        }
    }
}

impl Params for SaddleParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        super::check_dim("dim", self.dim)?;
        if self.negative_dims > self.dim {
            return Err(ParamError::new(
                "negative_dims",
                format!(
                    "{} negative directions do not fit in dim {}",
                    self.negative_dims, self.dim
                ),
            ));
        }
        ParamError::require_positive("start_offset", self.start_offset, true)?;
        self.noise.0.check("noise")
    }
}

/// A `d`-dimensional strict-saddle function with `k` negative-curvature directions:
/// `f(x) = sum_{i<k} (x_i^4/4 - x_i^2/2) + sum_{i>=k} x_i^2/2`.
///
/// The origin is a strict saddle with `f = 0` (Hessian eigenvalues `-1` (k times) and `+1`);
/// the minima are at `x_i = +-1` for `i < k`, `x_i = 0` otherwise, with `f = -k/4`. The run
/// starts at the saddle plus a random offset of norm `start_offset` (0: exactly at the saddle,
/// where only noise and the perturbation can move it).
#[derive(Debug, Clone)]
pub struct Saddle {
    dim: usize,
    negative_dims: usize,
    start_offset: f64,
    noise: Noise,
}

impl Saddle {
    /// A saddle problem; `negative_dims <= dim` is checked by the scenario.
    pub fn new(dim: usize, negative_dims: usize, start_offset: f64, noise: Noise) -> Self {
        Saddle {
            dim,
            negative_dims,
            start_offset,
            noise,
        }
    }
}

impl Problem for Saddle {
    fn name(&self) -> &str {
        "saddle"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_point(&self, rng: &mut SimRng) -> Vector {
        if self.start_offset == 0.0 {
            return Vector::zeros(self.dim);
        }
        let mut v: Vector = Vector::from_shape_simple_fn(self.dim, || crate::rng::normal(rng));
        let n = crate::linalg::norm(&v);
        if n > 0.0 {
            v *= self.start_offset / n;
        }
        v
    }
    fn loss(&self, x: &Vector) -> f64 {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if i < self.negative_dims {
                    v.powi(4) / 4.0 - v * v / 2.0
                } else {
                    v * v / 2.0
                }
            })
            .sum()
    }
    fn gradient(&self, x: &Vector) -> Vector {
        Vector::from_shape_fn(self.dim, |i| {
            let v = x[i];
            if i < self.negative_dims {
                v * v * v - v
            } else {
                v
            }
        })
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(self.dim, rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(-(self.negative_dims as f64) / 4.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(self.dim)
    }
    /// Exact: the Hessian is diagonal, `3 x_i^2 - 1` for `i < k` and `1` otherwise.
    fn hessian_vector(&self, x: &Vector, v: &Vector) -> Vector {
        Vector::from_shape_fn(self.dim, |i| {
            let curvature = if i < self.negative_dims {
                3.0 * x[i] * x[i] - 1.0
            } else {
                1.0
            };
            curvature * v[i]
        })
    }
}

impl ProblemKind for SaddleParams {
    fn info(&self) -> ProblemInfo {
        ProblemInfo::with_noise(self.dim, &self.noise.0.noise())
    }
    fn build(&self, _: &Setting) -> Result<Arc<dyn Problem>, String> {
        Ok(Arc::new(Saddle::new(
            self.dim,
            self.negative_dims,
            self.start_offset,
            self.noise.0.noise(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::norm;
    use ndarray::array;

    #[test]
    fn saddle_values() {
        let p = Saddle::new(5, 2, 0.0, Noise::Bounded { radius: 1.0 });
        assert_eq!(p.loss(&Vector::zeros(5)), 0.0);
        assert_eq!(p.gradient(&Vector::zeros(5)), Vector::zeros(5));
        let min = array![1.0, -1.0, 0.0, 0.0, 0.0];
        assert_eq!(p.loss(&min), -0.5);
        assert_eq!(p.min_loss(), Some(-0.5));
        assert_eq!(norm(&p.gradient(&min)), 0.0);
    }
}
