//! `median`: the coordinate-wise median (D. Yin, Y. Chen, K. Ramchandran, P. Bartlett,
//! "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates", ICML 2018).
//!
//! `[median(x_1..x_n)]_k = median(x_1k, ..., x_nk)`, the mean of the two middle values for even
//! `n` (the convention of NumPy, ByzFL and the reference table; computed with
//! [`f64::midpoint`], which cannot overflow).
//!
//! Kernel: up to [`NETWORK_MAX_ROWS`] vectors, a pruned sorting network over chunks of
//! coordinates (branch-free, vectorised); above, a selection per coordinate
//! (`select_nth_unstable` on integer keys of the `total_cmp` order, expected `O(n)`) over
//! cache-sized transposed chunks, split by coordinates over the cores for large inputs (the
//! same bits whatever the split). Cost `O(n d)`.
//! The output is exactly permutation invariant (a selection does not depend on the input order).

use super::kernel::Rows;
use super::kernel::columns::{
    NETWORK_MAX_ROWS, for_each_sorted_chunk, map_columns_keyed, median_from_ranks, median_of_keys,
};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `median`: coordinate-wise median (Yin et al. 2018); for even n, the mean of the two middle
/// values. Any n works (no precondition); with no vector at all, the zero vector (no step).
/// Cost: O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MedianParams {}

impl Params for MedianParams {}

impl AggregatorKind for MedianParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(Median))
    }
}

/// The coordinate-wise median rule.
#[derive(Debug, Clone, Default)]
pub struct Median;

impl Aggregator for Median {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        Aggregate::direction(median(&rows.slices(), rows.dim))
    }
}

/// The coordinate-wise median of `rows` (each of length >= `dim`; finite values); the zero
/// vector without rows.
pub fn median(rows: &[&[f64]], dim: usize) -> Vector {
    let n = rows.len();
    let mut out = vec![0.0; dim];
    if n == 0 {
        return Vector::from_vec(out);
    }
    if n <= NETWORK_MAX_ROWS {
        let h = n / 2;
        let lower = h.saturating_sub(1);
        for_each_sorted_chunk(rows, dim, [lower, h], |chunk| {
            let (lo, hi) = (chunk.rank(lower), chunk.rank(h));
            for (c, o) in out[chunk.start..chunk.start + chunk.width]
                .iter_mut()
                .enumerate()
            {
                *o = median_from_ranks(n, lo[c], hi[c]);
            }
        });
    } else {
        map_columns_keyed(rows, &mut out, median_of_keys);
    }
    Vector::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::columns::median_of;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use proptest::prelude::*;

    /// Brute force: sort each column.
    fn sorted_median(rows: &[Vec<f64>], d: usize) -> Vec<f64> {
        (0..d)
            .map(|k| {
                let mut col: Vec<f64> = rows.iter().map(|r| r[k]).collect();
                col.sort_by(f64::total_cmp);
                let n = col.len();
                if n % 2 == 1 {
                    col[n / 2]
                } else {
                    (col[n / 2 - 1] + col[n / 2]) / 2.0
                }
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        // The reference file's vectors.
        let v = reference();
        assert_eq!(median(&slices(&v), 3).to_vec(), vec![4.0, 5.0, 6.0]);
        // Even n: the mean of the two middle values.
        let v = vec![
            vec![1.0, -1.0],
            vec![10.0, 0.0],
            vec![2.0, 5.0],
            vec![4.0, 3.0],
        ];
        assert_eq!(median(&slices(&v), 2).to_vec(), vec![3.0, 1.5]);
        // No vector: no step.
        assert_eq!(median(&[], 2).to_vec(), vec![0.0, 0.0]);
        // Huge values do not overflow the midpoint.
        let v = vec![vec![f64::MAX], vec![f64::MAX]];
        assert_eq!(median(&slices(&v), 1)[0], f64::MAX);
    }

    #[test]
    fn both_kernels_agree_with_sorting() {
        for n in [1usize, 2, 3, 7, 32, 33, 64, 101] {
            let d = 300;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|r| {
                    (0..d)
                        .map(|k| (((r * 7919 + k * 104729) % 1013) as f64) - 500.0)
                        .collect()
                })
                .collect();
            assert_eq!(
                median(&slices(&rows), d).to_vec(),
                sorted_median(&rows, d),
                "n = {n}"
            );
            // The selection kernel on its own (the network covers n <= 32).
            let mut col: Vec<f64> = rows.iter().map(|r| r[0]).collect();
            assert_eq!(median_of(&mut col), sorted_median(&rows, 1)[0]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn permutation_invariant_and_translation_equivariant(
            rows in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 3), 1..40),
            shift in -1e3f64..1e3,
            seed in any::<u64>(),
        ) {
            let d = 3;
            let base = median(&slices(&rows), d);
            let mut perm = rows.clone();
            let len = perm.len();
            for i in (1..len).rev() {
                perm.swap(i, (seed as usize).wrapping_mul(i + 7) % (i + 1));
            }
            prop_assert_eq!(median(&slices(&perm), d), base.clone());
            let moved: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|x| x + shift).collect()).collect();
            let m2 = median(&slices(&moved), d);
            for k in 0..d {
                prop_assert!((m2[k] - (base[k] + shift)).abs() <= 1e-9 * (1.0 + shift.abs() + base[k].abs()));
            }
        }

        #[test]
        fn at_most_f_arbitrary_inputs_stay_inside_the_honest_range(
            honest in prop::collection::vec(prop::collection::vec(-10f64..10.0, 2), 3..30),
            byz in prop::collection::vec(prop::collection::vec(prop::num::f64::NORMAL, 2), 0..30),
        ) {
            // f < n/2: at most (h - 1) Byzantine of h + f.
            let f = byz.len().min(honest.len() - 1);
            let mut all = honest.clone();
            all.extend(byz.into_iter().take(f));
            let out = median(&slices(&all), 2);
            for k in 0..2 {
                let lo = honest.iter().map(|r| r[k]).fold(f64::INFINITY, f64::min);
                let hi = honest.iter().map(|r| r[k]).fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(lo <= out[k] && out[k] <= hi, "{} not in [{lo}, {hi}]", out[k]);
            }
        }
    }
}
