//! `bulyan`: E. M. El Mhamdi, R. Guerraoui, S. Rouault, "The Hidden Vulnerability of Distributed
//! Learning in Byzantium", ICML 2018.
//!
//! Two phases on `n` vectors assuming `f` Byzantine:
//! 1. **Selection** of `theta = n - 2f` vectors by Krum, *iterated* as published: Krum picks a
//!    vector among the remaining ones (scores recomputed on them, `n' - f - 2` neighbours for
//!    `n'` remaining, or `n' - f - 1` with `neighbours: "n_minus_f_minus_1"`), which leaves the pool;
//!    `theta` times. Several libraries (Flower, Blades' variants, backfed) select instead the
//!    `theta` lowest scores of a single Krum scoring: `selection: "multi_krum"`.
//! 2. **Aggregation**, per coordinate, of the `beta = theta - 2f` selected values *closest to their
//!    median* (`coordinate: "closest_to_median"`, as published; at equal distance the smaller
//!    value goes first), averaged. Libraries that run a trimmed mean here keep the `beta` values
//!    central *by rank* instead (`coordinate: "trimmed_mean"`); the two differ when the values
//!    are skewed around the median.
//!
//! Ties between Krum scores go to the lower index. Iterated Krum meets them by construction in
//! its last picks: with one neighbour per score, the two vectors of the closest pair tie, so which
//! of them is picked depends on the input order (the aggregate may then differ in a permutation
//! of the inputs); exact ties aside, the result does not depend on the order.
//!
//! Precondition: `n >= 4f + 3`, checked with the scenario. Past it (`"unchecked": true`) or with
//! fewer vectors in a round: `theta = clamp(n - 2f, 1, n)`, Krum's neighbour count clamped as in
//! [`super::krum`], and `beta = theta - 2 min(f, floor((theta - 1)/2))` (at least one value: the
//! median of the selection when it runs out); no vector gives the zero vector (no step).
//!
//! Kernel: one Gram product for the distances (certified selections, see [`super::krum`]); each
//! Krum iteration rescans the sorted rows, `O(n^2)`; the second phase is column-wise (a sorting
//! network up to 32 selected vectors, selections above). Cost: `O(n^2 d + n^3 + n d)`.

use super::kernel::Rows;
use super::kernel::columns::{
    NETWORK_MAX_ROWS, for_each_sorted_chunk, map_columns, median_from_ranks, median_of,
};
use super::kernel::distances::PairwiseDistances;
use super::kernel::krum_scores::{KrumScorer, Neighbours};
use super::krum::published;
use super::preconditions::{AtLeast, check_pairwise_memory, resolve_f};
use super::trimmed_mean::{trim_count, trimmed_mean};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bulyan's first phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Krum run `theta` times, each on the vectors not yet picked (El Mhamdi et al. 2018).
    IteratedKrum,
    /// The `theta` lowest scores of one Krum scoring (Flower, backfed).
    MultiKrum,
}

/// Bulyan's second phase, per coordinate of the selected vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coordinate {
    /// Mean of the `beta` values closest to the median (El Mhamdi et al. 2018).
    ClosestToMedian,
    /// Mean of the `beta` values central by rank (a trimmed mean of `f` per side).
    TrimmedMean,
}

/// `bulyan`: select theta = n - 2f vectors by iterated Krum, then per coordinate average the
/// beta = theta - 2f selected values closest to their median (El Mhamdi et al. 2018). Needs
/// n >= 4f + 3; past it (or with fewer vectors) theta and beta are clamped to keep one value.
/// Cost: O(n^2 d) (one Gram product) + O(n^3) + O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulyanParams {
    /// Byzantine inputs assumed (default: the scenario's Byzantine count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
    /// Krum's neighbours per score: "published" (n - f - 2) or "n_minus_f_minus_1" (ByzFL).
    #[serde(default = "published")]
    pub neighbours: Neighbours,
    /// "iterated_krum" (published) or "multi_krum" (one scoring, the theta lowest).
    #[serde(default = "iterated")]
    pub selection: Selection,
    /// "closest_to_median" (published) or "trimmed_mean" (central by rank).
    #[serde(default = "closest")]
    pub coordinate: Coordinate,
    /// Run even when n < 4f + 3.
    #[serde(default)]
    pub unchecked: bool,
}

fn iterated() -> Selection {
    Selection::IteratedKrum
}
fn closest() -> Coordinate {
    Coordinate::ClosestToMedian
}

impl Params for BulyanParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let defaulted = self.f.is_none();
        let f = resolve_f(&mut self.f, ctx);
        check_pairwise_memory("bulyan", 32, ctx)?;
        AtLeast {
            rule: "bulyan",
            paper: "El Mhamdi et al. 2018",
            formula: "4f + 3",
            need: 4 * f + 3,
        }
        .check(f, defaulted, self.unchecked, ctx)
    }
}

impl AggregatorKind for BulyanParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Bulyan {
            f: self.f.unwrap_or(ctx.setting.byzantine),
            neighbours: self.neighbours,
            selection: self.selection,
            coordinate: self.coordinate,
        }))
    }
}

/// The Bulyan rule.
#[derive(Debug, Clone)]
pub struct Bulyan {
    /// Byzantine inputs assumed.
    pub f: usize,
    /// Krum's neighbour-count convention.
    pub neighbours: Neighbours,
    /// First phase.
    pub selection: Selection,
    /// Second phase.
    pub coordinate: Coordinate,
}

/// What Bulyan did.
#[derive(Debug, Clone, PartialEq)]
pub struct BulyanOutcome {
    /// The aggregate.
    pub direction: Vector,
    /// Positions selected by the first phase, in selection order.
    pub selected: Vec<usize>,
    /// Krum scores of the first selection (all vectors), by position.
    pub scores: Vec<f64>,
}

/// `(theta, beta)` for `n` vectors and `f` assumed Byzantine (clamped, see the module docs).
pub fn counts(n: usize, f: usize) -> (usize, usize) {
    if n == 0 {
        return (0, 0);
    }
    let theta = n.saturating_sub(2 * f).clamp(1, n);
    let beta = theta - 2 * trim_count(theta, f);
    (theta, beta)
}

impl Bulyan {
    /// Bulyan on `rows` (each of length >= `dim`; finite values).
    pub fn run(&self, rows: &[&[f64]], dim: usize) -> BulyanOutcome {
        let n = rows.len();
        let (theta, beta) = counts(n, self.f);
        if n == 0 {
            return BulyanOutcome {
                direction: Vector::zeros(dim),
                selected: Vec::new(),
                scores: Vec::new(),
            };
        }
        let (selected, scores) = if n == 1 {
            (vec![0], vec![0.0])
        } else {
            let mut scorer = KrumScorer::new(PairwiseDistances::new(rows, dim));
            let all: Vec<usize> = (0..n).collect();
            match self.selection {
                Selection::MultiKrum => {
                    scorer.smallest(&all, self.neighbours.count(n, self.f), theta)
                }
                Selection::IteratedKrum => {
                    let mut pool = all;
                    let mut picked = Vec::with_capacity(theta);
                    let mut first_scores = Vec::new();
                    let mut compacted_at = pool.len();
                    while picked.len() < theta {
                        // The picked vectors are the central ones, at the front of every sorted
                        // row: drop them now and then, or every score would skip them all.
                        if pool.len() + pool.len() / 8 < compacted_at {
                            scorer.compact(&pool);
                            compacted_at = pool.len();
                        }
                        let best = if pool.len() == 1 {
                            pool[0]
                        } else {
                            let k = self.neighbours.count(pool.len(), self.f);
                            let (best, scores) = scorer.argmin(&pool, k);
                            if first_scores.is_empty() {
                                first_scores = scores;
                            }
                            best
                        };
                        picked.push(best);
                        pool.retain(|&i| i != best);
                    }
                    (picked, first_scores)
                }
            }
        };
        let mut in_order = selected.clone();
        in_order.sort_unstable();
        let chosen: Vec<&[f64]> = in_order.iter().map(|&i| rows[i]).collect();
        let direction = match self.coordinate {
            Coordinate::TrimmedMean => trimmed_mean(&chosen, dim, trim_count(theta, self.f)),
            Coordinate::ClosestToMedian => closest_to_median_mean(&chosen, dim, beta),
        };
        BulyanOutcome {
            direction,
            selected,
            scores,
        }
    }
}

/// Per coordinate, the mean of the `beta` values closest to the median (at equal distance the
/// smaller value first), for `rows` (each of length >= `dim`; finite values); `beta` is clamped
/// to `1..=n`.
pub fn closest_to_median_mean(rows: &[&[f64]], dim: usize, beta: usize) -> Vector {
    let n = rows.len();
    let mut out = vec![0.0; dim];
    if n == 0 {
        return Vector::from(out);
    }
    let beta = beta.clamp(1, n);
    let denom = beta as f64;
    let h = n / 2;
    if n <= NETWORK_MAX_ROWS {
        // The window of `beta` closest values is contiguous in sorted order and grows from the
        // middle: it lies within ranks h - beta .. h + beta.
        let lo_rank = h.saturating_sub(beta);
        let hi_rank = (h + beta).min(n);
        for_each_sorted_chunk(rows, dim, lo_rank..hi_rank, |chunk| {
            for c in 0..chunk.width {
                let s = |r: usize| chunk.rank(r)[c];
                let med = median_from_ranks(n, s(h.saturating_sub(1)), s(h));
                // Candidates: left = rank l - 1, right = rank r; window = l..r.
                let (mut l, mut r) = (h, h);
                while r - l < beta {
                    let take_left = r >= n || (l > 0 && med - s(l - 1) <= s(r) - med);
                    if take_left {
                        l -= 1;
                    } else {
                        r += 1;
                    }
                }
                let mut sum = 0.0;
                for k in l..r {
                    sum += s(k);
                }
                out[chunk.start + c] = sum / denom;
            }
        });
    } else {
        map_columns(rows, &mut out, |v| {
            let med = median_of(v);
            v.select_nth_unstable_by(beta - 1, |a, b| {
                (a - med)
                    .abs()
                    .total_cmp(&(b - med).abs())
                    .then(a.total_cmp(b))
            });
            v[..beta].iter().sum::<f64>() / denom
        });
    }
    Vector::from(out)
}

impl Aggregator for Bulyan {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        let o = self.run(&rows.slices(), rows.dim);
        Aggregate::with_selection(o.direction, &rows.ids, &o.selected, &o.scores)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // coordinates index several arrays at once
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::slices;
    use proptest::prelude::*;

    fn bulyan(f: usize) -> Bulyan {
        Bulyan {
            f,
            neighbours: Neighbours::Published,
            selection: Selection::IteratedKrum,
            coordinate: Coordinate::ClosestToMedian,
        }
    }

    /// Brute force of phase 2 on one coordinate: sort by (|x - med|, x), average the first beta.
    fn closest_brute(col: &[f64], beta: usize) -> f64 {
        let mut s = col.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let med = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        s.sort_by(|a, b| {
            (a - med)
                .abs()
                .total_cmp(&(b - med).abs())
                .then(a.total_cmp(b))
        });
        s[..beta].iter().sum::<f64>() / beta as f64
    }

    /// Brute force of phase 1: Krum from its definition on the remaining pool, theta times.
    fn iterated_brute(rows: &[Vec<f64>], f: usize) -> Vec<usize> {
        let (theta, _) = counts(rows.len(), f);
        let mut pool: Vec<usize> = (0..rows.len()).collect();
        let mut picked = Vec::new();
        while picked.len() < theta {
            let k = Neighbours::Published.count(pool.len(), f);
            let score = |i: usize| -> f64 {
                let mut d: Vec<f64> = pool
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| crate::linalg::squared_distance(&rows[i], &rows[j]))
                    .collect();
                d.sort_by(f64::total_cmp);
                d.iter().take(k).sum()
            };
            let best = *pool
                .iter()
                .min_by(|&&a, &&b| score(a).total_cmp(&score(b)).then(a.cmp(&b)))
                .unwrap();
            picked.push(best);
            pool.retain(|&i| i != best);
        }
        picked
    }

    #[test]
    fn known_answer_and_the_two_conventions() {
        // n = 7, f = 1: theta = 5, beta = 3. By hand: Krum picks 2 (k = 4, score 10), then 1
        // (k = 3, ties with 3 at 14: lower index), 3, 0 (ties with the 4 at 16), then 4 (the 10,
        // tied with the 4 at 36 for k = 1): the far outlier and the 4 stay out.
        let v: Vec<Vec<f64>> = [0.0, 1.0, 2.0, 3.0, 10.0, 4.0, 1000.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        let o = bulyan(1).run(&slices(&v), 1);
        assert_eq!(o.selected, vec![2, 1, 3, 0, 4]);
        assert_eq!(o.selected, iterated_brute(&v, 1));
        // Selected values {0, 1, 2, 3, 10}: median 2, the 3 closest {2, 1, 3}: 2.
        assert_eq!(o.direction.to_vec(), vec![2.0]);
        // Skewed values: closest to the median vs central by rank differ.
        let v: Vec<Vec<f64>> = [0.0, 1.0, 2.0, 10.0, 11.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        let closest = closest_to_median_mean(&slices(&v), 1, 3);
        assert_eq!(closest.to_vec(), vec![1.0]); // {2, 1, 0}
        let ranked = trimmed_mean(&slices(&v), 1, 1);
        assert!((ranked[0] - 13.0 / 3.0).abs() < 1e-15); // {1, 2, 10}
    }

    #[test]
    fn counts_clamp_past_the_precondition() {
        assert_eq!(counts(11, 2), (7, 3));
        assert_eq!(counts(10, 4), (2, 2)); // theta = 2, trim min(4, 0) = 0
        assert_eq!(counts(10, 6), (1, 1));
        assert_eq!(counts(0, 1), (0, 0));
        let v = vec![vec![1.0], vec![5.0]];
        assert_eq!(bulyan(3).run(&slices(&v), 1).selected.len(), 1);
        assert_eq!(bulyan(3).run(&[], 2).direction.to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn both_phase_two_kernels_match_the_definition() {
        for n in [3usize, 8, 31, 32, 33, 50] {
            let d = 64;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|r| {
                    (0..d)
                        .map(|k| (((r * 7919 + k * 104729) % 101) as f64) * 0.5)
                        .collect()
                })
                .collect();
            for beta in [1, n / 2 + 1, n] {
                let got = closest_to_median_mean(&slices(&rows), d, beta);
                for k in 0..d {
                    let col: Vec<f64> = rows.iter().map(|r| r[k]).collect();
                    let want = closest_brute(&col, beta);
                    assert!(
                        (got[k] - want).abs() <= 1e-12 * want.abs().max(1.0),
                        "n {n} beta {beta}: {} vs {want}",
                        got[k]
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn invariants(
            rows in prop::collection::vec(prop::collection::vec(-10f64..10.0, 2), 1..26),
            f in 0usize..4,
        ) {
            let n = rows.len();
            let o = bulyan(f).run(&slices(&rows), 2);
            let (theta, _) = counts(n, f);
            prop_assert_eq!(o.selected.len(), theta);
            prop_assert_eq!(&o.selected, &iterated_brute(&rows, f));
            // Inside the per-coordinate range of the selected vectors.
            for k in 0..2 {
                let lo = o.selected.iter().map(|&i| rows[i][k]).fold(f64::INFINITY, f64::min);
                let hi = o.selected.iter().map(|&i| rows[i][k]).fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(lo - 1e-12 <= o.direction[k] && o.direction[k] <= hi + 1e-12);
            }
            // f = 0 selects everything and averages everything: the mean.
            let all = bulyan(0).run(&slices(&rows), 2);
            let mean = crate::aggregate::kernel::mean_of_rows(rows.iter().map(|r| r.as_slice()), 2);
            for k in 0..2 {
                prop_assert!((all.direction[k] - mean[k]).abs() <= 1e-9 * (1.0 + mean[k].abs()));
            }
            // Reversed input: the same aggregate unless Krum scores tie. Iterated Krum ties by
            // construction in its last picks (with one neighbour, the two vectors of the closest
            // pair score the same), so check the one-scoring selection.
            let one = Bulyan { selection: Selection::MultiKrum, ..bulyan(f) };
            let o = one.run(&slices(&rows), 2);
            let mut sorted = o.scores.clone();
            sorted.sort_by(f64::total_cmp);
            if n > 2 && sorted.windows(2).all(|w| w[1] > w[0] * (1.0 + 1e-9)) {
                let mut rev = rows.clone();
                rev.reverse();
                let r = one.run(&slices(&rev), 2);
                for k in 0..2 {
                    prop_assert!((r.direction[k] - o.direction[k]).abs() <= 1e-9 * (1.0 + o.direction[k].abs()));
                }
            }
        }
    }
}
