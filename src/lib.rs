//! # safeguard-sim
//!
//! An actor-based, deterministic simulator for Byzantine-resilient distributed SGD, built around
//! **SafeguardSGD** (Z. Allen-Zhu, F. Ebrahimian, J. Li, D. Alistarh, *Byzantine-Resilient
//! Non-Convex Stochastic Gradient Descent*, ICLR 2021, arXiv:2012.14368).
//!
//! `m` machines compute stochastic gradients for a master; some are Byzantine and send whatever
//! hurts most. Each machine is an [actix] actor; a coordinator actor runs the lock-step round,
//! hands the replies (ordered by worker id) to an [`aggregate::Aggregator`], applies the update
//! and reports one [`actors::RoundEvent`] per round to the [`record::Observer`]s.
//!
//! Layers (data flows down, nothing points back up):
//! - [`registry`]: every `kind` a scenario can name (problems, aggregators, pre-aggregators,
//!   attacks), built-in or from a user's crate, registered the same way;
//! - [`scenario`]: the JSON scenario format, parsed with a [`registry::Registry`] and checked
//!   once into a valid [`scenario::Scenario`];
//! - [`run`] and [`cli`]: the one entry point that runs a scenario with the usual outputs, and the
//!   command line built on it ([`cli::main_with`] for a user's binary);
//! - [`sim`]: builds the actors from a scenario and runs the rounds; [`placement`] decides on
//!   which threads;
//! - [`actors`]: the coordinator, machine hosts, honest and Byzantine actors (thin actix shells);
//! - [`problem`], [`aggregate`], [`attack`]: the math, free of actix;
//! - [`optimizer`] and [`evaluation`]: what the machines send and how the master steps (schedule,
//!   momentum), and when the iterate is evaluated (test accuracy, smallest Hessian eigenvalue);
//! - [`record`], [`plot`] and [`progress`]: CSV/JSON outputs, SVG figures and reports, the
//!   progress bar.
//!
//! ```
//! use safeguard_sim::scenario::Scenario;
//! let text = r#"{"name":"doc","seed":1,"rounds":50,"workers":{"honest":3,"byzantine":1},
//!   "problem":{"kind":"quadratic","dim":2},"optimizer":{"lr":0.1},
//!   "aggregator":{"kind":"mean"},"attack":{"kind":"zero"}}"#;
//! let scenario = Scenario::from_json_str(text, "doc.json").unwrap();
//! let result = safeguard_sim::sim::run_blocking(&scenario, &Default::default(), &mut []).unwrap();
//! assert_eq!(result.summary.rounds, 50);
//! ```

#![warn(missing_docs)]

pub mod actors;
pub mod aggregate;
pub mod attack;
pub mod cli;
pub mod error;
pub mod evaluation;
pub mod linalg;
pub mod optimizer;
pub mod placement;
pub mod plot;
pub mod problem;
pub mod progress;
pub mod record;
pub mod registry;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod sweep;

pub use error::{Error, ScenarioError};
pub use registry::Registry;

// The crates a user needs to write kinds, at the versions this crate uses (no version guessing).
pub use actix;
pub use ndarray;
pub use rand;
pub use schemars;
pub use serde;
pub use serde_json;

#[doc = include_str!("../docs/writing-an-adversary.md")]
pub mod guide {}

/// Everything a user crate needs to write and register its own kinds:
/// `use safeguard_sim::prelude::*;`.
pub mod prelude {
    pub use crate::actors::{ByzantineRequest, ReplyTo};
    pub use crate::aggregate::{
        Aggregate, Aggregator, AggregatorKind, Expulsion, PreAggregator, PreAggregatorKind,
        PublicState, RoundInput, WindowState,
    };
    pub use crate::attack::{
        ActorList, ActorSetup, Adversaries, Adversary, AttackContext, AttackKind, RoundView,
        adversary_fn,
    };
    pub use crate::linalg::Vector;
    pub use crate::problem::{Problem, ProblemInfo, ProblemKind};
    pub use crate::registry::{BuildContext, CheckContext, ParamError, Params, Registry, Setting};
    pub use crate::rng::SimRng;
    pub use crate::scenario::Scenario;
    pub use actix;
    pub use rand;
    pub use schemars::{self, JsonSchema};
    pub use serde::{self, Deserialize, Serialize};
}
