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

/// Squared Euclidean distance `sum_k (a_k - b_k)^2` of two slices (the shorter length), summed in
/// index order: the *direct* value the distance-based rules certify their decisions against.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
}

/// Mean of the given vectors, added in the order given (callers pass them sorted by worker id).
/// Returns the zero vector of length `dim` for an empty input.
pub fn mean<'a, I>(vectors: I, dim: usize) -> Vector
where
    I: IntoIterator<Item = &'a Vector>,
{
    let mut sum = Vector::zeros(dim);
    let mut count = 0usize;
    for v in vectors {
        sum += v;
        count += 1;
    }
    if count > 0 {
        sum /= count as f64;
    }
    sum
}

/// True when every entry is finite (no NaN, no infinity).
pub fn is_finite(v: &Vector) -> bool {
    v.iter().all(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn norm_distance_mean() {
        assert_eq!(norm(&array![3.0, 4.0]), 5.0);
        assert_eq!(distance(&array![1.0, 1.0], &array![4.0, 5.0]), 5.0);
        assert_eq!(squared_distance(&[1.0, 1.0], &[4.0, 5.0]), 25.0);
        let vs = [array![1.0, 2.0], array![3.0, 6.0]];
        assert_eq!(mean(vs.iter(), 2), array![2.0, 4.0]);
        assert_eq!(mean(std::iter::empty(), 3), Vector::zeros(3));
        assert!(!is_finite(&array![1.0, f64::NAN]));
    }
}
