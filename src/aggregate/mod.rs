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
pub use safeguard::{Filter, Safeguard, SafeguardConfig, SafeguardParams, Thresholds, Variant};

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

/// A vector the rule left out of this round's step (the safeguard's per-round filter), though
/// its machine stays in the good set.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    /// Worker id.
    pub worker: usize,
    /// How many of the round's vectors (itself included) lay within `radius` of it: not more than
    /// half of them.
    pub neighbours: usize,
    /// The filter's radius this round (`2V`).
    pub radius: f64,
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
    /// Vectors left out of this round's step (safeguard's filter; empty otherwise).
    pub dropped: Vec<Dropped>,
    /// Expulsions the rule's guard withheld this round, with the reason they would have had: the
    /// machines stay good (safeguard; empty otherwise).
    pub withheld: Vec<Expulsion>,
}

impl Aggregate {
    /// A plain direction with no expulsions or diagnostics.
    pub fn direction(direction: Vector) -> Self {
        Aggregate {
            direction,
            expel: Vec::new(),
            no_reference: false,
            distances: Vec::new(),
            dropped: Vec::new(),
            withheld: Vec::new(),
        }
    }
}

/// Where a rule's per-round filter takes its radius from, for summary.json.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilterInfo {
    /// `noise_bound` (the safeguard's `noise_bound` or the problem's), `oracle_pre_run` (the
    /// largest distance between two honest gradients of a round in the pre-run),
    /// `per_round_estimate` (from each round's own vectors) or `given` (a library caller's
    /// radius).
    pub radius_source: String,
    /// `V`, when the radius is `2V` for a known `V`.
    pub noise_bound: Option<f64>,
    /// The radius (`2V`), when fixed for the run.
    pub radius: Option<f64>,
}

/// Facts about a rule fixed at the start of the run, for summary.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleInfo {
    /// The rule's per-round filter of vectors, if it has one.
    pub filter: Option<FilterInfo>,
    /// The rule never lets its own expulsions leave `m/2` machines or fewer in its good set.
    pub guard: bool,
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
    /// The radius of the rule's per-round filter (the safeguard's `2V`): a vector with no more
    /// than half of the round's vectors within it is left out of the step. `None` without a filter
    /// or when the radius is estimated from each round.
    pub filter_radius: Option<f64>,
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
    /// The selection threshold `Th` this round, at the current `|good|` (infinite while an
    /// `adaptive` window waits for its first measurement: it expels nobody).
    pub threshold: f64,
    /// `true` when the threshold is `c / |good_t|` (the `theory`, `oracle_pre_run` and
    /// `adaptive` modes: it grows as machines are expelled); `false` for `fixed` and `paper`
    /// thresholds.
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
    /// A copy of the rule in its current state, if it can make one (the default: `None`).
    /// What-if evaluations ([`crate::registry::BuildContext::aggregator`]) copy a pristine
    /// instance instead of building a new one, which matters when building is expensive.
    fn boxed_clone(&self) -> Option<Box<dyn Aggregator>> {
        None
    }
    /// Facts about the rule fixed at the start of the run (its filter, its guard), for
    /// summary.json.
    fn info(&self) -> RuleInfo {
        RuleInfo::default()
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
        out.withheld.clear();
        out.dropped.clear();
        out
    }
    fn public_state(&self) -> PublicState {
        self.rule.public_state()
    }
    fn thresholds(&self) -> Vec<(String, f64)> {
        self.rule.thresholds()
    }
    fn info(&self) -> RuleInfo {
        self.rule.info()
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
