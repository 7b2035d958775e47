//! `krum`: P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer, "Machine Learning with
//! Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017.
//!
//! `score(i) = sum_{j in N(i)} ||x_i - x_j||^2`, where `N(i)` holds the `k` vectors nearest to
//! `x_i` (itself excluded); Krum returns the `x_i` of smallest score. `k` is `n - f - 2` as
//! published (`neighbours: "published"`, the default) or `n - f - 1` as ByzFL computes it
//! (`"n_minus_f_minus_1"`); distances are squared, as published (some libraries use plain
//! distances). Ties go to the lower worker id (ByzFL's `argmin` does the same).
//!
//! Precondition: `n >= 2f + 3` (Blanchard et al., Prop. 1), checked with the scenario. Past it
//! (`"unchecked": true`: the SafeguardSGD paper runs Krum with `f = 4` of 10 machines) or in a
//! round with fewer vectors, `k` is clamped to `1..=n-1`; one vector is returned as is; no vector
//! gives the zero vector (no step).
//!
//! Kernel: the squared distances come from one Gram product of the centred vectors, and the
//! winner is certified against the direct distances, near-ties being recomputed exactly
//! ([`super::kernel::distances`], [`super::kernel::krum_scores`]). Cost: `O(n^2 d)` for the
//! product, `O(n^2 log n)` for the scores.

use super::kernel::Rows;
use super::kernel::distances::PairwiseDistances;
use super::kernel::krum_scores::{KrumScorer, Neighbours};
use super::preconditions::{AtLeast, check_pairwise_memory, resolve_f};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `krum`: returns the vector whose squared distances to its k nearest neighbours sum to the
/// least (Blanchard et al. 2017); k = n - f - 2 ("published") or n - f - 1 ("n_minus_f_minus_1",
/// as ByzFL). Needs n >= 2f + 3; past it (or with fewer vectors in a round) k is clamped to
/// 1..n-1. Cost: O(n^2 d) (one Gram product) + O(n^2 log n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KrumParams {
    /// Byzantine inputs assumed (default: the scenario's Byzantine count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
    /// Neighbours per score: "published" (n - f - 2) or "n_minus_f_minus_1" (ByzFL).
    #[serde(default = "published")]
    pub neighbours: Neighbours,
    /// Run even when n < 2f + 3 (the paper runs Krum with f = 4 of 10 machines).
    #[serde(default)]
    pub unchecked: bool,
}

pub(crate) fn published() -> Neighbours {
    Neighbours::Published
}

/// Krum's precondition `n >= 2f + 3`, for `krum`, `multi_krum` (and their messages).
pub(crate) fn check_krum_precondition(
    rule: &str,
    f: usize,
    defaulted: bool,
    unchecked: bool,
    ctx: &CheckContext<'_>,
) -> Result<(), ParamError> {
    AtLeast {
        rule,
        paper: "Blanchard et al. 2017",
        formula: "2f + 3",
        need: 2 * f + 3,
    }
    .check(f, defaulted, unchecked, ctx)
}

impl Params for KrumParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let defaulted = self.f.is_none();
        let f = resolve_f(&mut self.f, ctx);
        check_pairwise_memory("krum", 32, ctx)?;
        check_krum_precondition("krum", f, defaulted, self.unchecked, ctx)
    }
}

impl AggregatorKind for KrumParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Krum {
            f: self.f.unwrap_or(ctx.setting.byzantine),
            neighbours: self.neighbours,
        }))
    }
}

/// The Krum rule.
#[derive(Debug, Clone)]
pub struct Krum {
    /// Byzantine inputs assumed.
    pub f: usize,
    /// Neighbour-count convention.
    pub neighbours: Neighbours,
}

/// What Krum chose: the position of the returned vector (none without vectors) and every
/// vector's score, by position.
#[derive(Debug, Clone, PartialEq)]
pub struct KrumOutcome {
    /// Position of the vector Krum returns.
    pub index: Option<usize>,
    /// Score of each vector.
    pub scores: Vec<f64>,
}

/// Krum on `rows` (each of length >= `dim`; finite values), assuming `f` Byzantine.
pub fn krum(rows: &[&[f64]], dim: usize, f: usize, neighbours: Neighbours) -> KrumOutcome {
    let n = rows.len();
    match n {
        0 => KrumOutcome {
            index: None,
            scores: Vec::new(),
        },
        1 => KrumOutcome {
            index: Some(0),
            scores: vec![0.0],
        },
        _ => {
            let members: Vec<usize> = (0..n).collect();
            let mut scorer = KrumScorer::new(PairwiseDistances::new(rows, dim));
            let (index, scores) = scorer.argmin(&members, neighbours.count(n, f));
            KrumOutcome {
                index: Some(index),
                scores,
            }
        }
    }
}

impl Aggregator for Krum {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        let slices = rows.slices();
        let outcome = krum(&slices, rows.dim, self.f, self.neighbours);
        let direction = match outcome.index {
            Some(i) => Vector::from(slices[i][..rows.dim].to_vec()),
            None => Vector::zeros(rows.dim),
        };
        let selected: Vec<usize> = outcome.index.into_iter().collect();
        Aggregate::with_selection(direction, &rows.ids, &selected, &outcome.scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use crate::linalg::squared_distance;
    use proptest::prelude::*;

    /// Krum from its definition: direct distances, sorted, k smallest summed from the nearest.
    fn brute(rows: &[Vec<f64>], k: usize) -> usize {
        let scores: Vec<f64> = (0..rows.len())
            .map(|i| {
                let mut d: Vec<f64> = (0..rows.len())
                    .filter(|&j| j != i)
                    .map(|j| squared_distance(&rows[i], &rows[j]))
                    .collect();
                d.sort_by(f64::total_cmp);
                d.iter().take(k).sum()
            })
            .collect();
        (0..rows.len())
            .min_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)))
            .unwrap()
    }

    #[test]
    fn known_answers() {
        // The reference vectors with f = 1 (ByzFL's unit test): every score ties (27), and the
        // first vector wins.
        let v = reference();
        for nb in [Neighbours::Published, Neighbours::NMinusFMinus1] {
            let o = krum(&slices(&v), 3, 1, nb);
            assert_eq!(o.index, Some(0));
            assert_eq!(o.scores, vec![27.0, 27.0, 27.0]);
        }
        // Five points on a line, one far outlier: n = 5, f = 1, k = 2 neighbours. Scores:
        // 0 -> 1 + 4, 1 -> 1 + 1, 2 -> 1 + 1, 3 -> 1 + 4, 100 -> 97^2 + 98^2; 1 and 2 tie, and
        // the lower index wins. (Reported scores come from the Gram distances: compare them
        // within rounding; the selection itself is exact.)
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0))
        };
        let v = vec![vec![0.0], vec![1.0], vec![2.0], vec![3.0], vec![100.0]];
        let o = krum(&slices(&v), 1, 1, Neighbours::Published);
        assert!(
            close(&o.scores, &[5.0, 2.0, 2.0, 5.0, 97.0 * 97.0 + 98.0 * 98.0]),
            "{:?}",
            o.scores
        );
        assert_eq!(o.index, Some(1));
        // ByzFL's count (k = 3) changes the scores.
        let o = krum(&slices(&v), 1, 1, Neighbours::NMinusFMinus1);
        assert!(close(&o.scores[1..2], &[1.0 + 1.0 + 4.0]));
        assert_eq!(krum(&[], 2, 0, Neighbours::Published).index, None);
        assert_eq!(
            krum(&slices(&v[..1]), 1, 3, Neighbours::Published).index,
            Some(0)
        );
    }

    #[test]
    fn aggregate_reports_worker_ids() {
        let params = Vector::zeros(1);
        let grads = vec![
            Some(Vector::from(vec![0.0])),
            None,
            Some(Vector::from(vec![1.0])),
            Some(Vector::from(vec![1.5])),
            Some(Vector::from(vec![50.0])),
        ];
        let input = RoundInput {
            round: 1,
            params: &params,
            machines: 5,
            workers: &[3, 4, 5, 6, 7],
            gradients: &grads,
            honest_mean: &params,
        };
        let out = Krum {
            f: 1,
            neighbours: Neighbours::Published,
        }
        .aggregate(&input);
        assert_eq!(out.direction.to_vec(), vec![1.0]);
        assert_eq!(out.selected, Some(vec![5]));
        let ids: Vec<usize> = out.scores.unwrap().iter().map(|s| s.0).collect();
        assert_eq!(ids, vec![3, 5, 6, 7]);
        assert!(out.expel.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn returns_one_of_its_inputs_as_the_definition_says(
            // Far from the origin relative to the spread, with duplicates: the cases where the
            // Gram formula's cancellation and ties matter.
            offset in prop::sample::select(vec![0.0, 1e3, 1e8]),
            pts in prop::collection::vec(prop::collection::vec(-3i32..3, 4), 2..26),
            dup in any::<bool>(),
            f in 0usize..5,
        ) {
            let mut rows: Vec<Vec<f64>> = pts.iter()
                .map(|p| p.iter().map(|&c| offset + c as f64 * 0.25).collect())
                .collect();
            if dup { let first = rows[0].clone(); rows.push(first); }
            let n = rows.len();
            for nb in [Neighbours::Published, Neighbours::NMinusFMinus1] {
                let o = krum(&slices(&rows), 4, f, nb);
                let i = o.index.unwrap();
                prop_assert_eq!(i, brute(&rows, nb.count(n, f)));
                // Permuted (reversed) input: the same vector wins unless its score ties.
                let mut rev = rows.clone();
                rev.reverse();
                let j = krum(&slices(&rev), 4, f, nb).index.unwrap();
                let scores = &o.scores;
                let ties = scores.iter().filter(|s| **s == scores[i]).count();
                if ties == 1 {
                    prop_assert_eq!(&rev[j], &rows[i]);
                } else {
                    prop_assert_eq!(o.scores[n - 1 - j], o.scores[i]);
                }
            }
        }
    }
}
