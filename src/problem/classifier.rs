//! A learning task as a [`Problem`]: a [`Model`] trained on a [`Dataset`] whose training set is
//! sharded across the machines ([`crate::problem::shard`]).
//!
//! - **Objective.** `f(x) = (1/n) sum_{i in E} loss_i(x) + (lambda/2) ||x||^2`, with `E` the
//!   *evaluation set*: the first `eval_size` training samples (the training set is already in
//!   random order, so this is a uniform random subset), or the whole training set when
//!   `eval_size` is `None` or at least its size; `n = |E|`; `lambda` the weight decay (on every
//!   parameter, biases included, as PyTorch's SGD `weight_decay`). [`Problem::loss`] and
//!   [`Problem::gradient`] are this `f` and its exact gradient; [`Problem::hessian_vector`] is
//!   exact for `logistic` and `softmax` and a finite difference of the gradient for `mlp`.
//!   Cost: one pass over `E`. On digits with the whole training set (1437 samples) and a
//!   64-64-10 MLP (benchmark `learning`, thread CPU time): a minibatch gradient of 32 takes
//!   31 us, the loss 0.84 ms (27 minibatch gradients, about 2.7 rounds of 10 machines), the
//!   full gradient 1.3 ms, the test metrics 0.2 ms; so evaluate every few rounds, or set a
//!   smaller `eval_size`. Passes over `E` run in chunks of 256 rows, in a fixed order, so
//!   memory stays small and results are bit-identical run to run.
//! - **Stochastic gradient** of machine `w`: `batch_size` indices drawn uniformly *with
//!   replacement* from `w`'s shard with `w`'s own stream (`random_range`, one draw per
//!   sample), then the mean gradient of those samples plus `lambda x`. It is unbiased for
//!   machine `w`'s shard objective; the honest machines' shards together are the training set
//!   only under `iid` sharding with equal sizes.
//! - **Metrics** ([`Problem::metrics`]): `accuracy` (fraction of the test set classified right)
//!   and `test_loss` (mean cross-entropy on the test set, without weight decay), one forward
//!   pass over the test set.
//! - **Attacks and defenses**: [`Problem::flipped_gradient`] (labels `l -> C - 1 - l`),
//!   [`Problem::draw_server_batch`] and [`Problem::server_loss`] (Zeno's batch: indices drawn
//!   uniformly with replacement from the whole training set).
//!
//! Worker ids index the shards; an id beyond the number of shards wraps around (the wiring
//! builds one shard per machine, so this never happens in a run).

use crate::linalg::Vector;
use crate::problem::data::synthetic::MAX_VALUES;
use crate::problem::data::{DataSource, Dataset, Samples, load};
use crate::problem::error::{ProblemError, require, require_finite};
use crate::problem::model::{BatchStats, Model, gather, rows};
use crate::problem::shard::{Sharding, shard};
use crate::problem::{Problem, ServerBatch, finite_difference_hessian_vector};
use crate::rng::SimRng;
use rand::RngExt;
use std::sync::OnceLock;

/// Rows per chunk in passes over the evaluation, test and server sets.
const CHUNK: usize = 256;

/// Largest minibatch (and server batch) size.
pub const MAX_BATCH_SIZE: usize = 1 << 16;

/// Training parameters of a learning task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingOptions {
    /// Samples per stochastic gradient, `1..=65536` (suggested default 32).
    pub batch_size: usize,
    /// L2 weight decay `lambda >= 0`, finite (suggested default 0; 1e-4 is a common choice).
    pub weight_decay: f64,
    /// Size of the evaluation set behind `loss` and `gradient`, at least 1; `None` (suggested
    /// default) uses the whole training set. Smaller values make evaluation cheaper.
    pub eval_size: Option<usize>,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            batch_size: 32,
            weight_decay: 0.0,
            eval_size: None,
        }
    }
}

/// A model trained on a sharded data set (kinds `logistic`, `softmax`, `mlp`).
#[derive(Debug)]
pub struct Classifier<M: Model> {
    model: M,
    data: Dataset,
    shards: Vec<Vec<usize>>,
    options: TrainingOptions,
    eval_len: usize,
    noise_level: OnceLock<f64>,
}

impl<M: Model> Classifier<M> {
    /// A learning task. `shards` are training-set indices, one list per machine (from
    /// [`crate::problem::shard::shard`]). Errors when the model's input or class count differs
    /// from the data set's, when there is no shard, a shard is empty or holds an index beyond
    /// the training set, or an option is out of range (see [`TrainingOptions`]).
    pub fn new(
        model: M,
        data: Dataset,
        shards: Vec<Vec<usize>>,
        options: TrainingOptions,
    ) -> Result<Self, ProblemError> {
        require(model.inputs() == data.num_features(), "inputs", || {
            format!(
                "the model takes {} features, the data set {} has {}",
                model.inputs(),
                data.name(),
                data.num_features()
            )
        })?;
        require(model.classes() == data.classes(), "classes", || {
            format!(
                "the {} model has {} classes, the data set {} has {}",
                model.name(),
                model.classes(),
                data.name(),
                data.classes()
            )
        })?;
        let n = data.train().len();
        require(!shards.is_empty(), "shards", || "need at least one".into())?;
        require(shards.iter().all(|s| !s.is_empty()), "shards", || {
            "every machine needs at least one sample".into()
        })?;
        require(shards.iter().flatten().all(|&i| i < n), "shards", || {
            format!("an index is beyond the training set of {n}")
        })?;
        let TrainingOptions {
            batch_size,
            weight_decay,
            eval_size,
        } = options;
        require(
            (1..=MAX_BATCH_SIZE).contains(&batch_size),
            "batch_size",
            || format!("must be in 1..={MAX_BATCH_SIZE}, got {batch_size}"),
        )?;
        let values = batch_size.saturating_mul(data.num_features());
        require(values <= MAX_VALUES, "batch_size", || {
            format!(
                "{batch_size} samples x {} features exceed the limit of {MAX_VALUES} values",
                data.num_features()
            )
        })?;
        require_finite("weight_decay", weight_decay, false)?;
        require(eval_size != Some(0), "eval_size", || {
            "must be at least 1".into()
        })?;
        let eval_len = eval_size.map_or(n, |e| e.min(n));
        Ok(Classifier {
            model,
            data,
            shards,
            options,
            eval_len,
            noise_level: OnceLock::new(),
        })
    }

    /// Build a learning task in one call: load `source` and split it (`test_fraction`, see
    /// [`load`]), shard the training set over `machines` machines (see [`shard`]), and build
    /// the model with `model(features, classes)` for the data's shape. Everything random is
    /// drawn from `rng`, in that order; the wiring should pass the
    /// [`crate::rng::streams::DATA`] stream of the run's seed.
    ///
    /// ```
    /// use safeguard_sim::problem::Problem;
    /// use safeguard_sim::problem::classifier::{Classifier, TrainingOptions};
    /// use safeguard_sim::problem::data::DataSource;
    /// use safeguard_sim::problem::mlp::Mlp;
    /// use safeguard_sim::problem::model::Activation;
    /// use safeguard_sim::problem::shard::Sharding;
    /// use safeguard_sim::rng::{stream, streams};
    ///
    /// let mut rng = stream(7, streams::DATA);
    /// let task = Classifier::build(
    ///     &DataSource::Digits, 0.2, Sharding::Dirichlet { alpha: 0.3 }, 10,
    ///     TrainingOptions::default(), &mut rng,
    ///     |inputs, classes| Mlp::new(inputs, &[64], classes, Activation::Tanh),
    /// ).unwrap();
    /// assert_eq!(task.dim(), 4810);
    /// assert_eq!(task.shards().len(), 10);
    /// let x = task.initial_point(&mut stream(7, streams::INIT));
    /// let g = task.stochastic_gradient(&x, 3, &mut stream(7, 3));
    /// assert_eq!(g.len(), 4810);
    /// assert_eq!(task.metrics(&x)[0].0, "accuracy");
    /// ```
    pub fn build(
        source: &DataSource,
        test_fraction: f64,
        sharding: Sharding,
        machines: usize,
        options: TrainingOptions,
        rng: &mut SimRng,
        model: impl FnOnce(usize, usize) -> Result<M, ProblemError>,
    ) -> Result<Self, ProblemError> {
        let data = load(source, test_fraction, rng)?;
        let shards = shard(
            data.train().labels(),
            data.classes(),
            machines,
            sharding,
            rng,
        )?;
        let model = model(data.num_features(), data.classes())?;
        Self::new(model, data, shards, options)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The data set.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The shards, one per machine.
    pub fn shards(&self) -> &[Vec<usize>] {
        &self.shards
    }

    /// The training options.
    pub fn options(&self) -> &TrainingOptions {
        &self.options
    }

    /// Mean loss (without weight decay) and accuracy of `x` on `samples`, in chunks.
    pub fn evaluate(&self, x: &Vector, samples: &Samples) -> (f64, f64) {
        let stats = self.pass(x, samples, samples.len(), None);
        let n = samples.len().max(1) as f64;
        (stats.loss_sum / n, stats.correct as f64 / n)
    }

    /// `sigma` with `sigma^2 = E ||g_w - grad F(x)||^2` averaged over the machines `w`, where
    /// `F` is the whole training set's mean loss: for a batch of `B` samples drawn with
    /// replacement from shard `s`, `E ||g - grad F||^2 = V_s / B + ||grad F_s - grad F||^2`,
    /// with `V_s` the variance of the per-sample gradients on `s` (the second term is the shard
    /// heterogeneity, zero on average for i.i.d. shards). Exact, from every per-sample gradient:
    /// one backward pass per training sample.
    pub fn noise_level_at(&self, x: &Vector) -> f64 {
        let Some(p) = x.as_slice() else {
            return f64::NAN;
        };
        let d = self.model.dim();
        let train = self.data.train();
        let per_sample: Vec<(Vector, f64)> = (0..train.len())
            .map(|i| {
                let mut g = Vector::zeros(d);
                if let Some(gs) = g.as_slice_mut() {
                    let row = rows(train.features(), i, i + 1);
                    self.model
                        .accumulate(p, row, &train.labels()[i..=i], 1.0, Some(gs));
                }
                let sq = g.dot(&g);
                (g, sq)
            })
            .collect();
        let mut global = Vector::zeros(d);
        per_sample.iter().for_each(|(g, _)| global += g);
        global /= train.len() as f64;
        let b = self.options.batch_size as f64;
        let mut total = 0.0;
        for shard in &self.shards {
            let mut mean = Vector::zeros(d);
            let mut sq = 0.0;
            for &i in shard {
                mean += &per_sample[i].0;
                sq += per_sample[i].1;
            }
            let k = shard.len() as f64;
            mean /= k;
            let variance = (sq / k - mean.dot(&mean)).max(0.0);
            total += variance / b + crate::linalg::distance(&mean, &global).powi(2);
        }
        (total / self.shards.len() as f64).sqrt()
    }

    /// One forward (and, with `grad`, backward) pass over the first `len` rows of `samples`,
    /// in chunks, each sample's gradient scaled by `1 / len`.
    fn pass(
        &self,
        x: &Vector,
        samples: &Samples,
        len: usize,
        mut grad: Option<&mut [f64]>,
    ) -> BatchStats {
        let mut stats = BatchStats::default();
        let Some(p) = x.as_slice() else {
            return stats;
        };
        let scale = 1.0 / len.max(1) as f64;
        for start in (0..len).step_by(CHUNK) {
            let end = (start + CHUNK).min(len);
            let chunk = rows(samples.features(), start, end);
            let labels = &samples.labels()[start..end];
            stats.add(
                self.model
                    .accumulate(p, chunk, labels, scale, grad.as_deref_mut()),
            );
        }
        stats
    }

    fn decay_loss(&self, x: &Vector) -> f64 {
        0.5 * self.options.weight_decay * x.dot(x)
    }

    /// The gradient on `indices` of the training set (mean over them, plus weight decay), with
    /// labels flipped `l -> C - 1 - l` when `flip`.
    fn batch_gradient(&self, x: &Vector, indices: &[usize], flip: bool) -> Vector {
        let train = self.data.train();
        let features = gather(train.features(), indices);
        let c = self.model.classes();
        let labels: Vec<usize> = indices
            .iter()
            .map(|&i| {
                let l = train.labels()[i];
                if flip { c - 1 - l } else { l }
            })
            .collect();
        let mut g = Vector::zeros(self.model.dim());
        if let (Some(p), Some(gs)) = (x.as_slice(), g.as_slice_mut()) {
            let scale = 1.0 / indices.len() as f64;
            self.model
                .accumulate(p, features.view(), &labels, scale, Some(gs));
        }
        if self.options.weight_decay != 0.0 {
            g.scaled_add(self.options.weight_decay, x);
        }
        g
    }

    /// Machine `worker`'s minibatch: `batch_size` uniform draws from its shard.
    fn minibatch(&self, worker: usize, rng: &mut SimRng) -> Vec<usize> {
        let shard = &self.shards[worker % self.shards.len()];
        (0..self.options.batch_size)
            .map(|_| shard[rng.random_range(0..shard.len())])
            .collect()
    }
}

impl<M: Model> Problem for Classifier<M> {
    fn name(&self) -> &str {
        self.model.name()
    }
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn initial_point(&self, rng: &mut SimRng) -> Vector {
        self.model.init(rng)
    }
    fn loss(&self, x: &Vector) -> f64 {
        let stats = self.pass(x, self.data.train(), self.eval_len, None);
        stats.loss_sum / self.eval_len as f64 + self.decay_loss(x)
    }
    fn gradient(&self, x: &Vector) -> Vector {
        self.loss_and_gradient(x).1
    }
    /// One pass over the evaluation samples: the loss comes out of the gradient's forward pass
    /// (the same sums as [`Problem::loss`], in the same order).
    fn loss_and_gradient(&self, x: &Vector) -> (f64, Vector) {
        let mut g = Vector::zeros(self.model.dim());
        let mut stats = BatchStats::default();
        if let Some(gs) = g.as_slice_mut() {
            stats = self.pass(x, self.data.train(), self.eval_len, Some(gs));
        }
        if self.options.weight_decay != 0.0 {
            g.scaled_add(self.options.weight_decay, x);
        }
        let loss = stats.loss_sum / self.eval_len as f64 + self.decay_loss(x);
        (loss, g)
    }
    fn stochastic_gradient(&self, x: &Vector, worker: usize, rng: &mut SimRng) -> Vector {
        let batch = self.minibatch(worker, rng);
        self.batch_gradient(x, &batch, false)
    }
    /// The noise level at the initial point of seed 0 (`initial_point` from stream
    /// `(0, INIT)`), computed once on first use ([`Classifier::noise_level_at`] gives it at any
    /// point). Learning tasks should prefer measured thresholds (`oracle_pre_run`, `adaptive`).
    fn noise_level(&self) -> f64 {
        *self.noise_level.get_or_init(|| {
            let x0 = self
                .model
                .init(&mut crate::rng::stream(0, crate::rng::streams::INIT));
            self.noise_level_at(&x0)
        })
    }
    fn metrics(&self, x: &Vector) -> Vec<(&'static str, f64)> {
        let (loss, accuracy) = self.evaluate(x, self.data.test());
        vec![("accuracy", accuracy), ("test_loss", loss)]
    }
    fn classes(&self) -> Option<usize> {
        Some(self.model.classes())
    }
    fn flipped_gradient(&self, x: &Vector, worker: usize, rng: &mut SimRng) -> Option<Vector> {
        let batch = self.minibatch(worker, rng);
        Some(self.batch_gradient(x, &batch, true))
    }
    fn draw_server_batch(&self, size: usize, rng: &mut SimRng) -> Option<ServerBatch> {
        let n = self.data.train().len();
        if size == 0 || size > MAX_BATCH_SIZE {
            return None;
        }
        Some(ServerBatch {
            indices: (0..size).map(|_| rng.random_range(0..n)).collect(),
        })
    }
    fn server_loss(&self, x: &Vector, batch: &ServerBatch) -> Option<f64> {
        let train = self.data.train();
        if batch.indices.is_empty() || batch.indices.iter().any(|&i| i >= train.len()) {
            return None;
        }
        let p = x.as_slice()?;
        let mut stats = BatchStats::default();
        for chunk in batch.indices.chunks(CHUNK) {
            let features = gather(train.features(), chunk);
            let labels: Vec<usize> = chunk.iter().map(|&i| train.labels()[i]).collect();
            stats.add(
                self.model
                    .accumulate(p, features.view(), &labels, 1.0, None),
            );
        }
        Some(stats.loss_sum / batch.indices.len() as f64 + self.decay_loss(x))
    }
    fn hessian_vector(&self, x: &Vector, v: &Vector) -> Vector {
        let mut out = Vector::zeros(self.model.dim());
        let (Some(p), Some(vs), Some(os)) = (x.as_slice(), v.as_slice(), out.as_slice_mut()) else {
            return finite_difference_hessian_vector(self, x, v);
        };
        let train = self.data.train();
        let scale = 1.0 / self.eval_len as f64;
        for start in (0..self.eval_len).step_by(CHUNK) {
            let end = (start + CHUNK).min(self.eval_len);
            let chunk = rows(train.features(), start, end);
            let labels = &train.labels()[start..end];
            if !self
                .model
                .accumulate_hessian_vector(p, chunk, labels, vs, scale, os)
            {
                return finite_difference_hessian_vector(self, x, v);
            }
        }
        if self.options.weight_decay != 0.0 {
            out.scaled_add(self.options.weight_decay, v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{distance, norm};
    use crate::problem::check::{assert_gradient_matches, assert_hessian_vector_matches};
    use crate::problem::data::{GaussianMixture, Spirals};
    use crate::problem::logistic::Logistic;
    use crate::problem::mlp::Mlp;
    use crate::problem::model::Activation;
    use crate::problem::softmax::Softmax;
    use crate::rng::stream;

    fn mixture(classes: usize, dim: usize, samples: usize) -> Dataset {
        let source = DataSource::GaussianMixture(GaussianMixture {
            classes,
            dim,
            samples,
            separation: 2.0,
        });
        load(&source, 0.25, &mut stream(11, 0)).unwrap()
    }

    fn task<M: Model>(
        model: M,
        data: Dataset,
        machines: usize,
        options: TrainingOptions,
    ) -> Classifier<M> {
        let labels = data.train().labels().to_vec();
        let shards = shard(
            &labels,
            data.classes(),
            machines,
            Sharding::Iid,
            &mut stream(3, 0),
        )
        .unwrap();
        Classifier::new(model, data, shards, options).unwrap()
    }

    fn decayed() -> TrainingOptions {
        TrainingOptions {
            batch_size: 8,
            weight_decay: 0.01,
            eval_size: None,
        }
    }

    /// Every learning problem, small enough for coordinate-wise finite differences.
    fn small_problems() -> Vec<Box<dyn Problem>> {
        vec![
            Box::new(task(
                Logistic::new(4).unwrap(),
                mixture(2, 4, 60),
                3,
                decayed(),
            )),
            Box::new(task(
                Softmax::new(4, 3).unwrap(),
                mixture(3, 4, 60),
                3,
                decayed(),
            )),
            Box::new(task(
                Mlp::new(4, &[5], 3, Activation::Tanh).unwrap(),
                mixture(3, 4, 60),
                3,
                decayed(),
            )),
            Box::new(task(
                Mlp::new(4, &[6, 5], 3, Activation::Relu).unwrap(),
                mixture(3, 4, 60),
                3,
                TrainingOptions {
                    eval_size: Some(30),
                    ..decayed()
                },
            )),
        ]
    }

    #[test]
    fn one_pass_loss_and_gradient_is_the_loss_to_the_bit() {
        for p in small_problems() {
            for seed in 0..3 {
                let x = p.initial_point(&mut stream(seed, 1)) * 1.5;
                let (loss, g) = p.loss_and_gradient(&x);
                assert_eq!(loss.to_bits(), p.loss(&x).to_bits());
                assert_eq!(g, p.gradient(&x));
                assert_ne!(loss, 0.0);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for p in small_problems() {
            for seed in 0..3 {
                let x = p.initial_point(&mut stream(seed, 1)) * 1.5;
                assert_gradient_matches(p.as_ref(), &x, 1e-6);
            }
        }
    }

    #[test]
    fn exact_hessian_vector_products_match_finite_differences() {
        for p in small_problems() {
            let x = p.initial_point(&mut stream(1, 1));
            let v = p.initial_point(&mut stream(2, 1));
            assert_hessian_vector_matches(p.as_ref(), &x, &v, 1e-6);
        }
    }

    #[test]
    fn stochastic_gradient_uses_the_machines_shard_and_stream() {
        let p = task(
            Mlp::new(4, &[5], 3, Activation::Tanh).unwrap(),
            mixture(3, 4, 120),
            4,
            decayed(),
        );
        let x = p.initial_point(&mut stream(0, 1));
        for worker in 0..4 {
            let mut rng = stream(9, worker as u64);
            let g = p.stochastic_gradient(&x, worker, &mut rng);
            // The same draws, replayed: the batch comes from this machine's shard only.
            let mut replay = stream(9, worker as u64);
            let batch = p.minibatch(worker, &mut replay);
            assert!(batch.iter().all(|i| p.shards()[worker].contains(i)));
            assert_eq!(g, p.batch_gradient(&x, &batch, false));
            // Label flipping draws the same batch and leaves the stream in the same state.
            let mut flip_rng = stream(9, worker as u64);
            let flipped = p.flipped_gradient(&x, worker, &mut flip_rng).unwrap();
            assert_eq!(flipped, p.batch_gradient(&x, &batch, true));
            assert_ne!(flipped, g);
            assert_eq!(flip_rng.random::<u64>(), rng.random::<u64>());
        }
        // Bit-identical when rebuilt from the same seeds.
        let q = task(
            Mlp::new(4, &[5], 3, Activation::Tanh).unwrap(),
            mixture(3, 4, 120),
            4,
            decayed(),
        );
        assert_eq!(
            p.stochastic_gradient(&x, 2, &mut stream(1, 2)),
            q.stochastic_gradient(&x, 2, &mut stream(1, 2))
        );
    }

    #[test]
    fn minibatch_gradients_are_unbiased_and_match_the_noise_level() {
        let p = task(
            Softmax::new(3, 3).unwrap(),
            mixture(3, 3, 200),
            1,
            TrainingOptions {
                batch_size: 4,
                ..Default::default()
            },
        );
        let x = p.initial_point(&mut stream(0, 1));
        let full = p.gradient(&x);
        let mut rng = stream(4, 0);
        let n = 20_000;
        let mut mean = Vector::zeros(p.dim());
        let mut sq = 0.0;
        for _ in 0..n {
            let g = p.stochastic_gradient(&x, 0, &mut rng);
            sq += distance(&g, &full).powi(2);
            mean += &g;
        }
        mean /= n as f64;
        let sigma = p.noise_level_at(&x);
        assert!(distance(&mean, &full) < 0.05 * sigma, "{mean} vs {full}");
        assert!(((sq / n as f64).sqrt() / sigma - 1.0).abs() < 0.03);
        assert!(p.noise_level() > 0.0);
    }

    #[test]
    fn flipped_labels_reverse_the_classes() {
        // Logistic: flipping labels 0 <-> 1 is the same as negating the logit's target, so at
        // x = 0 (sigma = 1/2) the flipped gradient is the honest one negated.
        let p = task(
            Logistic::new(4).unwrap(),
            mixture(2, 4, 60),
            2,
            TrainingOptions::default(),
        );
        let x = Vector::zeros(p.dim());
        let g = p.stochastic_gradient(&x, 1, &mut stream(5, 1));
        let f = p.flipped_gradient(&x, 1, &mut stream(5, 1)).unwrap();
        assert!(norm(&(&g + &f)) < 1e-12);
        assert_eq!(p.classes(), Some(2));
    }

    #[test]
    fn server_batch_and_loss() {
        let p = task(Softmax::new(4, 3).unwrap(), mixture(3, 4, 60), 3, decayed());
        let x = p.initial_point(&mut stream(0, 1));
        let n = p.data().train().len();
        let b = p.draw_server_batch(10, &mut stream(0, 2)).unwrap();
        assert_eq!(b.indices.len(), 10);
        assert!(b.indices.iter().all(|&i| i < n));
        assert_eq!(b, p.draw_server_batch(10, &mut stream(0, 2)).unwrap());
        // The whole training set as a batch gives the loss.
        let all = ServerBatch {
            indices: (0..n).collect(),
        };
        assert!((p.server_loss(&x, &all).unwrap() - p.loss(&x)).abs() < 1e-12);
        assert!(
            p.server_loss(&x, &ServerBatch { indices: vec![n] })
                .is_none()
        );
        assert!(
            p.server_loss(&x, &ServerBatch { indices: vec![] })
                .is_none()
        );
        assert!(p.draw_server_batch(0, &mut stream(0, 2)).is_none());
    }

    #[test]
    fn eval_size_restricts_loss_and_gradient() {
        let data = mixture(3, 4, 200);
        let full = task(
            Softmax::new(4, 3).unwrap(),
            data.clone(),
            2,
            TrainingOptions::default(),
        );
        let part = task(
            Softmax::new(4, 3).unwrap(),
            data,
            2,
            TrainingOptions {
                eval_size: Some(10),
                ..Default::default()
            },
        );
        let x = full.initial_point(&mut stream(0, 1));
        assert_ne!(full.loss(&x), part.loss(&x));
        let first: Vec<usize> = (0..10).collect();
        let g = part.batch_gradient(&x, &first, false);
        assert!(distance(&g, &part.gradient(&x)) < 1e-12);
    }

    #[test]
    fn bad_combinations_are_errors() {
        let data = mixture(3, 4, 60);
        let n = data.train().len();
        let ok = vec![(0..n).collect::<Vec<_>>()];
        let o = TrainingOptions::default();
        let new = |m: Softmax, s: Vec<Vec<usize>>, o| Classifier::new(m, data.clone(), s, o);
        assert!(new(Softmax::new(4, 3).unwrap(), ok.clone(), o).is_ok());
        assert!(new(Softmax::new(5, 3).unwrap(), ok.clone(), o).is_err());
        assert!(new(Softmax::new(4, 2).unwrap(), ok.clone(), o).is_err());
        assert!(new(Softmax::new(4, 3).unwrap(), vec![], o).is_err());
        assert!(new(Softmax::new(4, 3).unwrap(), vec![vec![0], vec![]], o).is_err());
        assert!(new(Softmax::new(4, 3).unwrap(), vec![vec![n]], o).is_err());
        for bad in [
            TrainingOptions { batch_size: 0, ..o },
            TrainingOptions {
                batch_size: MAX_BATCH_SIZE + 1,
                ..o
            },
            TrainingOptions {
                weight_decay: -1.0,
                ..o
            },
            TrainingOptions {
                weight_decay: f64::NAN,
                ..o
            },
            TrainingOptions {
                eval_size: Some(0),
                ..o
            },
        ] {
            assert!(
                new(Softmax::new(4, 3).unwrap(), ok.clone(), bad).is_err(),
                "{bad:?}"
            );
        }
        let lg = Classifier::new(Logistic::new(4).unwrap(), data.clone(), ok, o);
        assert!(lg.is_err());
    }

    /// Plain SGD with the mean of all machines' minibatch gradients, as the mean aggregator
    /// with honest machines does.
    fn train(p: &dyn Problem, lr: f64, rounds: usize, machines: usize) -> f64 {
        let mut x = p.initial_point(&mut stream(1, crate::rng::streams::INIT));
        let mut rngs: Vec<SimRng> = (0..machines).map(|w| stream(1, w as u64)).collect();
        let start = p.loss(&x);
        for _ in 0..rounds {
            let mut step = Vector::zeros(p.dim());
            for (w, rng) in rngs.iter_mut().enumerate() {
                step += &p.stochastic_gradient(&x, w, rng);
            }
            x.scaled_add(-lr / machines as f64, &step);
        }
        assert!(p.loss(&x) < start, "{}: the loss did not fall", p.name());
        p.metrics(&x)[0].1
    }

    #[test]
    fn sgd_learns_digits() {
        let digits = load(&DataSource::Digits, 0.2, &mut stream(2, 0)).unwrap();
        let options = TrainingOptions::default();
        let mlp = Mlp::new(64, &[32], 10, Activation::Tanh).unwrap();
        let acc = train(&task(mlp, digits.clone(), 4, options), 0.1, 300, 4);
        assert!(acc > 0.95, "mlp on digits: {acc}");
        let softmax = Softmax::new(64, 10).unwrap();
        let acc = train(&task(softmax, digits, 4, options), 0.1, 200, 4);
        assert!(acc > 0.92, "softmax on digits: {acc}");
    }

    #[test]
    fn sgd_learns_breast_cancer() {
        let cancer = load(&DataSource::BreastCancer, 0.2, &mut stream(2, 0)).unwrap();
        let logistic = task(
            Logistic::new(30).unwrap(),
            cancer,
            4,
            TrainingOptions::default(),
        );
        let acc = train(&logistic, 0.1, 200, 4);
        assert!(acc > 0.95, "logistic on breast cancer: {acc}");
    }

    #[test]
    fn spirals_need_the_mlp() {
        // Spirals are not linearly separable: the MLP beats the linear model by far.
        let spirals = DataSource::Spirals(Spirals {
            classes: 2,
            samples: 600,
            noise: 0.02,
            turns: 1.0,
        });
        let data = load(&spirals, 0.2, &mut stream(2, 0)).unwrap();
        let options = TrainingOptions::default();
        let linear = task(Softmax::new(2, 2).unwrap(), data.clone(), 2, options);
        let linear = train(&linear, 0.1, 300, 2);
        let mlp = Mlp::new(2, &[32, 32], 2, Activation::Tanh).unwrap();
        let acc = train(&task(mlp, data, 2, options), 0.3, 1500, 2);
        assert!(
            acc > 0.95 && linear < 0.75,
            "spirals: mlp {acc}, softmax {linear}"
        );
    }
}
