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
//! kinds live one per file and are registered by [`register_builtins`]:
//!
//! | kind | rule | paper |
//! |---|---|---|
//! | `mean` | plain mean, no defense | |
//! | `oracle` | mean of the honest vectors (the ideal line) | |
//! | `safeguard` | SafeguardSGD, windows and expulsion | Allen-Zhu et al. 2021 |
//! | `median` | coordinate-wise median | Yin et al. 2018 |
//! | `trimmed_mean` | coordinate-wise trimmed mean | Yin et al. 2018 |
//! | `krum`, `multi_krum` | smallest sums of squared distances to the nearest neighbours | Blanchard et al. 2017 |
//! | `geometric_median` | smoothed Weiszfeld | Pillutla et al. 2022 (RFA) |
//! | `bulyan` | iterated Krum, then a coordinate-wise trimmed average | El Mhamdi et al. 2018 |
//! | `centered_clipping` | clipped steps from last round's aggregate | Karimireddy et al. 2021 |
//! | pre `nnm` | nearest-neighbour mixing | Allouah et al. 2023 |
//! | pre `bucketing` | means of random buckets | Karimireddy et al. 2022 |
//!
//! Robust rules take `f`, the number of Byzantine inputs they assume; it defaults to the
//! scenario's Byzantine count ([`preconditions::resolve_f`]). A rule's precondition (Krum's
//! `n >= 2f + 3`, ...) is checked when the scenario is, unless the rule says `"unchecked": true`;
//! past it, and whenever fewer vectors arrive than planned, each rule does what its docs say
//! (it clamps its counts), never panics. [`apply`] runs any rule once on given vectors, as
//! `safeguard-sim aggregate` does. The numerical kernels are in [`kernel`].

pub mod apply;
pub mod bucketing;
pub mod bulyan;
pub mod centered_clipping;
pub mod geometric_median;
pub mod kernel;
pub mod krum;
pub mod mean;
pub mod median;
pub mod multi_krum;
pub mod nnm;
pub mod oracle;
pub mod preconditions;
pub mod safeguard;
pub mod trimmed_mean;
pub mod zeno;

use crate::linalg::Vector;
use crate::registry::{BuildContext, DynParams, Params, Registry};

pub use apply::{AggregateInputError, OneShot, aggregate_vectors};
pub use bucketing::{Bucketing, BucketingParams};
pub use bulyan::{Bulyan, BulyanParams};
pub use centered_clipping::{CenteredClipping, CenteredClippingParams};
pub use geometric_median::{GeometricMedian, GeometricMedianParams};
pub use kernel::krum_scores::Neighbours;
pub use krum::{Krum, KrumParams};
pub use mean::{Mean, MeanParams};
pub use median::{Median, MedianParams};
pub use multi_krum::{MultiKrum, MultiKrumParams};
pub use nnm::{Nnm, NnmParams};
pub use oracle::{Oracle, OracleParams};
pub use safeguard::{Filter, Safeguard, SafeguardConfig, SafeguardParams, Thresholds, Variant};
pub use trimmed_mean::{TrimmedMean, TrimmedMeanParams};
pub use zeno::{Zeno, ZenoParams};

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
    /// cannot tell honest from Byzantine machines. Empty on rounds that are not evaluated when
    /// the rule says it does not read it ([`Aggregator::reads_honest_mean`]).
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
    /// Worker ids whose vectors the rule kept (Krum: the one it returns; Multi-Krum: the `q` it
    /// averages; Bulyan: the `theta` its first phase selects, in selection order), for rules
    /// that select.
    pub selected: Option<Vec<usize>>,
    /// Per-worker scores `(worker id, score)` in id order, for rules that score (Krum and
    /// Multi-Krum: sum of squared distances to the nearest neighbours; Bulyan: those of its
    /// first selection).
    pub scores: Option<Vec<(usize, f64)>>,
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
            selected: None,
            scores: None,
        }
    }

    /// A direction with selection diagnostics given by position among the round's vectors,
    /// whose worker ids are `ids`: `selected` positions and one score per position.
    pub fn with_selection(
        direction: Vector,
        ids: &[usize],
        selected: &[usize],
        scores: &[f64],
    ) -> Self {
        let mut out = Aggregate::direction(direction);
        out.selected = Some(
            selected
                .iter()
                .filter_map(|&p| ids.get(p).copied())
                .collect(),
        );
        out.scores = Some(ids.iter().copied().zip(scores.iter().copied()).collect());
        out
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
    /// Whether the rule reads [`RoundInput::honest_mean`]. The default, `true`, is the safe
    /// answer for a rule written elsewhere. A rule that answers `false` finds an empty vector
    /// there on rounds that are not evaluated, which spares the coordinator a pass over the
    /// round's honest vectors; of the built-in rules only `oracle` reads it.
    fn reads_honest_mean(&self) -> bool {
        true
    }
}

/// A pre-aggregation step (Allouah et al. 2023's nearest-neighbour mixing, Karimireddy et al.
/// 2022's bucketing, ...): turns the round's vectors into the vectors a rule aggregates.
pub trait PreAggregator: Send {
    /// The round's valid vectors, in worker-id order, in; the vectors to aggregate out. Every
    /// input is finite and of the parameter dimension; the outputs must be too. An empty input
    /// (every machine silent) must give an empty output.
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
    /// Whether the rule means something applied once to given vectors, outside a run (the
    /// `aggregate` command, [`apply::aggregate_vectors`]): `Err(why)` refuses. Stateful rules
    /// either define their first round as the one-shot meaning (`centered_clipping`) or refuse
    /// (`safeguard`, whose windows span many rounds; `oracle`, which is told who is honest).
    fn one_shot(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether the rule publishes windows in its public state ([`PublicState::windows`]; the
    /// default: no). A white-box attack that sizes itself from them (`threshold_aware` without
    /// `bias`) is refused when the scenario is checked if the rule says it publishes none, so
    /// a rule of your own with windows should say yes here.
    fn publishes_windows(&self) -> bool {
        false
    }
}

/// A pre-aggregator kind.
pub trait PreAggregatorKind: Params {
    /// Build the step.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String>;
    /// How many vectors the step outputs for `inputs` vectors in (the default: as many). The
    /// scenario checks the rule after it against this count ([`crate::registry::CheckContext::inputs`]).
    fn output_count(&self, inputs: usize) -> usize {
        inputs
    }
}

/// The object-safe form of [`AggregatorKind`] the registry stores.
pub trait DynAggregator: DynParams {
    /// [`AggregatorKind::build`].
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String>;
    /// [`AggregatorKind::accepts_pre`].
    fn accepts_pre_dyn(&self) -> bool;
    /// [`AggregatorKind::one_shot`].
    fn one_shot_dyn(&self) -> Result<(), String>;
    /// [`AggregatorKind::publishes_windows`].
    fn publishes_windows_dyn(&self) -> bool;
}

impl<P: AggregatorKind> DynAggregator for P {
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        self.build(ctx)
    }
    fn accepts_pre_dyn(&self) -> bool {
        self.accepts_pre()
    }
    fn one_shot_dyn(&self) -> Result<(), String> {
        self.one_shot()
    }
    fn publishes_windows_dyn(&self) -> bool {
        self.publishes_windows()
    }
}

/// The object-safe form of [`PreAggregatorKind`] the registry stores.
pub trait DynPreAggregator: DynParams {
    /// [`PreAggregatorKind::build`].
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String>;
    /// [`PreAggregatorKind::output_count`].
    fn output_count_dyn(&self, inputs: usize) -> usize;
}

impl<P: PreAggregatorKind> DynPreAggregator for P {
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String> {
        self.build(ctx)
    }
    fn output_count_dyn(&self, inputs: usize) -> usize {
        self.output_count(inputs)
    }
}

/// A rule with pre-aggregators in front.
///
/// Semantics, chosen where the papers are silent:
/// - The pre-aggregators get the round's valid vectors in worker-id order and apply in the order
///   listed. The rule sees their outputs as machines `0..k` of a round of `k` machines.
/// - **No expulsion.** A pre-aggregated vector no longer belongs to one machine (a bucket mean, a
///   mix of neighbours), so the rule cannot expel: any expulsion it returns is dropped. Rules
///   that need each machine's own vector declare it ([`AggregatorKind::accepts_pre`] is false
///   for the safeguard and the oracle) and a scenario that puts `pre` before them is rejected.
/// - **No selection diagnostics.** `selected` and `scores` would name positions among the
///   pre-aggregated vectors, not machines, so they are dropped too.
/// - **`f` after pre-aggregation.** A rule's `f` counts the Byzantine vectors *it* receives.
///   Nearest-neighbour mixing keeps `n` vectors, and the same `f` is what Allouah et al. (2023)
///   use for the rule after it. Bucketing makes `ceil(n / s)` vectors, of which at most `f` hold
///   a Byzantine input (one per Byzantine machine at worst): `f` stays, `n` shrinks, and the rule's
///   precondition is checked against `ceil(n / s)` ([`crate::registry::CheckContext::inputs`]).
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
        out.selected = None;
        out.scores = None;
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
    fn reads_honest_mean(&self) -> bool {
        self.rule.reads_honest_mean()
    }
}

/// Register the built-in aggregator and pre-aggregator kinds.
pub fn register_builtins(registry: &mut Registry) {
    registry
        .add_aggregator::<MeanParams>("mean")
        .add_aggregator::<OracleParams>("oracle")
        .add_aggregator::<SafeguardParams>("safeguard")
        .add_aggregator::<MedianParams>("median")
        .add_aggregator::<TrimmedMeanParams>("trimmed_mean")
        .add_aggregator::<KrumParams>("krum")
        .add_aggregator::<MultiKrumParams>("multi_krum")
        .add_aggregator::<GeometricMedianParams>("geometric_median")
        .add_aggregator::<BulyanParams>("bulyan")
        .add_aggregator::<CenteredClippingParams>("centered_clipping")
        .add_aggregator::<ZenoParams>("zeno")
        .add_pre_aggregator::<NnmParams>("nnm")
        .add_pre_aggregator::<BucketingParams>("bucketing");
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
