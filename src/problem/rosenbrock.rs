//! The `rosenbrock` problem: a classic non-convex valley in two parameters.

use super::noise::{NoiseSpec, default_noise};
use super::{Noise, Problem, ProblemInfo, ProblemKind};
use crate::linalg::Vector;
use crate::registry::{CheckContext, ParamError, Params, Setting};
use crate::rng::SimRng;
use crate::scenario::Tagged;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `rosenbrock`: Rosenbrock's valley `(a - x)^2 + b (y - x^2)^2` (Rosenbrock 1960), 2
/// parameters, minimum 0 at `(a, a^2)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RosenbrockParams {
    /// `a` (minimum at `(a, a^2)`).
    pub a: f64,
    /// `b`, the valley's steepness.
    pub b: f64,
    /// Starting point.
    pub start: [f64; 2],
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for RosenbrockParams {
    fn default() -> Self {
        RosenbrockParams {
            a: 1.0,
            b: 100.0,
            start: [-1.5, 2.0],
            noise: default_noise(),
        }
    }
}

impl Params for RosenbrockParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_finite("a", self.a)?;
        ParamError::require_finite("b", self.b)?;
        ParamError::require_finite("start[0]", self.start[0])?;
        ParamError::require_finite("start[1]", self.start[1])?;
        ParamError::require_positive("b", self.b, true)?;
        self.noise.0.check("noise")
    }
}

/// The Rosenbrock function `f(x, y) = (a - x)^2 + b (y - x^2)^2` (Rosenbrock 1960), a classic
/// non-convex test function in two parameters: a curved, flat-bottomed valley with its minimum
/// 0 at `(a, a^2)`.
#[derive(Debug, Clone)]
pub struct Rosenbrock {
    a: f64,
    b: f64,
    start: [f64; 2],
    noise: Noise,
}

impl Rosenbrock {
    /// A Rosenbrock problem starting at `start`.
    pub fn new(a: f64, b: f64, start: [f64; 2], noise: Noise) -> Self {
        Rosenbrock { a, b, start, noise }
    }
}

impl Problem for Rosenbrock {
    fn name(&self) -> &str {
        "rosenbrock"
    }
    fn dim(&self) -> usize {
        2
    }
    fn initial_point(&self, _rng: &mut SimRng) -> Vector {
        Vector::from_vec(self.start.to_vec())
    }
    fn loss(&self, x: &Vector) -> f64 {
        let (u, v) = (x[0], x[1]);
        (self.a - u).powi(2) + self.b * (v - u * u).powi(2)
    }
    fn gradient(&self, x: &Vector) -> Vector {
        let (u, v) = (x[0], x[1]);
        Vector::from_vec(vec![
            -2.0 * (self.a - u) - 4.0 * self.b * u * (v - u * u),
            2.0 * self.b * (v - u * u),
        ])
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(2, rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(0.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(2)
    }
}

impl ProblemKind for RosenbrockParams {
    fn info(&self) -> ProblemInfo {
        ProblemInfo::with_noise(2, &self.noise.0.noise())
    }
    fn build(&self, _: &Setting) -> Result<Arc<dyn Problem>, String> {
        Ok(Arc::new(Rosenbrock::new(
            self.a,
            self.b,
            self.start,
            self.noise.0.noise(),
        )))
    }
}
