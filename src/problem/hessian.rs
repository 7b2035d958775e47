//! Second-order metrics: the smallest Hessian eigenvalue by the Lanczos iteration on
//! Hessian-vector products, and the (eps, sqrt(eps))-approximate local minimum test of
//! SafeguardSGD's Theorem 2.3 (Allen-Zhu et al., ICLR 2021): `||grad f(x)|| <= eps` and
//! `grad^2 f(x) >= -sqrt(eps) I`.
//!
//! **Lanczos** (Lanczos 1950; Golub & Van Loan, *Matrix Computations*, 4th ed., Section 10.1)
//! builds an orthonormal basis `q_1..q_k` of the Krylov space of the Hessian `H` from a start
//! vector, and the tridiagonal `T_k = Q_k^T H Q_k` (diagonal `alpha`, off-diagonal `beta`).
//! Every new vector is orthogonalised against *all* earlier ones, twice (full
//! reorthogonalisation; "twice is enough": Parlett, *The Symmetric Eigenvalue Problem*,
//! Section 6.9), so no spurious copies of converged eigenvalues appear. The smallest eigenvalue
//! of `T_k` (found by Sturm-sequence bisection, Golub & Van Loan Section 8.4.1) is the estimate.
//!
//! Accuracy: the estimate is a Ritz value, so it is never below the true smallest eigenvalue
//! (up to rounding), and it converges fastest for extreme, well-separated eigenvalues; with
//! `k >= d` steps (or an invariant subspace found earlier) it is exact. The iteration stops
//! early when the new vector vanishes (an invariant subspace). Cost: `k` Hessian-vector products
//! (two gradients each with the finite-difference default) plus `O(k^2 d)` for the
//! reorthogonalisation. A suggested default is `k = 30`.
//!
//! The start vector is `N(0, I)` drawn from stream `(seed, streams::HESSIAN)`, so the estimate
//! is deterministic for a given seed.
//!
//! ```
//! use safeguard_sim::linalg::Vector;
//! use safeguard_sim::problem::hessian::{min_eigenvalue, second_order_check};
//! use safeguard_sim::problem::{Noise, Saddle};
//! let saddle = Saddle::new(10, 2, 0.0, Noise::Bounded { radius: 1.0 });
//! // At the saddle x = 0 the Hessian is diag(-1, -1, 1, ..., 1).
//! let x = Vector::zeros(10);
//! assert!((min_eigenvalue(&saddle, &x, 10, 7).unwrap() + 1.0).abs() < 1e-6);
//! assert!(!second_order_check(&saddle, &x, 0.01, 10, 7).unwrap().is_local_min);
//! ```

use crate::linalg::{Vector, norm};
use crate::problem::Problem;
use crate::problem::error::{ProblemError, require, require_finite};
use crate::rng::{normal, stream, streams};

/// Largest number of Lanczos steps (the basis costs `steps * d` numbers).
pub const MAX_STEPS: usize = 1000;

/// The smallest eigenvalue of a symmetric operator `hv` (a product `v -> H v`) on `R^dim` by
/// `steps` Lanczos steps with full reorthogonalisation from `start`.
///
/// Returns `NaN` when a product is not finite (e.g. at a diverged iterate). Errors when
/// `dim == 0`, `start.len() != dim`, `start` is zero or not finite, or `steps` is not in
/// `1..=MAX_STEPS`.
pub fn lanczos_min_eigenvalue(
    dim: usize,
    mut hv: impl FnMut(&Vector) -> Vector,
    steps: usize,
    start: &Vector,
) -> Result<f64, ProblemError> {
    require(dim >= 1, "dim", || "must be at least 1".into())?;
    require((1..=MAX_STEPS).contains(&steps), "steps", || {
        format!("must be in 1..={MAX_STEPS}, got {steps}")
    })?;
    require(start.len() == dim, "start", || {
        format!("has length {}, expected {dim}", start.len())
    })?;
    let n0 = norm(start);
    require(n0 > 0.0 && n0.is_finite(), "start", || {
        "must be non-zero and finite".into()
    })?;
    let steps = steps.min(dim);
    let mut basis: Vec<Vector> = vec![start / n0];
    let mut alpha: Vec<f64> = Vec::with_capacity(steps);
    let mut beta: Vec<f64> = Vec::with_capacity(steps);
    let mut scale = 0.0f64;
    for j in 0..steps {
        let mut w = hv(&basis[j]);
        if w.len() != dim || !w.iter().all(|v| v.is_finite()) {
            return Ok(f64::NAN);
        }
        let a = basis[j].dot(&w);
        w.scaled_add(-a, &basis[j]);
        if j > 0 {
            w.scaled_add(-beta[j - 1], &basis[j - 1]);
        }
        for _ in 0..2 {
            for q in &basis {
                let c = q.dot(&w);
                w.scaled_add(-c, q);
            }
        }
        alpha.push(a);
        let b = norm(&w);
        scale = scale.max(a.abs() + b);
        if j + 1 == steps || b <= 1e-10 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        beta.push(b);
        basis.push(w / b);
    }
    Ok(tridiagonal_min_eigenvalue(&alpha, &beta[..alpha.len() - 1]))
}

/// The smallest eigenvalue of the symmetric tridiagonal matrix with diagonal `a` and
/// off-diagonal `b` (`b.len() == a.len() - 1`), by bisection on the Sturm count (the number of
/// negative pivots of `T - s I = L D L^T`, which is the number of eigenvalues below `s`),
/// starting from the Gershgorin interval. Accurate to a few ulps of the matrix norm.
pub fn tridiagonal_min_eigenvalue(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    let off = |i: usize| -> f64 {
        let left = if i > 0 { b[i - 1].abs() } else { 0.0 };
        let right = if i + 1 < n { b[i].abs() } else { 0.0 };
        left + right
    };
    let mut lo = (0..n).map(|i| a[i] - off(i)).fold(f64::INFINITY, f64::min);
    let mut hi = (0..n)
        .map(|i| a[i] + off(i))
        .fold(f64::NEG_INFINITY, f64::max);
    let below = |s: f64| -> usize {
        let mut count = 0;
        let mut d = 1.0;
        for i in 0..n {
            let coupling = if i > 0 { b[i - 1] * b[i - 1] / d } else { 0.0 };
            d = a[i] - s - coupling;
            if d == 0.0 {
                d = -f64::EPSILON * (s.abs() + 1.0);
            }
            if d < 0.0 {
                count += 1;
            }
        }
        count
    };
    let tol = 2.0 * f64::EPSILON * lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
    for _ in 0..200 {
        if hi - lo <= tol {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if below(mid) >= 1 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The smallest eigenvalue of the problem's Hessian at `x`, by [`lanczos_min_eigenvalue`] on
/// [`Problem::hessian_vector`] with `steps` steps and the start vector of `seed`.
pub fn min_eigenvalue(
    problem: &dyn Problem,
    x: &Vector,
    steps: usize,
    seed: u64,
) -> Result<f64, ProblemError> {
    let d = problem.dim();
    require(x.len() == d, "x", || {
        format!("has length {}, expected {d}", x.len())
    })?;
    let mut rng = stream(seed, streams::HESSIAN);
    let start = Vector::from_shape_simple_fn(d, || normal(&mut rng));
    lanczos_min_eigenvalue(d, |v| problem.hessian_vector(x, v), steps, &start)
}

/// `true` when `x` is an `(eps, sqrt(eps))`-approximate local minimum:
/// `grad_norm <= eps` and `min_eig >= -sqrt(eps)` (false for NaN inputs).
pub fn is_approximate_local_minimum(grad_norm: f64, min_eig: f64, eps: f64) -> bool {
    grad_norm <= eps && min_eig >= -eps.sqrt()
}

/// First- and second-order figures at an iterate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondOrder {
    /// `||grad f(x)||`.
    pub grad_norm: f64,
    /// The Lanczos estimate of the smallest Hessian eigenvalue.
    pub min_eig: f64,
    /// The tolerance `eps` used.
    pub eps: f64,
    /// [`is_approximate_local_minimum`] of the above.
    pub is_local_min: bool,
}

/// The `(eps, sqrt(eps))`-approximate local minimum test at `x`. Since a Lanczos estimate with
/// `steps < d` can only overestimate the smallest eigenvalue, a `true` verdict is as reliable as
/// the estimate's convergence (use more steps to be sure); a `false` verdict from negative
/// curvature is certain up to the Hessian-vector product's accuracy. Errors for `eps` not
/// finite and `> 0`, and as [`min_eigenvalue`].
pub fn second_order_check(
    problem: &dyn Problem,
    x: &Vector,
    eps: f64,
    steps: usize,
    seed: u64,
) -> Result<SecondOrder, ProblemError> {
    require_finite("eps", eps, true)?;
    let min_eig = min_eigenvalue(problem, x, steps, seed)?;
    let grad_norm = norm(&problem.gradient(x));
    Ok(SecondOrder {
        grad_norm,
        min_eig,
        eps,
        is_local_min: is_approximate_local_minimum(grad_norm, min_eig, eps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::matrix_sensing::MatrixSensing;
    use crate::problem::{Noise, Quadratic, Rosenbrock, Saddle};
    use ndarray::array;

    const NONE: Noise = Noise::Gaussian { std: 0.0 };

    #[test]
    fn tridiagonal_bisection_on_a_known_spectrum() {
        // tridiag(-1, 2, -1) of size n: eigenvalues 2 - 2 cos(k pi / (n + 1)).
        for n in [1, 2, 5, 40] {
            let a = vec![2.0; n];
            let b = vec![-1.0; n - 1];
            let want = 2.0 - 2.0 * (std::f64::consts::PI / (n + 1) as f64).cos();
            assert!(
                (tridiagonal_min_eigenvalue(&a, &b) - want).abs() < 1e-13,
                "{n}"
            );
        }
        assert!((tridiagonal_min_eigenvalue(&[3.0, -7.0], &[0.0]) + 7.0).abs() < 1e-13);
        assert!(tridiagonal_min_eigenvalue(&[], &[]).is_nan());
    }

    #[test]
    fn lanczos_on_a_dense_symmetric_matrix() {
        // H = diag(1..=50) rotated by a Householder reflection: min eigenvalue 1, with a gap.
        let d = 50;
        let u = Vector::from_shape_fn(d, |i| ((i * 7 % 11) as f64 - 5.0) / 10.0);
        let u = &u / norm(&u);
        let hv = |v: &Vector| {
            // P D P v with P = I - 2 u u^T.
            let p = |w: &Vector| w - &(&u * (2.0 * u.dot(w)));
            let dv = p(v) * Vector::from_shape_fn(d, |i| (i + 1) as f64);
            p(&dv)
        };
        let start = Vector::from_elem(d, 1.0);
        let exact = lanczos_min_eigenvalue(d, hv, d, &start).unwrap();
        assert!((exact - 1.0).abs() < 1e-10, "{exact}");
        let partial = lanczos_min_eigenvalue(d, hv, 25, &start).unwrap();
        assert!((1.0 - 1e-10..1.1).contains(&partial), "{partial}");
    }

    #[test]
    fn min_eig_of_closed_form_hessians() {
        // Quadratic: the smallest curvature.
        let q = Quadratic::new(6, 0.5, 4.0, 1.0, NONE);
        let x = Vector::from_elem(6, 0.3);
        assert!((min_eigenvalue(&q, &x, 6, 1).unwrap() - 0.5).abs() < 1e-6);
        // Saddle at the origin: -1; at a minimum (x_i = +-1 for i < k): min(3 - 1, 1) = 1.
        let s = Saddle::new(5, 2, 0.0, NONE);
        assert!((min_eigenvalue(&s, &Vector::zeros(5), 5, 1).unwrap() + 1.0).abs() < 1e-6);
        let min = array![1.0, -1.0, 0.0, 0.0, 0.0];
        assert!((min_eigenvalue(&s, &min, 5, 1).unwrap() - 1.0).abs() < 1e-6);
        // Rosenbrock at its minimum (1, 1): Hessian [[802, -400], [-400, 200]].
        let r = Rosenbrock::new(1.0, 100.0, [0.0, 0.0], NONE);
        let want = 501.0 - (301.0f64.powi(2) + 400.0f64.powi(2)).sqrt();
        let got = min_eigenvalue(&r, &array![1.0, 1.0], 2, 1).unwrap();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn matrix_sensing_saddle_curvature_is_minus_the_top_eigenvalue() {
        let mut rng = stream(3, streams::DATA);
        let p = MatrixSensing::new(8, 3, 4.0, 1.0, 0.0, NONE, &mut rng).unwrap();
        let top = p.eigenvalues()[0];
        assert_eq!(top, 4.0);
        let d = p.dim();
        let got = min_eigenvalue(&p, &Vector::zeros(d), d, 5).unwrap();
        assert!((got + top).abs() < 1e-9, "{got}");
    }

    #[test]
    fn approximate_local_minimum_verdicts() {
        let s = Saddle::new(4, 2, 0.0, NONE);
        let at_saddle = second_order_check(&s, &Vector::zeros(4), 0.01, 4, 0).unwrap();
        assert_eq!(at_saddle.grad_norm, 0.0);
        assert!(!at_saddle.is_local_min);
        let near_min = array![1.0 + 1e-4, -1.0, 1e-4, 0.0];
        let check = second_order_check(&s, &near_min, 0.01, 4, 0).unwrap();
        assert!(check.is_local_min, "{check:?}");
        assert!(!is_approximate_local_minimum(0.5, 1.0, 0.01));
        assert!(!is_approximate_local_minimum(0.0, -0.2, 0.01));
        assert!(is_approximate_local_minimum(0.0, -0.09, 0.01));
        assert!(!is_approximate_local_minimum(f64::NAN, 1.0, 0.01));
    }

    #[test]
    fn bad_input_is_an_error_or_nan() {
        let q = Quadratic::new(3, 1.0, 2.0, 1.0, NONE);
        let x = Vector::zeros(3);
        assert!(min_eigenvalue(&q, &Vector::zeros(2), 3, 0).is_err());
        assert!(min_eigenvalue(&q, &x, 0, 0).is_err());
        assert!(min_eigenvalue(&q, &x, MAX_STEPS + 1, 0).is_err());
        assert!(second_order_check(&q, &x, 0.0, 3, 0).is_err());
        assert!(second_order_check(&q, &x, f64::NAN, 3, 0).is_err());
        assert!(lanczos_min_eigenvalue(3, |v| v.clone(), 3, &Vector::zeros(3)).is_err());
        assert!(lanczos_min_eigenvalue(0, |v| v.clone(), 3, &Vector::zeros(0)).is_err());
        let nan = lanczos_min_eigenvalue(3, |v| v * f64::NAN, 3, &Vector::from_elem(3, 1.0));
        assert!(nan.unwrap().is_nan());
        // Deterministic for a seed.
        let s = Saddle::new(6, 2, 0.0, NONE);
        let y = Vector::from_elem(6, 0.2);
        assert_eq!(
            min_eigenvalue(&s, &y, 3, 9).unwrap(),
            min_eigenvalue(&s, &y, 3, 9).unwrap()
        );
    }
}
