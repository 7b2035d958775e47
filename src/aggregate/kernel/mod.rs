//! Numerical kernels shared by the aggregation rules, written for large `d`: column-wise
//! traversal with selection or sorting networks ([`columns`], [`network`]), pairwise distances
//! from one Gram product with certified bounds ([`distances`]), and Krum scores with certified
//! selections ([`krum_scores`]).
//!
//! Every kernel takes the round's vectors as contiguous rows (`&[&[f64]]`, see [`Rows`]) and
//! assumes finite values (the coordinator and [`crate::aggregate::apply`] drop the others).
//! Results are deterministic: a fixed order of operations, whatever the thread count.

pub mod columns;
pub mod distances;
pub mod krum_scores;
pub mod network;

use super::RoundInput;
use std::borrow::Cow;

/// The round's valid vectors as contiguous rows, with their worker ids, in id order.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    /// Worker id of each row.
    pub ids: Vec<usize>,
    data: Vec<Cow<'a, [f64]>>,
    /// Length of every row (the parameter dimension).
    pub dim: usize,
}

impl<'a> Rows<'a> {
    /// The valid gradients of `input` (a non-contiguous array is copied; the coordinator's never
    /// are).
    pub fn of(input: &'a RoundInput<'_>) -> Self {
        let mut ids = Vec::new();
        let mut data = Vec::new();
        for (id, g) in input.valid() {
            ids.push(id);
            data.push(match g.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(g.to_vec()),
            });
        }
        Rows {
            ids,
            data,
            dim: input.dim(),
        }
    }

    /// Rows from plain vectors (ids `0..n`).
    pub fn from_vectors(vectors: &'a [crate::linalg::Vector], dim: usize) -> Self {
        Rows {
            ids: (0..vectors.len()).collect(),
            data: vectors
                .iter()
                .map(|g| match g.as_slice() {
                    Some(s) => Cow::Borrowed(s),
                    None => Cow::Owned(g.to_vec()),
                })
                .collect(),
            dim,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The rows as slices.
    pub fn slices(&self) -> Vec<&[f64]> {
        self.data.iter().map(|c| c.as_ref()).collect()
    }
}

/// Threads a kernel may use for one large product: the machine's parallelism, at most 8. The
/// results never depend on it.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// The mean of `rows` (each of length >= `dim`), summed element-wise in the order given, then
/// divided by their count (as [`crate::linalg::mean`] does); the zero vector without rows.
pub fn mean_of_rows<'r>(rows: impl IntoIterator<Item = &'r [f64]>, dim: usize) -> Vec<f64> {
    let mut sum = vec![0.0; dim];
    let mut count = 0usize;
    for r in rows {
        crate::linalg::add_assign(&mut sum, r);
        count += 1;
    }
    if count > 0 {
        let c = count as f64;
        for s in &mut sum {
            *s /= c;
        }
    }
    sum
}

/// Helpers shared by the rules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    /// Rows as slices.
    pub(crate) fn slices(v: &[Vec<f64>]) -> Vec<&[f64]> {
        v.iter().map(|r| r.as_slice()).collect()
    }

    /// The reference table's known-answer vectors (ByzFL's unit tests): [1,2,3], [4,5,6], [7,8,9].
    pub(crate) fn reference() -> Vec<Vec<f64>> {
        vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ]
    }
}
