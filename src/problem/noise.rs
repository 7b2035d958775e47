//! Gradient noise of the honest machines: bounded (uniform in a ball, the paper's assumption) or
//! Gaussian; and its scenario form, `{"kind": "bounded", "radius": 1.0}`.

use crate::linalg::Vector;
use crate::registry::ParamError;
use crate::rng::SimRng;
use crate::scenario::{Tagged, TaggedEnum};
use rand::RngExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Gradient noise of an honest worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Uniform in the Euclidean ball of radius `radius` (bounded noise, `||n|| <= V` a.s.).
    Bounded {
        /// The radius `V`.
        radius: f64,
    },
    /// `N(0, std^2 I)`.
    Gaussian {
        /// Per-coordinate standard deviation.
        std: f64,
    },
}

impl Noise {
    /// Draw one noise vector of dimension `dim`.
    pub fn sample(&self, dim: usize, rng: &mut SimRng) -> Vector {
        match *self {
            Noise::Gaussian { std } => {
                Vector::from_shape_simple_fn(dim, || std * crate::rng::normal(rng))
            }
            Noise::Bounded { radius } => {
                if radius == 0.0 || dim == 0 {
                    return Vector::zeros(dim);
                }
                // Uniform direction (normalised Gaussian), radius V * U^(1/d).
                let mut v: Vector = Vector::from_shape_simple_fn(dim, || crate::rng::normal(rng));
                let n = crate::linalg::norm(&v);
                let u: f64 = rng.random();
                let r = radius * u.powf(1.0 / dim as f64);
                if n > 0.0 {
                    v *= r / n;
                }
                v
            }
        }
    }

    /// The almost-sure bound `V` on `||n||` (Assumption 2.1 of Allen-Zhu et al. 2021): the radius
    /// for bounded noise, `None` for Gaussian noise (unbounded).
    pub fn bound(&self) -> Option<f64> {
        match *self {
            Noise::Bounded { radius } => Some(radius),
            Noise::Gaussian { .. } => None,
        }
    }

    /// `sqrt(E||n||^2)`: `V sqrt(d/(d+2))` for the ball, `std sqrt(d)` for the Gaussian.
    pub fn level(&self, dim: usize) -> f64 {
        let d = dim as f64;
        match *self {
            Noise::Bounded { radius } => radius * (d / (d + 2.0)).sqrt(),
            Noise::Gaussian { std } => std * d.sqrt(),
        }
    }
}

/// Gradient noise of the honest machines, as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum NoiseSpec {
    /// Uniform in a ball of radius `radius` (bounded noise, as the paper assumes).
    Bounded(BoundedNoise),
    /// Gaussian `N(0, std^2 I)`.
    Gaussian(GaussianNoise),
}
impl TaggedEnum for NoiseSpec {
    const TAG: &'static str = "kind";
}

/// Bounded noise parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BoundedNoise {
    /// The radius `V`.
    pub radius: f64,
}
impl Default for BoundedNoise {
    fn default() -> Self {
        BoundedNoise { radius: 1.0 }
    }
}

/// Gaussian noise parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianNoise {
    /// Per-coordinate standard deviation.
    pub std: f64,
}
impl Default for GaussianNoise {
    fn default() -> Self {
        GaussianNoise { std: 1.0 }
    }
}

/// The default noise of the built-in problems: bounded, radius 1.
pub fn default_noise() -> Tagged<NoiseSpec> {
    Tagged(NoiseSpec::Bounded(BoundedNoise::default()))
}

impl NoiseSpec {
    /// Check the values; `field` is the path of the noise object (`noise`).
    pub fn check(&self, field: &str) -> Result<(), ParamError> {
        match self {
            NoiseSpec::Bounded(b) => {
                ParamError::require_positive(&format!("{field}.radius"), b.radius, true)
            }
            NoiseSpec::Gaussian(g) => {
                ParamError::require_positive(&format!("{field}.std"), g.std, true)
            }
        }
    }
    /// The noise it describes.
    pub fn noise(&self) -> Noise {
        match self {
            NoiseSpec::Bounded(b) => Noise::Bounded { radius: b.radius },
            NoiseSpec::Gaussian(g) => Noise::Gaussian { std: g.std },
        }
    }
}
