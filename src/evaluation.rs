//! Evaluation of the iterate: when the coordinator computes the loss, the true gradient's norm and
//! the problem's metrics, and the second-order metric (the smallest Hessian eigenvalue,
//! `min_eig`) with the final `(eps, sqrt(eps))`-approximate local minimum test of SafeguardSGD's
//! Theorem 2.3 (Allen-Zhu et al., ICLR 2021).
//!
//! **When.** Evaluating can cost far more than a round: for the 64-64-10 MLP on digits the loss,
//! gradient and test metrics take about 2.3 ms, against 0.31 ms for a round of 10 machines. So
//! the coordinator evaluates only the rounds that rounds.csv records: every `eval_every` rounds
//! and the last round run, whether the run completes, diverges or is interrupted (see
//! [`EvaluationPlan`]). The other rounds' events carry `NaN` for the loss and gradient norm and
//! no metrics ([`crate::actors::RoundEvent::evaluated`] is false). The divergence check on
//! `||x||` runs every round; the one on a non-finite loss runs on evaluated rounds.
//!
//! **Second order.** With the scenario's `evaluation` object ([`EvaluationSpec`]), `min_eig` is
//! computed by [`crate::problem::hessian::min_eigenvalue`] (Lanczos on Hessian-vector products,
//! `lanczos_steps` steps, the start vector of the run's seed) at the initial point, every
//! `min_eig_every` rounds, and at the last round, and written as the `min_eig` column of
//! rounds.csv (empty on the other rows). The summary's `second_order` reports whether the final
//! iterate is an `(eps, sqrt(eps))`-approximate local minimum: `||grad f|| <= eps` and
//! `min_eig >= -sqrt(eps)`. A Lanczos estimate with fewer steps than `d` can only overestimate
//! the smallest eigenvalue, so a "yes" is as good as the estimate's convergence; more steps make
//! it surer. Cost: `lanczos_steps` Hessian-vector products (two gradients each where the problem
//! has no exact product, e.g. the MLP), so compute it every few hundred rounds, not every row.

use crate::linalg::{Vector, norm};
use crate::problem::Problem;
use crate::problem::hessian::{MAX_STEPS, min_eigenvalue};
use crate::registry::ParamError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The scenario's `evaluation` object: the second-order metric. Absent: no `min_eig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSpec {
    /// Compute `min_eig` (the smallest Hessian eigenvalue) every this many rounds, a multiple of
    /// `eval_every` so that each value lands on a row of rounds.csv; it is always computed at the
    /// initial point and at the last round. 0: only there.
    pub min_eig_every: u64,
    /// Lanczos steps per estimate (1 to 1000; with `d` or more the estimate is exact).
    pub lanczos_steps: usize,
    /// The `eps` of the final `(eps, sqrt(eps))`-approximate local minimum test in summary.json:
    /// `||grad f|| <= eps` and `min_eig >= -sqrt(eps)`.
    pub eps: f64,
}

impl Default for EvaluationSpec {
    fn default() -> Self {
        EvaluationSpec {
            min_eig_every: 0,
            lanczos_steps: 30,
            eps: 0.01,
        }
    }
}

impl EvaluationSpec {
    /// Check the values against the scenario's `eval_every`; paths are relative to the
    /// `evaluation` object.
    pub fn check(&self, eval_every: u64) -> Result<(), ParamError> {
        if !self.min_eig_every.is_multiple_of(eval_every) {
            return Err(ParamError::new(
                "min_eig_every",
                format!(
                    "expected a multiple of eval_every ({eval_every}), so that every value lands on a row of rounds.csv; got {}",
                    self.min_eig_every
                ),
            ));
        }
        if !(1..=MAX_STEPS).contains(&self.lanczos_steps) {
            return Err(ParamError::new(
                "lanczos_steps",
                format!("expected 1 to {MAX_STEPS}, got {}", self.lanczos_steps),
            ));
        }
        ParamError::require_positive("eps", self.eps, false)
    }
}

/// When `min_eig` is computed and how (from a checked [`EvaluationSpec`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondOrderPlan {
    /// Every this many rounds (0: only at the start and the end).
    pub every: u64,
    /// Lanczos steps.
    pub lanczos_steps: usize,
    /// The local-minimum test's `eps`.
    pub eps: f64,
    /// The seed of the Lanczos start vector (the run's seed).
    pub seed: u64,
}

/// When the coordinator evaluates the iterate, and what it computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluationPlan {
    /// Evaluate every this many rounds (rounds.csv gets a row on these rounds).
    pub eval_every: u64,
    /// Rounds planned (the last one is always evaluated).
    pub rounds: u64,
    /// The second-order metric, when asked for.
    pub second_order: Option<SecondOrderPlan>,
}

/// The figures of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `f(x)`.
    pub loss: f64,
    /// `||grad f(x)||`.
    pub grad_norm: f64,
    /// The problem's metrics ([`Problem::metrics`]), then `min_eig` when computed.
    pub metrics: Vec<(&'static str, f64)>,
}

impl EvaluationPlan {
    /// Every round evaluated, no second-order metric: the plan of a run that records every round.
    pub fn every_round(rounds: u64) -> Self {
        EvaluationPlan {
            eval_every: 1,
            rounds,
            second_order: None,
        }
    }

    /// Whether round `round` is on the schedule: a multiple of `eval_every`, or the last planned
    /// round. (A run that stops early also evaluates its last round.)
    pub fn scheduled(&self, round: u64) -> bool {
        round.is_multiple_of(self.eval_every.max(1)) || round == self.rounds
    }

    /// Whether `min_eig` is computed at round `round` (0: the initial point); `last` when it is
    /// the last round the run makes.
    pub fn second_order_due(&self, round: u64, last: bool) -> bool {
        self.second_order
            .is_some_and(|s| round == 0 || last || (s.every > 0 && round.is_multiple_of(s.every)))
    }

    /// Evaluate `problem` at `x` after round `round` (0: the initial point); `last` when it is
    /// the run's last round.
    pub fn evaluate(
        &self,
        problem: &dyn Problem,
        x: &Vector,
        round: u64,
        last: bool,
    ) -> Evaluation {
        let (loss, gradient) = problem.loss_and_gradient(x);
        let grad_norm = norm(&gradient);
        let mut metrics = problem.metrics(x);
        if let Some(s) = self
            .second_order
            .filter(|_| self.second_order_due(round, last))
        {
            // The plan is checked (steps in range) and x has the problem's dimension; a failure
            // can only come from a non-finite iterate, reported as NaN.
            let min_eig = min_eigenvalue(problem, x, s.lanczos_steps, s.seed).unwrap_or(f64::NAN);
            metrics.push(("min_eig", min_eig));
        }
        Evaluation {
            loss,
            grad_norm,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{Noise, Saddle};

    fn plan(every: u64) -> EvaluationPlan {
        EvaluationPlan {
            eval_every: 5,
            rounds: 23,
            second_order: Some(SecondOrderPlan {
                every,
                lanczos_steps: 10,
                eps: 0.01,
                seed: 3,
            }),
        }
    }

    #[test]
    fn schedule_of_rows_and_of_min_eig() {
        let p = plan(10);
        let rows: Vec<u64> = (1..=23).filter(|&t| p.scheduled(t)).collect();
        assert_eq!(rows, vec![5, 10, 15, 20, 23]);
        let eig: Vec<u64> = (0..=23)
            .filter(|&t| p.second_order_due(t, t == 23))
            .collect();
        assert_eq!(eig, vec![0, 10, 20, 23]);
        assert!(!plan(0).second_order_due(10, false));
        assert!(plan(0).second_order_due(7, true));
        assert!(!EvaluationPlan::every_round(9).second_order_due(0, true));
    }

    #[test]
    fn evaluation_at_the_saddle_has_the_known_min_eig() {
        let saddle = Saddle::new(6, 2, 0.0, Noise::Gaussian { std: 0.0 });
        let e = plan(10).evaluate(&saddle, &Vector::zeros(6), 0, false);
        assert_eq!((e.loss, e.grad_norm), (0.0, 0.0));
        assert_eq!(e.metrics.len(), 1);
        assert_eq!(e.metrics[0].0, "min_eig");
        assert!((e.metrics[0].1 + 1.0).abs() < 1e-9, "{:?}", e.metrics);
        let no_eig = plan(10).evaluate(&saddle, &Vector::zeros(6), 5, false);
        assert!(no_eig.metrics.is_empty());
    }

    #[test]
    fn spec_checks() {
        let ok = EvaluationSpec {
            min_eig_every: 100,
            ..Default::default()
        };
        assert!(ok.check(10).is_ok());
        assert_eq!(ok.check(30).unwrap_err().path, "min_eig_every");
        let steps = EvaluationSpec {
            lanczos_steps: 0,
            ..Default::default()
        };
        assert_eq!(steps.check(1).unwrap_err().path, "lanczos_steps");
        let eps = EvaluationSpec {
            eps: 0.0,
            ..Default::default()
        };
        assert_eq!(eps.check(1).unwrap_err().path, "eps");
    }
}
