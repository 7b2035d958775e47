//! Small vector helpers on [`ndarray::Array1<f64>`], written for a fixed summation order so that
//! results are bit-for-bit reproducible.

use ndarray::Array1;

/// The vector type used throughout: a dense `f64` array.
pub type Vector = Array1<f64>;

/// Euclidean norm, summed in index order.
pub fn norm(v: &Vector) -> f64 {
    match v.as_slice() {
        Some(s) => s.iter().map(|x| x * x).sum::<f64>().sqrt(),
        None => v.iter().map(|x| x * x).sum::<f64>().sqrt(),
    }
}

/// Euclidean distance `||a - b||`, summed in index order.
pub fn distance(a: &Vector, b: &Vector) -> f64 {
    // Contiguous slices iterate much faster than ndarray's generic zip; the order of the sum
    // (index order) is the same either way, so results are bit-identical.
    match (a.as_slice(), b.as_slice()) {
        (Some(a), Some(b)) => a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt(),
        _ => a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt(),
    }
}

/// `norm(v) > bound`, the same answer, mostly without [`norm`]'s index-order sum (a chain of
/// dependent additions that does not vectorise): a lane-split sum of squares decides when it is
/// clearly below or above the bound, and the index-order norm decides the rest. Both sums add
/// the same non-negative squares, so each is within a relative `n * eps` of the true sum (under
/// 1e-6 for any vector that fits in memory): a factor of 4 between the split sum and `bound^2`
/// settles it either way.
pub fn norm_exceeds(v: &Vector, bound: f64) -> bool {
    if let Some(s) = v.as_slice().filter(|_| bound >= 0.0) {
        let mut acc = [0.0; LANES];
        let mut chunks = s.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                acc[l] += c[l] * c[l];
            }
        }
        for (l, x) in chunks.remainder().iter().enumerate() {
            acc[l] += x * x;
        }
        let q = sum_lanes(&acc);
        let b2 = bound * bound;
        if q.is_finite() && q < 0.25 * b2 {
            return false;
        }
        if q.is_finite() && b2.is_finite() && q > 4.0 * b2 {
            return true;
        }
    }
    norm(v) > bound
}

/// Lanes of the split sums of [`squared_distance`]: element `k` is added to lane `k % LANES`.
pub const LANES: usize = 8;

#[inline(always)]
fn squares_body(acc: &mut [f64; LANES], a: &[f64], b: &[f64]) {
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            let t = ca[l] - cb[l];
            acc[l] += t * t;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn squares_avx2(acc: &mut [f64; LANES], a: &[f64], b: &[f64]) {
    squares_body(acc, a, b)
}

/// Add `(a_k - b_k)^2` to lane `k % LANES` of `acc` for every `k` of the (equally long) slices,
/// whose length must be a multiple of [`LANES`] (the rest is ignored). The same bits with or
/// without AVX2: each lane adds in index order, and no multiply-add is fused.
pub fn accumulate_squares(acc: &mut [f64; LANES], a: &[f64], b: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); the function is safe code.
            unsafe { squares_avx2(acc, a, b) };
            return;
        }
    }
    squares_body(acc, a, b)
}

/// The sum of the lanes, in a fixed tree: `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
pub fn sum_lanes(acc: &[f64; LANES]) -> f64 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Squared Euclidean distance `sum_k (a_k - b_k)^2` of two slices (the shorter length), in a fixed
/// order: element `k` goes to lane `k % LANES` ([`accumulate_squares`]), then [`sum_lanes`]. This
/// is the *direct* value the distance-based rules certify their decisions against; the fixed
/// lane split vectorises, and the result does not depend on the CPU.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let full = n / LANES * LANES;
    let mut acc = [0.0; LANES];
    accumulate_squares(&mut acc, &a[..full], &b[..full]);
    for k in full..n {
        let t = a[k] - b[k];
        acc[k - full] += t * t;
    }
    sum_lanes(&acc)
}

#[inline(always)]
fn add_body(dst: &mut [f64], src: &[f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_avx2(dst: &mut [f64], src: &[f64]) {
    add_body(dst, src)
}

/// `dst[k] += src[k]` for every `k` of the shorter slice (element-wise, so the same bits whatever
/// the vector width).
pub fn add_assign(dst: &mut [f64], src: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); the function is safe code.
            unsafe { add_avx2(dst, src) };
            return;
        }
    }
    add_body(dst, src)
}

/// Mean of the given vectors, added in the order given (callers pass them sorted by worker id).
/// Returns the zero vector of length `dim` for an empty input.
pub fn mean<'a, I>(vectors: I, dim: usize) -> Vector
where
    I: IntoIterator<Item = &'a Vector>,
{
    let vectors: Vec<&Vector> = vectors.into_iter().collect();
    let count = vectors.len();
    let mut sum = Vector::zeros(dim);
    let slices: Option<Vec<&[f64]>> = vectors
        .iter()
        .map(|v| v.as_slice().filter(|s| s.len() == dim))
        .collect();
    match (sum.as_slice_mut(), slices) {
        // Block by block: each block of the sum stays in L1 while every vector adds into it,
        // so the vectors are read once and the sum written once. Each entry still gets
        // `((0 + v_1) + v_2) + ...` in the order given: the same bits as whole-vector adds.
        (Some(out), Some(slices)) => {
            const BLOCK: usize = 512;
            for (k, block) in out.chunks_mut(BLOCK).enumerate() {
                let lo = k * BLOCK;
                for s in &slices {
                    add_assign(block, &s[lo..lo + block.len()]);
                }
            }
        }
        _ => {
            for v in &vectors {
                sum += *v;
            }
        }
    }
    if count > 0 {
        sum /= count as f64;
    }
    sum
}

/// True when every entry is finite (no NaN, no infinity).
pub fn is_finite(v: &Vector) -> bool {
    match v.as_slice_memory_order() {
        // Blocks without an early exit vectorise; the blocks still stop at the first bad one.
        Some(s) => s
            .chunks(64)
            .all(|c| c.iter().fold(true, |ok, x| ok & x.is_finite())),
        None => v.iter().all(|x| x.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn norm_exceeds_answers_as_the_index_order_norm() {
        let mut rng = crate::rng::stream(5, 0);
        for n in [0usize, 1, 7, 8, 9, 100, 4810] {
            let v = Vector::from_shape_simple_fn(n, || crate::rng::normal(&mut rng) * 1e3);
            let r = norm(&v);
            // Bounds far from the norm, at it, one ulp either side, and odd ones.
            let bounds = [
                0.0,
                r * 0.1,
                r * 0.49,
                r * 0.51,
                r * 1.9,
                r * 2.1,
                r * 10.0,
                r,
                f64::from_bits(r.to_bits().saturating_sub(1)),
                f64::from_bits(r.to_bits() + 1),
                -1.0,
                f64::NAN,
                f64::INFINITY,
                1e200,
            ];
            for b in bounds {
                assert_eq!(norm_exceeds(&v, b), r > b, "n = {n}, norm {r}, bound {b}");
            }
        }
        let huge = Vector::from_elem(10, 1e200);
        assert!(norm_exceeds(&huge, 1e6));
        assert_eq!(norm_exceeds(&huge, 1e300), norm(&huge) > 1e300);
    }

    #[test]
    fn norm_distance_mean() {
        assert_eq!(norm(&array![3.0, 4.0]), 5.0);
        assert_eq!(distance(&array![1.0, 1.0], &array![4.0, 5.0]), 5.0);
        assert_eq!(squared_distance(&[1.0, 1.0], &[4.0, 5.0]), 25.0);
        // The lane split: the portable and AVX2 paths give the same bits, any length.
        let a: Vec<f64> = (0..37).map(|k| (k as f64 * 0.37).sin() * 1e3).collect();
        let b: Vec<f64> = (0..37).map(|k| (k as f64 * 0.11).cos()).collect();
        let mut portable = [0.0; LANES];
        squares_body(&mut portable, &a[..32], &b[..32]);
        let mut dispatched = [0.0; LANES];
        accumulate_squares(&mut dispatched, &a[..32], &b[..32]);
        assert_eq!(portable, dispatched);
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((squared_distance(&a, &b) - naive).abs() <= 1e-12 * naive);
        let mut sum = vec![1.0; 5];
        add_assign(&mut sum, &[1.0, 2.0, 3.0]);
        assert_eq!(sum, vec![2.0, 3.0, 4.0, 1.0, 1.0]);
        let vs = [array![1.0, 2.0], array![3.0, 6.0]];
        assert_eq!(mean(vs.iter(), 2), array![2.0, 4.0]);
        assert_eq!(mean(std::iter::empty(), 3), Vector::zeros(3));
        assert!(!is_finite(&array![1.0, f64::NAN]));
        let long = Vector::from_shape_fn(1000, |k| if k == 517 { f64::INFINITY } else { 1.0 });
        assert!(!is_finite(&long));
        assert!(is_finite(&Vector::from_elem(1000, 1e300)));
    }
}
