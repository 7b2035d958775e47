//! `ipm`: inner product manipulation, `-eps * mu` (C. Xie, O. Koyejo, I. Gupta, *Fall of
//! Empires: Breaking Byzantine-tolerant SGD by Inner Product Manipulation*, UAI 2020).

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `ipm`: inner product manipulation (Xie, Koyejo & Gupta, UAI 2020): every Byzantine machine
/// sends `-eps * mu`, with `mu` the mean of the round's honest gradients, so that the
/// aggregate's inner product with the true gradient turns negative. Default `eps` 0.1 (the
/// paper's small-eps attack on Krum and the median); libraries default to 0.1, 1, 2 or 10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IpmParams {
    /// `eps` (> 0).
    pub eps: f64,
}

impl Default for IpmParams {
    fn default() -> Self {
        IpmParams { eps: 0.1 }
    }
}

impl Params for IpmParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_positive("eps", self.eps, false)
    }
}

impl AttackKind for IpmParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let eps = self.eps;
        Ok(Adversaries::each(move |_| Ipm { eps }))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        Vec::new()
    }
}

/// `-eps * mu`.
pub fn ipm_vector(mu: &Vector, eps: f64) -> Vector {
    mu * -eps
}

/// Inner product manipulation: `-eps * mu`.
#[derive(Debug, Clone)]
pub struct Ipm {
    /// `eps`.
    pub eps: f64,
}

impl Adversary for Ipm {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(ipm_vector(ctx.view.honest_mean(), self.eps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, reference_view};
    use ndarray::array;

    #[test]
    fn reference_answer_eps_2() {
        // The reference file's known answer on [1,2,3], [4,5,6], [7,8,9].
        assert_eq!(
            attack_once(
                &mut Ipm { eps: 2.0 },
                &reference_view(),
                &array![0.0, 0.0, 0.0]
            ),
            Some(array![-8.0, -10.0, -12.0])
        );
    }
}
