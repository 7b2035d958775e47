//! `mlp`: a multilayer perceptron with one or more hidden layers (tanh or ReLU) and a softmax
//! cross-entropy output (e.g. Goodfellow, Bengio & Courville, *Deep Learning*, 2016, Chapter 6;
//! back-propagation: Rumelhart, Hinton & Williams 1986).
//!
//! With `a_0 = x`, hidden layers `a_l = act(a_{l-1} W_l + b_l)` for `l = 1..L-1` and logits
//! `z = a_{L-1} W_L + b_L`, the per-sample loss is `logsumexp(z) - z_y`. Back-propagation:
//! `delta_L = softmax(z) - e_y`, `grad W_l = a_{l-1}^T delta_l`, `grad b_l = delta_l`,
//! `delta_{l-1} = (delta_l W_l^T) * act'(a_{l-1})`, with `act' = 1 - a^2` for tanh and
//! `[a > 0]` for ReLU (written in terms of the activation's output). The loss is non-convex;
//! the Hessian-vector product is the finite-difference default of the problem.
//!
//! Parameter layout: the layers in order, each as `W_l` (`n_{l-1} x n_l`, row-major) followed
//! by `b_l` (`n_l`), with `n_0 = inputs`, `n_L = classes`; so
//! `d = sum_l (n_{l-1} + 1) n_l` (4810 for 64-64-10).
//! Initialisation: hidden layers Glorot uniform (tanh) or He normal (ReLU), the output layer
//! Glorot uniform, all biases zero; drawn layer by layer, row by row.

use crate::linalg::Vector;
use crate::problem::error::{ProblemError, require};
use crate::problem::model::{Activation, BatchStats, Dense, Init, Model, softmax_cross_entropy};
use crate::rng::SimRng;
use ndarray::{Array2, ArrayView2};

/// Largest number of hidden layers.
pub const MAX_HIDDEN_LAYERS: usize = 8;

/// A multilayer perceptron classifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mlp {
    layers: Vec<Dense>,
    activation: Activation,
}

impl Mlp {
    /// An MLP `inputs -> hidden[0] -> ... -> classes`. Preconditions (errors otherwise):
    /// `inputs >= 1`, `classes >= 2`, `1 <= hidden.len() <= 8`, every width `>= 1`, and at
    /// most [`crate::problem::model::MAX_PARAMETERS`] parameters. One or two hidden layers of
    /// 32 to 128 units are the intended use (suggested default: one layer of 64, tanh).
    pub fn new(
        inputs: usize,
        hidden: &[usize],
        classes: usize,
        activation: Activation,
    ) -> Result<Self, ProblemError> {
        require(inputs >= 1, "inputs", || "must be at least 1".into())?;
        require(classes >= 2, "classes", || {
            format!("must be at least 2, got {classes}")
        })?;
        require(
            (1..=MAX_HIDDEN_LAYERS).contains(&hidden.len()),
            "hidden",
            || {
                format!(
                    "needs 1 to {MAX_HIDDEN_LAYERS} layers, got {}",
                    hidden.len()
                )
            },
        )?;
        require(hidden.iter().all(|&h| h >= 1), "hidden", || {
            "every layer needs at least 1 unit".into()
        })?;
        let widths: Vec<usize> = std::iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(classes))
            .collect();
        let mut layers: Vec<Dense> = Vec::with_capacity(widths.len() - 1);
        for w in widths.windows(2) {
            let offset = layers.last().map_or(0, |l| l.offset + l.len());
            layers.push(Dense::new(w[0], w[1], offset)?);
        }
        Ok(Mlp { layers, activation })
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The hidden layers' widths.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[1..].iter().map(|l| l.inputs).collect()
    }
}

impl Model for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }
    fn inputs(&self) -> usize {
        self.layers[0].inputs
    }
    fn classes(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }
    fn dim(&self) -> usize {
        self.layers.iter().map(Dense::len).sum()
    }
    fn init(&self, rng: &mut SimRng) -> Vector {
        let mut p = Vector::zeros(self.dim());
        if let Some(s) = p.as_slice_mut() {
            let last = self.layers.len() - 1;
            for (l, layer) in self.layers.iter().enumerate() {
                let init = match self.activation {
                    Activation::Relu if l < last => Init::He,
                    _ => Init::Glorot,
                };
                layer.init(s, init, rng);
            }
        }
        p
    }
    fn accumulate(
        &self,
        params: &[f64],
        features: ArrayView2<'_, f64>,
        labels: &[usize],
        scale: f64,
        grad: Option<&mut [f64]>,
    ) -> BatchStats {
        let last = self.layers.len() - 1;
        // Forward: keep every hidden activation for the backward pass.
        let mut hidden: Vec<Array2<f64>> = Vec::with_capacity(last);
        for l in 0..last {
            let input = if l == 0 {
                features
            } else {
                hidden[l - 1].view()
            };
            let mut a = self.layers[l].forward(params, input);
            self.activation.apply(&mut a);
            hidden.push(a);
        }
        let mut delta = self.layers[last].forward(params, hidden[last - 1].view());
        let stats = softmax_cross_entropy(&mut delta, labels, scale);
        let Some(grad) = grad else {
            return stats;
        };
        // Backward.
        for l in (0..=last).rev() {
            let input = if l == 0 {
                features
            } else {
                hidden[l - 1].view()
            };
            self.layers[l].backward_params(grad, input, &delta);
            if l > 0 {
                let mut d = self.layers[l].backward_input(params, &delta);
                self.activation.backprop(&mut d, &hidden[l - 1]);
                delta = d;
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn layout_and_dimension() {
        let m = Mlp::new(64, &[64], 10, Activation::Tanh).unwrap();
        assert_eq!(m.dim(), 64 * 64 + 64 + 64 * 10 + 10);
        assert_eq!(m.dim(), 4810);
        assert_eq!((m.inputs(), m.classes(), m.hidden()), (64, 10, vec![64]));
        let m2 = Mlp::new(3, &[5, 4], 2, Activation::Relu).unwrap();
        assert_eq!(m2.dim(), 4 * 5 + 6 * 4 + 5 * 2);
        assert_eq!(m2.layers[2].offset, 20 + 24);
    }

    #[test]
    fn initialisation_is_seeded_with_zero_biases() {
        let m = Mlp::new(3, &[5], 2, Activation::Relu).unwrap();
        let a = m.init(&mut stream(1, 2));
        assert_eq!(a, m.init(&mut stream(1, 2)));
        assert_ne!(a, m.init(&mut stream(2, 2)));
        // Biases of layer 1 at 15..20 and of layer 2 at 30..32.
        assert!(a.slice(ndarray::s![15..20]).iter().all(|&b| b == 0.0));
        assert!(a.slice(ndarray::s![30..32]).iter().all(|&b| b == 0.0));
        assert!(a.slice(ndarray::s![0..15]).iter().all(|&w| w != 0.0));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let t = Activation::Tanh;
        assert!(Mlp::new(0, &[4], 2, t).is_err());
        assert!(Mlp::new(4, &[], 2, t).is_err());
        assert!(Mlp::new(4, &[0], 2, t).is_err());
        assert!(Mlp::new(4, &[4], 1, t).is_err());
        assert!(Mlp::new(4, &[4; 9], 2, t).is_err());
        assert!(Mlp::new(4, &[usize::MAX], 2, t).is_err());
        assert!(Mlp::new(1 << 20, &[1 << 10], 2, t).is_err());
    }
}
