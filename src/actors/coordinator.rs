//! The coordinator (the master): it runs the rounds through the machine hosts
//! ([`super::host`]), checks every reply, aggregates, steps and evaluates.
//!
//! Per round it does, besides the aggregator's and the problem's own work: one message per host
//! and phase, one pass over the round's honest vectors for their mean (`agg_error` on evaluated
//! rounds, and every round for a rule that reads it: `oracle`), and `O(m)` bookkeeping. Vectors
//! are moved, never copied: the honest vectors travel into the Byzantine machines'
//! [`RoundView`] and are taken back afterwards (copied only if an adversary kept the view).

use super::host::{Answer, Batch, HostRequest, MachineGroup, MachineHost, Phase};
use super::spin;
use super::{
    ByzantineRequest, DroppedRecord, ExpulsionRecord, Fault, GradientRequest, Role, RoundEvent,
    RunRound,
};
use crate::aggregate::{Aggregator, RoundInput};
use crate::attack::RoundView;
use crate::evaluation::{Evaluation, EvaluationPlan};
use crate::linalg::{Vector, distance, is_finite, mean, norm_exceeds};
use crate::optimizer::{Momentum, Schedule, ServerOptimizer};
use crate::problem::Problem;
use crate::rng::SimRng;
use actix::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Settings of the coordinator that do not change during a run.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Step size `eta` (the schedule's starting value).
    pub lr: f64,
    /// `nu`, standard deviation of the Gaussian perturbation (multiplied by the round's `lr`).
    pub perturbation: f64,
    /// A run whose parameters' norm exceeds this has diverged.
    pub divergence_norm: f64,
    /// How long Byzantine machines get to answer in a round.
    pub reply_timeout: Duration,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Momentum the master keeps on the aggregate.
    pub server_momentum: Momentum,
    /// Which rounds are evaluated, and whether `min_eig` is computed.
    pub evaluation: EvaluationPlan,
    /// When set (e.g. by a Ctrl-C handler), the round in progress is evaluated as the last one.
    pub stop: Option<Arc<AtomicBool>>,
}

/// One group of machines and its host (started with the coordinator).
struct Group {
    /// Until the coordinator starts: where to start the host, and its machines.
    pending: Option<MachineGroup>,
    host: Option<Addr<MachineHost>>,
    /// The group's host runs on the coordinator's own arbiter.
    local: bool,
    honest: Vec<usize>,
    byzantine: Vec<usize>,
}

/// The master: keeps the parameters, the good set and the aggregator; runs the rounds.
pub struct Coordinator {
    problem: Arc<dyn Problem>,
    aggregator: Box<dyn Aggregator>,
    config: CoordinatorConfig,
    params: Arc<Vector>,
    roles: Vec<Role>,
    good: Vec<bool>,
    /// Every machine's recipient, by id (to see whether its actor is still alive).
    honest: Vec<(usize, Recipient<GradientRequest>)>,
    byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
    /// Remote groups first, the local one (if any) last: remote threads start first.
    groups: Vec<Group>,
    optimizer: ServerOptimizer,
    round: u64,
}

/// The round's honest vectors, by machine id, lent to the Byzantine machines' view.
type Shared = Arc<Vec<(usize, Vector)>>;

/// What the machines did in one phase, by machine id.
#[derive(Debug, Default)]
struct PhaseAnswers {
    answers: Vec<Answer>,
    timed_out: bool,
}

/// The hosts a phase was sent to.
#[derive(Default)]
struct Asked {
    /// How many.
    hosts: usize,
    /// At least one of them runs on another thread: the wait for their batches spins first
    /// ([`spin`]).
    remote: bool,
}

/// Wait for the batches of the hosts `asked` (or the channel's end, or the backstop) and file
/// the answers by machine id.
async fn gather(
    mut rx: UnboundedReceiver<Batch>,
    asked: Asked,
    machines: usize,
    backstop: Option<Duration>,
) -> PhaseAnswers {
    let budget = if asked.remote {
        spin::SPIN_BUDGET
    } else {
        Duration::ZERO
    };
    let mut out = PhaseAnswers {
        answers: (0..machines).map(|_| Answer::default()).collect(),
        timed_out: false,
    };
    let receive = async {
        for _ in 0..asked.hosts {
            let Some(batch) = spin::recv(&mut rx, budget).await else {
                break;
            };
            out.timed_out |= batch.timed_out;
            for (id, a) in batch.answers {
                if let Some(slot) = out.answers.get_mut(id) {
                    *slot = a;
                }
            }
        }
    };
    match backstop {
        Some(t) => {
            if tokio::time::timeout(t, receive).await.is_err() {
                out.timed_out = true;
            }
        }
        None => receive.await,
    }
    out
}

impl Coordinator {
    /// A coordinator for machines `0..m` with the given roles. `honest` and `byzantine` hold the
    /// actors' recipients (any order); they form one group, hosted on the coordinator's own
    /// arbiter (see [`Coordinator::grouped`] to spread machines over threads).
    #[allow(clippy::too_many_arguments)] // one plain constructor beats a builder for 8 parts
    pub fn new(
        problem: Arc<dyn Problem>,
        aggregator: Box<dyn Aggregator>,
        config: CoordinatorConfig,
        initial: Vector,
        roles: Vec<Role>,
        honest: Vec<(usize, Recipient<GradientRequest>)>,
        byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
        perturbation_rng: SimRng,
    ) -> Self {
        let group = MachineGroup {
            arbiter: None,
            honest,
            byzantine,
        };
        Coordinator::grouped(
            problem,
            aggregator,
            config,
            initial,
            roles,
            vec![group],
            perturbation_rng,
        )
    }

    /// A coordinator whose machines are split into `groups`, one host actor each, on the group's
    /// arbiter: each phase of a round costs one message to each host and one batch back,
    /// whatever the number of machines in it.
    pub fn grouped(
        problem: Arc<dyn Problem>,
        aggregator: Box<dyn Aggregator>,
        config: CoordinatorConfig,
        initial: Vector,
        roles: Vec<Role>,
        groups: Vec<MachineGroup>,
        perturbation_rng: SimRng,
    ) -> Self {
        let m = roles.len();
        let mut honest = Vec::new();
        let mut byzantine = Vec::new();
        let mut hosted: Vec<Group> = groups
            .into_iter()
            .map(|g| {
                honest.extend(g.honest.iter().cloned());
                byzantine.extend(g.byzantine.iter().cloned());
                Group {
                    local: g.arbiter.is_none(),
                    honest: g.honest.iter().map(|(i, _)| *i).collect(),
                    byzantine: g.byzantine.iter().map(|(i, _)| *i).collect(),
                    pending: Some(g),
                    host: None,
                }
            })
            .collect();
        hosted.sort_by_key(|g| g.local);
        honest.sort_by_key(|(i, _)| *i);
        byzantine.sort_by_key(|(i, _)| *i);
        let optimizer = ServerOptimizer::new(
            config.lr,
            config.perturbation,
            config.schedule,
            config.server_momentum,
            config.evaluation.rounds,
            perturbation_rng,
        );
        Coordinator {
            problem,
            aggregator,
            config,
            params: Arc::new(initial),
            roles,
            good: vec![true; m],
            honest,
            byzantine,
            groups: hosted,
            optimizer,
            round: 0,
        }
    }

    /// Send one phase to every host with a good machine of that phase; returns the channel of
    /// their batches and the hosts asked.
    fn dispatch(
        &self,
        round: u64,
        phase: Phase,
        timeout: Option<Duration>,
    ) -> (UnboundedReceiver<Batch>, Asked) {
        let (tx, rx) = unbounded_channel();
        let byzantine = matches!(phase, Phase::Byzantine(_));
        let good: Arc<[bool]> = self.good.as_slice().into();
        let mut asked = Asked::default();
        for g in &self.groups {
            let ids = if byzantine { &g.byzantine } else { &g.honest };
            let Some(host) = &g.host else { continue };
            if !ids.iter().any(|&i| self.good[i]) {
                continue;
            }
            let phase = match &phase {
                Phase::Honest(p) => Phase::Honest(p.clone()),
                Phase::Byzantine(v) => Phase::Byzantine(v.clone()),
            };
            host.do_send(HostRequest {
                round,
                phase,
                good: good.clone(),
                timeout,
                reply: tx.clone(),
            });
            asked.hosts += 1;
            asked.remote |= !g.local;
        }
        (rx, asked)
    }

    /// The Byzantine phase: the view holds the honest vectors, moved out of `honest` (they come
    /// back in [`Coordinator::finish_round`]). Nothing is sent when no Byzantine machine is good.
    fn ask_byzantine(
        &self,
        round: u64,
        honest: &mut PhaseAnswers,
    ) -> (Option<Shared>, UnboundedReceiver<Batch>, Asked) {
        if !self.byzantine.iter().any(|(id, _)| self.good[*id]) {
            let (_, rx) = unbounded_channel();
            return (None, rx, Asked::default());
        }
        let vectors: Vec<(usize, Vector)> = honest
            .answers
            .iter_mut()
            .enumerate()
            .filter_map(|(w, a)| a.first.take().map(|g| (w, g)))
            .collect();
        let shared = Arc::new(vectors);
        let view = Arc::new(RoundView::new(
            round,
            self.params.clone(),
            self.roles.len(),
            self.good.iter().filter(|g| **g).count(),
            shared.clone(),
            Arc::new(
                self.byzantine
                    .iter()
                    .map(|(i, _)| *i)
                    .filter(|i| self.good[*i])
                    .collect(),
            ),
            Arc::new(self.aggregator.public_state()),
        ));
        let (rx, asked) = self.dispatch(
            round,
            Phase::Byzantine(view),
            Some(self.config.reply_timeout),
        );
        (Some(shared), rx, asked)
    }

    fn is_connected(&self, id: usize) -> bool {
        // Both lists are sorted by id (see `grouped`): O(log m) per machine, not O(m).
        fn find<M: actix::Message + Send>(list: &[(usize, Recipient<M>)], id: usize) -> bool
        where
            M::Result: Send,
        {
            list.binary_search_by_key(&id, |(i, _)| *i)
                .is_ok_and(|k| list[k].1.connected())
        }
        match self.roles.get(id) {
            Some(Role::Honest) => find(&self.honest, id),
            Some(Role::Byzantine) => find(&self.byzantine, id),
            None => false,
        }
    }

    /// The evaluation of the iterate after round `round`, when the round is recorded: on the
    /// plan's schedule, or the last round the run makes (the planned last one, a divergence of
    /// the parameters, or a stop request).
    fn evaluate(&self, round: u64, diverged: bool) -> Option<Evaluation> {
        let plan = &self.config.evaluation;
        let stop = self
            .config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst));
        let last = diverged || stop || round >= plan.rounds;
        (last || plan.scheduled(round))
            .then(|| plan.evaluate(self.problem.as_ref(), &self.params, round, last))
    }

    fn finish_round(
        &mut self,
        round: u64,
        mut honest: PhaseAnswers,
        shared: Option<Shared>,
        mut byzantine: PhaseAnswers,
    ) -> RoundEvent {
        // The honest vectors come back from the view (copied only if an adversary kept it).
        if let Some(shared) = shared {
            let vectors = Arc::try_unwrap(shared).unwrap_or_else(|kept| (*kept).clone());
            for (w, g) in vectors {
                if let Some(a) = honest.answers.get_mut(w) {
                    a.first = Some(g);
                }
            }
        }
        let dim = self.problem.dim();
        let workers: Vec<usize> = (0..self.roles.len()).filter(|&i| self.good[i]).collect();
        let mut faults = Vec::new();
        let mut forced: Vec<(usize, &'static str)> = Vec::new();
        let mut gradients: Vec<Option<Vector>> = Vec::with_capacity(workers.len());
        for &w in &workers {
            let role = self.roles[w];
            let phase = if role == Role::Honest {
                &mut honest
            } else {
                &mut byzantine
            };
            let timed_out = phase.timed_out;
            let answer = phase.answers.get_mut(w).map(std::mem::take);
            let answer = answer.unwrap_or_default();
            let detail = answer.released.as_ref().and_then(|r| r.message.clone());
            let mut fault = |kind: &'static str| {
                faults.push(Fault {
                    round,
                    worker: w,
                    role,
                    kind,
                    detail: if kind == "crashed" {
                        detail.clone()
                    } else {
                        None
                    },
                })
            };
            // Crashed: its handle was dropped during a panic (it died handling this round's
            // request, whatever it sent before), or its mailbox is closed (it died earlier). A
            // crashed machine's replies are ignored and it is expelled, as is one that kept its
            // handle past the reply timeout. Neither check depends on timing: the handle is
            // dropped during the unwinding, before the round's channel can close.
            let crashed =
                answer.released.as_ref().is_some_and(|r| r.panicking) || !self.is_connected(w);
            let g = match (crashed, answer.first) {
                (true, _) | (false, None) => {
                    let kind = if crashed {
                        "crashed"
                    } else if timed_out && answer.released.is_none() {
                        "timeout"
                    } else {
                        "silent"
                    };
                    if kind != "silent" {
                        forced.push((w, kind));
                    }
                    fault(kind);
                    None
                }
                (false, Some(first)) => {
                    if answer.extra > 0 {
                        fault("duplicate_reply");
                    }
                    if first.len() != dim {
                        fault("wrong_length");
                        None
                    } else if !is_finite(&first) {
                        fault("non_finite");
                        None
                    } else {
                        Some(first)
                    }
                }
            };
            gradients.push(g);
        }
        let roles = &self.roles;
        let honest_mean_of = |gradients: &[Option<Vector>]| {
            mean(
                workers
                    .iter()
                    .zip(gradients)
                    .filter(|(w, _)| roles[**w] == Role::Honest)
                    .filter_map(|(_, g)| g.as_ref()),
                dim,
            )
        };
        // Rules that do not read it get it only when the round is evaluated (below).
        let reads_honest_mean = self.aggregator.reads_honest_mean();
        let honest_mean = if reads_honest_mean {
            honest_mean_of(&gradients)
        } else {
            Vector::zeros(0)
        };
        let input = RoundInput {
            round,
            params: &self.params,
            machines: self.roles.len(),
            workers: &workers,
            gradients: &gradients,
            honest_mean: &honest_mean,
        };
        let agg = self.aggregator.aggregate(&input);
        let valid = gradients.iter().flatten().count();
        let all_dropped = valid > 0 && agg.dropped.len() >= valid;
        let role_of = |worker: usize| self.roles.get(worker).copied().unwrap_or(Role::Byzantine);
        let dropped = agg
            .dropped
            .iter()
            .map(|d| DroppedRecord {
                worker: d.worker,
                role: role_of(d.worker),
                neighbours: d.neighbours,
                radius: d.radius,
            })
            .collect();
        let withheld = agg
            .withheld
            .iter()
            .map(|e| ExpulsionRecord {
                worker: e.worker,
                role: role_of(e.worker),
                reason: e.reason.clone(),
            })
            .collect();
        let mut direction = agg.direction;
        // Every input is finite, but huge finite vectors can still overflow a rule's arithmetic
        // (a mean of 1e308s). The model must never be poisoned: skip the step and report it.
        let step_skipped = direction.len() != dim || !is_finite(&direction);
        if step_skipped {
            direction = Vector::zeros(dim);
        }
        // Kept for `agg_error`, known only once the round is known to be evaluated.
        let applied = direction.clone();

        // x <- x - eta_t (xi + v), xi ~ N(0, nu^2 I) (semantic 6: xi scaled by eta), v the
        // aggregate or its server momentum.
        let next = self.optimizer.step(&self.params, direction, round);
        let diverged = !is_finite(&next) || norm_exceeds(&next, self.config.divergence_norm);
        self.params = Arc::new(next);

        let mut expulsions: BTreeMap<usize, String> = BTreeMap::new();
        for (w, reason) in forced {
            expulsions.insert(w, reason.to_string());
        }
        for e in agg.expel {
            if e.worker < self.good.len() && self.good[e.worker] {
                expulsions.entry(e.worker).or_insert(e.reason);
            }
        }
        for w in expulsions.keys() {
            self.good[*w] = false;
        }
        let good = self.good.iter().filter(|g| **g).count();
        let byzantine_in_good = (0..self.roles.len())
            .filter(|&i| self.good[i] && self.roles[i] == Role::Byzantine)
            .count();
        let evaluation = self.evaluate(round, diverged);
        let agg_error = match (&evaluation, reads_honest_mean) {
            (None, _) => f64::NAN,
            (Some(_), true) => distance(&applied, &honest_mean),
            (Some(_), false) => distance(&applied, &honest_mean_of(&gradients)),
        };
        drop(gradients);
        // The loss can overflow a round before the parameters' norm does.
        let diverged = diverged || evaluation.as_ref().is_some_and(|e| !e.loss.is_finite());
        let evaluated = evaluation.is_some();
        let (loss, grad_norm, metrics) = match evaluation {
            Some(e) => (e.loss, e.grad_norm, e.metrics),
            None => (f64::NAN, f64::NAN, Vec::new()),
        };
        RoundEvent {
            round,
            evaluated,
            loss,
            grad_norm,
            good,
            byzantine_in_good,
            agg_error,
            no_reference: agg.no_reference,
            faults,
            expulsions: expulsions
                .into_iter()
                .map(|(worker, reason)| ExpulsionRecord {
                    worker,
                    role: self.roles[worker],
                    reason,
                })
                .collect(),
            dropped,
            all_dropped,
            withheld,
            distances: agg.distances,
            params: self.params.clone(),
            metrics,
            diverged,
            step_skipped,
        }
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    /// Start the hosts: remote ones on their arbiters, the local one on this arbiter.
    fn started(&mut self, _: &mut Context<Self>) {
        for g in &mut self.groups {
            let Some(spec) = g.pending.take() else {
                continue;
            };
            let host = MachineHost::new(spec.honest, spec.byzantine, spec.arbiter.is_some());
            g.host = Some(match spec.arbiter {
                Some(a) => MachineHost::start_in_arbiter(&a, move |_| host),
                None => host.start(),
            });
        }
    }
}

impl Handler<RunRound> for Coordinator {
    type Result = AtomicResponse<Self, RoundEvent>;

    fn handle(&mut self, _: RunRound, _: &mut Context<Self>) -> Self::Result {
        self.round += 1;
        let round = self.round;
        let machines = self.roles.len();
        // A host applies the reply timeout to its machines; the coordinator's backstop only
        // matters when a host's thread is blocked (a machine that blocks its thread).
        let backstop = 2 * self.config.reply_timeout + Duration::from_millis(50);
        let (rx, hosts) = self.dispatch(round, Phase::Honest(self.params.clone()), None);
        AtomicResponse::new(Box::pin(
            gather(rx, hosts, machines, None)
                .into_actor(self)
                .then(move |mut honest, act, _| {
                    let (shared, rx, hosts) = act.ask_byzantine(round, &mut honest);
                    async move {
                        let byzantine = gather(rx, hosts, machines, Some(backstop)).await;
                        (honest, shared, byzantine)
                    }
                    .into_actor(act)
                })
                .map(move |(honest, shared, byzantine), act, _| {
                    act.finish_round(round, honest, shared, byzantine)
                }),
        ))
    }
}
