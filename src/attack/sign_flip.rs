//! `sign_flip`: `-scale * g` (Allen-Zhu et al. 2021, Table 1, "sign flipping"), or `-scale * mu`
//! (the negated honest mean, as ByzFL does).

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which gradient a sign flip negates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlipOf {
    /// The machine's own honest gradient `g` (the SafeguardSGD paper's attack).
    Own,
    /// The mean `mu` of the round's honest gradients (ByzFL's `SignFlipping`).
    HonestMean,
}

/// `sign_flip`: sends `-scale * g`, with `g` the machine's own honest gradient (`of: "own"`, the
/// SafeguardSGD paper's attack, scale 1), or `-scale * mu`, the negated mean of the round's
/// honest gradients (`of: "honest_mean"`, as ByzFL does; colluders then send identical vectors).
/// Some libraries scale by 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SignFlipParams {
    /// The factor `c` (the paper uses 1).
    pub scale: f64,
    /// `own` (the machine's own gradient, the default) or `honest_mean`.
    pub of: FlipOf,
}

impl Default for SignFlipParams {
    fn default() -> Self {
        SignFlipParams {
            scale: 1.0,
            of: FlipOf::Own,
        }
    }
}

impl Params for SignFlipParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_finite("scale", self.scale)
    }
}

impl AttackKind for SignFlipParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let (scale, of) = (self.scale, self.of);
        Ok(Adversaries::each(move |_| SignFlip { scale, of }))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        match self.of {
            FlipOf::Own => vec![Dependency::OwnGradient],
            FlipOf::HonestMean => Vec::new(),
        }
    }
}

/// Sign flipping: `-scale * g` or `-scale * mu`.
#[derive(Debug, Clone)]
pub struct SignFlip {
    /// The factor `c`.
    pub scale: f64,
    /// Which gradient is negated.
    pub of: FlipOf,
}

impl Adversary for SignFlip {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(match self.of {
            FlipOf::Own => ctx.own * -self.scale,
            FlipOf::HonestMean => ctx.view.honest_mean() * -self.scale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, reference_view, view_with};
    use ndarray::array;

    #[test]
    fn negates_and_scales_its_own_gradient() {
        let v = view_with(vec![array![5.0, 5.0]]);
        let mut a = SignFlip {
            scale: 4.0,
            of: FlipOf::Own,
        };
        assert_eq!(
            attack_once(&mut a, &v, &array![1.0, -2.0]),
            Some(array![-4.0, 8.0])
        );
    }

    #[test]
    fn negated_honest_mean_is_the_reference_answer() {
        // The reference file's known answer: [1,2,3], [4,5,6], [7,8,9] -> [-4, -5, -6].
        let mut a = SignFlip {
            scale: 1.0,
            of: FlipOf::HonestMean,
        };
        assert_eq!(
            attack_once(&mut a, &reference_view(), &array![100.0, 100.0, 100.0]),
            Some(array![-4.0, -5.0, -6.0])
        );
    }
}
