//! `zero`: the zero vector (Allen-Zhu et al. 2021, Table 1, "zero gradient").

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `zero`: Byzantine machines send the zero vector (the paper's "zero gradient" attack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZeroParams {}

impl Params for ZeroParams {}

impl AttackKind for ZeroParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        Ok(Adversaries::each(|_| Zero))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        Vec::new()
    }
}

/// Sends the zero vector.
#[derive(Debug, Clone, Default)]
pub struct Zero;

impl Adversary for Zero {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(Vector::zeros(ctx.own.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn sends_zeros() {
        let v = view_with(vec![array![5.0, 5.0]]);
        assert_eq!(
            attack_once(&mut Zero, &v, &array![1.0, -2.0]),
            Some(array![0.0, 0.0])
        );
    }
}
