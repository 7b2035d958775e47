//! Krum scores (Blanchard et al. 2017) over any subset of the round's vectors, with certified
//! selections: the shared kernel of `krum`, `multi_krum` and `bulyan`.
//!
//! The score of `i` among the members `S` with `k` neighbours is the sum of the `k` smallest
//! squared distances from `x_i` to the other members, added from the nearest (ties by index):
//! `score(i) = sum_{j in N_k(i)} ||x_i - x_j||^2`. Each row of the distance matrix is sorted once,
//! so a score costs `O(k)` plus the removed members it skips.
//!
//! The distances come from [`PairwiseDistances`] (a Gram product, with an error bound per entry),
//! so each score carries a bound too: the sum of the `k` smallest moves by at most `k` times the
//! largest entry error, and the sum's own rounding adds at most `4 k u score` (`u = 2^-53`). A
//! selection (the smallest score, or the `q` smallest) is certified when the bounds separate the
//! winners from the rest; otherwise the rows of the undecided members are recomputed directly
//! ([`PairwiseDistances::refine`]) and the selection is made again. The outcome is therefore that
//! of the direct computation, with ties broken by the lower index.

use super::distances::PairwiseDistances;

/// A score and a bound on its error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounded {
    /// The score from the current distances.
    pub score: f64,
    /// A bound on the difference to the direct score (0 for a refined row).
    pub error: f64,
}

impl Bounded {
    fn lower(&self) -> f64 {
        if self.error.is_finite() {
            (self.score - self.error).max(0.0)
        } else {
            0.0
        }
    }
    fn upper(&self) -> f64 {
        self.score + self.error
    }
}

/// Krum scoring over a distance matrix: every row sorted by (distance, index).
#[derive(Debug)]
pub struct KrumScorer<'a> {
    dist: PairwiseDistances<'a>,
    /// Row `i`: the other vectors `(distance, index)`, ascending.
    sorted: Vec<Vec<(f64, u32)>>,
}

impl<'a> KrumScorer<'a> {
    /// Sort the rows of `dist`.
    pub fn new(dist: PairwiseDistances<'a>) -> Self {
        let mut s = KrumScorer {
            dist,
            sorted: Vec::new(),
        };
        s.sort_rows();
        s
    }

    fn sort_rows(&mut self) {
        let n = self.dist.len();
        self.sorted = (0..n)
            .map(|i| {
                let mut row: Vec<(f64, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (self.dist.get(i, j), j as u32))
                    .collect();
                row.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                row
            })
            .collect();
    }

    /// Drop from the sorted rows every vector that is not in `members`, so that later scores
    /// over (subsets of) `members` skip nothing; the rows of non-members are emptied. Scores are
    /// unchanged (the dropped entries were skipped anyway).
    pub fn compact(&mut self, members: &[usize]) {
        let mut alive = vec![false; self.dist.len()];
        for &i in members {
            alive[i] = true;
        }
        for (i, row) in self.sorted.iter_mut().enumerate() {
            if alive[i] {
                row.retain(|&(_, j)| alive[j as usize]);
            } else {
                *row = Vec::new();
            }
        }
    }

    /// The distances (for callers that need them after the selection).
    pub fn distances(&self) -> &PairwiseDistances<'a> {
        &self.dist
    }

    /// The score of `i` among the members marked in `alive`, with `k` neighbours.
    fn score(&self, i: usize, alive: &[bool], k: usize) -> f64 {
        let mut sum = 0.0;
        let mut taken = 0;
        for &(v, j) in &self.sorted[i] {
            if taken == k {
                break;
            }
            if alive[j as usize] {
                sum += v;
                taken += 1;
            }
        }
        sum
    }

    /// Scores of `members` (ascending indices) with `k` neighbours, with their bounds.
    pub fn scores(&self, members: &[usize], k: usize) -> Vec<Bounded> {
        let mut alive = vec![false; self.dist.len()];
        for &i in members {
            alive[i] = true;
        }
        members
            .iter()
            .map(|&i| {
                let score = self.score(i, &alive, k);
                let error = if self.dist.is_exact(i) {
                    0.0
                } else {
                    let k = k as f64;
                    k * self.dist.row_error(i) + 4.0 * k * (f64::EPSILON / 2.0) * score
                };
                Bounded { score, error }
            })
            .collect()
    }

    /// Refine the rows of the members at `positions` whose scores are not exact, then re-sort;
    /// false when every one was exact already (nothing left to refine).
    fn refine(&mut self, members: &[usize], scored: &[Bounded], positions: &[usize]) -> bool {
        let mut any = false;
        for &p in positions {
            if scored[p].error > 0.0 {
                self.dist.refine(members[p]);
                any = true;
            }
        }
        if any {
            self.sort_rows();
        }
        any
    }

    /// The member with the smallest score (`k` neighbours; ties: lower index), certified, and
    /// the members' scores. `members` must be ascending and not empty.
    pub fn argmin(&mut self, members: &[usize], k: usize) -> (usize, Vec<f64>) {
        loop {
            let scored = self.scores(members, k);
            let best_upper = scored
                .iter()
                .map(Bounded::upper)
                .fold(f64::INFINITY, f64::min);
            let candidates: Vec<usize> = (0..members.len())
                .filter(|&p| scored[p].lower() <= best_upper)
                .collect();
            let decided =
                candidates.len() <= 1 || candidates.iter().all(|&p| scored[p].error == 0.0);
            if decided || !self.refine(members, &scored, &candidates) {
                // Exact scores (or a single candidate): the lowest, then the lowest index. The
                // member with the smallest upper bound is always a candidate.
                let best = candidates
                    .iter()
                    .copied()
                    .min_by(|&a, &b| scored[a].score.total_cmp(&scored[b].score).then(a.cmp(&b)))
                    .unwrap_or(0);
                return (members[best], scored.iter().map(|b| b.score).collect());
            }
        }
    }

    /// The `q` members with the smallest scores (`k` neighbours; ties: lower index), certified,
    /// ascending, and the members' scores. `members` must be ascending; `q <= members.len()`.
    pub fn smallest(&mut self, members: &[usize], k: usize, q: usize) -> (Vec<usize>, Vec<f64>) {
        let n = members.len();
        let q = q.min(n);
        loop {
            let scored = self.scores(members, k);
            let mut lowers: Vec<f64> = scored.iter().map(Bounded::lower).collect();
            let mut uppers: Vec<f64> = scored.iter().map(Bounded::upper).collect();
            lowers.sort_unstable_by(f64::total_cmp);
            uppers.sort_unstable_by(f64::total_cmp);
            let mut chosen = Vec::new();
            let mut open = Vec::new();
            for (p, b) in scored.iter().enumerate() {
                // Others that might rank before p (lower_j <= upper_p; p itself is counted).
                let before = lowers
                    .partition_point(|&l| l <= b.upper())
                    .saturating_sub(1);
                // Others that surely rank before p (upper_j < lower_p).
                let surely = uppers.partition_point(|&u| u < b.lower());
                if before < q {
                    chosen.push(p);
                } else if surely < q {
                    open.push(p);
                }
            }
            let decided = open.iter().all(|&p| scored[p].error == 0.0);
            if decided || !self.refine(members, &scored, &open) {
                open.sort_by(|&a, &b| scored[a].score.total_cmp(&scored[b].score).then(a.cmp(&b)));
                let missing = q.saturating_sub(chosen.len());
                chosen.extend(open.into_iter().take(missing));
                chosen.sort_unstable();
                let picked = chosen.into_iter().map(|p| members[p]).collect();
                return (picked, scored.iter().map(|b| b.score).collect());
            }
        }
    }
}

/// How many neighbours a Krum score sums over.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Neighbours {
    /// `n - f - 2`, as published (Blanchard et al. 2017).
    Published,
    /// `n - f - 1`, as ByzFL computes it.
    #[serde(rename = "n_minus_f_minus_1")]
    NMinusFMinus1,
}

impl Neighbours {
    /// The neighbour count for `n` vectors assuming `f` Byzantine, clamped to `1..=n-1` (the
    /// formula gives less than 1 past the rule's precondition `n >= 2f + 3`); 0 when `n < 2`.
    pub fn count(self, n: usize, f: usize) -> usize {
        if n < 2 {
            return 0;
        }
        let raw = match self {
            Neighbours::Published => n.saturating_sub(f + 2),
            Neighbours::NMinusFMinus1 => n.saturating_sub(f + 1),
        };
        raw.clamp(1, n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::squared_distance;

    /// Brute force: direct distances, sorted rows, sums from the nearest.
    fn direct_scores(rows: &[&[f64]], members: &[usize], k: usize) -> Vec<f64> {
        members
            .iter()
            .map(|&i| {
                let mut d: Vec<(f64, usize)> = members
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| (squared_distance(rows[i], rows[j]), j))
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                d.iter().take(k).map(|x| x.0).sum()
            })
            .collect()
    }

    #[test]
    fn near_ties_are_decided_as_the_direct_computation_decides() {
        // Vectors far from the origin, two of them identical (an exact tie), one a hair away.
        let base: Vec<f64> = (0..64).map(|k| 1e6 + k as f64).collect();
        let mut data = vec![base.clone(), base.clone()];
        let mut hair = base.clone();
        hair[3] += 1e-7;
        data.push(hair);
        // Enough vectors for the Gram path (more than DIRECT_MAX_ROWS), on a grid: many exact ties.
        for s in 1..20 {
            data.push(
                base.iter()
                    .enumerate()
                    .map(|(k, x)| x + ((s * (k + 1)) % 5) as f64 * 0.5)
                    .collect(),
            );
        }
        let rows: Vec<&[f64]> = data.iter().map(|r| r.as_slice()).collect();
        assert!(rows.len() > crate::aggregate::kernel::distances::DIRECT_MAX_ROWS);
        let members: Vec<usize> = (0..rows.len()).collect();
        for k in [1, 2, 5, 11, rows.len() - 1] {
            let direct = direct_scores(&rows, &members, k);
            let want = (0..rows.len())
                .min_by(|&a, &b| direct[a].total_cmp(&direct[b]).then(a.cmp(&b)))
                .unwrap();
            let mut scorer = KrumScorer::new(PairwiseDistances::new(&rows, 64));
            let (got, _) = scorer.argmin(&members, k);
            assert_eq!(got, want, "k = {k}");
            let mut order: Vec<usize> = members.clone();
            order.sort_by(|&a, &b| direct[a].total_cmp(&direct[b]).then(a.cmp(&b)));
            for q in [1, 2, 7, rows.len() / 2, rows.len()] {
                let mut want_q = order[..q].to_vec();
                want_q.sort_unstable();
                let mut scorer = KrumScorer::new(PairwiseDistances::new(&rows, 64));
                assert_eq!(
                    scorer.smallest(&members, k, q).0,
                    want_q,
                    "k = {k}, q = {q}"
                );
            }
        }
    }

    #[test]
    fn neighbour_counts_are_clamped() {
        assert_eq!(Neighbours::Published.count(10, 4), 4);
        assert_eq!(Neighbours::NMinusFMinus1.count(10, 4), 5);
        assert_eq!(Neighbours::Published.count(3, 1), 1);
        assert_eq!(Neighbours::Published.count(3, 5), 1);
        assert_eq!(Neighbours::NMinusFMinus1.count(4, 0), 3);
        assert_eq!(Neighbours::Published.count(1, 0), 0);
    }
}
