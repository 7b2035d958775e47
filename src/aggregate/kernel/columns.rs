//! Column-wise traversal of `m` vectors of length `d` (each a contiguous row), for the rules that
//! work coordinate by coordinate: coordinate-wise median, trimmed mean, Bulyan's second phase.
//!
//! Two layouts, both processing `d` in chunks that fit in the L2 cache, so that every input number
//! is read from memory once:
//! - [`map_columns`] copies a chunk *transposed* (one contiguous run per coordinate) and hands each
//!   coordinate's `m` values to a closure, typically a selection (`select_nth_unstable_by`,
//!   expected `O(m)`, not a sort);
//! - [`for_each_sorted_chunk`] copies a chunk *as rows* and sorts every coordinate at once with a
//!   sorting network ([`super::network`]), used when `m <= NETWORK_MAX_ROWS`, where a selection per
//!   coordinate costs far more than the branch-free, vectorised network.
//!
//! Inputs are finite (the coordinator and [`crate::aggregate::apply`] drop anything else); the
//! selections use [`f64::total_cmp`] all the same, so that no input can make them panic.

use super::network;

/// About how many numbers a chunk holds (256 KiB of `f64`: inside L2).
const CHUNK_NUMBERS: usize = 1 << 15;

/// Up to this many vectors, the column-wise rules sort coordinates with a network
/// ([`for_each_sorted_chunk`]); above it, they select per coordinate ([`map_columns`]).
pub const NETWORK_MAX_ROWS: usize = 128;

/// About how many numbers a chunk of the sorting-network path holds (32 KiB, in L1: the network
/// passes over it once per comparator); measured best at 16 to 128 coordinates per chunk.
const NETWORK_CHUNK_NUMBERS: usize = 1 << 12;

/// Coordinates per chunk for `m` rows.
fn chunk_width(m: usize) -> usize {
    (CHUNK_NUMBERS / m.max(1)).clamp(8, 4096)
}

/// Rows transposed together: each column's run gets `TILE_ROWS` contiguous values per store
/// group, which keeps the transposition near the speed of a plain pass.
const TILE_ROWS: usize = 8;

/// Copy coordinates `start..start + w` of `rows` into `buf`, transposed: coordinate `c`'s values
/// (one per row, in row order) at `buf[c * m..(c + 1) * m]`, each mapped by `map`.
#[inline(always)]
fn transpose_chunk<T: Copy>(
    rows: &[&[f64]],
    start: usize,
    w: usize,
    buf: &mut [T],
    map: impl Fn(f64) -> T,
) {
    let m = rows.len();
    let full = m / TILE_ROWS * TILE_ROWS;
    let mut r = 0;
    while r < full {
        let tile: [&[f64]; TILE_ROWS] = std::array::from_fn(|i| &rows[r + i][start..start + w]);
        for c in 0..w {
            let dst = &mut buf[c * m + r..c * m + r + TILE_ROWS];
            for (d, src) in dst.iter_mut().zip(&tile) {
                *d = map(src[c]);
            }
        }
        r += TILE_ROWS;
    }
    for (r, row) in rows.iter().enumerate().skip(full) {
        for (c, &x) in row[start..start + w].iter().enumerate() {
            buf[c * m + r] = map(x);
        }
    }
}

/// The [`f64::total_cmp`] order as an integer: `key(a) < key(b)` exactly when `a.total_cmp(&b)`
/// is `Less`, for every `f64` (the transform `total_cmp` itself applies to each operand).
/// Selections on keys compare integers, about twice as fast as `total_cmp` on floats, and make
/// the same comparisons with the same outcomes, so they leave the values in the same places.
#[inline(always)]
pub fn key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The `f64` whose [`key`] is `k`.
#[inline(always)]
pub fn unkey(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// Inputs of at least this many numbers spread [`map_columns_keyed`] over threads.
const PARALLEL_NUMBERS: usize = 1 << 20;

/// [`map_columns`] on [`key`]s: `f` gets each coordinate's values as keys, in row order. Large
/// inputs (`m d` of at least 2^20 numbers) are split by coordinates over [`super::threads`]
/// threads; each coordinate is computed by the same code whatever the split, so the results do
/// not depend on it.
pub fn map_columns_keyed(rows: &[&[f64]], out: &mut [f64], f: impl Fn(&mut [i64]) -> f64 + Sync) {
    let (m, d) = (rows.len(), out.len());
    if m == 0 || d == 0 {
        return;
    }
    let width = chunk_width(m).min(d);
    let threads = if m.saturating_mul(d) >= PARALLEL_NUMBERS {
        super::threads()
    } else {
        1
    };
    // Coordinates per thread, in whole chunks.
    let per = d.div_ceil(threads).div_ceil(width) * width;
    if threads > 1 && per < d {
        let done: Vec<bool> = std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = out
                .chunks_mut(per)
                .enumerate()
                .map(|(k, part)| scope.spawn(move || keyed_range(rows, k * per, part, width, f)))
                .collect();
            handles.into_iter().map(|h| h.join().is_ok()).collect()
        });
        // A part whose thread panicked is computed here.
        for (k, part) in out.chunks_mut(per).enumerate() {
            if !done.get(k).copied().unwrap_or(false) {
                keyed_range(rows, k * per, part, width, &f);
            }
        }
    } else {
        keyed_range(rows, 0, out, width, &f);
    }
}

/// Coordinates `first..first + out.len()` of [`map_columns_keyed`], chunk by chunk.
fn keyed_range(
    rows: &[&[f64]],
    first: usize,
    out: &mut [f64],
    width: usize,
    f: &impl Fn(&mut [i64]) -> f64,
) {
    let m = rows.len();
    let mut buf = vec![0i64; m * width];
    let mut start = 0;
    while start < out.len() {
        let w = width.min(out.len() - start);
        transpose_chunk(rows, first + start, w, &mut buf, key);
        for (c, o) in out[start..start + w].iter_mut().enumerate() {
            *o = f(&mut buf[c * m..(c + 1) * m]);
        }
        start += w;
    }
}

/// For each coordinate `c < out.len()`, `out[c] = f(values)`, where `values` holds coordinate `c`
/// of every row, in row order, in a scratch slice `f` may reorder. Does nothing without rows.
pub fn map_columns(rows: &[&[f64]], out: &mut [f64], mut f: impl FnMut(&mut [f64]) -> f64) {
    let m = rows.len();
    let d = out.len();
    if m == 0 || d == 0 {
        return;
    }
    let width = chunk_width(m).min(d);
    let mut buf = vec![0.0; m * width];
    let mut start = 0;
    while start < d {
        let w = width.min(d - start);
        transpose_chunk(rows, start, w, &mut buf, |x| x);
        for (c, o) in out[start..start + w].iter_mut().enumerate() {
            *o = f(&mut buf[c * m..(c + 1) * m]);
        }
        start += w;
    }
}

/// A chunk of coordinates whose values are sorted across the rows (at the ranks asked for).
#[derive(Debug)]
pub struct SortedChunk<'a> {
    buf: &'a [f64],
    stride: usize,
    /// Number of coordinates in the chunk.
    pub width: usize,
    /// Index of the chunk's first coordinate.
    pub start: usize,
}

impl SortedChunk<'_> {
    /// The values of rank `r` (0 = smallest) of the chunk's coordinates, one per coordinate.
    pub fn rank(&self, r: usize) -> &[f64] {
        &self.buf[r * self.stride..r * self.stride + self.width]
    }
}

/// For each chunk of coordinates of `rows` (all of length >= `d`), sort every coordinate across
/// the rows so that the values at the ranks `needed` are in place (the others are not ordered),
/// then hand the chunk to `emit`. Meant for few rows (see [`NETWORK_MAX_ROWS`]): the network has
/// `O(m log^2 m)` comparators.
pub fn for_each_sorted_chunk(
    rows: &[&[f64]],
    d: usize,
    needed: impl IntoIterator<Item = usize>,
    mut emit: impl FnMut(&SortedChunk<'_>),
) {
    let m = rows.len();
    if m == 0 || d == 0 {
        return;
    }
    let net = network::prune(&network::batcher(m), needed, m);
    let width = ((NETWORK_CHUNK_NUMBERS / m).clamp(16, 128) / 8 * 8).min(d);
    let mut buf = vec![0.0; m * width];
    let mut start = 0;
    while start < d {
        let w = width.min(d - start);
        for (r, row) in rows.iter().enumerate() {
            buf[r * width..r * width + w].copy_from_slice(&row[start..start + w]);
        }
        network::apply(&net, &mut buf, w, width);
        emit(&SortedChunk {
            buf: &buf,
            stride: width,
            width: w,
            start,
        });
        start += w;
    }
}

/// The value of rank `k` (0 = smallest; clamped to the last) of `v`, which is reordered.
/// `v` must not be empty.
pub fn select(v: &mut [f64], k: usize) -> f64 {
    let k = k.min(v.len().saturating_sub(1));
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// The median of `v` (reordered): the middle value, or the midpoint of the two middle values for
/// an even count; 0 for an empty slice.
pub fn median_of(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let h = n / 2;
    let (lower, mid, _) = v.select_nth_unstable_by(h, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = lower
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
        below.midpoint(mid)
    }
}

/// [`median_of`] on [`key`]s: the same value, to the bit (the selection makes the same
/// comparisons, and the largest value below the middle is found over the same values in the same
/// order, with the same `>`).
pub fn median_of_keys(v: &mut [i64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let h = n / 2;
    let (lower, mid, _) = v.select_nth_unstable(h);
    let mid = unkey(*mid);
    if n % 2 == 1 {
        mid
    } else {
        let below = lower
            .iter()
            .map(|&k| unkey(k))
            .fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
        below.midpoint(mid)
    }
}

/// The median of the sorted values `lower_mid` (rank `n/2 - 1`) and `upper_mid` (rank `n/2`):
/// `upper_mid` for odd `n`, their midpoint (no overflow) for even `n`.
pub fn median_from_ranks(n: usize, lower_mid: f64, upper_mid: f64) -> f64 {
    if n % 2 == 1 {
        upper_mid
    } else {
        lower_mid.midpoint(upper_mid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream};

    #[test]
    fn keys_follow_total_cmp_and_round_trip_every_float() {
        let odd = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            1e300,
            -3.5e-200,
        ];
        for &a in &odd {
            assert_eq!(unkey(key(a)).to_bits(), a.to_bits());
            for &b in &odd {
                assert_eq!(key(a).cmp(&key(b)), a.total_cmp(&b), "{a} {b}");
            }
        }
    }

    #[test]
    fn keyed_selections_give_the_float_selections_bits() {
        // Many rows (the selection path), with ties, signed zeros and spread magnitudes.
        let mut rng = stream(3, 0);
        for m in [129usize, 200, 1000] {
            let d = 37;
            let rows: Vec<Vec<f64>> = (0..m)
                .map(|i| {
                    (0..d)
                        .map(|k| match (i + k) % 7 {
                            0 => 0.0,
                            1 => -0.0,
                            2 => 1.5,
                            _ => normal(&mut rng) * 10f64.powi((k % 9) as i32 - 4),
                        })
                        .collect()
                })
                .collect();
            let slices: Vec<&[f64]> = rows.iter().map(|r| r.as_slice()).collect();
            let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
            map_columns(&slices, &mut a, median_of);
            map_columns_keyed(&slices, &mut b, median_of_keys);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "median, m = {m}");
            let (t, keep) = (m / 10, m - 2 * (m / 10));
            map_columns(&slices, &mut a, |v| {
                v.select_nth_unstable_by(t, f64::total_cmp);
                let rest = &mut v[t..];
                rest.select_nth_unstable_by(keep - 1, f64::total_cmp);
                rest[..keep].iter().sum::<f64>()
            });
            map_columns_keyed(&slices, &mut b, |v| {
                v.select_nth_unstable(t);
                let rest = &mut v[t..];
                rest.select_nth_unstable(keep - 1);
                rest[..keep].iter().map(|&k| unkey(k)).sum::<f64>()
            });
            assert_eq!(bits(&a), bits(&b), "trimmed sum, m = {m}");
        }
    }

    #[test]
    fn a_large_keyed_map_split_over_threads_gives_the_serial_bits() {
        // 200 x 6000 = 1.2 million numbers: over the threshold, split by coordinates.
        let mut rng = stream(4, 0);
        let (m, d) = (200usize, 6000usize);
        let rows: Vec<Vec<f64>> = (0..m)
            .map(|_| (0..d).map(|_| normal(&mut rng)).collect())
            .collect();
        let slices: Vec<&[f64]> = rows.iter().map(|r| r.as_slice()).collect();
        let (mut serial, mut split) = (vec![0.0; d], vec![0.0; d]);
        map_columns(&slices, &mut serial, median_of);
        map_columns_keyed(&slices, &mut split, median_of_keys);
        assert!(
            serial
                .iter()
                .zip(&split)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert!(serial.iter().any(|x| *x != 0.0));
    }

    #[test]
    fn map_columns_sees_every_coordinate_once() {
        let a: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..10_000).map(|i| -(i as f64)).collect();
        let rows = [a.as_slice(), b.as_slice()];
        let mut out = vec![f64::NAN; 10_000];
        map_columns(&rows, &mut out, |v| v[0] * 10.0 + v[1]);
        for (c, o) in out.iter().enumerate() {
            assert_eq!(*o, 9.0 * c as f64);
        }
    }

    #[test]
    fn sorted_chunks_cover_every_coordinate() {
        let rows_data: Vec<Vec<f64>> = (0..5)
            .map(|r| (0..5000).map(|c| ((r * 37 + c * 11) % 23) as f64).collect())
            .collect();
        let rows: Vec<&[f64]> = rows_data.iter().map(|r| r.as_slice()).collect();
        let mut seen = vec![false; 5000];
        for_each_sorted_chunk(&rows, 5000, 0..5, |chunk| {
            for c in 0..chunk.width {
                let col: Vec<f64> = (0..5).map(|r| chunk.rank(r)[c]).collect();
                assert!(col.windows(2).all(|w| w[0] <= w[1]));
                seen[chunk.start + c] = true;
            }
        });
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_of(&mut []), 0.0);
        assert_eq!(median_of(&mut [f64::MAX, f64::MAX]), f64::MAX);
        assert_eq!(select(&mut [5.0, 4.0], 9), 5.0);
    }
}
