//! `mean`: the plain average, no defense.

use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::mean;
use crate::registry::{BuildContext, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `mean`: plain mean of the round's vectors, `(1/n) sum x_i`: no defense. Cost: O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeanParams {}

impl Params for MeanParams {}

impl AggregatorKind for MeanParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Mean))
    }
}

/// The plain mean of the valid gradients: no defense.
#[derive(Debug, Clone, Default)]
pub struct Mean;

impl Aggregator for Mean {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        Aggregate::direction(mean(input.valid().map(|(_, g)| g), input.dim()))
    }
    fn boxed_clone(&self) -> Option<Box<dyn Aggregator>> {
        Some(Box::new(self.clone()))
    }
}
