//! Small dense symmetric eigenproblems (cyclic Jacobi), for the trajectory's plane: the Hessian
//! at the start point, and the Gram or covariance matrix of the path.

/// Eigenvalues and eigenvectors of the symmetric matrix `a` (`n x n`, row-major), sorted by
/// increasing eigenvalue; ties are broken by the index of the eigenvector's largest component.
/// Each eigenvector has unit length and its largest-magnitude component positive.
///
/// Cyclic Jacobi rotations (Golub & Van Loan, *Matrix Computations*, 8.5) until the off-diagonal
/// mass is negligible; exact on diagonal input. O(n³) per sweep: meant for n up to a few hundred.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut m: Vec<f64> = a.to_vec();
    m.resize(n * n, 0.0);
    // Symmetrise, so rounding in the caller's matrix does not matter.
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (m[i * n + j] + m[j * n + i]);
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = m.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        if off <= total * 1e-30 || !off.is_finite() {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = m[p * n + p];
                let aqq = m[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let mkp = m[k * n + p];
                    let mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let mpk = m[p * n + k];
                    let mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut pairs: Vec<(f64, Vec<f64>)> = (0..n)
        .map(|j| {
            let mut vec: Vec<f64> = (0..n).map(|k| v[k * n + j]).collect();
            normalise_sign(&mut vec);
            (m[j * n + j], vec)
        })
        .collect();
    pairs.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| argmax_abs(&a.1).cmp(&argmax_abs(&b.1)))
    });
    pairs.into_iter().unzip()
}

/// Index of the largest |component| (the first on ties).
pub fn argmax_abs(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if x.abs() > v.get(best).map_or(0.0, |b| b.abs()) {
            best = i;
        }
    }
    best
}

/// Scale `v` to unit length with its largest-magnitude component positive (a fixed sign, so
/// outputs are deterministic).
pub fn normalise_sign(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        let sign = if v.get(argmax_abs(v)).is_some_and(|x| *x < 0.0) {
            -1.0
        } else {
            1.0
        };
        for x in v.iter_mut() {
            *x *= sign / norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_input_gives_coordinate_axes() {
        let a = [1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0];
        let (vals, vecs) = symmetric_eigen(&a, 3);
        assert_eq!(vals, vec![-1.0, -1.0, 1.0]);
        assert_eq!(vecs[0], vec![0.0, 1.0, 0.0]);
        assert_eq!(vecs[1], vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn rotated_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/√2 and (1, 1)/√2.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 1.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vecs[1][0] - h).abs() < 1e-12 && (vecs[1][1] - h).abs() < 1e-12);
        assert!((vecs[0][0].abs() - h).abs() < 1e-12);
        assert!(vecs[0][0] * vecs[0][1] < 0.0);
    }
}
