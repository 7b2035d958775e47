//! Aggregation rules: how the master turns the round's gradients into one update direction.
//!
//! One trait, [`Aggregator`], fits stateless rules (mean) and stateful ones (SafeguardSGD, which
//! keeps windowed sums and expels machines). Each round it receives the gradients of the machines
//! still in the good set, ordered by worker id, and returns the update direction and any machines
//! to expel. Expulsion is permanent: the coordinator never queries an expelled machine again.
//!
//! An aggregator *kind* is a parameter type implementing [`AggregatorKind`]; every aggregator
//! object in a scenario may also list pre-aggregators in `pre` ([`PreAggregatorKind`], applied in
//! order to the round's vectors before the rule, e.g. nearest-neighbour mixing). The built-in
//! kinds live one per file and are registered by [`register_builtins`].

pub mod mean;
pub mod oracle;
pub mod safeguard;

use crate::linalg::Vector;
use crate::registry::{BuildContext, DynParams, Params, Registry};

pub use mean::{Mean, MeanParams};
pub use oracle::{Oracle, OracleParams};
pub use safeguard::{Safeguard, SafeguardConfig, SafeguardParams, Thresholds, Variant};

/// What an aggregator sees in one round.
#[derive(Debug, Clone, Copy)]
pub struct RoundInput<'a> {
    /// Round number, starting at 1.
    pub round: u64,
    /// The current parameters `x_{t-1}`.
    pub params: &'a Vector,
    /// `m`, the number of machines at the start of the run.
    pub machines: usize,
    /// Ids of the machines in the good set this round (queried), ascending.
    pub workers: &'a [usize],
    /// One entry per `workers` entry: the machine's gradient, or `None` when it sent nothing
    /// valid this round (silence, crash, timeout, NaN or wrong length; the coordinator records
    /// the fault). Every `Some` vector is finite and of the right length.
    pub gradients: &'a [Option<Vector>],
    /// Mean of this round's honest gradients. Only the `oracle` rule may use it: a real defense
    /// cannot tell honest from Byzantine machines.
    pub honest_mean: &'a Vector,
}

impl RoundInput<'_> {
    /// The valid gradients with their worker ids, in id order.
    pub fn valid(&self) -> impl Iterator<Item = (usize, &Vector)> + '_ {
        self.workers
            .iter()
            .zip(self.gradients.iter())
            .filter_map(|(&w, g)| g.as_ref().map(|g| (w, g)))
    }
    /// Dimension of the parameter vector.
    pub fn dim(&self) -> usize {
        self.params.len()
    }
}

/// A machine the aggregator expels, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Expulsion {
    /// Worker id.
    pub worker: usize,
    /// Why, e.g. `window_long`, `window_short`, `no_valid_gradient`.
    pub reason: String,
}

/// One machine's distance to the reference vector in one window (safeguard diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDistance {
    /// Worker id.
    pub worker: usize,
    /// `long` (window A, length T1) or `short` (window B, length T0).
    pub window: &'static str,
    /// `||A_i - A_ref||` (or the B analogue).
    pub distance: f64,
    /// The selection threshold of that window this round (expulsion happens above twice this).
    pub threshold: f64,
}

/// The result of one aggregation.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The update direction (the step is `x <- x - lr * (xi + direction)`).
    pub direction: Vector,
    /// Machines to expel after this round.
    pub expel: Vec<Expulsion>,
    /// True when no machine qualified as reference in some window this round (safeguard).
    pub no_reference: bool,
    /// Per-machine window distances (safeguard only; empty otherwise).
    pub distances: Vec<WindowDistance>,
}

impl Aggregate {
    /// A plain direction with no expulsions or diagnostics.
    pub fn direction(direction: Vector) -> Self {
        Aggregate {
            direction,
            expel: Vec::new(),
            no_reference: false,
            distances: Vec::new(),
        }
    }
}

/// The aggregator's public state, shown to Byzantine machines before each round: what the
/// omniscient adversary of Allen-Zhu et al. (2021, Remark 2.2) knows of the defense.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicState {
    /// `|good_t|`: the size of the rule's good set before this round (rules that expel), which
    /// is also the divisor of this round's window contributions.
    pub good: Option<usize>,
    /// The rule's windows (SafeguardSGD: `long` (A, length T1) then `short` (B, length T0); the
    /// single safeguard has `short` only). Empty for rules without windows.
    pub windows: Vec<WindowState>,
}

impl PublicState {
    /// The window named `name` (`long` or `short`).
    pub fn window(&self, name: &str) -> Option<&WindowState> {
        self.windows.iter().find(|w| w.name == name)
    }
}

/// One safeguard window as the adversary sees it before a round.
///
/// Each machine's windowed sum is `sum_{k=last..t} grad_{k,i} / |good_k|`, each gradient divided
/// by the good-set size *when it arrived*. The sums *tumble*: when `position` is 0 this round
/// starts a new window and every sum restarts from zero. A machine is expelled when its sum lies
/// farther than `2 * threshold` (strictly) from the reference machine's sum.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowState {
    /// `long` or `short`.
    pub name: &'static str,
    /// Length in rounds (`T1` or `T0`).
    pub length: u64,
    /// Rounds already accumulated in the current window before this round; 0 means this
    /// round's gradients start a new window.
    pub position: u64,
    /// The selection threshold `Th` this round, at the current `|good|`.
    pub threshold: f64,
    /// `true` when the threshold is `c / |good_t|` (the `theory` and `calibrate` modes: it grows
    /// as machines are expelled); `false` for `fixed` thresholds.
    pub scales_with_good: bool,
    /// The reference machine of the last round (whose own windowed sum more than `m/2`
    /// machines lay within `threshold` of), if there was one.
    pub reference: Option<usize>,
    /// Last round's distance of every good machine's windowed sum to the reference's, by id.
    pub distances: Vec<(usize, f64)>,
}

/// An aggregation rule.
pub trait Aggregator: Send {
    /// Aggregate one round. Called once per round with the round's inputs ordered by worker id.
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate;
    /// The public state Byzantine machines may read before this round.
    fn public_state(&self) -> PublicState {
        PublicState::default()
    }
    /// Facts about the rule fixed at the start of the run, for the `thresholds` object of
    /// summary.json (e.g. the safeguard's thresholds and what its calibration measured).
    fn thresholds(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// A pre-aggregation step (Allouah et al. 2023's nearest-neighbour mixing, Karimireddy et al.
/// 2022's bucketing, ...): turns the round's vectors into the vectors a rule aggregates.
pub trait PreAggregator: Send {
    /// The round's valid vectors, in worker-id order, in; the vectors to aggregate out.
    fn apply(&mut self, vectors: Vec<Vector>) -> Vec<Vector>;
}

/// An aggregator kind: its parameter type and how it is built.
pub trait AggregatorKind: Params {
    /// Build the rule.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String>;
    /// Whether pre-aggregators may come before it (`false` for rules that need each machine's
    /// own vector, such as the safeguard).
    fn accepts_pre(&self) -> bool {
        true
    }
}

/// A pre-aggregator kind.
pub trait PreAggregatorKind: Params {
    /// Build the step.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String>;
}

/// The object-safe form of [`AggregatorKind`] the registry stores.
pub trait DynAggregator: DynParams {
    /// [`AggregatorKind::build`].
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String>;
    /// [`AggregatorKind::accepts_pre`].
    fn accepts_pre_dyn(&self) -> bool;
}

impl<P: AggregatorKind> DynAggregator for P {
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        self.build(ctx)
    }
    fn accepts_pre_dyn(&self) -> bool {
        self.accepts_pre()
    }
}

/// The object-safe form of [`PreAggregatorKind`] the registry stores.
pub trait DynPreAggregator: DynParams {
    /// [`PreAggregatorKind::build`].
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String>;
}

impl<P: PreAggregatorKind> DynPreAggregator for P {
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String> {
        self.build(ctx)
    }
}

/// A rule with pre-aggregators in front. The rule sees the pre-aggregated vectors as machines
/// `0..k` of a round of `k` machines; it cannot expel (the vectors no longer belong to one
/// machine each), and its diagnostics refer to those positions.
pub struct Composed {
    pre: Vec<Box<dyn PreAggregator>>,
    rule: Box<dyn Aggregator>,
}

impl Composed {
    /// `rule` after `pre` (applied in order).
    pub fn new(pre: Vec<Box<dyn PreAggregator>>, rule: Box<dyn Aggregator>) -> Self {
        Composed { pre, rule }
    }
}

impl Aggregator for Composed {
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let mut vectors: Vec<Vector> = input.valid().map(|(_, g)| g.clone()).collect();
        for p in &mut self.pre {
            vectors = p.apply(vectors);
        }
        let workers: Vec<usize> = (0..vectors.len()).collect();
        let gradients: Vec<Option<Vector>> = vectors.into_iter().map(Some).collect();
        let mut out = self.rule.aggregate(&RoundInput {
            machines: workers.len(),
            workers: &workers,
            gradients: &gradients,
            ..*input
        });
        out.expel.clear();
        out
    }
    fn public_state(&self) -> PublicState {
        self.rule.public_state()
    }
    fn thresholds(&self) -> Vec<(String, f64)> {
        self.rule.thresholds()
    }
}

/// Register the built-in aggregator and pre-aggregator kinds.
pub fn register_builtins(registry: &mut Registry) {
    registry
        .add_aggregator::<MeanParams>("mean")
        .add_aggregator::<OracleParams>("oracle")
        .add_aggregator::<SafeguardParams>("safeguard");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn mean_skips_missing_and_oracle_uses_honest_mean() {
        let params = array![0.0, 0.0];
        let honest = array![9.0, 9.0];
        let grads = vec![Some(array![1.0, 2.0]), None, Some(array![3.0, 4.0])];
        let input = RoundInput {
            round: 1,
            params: &params,
            machines: 3,
            workers: &[0, 1, 2],
            gradients: &grads,
            honest_mean: &honest,
        };
        assert_eq!(Mean.aggregate(&input).direction, array![2.0, 3.0]);
        assert_eq!(Oracle.aggregate(&input).direction, honest);
    }
}
