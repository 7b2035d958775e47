//! `softmax`: multinomial logistic regression, a linear classifier with `C` classes (e.g.
//! Bishop, *Pattern Recognition and Machine Learning*, Section 4.3.4).
//!
//! Logits `z = x W + b` (`W` is `inputs x C`); per-sample loss the softmax cross-entropy
//! `logsumexp(z) - z_y`; gradient `(x, 1)^T (p - e_y)` with `p = softmax(z)`; Hessian-vector
//! product, exact: with `u = x V + v_b` (the logits' change along `v`),
//! `H v = (x, 1)^T (p * u - p (p . u))` (`*` elementwise). Convex; strongly convex with weight
//! decay. The predicted class is the arg max of `z` (lowest index on ties).
//!
//! Parameter layout (`d = (inputs + 1) C`): `W` row-major (entry `(i, c)` at `i C + c`), then
//! `b` (entries `inputs C .. inputs C + C`). Initialisation: Glorot uniform, zero bias.

use crate::linalg::Vector;
use crate::problem::error::{ProblemError, require};
use crate::problem::model::{BatchStats, Dense, Init, Model, softmax_cross_entropy, softmax_rows};
use crate::rng::SimRng;
use ndarray::{ArrayView2, Axis, Zip};

/// Softmax regression on `inputs` features and `classes` classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    layer: Dense,
}

impl Softmax {
    /// A softmax model; `inputs >= 1`, `classes >= 2`, at most
    /// [`crate::problem::model::MAX_PARAMETERS`] parameters.
    pub fn new(inputs: usize, classes: usize) -> Result<Self, ProblemError> {
        require(inputs >= 1, "inputs", || "must be at least 1".into())?;
        require(classes >= 2, "classes", || {
            format!("must be at least 2, got {classes}")
        })?;
        Ok(Softmax {
            layer: Dense::new(inputs, classes, 0)?,
        })
    }
}

impl Model for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn inputs(&self) -> usize {
        self.layer.inputs
    }
    fn classes(&self) -> usize {
        self.layer.outputs
    }
    fn dim(&self) -> usize {
        self.layer.len()
    }
    fn init(&self, rng: &mut SimRng) -> Vector {
        self.layer.init_vector(Init::Glorot, rng)
    }
    fn accumulate(
        &self,
        params: &[f64],
        features: ArrayView2<'_, f64>,
        labels: &[usize],
        scale: f64,
        grad: Option<&mut [f64]>,
    ) -> BatchStats {
        let mut z = self.layer.forward(params, features);
        let stats = softmax_cross_entropy(&mut z, labels, scale);
        if let Some(grad) = grad {
            self.layer.backward_params(grad, features, &z);
        }
        stats
    }
    fn accumulate_hessian_vector(
        &self,
        params: &[f64],
        features: ArrayView2<'_, f64>,
        _labels: &[usize],
        v: &[f64],
        scale: f64,
        out: &mut [f64],
    ) -> bool {
        let mut p = self.layer.forward(params, features);
        softmax_rows(&mut p);
        let mut u = self.layer.forward(v, features);
        Zip::from(u.axis_iter_mut(Axis(0)))
            .and(p.axis_iter(Axis(0)))
            .for_each(|mut u, p| {
                let pu = p.dot(&u);
                u.zip_mut_with(&p, |u, &p| *u = scale * p * (*u - pu));
            });
        self.layer.backward_params(out, features, &u);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zero_parameters_give_log_c_and_uniform_gradient() {
        let m = Softmax::new(2, 4).unwrap();
        assert_eq!(m.dim(), 12);
        let p = vec![0.0; 12];
        let x = array![[1.0, 2.0]];
        let mut g = vec![0.0; 12];
        let s = m.accumulate(&p, x.view(), &[3], 1.0, Some(&mut g));
        assert!((s.loss_sum - 4f64.ln()).abs() < 1e-12);
        // d/dW_(i,c) = x_i (1/4 - [c = 3]); d/db_c = 1/4 - [c = 3].
        let want = [
            0.25, 0.25, 0.25, -0.75, 0.5, 0.5, 0.5, -1.5, 0.25, 0.25, 0.25, -0.75,
        ];
        for (g, w) in g.iter().zip(want) {
            assert!((g - w).abs() < 1e-12);
        }
        assert!(Softmax::new(2, 1).is_err() && Softmax::new(0, 3).is_err());
    }
}
