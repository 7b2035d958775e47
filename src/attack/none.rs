//! `none`: Byzantine machines that do not attack.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `none`: Byzantine machines send their own honest gradient (no attack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoneParams {}

impl Params for NoneParams {}

impl AttackKind for NoneParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        Ok(Adversaries::each(|_| NoAttack))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::OwnGradient]
    }
}

/// Sends its own honest gradient: a Byzantine machine that does not attack.
#[derive(Debug, Clone, Default)]
pub struct NoAttack;

impl Adversary for NoAttack {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(ctx.own.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn sends_its_own_gradient() {
        let own = array![1.0, -2.0];
        let v = view_with(vec![array![5.0, 5.0]]);
        assert_eq!(attack_once(&mut NoAttack, &v, &own), Some(own));
    }
}
