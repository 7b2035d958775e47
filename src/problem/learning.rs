//! What the learning kinds (`logistic`, `softmax`, `mlp`) share in a scenario: the data set, its
//! sharding across the machines, and the training options; their checks (mirroring every
//! precondition of [`crate::problem::data`], [`crate::problem::shard`] and
//! [`Classifier`], so that a checked scenario always builds), the facts the rest of the scenario
//! is checked against, and the construction of the [`Classifier`].
//!
//! Each kind's parameter type is declared with [`learning_kind!`](crate::problem::learning)
//! (the common fields below, then the kind's own) and says how to build its model
//! ([`ModelSpec`]). In a scenario:
//!
//! ```json
//! "problem": {"kind": "mlp", "hidden": [64], "activation": "tanh",
//!             "data": {"kind": "digits"}, "sharding": {"kind": "dirichlet", "alpha": 0.3},
//!             "batch_size": 32, "weight_decay": 0.0, "test_fraction": 0.2}
//! ```
//!
//! The data set, the train/test split, the shards and the model's initial parameters are drawn
//! from the run's [`crate::rng::streams::DATA`] stream (data, split, shards, in that order) and
//! [`crate::rng::streams::INIT`] stream: the same seed gives the same task. Every machine,
//! Byzantine ones included, holds a shard (label flipping and delayed gradients need data);
//! machine `i` draws its minibatches from shard `i` with its own stream.

use crate::problem::classifier::{Classifier, MAX_BATCH_SIZE, TrainingOptions};
use crate::problem::data::synthetic::MAX_VALUES;
use crate::problem::data::{DataSource, GaussianMixture, Spirals};
use crate::problem::error::ProblemError;
use crate::problem::model::Model;
use crate::problem::shard::{MAX_ALPHA, Sharding};
use crate::problem::{Problem, ProblemInfo};
use crate::registry::{ParamError, Setting};
use crate::rng::{stream, streams};
use crate::scenario::TaggedEnum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A data set, as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum DataSpec {
    /// UCI optical digits: 1797 8x8 images, 64 features, 10 classes (embedded; works offline).
    Digits(DigitsData),
    /// UCI breast cancer (Wisconsin diagnostic): 569 samples, 30 features, 2 classes (embedded).
    BreastCancer(BreastCancerData),
    /// A seeded Gaussian mixture: class means of norm `separation`, unit-variance noise.
    GaussianMixture(GaussianMixtureData),
    /// Seeded interleaved 2-D spirals, one arm per class (not linearly separable).
    Spirals(SpiralsData),
}
impl TaggedEnum for DataSpec {
    const TAG: &'static str = "kind";
}

/// The digits data set (no parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigitsData {}

/// The breast cancer data set (no parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreastCancerData {}

/// Gaussian mixture parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianMixtureData {
    /// Number of classes (at least 2).
    pub classes: usize,
    /// Number of features.
    pub dim: usize,
    /// Total number of samples (train and test), at least `classes`.
    pub samples: usize,
    /// Norm of every class mean (larger: easier).
    pub separation: f64,
}
impl Default for GaussianMixtureData {
    fn default() -> Self {
        GaussianMixtureData {
            classes: 4,
            dim: 10,
            samples: 2000,
            separation: 2.0,
        }
    }
}

/// Spirals parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpiralsData {
    /// Number of arms (= classes, at least 2).
    pub classes: usize,
    /// Total number of samples (train and test), at least `classes`.
    pub samples: usize,
    /// Standard deviation of the Gaussian jitter.
    pub noise: f64,
    /// Turns of each arm.
    pub turns: f64,
}
impl Default for SpiralsData {
    fn default() -> Self {
        SpiralsData {
            classes: 2,
            samples: 1000,
            noise: 0.05,
            turns: 1.0,
        }
    }
}

impl DataSpec {
    /// The source it describes.
    pub fn source(&self) -> DataSource {
        match self {
            DataSpec::Digits(_) => DataSource::Digits,
            DataSpec::BreastCancer(_) => DataSource::BreastCancer,
            DataSpec::GaussianMixture(g) => DataSource::GaussianMixture(GaussianMixture {
                classes: g.classes,
                dim: g.dim,
                samples: g.samples,
                separation: g.separation,
            }),
            DataSpec::Spirals(s) => DataSource::Spirals(Spirals {
                classes: s.classes,
                samples: s.samples,
                noise: s.noise,
                turns: s.turns,
            }),
        }
    }

    /// The number of samples (train and test), known without loading them.
    pub fn samples(&self) -> usize {
        match self {
            DataSpec::Digits(_) => 1797,
            DataSpec::BreastCancer(_) => 569,
            DataSpec::GaussianMixture(g) => g.samples,
            DataSpec::Spirals(s) => s.samples,
        }
    }

    /// Check the synthetic sets' parameters (those of [`crate::problem::data::synthetic`]);
    /// paths are relative to the `data` object.
    pub fn check(&self) -> Result<(), ParamError> {
        let (classes, dim, samples) = match self {
            DataSpec::Digits(_) | DataSpec::BreastCancer(_) => return Ok(()),
            DataSpec::GaussianMixture(g) => {
                ParamError::require_positive("separation", g.separation, true)?;
                (g.classes, g.dim, g.samples)
            }
            DataSpec::Spirals(s) => {
                ParamError::require_positive("noise", s.noise, true)?;
                ParamError::require_positive("turns", s.turns, false)?;
                (s.classes, 2, s.samples)
            }
        };
        if classes < 2 {
            return Err(ParamError::new(
                "classes",
                format!("expected at least 2 classes, got {classes}"),
            ));
        }
        if dim == 0 {
            return Err(ParamError::new("dim", "expected at least 1 feature"));
        }
        if samples < classes {
            return Err(ParamError::new(
                "samples",
                format!("expected at least one sample per class ({classes}), got {samples}"),
            ));
        }
        if samples.checked_mul(dim).is_none_or(|v| v > MAX_VALUES) {
            return Err(ParamError::new(
                "samples",
                format!(
                    "{samples} samples x {dim} features exceed the limit of {MAX_VALUES} values"
                ),
            ));
        }
        Ok(())
    }
}

/// How the training set is split across the machines, as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ShardingSpec {
    /// Uniformly at random, equal sizes (i.i.d. machines, as the paper assumes).
    Iid(IidSharding),
    /// Label skew: each class is split over the machines in `Dirichlet(alpha)` proportions
    /// (Hsu, Qi & Brown 2019); small `alpha` gives each machine few classes.
    Dirichlet(DirichletSharding),
    /// `classes_per_machine` label-sorted shards per machine (McMahan et al. 2017).
    Shards(ShardsSharding),
}
impl TaggedEnum for ShardingSpec {
    const TAG: &'static str = "kind";
}

/// I.i.d. sharding (no parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IidSharding {}

/// Dirichlet sharding parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirichletSharding {
    /// The concentration `alpha`, in (0, 1e6] (1.0, 0.3, 0.1 are common; large is i.i.d.).
    pub alpha: f64,
}

/// Label-shard sharding parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShardsSharding {
    /// Shards (about classes) per machine, from 1 to the number of classes.
    pub classes_per_machine: usize,
}
impl Default for ShardsSharding {
    fn default() -> Self {
        ShardsSharding {
            classes_per_machine: 2,
        }
    }
}

impl ShardingSpec {
    /// The sharding it describes.
    pub fn sharding(&self) -> Sharding {
        match self {
            ShardingSpec::Iid(_) => Sharding::Iid,
            ShardingSpec::Dirichlet(d) => Sharding::Dirichlet { alpha: d.alpha },
            ShardingSpec::Shards(s) => Sharding::Shards {
                classes_per_machine: s.classes_per_machine,
            },
        }
    }
}

/// A learning kind's model: how to build it for a data set's shape.
pub trait ModelSpec {
    /// The model type.
    type Model: Model + 'static;
    /// The model for `inputs` features and `classes` classes. Its errors name the kind's field
    /// at fault (`hidden`, `data`, or `model` for the parameter count).
    fn model(&self, inputs: usize, classes: usize) -> Result<Self::Model, ProblemError>;
}

/// The fields every learning kind shares, borrowed from its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learning<'a> {
    /// The data set.
    pub data: &'a DataSpec,
    /// The sharding.
    pub sharding: &'a ShardingSpec,
    /// Batch size, weight decay and evaluation set size.
    pub options: TrainingOptions,
    /// The test set's share of the samples.
    pub test_fraction: f64,
}

/// A `ProblemError` of the model as a `ParamError` of the kind's field it names.
fn param_error(e: ProblemError) -> ParamError {
    match e {
        ProblemError::InvalidParameter { parameter, message } => {
            ParamError::new(parameter, message)
        }
        other => ParamError::new("data", other.to_string()),
    }
}

impl Learning<'_> {
    /// Check everything a [`Classifier::build`] with `machines` machines requires and `model`
    /// (for the data's shape), with paths relative to the kind's object.
    pub fn check<S: ModelSpec>(&self, model: &S, machines: usize) -> Result<(), ParamError> {
        self.data.check().map_err(|e| within("data", e))?;
        let tf = self.test_fraction;
        if !(tf > 0.0 && tf < 1.0) {
            return Err(ParamError::new(
                "test_fraction",
                format!("expected a number in (0, 1), got {tf}"),
            ));
        }
        let n = self.data.samples();
        let n_test = (tf * n as f64).round() as usize;
        if n_test == 0 || n_test >= n {
            return Err(ParamError::new(
                "test_fraction",
                format!("{tf} of {n} samples leaves an empty training or test set"),
            ));
        }
        let n_train = n - n_test;
        if n_train < machines {
            return Err(ParamError::new(
                "data",
                format!(
                    "{machines} machines but only {n_train} training samples: every machine needs at least one"
                ),
            ));
        }
        let (features, classes) = self.data.source().shape();
        match self.sharding {
            ShardingSpec::Iid(_) => {}
            ShardingSpec::Dirichlet(d) => {
                if !(d.alpha > 0.0 && d.alpha <= MAX_ALPHA) {
                    return Err(ParamError::new(
                        "sharding.alpha",
                        format!("expected a number in (0, {MAX_ALPHA}], got {}", d.alpha),
                    ));
                }
            }
            ShardingSpec::Shards(s) => {
                let k = s.classes_per_machine;
                if k == 0 || k > classes {
                    return Err(ParamError::new(
                        "sharding.classes_per_machine",
                        format!("expected 1 to {classes} (the data set's classes), got {k}"),
                    ));
                }
                if machines.checked_mul(k).is_none_or(|p| p > n_train) {
                    return Err(ParamError::new(
                        "sharding.classes_per_machine",
                        format!(
                            "{machines} machines x {k} shards need at least as many training samples, got {n_train}"
                        ),
                    ));
                }
            }
        }
        let TrainingOptions {
            batch_size,
            weight_decay,
            eval_size,
        } = self.options;
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(ParamError::new(
                "batch_size",
                format!("expected 1 to {MAX_BATCH_SIZE}, got {batch_size}"),
            ));
        }
        if batch_size.saturating_mul(features) > MAX_VALUES {
            return Err(ParamError::new(
                "batch_size",
                format!(
                    "{batch_size} samples x {features} features exceed the limit of {MAX_VALUES} values"
                ),
            ));
        }
        ParamError::require_positive("weight_decay", weight_decay, true)?;
        if eval_size == Some(0) {
            return Err(ParamError::new("eval_size", "expected at least 1 sample"));
        }
        model.model(features, classes).map_err(|e| match e {
            ProblemError::InvalidParameter {
                parameter: "model",
                message,
            } => {
                ParamError::new(
                    "",
                    format!(
                        "the model for {features} features and {classes} classes {message}; use fewer or narrower layers"
                    ),
                )
            }
            other => param_error(other),
        })?;
        Ok(())
    }

    /// The facts the rest of the scenario is checked against: the model's dimension for the
    /// data's shape (without loading the data), the number of classes, and no stated noise level
    /// or bound (`theory` thresholds need an explicit `sigma`, `paper` thresholds a
    /// `noise_bound`; `oracle_pre_run` and `adaptive` measure the spread).
    pub fn info<S: ModelSpec>(&self, model: &S) -> ProblemInfo {
        let (features, classes) = self.data.source().shape();
        ProblemInfo {
            dim: model.model(features, classes).map_or(0, |m| m.dim()),
            noise_level: None,
            // A minibatch gradient's deviation is bounded (the data are finite), but the bound
            // is not known from the parameters: the safeguard's filter estimates its radius.
            noise_bound: None,
            classes: Some(classes),
            validation: crate::problem::Validation::Samples,
        }
    }

    /// Build the task: data, split and shards from the run's `DATA` stream, one shard per
    /// machine (Byzantine machines included), then the model.
    pub fn build<S: ModelSpec>(
        &self,
        model: &S,
        setting: &Setting,
    ) -> Result<Arc<dyn Problem>, String> {
        let mut rng = stream(setting.seed, streams::DATA);
        let task = Classifier::build(
            &self.data.source(),
            self.test_fraction,
            self.sharding.sharding(),
            setting.machines(),
            self.options,
            &mut rng,
            |inputs, classes| model.model(inputs, classes),
        )
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(task))
    }
}

/// `e` with its path inside the object `field`.
fn within(field: &str, e: ParamError) -> ParamError {
    ParamError::new(crate::scenario::tagged::join(field, &e.path), e.message)
}

/// Declares a learning kind's parameter type: the doc comment (the kind's description, starting
/// with "`name`: ..."), the default data set, then the kind's own fields with their defaults;
/// the shared fields (`data`, `sharding`, `batch_size`, `weight_decay`, `test_fraction`,
/// `eval_size`) follow them. It also implements [`crate::registry::Params`] (the checks of
/// [`Learning::check`]) and [`crate::problem::ProblemKind`] for the type, which must implement
/// [`ModelSpec`].
macro_rules! learning_kind {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            data: $data:expr;
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// The data set: `{"kind": "digits" | "breast_cancer" | "gaussian_mixture" |
            /// "spirals", ...}`, split at random into a training and a test set, standardised
            /// by the training set.
            pub data: $crate::scenario::Tagged<$crate::problem::learning::DataSpec>,
            /// How the training set is split across the machines, Byzantine ones included:
            /// `{"kind": "iid" | "dirichlet" | "shards", ...}`.
            pub sharding: $crate::scenario::Tagged<$crate::problem::learning::ShardingSpec>,
            /// Samples per stochastic gradient, drawn uniformly with replacement from the
            /// machine's own shard (1 to 65536).
            pub batch_size: usize,
            /// L2 weight decay `lambda` on every parameter: the objective is the mean loss plus
            /// `lambda/2 ||x||^2`.
            pub weight_decay: f64,
            /// Share of the samples held out as the test set (`accuracy` and `test_loss` in
            /// rounds.csv), in (0, 1).
            pub test_fraction: f64,
            /// Training samples behind `loss` and `grad_norm` (a uniform subset; absent: the
            /// whole training set). Smaller makes each evaluation cheaper.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub eval_size: Option<usize>,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $default, )*
                    data: $crate::scenario::Tagged($data),
                    sharding: $crate::scenario::Tagged(
                        $crate::problem::learning::ShardingSpec::Iid(
                            $crate::problem::learning::IidSharding {},
                        ),
                    ),
                    batch_size: 32,
                    weight_decay: 0.0,
                    test_fraction: 0.2,
                    eval_size: None,
                }
            }
        }

        impl $name {
            /// The fields every learning kind shares.
            pub fn learning(&self) -> $crate::problem::learning::Learning<'_> {
                $crate::problem::learning::Learning {
                    data: &self.data.0,
                    sharding: &self.sharding.0,
                    options: $crate::problem::classifier::TrainingOptions {
                        batch_size: self.batch_size,
                        weight_decay: self.weight_decay,
                        eval_size: self.eval_size,
                    },
                    test_fraction: self.test_fraction,
                }
            }
        }

        impl $crate::registry::Params for $name {
            fn check(
                &mut self,
                ctx: &$crate::registry::CheckContext<'_>,
            ) -> Result<(), $crate::registry::ParamError> {
                self.learning().check(self, ctx.setting.machines())
            }
        }

        impl $crate::problem::ProblemKind for $name {
            fn info(&self) -> $crate::problem::ProblemInfo {
                self.learning().info(self)
            }
            fn build(
                &self,
                setting: &$crate::registry::Setting,
            ) -> Result<std::sync::Arc<dyn $crate::problem::Problem>, String> {
                self.learning().build(self, setting)
            }
        }
    };
}
pub(crate) use learning_kind;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::data::load;

    #[test]
    fn sample_counts_match_the_loaded_sets() {
        for spec in [
            DataSpec::Digits(DigitsData {}),
            DataSpec::BreastCancer(BreastCancerData {}),
            DataSpec::GaussianMixture(GaussianMixtureData::default()),
            DataSpec::Spirals(SpiralsData::default()),
        ] {
            let data = load(&spec.source(), 0.2, &mut stream(1, 2)).unwrap();
            assert_eq!(
                data.train().len() + data.test().len(),
                spec.samples(),
                "{spec:?}"
            );
            assert!(spec.check().is_ok());
        }
    }

    #[test]
    fn synthetic_preconditions_are_checked() {
        let gm = |f: fn(&mut GaussianMixtureData)| {
            let mut g = GaussianMixtureData::default();
            f(&mut g);
            DataSpec::GaussianMixture(g).check().map_err(|e| e.path)
        };
        assert_eq!(gm(|g| g.classes = 1), Err("classes".into()));
        assert_eq!(gm(|g| g.dim = 0), Err("dim".into()));
        assert_eq!(gm(|g| g.samples = 3), Err("samples".into()));
        assert_eq!(gm(|g| g.dim = 1 << 20), Err("samples".into()));
        assert_eq!(gm(|g| g.separation = f64::NAN), Err("separation".into()));
        let sp = DataSpec::Spirals(SpiralsData {
            turns: 0.0,
            ..Default::default()
        });
        assert_eq!(sp.check().unwrap_err().path, "turns");
    }
}
