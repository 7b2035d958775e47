//! Pairwise squared distances between the round's vectors from one Gram-matrix product, with a
//! rigorous error bound per entry and exact recomputation where a decision needs it.
//!
//! **Why a Gram product.** Krum, Multi-Krum, Bulyan and nearest-neighbour mixing need all
//! `n(n-1)/2` squared distances `||x_i - x_j||^2`. Computed pair by pair, that is `n^2 d / 2`
//! subtractions, multiplications and additions in scalar order. Written as
//! `||x_i||^2 + ||x_j||^2 - 2 <x_i, x_j>`, the inner products are one matrix product `X X^T`,
//! which `matrixmultiply` (through ndarray's `general_mat_mul`) runs at several times the speed,
//! with cache blocking and SIMD. Only the upper triangle is computed, in tiles that are spread
//! over threads; every entry is produced by the same sequential kernel whichever thread computes
//! it, so the result does not depend on the thread count.
//!
//! **Cancellation.** The formula subtracts large numbers when the vectors lie far from the origin
//! relative to their spread: with `||x|| ~ R` and `||x_i - x_j|| ~ r`, the absolute error is about
//! `d u R^2` (`u = 2^-53`), so the relative error on the distance is `d u (R/r)^2`, which reaches
//! 100% at `R/r ~ 1/sqrt(d u)` (about 1e6 for `d = 1e4`): honest gradients around a large common
//! mean are exactly that case. Two remedies, both applied:
//! 1. **Centring.** The vectors are translated by their mean first (distances are unchanged in
//!    exact arithmetic), so `R` becomes the spread itself and the relative error falls to about
//!    `d u` for typical pairs.
//! 2. **Certification.** Every entry carries the bound
//!    `|D~_ij - D_ij| <= 4 (d + 8) u (r_i + r_j)^2`, with `r_i` the norm of the centred `x_i` and
//!    `D_ij = sum_k (x_ik - x_jk)^2` summed in index order (the *direct* value). The bound covers
//!    the centring's rounding, the product's (any summation order, with or without FMA:
//!    `gamma_d`), the final additions, and the direct value's own rounding, with a factor 2 to
//!    spare, plus `4 (d + 8)` smallest subnormals for underflow. A rule compares bounded quantities; when a bound leaves a decision open (two Krum
//!    scores closer than their errors, a neighbour at the edge of a nearest-`k` set), it calls
//!    [`PairwiseDistances::refine`], which recomputes a row directly. Decisions thus equal those of
//!    the direct computation, on any machine, at the Gram product's speed; refinements happen
//!    only on near-ties (e.g. identical Byzantine vectors), and then cost `O(n d)` per row.
//!
//! Overflow (distances beyond `f64::MAX`, from huge finite inputs) gives an infinite bound on
//! the entries concerned, so every decision involving them is refined; the direct values are then
//! `+inf`, never NaN.

use crate::linalg::{LANES, accumulate_squares, squared_distance, sum_lanes};
use ndarray::{Array2, ArrayView1, ArrayView2, Zip, linalg::general_mat_mul, s};

/// Rows per tile of the Gram product.
const TILE: usize = 128;
/// Up to this many vectors, every distance is computed directly (one pass over the data with
/// all pairs at once beats centring plus a product that small).
pub const DIRECT_MAX_ROWS: usize = 16;
/// Coordinates per chunk of the direct computation (a multiple of [`LANES`]).
const DIRECT_CHUNK: usize = 2048;
/// Below this many multiply-adds, the Gram product runs on the calling thread.
const PARALLEL_WORK: usize = 1 << 26;

/// The squared distances between `n` vectors, approximated from a Gram product and refined on
/// demand. See the module docs.
#[derive(Debug, Clone)]
pub struct PairwiseDistances<'a> {
    rows: &'a [&'a [f64]],
    n: usize,
    /// `n * n`, symmetric, zero diagonal.
    sq: Vec<f64>,
    /// Norm of each centred vector.
    radius: Vec<f64>,
    /// Rows recomputed directly (their entries, and the symmetric ones, are exact).
    exact: Vec<bool>,
    /// `4 (d + 8) u`.
    unit: f64,
    /// `4 (d + 8)` times the smallest subnormal: the rounding of underflowing products.
    floor: f64,
    /// The rows of the two largest radii.
    largest: [Option<usize>; 2],
}

impl<'a> PairwiseDistances<'a> {
    /// The distances between `rows` (each of length `d`; at least `d` numbers): direct for up
    /// to [`DIRECT_MAX_ROWS`] rows (every row exact), from the Gram product above.
    pub fn new(rows: &'a [&'a [f64]], d: usize) -> Self {
        let n = rows.len();
        if n <= DIRECT_MAX_ROWS {
            return PairwiseDistances {
                rows,
                n,
                sq: direct_all(rows, d),
                radius: vec![0.0; n],
                exact: vec![true; n],
                unit: 0.0,
                floor: 0.0,
                largest: [None, None],
            };
        }
        let mut sq = vec![0.0; n * n];
        let mut radius = vec![0.0; n];
        if n > 1 && d > 0 {
            let gram = gram(&centred(rows, d));
            for i in 0..n {
                let g = gram[(i, i)];
                radius[i] = if g.is_finite() {
                    g.max(0.0).sqrt()
                } else {
                    f64::INFINITY
                };
            }
            for i in 0..n {
                for j in i + 1..n {
                    let v = (gram[(i, i)] + gram[(j, j)]) - 2.0 * gram[(i, j)];
                    let v = if v.is_finite() {
                        v.max(0.0)
                    } else {
                        f64::INFINITY
                    };
                    sq[i * n + j] = v;
                    sq[j * n + i] = v;
                }
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| radius[b].total_cmp(&radius[a]).then(a.cmp(&b)));
        let largest = [order.first().copied(), order.get(1).copied()];
        PairwiseDistances {
            rows,
            n,
            sq,
            radius,
            largest,
            exact: vec![false; n],
            unit: 4.0 * (d as f64 + 8.0) * (f64::EPSILON / 2.0),
            floor: 4.0 * (d as f64 + 8.0) * f64::from_bits(1),
        }
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True without vectors.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The current value of `||x_i - x_j||^2` (exact if row `i` or `j` was refined).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.sq[i * self.n + j]
    }

    /// A bound on `|get(i, j) - D_ij|`: 0 once row `i` or `j` is refined, otherwise positive
    /// (it includes the rounding of underflow), possibly `+inf`.
    #[inline]
    pub fn error(&self, i: usize, j: usize) -> f64 {
        if self.exact[i] || self.exact[j] || i == j {
            0.0
        } else {
            let s = self.radius[i] + self.radius[j];
            self.unit * s * s + self.floor
        }
    }

    /// A bound on every [`error`](Self::error) of row `i` (0 once the row is refined): with the
    /// largest other radius, `O(1)`.
    pub fn row_error(&self, i: usize) -> f64 {
        if self.exact[i] {
            return 0.0;
        }
        // The largest radius among the others: the first of the two largest that is not `i`.
        let other = if self.largest[0] == Some(i) {
            self.largest[1]
        } else {
            self.largest[0]
        };
        match other {
            Some(j) => {
                let s = self.radius[i] + self.radius[j];
                self.unit * s * s + self.floor
            }
            None => 0.0,
        }
    }

    /// True once row `i` was recomputed directly.
    pub fn is_exact(&self, i: usize) -> bool {
        self.exact[i]
    }

    /// Recompute row (and column) `i` directly: `D_ij = sum_k (x_ik - x_jk)^2` in index order.
    pub fn refine(&mut self, i: usize) {
        if self.exact[i] {
            return;
        }
        for j in 0..self.n {
            if j != i {
                let v = squared_distance(self.rows[i], self.rows[j]);
                self.sq[i * self.n + j] = v;
                self.sq[j * self.n + i] = v;
            }
        }
        self.exact[i] = true;
    }
}

/// Every squared distance directly ([`squared_distance`]'s lane split), all pairs per chunk of
/// coordinates so that the data is read once: `n * n`, symmetric.
fn direct_all(rows: &[&[f64]], d: usize) -> Vec<f64> {
    let n = rows.len();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let mut acc = vec![[0.0; LANES]; pairs.len()];
    let full = d / LANES * LANES;
    let mut start = 0;
    while start < full {
        let end = (start + DIRECT_CHUNK).min(full);
        for (a, &(i, j)) in acc.iter_mut().zip(&pairs) {
            accumulate_squares(a, &rows[i][start..end], &rows[j][start..end]);
        }
        start = end;
    }
    let mut sq = vec![0.0; n * n];
    for (a, &(i, j)) in acc.iter_mut().zip(&pairs) {
        for k in full..d {
            let t = rows[i][k] - rows[j][k];
            a[k - full] += t * t;
        }
        let v = sum_lanes(a);
        sq[i * n + j] = v;
        sq[j * n + i] = v;
    }
    sq
}

/// The vectors minus their mean (summed in row order), as an `n x d` matrix.
fn centred(rows: &[&[f64]], d: usize) -> Array2<f64> {
    let n = rows.len();
    let mut mean = ndarray::Array1::<f64>::zeros(d);
    for r in rows {
        mean += &ArrayView1::from(&r[..d]);
    }
    mean /= n as f64;
    let mut c = Array2::<f64>::zeros((n, d));
    for (dst, src) in c.rows_mut().into_iter().zip(rows) {
        Zip::from(dst)
            .and(&ArrayView1::from(&src[..d]))
            .and(&mean)
            .for_each(|o, &x, &m| *o = x - m);
    }
    c
}

/// The tile `(bi, bj)` of `C C^T` (rows `bi*TILE..`, columns `bj*TILE..`).
fn tile(c: &ArrayView2<'_, f64>, bi: usize, bj: usize) -> Array2<f64> {
    let n = c.nrows();
    let (i0, i1) = (bi * TILE, ((bi + 1) * TILE).min(n));
    let (j0, j1) = (bj * TILE, ((bj + 1) * TILE).min(n));
    let a = c.slice(s![i0..i1, ..]);
    let b = c.slice(s![j0..j1, ..]);
    let mut out = Array2::<f64>::zeros((i1 - i0, j1 - j0));
    general_mat_mul(1.0, &a, &b.t(), 0.0, &mut out);
    out
}

/// `C C^T`, upper-triangle tiles (mirrored), spread over threads for large products.
fn gram(c: &Array2<f64>) -> Array2<f64> {
    let (n, d) = c.dim();
    let blocks = n.div_ceil(TILE);
    let pairs: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|bi| (bi..blocks).map(move |bj| (bi, bj)))
        .collect();
    let view = c.view();
    let work = n.saturating_mul(n).saturating_mul(d) / 2;
    let threads = if work >= PARALLEL_WORK {
        super::threads().min(pairs.len())
    } else {
        1
    };
    let mut tiles: Vec<Option<Array2<f64>>> = vec![None; pairs.len()];
    if threads > 1 {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Vec<(usize, Array2<f64>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&(bi, bj)) = pairs.get(k) else { break };
                            done.push((k, tile(&view, bi, bj)));
                        }
                        done
                    })
                })
                .collect();
            // A panicked thread leaves its tiles missing; they are computed below.
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (k, t) in results.into_iter().flatten() {
            tiles[k] = Some(t);
        }
    }
    let mut g = Array2::<f64>::zeros((n, n));
    for (k, &(bi, bj)) in pairs.iter().enumerate() {
        let t = match tiles[k].take() {
            Some(t) => t,
            None => tile(&view, bi, bj),
        };
        let (i0, j0) = (bi * TILE, bj * TILE);
        for ((a, b), &v) in t.indexed_iter() {
            let (i, j) = (i0 + a, j0 + b);
            if i <= j {
                g[(i, j)] = v;
                g[(j, i)] = v;
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(data: &[Vec<f64>]) -> Vec<&[f64]> {
        data.iter().map(|r| r.as_slice()).collect()
    }

    #[test]
    fn matches_direct_distances_within_the_bound() {
        // Far from the origin relative to the spread: the uncentred formula would lose every
        // digit here (||x||^2 ~ 1e16, distances ~ 1).
        let data: Vec<Vec<f64>> = (0..7)
            .map(|i| {
                (0..50)
                    .map(|k| 1e8 + ((i * 13 + k * 7) % 11) as f64 * 0.1)
                    .collect()
            })
            .collect();
        let rows = rows_of(&data);
        let dist = PairwiseDistances::new(&rows, 50);
        for i in 0..7 {
            for j in 0..7 {
                let direct = squared_distance(rows[i], rows[j]);
                assert!(
                    (dist.get(i, j) - direct).abs() <= dist.error(i, j),
                    "{i},{j}: {} vs {direct} (bound {})",
                    dist.get(i, j),
                    dist.error(i, j)
                );
                assert!(
                    dist.error(i, j) < 1e-9 * direct.max(1.0),
                    "centring keeps it tight"
                );
            }
        }
    }

    #[test]
    fn few_rows_are_direct_and_exact() {
        let data: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..4099)
                    .map(|k| ((i * 7 + k * 3) % 13) as f64 - 6.5)
                    .collect()
            })
            .collect();
        let rows = rows_of(&data);
        let dist = PairwiseDistances::new(&rows, 4099);
        for i in 0..5 {
            assert!(dist.is_exact(i));
            for j in 0..5 {
                assert_eq!(
                    dist.get(i, j).to_bits(),
                    squared_distance(rows[i], rows[j]).to_bits()
                );
                assert_eq!(dist.error(i, j), 0.0);
            }
        }
    }

    #[test]
    fn tiles_and_threads_give_the_same_bits_as_one_product() {
        let n = 2 * TILE + 17;
        let d = 40;
        let data: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..d)
                    .map(|k| ((i * 31 + k * 17) % 97) as f64 / 7.0 - 3.0)
                    .collect()
            })
            .collect();
        let rows = rows_of(&data);
        let c = centred(&rows, d);
        let tiled = gram(&c);
        let mut whole = Array2::<f64>::zeros((n, n));
        general_mat_mul(1.0, &c, &c.t(), 0.0, &mut whole);
        for i in 0..n {
            for j in i..n {
                assert_eq!(tiled[(i, j)].to_bits(), whole[(i, j)].to_bits(), "{i},{j}");
            }
        }
    }

    #[test]
    fn refine_is_exact_and_overflow_is_infinite_not_nan() {
        let mut data = vec![vec![1e300, 0.0], vec![-1e300, 0.0], vec![0.0, 1.0]];
        data.extend((0..DIRECT_MAX_ROWS).map(|k| vec![k as f64, 2.0]));
        let rows = rows_of(&data);
        let mut dist = PairwiseDistances::new(&rows, 2);
        assert!(!dist.get(0, 1).is_nan());
        assert!(dist.error(0, 1).is_infinite());
        dist.refine(0);
        assert_eq!(dist.get(0, 1), f64::INFINITY);
        assert_eq!(dist.get(1, 0), f64::INFINITY);
        assert_eq!(dist.error(0, 2), 0.0);
        assert_eq!(dist.get(0, 0), 0.0);
    }
}
