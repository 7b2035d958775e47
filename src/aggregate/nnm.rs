//! Pre-aggregator `nnm`: nearest-neighbour mixing (Y. Allouah, S. Farhadkhani, R. Guerraoui,
//! N. Gupta, R. Pinot, J. Stephan, "Fixing by Mixing: A Recipe for Optimal Byzantine ML under
//! Heterogeneity", AISTATS 2023).
//!
//! Each vector is replaced by the mean of its `n - f` nearest neighbours, itself included:
//! `y_i = (1/(n-f)) sum_{j in N_i} x_j`. The rule after it then aggregates `y_1..y_n` with the
//! same `f` (as the paper does). Ties go to the lower index; a vector is always its own
//! neighbour (an identical vector elsewhere would tie at distance 0 and change nothing).
//!
//! Precondition: `2f < n` (the paper assumes `f < n/2`), checked with the scenario, unless
//! `"unchecked": true`. At run time the neighbour count is clamped to `1..=n` (1: every vector
//! unchanged; `n`: every vector becomes the mean); no vector in gives no vector out.
//!
//! Kernel: one Gram product for the distances, each neighbour set certified against the direct
//! distances ([`super::kernel::distances`]); the means add the neighbours in index order, over
//! cache-sized chunks of coordinates. Cost: `O(n^2 d)`.

use super::kernel::distances::PairwiseDistances;
use super::preconditions::{AtLeast, check_pairwise_memory, resolve_f};
use super::{PreAggregator, PreAggregatorKind};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `nnm`: nearest-neighbour mixing, a pre-aggregator (Allouah et al. 2023): each vector becomes
/// the mean of its n - f nearest neighbours, itself included. Needs 2f < n; past it the neighbour
/// count is clamped to 1..n. Cost: O(n^2 d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NnmParams {
    /// Byzantine inputs assumed (default: the scenario's Byzantine count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
    /// Run even when 2f >= n.
    #[serde(default)]
    pub unchecked: bool,
}

impl Params for NnmParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let defaulted = self.f.is_none();
        let f = resolve_f(&mut self.f, ctx);
        check_pairwise_memory("nnm", 16, ctx)?;
        AtLeast {
            rule: "nnm",
            paper: "Allouah et al. 2023 assume f < n/2",
            formula: "2f + 1",
            need: 2 * f + 1,
        }
        .check(f, defaulted, self.unchecked, ctx)
    }
}

impl PreAggregatorKind for NnmParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String> {
        Ok(Box::new(Nnm {
            f: self.f.unwrap_or(ctx.setting.byzantine),
        }))
    }
}

/// Nearest-neighbour mixing.
#[derive(Debug, Clone)]
pub struct Nnm {
    /// Byzantine inputs assumed.
    pub f: usize,
}

impl PreAggregator for Nnm {
    fn apply(&mut self, vectors: Vec<Vector>) -> Vec<Vector> {
        let dim = vectors.first().map_or(0, |v| v.len());
        let rows = super::kernel::Rows::from_vectors(&vectors, dim);
        nnm(&rows.slices(), dim, self.f)
            .into_iter()
            .map(Vector::from)
            .collect()
    }
}

/// The neighbour sets: for each `i`, itself and its `k - 1` nearest others (ties: lower index),
/// ascending; certified against the direct distances.
fn neighbour_sets(dist: &mut PairwiseDistances<'_>, k: usize) -> Vec<Vec<usize>> {
    let n = dist.len();
    (0..n)
        .map(|i| {
            let others = k - 1;
            let order = |dist: &PairwiseDistances<'_>| -> Vec<usize> {
                let mut o: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                o.sort_unstable_by(|&a, &b| {
                    dist.get(i, a).total_cmp(&dist.get(i, b)).then(a.cmp(&b))
                });
                o
            };
            let mut o = order(dist);
            if others > 0 && others < o.len() {
                let inside = o[..others]
                    .iter()
                    .map(|&j| dist.get(i, j) + dist.error(i, j))
                    .fold(f64::NEG_INFINITY, f64::max);
                let outside = o[others..]
                    .iter()
                    .map(|&j| {
                        let e = dist.error(i, j);
                        if e.is_finite() {
                            dist.get(i, j) - e
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .fold(f64::INFINITY, f64::min);
                if inside >= outside && !dist.is_exact(i) {
                    dist.refine(i);
                    o = order(dist);
                }
            }
            let mut set: Vec<usize> = o.into_iter().take(others).collect();
            set.push(i);
            set.sort_unstable();
            set
        })
        .collect()
}

/// Nearest-neighbour mixing of `rows` (each of length >= `dim`; finite values) assuming `f`
/// Byzantine: `n` mixed vectors (none without rows).
pub fn nnm(rows: &[&[f64]], dim: usize, f: usize) -> Vec<Vec<f64>> {
    let n = rows.len();
    if n == 0 {
        return Vec::new();
    }
    let k = n.saturating_sub(f).clamp(1, n);
    let sets: Vec<Vec<usize>> = if k == 1 {
        (0..n).map(|i| vec![i]).collect()
    } else if k == n {
        vec![(0..n).collect(); n]
    } else {
        let mut dist = PairwiseDistances::new(rows, dim);
        neighbour_sets(&mut dist, k)
    };
    let mut out = vec![vec![0.0; dim]; n];
    mix(rows, &sets, &mut out, k as f64);
    out
}

/// Outputs mixed together: each row chunk is read once per block of outputs.
const BLOCK: usize = 8;

/// `out[i] = (sum_{j in sets[i]} rows[j]) / denom`, adding in ascending `j` (`sets[i]` is
/// ascending), over cache-sized chunks of coordinates and blocks of [`BLOCK`] outputs (a row
/// chunk is loaded once per block, then added to every output of the block whose set holds it).
#[inline(always)]
fn mix_body(rows: &[&[f64]], sets: &[Vec<usize>], out: &mut [Vec<f64>], denom: f64) {
    let n = rows.len();
    let dim = out.first().map_or(0, |o| o.len());
    // masks[b][j]: which outputs of block b take row j.
    let masks: Vec<Vec<u8>> = sets
        .chunks(BLOCK)
        .map(|block| {
            let mut m = vec![0u8; n];
            for (bi, set) in block.iter().enumerate() {
                for &j in set {
                    m[j] |= 1 << bi;
                }
            }
            m
        })
        .collect();
    let width = ((1usize << 17) / n.max(1)).clamp(64, 4096);
    let mut start = 0;
    while start < dim {
        let end = (start + width).min(dim);
        for (block, mask) in out.chunks_mut(BLOCK).zip(&masks) {
            for (j, &bits) in mask.iter().enumerate() {
                if bits == 0 {
                    continue;
                }
                let src = &rows[j][start..end];
                for (bi, o) in block.iter_mut().enumerate() {
                    if bits & (1 << bi) != 0 {
                        for (a, x) in o[start..end].iter_mut().zip(src) {
                            *a += x;
                        }
                    }
                }
            }
            for o in block.iter_mut() {
                for a in &mut o[start..end] {
                    *a /= denom;
                }
            }
        }
        start = end;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mix_avx2(rows: &[&[f64]], sets: &[Vec<usize>], out: &mut [Vec<f64>], denom: f64) {
    mix_body(rows, sets, out, denom)
}

/// [`mix_body`], with AVX2 where the CPU has it (element-wise: the same bits either way).
fn mix(rows: &[&[f64]], sets: &[Vec<usize>], out: &mut [Vec<f64>], denom: f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); the function is safe code.
            unsafe { mix_avx2(rows, sets, out, denom) };
            return;
        }
    }
    mix_body(rows, sets, out, denom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use crate::linalg::squared_distance;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        // ByzFL's unit test: f = 1 on the reference vectors.
        let v = reference();
        assert_eq!(
            nnm(&slices(&v), 3, 1),
            vec![
                vec![2.5, 3.5, 4.5],
                vec![2.5, 3.5, 4.5],
                vec![5.5, 6.5, 7.5]
            ]
        );
        // f = 0: every vector becomes the mean; f >= n: unchanged.
        assert_eq!(nnm(&slices(&v), 3, 0), vec![vec![4.0, 5.0, 6.0]; 3]);
        assert_eq!(nnm(&slices(&v), 3, 7), v);
        assert!(nnm(&[], 3, 1).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn mixes_the_nearest_and_follows_permutations(
            offset in prop::sample::select(vec![0.0, 1e7]),
            pts in prop::collection::vec(prop::collection::vec(-4i32..4, 3), 1..26),
            f in 0usize..6,
        ) {
            let rows: Vec<Vec<f64>> = pts.iter().map(|p| p.iter().map(|&c| offset + c as f64 * 0.5).collect()).collect();
            let n = rows.len();
            let out = nnm(&slices(&rows), 3, f);
            let k = n.saturating_sub(f).clamp(1, n);
            for i in 0..n {
                // Brute force: itself plus the k - 1 nearest others by direct distance.
                let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                others.sort_by(|&a, &b| squared_distance(&rows[i], &rows[a]).total_cmp(&squared_distance(&rows[i], &rows[b])).then(a.cmp(&b)));
                let mut set: Vec<usize> = others.into_iter().take(k - 1).collect();
                set.push(i);
                set.sort_unstable();
                let want = crate::aggregate::kernel::mean_of_rows(set.iter().map(|&j| rows[j].as_slice()), 3);
                prop_assert_eq!(&out[i], &want);
            }
            // Reversed input: reversed output (equal up to which of equidistant vectors is
            // taken, so compare where the neighbour distances are all distinct).
            let mut rev = rows.clone();
            rev.reverse();
            let r = nnm(&slices(&rev), 3, f);
            for i in 0..n {
                let mut d: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| squared_distance(&rows[i], &rows[j])).collect();
                d.sort_by(f64::total_cmp);
                if d.windows(2).all(|w| w[0] != w[1]) {
                    for c in 0..3 {
                        prop_assert!((r[n - 1 - i][c] - out[i][c]).abs() <= 1e-9 * (1.0 + out[i][c].abs()));
                    }
                }
            }
        }
    }
}
