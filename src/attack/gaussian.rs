//! `gaussian`: random vectors, independent of the parameters.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `gaussian`: sends `N(mean, std^2 I)`, independent of the parameters (libraries use std 1 to
/// 200), drawn from the machine's adversary stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianParams {
    /// Mean of every coordinate.
    pub mean: f64,
    /// Standard deviation of every coordinate (libraries use 1 to 200).
    pub std: f64,
}

impl Default for GaussianParams {
    fn default() -> Self {
        GaussianParams {
            mean: 0.0,
            std: 1.0,
        }
    }
}

impl Params for GaussianParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_finite("mean", self.mean)?;
        ParamError::require_positive("std", self.std, true)
    }
}

impl AttackKind for GaussianParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let (mean, std) = (self.mean, self.std);
        Ok(Adversaries::each(move |_| Gaussian { mean, std }))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::Randomness]
    }
}

/// Gaussian noise `N(mean, std^2 I)`.
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// Mean of every coordinate.
    pub mean: f64,
    /// Standard deviation of every coordinate.
    pub std: f64,
}

impl Adversary for Gaussian {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let (m, s) = (self.mean, self.std);
        let rng = &mut *ctx.rng;
        Some(Vector::from_shape_simple_fn(ctx.own.len(), || {
            m + s * crate::rng::normal(rng)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn zero_std_gives_the_mean() {
        let v = view_with(vec![array![5.0, 5.0]]);
        let mut g = Gaussian {
            mean: 5.0,
            std: 0.0,
        };
        assert_eq!(
            attack_once(&mut g, &v, &array![1.0, -2.0]),
            Some(array![5.0, 5.0])
        );
    }
}
