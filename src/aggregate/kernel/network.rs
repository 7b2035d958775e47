//! Sorting networks applied to many coordinates at once, for the column-wise rules (median,
//! trimmed mean, Bulyan's second phase) when the number of vectors `m` is small.
//!
//! A chunk of `w` coordinates of every vector is laid out row by row (`buf[r * stride + c]`, one
//! contiguous run per vector); a comparator `(i, j)` replaces rows `i` and `j` by their lane-wise
//! minimum and maximum. Every coordinate is thus sorted by the same fixed sequence of
//! compare-exchanges, with no branch, so the loop vectorises across coordinates (the column
//! layout of [`super::columns::map_columns`] would need a transposition and a data-dependent
//! selection per coordinate instead). Min and max are exact, so the result does not depend on the
//! vector width the CPU offers: the AVX2 path and the portable path give identical bits.
//!
//! The network is K. E. Batcher's odd-even merge sort ("Sorting networks and their
//! applications", AFIPS 1968), `O(m log^2 m)` comparators, pruned to the comparators that can
//! change the ranks a rule reads (a median reads one or two).

/// A comparator: rows `.0 < .1`; after it, row `.0` holds the smaller value of each coordinate.
pub type Comparator = (u32, u32);

/// Batcher's odd-even merge sort network for `n` inputs (any `n`, not only powers of two).
pub fn batcher(n: usize) -> Vec<Comparator> {
    let mut out = Vec::new();
    let mut p = 1;
    while p < n {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < n {
                for i in 0..k.min(n - j - k) {
                    if (i + j) / (p * 2) == (i + j + k) / (p * 2) {
                        out.push(((i + j) as u32, (i + j + k) as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

/// The comparators of `network` (on `n` rows) that can change the values at the ranks
/// `needed`: a backward pass keeps a comparator when one of its rows is needed later, and then
/// needs both its rows.
pub fn prune(
    network: &[Comparator],
    needed: impl IntoIterator<Item = usize>,
    n: usize,
) -> Vec<Comparator> {
    let mut need = vec![false; n];
    for i in needed {
        if i < n {
            need[i] = true;
        }
    }
    let mut kept = Vec::new();
    for &(a, b) in network.iter().rev() {
        if need[a as usize] || need[b as usize] {
            need[a as usize] = true;
            need[b as usize] = true;
            kept.push((a, b));
        }
    }
    kept.reverse();
    kept
}

#[inline(always)]
fn exchange(lo: &mut [f64], hi: &mut [f64]) {
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (x, y) = (*a, *b);
        // `if x < y` compiles to packed min/max; inputs are finite, so no NaN case arises.
        *a = if x < y { x } else { y };
        *b = if x < y { y } else { x };
    }
}

#[inline(always)]
fn apply_body(network: &[Comparator], buf: &mut [f64], width: usize, stride: usize) {
    for &(i, j) in network {
        let (i, j) = (i as usize, j as usize);
        let (left, right) = buf.split_at_mut(j * stride);
        exchange(
            &mut left[i * stride..i * stride + width],
            &mut right[..width],
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_avx2(network: &[Comparator], buf: &mut [f64], width: usize, stride: usize) {
    apply_body(network, buf, width, stride)
}

/// Apply `network` to the first `width` coordinates of each row of `buf` (rows `stride` apart).
/// Panics if a comparator names a row outside `buf`: callers build the network for the row
/// count of their buffer.
pub fn apply(network: &[Comparator], buf: &mut [f64], width: usize, stride: usize) {
    debug_assert!(width <= stride);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); the function is otherwise safe
            // code.
            unsafe { apply_avx2(network, buf, width, stride) };
            return;
        }
    }
    apply_body(network, buf, width, stride)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input.
    #[test]
    fn batcher_sorts_every_zero_one_input() {
        for n in 1..=14usize {
            let net = batcher(n);
            let inputs = 1usize << n;
            let mut buf = vec![0.0; n * inputs];
            for bits in 0..inputs {
                for r in 0..n {
                    buf[r * inputs + bits] = ((bits >> r) & 1) as f64;
                }
            }
            apply(&net, &mut buf, inputs, inputs);
            for bits in 0..inputs {
                let col: Vec<f64> = (0..n).map(|r| buf[r * inputs + bits]).collect();
                assert!(col.windows(2).all(|w| w[0] <= w[1]), "n = {n}: {col:?}");
            }
        }
    }

    #[test]
    fn pruned_network_gets_the_needed_ranks_right() {
        for n in [5usize, 10, 17, 32] {
            let full = batcher(n);
            let mid = prune(&full, [n / 2], n);
            assert!(mid.len() < full.len() || n < 3);
            // Every permutation-like input in a few hundred columns.
            let w = 300;
            let mut buf: Vec<f64> = (0..n * w)
                .map(|k| ((k * 7919 + 13) % 1009) as f64 - 500.0)
                .collect();
            let original = buf.clone();
            apply(&mid, &mut buf, w, w);
            for c in 0..w {
                let mut col: Vec<f64> = (0..n).map(|r| original[r * w + c]).collect();
                col.sort_by(f64::total_cmp);
                assert_eq!(buf[(n / 2) * w + c], col[n / 2]);
            }
        }
    }

    #[test]
    fn portable_and_vector_paths_agree() {
        let n = 9;
        let w = 37;
        let net = batcher(n);
        let mut a: Vec<f64> = (0..n * w)
            .map(|k| ((k * 31) % 17) as f64 * 0.1 - 0.7)
            .collect();
        let mut b = a.clone();
        apply(&net, &mut a, w, w);
        apply_body(&net, &mut b, w, w);
        assert_eq!(a, b);
    }
}
