//! `saddle_trap`: cancels the honest gradients' component along the directions of negative
//! curvature, so that the model, started at a saddle, stays there unless something the adversary
//! cannot see moves it: the reason SafeguardSGD adds the perturbation `xi_t` (Allen-Zhu et al.,
//! ICLR 2021, Section 2: the Byzantine machines see the honest gradients of the round and may
//! cancel the very noise that would let SGD escape; the master's perturbation is drawn after
//! they answer).
//!
//! Each round the colluders find, at the current parameters `x`, an orthonormal basis `U` of the
//! Hessian's eigen-directions with eigenvalue below `-curvature_tol` (deflated Lanczos on the
//! problem's Hessian-vector products: `negative_curvature`), and every colluder sends
//! `v = mu - (1 + h/f) U U^T mu`, with `mu` the honest mean, `h` honest and `f` Byzantine
//! machines in the good set. Then `h mu + f v` has no component along `U`: a mean over the good
//! set (the mean, and the safeguard's step) moves along the negative-curvature directions only by
//! the perturbation. Along the other directions the colluders look exactly like the honest mean.
//! Where the Hessian has no negative curvature, they send `mu`.
//!
//! Cost per round, once for all colluders: about `(k + 1) * steps` Hessian-vector products
//! (`k` negative directions) and `O(steps^2 d + steps^3)` for the Lanczos bases.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Collusion, Dependency, RoundView};
use crate::linalg::{Vector, norm};
use crate::problem::Problem;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::rng::{SimRng, normal, streams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `saddle_trap`: every colluder sends `mu - (1 + h/f) U U^T mu`, with `U` an orthonormal basis
/// of the Hessian's directions of curvature below `-curvature_tol` at the current parameters
/// (deflated Lanczos, `lanczos_steps` Hessian-vector products per direction), `h` honest and `f`
/// Byzantine machines in the good set: the mean over the good set has no component along `U`, so
/// without the master's perturbation the model stays pinned at a saddle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SaddleTrapParams {
    /// Directions with Hessian eigenvalue below `-curvature_tol` are cancelled (>= 0).
    pub curvature_tol: f64,
    /// Lanczos steps per direction found (1 to 200, capped at the dimension).
    pub lanczos_steps: usize,
}

impl Default for SaddleTrapParams {
    fn default() -> Self {
        SaddleTrapParams {
            curvature_tol: 1e-6,
            lanczos_steps: 30,
        }
    }
}

impl Params for SaddleTrapParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_positive("curvature_tol", self.curvature_tol, true)?;
        if !(1..=200).contains(&self.lanczos_steps) {
            return Err(ParamError::new(
                "lanczos_steps",
                format!("expected 1 to 200, got {}", self.lanczos_steps),
            ));
        }
        Ok(())
    }
}

impl AttackKind for SaddleTrapParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        let attack = SaddleTrap {
            problem: ctx.problem.clone(),
            curvature_tol: self.curvature_tol,
            steps: self.lanczos_steps,
            shared: Collusion::new(Shared {
                rng: ctx.stream(streams::COLLUSION),
                sent: Vector::zeros(0),
            }),
        };
        Ok(Adversaries::each(move |_| attack.clone()))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::Problem, Dependency::Randomness]
    }
}

#[derive(Debug)]
struct Shared {
    rng: SimRng,
    sent: Vector,
}

/// The saddle trap (one per colluder, sharing the round's computation).
#[derive(Clone)]
pub struct SaddleTrap {
    problem: Arc<dyn Problem>,
    curvature_tol: f64,
    steps: usize,
    shared: Collusion<Shared>,
}

/// `mu - (1 + h/f) U U^T mu` for an orthonormal `U` (see the module docs).
pub fn trap_vector(mu: &Vector, directions: &[Vector], honest: usize, byzantine: usize) -> Vector {
    let mut v = mu.clone();
    if byzantine == 0 {
        return v;
    }
    let k = 1.0 + honest as f64 / byzantine as f64;
    for u in directions {
        v.scaled_add(-k * u.dot(mu), u);
    }
    v
}

impl SaddleTrap {
    fn shared_vector(&self, view: &RoundView) -> Vector {
        self.shared.round(
            view.round,
            |s| {
                let x = &*view.params;
                let dirs = negative_curvature(
                    view.dim(),
                    |v| self.problem.hessian_vector(x, v),
                    self.steps,
                    self.curvature_tol,
                    &mut s.rng,
                );
                s.sent = trap_vector(
                    view.honest_mean(),
                    &dirs,
                    view.honest_count(),
                    view.byzantine.len(),
                );
            },
            |s| s.sent.clone(),
        )
    }
}

impl Adversary for SaddleTrap {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(self.shared_vector(ctx.view))
    }
}

/// Remove from `w` its components along the orthonormal `basis`, twice ("twice is enough":
/// Parlett, *The Symmetric Eigenvalue Problem*, Section 6.9).
fn orthogonalise(w: &mut Vector, basis: &[Vector]) {
    for _ in 0..2 {
        for q in basis {
            let c = q.dot(w);
            w.scaled_add(-c, q);
        }
    }
}

/// Eigenvalues and eigenvectors (columns) of a small symmetric matrix by the cyclic Jacobi
/// method (Golub & Van Loan, *Matrix Computations*, 4th ed., Section 8.5).
fn jacobi(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let total: f64 = a.iter().flatten().map(|x| x * x).sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- A J (columns p, q), then A <- J^T A (rows p, q).
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for k in 0..n {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

/// An orthonormal basis of the directions where the symmetric operator `hv` (a Hessian-vector
/// product on `R^dim`) has curvature below `-tol`.
///
/// Deflated Lanczos (Lanczos 1950; Golub & Van Loan, Section 10.1): from a random start (drawn
/// from `rng`) orthogonal to the directions found so far, `steps` Lanczos steps (at most the
/// remaining dimension) with full reorthogonalisation against the basis and the found
/// directions; the Ritz vector of the smallest Ritz value is added if that value is below `-tol`,
/// and the search restarts orthogonally to it. A new start per direction finds repeated
/// eigenvalues, which one Krylov space cannot. With `steps >= dim` the directions are exact up to
/// rounding; with fewer, the smallest eigenvalues (which Lanczos finds first) are found first.
///
/// A private, small solver: the problem module's Lanczos estimate of the smallest eigenvalue
/// (issue 9's sibling) returns no vectors; merge the two when both exist.
pub(crate) fn negative_curvature(
    dim: usize,
    mut hv: impl FnMut(&Vector) -> Vector,
    steps: usize,
    tol: f64,
    rng: &mut SimRng,
) -> Vec<Vector> {
    let mut found: Vec<Vector> = Vec::new();
    while found.len() < dim {
        let k = steps.min(dim - found.len()).max(1);
        let mut start: Vector = Vector::from_shape_simple_fn(dim, || normal(rng));
        orthogonalise(&mut start, &found);
        let n0 = norm(&start);
        if n0.is_nan() || n0 <= 1e-12 {
            break;
        }
        let mut basis: Vec<Vector> = vec![start / n0];
        let mut alpha: Vec<f64> = Vec::new();
        let mut beta: Vec<f64> = Vec::new();
        let mut scale = 0.0f64;
        for j in 0..k {
            let mut w = hv(&basis[j]);
            if !w.iter().all(|x| x.is_finite()) {
                return found;
            }
            orthogonalise(&mut w, &found);
            let a = basis[j].dot(&w);
            alpha.push(a);
            scale = scale.max(norm(&w));
            orthogonalise(&mut w, &basis);
            let b = norm(&w);
            if j + 1 == k || b <= 1e-10 * scale.max(1e-300) {
                break;
            }
            beta.push(b);
            basis.push(w / b);
        }
        let m = alpha.len();
        let t: Vec<Vec<f64>> = (0..m)
            .map(|i| {
                (0..m)
                    .map(|j| match i.abs_diff(j) {
                        0 => alpha[i],
                        1 => beta[i.min(j)],
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect();
        let (values, vectors) = jacobi(t);
        let Some((i, &theta)) = values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)) else {
            break;
        };
        if theta >= -tol {
            break;
        }
        let mut u = Vector::zeros(dim);
        for (r, q) in basis.iter().take(m).enumerate() {
            u.scaled_add(vectors[r][i], q);
        }
        orthogonalise(&mut u, &found);
        let nu = norm(&u);
        if nu.is_nan() || nu <= 1e-12 {
            break;
        }
        found.push(u / nu);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{Noise, Saddle};
    use crate::rng::stream;
    use ndarray::array;

    #[test]
    fn jacobi_diagonalises() {
        let (vals, vecs) = jacobi(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        // Each column is an eigenvector.
        for (k, lambda) in vals.iter().enumerate() {
            let (x, y) = (vecs[0][k], vecs[1][k]);
            assert!((2.0 * x + y - lambda * x).abs() < 1e-12);
        }
    }

    #[test]
    fn finds_every_negative_direction_even_repeated() {
        // The saddle at 0: Hessian diag(-1, -1, -1, 1, ..., 1), eigenvalue -1 three times.
        let p = Saddle::new(8, 3, 0.0, Noise::Gaussian { std: 0.0 });
        let x = Vector::zeros(8);
        let mut rng = stream(4, streams::COLLUSION);
        let u = negative_curvature(8, |v| p.hessian_vector(&x, v), 30, 1e-6, &mut rng);
        assert_eq!(u.len(), 3);
        // Orthonormal, and inside the span of the first three axes.
        for (i, a) in u.iter().enumerate() {
            assert!((norm(a) - 1.0).abs() < 1e-12);
            assert!(a.iter().skip(3).all(|c| c.abs() < 1e-10), "{a}");
            for b in &u[i + 1..] {
                assert!(a.dot(b).abs() < 1e-12);
            }
        }
        // At a minimum, none.
        let min = array![1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let u = negative_curvature(8, |v| p.hessian_vector(&min, v), 30, 1e-6, &mut rng);
        assert!(u.is_empty());
    }

    #[test]
    fn cancels_the_mean_along_negative_curvature() {
        // U = {e_0}; h = 6, f = 4: v = mu - 2.5 (mu . e_0) e_0, and 6 mu + 4 v has no e_0 part.
        let mu = array![0.4, -0.2, 1.0];
        let u = vec![array![1.0, 0.0, 0.0]];
        let v = trap_vector(&mu, &u, 6, 4);
        assert_eq!(v, array![0.4 - 2.5 * 0.4, -0.2, 1.0]);
        let total = &mu * 6.0 + &(&v * 4.0);
        assert!(total[0].abs() < 1e-15);
        assert_eq!(trap_vector(&mu, &[], 6, 4), mu);
    }
}
