//! Test support: finite-difference checks of a problem's gradient and Hessian-vector product.

use crate::linalg::{Vector, distance, norm};
use crate::problem::Problem;

/// Central finite difference of `loss`, coordinate by coordinate, step `h`.
pub(crate) fn numerical_gradient(p: &dyn Problem, x: &Vector, h: f64) -> Vector {
    Vector::from_shape_fn(x.len(), |i| {
        let mut a = x.clone();
        let mut b = x.clone();
        a[i] += h;
        b[i] -= h;
        (p.loss(&a) - p.loss(&b)) / (2.0 * h)
    })
}

/// `||gradient - numerical gradient|| <= tol * max(1, ||gradient||)`.
pub(crate) fn assert_gradient_matches(p: &dyn Problem, x: &Vector, tol: f64) {
    let g = p.gradient(x);
    let fd = numerical_gradient(p, x, 1e-5);
    let err = distance(&g, &fd);
    assert!(
        err <= tol * norm(&g).max(1.0),
        "{}: gradient off by {err:e} (norm {:e})",
        p.name(),
        norm(&g)
    );
}

/// The problem's Hessian-vector product against the finite difference of its gradient.
pub(crate) fn assert_hessian_vector_matches(p: &dyn Problem, x: &Vector, v: &Vector, tol: f64) {
    let hv = p.hessian_vector(x, v);
    let fd = crate::problem::finite_difference_hessian_vector(p, x, v);
    let err = distance(&hv, &fd);
    assert!(
        err <= tol * norm(&hv).max(1.0),
        "{}: Hv off by {err:e} (norm {:e})",
        p.name(),
        norm(&hv)
    );
}
