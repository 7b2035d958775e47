//! Optimisation problems: a loss, its true gradient, and stochastic gradients drawn from a
//! worker's own seeded stream.
//!
//! Stochastic gradients are the true gradient plus noise ([`Noise`]): *bounded* noise, uniform in
//! a ball of radius `V` (the assumption of SafeguardSGD, Allen-Zhu et al. 2021, Section 2), or
//! Gaussian noise. The [`Problem`] trait takes the worker id, so problems with per-machine data
//! shards and minibatches fit the same interface; [`Problem::metrics`] reports extra evaluation
//! metrics.
//!
//! A problem *kind* is a parameter type implementing [`ProblemKind`]; the built-in ones
//! (`quadratic`, `saddle`, `rosenbrock`, `matrix_sensing`, and the learning kinds `logistic`,
//! `softmax`, `mlp`) live one per file beside their parameters and are registered by
//! [`register_builtins`]. What the learning kinds share (data set, sharding, training options)
//! is in [`learning`].
//!
//! Learning tasks (data sets, sharding, models), the matrix-sensing problem and second-order
//! metrics live in the submodules below.

pub mod activation;
#[cfg(test)]
pub(crate) mod check;
pub mod classifier;
pub mod data;
pub mod error;
pub mod hessian;
pub mod learning;
pub mod logistic;
pub mod matrix_sensing;
pub mod mlp;
pub mod model;
pub mod noise;
pub mod quadratic;
pub mod rosenbrock;
pub mod saddle;
pub mod shard;
pub mod softmax;

use crate::linalg::Vector;
use crate::registry::{DynParams, Params, Registry, Setting};
use crate::rng::SimRng;
use std::sync::Arc;

pub use noise::{Noise, NoiseSpec};
pub use quadratic::{Quadratic, QuadraticParams};
pub use rosenbrock::{Rosenbrock, RosenbrockParams};
pub use saddle::{Saddle, SaddleParams};

/// An optimisation problem as seen by the simulator.
pub trait Problem: Send + Sync {
    /// Short name, as in the scenario's `kind`.
    fn name(&self) -> &str;
    /// Dimension `d` of the parameter vector.
    fn dim(&self) -> usize;
    /// The starting point `x_0`; `rng` is the dedicated [`crate::rng::streams::INIT`] stream.
    fn initial_point(&self, rng: &mut SimRng) -> Vector;
    /// The loss `f(x)`.
    fn loss(&self, x: &Vector) -> f64;
    /// The true gradient `grad f(x)`.
    fn gradient(&self, x: &Vector) -> Vector;
    /// `(f(x), grad f(x))`, exactly as [`Problem::loss`] and [`Problem::gradient`] give them.
    /// The default calls both; a problem whose gradient pass computes the loss on the way (the
    /// learning tasks) overrides it to make one pass instead of two, which is what an
    /// evaluation costs.
    fn loss_and_gradient(&self, x: &Vector) -> (f64, Vector) {
        (self.loss(x), self.gradient(x))
    }
    /// A stochastic gradient for `worker`, drawn from that worker's stream.
    fn stochastic_gradient(&self, x: &Vector, worker: usize, rng: &mut SimRng) -> Vector;
    /// The known minimum value of `f`, if any (used in docs and tests).
    fn min_loss(&self) -> Option<f64> {
        None
    }
    /// `sigma` with `sigma^2 = E||g - grad f(x)||^2`, the noise level used by the `theory`
    /// threshold mode when no explicit `sigma` is given.
    fn noise_level(&self) -> f64;
    /// Extra evaluation metrics at `x` (name, value), e.g. test accuracy. None by default.
    fn metrics(&self, _x: &Vector) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Number of classes `C` of a classification problem (labels in `0..C`); `None` (the
    /// default) for problems without labels. Label flipping needs it.
    fn classes(&self) -> Option<usize> {
        None
    }
    /// Label flipping (the paper's Section 5 attack): the gradient of `worker`'s minibatch with
    /// every label `l` replaced by `C - 1 - l`. It draws the minibatch exactly as
    /// [`Problem::stochastic_gradient`] does (same draws from `rng`), so a Byzantine machine
    /// flips the very batch its honest self would have used. `None` (the default) for problems
    /// without classes.
    fn flipped_gradient(&self, _x: &Vector, _worker: usize, _rng: &mut SimRng) -> Option<Vector> {
        None
    }
    /// A small batch of `size` training samples drawn by the master from `rng` (Zeno's
    /// server-side batch: Xie, Koyejo & Gupta, "Zeno: Distributed Stochastic Gradient Descent
    /// with Suspicion-based Fault-tolerance", ICML 2019). `None` (the default) where the problem
    /// has no samples; Zeno may then fall back to [`Problem::loss`].
    fn draw_server_batch(&self, _size: usize, _rng: &mut SimRng) -> Option<ServerBatch> {
        None
    }
    /// The loss at `x` on a batch from [`Problem::draw_server_batch`] (the same objective as
    /// [`Problem::loss`], including any weight decay, averaged over the batch). `None` (the
    /// default) where the problem has no samples.
    fn server_loss(&self, _x: &Vector, _batch: &ServerBatch) -> Option<f64> {
        None
    }
    /// The Hessian-vector product `grad^2 f(x) v` of [`Problem::loss`]. The default is the
    /// central finite difference of [`Problem::gradient`] ([`finite_difference_hessian_vector`]);
    /// problems override it where the exact product is cheap.
    fn hessian_vector(&self, x: &Vector, v: &Vector) -> Vector {
        finite_difference_hessian_vector(self, x, v)
    }
}

/// A batch of training samples the master drew (indices into the problem's training set, with
/// repetition allowed); only the problem that drew it can interpret it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBatch {
    /// Indices into the training set.
    pub indices: Vec<usize>,
}

/// `(grad f(x + h v) - grad f(x - h v)) / (2h)`, the central finite difference of the gradient
/// along `v` (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Section 8.1). The step is
/// `h = eps^(1/3) max(1, ||x||) / ||v||` (`eps` the machine epsilon), which balances the `O(h^2)`
/// truncation error against the rounding error of the two gradients; the error is then about
/// `1e-10` relative for smooth problems. Costs two gradients. Returns zeros for `v = 0`.
pub fn finite_difference_hessian_vector<P: Problem + ?Sized>(
    problem: &P,
    x: &Vector,
    v: &Vector,
) -> Vector {
    let nv = crate::linalg::norm(v);
    if nv == 0.0 || !nv.is_finite() {
        return Vector::zeros(x.len());
    }
    let h = f64::EPSILON.cbrt() * crate::linalg::norm(x).max(1.0) / nv;
    let plus = problem.gradient(&(x + &(v * h)));
    let minus = problem.gradient(&(x - &(v * h)));
    (plus - minus) / (2.0 * h)
}

/// Facts about a problem that the rest of the scenario is checked against, known from its
/// parameters alone (without building it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProblemInfo {
    /// Dimension `d` of the parameter vector.
    pub dim: usize,
    /// `sigma` with `sigma^2 = E||g - grad f(x)||^2`, when the problem states it (the `theory`
    /// thresholds use it by default).
    pub noise_level: Option<f64>,
    /// `V`, an almost-sure bound `||g - grad f(x)|| <= V` on the gradient noise (Assumption 2.1 of
    /// Allen-Zhu et al. 2021), when the problem has one: the radius of bounded noise; `None` for
    /// Gaussian noise. Not `noise_level`: for noise uniform in a ball of radius `V` in dimension
    /// `d`, `noise_level = V sqrt(d/(d+2)) < V`. The safeguard's per-round filter and the `paper`
    /// thresholds use it by default.
    pub noise_bound: Option<f64>,
    /// The number of classes of a classification problem.
    pub classes: Option<usize>,
    /// What the master can evaluate the loss on (Zeno's validation data).
    pub validation: Validation,
}

/// What the master can evaluate the loss on, for rules that score vectors by the loss (Zeno).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Nothing: such rules are refused.
    #[default]
    None,
    /// The loss `f` itself, exactly (analytic problems: the master knows `f`).
    ExactLoss,
    /// A small batch of training samples drawn each round ([`Problem::draw_server_batch`],
    /// [`Problem::server_loss`]).
    Samples,
}

impl ProblemInfo {
    /// The facts of a problem of dimension `dim` whose stochastic gradients are the true gradient
    /// plus `noise`.
    pub fn with_noise(dim: usize, noise: &Noise) -> Self {
        ProblemInfo {
            dim,
            noise_level: Some(noise.level(dim)),
            noise_bound: noise.bound(),
            classes: None,
            validation: Validation::ExactLoss,
        }
    }
}

/// A problem kind: its parameter type, what it tells the checks, and how it is built.
pub trait ProblemKind: Params {
    /// Facts known from the (checked) parameters.
    fn info(&self) -> ProblemInfo;
    /// Build the problem. `setting` gives the seed and machine counts (for data sets and shards).
    fn build(&self, setting: &Setting) -> Result<Arc<dyn Problem>, String>;
}

/// The object-safe form of [`ProblemKind`] the registry stores.
pub trait DynProblem: DynParams {
    /// [`ProblemKind::info`].
    fn info_dyn(&self) -> ProblemInfo;
    /// [`ProblemKind::build`].
    fn build_dyn(&self, setting: &Setting) -> Result<Arc<dyn Problem>, String>;
}

impl<P: ProblemKind> DynProblem for P {
    fn info_dyn(&self) -> ProblemInfo {
        self.info()
    }
    fn build_dyn(&self, setting: &Setting) -> Result<Arc<dyn Problem>, String> {
        self.build(setting)
    }
}

/// Register the built-in problem kinds.
pub fn register_builtins(registry: &mut Registry) {
    registry
        .add_problem::<QuadraticParams>("quadratic")
        .add_problem::<SaddleParams>("saddle")
        .add_problem::<RosenbrockParams>("rosenbrock")
        .add_problem::<matrix_sensing::MatrixSensingParams>("matrix_sensing")
        .add_problem::<logistic::LogisticParams>("logistic")
        .add_problem::<softmax::SoftmaxParams>("softmax")
        .add_problem::<mlp::MlpParams>("mlp");
}

/// The dimension bound every problem kind must respect (checked by the scenario).
pub const MAX_DIM: usize = 100_000_000;

/// `Err` unless `1 <= dim <= MAX_DIM`, at field `field`.
pub fn check_dim(field: &str, dim: usize) -> Result<(), crate::registry::ParamError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(crate::registry::ParamError::new(
            field,
            format!("expected 1 to {MAX_DIM}, got {dim}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::norm;
    use crate::rng::stream;

    #[test]
    fn gradients_match_finite_differences() {
        let none = Noise::Gaussian { std: 0.0 };
        let problems: Vec<Box<dyn Problem>> = vec![
            Box::new(Quadratic::new(3, 1.0, 5.0, 1.0, none)),
            Box::new(Saddle::new(4, 2, 0.0, none)),
            Box::new(Rosenbrock::new(1.0, 100.0, [-1.0, 1.0], none)),
        ];
        for p in &problems {
            let x = Vector::from_shape_fn(p.dim(), |i| 0.3 + 0.2 * i as f64);
            check::assert_gradient_matches(p.as_ref(), &x, 1e-7);
        }
    }

    #[test]
    fn hessian_vector_products_match_finite_differences() {
        // The saddle's exact product against the default finite difference.
        let none = Noise::Gaussian { std: 0.0 };
        let p = Saddle::new(4, 2, 0.0, none);
        let x = Vector::from_shape_fn(4, |i| 0.3 + 0.2 * i as f64);
        let v = Vector::from_shape_fn(4, |i| 1.0 - 0.7 * i as f64);
        let exact = p.hessian_vector(&x, &v);
        let fd = finite_difference_hessian_vector(&p, &x, &v);
        assert!(
            crate::linalg::distance(&exact, &fd) < 1e-8,
            "{exact} vs {fd}"
        );
        // f = 0.3^4/4 - 0.3^2/2 along x_0: curvature 3 * 0.09 - 1.
        assert!((exact[0] - (3.0 * 0.09 - 1.0) * 1.0).abs() < 1e-15);
        assert_eq!(exact[3], v[3]);
        let p = Saddle::new(3, 1, 0.0, none);
        assert_eq!(
            finite_difference_hessian_vector(&p, &Vector::zeros(3), &Vector::zeros(3)),
            Vector::zeros(3)
        );
    }

    #[test]
    fn bounded_noise_stays_in_ball_and_is_centred() {
        let noise = Noise::Bounded { radius: 2.0 };
        let mut rng = stream(1, 0);
        let mut sum = Vector::zeros(3);
        let mut sq = 0.0;
        let n = 20_000;
        for _ in 0..n {
            let v = noise.sample(3, &mut rng);
            assert!(norm(&v) <= 2.0 + 1e-12);
            sq += norm(&v).powi(2);
            sum += &v;
        }
        assert!(norm(&(sum / n as f64)) < 0.05);
        // E||n||^2 = V^2 d / (d + 2) = 4 * 3/5 = 2.4
        assert!((sq / n as f64 - 2.4).abs() < 0.05);
        assert!((noise.level(3) - 2.4f64.sqrt()).abs() < 1e-12);
    }
}
