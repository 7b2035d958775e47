//! `zeno`: suspicion-based aggregation (C. Xie, S. Koyejo, I. Gupta, "Zeno: Distributed
//! Stochastic Gradient Descent with Suspicion-based Fault-tolerance", ICML 2019), the strongest
//! baseline of the SafeguardSGD paper's Table 1.
//!
//! Each round the master draws a small batch `r` of training samples (its own validation data)
//! and scores every vector by the descent it would bring:
//! `score(v_i) = f_r(x) - f_r(x - gamma v_i) - rho ||v_i||^2`;
//! the direction is the mean of the `n - b` highest-scoring vectors (ties: the lower worker id
//! ranks first; the kept vectors are added in id order).
//!
//! The master needs validation data ([`crate::problem::Validation`]): classification problems
//! draw a batch of `batch` samples from the master's own stream (`ZENO`) each round; analytic
//! problems (quadratic, saddle, rosenbrock, matrix sensing) have no samples, and the master
//! scores with the loss `f` itself, exactly (a stronger validation signal than a batch; say so when
//! comparing). A problem that offers neither is refused by the check.
//!
//! Precondition: `b < n` (something is kept). At run time, with fewer vectors than `b + 1`, the
//! rule keeps the best one. A vector whose score is not finite (the loss overflowed) ranks last.
//! Cost: `O(n (d + cost of one validation loss))` a round.

use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::problem::{Problem, ServerBatch, Validation};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::rng::{SimRng, streams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `zeno`: scores each vector by the validation-loss decrease of a step along it, minus
/// rho ||v||^2, and averages the n - b best (Xie, Koyejo & Gupta, ICML 2019). Needs validation
/// data at the master: a sample batch for classification problems, the exact loss for analytic
/// ones. Cost: O(n (d + one validation loss)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZenoParams {
    /// `b`, the vectors left out each round (default: the scenario's Byzantine count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<usize>,
    /// `rho`, the weight of the norm penalty.
    #[serde(default = "default_rho")]
    pub rho: f64,
    /// `gamma`, the step the score looks along (default: the scenario's learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Samples in the master's validation batch each round (classification problems).
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_rho() -> f64 {
    0.0005
}
fn default_batch() -> usize {
    8
}

impl Params for ZenoParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let Some(problem) = ctx.problem else {
            return Err(ParamError::new(
                "kind",
                "zeno scores vectors with the problem's validation loss: it needs a scenario's problem, not bare vectors",
            ));
        };
        if problem.validation == Validation::None {
            return Err(ParamError::new(
                "kind",
                "zeno needs validation data at the master, and this problem offers none (no samples, no exact loss)",
            ));
        }
        let b = *self.b.get_or_insert(ctx.setting.byzantine);
        if b >= ctx.inputs {
            return Err(ParamError::new(
                "b",
                format!(
                    "zeno keeps the n - b best vectors: b = {b} leaves none of n = {}",
                    ctx.inputs
                ),
            ));
        }
        ParamError::require_positive("rho", self.rho, true)?;
        let gamma = *self.gamma.get_or_insert(ctx.setting.lr);
        ParamError::require_positive("gamma", gamma, false)?;
        if self.batch == 0 || self.batch > 65_536 {
            return Err(ParamError::new(
                "batch",
                format!("expected 1 to 65536 samples, got {}", self.batch),
            ));
        }
        Ok(())
    }
}

impl AggregatorKind for ZenoParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Zeno {
            b: self.b.unwrap_or(ctx.setting.byzantine),
            rho: self.rho,
            gamma: self.gamma.unwrap_or(ctx.setting.lr),
            batch: self.batch,
            problem: ctx.problem.clone(),
            rng: ctx.stream(streams::ZENO),
        }))
    }
    fn one_shot(&self) -> Result<(), String> {
        Err("zeno scores vectors with the problem's validation loss at the current parameters; run it in a scenario".into())
    }
}

/// The Zeno rule.
pub struct Zeno {
    b: usize,
    rho: f64,
    gamma: f64,
    batch: usize,
    problem: Arc<dyn Problem>,
    rng: SimRng,
}

/// The validation loss at `x`: on `batch` when there is one, otherwise the exact loss.
fn validation_loss(problem: &dyn Problem, x: &Vector, batch: Option<&ServerBatch>) -> f64 {
    match batch.and_then(|b| problem.server_loss(x, b)) {
        Some(l) => l,
        None => problem.loss(x),
    }
}

/// Zeno's scores of `vectors` at `x`, and the positions it keeps (the `n - b` best, at least
/// one), in ascending position order.
pub fn zeno_select(
    vectors: &[&Vector],
    x: &Vector,
    b: usize,
    rho: f64,
    gamma: f64,
    loss: impl Fn(&Vector) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let base = loss(x);
    let scores: Vec<f64> = vectors
        .iter()
        .map(|v| {
            let moved = x - &(*v * gamma);
            let s = base - loss(&moved) - rho * v.dot(*v);
            if s.is_finite() { s } else { f64::NEG_INFINITY }
        })
        .collect();
    let mut order: Vec<usize> = (0..vectors.len()).collect();
    // Highest score first; equal scores keep position (id) order (stable sort).
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let keep = vectors.len().saturating_sub(b).max(1).min(vectors.len());
    let mut kept: Vec<usize> = order[..keep].to_vec();
    kept.sort_unstable();
    (scores, kept)
}

impl Aggregator for Zeno {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let (ids, vectors): (Vec<usize>, Vec<&Vector>) = input.valid().unzip();
        if vectors.is_empty() {
            return Aggregate::direction(Vector::zeros(input.dim()));
        }
        let batch = self.problem.draw_server_batch(self.batch, &mut self.rng);
        let problem = self.problem.as_ref();
        let (scores, kept) =
            zeno_select(&vectors, input.params, self.b, self.rho, self.gamma, |x| {
                validation_loss(problem, x, batch.as_ref())
            });
        let mut sum = Vector::zeros(input.dim());
        for &k in &kept {
            sum += vectors[k];
        }
        let direction = sum / kept.len() as f64;
        Aggregate::with_selection(direction, &ids, &kept, &scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn quadratic(x: &Vector) -> f64 {
        0.5 * x.dot(x)
    }

    #[test]
    fn keeps_the_vectors_that_descend_most() {
        // At x = (1, 1) the gradient is (1, 1): the flipped and the huge vectors score worst.
        let x = array![1.0, 1.0];
        let v = [
            array![1.0, 1.0],
            array![0.9, 1.1],
            array![-4.0, -4.0],
            array![100.0, 100.0],
        ];
        let refs: Vec<&Vector> = v.iter().collect();
        let (scores, kept) = zeno_select(&refs, &x, 2, 0.0005, 0.1, quadratic);
        assert_eq!(kept, vec![0, 1]);
        // score = f(x) - f(x - gamma v) - rho |v|^2, by hand for the first vector.
        let by_hand = 1.0 - 0.5 * 2.0 * 0.81 - 0.0005 * 2.0;
        assert!((scores[0] - by_hand).abs() < 1e-12, "{}", scores[0]);
        assert!(scores[2] < 0.0 && scores[3] < scores[2]);
    }

    #[test]
    fn keeps_at_least_one_and_ranks_non_finite_scores_last() {
        let x = array![1.0];
        let v = [array![f64::MAX], array![0.5]];
        let refs: Vec<&Vector> = v.iter().collect();
        let (scores, kept) = zeno_select(&refs, &x, 5, 0.0, 1.0, quadratic);
        assert_eq!(scores[0], f64::NEG_INFINITY);
        assert_eq!(kept, vec![1]);
    }

    #[test]
    fn permutation_invariant_up_to_ties() {
        let x = array![0.5, -0.2];
        let v = [array![0.4, -0.1], array![0.6, -0.3], array![-2.0, 2.0]];
        let refs: Vec<&Vector> = v.iter().collect();
        let (_, kept) = zeno_select(&refs, &x, 1, 0.001, 0.5, quadratic);
        let perm: Vec<&Vector> = vec![&v[2], &v[0], &v[1]];
        let (_, kept_perm) = zeno_select(&perm, &x, 1, 0.001, 0.5, quadratic);
        let as_vectors = |k: &[usize], from: &[&Vector]| -> Vec<Vector> {
            let mut out: Vec<Vector> = k.iter().map(|&i| from[i].clone()).collect();
            out.sort_by(|a, b| a[0].total_cmp(&b[0]));
            out
        };
        assert_eq!(as_vectors(&kept, &refs), as_vectors(&kept_perm, &perm));
    }
}
