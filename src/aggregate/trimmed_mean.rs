//! `trimmed_mean`: the coordinate-wise trimmed mean (D. Yin, Y. Chen, K. Ramchandran, P. Bartlett,
//! "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates", ICML 2018).
//!
//! `[trimmed_mean_f(x_1..x_n)]_k = (1 / (n - 2f)) sum_{j = f+1}^{n-f} x_(j)k`, where
//! `x_(1)k <= ... <= x_(n)k` sorts coordinate `k`: per coordinate, drop the `f` largest and the
//! `f` smallest values and average the rest (ByzFL's `TrMean`, the reference table).
//!
//! Precondition: `2f < n`, checked with the scenario. At run time, with fewer vectors than that
//! (silent machines) or past the precondition (`"unchecked": true`), the rule trims
//! `t = min(f, floor((n - 1) / 2))` from each side, which keeps at least one value: the median
//! for odd `n`, the mean of the two middle values for even `n`.
//!
//! Kernel: up to [`NETWORK_MAX_ROWS`] vectors, a sorting network (the kept values are added in
//! rank order, so the result is exactly permutation invariant); above, two selections per
//! coordinate (rank `t`, then rank `n - t - 1` among the rest) and the kept values added in the
//! order the selection leaves them (deterministic; permutation invariant up to rounding); large
//! inputs are split by coordinates over the cores (the same bits whatever the split).
//! Cost `O(n d)`.

use super::kernel::Rows;
use super::kernel::columns::{NETWORK_MAX_ROWS, for_each_sorted_chunk, map_columns_keyed, unkey};
use super::preconditions::{AtLeast, resolve_f};
use super::{Aggregate, Aggregator, AggregatorKind, RoundInput};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `trimmed_mean`: per coordinate, drop the f largest and f smallest values and average the rest
/// (Yin et al. 2018). Needs 2f < n; past it (or with fewer vectors in a round) it trims
/// min(f, floor((n-1)/2)) per side, down to the median. Cost: O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrimmedMeanParams {
    /// Values trimmed from each side of each coordinate (default: the scenario's Byzantine
    /// count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
    /// Run even when 2f >= n (the rule then trims as much as leaves one value per coordinate).
    #[serde(default)]
    pub unchecked: bool,
}

impl Params for TrimmedMeanParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let defaulted = self.f.is_none();
        let f = resolve_f(&mut self.f, ctx);
        AtLeast {
            rule: "trimmed_mean",
            paper: "Yin et al. 2018: 2f < n keeps a value",
            formula: "2f + 1",
            need: 2 * f + 1,
        }
        .check(f, defaulted, self.unchecked, ctx)
    }
}

impl AggregatorKind for TrimmedMeanParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(TrimmedMean {
            f: self.f.unwrap_or(ctx.setting.byzantine),
        }))
    }
}

/// The coordinate-wise trimmed mean rule.
#[derive(Debug, Clone)]
pub struct TrimmedMean {
    /// Values trimmed from each side.
    pub f: usize,
}

impl Aggregator for TrimmedMean {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let rows = Rows::of(input);
        Aggregate::direction(trimmed_mean(&rows.slices(), rows.dim, self.f))
    }
}

/// Values trimmed per side for `n` values and `f` assumed Byzantine: `min(f, floor((n-1)/2))`.
pub fn trim_count(n: usize, f: usize) -> usize {
    f.min(n.saturating_sub(1) / 2)
}

/// The coordinate-wise trimmed mean of `rows` (each of length >= `dim`; finite values),
/// trimming [`trim_count`]`(n, f)` values per side; the zero vector without rows.
pub fn trimmed_mean(rows: &[&[f64]], dim: usize, f: usize) -> Vector {
    let n = rows.len();
    let mut out = vec![0.0; dim];
    if n == 0 {
        return Vector::from_vec(out);
    }
    let t = trim_count(n, f);
    let keep = n - 2 * t;
    let denom = keep as f64;
    if n <= NETWORK_MAX_ROWS {
        for_each_sorted_chunk(rows, dim, t..n - t, |chunk| {
            let dst = &mut out[chunk.start..chunk.start + chunk.width];
            dst.copy_from_slice(chunk.rank(t));
            for r in t + 1..n - t {
                for (o, x) in dst.iter_mut().zip(chunk.rank(r)) {
                    *o += x;
                }
            }
            for o in dst.iter_mut() {
                *o /= denom;
            }
        });
    } else {
        // On keys of the `total_cmp` order: the same comparisons, so the kept values end in the
        // same places and are added in the same order as selections on the floats would leave
        // them.
        map_columns_keyed(rows, &mut out, |v| {
            v.select_nth_unstable(t);
            let rest = &mut v[t..];
            rest.select_nth_unstable(keep - 1);
            rest[..keep].iter().map(|&k| unkey(k)).sum::<f64>() / denom
        });
    }
    Vector::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::kernel::test_support::{reference, slices};
    use proptest::prelude::*;

    fn sorted_trimmed(rows: &[Vec<f64>], d: usize, f: usize) -> Vec<f64> {
        let t = trim_count(rows.len(), f);
        (0..d)
            .map(|k| {
                let mut col: Vec<f64> = rows.iter().map(|r| r[k]).collect();
                col.sort_by(f64::total_cmp);
                let kept = &col[t..col.len() - t];
                kept.iter().sum::<f64>() / kept.len() as f64
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        // The reference file's vectors (ByzFL's unit test): f = 1 keeps the middle one.
        let v = reference();
        assert_eq!(
            trimmed_mean(&slices(&v), 3, 1).to_vec(),
            vec![4.0, 5.0, 6.0]
        );
        // f = 0 is the mean.
        assert_eq!(
            trimmed_mean(&slices(&v), 3, 0).to_vec(),
            vec![4.0, 5.0, 6.0]
        );
        // Past the precondition: f = 5 of 4 values trims 1 per side, the median.
        let v = vec![vec![1.0], vec![100.0], vec![2.0], vec![4.0]];
        assert_eq!(trimmed_mean(&slices(&v), 1, 5).to_vec(), vec![3.0]);
        assert_eq!(trimmed_mean(&[], 2, 1).to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn both_kernels_agree_with_sorting() {
        for (n, f) in [
            (5usize, 2usize),
            (10, 4),
            (32, 3),
            (33, 3),
            (120, 30),
            (64, 40),
        ] {
            let d = 200;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|r| {
                    (0..d)
                        .map(|k| (((r * 7919 + k * 104729) % 1013) as f64) * 0.25)
                        .collect()
                })
                .collect();
            let got = trimmed_mean(&slices(&rows), d, f);
            let want = sorted_trimmed(&rows, d, f);
            for k in 0..d {
                assert!(
                    (got[k] - want[k]).abs() <= 1e-12 * want[k].abs().max(1.0),
                    "n = {n}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn permutation_invariant_and_translation_equivariant(
            rows in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 2), 1..50),
            f in 0usize..10,
            shift in -1e3f64..1e3,
        ) {
            let base = trimmed_mean(&slices(&rows), 2, f);
            let mut rev = rows.clone();
            rev.reverse();
            let r = trimmed_mean(&slices(&rev), 2, f);
            let moved: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|x| x + shift).collect()).collect();
            let m = trimmed_mean(&slices(&moved), 2, f);
            for k in 0..2 {
                prop_assert!((r[k] - base[k]).abs() <= 1e-9 * (1.0 + base[k].abs()));
                prop_assert!((m[k] - base[k] - shift).abs() <= 1e-9 * (1.0 + shift.abs() + base[k].abs()));
            }
        }

        #[test]
        fn at_most_f_arbitrary_inputs_stay_inside_the_honest_range(
            honest in prop::collection::vec(prop::collection::vec(-10f64..10.0, 2), 1..40),
            byz in prop::collection::vec(prop::collection::vec(prop::num::f64::NORMAL, 2), 0..40),
        ) {
            // f Byzantine inputs among n = h + f with 2f < n (f < h), and the rule told f.
            let f = byz.len().min(honest.len() - 1);
            let mut all = honest.clone();
            all.extend(byz.into_iter().take(f));
            let out = trimmed_mean(&slices(&all), 2, f);
            for k in 0..2 {
                let lo = honest.iter().map(|r| r[k]).fold(f64::INFINITY, f64::min);
                let hi = honest.iter().map(|r| r[k]).fold(f64::NEG_INFINITY, f64::max);
                let slack = 1e-12 * lo.abs().max(hi.abs());
                prop_assert!(lo - slack <= out[k] && out[k] <= hi + slack, "{} not in [{lo}, {hi}]", out[k]);
            }
        }
    }
}
