//! The interface between a model (logistic, softmax, MLP) and the data-driven
//! [`crate::problem::classifier::Classifier`], plus the pieces the models share: dense layers
//! on a flat parameter vector, initialisation and the softmax cross-entropy (activations are
//! in [`crate::problem::activation`]).
//!
//! A model sees its parameters as one flat slice (the simulator's [`Vector`]) and a batch of
//! rows. Layers are views into that slice, so a forward/backward pass never copies parameters,
//! and the gradient is accumulated straight into the output vector with
//! [`ndarray::linalg::general_mat_mul`] (matrixmultiply, no BLAS).
//!
//! Preconditions every [`Model`] method relies on (the classifier checks them once, at
//! construction): `params.len() == dim()`, `features.ncols() == inputs()`,
//! `labels.len() == features.nrows()`, labels `< classes()`, `grad.len() == dim()`.

use crate::linalg::Vector;
use crate::problem::error::ProblemError;
use crate::rng::{SimRng, normal};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, s};

pub use crate::problem::activation::Activation;
use rand::RngExt;

/// The outcome of a forward pass on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatchStats {
    /// Sum over the batch of the per-sample losses (not averaged).
    pub loss_sum: f64,
    /// Number of samples whose predicted class (the arg max, lowest index on ties) is right.
    pub correct: usize,
}

impl BatchStats {
    /// Add another batch's figures.
    pub fn add(&mut self, other: BatchStats) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
    }
}

/// A differentiable classifier with a flat parameter vector.
pub trait Model: Send + Sync + std::fmt::Debug {
    /// The problem kind's name (`logistic`, `softmax`, `mlp`).
    fn name(&self) -> &'static str;
    /// Number of input features.
    fn inputs(&self) -> usize;
    /// Number of classes.
    fn classes(&self) -> usize;
    /// Number of parameters `d`.
    fn dim(&self) -> usize;
    /// Seeded initial parameters.
    fn init(&self, rng: &mut SimRng) -> Vector;
    /// Forward pass on the batch (`features` rows with `labels`); with `grad`, also the backward
    /// pass, adding `scale * grad_params(sum of per-sample losses)` into `grad`.
    fn accumulate(
        &self,
        params: &[f64],
        features: ArrayView2<'_, f64>,
        labels: &[usize],
        scale: f64,
        grad: Option<&mut [f64]>,
    ) -> BatchStats;
    /// Add `scale * H v` into `out`, with `H` the Hessian of the summed loss on the batch, when
    /// the model has an exact product; return `false` (the default, leaving `out` unchanged)
    /// when it has none, and the classifier falls back to finite differences.
    fn accumulate_hessian_vector(
        &self,
        _params: &[f64],
        _features: ArrayView2<'_, f64>,
        _labels: &[usize],
        _v: &[f64],
        _scale: f64,
        _out: &mut [f64],
    ) -> bool {
        false
    }
}

/// Weight initialisation of a dense layer (biases start at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Glorot & Bengio (AISTATS 2010): `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`.
    Glorot,
    /// He, Zhang, Ren & Sun (ICCV 2015): `N(0, 2 / fan_in)`.
    He,
}

/// A fully connected layer `y = x W + b` stored in a flat parameter vector at `offset`: first
/// `W` (`inputs x outputs`, row-major: entry `(i, o)` at `offset + i * outputs + o`), then `b`
/// (`outputs` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub offset: usize,
}

/// Largest number of parameters a model may have (2^26, 512 MiB per vector). A precondition
/// the scenario check must enforce (here it is an error).
pub const MAX_PARAMETERS: usize = 1 << 26;

impl Dense {
    /// A layer whose parameters start at `offset`; errors when they would end beyond
    /// [`MAX_PARAMETERS`].
    pub fn new(inputs: usize, outputs: usize, offset: usize) -> Result<Dense, ProblemError> {
        let end = inputs
            .checked_add(1)
            .and_then(|n| n.checked_mul(outputs))
            .and_then(|len| len.checked_add(offset));
        match end {
            Some(end) if end <= MAX_PARAMETERS => Ok(Dense {
                inputs,
                outputs,
                offset,
            }),
            _ => Err(ProblemError::invalid(
                "model",
                format!("would have more than {MAX_PARAMETERS} parameters"),
            )),
        }
    }

    /// Number of parameters, `inputs * outputs + outputs`.
    pub fn len(&self) -> usize {
        self.inputs * self.outputs + self.outputs
    }

    fn bias_offset(&self) -> usize {
        self.offset + self.inputs * self.outputs
    }

    fn matrix<'a>(&self, p: &'a [f64]) -> ArrayView2<'a, f64> {
        let w = &p[self.offset..self.bias_offset()];
        ArrayView2::from_shape((self.inputs, self.outputs), w).expect("layer layout")
    }

    fn matrix_mut<'a>(&self, p: &'a mut [f64]) -> ArrayViewMut2<'a, f64> {
        let w = &mut p[self.offset..self.bias_offset()];
        ArrayViewMut2::from_shape((self.inputs, self.outputs), w).expect("layer layout")
    }

    fn bias<'a>(&self, p: &'a [f64]) -> ArrayView1<'a, f64> {
        ArrayView1::from(&p[self.bias_offset()..self.offset + self.len()])
    }

    /// `x W + b` for the rows of `x`.
    pub fn forward(&self, p: &[f64], x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), self.outputs));
        general_mat_mul(1.0, &x, &self.matrix(p), 0.0, &mut out);
        out += &self.bias(p);
        out
    }

    /// With `delta = d loss / d y` (already scaled): add `x^T delta` to the weights' gradient
    /// and the column sums of `delta` to the bias gradient.
    pub fn backward_params(&self, grad: &mut [f64], x: ArrayView2<'_, f64>, delta: &Array2<f64>) {
        general_mat_mul(1.0, &x.t(), delta, 1.0, &mut self.matrix_mut(grad));
        let b = &mut grad[self.bias_offset()..self.offset + self.len()];
        for row in delta.rows() {
            for (g, d) in b.iter_mut().zip(row) {
                *g += d;
            }
        }
    }

    /// `delta W^T`: the loss's derivative with respect to the layer's input.
    pub fn backward_input(&self, p: &[f64], delta: &Array2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((delta.nrows(), self.inputs));
        general_mat_mul(1.0, delta, &self.matrix(p).t(), 0.0, &mut out);
        out
    }

    /// The parameters of a model made of this one layer, drawn with `init`.
    pub fn init_vector(&self, init: Init, rng: &mut SimRng) -> Vector {
        let mut p = vec![0.0; self.len()];
        self.init(&mut p, init, rng);
        Vector::from_vec(p)
    }

    /// Draw the weights with `init` from `rng` (row by row) and zero the bias.
    pub fn init(&self, p: &mut [f64], init: Init, rng: &mut SimRng) {
        let (fan_in, fan_out) = (self.inputs as f64, self.outputs as f64);
        for w in &mut p[self.offset..self.bias_offset()] {
            *w = match init {
                Init::Glorot => {
                    let a = (6.0 / (fan_in + fan_out)).sqrt();
                    a * (2.0 * rng.random::<f64>() - 1.0)
                }
                Init::He => (2.0 / fan_in).sqrt() * normal(rng),
            };
        }
        p[self.bias_offset()..self.offset + self.len()].fill(0.0);
    }
}

/// Softmax cross-entropy on a batch of logits `z` (one row per sample). Returns the summed loss
/// `sum_i (logsumexp(z_i) - z_{i, y_i})` (computed with the max subtracted, so it never
/// overflows) and the number of rows whose arg max is the label; overwrites `z` with
/// `scale * (softmax(z_i) - onehot(y_i))`, the scaled derivative of the summed loss.
pub(crate) fn softmax_cross_entropy(
    z: &mut Array2<f64>,
    labels: &[usize],
    scale: f64,
) -> BatchStats {
    let mut stats = BatchStats::default();
    for (mut row, &y) in z.axis_iter_mut(Axis(0)).zip(labels) {
        let (mut best, mut max) = (0, f64::NEG_INFINITY);
        for (c, &v) in row.iter().enumerate() {
            if v > max {
                (best, max) = (c, v);
            }
        }
        let zy = row[y];
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        stats.loss_sum += max + sum.ln() - zy;
        stats.correct += usize::from(best == y);
        row.mapv_inplace(|e| scale * e / sum);
        row[y] -= scale;
    }
    stats
}

/// Softmax probabilities of each row of `z`, in place.
pub(crate) fn softmax_rows(z: &mut Array2<f64>) {
    for mut row in z.axis_iter_mut(Axis(0)) {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
}

/// The rows `indices` of `features`, gathered into a new contiguous batch.
pub(crate) fn gather(features: &Array2<f64>, indices: &[usize]) -> Array2<f64> {
    let d = features.ncols();
    let mut batch = Array2::zeros((indices.len(), d));
    for (mut dst, &i) in batch.rows_mut().into_iter().zip(indices) {
        dst.assign(&features.row(i));
    }
    batch
}

/// A view of the rows `start..end` (for passes over a large set in chunks).
pub(crate) fn rows(features: &Array2<f64>, start: usize, end: usize) -> ArrayView2<'_, f64> {
    features.slice(s![start..end, ..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use ndarray::array;

    #[test]
    fn cross_entropy_values_and_gradient() {
        let mut z = array![[0.0, 0.0], [1000.0, 0.0], [1.0, 2.0]];
        let stats = softmax_cross_entropy(&mut z, &[0, 1, 1], 1.0);
        let want = 2f64.ln() + 1000.0 + (1.0 + (-1f64).exp()).ln();
        assert!((stats.loss_sum - want).abs() < 1e-9, "{stats:?}");
        // Row 0: a tie goes to class 0 (right); row 1: wrong; row 2: right.
        assert_eq!(stats.correct, 2);
        assert!((z[[0, 0]] + 0.5).abs() < 1e-12 && (z[[0, 1]] - 0.5).abs() < 1e-12);
        assert!((z[[1, 0]] - 1.0).abs() < 1e-12 && (z[[1, 1]] + 1.0).abs() < 1e-12);
        // Each row of the derivative sums to zero.
        for r in z.rows() {
            assert!(r.sum().abs() < 1e-12);
        }
    }

    #[test]
    fn dense_layout_forward_backward() {
        let layer = Dense {
            inputs: 2,
            outputs: 3,
            offset: 1,
        };
        // p[0] is someone else's; W = [[1,2,3],[4,5,6]], b = [7,8,9].
        let p: Vec<f64> = (0..=9).map(f64::from).collect();
        let x = array![[1.0, 0.0], [0.0, 1.0]];
        let y = layer.forward(&p, x.view());
        assert_eq!(y, array![[8.0, 10.0, 12.0], [11.0, 13.0, 15.0]]);
        let mut g = vec![0.0; 10];
        let delta = array![[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]];
        layer.backward_params(&mut g, x.view(), &delta);
        assert_eq!(g, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0, 0.0, 2.0]);
        let dx = layer.backward_input(&p, &delta);
        assert_eq!(dx, array![[1.0, 4.0], [6.0, 12.0]]);
    }

    #[test]
    fn initialisation_scales() {
        let layer = Dense {
            inputs: 400,
            outputs: 100,
            offset: 0,
        };
        let mut p = vec![1.0; layer.len()];
        let mut rng = stream(0, 0);
        layer.init(&mut p, Init::Glorot, &mut rng);
        let w = &p[..40_000];
        let var = w.iter().map(|v| v * v).sum::<f64>() / 40_000.0;
        // U(-a, a) has variance a^2 / 3 = 2 / (fan_in + fan_out) = 0.004.
        assert!((var - 0.004).abs() < 0.0002, "{var}");
        assert!(p[40_000..].iter().all(|&b| b == 0.0));
        layer.init(&mut p, Init::He, &mut rng);
        let var = p[..40_000].iter().map(|v| v * v).sum::<f64>() / 40_000.0;
        assert!((var - 0.005).abs() < 0.0002, "{var}");
    }
}
