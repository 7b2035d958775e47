//! `multi_krum`: P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer, "Machine Learning with
//! Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017 (Section 5, "Multi-Krum").
//!
//! The mean of the `q` vectors with the smallest Krum scores (see [`super::krum`] for the score
//! and the `neighbours` convention). `q` is `selected`, by default `n - f` of the vectors
//! received in the round (ByzFL's choice; the paper leaves `m` free); `q = 1` is Krum, `q = n`
//! the mean. Ties go to the lower worker id.
//!
//! Precondition: `n >= 2f + 3`, as Krum. Past it or with fewer vectors in a round, the neighbour
//! count is clamped as Krum's and `q` to `1..=n`; no vector gives the zero vector (no step).
//!
//! Kernel: Krum's (one Gram product; the selected set is certified against the direct
//! distances). The selected vectors are added in worker-id order. Cost: `O(n^2 d)`.

use super::kernel::distances::PairwiseDistances;
use super::kernel::krum_scores::{KrumScorer, Neighbours};
use super::kernel::{Rows, mean_of_rows};
use super::krum::{check_krum_precondition, published};
use super::preconditions::{check_pairwise_memory, resolve_f};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `multi_krum`: mean of the q vectors with the smallest Krum scores (Blanchard et al. 2017);
/// q = `selected`, default n - f of the round's vectors. Needs n >= 2f + 3; past it (or with fewer
/// vectors) the counts are clamped. Cost: O(n^2 d) (one Gram product) + O(n^2 log n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiKrumParams {
    /// Byzantine inputs assumed (default: the scenario's Byzantine count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
    /// Neighbours per score: "published" (n - f - 2) or "n_minus_f_minus_1" (ByzFL).
    #[serde(default = "published")]
    pub neighbours: Neighbours,
    /// q, the number of vectors averaged (default: n - f of the vectors received each round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<usize>,
    /// Run even when n < 2f + 3.
    #[serde(default)]
    pub unchecked: bool,
}

impl Params for MultiKrumParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let defaulted = self.f.is_none();
        let f = resolve_f(&mut self.f, ctx);
        check_pairwise_memory("multi_krum", 32, ctx)?;
        if let Some(q) = self.selected
            && (q == 0 || q > ctx.inputs)
        {
            return Err(ParamError::new(
                "selected",
                format!(
                    "expected 1 to n = {} vectors to average, got {q}",
                    ctx.inputs
                ),
            ));
        }
        check_krum_precondition("multi_krum", f, defaulted, self.unchecked, ctx)
    }
}

impl AggregatorKind for MultiKrumParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(MultiKrum {
            f: self.f.unwrap_or(ctx.setting.byzantine),
            neighbours: self.neighbours,
            selected: self.selected,
        }))
    }
}

/// The Multi-Krum rule.
#[derive(Debug, Clone)]
pub struct MultiKrum {
    /// Byzantine inputs assumed.
    pub f: usize,
    /// Neighbour-count convention.
    pub neighbours: Neighbours,
    /// `q` (`None`: `n - f` of the round's vectors).
    pub selected: Option<usize>,
}

/// What Multi-Krum chose: the positions averaged (ascending) and every vector's score.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiKrumOutcome {
    /// The mean of the selected vectors.
    pub direction: Vector,
    /// Positions of the selected vectors, ascending.
    pub selected: Vec<usize>,
    /// Score of each vector.
    pub scores: Vec<f64>,
}

/// `q` for `n` vectors: `selected`, or `n - f`, clamped to `1..=n` (0 without vectors).
pub fn selected_count(n: usize, f: usize, selected: Option<usize>) -> usize {
    if n == 0 {
        return 0;
    }
    selected.unwrap_or(n.saturating_sub(f)).clamp(1, n)
}

/// Multi-Krum on `rows` (each of length >= `dim`; finite values).
pub fn multi_krum(
    rows: &[&[f64]],
    dim: usize,
    f: usize,
    neighbours: Neighbours,
    selected: Option<usize>,
) -> MultiKrumOutcome {
    let n = rows.len();
    let q = selected_count(n, f, selected);
    let (chosen, scores) = if n < 2 {
        ((0..n).collect(), vec![0.0; n])
    } else {
        let members: Vec<usize> = (0..n).collect();
        let mut scorer = KrumScorer::new(PairwiseDistances::new(rows, dim));
        scorer.smallest(&members, neighbours.count(n, f), q)
    };
    let direction = Vector::from(mean_of_rows(chosen.iter().map(|&i| rows[i]), dim));
    MultiKrumOutcome {
        direction,
        selected: chosen,
        scores,
    }
}

impl Aggregator for MultiKrum {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        let o = multi_krum(
            &rows.slices(),
            rows.dim,
            self.f,
            self.neighbours,
            self.selected,
        );
        Aggregate::with_selection(o.direction, &rows.ids, &o.selected, &o.scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use crate::linalg::mean;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        // ByzFL's unit test: f = 1 on the reference vectors, q = n - f = 2; all scores tie, so
        // the first two are averaged.
        let v = reference();
        let o = multi_krum(&slices(&v), 3, 1, Neighbours::NMinusFMinus1, None);
        assert_eq!(o.direction.to_vec(), vec![2.5, 3.5, 4.5]);
        assert_eq!(o.selected, vec![0, 1]);
        // An outlier is left out; q = 1 is Krum.
        let v = vec![vec![0.0], vec![1.0], vec![2.0], vec![3.0], vec![100.0]];
        let o = multi_krum(&slices(&v), 1, 1, Neighbours::Published, None);
        assert_eq!(o.selected, vec![0, 1, 2, 3]);
        assert_eq!(o.direction.to_vec(), vec![1.5]);
        let o = multi_krum(&slices(&v), 1, 1, Neighbours::Published, Some(1));
        assert_eq!(o.selected, vec![1]);
        // q clamps to n, and nothing in gives the zero vector.
        assert_eq!(selected_count(3, 0, Some(9)), 3);
        assert_eq!(selected_count(3, 5, None), 1);
        let o = multi_krum(&[], 2, 1, Neighbours::Published, None);
        assert_eq!(o.direction.to_vec(), vec![0.0, 0.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn selects_by_score_and_averages_the_selection(
            rows in prop::collection::vec(prop::collection::vec(-10f64..10.0, 3), 1..26),
            f in 0usize..5,
            q in prop::option::of(1usize..15),
        ) {
            let n = rows.len();
            let o = multi_krum(&slices(&rows), 3, f, Neighbours::Published, q);
            let want_q = selected_count(n, f, q);
            prop_assert_eq!(o.selected.len(), want_q);
            // Every selected score is at most every unselected one.
            let worst_in = o.selected.iter().map(|&i| o.scores[i]).fold(f64::NEG_INFINITY, f64::max);
            for i in (0..n).filter(|i| !o.selected.contains(i)) {
                prop_assert!(o.scores[i] >= worst_in - 1e-9 * worst_in.abs().max(1.0));
            }
            let picked: Vec<Vector> = o.selected.iter().map(|&i| Vector::from(rows[i].clone())).collect();
            prop_assert_eq!(o.direction.clone(), mean(picked.iter(), 3));
            // q = n is the mean; the reversed input selects the same vectors (no ties here).
            let all = multi_krum(&slices(&rows), 3, f, Neighbours::Published, Some(n));
            let everything: Vec<Vector> = rows.iter().map(|r| Vector::from(r.clone())).collect();
            prop_assert_eq!(all.direction, mean(everything.iter(), 3));
            let mut sorted = o.scores.clone();
            sorted.sort_by(f64::total_cmp);
            if sorted.windows(2).all(|w| w[1] > w[0] * (1.0 + 1e-9)) {
                let mut rev = rows.clone();
                rev.reverse();
                let r = multi_krum(&slices(&rev), 3, f, Neighbours::Published, q);
                for k in 0..3 {
                    prop_assert!((r.direction[k] - o.direction[k]).abs() <= 1e-9 * (1.0 + o.direction[k].abs()));
                }
            }
        }
    }
}
