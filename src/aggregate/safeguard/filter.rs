//! The safeguard's per-round filter: the counterpart of the paper's "without loss of generality"
//! on Byzantine vectors.
//!
//! Allen-Zhu et al. (ICLR 2021) assume bounded noise, `||grad_{t,i} - grad f(x_t)|| <= V` for every
//! honest machine (Assumption 2.1), and add that one may assume the same of Byzantine vectors
//! without loss of generality, because the master can discard the vectors that cannot be honest.
//! Honest vectors lie within `V` of `grad f(x_t)`, so any two of them lie within `2V` of each
//! other, and the honest machines are more than half of the round. Hence the rule, applied to the
//! round's valid vectors before the step:
//!
//! > keep a vector when more than half of the round's vectors (itself included) lie within `2V`
//! > of it; drop it otherwise.
//!
//! With an honest majority every honest vector is kept, and every kept vector lies within `2V` of
//! some honest vector, so within `3V` of `grad f(x_t)`: the paper's assumption up to the constant
//! (3V instead of V). A dropped vector still enters the windowed sums (so its sender can still be
//! expelled); it only leaves this round's step.
//!
//! The radius `2V` comes from the noise bound `V` ([`Filter::Radius`]). Without a known bound,
//! [`Filter::Estimated`] estimates it from the round itself, with no oracle knowledge: `rho_i` is
//! the radius of the smallest ball around vector `i` that holds more than half of the round's
//! vectors; every honest `rho_i <= 2V`, and the `(floor(n/2) + 1)`-th smallest `rho` is at most the
//! largest honest one, so `2 x` that value is at most `4V`: kept vectors stay within `5V` of
//! `grad f(x_t)`.
//!
//! Cost: with a known radius the rule is decided for most vectors from their distances to one
//! centre (last round's step direction) by the triangle inequality, `O(n d)`; only vectors whose
//! decision those bounds leave open get exact pairwise counts (`O(n d)` each, stopping as soon as
//! the decision is known). When honest vectors sit close to the bound (bounded noise in high
//! dimension), most stay open and the cost approaches `O(n^2 d / 2)`. The estimated radius always
//! needs every pairwise distance: `O(n^2 d)`.

use crate::linalg::{Vector, distance, is_finite, squared_distance};

/// How the per-round filter sets its radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// No filter: the step averages every valid vector of the good set (Algorithm 1 as printed).
    Off,
    /// Keep a vector when more than half of the round's vectors lie within this radius (`2V`).
    Radius(f64),
    /// The radius is estimated from the round: `2 x` the `(floor(n/2) + 1)`-th smallest
    /// majority radius `rho_i` (see the module docs).
    Estimated,
}

/// The filter's verdict on one round.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterOutcome {
    /// One entry per input vector: kept or not.
    pub kept: Vec<bool>,
    /// For each dropped vector (by input position): the number of vectors within the radius,
    /// itself included (at most half of the round).
    pub neighbours: Vec<(usize, usize)>,
    /// The radius used this round.
    pub radius: f64,
}

/// Relative slack of the shortcuts (the triangle inequality, and [`within`]'s lane-split
/// distance): a sum of `d` non-negative squares, in any order, is within a relative `d * eps` of
/// the exact sum, under 1e-6 for any vector that fits in memory; so a shortcut never decides a
/// pair the index-order computation would decide otherwise.
const SLACK: f64 = 1e-6;

/// Apply `filter` to the round's `vectors` (in worker-id order). `center` is a point expected
/// near the honest vectors (last round's step); it only changes the cost, never the result.
pub fn apply(filter: Filter, vectors: &[&Vector], center: Option<&Vector>) -> FilterOutcome {
    match filter {
        Filter::Off => FilterOutcome {
            kept: vec![true; vectors.len()],
            neighbours: Vec::new(),
            radius: f64::INFINITY,
        },
        Filter::Radius(r) => with_radius(vectors, r, center),
        Filter::Estimated => estimated(vectors),
    }
}

/// Vectors needed for a strict majority of `n`.
fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// `distance(a, b) <= radius`, the same answer: the vectorised lane-split distance
/// ([`squared_distance`]) decides when it is clearly inside or outside the radius, the
/// index-order [`distance`] (a chain of dependent additions, several times slower) decides the
/// rest.
fn within(a: &Vector, b: &Vector, radius: f64) -> bool {
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice())
        && x.len() == y.len()
        && radius.is_finite()
    {
        let d = squared_distance(x, y).sqrt();
        if d.is_finite() {
            if d < radius * (1.0 - SLACK) {
                return true;
            }
            if d > radius * (1.0 + SLACK) {
                return false;
            }
        }
    }
    distance(a, b) <= radius
}

/// The distance from `v` to `center`, for the triangle-inequality shortcuts only (they carry
/// their own slack): the lane-split form, which vectorises.
fn rough_distance(v: &Vector, center: &Vector) -> f64 {
    match (v.as_slice(), center.as_slice()) {
        (Some(x), Some(y)) if x.len() == y.len() => squared_distance(x, y).sqrt(),
        _ => distance(v, center),
    }
}

fn count_within(vectors: &[&Vector], i: usize, radius: f64) -> usize {
    (0..vectors.len())
        .filter(|&j| j == i || within(vectors[i], vectors[j], radius))
        .count()
}

fn with_radius(vectors: &[&Vector], radius: f64, center: Option<&Vector>) -> FilterOutcome {
    let n = vectors.len();
    let need = majority(n);
    let dim = vectors.first().map(|v| v.len()).unwrap_or(0);
    let fallback;
    let center = match center.filter(|c| c.len() == dim && is_finite(c)) {
        Some(c) => c,
        None => {
            fallback = crate::linalg::mean(vectors.iter().copied(), dim);
            &fallback
        }
    };
    let to_center: Vec<f64> = vectors.iter().map(|v| rough_distance(v, center)).collect();
    let mut sorted = to_center.clone();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = (radius * (1.0 - SLACK), radius * (1.0 + SLACK));
    let usable = is_finite(center) && sorted.iter().all(|d| !d.is_nan());
    let mut kept = vec![false; n];
    for i in 0..n {
        let di = to_center[i];
        if usable {
            // Within for sure: d(i, c) + d(j, c) <= lo.
            let surely_in = sorted.partition_point(|&dj| dj <= lo - di);
            if surely_in >= need {
                kept[i] = true;
                continue;
            }
            // Outside for sure: |d(i, c) - d(j, c)| > hi.
            let below = sorted.partition_point(|&dj| dj < di - hi);
            let above = n - sorted.partition_point(|&dj| dj <= di + hi);
            if n - below - above < need {
                continue;
            }
        }
        // Exact count, stopping once the verdict is known.
        let (mut inside, mut left) = (0usize, n);
        for j in 0..n {
            left -= 1;
            if j == i || within(vectors[i], vectors[j], radius) {
                inside += 1;
            }
            if inside >= need {
                kept[i] = true;
                break;
            }
            if inside + left < need {
                break;
            }
        }
    }
    let neighbours = (0..n)
        .filter(|&i| !kept[i])
        .map(|i| (i, count_within(vectors, i, radius)))
        .collect();
    FilterOutcome {
        kept,
        neighbours,
        radius,
    }
}

fn estimated(vectors: &[&Vector]) -> FilterOutcome {
    let n = vectors.len();
    if n == 0 {
        return FilterOutcome {
            kept: Vec::new(),
            neighbours: Vec::new(),
            radius: 0.0,
        };
    }
    let need = majority(n);
    let rows = pairwise_distances(vectors);
    let rho = ball_radii(&rows, need);
    let mut sorted = rho.clone();
    sorted.sort_by(f64::total_cmp);
    let radius = 2.0 * sorted[need - 1];
    let kept: Vec<bool> = rho.iter().map(|&r| r <= radius).collect();
    let neighbours = (0..n)
        .filter(|&i| !kept[i])
        .map(|i| (i, rows[i].iter().filter(|&&d| d <= radius).count()))
        .collect();
    FilterOutcome {
        kept,
        neighbours,
        radius,
    }
}

/// Every distance between two of `vectors`, each computed once, as a symmetric matrix (0 on the
/// diagonal).
pub(crate) fn pairwise_distances(vectors: &[&Vector]) -> Vec<Vec<f64>> {
    let n = vectors.len();
    let mut rows = vec![vec![0.0f64; n]; n];
    for a in 0..n {
        for b in a + 1..n {
            let d = distance(vectors[a], vectors[b]);
            rows[a][b] = d;
            rows[b][a] = d;
        }
    }
    rows
}

/// For each row of a distance matrix, its `need`-th smallest entry (the vector itself, at 0,
/// included): the radius of the smallest ball around the vector that holds `need` vectors.
/// `need` must be between 1 and the number of vectors.
pub(crate) fn ball_radii(rows: &[Vec<f64>], need: usize) -> Vec<f64> {
    rows.iter()
        .map(|row| {
            let mut r = row.clone();
            r.sort_by(f64::total_cmp);
            r[need - 1]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream};
    use ndarray::array;
    use proptest::prelude::*;

    /// The rule as stated, pair by pair.
    fn brute_force(vectors: &[&Vector], radius: f64) -> Vec<bool> {
        (0..vectors.len())
            .map(|i| 2 * count_within(vectors, i, radius) > vectors.len())
            .collect()
    }

    #[test]
    fn keeps_the_honest_cluster_and_drops_far_vectors() {
        let v: Vec<Vector> = vec![
            array![0.0, 0.0],
            array![1.0, 0.0],
            array![0.0, 1.0],
            array![50.0, 0.0],
            array![50.0, 0.5],
        ];
        let refs: Vec<&Vector> = v.iter().collect();
        let out = apply(Filter::Radius(2.0), &refs, None);
        assert_eq!(out.kept, vec![true, true, true, false, false]);
        // The two far vectors have each other and themselves: 2 of 5, not more than half.
        assert_eq!(out.neighbours, vec![(3, 2), (4, 2)]);
        // Exactly half is not enough: with 4 vectors, 2 together are dropped too.
        let refs: Vec<&Vector> = v[1..].iter().collect();
        let out = apply(Filter::Radius(2.0), &refs, None);
        assert_eq!(out.kept, vec![false; 4]);
    }

    #[test]
    fn within_answers_as_the_index_order_distance() {
        let mut rng = stream(11, 0);
        for dim in [1usize, 7, 8, 100, 10_000] {
            let a = Vector::from_shape_simple_fn(dim, || normal(&mut rng));
            let b = Vector::from_shape_simple_fn(dim, || normal(&mut rng));
            let d = distance(&a, &b);
            let below = f64::from_bits(d.to_bits() - 1);
            let above = f64::from_bits(d.to_bits() + 1);
            for r in [
                0.0,
                d * 0.5,
                below,
                d,
                above,
                d * 2.0,
                f64::INFINITY,
                f64::NAN,
            ] {
                assert_eq!(
                    within(&a, &b, r),
                    d <= r,
                    "dim {dim}, distance {d}, radius {r}"
                );
            }
        }
    }

    #[test]
    fn off_keeps_everything() {
        let v = [array![0.0], array![1e9]];
        let refs: Vec<&Vector> = v.iter().collect();
        assert_eq!(apply(Filter::Off, &refs, None).kept, vec![true, true]);
    }

    #[test]
    fn estimated_radius_keeps_the_majority_and_bounds_the_rest() {
        // 6 honest vectors within 1 of each other, 4 far ones spread out.
        let mut v: Vec<Vector> = (0..6).map(|i| array![0.1 * i as f64, 0.0]).collect();
        v.extend((0..4).map(|i| array![100.0 * (i + 1) as f64, 0.0]));
        let refs: Vec<&Vector> = v.iter().collect();
        let out = apply(Filter::Estimated, &refs, None);
        assert_eq!(&out.kept[..6], &[true; 6]);
        assert_eq!(&out.kept[6..], &[false; 4]);
        // rho of the honest ones is at most 0.5; the 6th smallest rho is honest.
        assert!(out.radius <= 1.0 && out.radius > 0.0, "{}", out.radius);
    }

    #[test]
    fn huge_finite_vectors_are_dropped_not_poisonous() {
        let v = [
            array![0.0, 0.0],
            array![0.5, 0.0],
            array![0.0, 0.5],
            array![1e300, -1e300],
        ];
        let refs: Vec<&Vector> = v.iter().collect();
        for f in [Filter::Radius(2.0), Filter::Estimated] {
            let out = apply(f, &refs, Some(&array![f64::INFINITY, 0.0]));
            assert_eq!(out.kept, vec![true, true, true, false], "{f:?}");
        }
    }

    proptest! {
        /// The triangle-inequality shortcuts never change a verdict: the result equals the rule
        /// evaluated pair by pair, whatever the centre.
        #[test]
        fn shortcuts_agree_with_the_rule(
            seed in 0u64..1000,
            n in 1usize..14,
            dim in 1usize..6,
            radius in 0.0f64..4.0,
            spread in 0.1f64..3.0,
            outliers in 0usize..6,
            center_offset in 0.0f64..3.0,
        ) {
            let mut rng = stream(seed, 0);
            let v: Vec<Vector> = (0..n)
                .map(|i| {
                    let scale = if i < outliers { 10.0 * spread } else { spread };
                    Vector::from_shape_simple_fn(dim, || scale * normal(&mut rng))
                })
                .collect();
            let refs: Vec<&Vector> = v.iter().collect();
            let center = Vector::from_elem(dim, center_offset);
            let expected = brute_force(&refs, radius);
            prop_assert_eq!(&apply(Filter::Radius(radius), &refs, Some(&center)).kept, &expected);
            prop_assert_eq!(&apply(Filter::Radius(radius), &refs, None).kept, &expected);
            // The estimated filter is the same rule at its own radius.
            let est = apply(Filter::Estimated, &refs, None);
            prop_assert_eq!(&est.kept, &brute_force(&refs, est.radius));
            prop_assert!(est.kept.iter().filter(|k| **k).count() * 2 > n);
        }
    }
}
