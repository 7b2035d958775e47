//! A new aggregation rule in a user's crate, registered by name and run from a scenario file:
//! `cargo run --release --example custom_defense -- run scenarios/custom_defense.json`.
use safeguard_sim::prelude::*;

/// `smallest_norms`: the mean of the n - k vectors of smallest norm (ties by worker id). A crude
/// filter against large Byzantine vectors; it cannot expel. Cost: O(n d + n log n).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmallestNormsParams {
    /// `k`, the vectors to drop each round; default: the scenario's Byzantine count.
    #[serde(default)]
    pub drop: Option<usize>,
}
impl Params for SmallestNormsParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let k = *self.drop.get_or_insert(ctx.setting.byzantine);
        let ok = k < ctx.setting.machines();
        ok.then_some(())
            .ok_or_else(|| ParamError::new("drop", "must leave a vector"))
    }
}
impl AggregatorKind for SmallestNormsParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(SmallestNorms(self.drop.unwrap_or(0))))
    }
}
/// The rule: keeps no state between rounds.
pub struct SmallestNorms(usize);
impl Aggregator for SmallestNorms {
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        // Stable sort of the id-ordered vectors: ties keep id order (deterministic).
        let mut valid: Vec<&Vector> = input.valid().map(|(_, g)| g).collect();
        valid.sort_by(|a, b| a.dot(*a).total_cmp(&b.dot(*b)));
        let keep = &valid[..valid.len().saturating_sub(self.0).max(valid.len().min(1))];
        let sum = keep.iter().fold(Vector::zeros(input.dim()), |s, g| s + *g);
        Aggregate::direction(sum / keep.len().max(1) as f64)
    }
}
/// The built-in kinds plus `smallest_norms`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.add_aggregator::<SmallestNormsParams>("smallest_norms");
    registry
}
fn main() -> std::process::ExitCode {
    safeguard_sim::cli::main_with(registry())
}
