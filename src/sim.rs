//! Builds the actors from a [`Scenario`] and runs the rounds, handing one [`RoundEvent`] per
//! round to the [`Observer`]s.
//!
//! Determinism: one master seed; honest machine `i` draws from stream `i`, Byzantine machine `i`
//! from stream `i` (its honest gradient) and `ADVERSARY + i` (its adversary); the coordinator's
//! perturbation has its own stream. Replies are sorted by worker id before any arithmetic, so the
//! results do not depend on `threads` (the number of arbiter threads the machines are spread
//! over).

use crate::actors::{
    ByzantineRequest, ByzantineWorker, Coordinator, CoordinatorConfig, FaultyWorker,
    GradientRequest, HonestWorker, Role, RoundEvent, RunRound,
};
use crate::aggregate::safeguard::{Calibration, Safeguard, calibrate};
use crate::aggregate::{Aggregator, Mean, Oracle};
use crate::attack::{Adversary, FaultMode, Faulty, Gaussian, NoAttack, SignFlip, Zero};
use crate::error::Error;
use crate::linalg::norm;
use crate::problem::Problem;
use crate::record::{Observer, RunInfo, Status, Summary};
use crate::rng::{stream, streams};
use crate::scenario::{AggregatorSpec, AttackSpec, Scenario};
use actix::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to run (never changes the results).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Threads the machine actors run on (at least 1). With 1 they share the coordinator's
    /// thread; with N > 1 they are spread over N arbiter threads of their own.
    pub threads: usize,
    /// Set to true (e.g. by a Ctrl-C handler) to stop after the current round.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 1,
            stop: None,
        }
    }
}

/// What a finished run returns.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run's summary (also given to the observers' `finish`).
    pub summary: Summary,
}

/// The aggregator of a scenario; runs the calibration pre-run when the thresholds ask for it.
pub fn build_aggregator(
    scenario: &Scenario,
    problem: &dyn Problem,
) -> (Box<dyn Aggregator>, Option<Calibration>) {
    let spec = scenario.spec();
    match &spec.aggregator.0 {
        AggregatorSpec::Mean(_) => (Box::new(Mean), None),
        AggregatorSpec::Oracle(_) => (Box::new(Oracle), None),
        AggregatorSpec::Safeguard(_) => {
            let Some((mut config, cal)) = scenario.safeguard() else {
                return (Box::new(Mean), None);
            };
            let calibration = cal.map(|c| {
                let cal = calibrate(
                    problem,
                    spec.workers.honest,
                    spec.optimizer.lr,
                    spec.optimizer.perturbation,
                    config.variant,
                    config.window_long,
                    config.window_short,
                    c.rounds.unwrap_or(2 * config.window_long),
                    c.factor,
                    spec.seed,
                );
                config.thresholds = cal.thresholds;
                cal
            });
            (
                Box::new(Safeguard::new(config, scenario.machines(), problem.dim())),
                calibration,
            )
        }
    }
}

/// The built-in adversary of a scenario (None for the actor-level faults).
fn adversary(spec: &AttackSpec) -> Option<Box<dyn Adversary>> {
    Some(match spec {
        AttackSpec::None(_) => Box::new(NoAttack),
        AttackSpec::SignFlip(p) => Box::new(SignFlip { scale: p.scale }),
        AttackSpec::Zero(_) => Box::new(Zero),
        AttackSpec::Gaussian(p) => Box::new(Gaussian {
            mean: p.mean,
            std: p.std,
        }),
        AttackSpec::Faulty(p) => match p.mode {
            FaultMode::Twice | FaultMode::Panic | FaultMode::Hang => return None,
            mode => Box::new(Faulty {
                mode,
                from_round: p.from_round,
            }),
        },
    })
}

/// Run a scenario to the end (or until divergence or `stop`), feeding every observer. Starts its
/// own actix `System`; call it from a plain thread, not from inside a running System.
pub fn run_blocking(
    scenario: &Scenario,
    options: &RunOptions,
    observers: &mut [&mut dyn Observer],
) -> Result<RunResult, Error> {
    let spec = scenario.spec().clone();
    let problem = scenario.problem();
    let (aggregator, calibration) = build_aggregator(scenario, problem.as_ref());
    let thresholds = aggregator.public_state();
    let m = scenario.machines();
    let honest_n = spec.workers.honest;
    let roles: Vec<Role> = (0..m)
        .map(|i| {
            if i < honest_n {
                Role::Honest
            } else {
                Role::Byzantine
            }
        })
        .collect();
    let initial = problem.initial_point(&mut stream(spec.seed, streams::INIT));

    let info = RunInfo {
        name: spec.name.clone(),
        roles: roles.clone(),
        dim: problem.dim(),
        rounds: spec.rounds,
        eval_every: spec.eval_every,
        initial_loss: problem.loss(&initial),
        initial_grad_norm: norm(&problem.gradient(&initial)),
        initial_metrics: problem.metrics(&initial),
        initial_params: initial.clone(),
        min_loss: problem.min_loss(),
        seed: spec.seed,
        threshold_long: thresholds.threshold_long,
        threshold_short: thresholds.threshold_short,
        calibration,
    };
    for o in observers.iter_mut() {
        o.init(&info)?;
    }

    let threads = options.threads.max(1);
    let started = Instant::now();
    let config = CoordinatorConfig {
        lr: spec.optimizer.lr,
        perturbation: spec.optimizer.perturbation,
        divergence_norm: spec.optimizer.divergence_norm,
        reply_timeout: Duration::from_millis(spec.workers.reply_timeout_ms),
    };
    let stop = options.stop.clone();
    let system = System::new();
    let mut summary = Summary::new(&info);
    // The arbiter threads are stopped and joined whatever happens (also when an observer
    // fails), so a library caller is not left with stray threads.
    // With one thread the machines share the coordinator's arbiter (no cross-thread hop per
    // message); with N > 1 they are spread over N arbiter threads of their own.
    let arbiters: Vec<Arbiter> = if threads == 1 {
        Vec::new()
    } else {
        system.block_on(async { (0..threads).map(|_| Arbiter::new()).collect() })
    };
    let outcome: Result<Status, Error> = system.block_on(async {
        let mut honest = Vec::new();
        let mut byzantine: Vec<(usize, Recipient<ByzantineRequest>)> = Vec::new();
        for (id, role) in roles.iter().enumerate() {
            let arbiter = match arbiters.get(id % threads) {
                Some(a) => a.handle(),
                None => Arbiter::current(),
            };
            let p = problem.clone();
            let rng = stream(spec.seed, id as u64);
            match role {
                Role::Honest => {
                    let addr = HonestWorker::start_in_arbiter(&arbiter, move |_| {
                        HonestWorker::new(id, p, rng)
                    });
                    honest.push((id, addr.recipient::<GradientRequest>()));
                }
                Role::Byzantine => {
                    let adv_rng = stream(spec.seed, streams::ADVERSARY + id as u64);
                    let recipient = match (adversary(&spec.attack.0), &spec.attack.0) {
                        (Some(a), _) => ByzantineWorker::start_in_arbiter(&arbiter, move |_| {
                            ByzantineWorker::new(id, p, rng, adv_rng, a)
                        })
                        .recipient(),
                        (None, AttackSpec::Faulty(f)) => {
                            let (mode, from) = (f.mode, f.from_round);
                            FaultyWorker::start_in_arbiter(&arbiter, move |_| {
                                FaultyWorker::new(id, p, rng, mode, from)
                            })
                            .recipient()
                        }
                        (None, _) => {
                            return Err(Error::Runtime("no adversary for this attack".into()));
                        }
                    };
                    byzantine.push((id, recipient));
                }
            }
        }
        let coordinator = Coordinator::new(
            problem.clone(),
            aggregator,
            config,
            initial,
            roles.clone(),
            honest,
            byzantine,
            stream(spec.seed, streams::PERTURBATION),
        )
        .start();
        let mut status = Status::Completed;
        for _ in 0..spec.rounds {
            if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                status = Status::Interrupted;
                break;
            }
            let event: RoundEvent = coordinator
                .send(RunRound)
                .await
                .map_err(|e| Error::Runtime(format!("coordinator: {e}")))?;
            summary.observe(&event);
            for o in observers.iter_mut() {
                o.round(&event)?;
            }
            if event.diverged {
                status = Status::Diverged;
                break;
            }
        }
        Ok(status)
    });
    for a in arbiters {
        a.stop();
        let _ = a.join();
    }
    let status = outcome?;
    summary.finish(status, started.elapsed());
    for o in observers.iter_mut() {
        o.finish(&summary)?;
    }
    Ok(RunResult { summary })
}
