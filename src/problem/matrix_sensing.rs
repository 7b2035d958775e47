//! `matrix_sensing`: symmetric low-rank matrix factorisation (the noiseless, fully observed case
//! of matrix sensing; PCA in disguise), a non-convex problem whose saddles are all strict:
//!
//! `f(U) = 1/4 ||U U^T - M||_F^2`, `U` in `R^{n x r}`, `M = Q diag(lambda) Q^T` a PSD matrix of
//! rank `r` (`Q` in `R^{n x r}` orthonormal, drawn from a seed; eigenvalues `lambda_1 >= ... >=
//! lambda_r > 0` evenly spaced from `eigen_max` to `eigen_min`). See Ge, Jin & Zheng, "No
//! Spurious Local Minima in Nonconvex Low Rank Problems: A Unified Geometric Analysis", ICML
//! 2017, and Jin et al., "How to Escape Saddle Points Efficiently", ICML 2017.
//!
//! - Gradient: `grad f(U) = (U U^T - M) U`. Hessian-vector product (exact):
//!   `H[V] = (V U^T + U V^T) U + (U U^T - M) V`, and
//!   `<V, H[V]> = 1/2 ||U V^T + V U^T||_F^2 + <V, (U U^T - M) V>`,
//!   so `lambda_min(H) >= lambda_min(U U^T - M)` everywhere.
//! - Minimum: `f = 0` exactly when `U U^T = M`, i.e. `U = Q diag(lambda)^{1/2} O` with `O`
//!   orthogonal; there `lambda_min(H) = 0` (the rotations `U -> U O` are flat).
//! - Critical points: `U = Q_S diag(lambda_S)^{1/2}` up to rotation, with `S` a subset of the
//!   eigenvalues and zero columns elsewhere; `f = 1/4 sum_{j not in S} lambda_j^2`. For `S` not
//!   everything they are strict saddles with
//!   `lambda_min(H) = -max_{j not in S} lambda_j`: the bound above gives `>=` (there
//!   `U U^T - M = -sum_{j not in S} lambda_j q_j q_j^T`), and `V = q_j e_k^T` (`k` a zero column)
//!   has `H[V] = -lambda_j V`.
//! - `U = 0` is the saddle with `S` empty: `f = 1/4 sum_j lambda_j^2`, `grad f = 0` and
//!   `H[V] = -M V`, whose eigenvalues are `-lambda_j` (each `r` times) and 0; so
//!   `lambda_min(H) = -lambda_1 = -eigen_max`.
//!
//! Stochastic gradients are the gradient plus [`Noise`], as for the other analytic problems.
//! The run starts at a random point at distance `start_offset` from the saddle `U = 0`
//! (`start_offset = 0`: exactly at the saddle, where only noise and the perturbation move it).
//!
//! Parameter layout (`d = n r`): `U` row-major, entry `(i, j)` at `i r + j`.

use crate::linalg::Vector;
use crate::problem::error::{ProblemError, require, require_finite};
use crate::problem::{Noise, Problem};
use crate::rng::{SimRng, normal};
use ndarray::{Array2, ArrayView2};

/// Largest `n` (the dense `M` has `n^2` entries).
pub const MAX_N: usize = 4096;

/// Low-rank matrix factorisation `f(U) = 1/4 ||U U^T - M||_F^2`.
#[derive(Debug, Clone)]
pub struct MatrixSensing {
    target: Array2<f64>,
    eigenvalues: Vec<f64>,
    rank: usize,
    start_offset: f64,
    noise: Noise,
}

impl MatrixSensing {
    /// A problem with an `n x n` target of rank `rank`, eigenvalues evenly spaced from
    /// `eigen_max` down to `eigen_min`, its eigenvectors drawn from `rng` (the wiring should
    /// pass the [`crate::rng::streams::DATA`] stream).
    ///
    /// Preconditions (errors otherwise): `1 <= rank <= n <= 4096`;
    /// `0 < eigen_min <= eigen_max`, finite; `start_offset >= 0`, finite. Suggested defaults:
    /// `n = 20`, `rank = 3`, `eigen_max = 1`, `eigen_min = 0.5`, `start_offset = 0`, bounded
    /// noise of radius 0.1.
    pub fn new(
        n: usize,
        rank: usize,
        eigen_max: f64,
        eigen_min: f64,
        start_offset: f64,
        noise: Noise,
        rng: &mut SimRng,
    ) -> Result<Self, ProblemError> {
        require(n <= MAX_N, "n", || {
            format!("must be at most {MAX_N}, got {n}")
        })?;
        require(rank >= 1 && rank <= n, "rank", || {
            format!("must be in 1..={n}, got {rank}")
        })?;
        require(
            eigen_min > 0.0 && eigen_min <= eigen_max && eigen_max.is_finite(),
            "eigen_min",
            || format!("need 0 < eigen_min <= eigen_max < inf, got {eigen_min} and {eigen_max}"),
        )?;
        require_finite("start_offset", start_offset, false)?;
        let eigenvalues: Vec<f64> = (0..rank)
            .map(|i| {
                if rank == 1 {
                    eigen_max
                } else {
                    eigen_max - (eigen_max - eigen_min) * i as f64 / (rank - 1) as f64
                }
            })
            .collect();
        let basis = orthonormal_columns(n, rank, rng);
        let scaled = Array2::from_shape_fn((n, rank), |(i, j)| basis[[i, j]] * eigenvalues[j]);
        let target = scaled.dot(&basis.t());
        Ok(MatrixSensing {
            target,
            eigenvalues,
            rank,
            start_offset,
            noise,
        })
    }

    /// The target `M`.
    pub fn target(&self) -> &Array2<f64> {
        &self.target
    }

    /// The non-zero eigenvalues of `M`, largest first.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    fn n(&self) -> usize {
        self.target.nrows()
    }

    /// `x` as the `n x r` matrix `U`.
    fn factor<'a>(&self, x: &'a Vector) -> ArrayView2<'a, f64> {
        x.view()
            .into_shape_with_order((self.n(), self.rank))
            .expect("x has length n r")
    }

    /// The residual `U U^T - M`.
    fn residual(&self, u: &ArrayView2<'_, f64>) -> Array2<f64> {
        u.dot(&u.t()) - &self.target
    }

    fn flatten(&self, m: Array2<f64>) -> Vector {
        Vector::from_iter(m.iter().copied())
    }
}

/// `n x r` matrix with orthonormal columns: modified Gram-Schmidt, applied twice, to Gaussian
/// columns drawn from `rng` (a column that vanishes is redrawn).
fn orthonormal_columns(n: usize, r: usize, rng: &mut SimRng) -> Array2<f64> {
    let mut q = Array2::zeros((n, r));
    let mut j = 0;
    while j < r {
        let mut v = Vector::from_shape_simple_fn(n, || normal(rng));
        for _ in 0..2 {
            for k in 0..j {
                let c = q.column(k).dot(&v);
                v.scaled_add(-c, &q.column(k));
            }
        }
        let nv = crate::linalg::norm(&v);
        if nv > 1e-8 {
            q.column_mut(j).assign(&(v / nv));
            j += 1;
        }
    }
    q
}

impl Problem for MatrixSensing {
    fn name(&self) -> &str {
        "matrix_sensing"
    }
    fn dim(&self) -> usize {
        self.n() * self.rank
    }
    fn initial_point(&self, rng: &mut SimRng) -> Vector {
        let d = self.dim();
        if self.start_offset == 0.0 {
            return Vector::zeros(d);
        }
        let v = Vector::from_shape_simple_fn(d, || normal(rng));
        let nv = crate::linalg::norm(&v);
        if nv > 0.0 {
            v * (self.start_offset / nv)
        } else {
            v
        }
    }
    fn loss(&self, x: &Vector) -> f64 {
        let r = self.residual(&self.factor(x));
        0.25 * r.iter().map(|v| v * v).sum::<f64>()
    }
    fn gradient(&self, x: &Vector) -> Vector {
        let u = self.factor(x);
        self.flatten(self.residual(&u).dot(&u))
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(self.dim(), rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(0.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(self.dim())
    }
    fn hessian_vector(&self, x: &Vector, v: &Vector) -> Vector {
        let u = self.factor(x);
        let w = self.factor(v);
        let sym = w.dot(&u.t()) + u.dot(&w.t());
        self.flatten(sym.dot(&u) + self.residual(&u).dot(&w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::norm;
    use crate::problem::check::{assert_gradient_matches, assert_hessian_vector_matches};
    use crate::problem::hessian::min_eigenvalue;
    use crate::rng::stream;

    const NONE: Noise = Noise::Gaussian { std: 0.0 };

    fn problem(n: usize, r: usize) -> MatrixSensing {
        MatrixSensing::new(n, r, 3.0, 1.0, 0.5, NONE, &mut stream(2, 0)).unwrap()
    }

    /// `U` with columns `sqrt(lambda_j) q_j` for `j` in `keep`, zero columns elsewhere.
    fn critical_point(p: &MatrixSensing, keep: &[usize]) -> Vector {
        let (n, r) = (p.n(), p.rank);
        let q = orthonormal_columns(n, r, &mut stream(2, 0)); // the same draws as `new`
        let u = Array2::from_shape_fn((n, r), |(i, j)| {
            if keep.contains(&j) {
                q[[i, j]] * p.eigenvalues[j].sqrt()
            } else {
                0.0
            }
        });
        p.flatten(u)
    }

    #[test]
    fn target_is_psd_of_the_requested_spectrum() {
        let p = problem(6, 3);
        assert_eq!(p.eigenvalues(), &[3.0, 2.0, 1.0]);
        let m = p.target();
        assert!((m - &m.t()).iter().all(|v| v.abs() < 1e-12));
        // trace = sum of eigenvalues, ||M||_F^2 = sum of squares.
        assert!((m.diag().sum() - 6.0).abs() < 1e-12);
        assert!((m.iter().map(|v| v * v).sum::<f64>() - 14.0).abs() < 1e-12);
    }

    #[test]
    fn gradient_and_hessian_vector_match_finite_differences() {
        let p = problem(5, 2);
        for seed in 0..3 {
            let x = Vector::from_shape_simple_fn(p.dim(), {
                let mut rng = stream(seed, 1);
                move || normal(&mut rng)
            });
            assert_gradient_matches(&p, &x, 1e-7);
            let v = p.initial_point(&mut stream(seed, 2));
            assert_hessian_vector_matches(&p, &x, &v, 1e-6);
        }
    }

    #[test]
    fn minimum_and_saddles_as_documented() {
        let p = problem(6, 3);
        let d = p.dim();
        let min = critical_point(&p, &[0, 1, 2]);
        assert!(p.loss(&min) < 1e-24);
        assert!(norm(&p.gradient(&min)) < 1e-12);
        assert!(min_eigenvalue(&p, &min, d, 1).unwrap().abs() < 1e-9);
        // U = 0: f = ||M||_F^2 / 4, lambda_min = -lambda_1.
        let zero = Vector::zeros(d);
        assert!((p.loss(&zero) - 14.0 / 4.0).abs() < 1e-12);
        assert!((min_eigenvalue(&p, &zero, d, 1).unwrap() + 3.0).abs() < 1e-9);
        // Saddles missing some eigenvalues: lambda_min = -(largest one missing).
        for (keep, want) in [(vec![0], -2.0), (vec![1, 2], -3.0), (vec![0, 1], -1.0)] {
            let u = critical_point(&p, &keep);
            assert!(norm(&p.gradient(&u)) < 1e-12);
            let f: f64 = (0..3)
                .filter(|j| !keep.contains(j))
                .map(|j| p.eigenvalues[j].powi(2))
                .sum();
            assert!((p.loss(&u) - f / 4.0).abs() < 1e-12);
            let got = min_eigenvalue(&p, &u, d, 1).unwrap();
            assert!((got - want).abs() < 1e-9, "{keep:?}: {got}");
        }
    }

    #[test]
    fn gradient_descent_escapes_the_saddle() {
        let p = problem(6, 2);
        let mut x = p.initial_point(&mut stream(0, 1));
        assert!((norm(&x) - 0.5).abs() < 1e-12);
        for _ in 0..2000 {
            let g = p.gradient(&x);
            x.scaled_add(-0.05, &g);
        }
        assert!(p.loss(&x) < 1e-10, "{}", p.loss(&x));
        assert_eq!(
            p.initial_point(&mut stream(0, 1)),
            p.initial_point(&mut stream(0, 1))
        );
        let at_saddle = MatrixSensing::new(4, 2, 1.0, 1.0, 0.0, NONE, &mut stream(0, 0)).unwrap();
        assert_eq!(at_saddle.initial_point(&mut stream(0, 1)), Vector::zeros(8));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut rng = stream(0, 0);
        let mut bad =
            |n, r, hi, lo, s| MatrixSensing::new(n, r, hi, lo, s, NONE, &mut rng).is_err();
        assert!(bad(4, 0, 1.0, 1.0, 0.0));
        assert!(bad(4, 5, 1.0, 1.0, 0.0));
        assert!(bad(MAX_N + 1, 1, 1.0, 1.0, 0.0));
        assert!(bad(4, 2, 1.0, 0.0, 0.0));
        assert!(bad(4, 2, 1.0, 2.0, 0.0));
        assert!(bad(4, 2, f64::INFINITY, 1.0, 0.0));
        assert!(bad(4, 2, 1.0, 1.0, -1.0));
        assert!(bad(4, 2, 1.0, 1.0, f64::NAN));
    }
}
