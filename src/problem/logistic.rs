//! `logistic`: binary logistic regression (Cox 1958; e.g. Bishop, *Pattern Recognition and
//! Machine Learning*, Section 4.3.2), for two-class data such as breast cancer.
//!
//! With `z = w . x + b` and a label `y` in {0, 1}, the per-sample loss is the negative
//! log-likelihood `log(1 + e^z) - y z` (computed as `max(z, 0) + log1p(e^-|z|) - y z`, which
//! never overflows). Its gradient is `(sigma(z) - y) (x, 1)` and its Hessian
//! `sigma(z) (1 - sigma(z)) (x, 1)(x, 1)^T`, both exact here. The predicted class is `[z > 0]`.
//! The loss is convex; with weight decay `lambda > 0` it is strongly convex.
//!
//! Parameter layout (`d = inputs + 1`): `w` (entries `0..inputs`), then `b` (entry `inputs`).
//! Initialisation: Glorot uniform weights, zero bias.

use crate::linalg::Vector;
use crate::problem::error::{ProblemError, require};
use crate::problem::model::{BatchStats, Dense, Init, Model};
use crate::rng::SimRng;
use ndarray::ArrayView2;

/// Binary logistic regression on `inputs` features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logistic {
    layer: Dense,
}

impl Logistic {
    /// A logistic model; `inputs >= 1`, at most [`crate::problem::model::MAX_PARAMETERS`]
    /// parameters.
    pub fn new(inputs: usize) -> Result<Self, ProblemError> {
        require(inputs >= 1, "inputs", || "must be at least 1".into())?;
        Ok(Logistic {
            layer: Dense::new(inputs, 1, 0)?,
        })
    }
}

/// The logistic function, evaluated without overflow.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Model for Logistic {
    fn name(&self) -> &'static str {
        "logistic"
    }
    fn inputs(&self) -> usize {
        self.layer.inputs
    }
    fn classes(&self) -> usize {
        2
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
        let mut stats = BatchStats::default();
        for (z, &y) in z.iter_mut().zip(labels) {
            let y = y as f64;
            stats.loss_sum += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * *z;
            stats.correct += usize::from((*z > 0.0) == (y == 1.0));
            *z = scale * (sigmoid(*z) - y);
        }
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
        // H v = sum_i s_i (x_i, 1) ((x_i, 1) . v), s_i = sigma(z_i)(1 - sigma(z_i)); the layer's
        // forward pass with v as parameters computes (x_i, 1) . v.
        let z = self.layer.forward(params, features);
        let mut r = self.layer.forward(v, features);
        r.zip_mut_with(&z, |r, &z| {
            let s = sigmoid(z);
            *r *= scale * s * (1.0 - s);
        });
        self.layer.backward_params(out, features, &r);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn loss_gradient_and_prediction_by_hand() {
        let m = Logistic::new(2).unwrap();
        // w = (1, -1), b = 0.5; x = (2, 1): z = 1.5, label 1.
        let p = [1.0, -1.0, 0.5];
        let x = array![[2.0, 1.0]];
        let mut g = vec![0.0; 3];
        let s = m.accumulate(&p, x.view(), &[1], 1.0, Some(&mut g));
        let sig = 1.0 / (1.0 + (-1.5f64).exp());
        assert!((s.loss_sum - (1.0 + 1.5f64.exp()).ln() + 1.5).abs() < 1e-12);
        assert_eq!(s.correct, 1);
        let want = [(sig - 1.0) * 2.0, sig - 1.0, sig - 1.0];
        for (g, w) in g.iter().zip(want) {
            assert!((g - w).abs() < 1e-12);
        }
        // Extreme logits neither overflow nor lose the loss.
        let s = m.accumulate(&[1000.0, 0.0, 0.0], x.view(), &[0], 1.0, None);
        assert!((s.loss_sum - 2000.0).abs() < 1e-9);
        assert_eq!(s.correct, 0);
        assert!(Logistic::new(0).is_err());
        assert_eq!(m.dim(), 3);
    }
}
