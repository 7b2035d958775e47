//! A new attack in a user's crate, registered by name and run from a scenario file:
//! `cargo run --release --example custom_adversary -- run scenarios/custom_adversary.json`.
//! The binary has every command of `safeguard-sim` (run, validate, plot, list, schema).
use safeguard_sim::prelude::*;

/// `safeguard_edge`: every Byzantine machine sends the honest mean plus one constant bias along
/// (1, ..., 1)/sqrt(d), sized from the safeguard's public thresholds so that, over a whole window,
/// it moves a machine's windowed sum by `margin` x the expulsion radius (2 x threshold) at most.
/// Without windows (e.g. `mean`) the bias has norm 1.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeParams {
    /// The share of the expulsion radius the bias may use over a window, in (0, 1).
    pub margin: f64,
}
impl Params for EdgeParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        let ok = self.margin > 0.0 && self.margin < 1.0;
        ok.then_some(())
            .ok_or_else(|| ParamError::new("margin", "expected a number in (0, 1)"))
    }
}
impl AttackKind for EdgeParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let margin = self.margin;
        Ok(Adversaries::each(move |_id| {
            adversary_fn(move |ctx: &mut AttackContext<'_>| {
                let (state, view) = (&ctx.view.aggregator, ctx.view);
                let good = state.good.unwrap_or(view.good) as f64;
                // A bias b moves a windowed sum by |b| / |good| a round, T |b| / |good| a window.
                let size = (state.windows.iter())
                    .map(|w| margin * 2.0 * w.threshold * good / w.length as f64)
                    .reduce(f64::min);
                Some(view.honest_mean() + size.unwrap_or(1.0) / (view.dim() as f64).sqrt())
            })
        }))
    }
}
/// The built-in kinds plus `safeguard_edge`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.add_attack::<EdgeParams>("safeguard_edge");
    registry
}
fn main() -> std::process::ExitCode {
    safeguard_sim::cli::main_with(registry())
}
