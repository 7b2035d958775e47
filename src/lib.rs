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
//! - [`scenario`]: the JSON scenario format, parsed into a [`scenario::ScenarioSpec`] and checked
//!   once into a valid [`scenario::Scenario`];
//! - [`sim`]: builds the actors from a scenario and runs the rounds;
//! - [`actors`]: the coordinator, honest and Byzantine actors (thin actix shells);
//! - [`problem`], [`aggregate`], [`attack`]: the math, free of actix;
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
pub mod error;
pub mod linalg;
pub mod plot;
pub mod problem;
pub mod progress;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod sim;

pub use error::{Error, ScenarioError};
