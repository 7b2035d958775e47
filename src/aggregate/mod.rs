//! Aggregation rules: how the master turns the round's gradients into one update direction.
//!
//! One trait, [`Aggregator`], fits stateless rules (mean) and stateful ones (SafeguardSGD, which
//! keeps windowed sums and expels machines). Each round it receives the gradients of the machines
//! still in the good set, ordered by worker id, and returns the update direction and any machines
//! to expel. Expulsion is permanent: the coordinator never queries an expelled machine again.

pub mod safeguard;

use crate::linalg::{Vector, mean};

pub use safeguard::{Safeguard, SafeguardConfig, Thresholds, Variant};

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

/// The aggregator's public state, shown to Byzantine machines (omniscient model: they know the
/// defense and its thresholds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicState {
    /// Current selection threshold of the long window, if the rule has one.
    pub threshold_long: Option<f64>,
    /// Current selection threshold of the short window, if the rule has one.
    pub threshold_short: Option<f64>,
    /// Window lengths `(T1, T0)` in rounds, if the rule has windows (`T1` absent for the single
    /// safeguard).
    pub window_long: Option<u64>,
    /// Short window length `T0`.
    pub window_short: Option<u64>,
    /// Rounds already accumulated in the current long / short window before this round.
    pub position_long: Option<u64>,
    /// Rounds already accumulated in the current short window before this round.
    pub position_short: Option<u64>,
}

/// An aggregation rule.
pub trait Aggregator: Send {
    /// Name, as in the scenario's `kind`.
    fn name(&self) -> &str;
    /// Aggregate one round. Called once per round with the round's inputs ordered by worker id.
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate;
    /// The public state Byzantine machines may read before this round.
    fn public_state(&self) -> PublicState {
        PublicState::default()
    }
}

/// The plain mean of the valid gradients: no defense.
#[derive(Debug, Clone, Default)]
pub struct Mean;

impl Aggregator for Mean {
    fn name(&self) -> &str {
        "mean"
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        Aggregate::direction(mean(input.valid().map(|(_, g)| g), input.dim()))
    }
}

/// The mean of the honest gradients only: the ideal line a defense is compared with (the
/// "ideal" baseline of Allen-Zhu et al. 2021, Table 1). Not a real defense: it is told who is
/// honest.
#[derive(Debug, Clone, Default)]
pub struct Oracle;

impl Aggregator for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        Aggregate::direction(input.honest_mean.clone())
    }
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
