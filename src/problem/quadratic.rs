//! The `quadratic` problem: a convex sanity check.

use super::noise::{NoiseSpec, default_noise};
use super::{Noise, Problem, ProblemInfo, ProblemKind};
use crate::linalg::Vector;
use crate::registry::{CheckContext, ParamError, Params, Setting};
use crate::rng::SimRng;
use crate::scenario::Tagged;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `quadratic`: convex sanity check, `f(x) = 1/2 sum_i lambda_i x_i^2`, curvatures spaced linearly
/// from `min_curvature` to `max_curvature`; minimum 0 at the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QuadraticParams {
    /// Dimension `d`.
    pub dim: usize,
    /// Smallest curvature `lambda_0`.
    pub min_curvature: f64,
    /// Largest curvature `lambda_{d-1}`.
    pub max_curvature: f64,
    /// Start at `start * (1, ..., 1)`.
    pub start: f64,
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for QuadraticParams {
    fn default() -> Self {
        QuadraticParams {
            dim: 10,
            min_curvature: 1.0,
            max_curvature: 10.0,
            start: 1.0,
            noise: default_noise(),
        }
    }
}

impl Params for QuadraticParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        super::check_dim("dim", self.dim)?;
        ParamError::require_positive("min_curvature", self.min_curvature, false)?;
        ParamError::require_positive("max_curvature", self.max_curvature, false)?;
        if self.max_curvature < self.min_curvature {
            return Err(ParamError::new("max_curvature", "must be >= min_curvature"));
        }
        ParamError::require_finite("start", self.start)?;
        self.noise.0.check("noise")
    }
}

/// Convex sanity check: `f(x) = 1/2 sum_i lambda_i x_i^2`, with curvatures `lambda_i` spaced
/// linearly from `min_curvature` to `max_curvature`; minimum 0 at the origin; start at
/// `start * (1, ..., 1)`.
#[derive(Debug, Clone)]
pub struct Quadratic {
    curvature: Vector,
    start: f64,
    noise: Noise,
}

impl Quadratic {
    /// A quadratic of dimension `dim`.
    pub fn new(
        dim: usize,
        min_curvature: f64,
        max_curvature: f64,
        start: f64,
        noise: Noise,
    ) -> Self {
        let curvature = Vector::from_shape_fn(dim, |i| {
            if dim <= 1 {
                min_curvature
            } else {
                min_curvature + (max_curvature - min_curvature) * i as f64 / (dim - 1) as f64
            }
        });
        Quadratic {
            curvature,
            start,
            noise,
        }
    }
}

impl Problem for Quadratic {
    fn name(&self) -> &str {
        "quadratic"
    }
    fn dim(&self) -> usize {
        self.curvature.len()
    }
    fn initial_point(&self, _rng: &mut SimRng) -> Vector {
        Vector::from_elem(self.dim(), self.start)
    }
    fn loss(&self, x: &Vector) -> f64 {
        0.5 * x
            .iter()
            .zip(self.curvature.iter())
            .map(|(x, l)| l * x * x)
            .sum::<f64>()
    }
    fn gradient(&self, x: &Vector) -> Vector {
        x * &self.curvature
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(self.dim(), rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(0.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(self.dim())
    }
}

impl ProblemKind for QuadraticParams {
    fn info(&self) -> ProblemInfo {
        ProblemInfo::with_noise(self.dim, &self.noise.0.noise())
    }
    fn build(&self, _: &Setting) -> Result<Arc<dyn Problem>, String> {
        Ok(Arc::new(Quadratic::new(
            self.dim,
            self.min_curvature,
            self.max_curvature,
            self.start,
            self.noise.0.noise(),
        )))
    }
}
