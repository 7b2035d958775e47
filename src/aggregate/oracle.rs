//! `oracle`: the ideal line, the mean of the honest gradients only.

use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::registry::{BuildContext, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `oracle`: mean of the honest gradients only, the "ideal" baseline of Allen-Zhu et al. 2021
/// (Table 1). Not a real defense: it is told who is honest. Cost: O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleParams {}

impl Params for OracleParams {}

impl AggregatorKind for OracleParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Oracle))
    }
    fn accepts_pre(&self) -> bool {
        false
    }
    fn one_shot(&self) -> Result<(), String> {
        Err("the oracle averages the honest vectors, and a set of vectors on its own does not say which are honest; average them with `mean` instead".into())
    }
}

/// The mean of the honest gradients only: the ideal line a defense is compared with.
#[derive(Debug, Clone, Default)]
pub struct Oracle;

impl Aggregator for Oracle {
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        Aggregate::direction(input.honest_mean.clone())
    }
    fn boxed_clone(&self) -> Option<Box<dyn Aggregator>> {
        Some(Box::new(self.clone()))
    }
}
