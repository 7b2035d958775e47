//! `label_flip`: Byzantine machines train on flipped labels (Allen-Zhu et al. 2021, Section 5,
//! "label flipping": labels `l -> 9 - l` on CIFAR-10's ten classes).
//!
//! Each Byzantine machine draws its minibatch from its own shard and stream exactly as an honest
//! machine in its place would ([`crate::problem::Problem::flipped_gradient`] makes the same draws
//! as `stochastic_gradient`), then sends the gradient of that batch with every label `l` replaced
//! by `C - 1 - l` (`C` the number of classes). With worker momentum it sends its momentum buffer
//! of flipped gradients, as an honest machine sends its buffer. Before `from_round` it is honest.
//! Needs a classification problem (`logistic`, `softmax`, `mlp`): refused otherwise.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::problem::Problem;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::rng::SimRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `label_flip`: each Byzantine machine sends the gradient of its own minibatch with every label
/// l replaced by C - 1 - l (the paper's label flipping). Needs a classification problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelFlipParams {}

impl Params for LabelFlipParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        match ctx.problem.and_then(|p| p.classes) {
            Some(_) => Ok(()),
            None => Err(ParamError::new(
                "kind",
                "label_flip needs a classification problem (labels to flip): use `logistic`, `softmax` or `mlp`",
            )),
        }
    }
}

impl AttackKind for LabelFlipParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        Ok(Adversaries::each(|_| LabelFlip))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::OwnGradient, Dependency::Problem]
    }
}

/// Label flipping: its own gradient is computed on flipped labels, and sent as is.
#[derive(Debug, Clone, Default)]
pub struct LabelFlip;

impl Adversary for LabelFlip {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(ctx.own.clone())
    }
    fn own_gradient(
        &mut self,
        problem: &dyn Problem,
        params: &Vector,
        id: usize,
        rng: &mut SimRng,
    ) -> Vector {
        match problem.flipped_gradient(params, id, rng) {
            Some(g) => g,
            // Unreachable after the check (the problem has classes); stay honest.
            None => problem.stochastic_gradient(params, id, rng),
        }
    }
}
