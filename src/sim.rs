//! Builds the actors from a [`Scenario`] and runs the rounds, handing one [`RoundEvent`] per
//! round to the [`Observer`]s.
//!
//! Determinism: one master seed; honest machine `i` draws from stream `i`, Byzantine machine `i`
//! from stream `i` (its honest gradient) and `ADVERSARY + i` (its adversary); the coordinator's
//! perturbation has its own stream. Replies are sorted by worker id before any arithmetic, so the
//! results do not depend on `threads` (the number of arbiter threads the machines are spread
//! over).

use crate::actors::{
    ByzantineRequest, ByzantineWorker, Coordinator, CoordinatorConfig, GradientRequest,
    HonestWorker, Role, RoundEvent, RunRound,
};
use crate::attack::{ActorSetup, Adversaries};
use crate::error::Error;
use crate::linalg::norm;
use crate::record::{Observer, RunInfo, Status, Summary};
use crate::rng::{stream, streams};
use crate::scenario::Scenario;
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

/// Run a scenario to the end (or until divergence or `stop`), feeding every observer. Starts its
/// own actix `System`; call it from a plain thread, not from inside a running System.
pub fn run_blocking(
    scenario: &Scenario,
    options: &RunOptions,
    observers: &mut [&mut dyn Observer],
) -> Result<RunResult, Error> {
    let spec = scenario.spec().clone();
    let problem = scenario.build_problem()?;
    let ctx = scenario.build_context(problem.clone());
    let aggregator = scenario.build_aggregator(&ctx)?;
    let adversaries = scenario.build_attack(&ctx)?;
    let from_round = scenario.attack_from_round();
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
        thresholds: aggregator.thresholds(),
        has_windows: !aggregator.public_state().windows.is_empty(),
        rule: aggregator.info(),
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
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
    // A crashing adversary is a fault to record, not a trace to print.
    crate::actors::install_panic_hook();
    crate::actors::quiet_panics_here(true);
    for h in &handles {
        h.spawn_fn(|| crate::actors::quiet_panics_here(true));
    }
    let outcome: Result<Status, Error> = system.block_on(async {
        let arbiter_of = |id: usize| match handles.get(id % threads) {
            Some(a) => a.clone(),
            None => Arbiter::current(),
        };
        let mut honest = Vec::new();
        for (id, role) in roles.iter().enumerate() {
            if *role == Role::Honest {
                let p = problem.clone();
                let rng = stream(spec.seed, id as u64);
                let addr = HonestWorker::start_in_arbiter(&arbiter_of(id), move |_| {
                    HonestWorker::new(id, p, rng)
                });
                honest.push((id, addr.recipient::<GradientRequest>()));
            }
        }
        let ids: Vec<usize> = (honest_n..m).collect();
        let byzantine = start_byzantine(
            adversaries,
            &ActorSetup {
                ids: &ids,
                problem: &problem,
                from_round,
                seed: spec.seed,
                arbiters: &handles,
            },
        )?;
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
    crate::actors::quiet_panics_here(false);
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

/// Start the attack's actors for the Byzantine machines `setup.ids`: one generic
/// [`ByzantineWorker`] per machine for the trait form, the kind's own actors for the full form
/// (which must cover every id exactly once).
fn start_byzantine(
    adversaries: Adversaries,
    setup: &ActorSetup<'_>,
) -> Result<Vec<(usize, Recipient<ByzantineRequest>)>, Error> {
    match adversaries {
        Adversaries::Each(mut make) => Ok(setup
            .ids
            .iter()
            .map(|&id| {
                let (p, rng, adv_rng) = (
                    setup.problem.clone(),
                    setup.gradient_stream(id),
                    setup.adversary_stream(id),
                );
                let adversary = make(id);
                let from = setup.from_round;
                let addr = ByzantineWorker::start_in_arbiter(&setup.arbiter(id), move |_| {
                    ByzantineWorker::new(id, p, rng, adv_rng, adversary, from)
                });
                (id, addr.recipient())
            })
            .collect()),
        Adversaries::Actors(start) => {
            let list = start(setup).map_err(Error::Build)?;
            let mut got: Vec<usize> = list.iter().map(|(id, _)| *id).collect();
            got.sort_unstable();
            if got != setup.ids {
                return Err(Error::Build(format!(
                    "the attack's actors serve machines {got:?}, but the Byzantine machines are {:?}",
                    setup.ids
                )));
            }
            Ok(list)
        }
    }
}
