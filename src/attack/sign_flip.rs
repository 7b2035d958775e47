//! `sign_flip`: `-scale * g` (Allen-Zhu et al. 2021, Table 1, "sign flipping").

use super::{Adversaries, Adversary, AttackContext, AttackKind};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `sign_flip`: sends `-scale * g`, with `g` the machine's own honest gradient (the paper uses
/// scale 1; some libraries negate the honest mean instead, or scale by 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SignFlipParams {
    /// The factor `c` (the paper uses 1).
    pub scale: f64,
}

impl Default for SignFlipParams {
    fn default() -> Self {
        SignFlipParams { scale: 1.0 }
    }
}

impl Params for SignFlipParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_finite("scale", self.scale)
    }
}

impl AttackKind for SignFlipParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let scale = self.scale;
        Ok(Adversaries::each(move |_| SignFlip { scale }))
    }
}

/// Sign flipping: `-scale * g`.
#[derive(Debug, Clone)]
pub struct SignFlip {
    /// The factor `c`.
    pub scale: f64,
}

impl Adversary for SignFlip {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(ctx.own * -self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn negates_and_scales_its_own_gradient() {
        let v = view_with(vec![array![5.0, 5.0]]);
        assert_eq!(
            attack_once(&mut SignFlip { scale: 4.0 }, &v, &array![1.0, -2.0]),
            Some(array![-4.0, 8.0])
        );
    }
}
