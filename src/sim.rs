//! Builds the actors from a [`Scenario`] and runs the rounds, handing one [`RoundEvent`] per
//! round to the [`Observer`]s.
//!
//! Determinism: one master seed; honest machine `i` draws from stream `i`, Byzantine machine `i`
//! from stream `i` (its honest gradient) and `ADVERSARY + i` (its adversary); the coordinator's
//! perturbation has its own stream. Replies are sorted by worker id before any arithmetic, so the
//! results do not depend on `threads`, nor on the placement [`crate::placement`] chooses.
//!
//! The iterate is evaluated on the rounds rounds.csv records ([`crate::evaluation`]). A stop
//! request (Ctrl-C) ends the run after the current round when that round was evaluated; otherwise
//! the coordinator evaluates the next round as the last one, so an interrupted run always ends
//! with an evaluated state.
//!
//! [`run_blocking`] runs a scenario to its end; [`Simulation`] gives the same machinery round by
//! round (the benchmarks time rounds with it).

use crate::actors::{
    ByzantineRequest, ByzantineWorker, Coordinator, CoordinatorConfig, GradientRequest,
    HonestWorker, MachineGroup, Role, RoundEvent, RunRound,
};
use crate::attack::{ActorSetup, Adversaries};
use crate::error::Error;
use crate::placement::{Placement, PlacementPolicy, Workload, decide, probe_gradient};
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
    /// Threads in all (at least 1): the coordinator's own and `threads - 1` arbiter threads for
    /// the machine actors; with the `Auto` policy, only when they pay (see
    /// [`crate::placement`]).
    pub threads: usize,
    /// Whether to use `threads` only when they pay (`Auto`, the default) or always (`Spread`).
    pub placement: PlacementPolicy,
    /// Set to true (e.g. by a Ctrl-C handler) to stop after the current round, or after the next
    /// one when the current round is not evaluated (`eval_every`): the run ends on an evaluated
    /// state.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 1,
            placement: PlacementPolicy::Auto,
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

/// A scenario's machines and coordinator, started inside their own actix `System` on the calling
/// thread, ready to run rounds. Dropping it stops and joins the arbiter threads.
pub struct Simulation {
    system: SystemRunner,
    arbiters: Vec<Arbiter>,
    coordinator: Addr<Coordinator>,
    info: RunInfo,
    placement: Placement,
    rounds_run: u64,
}

impl Simulation {
    /// Build the problem, the aggregator (with its pre-run, if any) and the attack, choose the
    /// placement, and start every actor. Call it from a plain thread, not from inside a running
    /// System.
    pub fn start(scenario: &Scenario, options: &RunOptions) -> Result<Simulation, Error> {
        let spec = scenario.spec().clone();
        let setting = scenario.setting();
        let worker_momentum = setting.optimizer.worker_momentum;
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
        let plan = scenario.evaluation_plan();
        let start = plan.evaluate(problem.as_ref(), &initial, 0, false);
        let info = RunInfo {
            name: spec.name.clone(),
            roles: roles.clone(),
            dim: problem.dim(),
            rounds: spec.rounds,
            eval_every: spec.eval_every,
            initial_loss: start.loss,
            initial_grad_norm: start.grad_norm,
            initial_metrics: start.metrics,
            local_min_eps: plan.second_order.map(|s| s.eps),
            initial_params: initial.clone(),
            min_loss: problem.min_loss(),
            seed: spec.seed,
            thresholds: aggregator.thresholds(),
            has_windows: !aggregator.public_state().windows.is_empty(),
            rule: aggregator.info(),
        };
        let config = CoordinatorConfig {
            lr: spec.optimizer.lr,
            perturbation: spec.optimizer.perturbation,
            divergence_norm: spec.optimizer.divergence_norm,
            reply_timeout: Duration::from_millis(spec.workers.reply_timeout_ms),
            schedule: setting.optimizer.schedule,
            server_momentum: setting.optimizer.server_momentum,
            evaluation: plan,
            stop: options.stop.clone(),
        };
        // A crashing adversary (or a probe of a panicking problem) is a fault to record, not a
        // trace to print.
        crate::actors::install_panic_hook();
        crate::actors::quiet_panics_here(true);
        let requested = options.threads.max(1);
        let mut placement = if requested == 1 {
            Placement::new(1, 1, options.placement, m, "1 thread asked")
        } else {
            Placement::new(requested, requested, options.placement, m, "asked")
        };
        let system = System::new();
        let mut arbiters: Vec<Arbiter> =
            system.block_on(async { (1..placement.threads).map(|_| Arbiter::new()).collect() });
        if options.placement == PlacementPolicy::Auto && placement.threads > 1 {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let gradient = probe_gradient(problem.as_ref(), &initial, spec.seed);
            let round_trip = match arbiters.first() {
                Some(a) if gradient.is_some() => {
                    system.block_on(crate::actors::spin::probe_round_trip(&a.handle()))
                }
                _ => None,
            };
            let (threads, reason) = match (gradient, round_trip) {
                (Some(gradient), Some(round_trip)) => {
                    let work = Workload {
                        honest: honest_n,
                        byzantine: m - honest_n,
                        gradient,
                        round_trip,
                    };
                    decide(requested, cores, &work)
                }
                _ => (1, "the gradient could not be timed".to_string()),
            };
            // Threads that do not pay are stopped before any machine starts.
            for a in arbiters.drain(threads.saturating_sub(1)..) {
                a.stop();
                let _ = a.join();
            }
            placement = Placement::new(requested, threads, options.placement, m, reason);
            placement.gradient_us = gradient.map(|g| g.as_secs_f64() * 1e6);
            placement.round_trip_us = round_trip.map(|r| r.as_secs_f64() * 1e6);
        }
        for a in &arbiters {
            a.spawn_fn(|| crate::actors::quiet_panics_here(true));
        }
        let remote: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
        let started = system.block_on(async {
            // Group 0 lives on this (the coordinator's) arbiter.
            let handles: Vec<ArbiterHandle> = std::iter::once(Arbiter::current())
                .chain(remote.iter().cloned())
                .collect();
            let mut groups: Vec<MachineGroup> = (0..handles.len())
                .map(|g| MachineGroup {
                    arbiter: (g > 0).then(|| handles[g].clone()),
                    honest: Vec::new(),
                    byzantine: Vec::new(),
                })
                .collect();
            for (id, role) in roles.iter().enumerate() {
                if *role == Role::Honest {
                    let p = problem.clone();
                    let rng = stream(spec.seed, id as u64);
                    let g = placement.thread_of(id);
                    let addr = HonestWorker::start_in_arbiter(&handles[g], move |_| {
                        HonestWorker::new(id, p, rng).with_momentum(worker_momentum)
                    });
                    groups[g]
                        .honest
                        .push((id, addr.recipient::<GradientRequest>()));
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
                    worker_momentum,
                },
            )?;
            for (id, r) in byzantine {
                groups[placement.thread_of(id)].byzantine.push((id, r));
            }
            Ok::<_, Error>(
                Coordinator::grouped(
                    problem.clone(),
                    aggregator,
                    config,
                    initial,
                    roles,
                    groups,
                    stream(spec.seed, streams::PERTURBATION),
                )
                .start(),
            )
        });
        let coordinator = match started {
            Ok(c) => c,
            Err(e) => {
                crate::actors::quiet_panics_here(false);
                stop_all(arbiters);
                return Err(e);
            }
        };
        Ok(Simulation {
            system,
            arbiters,
            coordinator,
            info,
            placement,
            rounds_run: 0,
        })
    }

    /// What observers learn before the first round.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Where the machines run.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Run up to `rounds` more rounds, handing each event to `each`; stops early when `each`
    /// returns `Ok(false)` or an error. Returns the rounds run by this call.
    pub fn run<F>(&mut self, rounds: u64, mut each: F) -> Result<u64, Error>
    where
        F: FnMut(RoundEvent) -> Result<bool, Error>,
    {
        let coordinator = self.coordinator.clone();
        let done = self.system.block_on(async {
            let mut done = 0;
            while done < rounds {
                let event: RoundEvent = coordinator
                    .send(RunRound)
                    .await
                    .map_err(|e| Error::Runtime(format!("coordinator: {e}")))?;
                done += 1;
                if !each(event)? {
                    break;
                }
            }
            Ok::<u64, Error>(done)
        })?;
        self.rounds_run += done;
        Ok(done)
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        crate::actors::quiet_panics_here(false);
        stop_all(std::mem::take(&mut self.arbiters));
    }
}

fn stop_all(arbiters: Vec<Arbiter>) {
    for a in arbiters {
        a.stop();
        let _ = a.join();
    }
}

/// Run a scenario to the end (or until divergence or `stop`), feeding every observer. Starts its
/// own actix `System`; call it from a plain thread, not from inside a running System.
pub fn run_blocking(
    scenario: &Scenario,
    options: &RunOptions,
    observers: &mut [&mut dyn Observer],
) -> Result<RunResult, Error> {
    let mut sim = Simulation::start(scenario, options)?;
    for o in observers.iter_mut() {
        o.init(sim.info())?;
    }
    let mut summary = Summary::new(sim.info());
    summary.placement = Some(sim.placement().clone());
    let stop = options.stop.clone();
    let stopping = || stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
    let started = Instant::now();
    // The initial point is evaluated; a stop request ends the run only after an evaluated
    // round (the coordinator evaluates the round in progress once it sees the request).
    let mut status = if stopping() {
        Status::Interrupted
    } else {
        Status::Completed
    };
    if status == Status::Completed {
        let rounds = scenario.spec().rounds;
        sim.run(rounds, |event| {
            summary.observe(&event);
            for o in observers.iter_mut() {
                o.round(&event)?;
            }
            if event.diverged {
                status = Status::Diverged;
                return Ok(false);
            }
            if event.evaluated && stopping() && event.round < rounds {
                status = Status::Interrupted;
                return Ok(false);
            }
            Ok(true)
        })?;
    }
    drop(sim);
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
                let momentum = setup.worker_momentum;
                let addr = ByzantineWorker::start_in_arbiter(&setup.arbiter(id), move |_| {
                    ByzantineWorker::new(id, p, rng, adv_rng, adversary, from)
                        .with_momentum(momentum)
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
