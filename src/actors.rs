//! The actix actors: one per machine, plus the coordinator. Thin shells around the math.
//!
//! The round protocol (lock-step, deterministic):
//! 1. the coordinator sends [`GradientRequest`] with the current parameters to every honest
//!    machine still in the good set;
//! 2. honest machines answer through the [`ReplyTo`] handle in the request;
//! 3. the Byzantine machines get [`ByzantineRequest`] with the omniscient [`RoundView`];
//! 4. the coordinator orders the replies by worker id, checks them, aggregates, steps
//!    ([`crate::optimizer::ServerOptimizer`]), evaluates the iterate when the round is recorded
//!    ([`crate::evaluation::EvaluationPlan`]), and returns one [`RoundEvent`].
//!
//! With worker momentum ([`crate::optimizer`]), every machine, honest or Byzantine, keeps its
//! momentum buffer and the honest vector of a round is that buffer, not the gradient.
//!
//! Byzantine machines are known to the coordinator only through `Recipient<ByzantineRequest>`:
//! any actor that handles that message can be a Byzantine machine. Replies travel on a channel
//! made for the round, so a reply after the round (or to a later round) cannot reach it; an
//! actor that crashes or drops its handle is noticed at once, one that keeps the handle and never
//! answers is cut off by the reply timeout.

use crate::aggregate::{Aggregator, RoundInput, WindowDistance};
use crate::attack::{Adversary, AttackContext, RoundView};
use crate::evaluation::{Evaluation, EvaluationPlan};
use crate::linalg::{Vector, distance, is_finite, mean, norm};
use crate::optimizer::{Momentum, MomentumBuffer, Schedule, ServerOptimizer};
use crate::problem::Problem;
use crate::rng::SimRng;
use actix::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What travels on a round's channel, stamped by the [`ReplyTo`] handle (a machine cannot forge
/// another's id).
#[derive(Debug)]
struct Reply {
    worker: usize,
    body: ReplyBody,
}

#[derive(Debug)]
enum ReplyBody {
    /// A gradient.
    Gradient(Vector),
    /// The handle was dropped (sent by its `Drop`); `panicking` when it was dropped while the
    /// thread unwound from a panic, i.e. the machine crashed while holding it, with the panic's
    /// message when the quiet panic hook recorded it.
    Dropped {
        panicking: bool,
        message: Option<String>,
    },
}

/// The handle a machine answers through. It is stamped with the machine's id and valid for one
/// round only. Sending twice is possible and is recorded as a fault (the first reply counts).
///
/// Dropping the handle tells the coordinator, so it can tell apart, deterministically, a machine
/// that stays silent (drops the handle), one that crashes while handling the request (the handle
/// is dropped during a panic's unwinding, before the actor's mailbox closes) and one that keeps
/// the handle and never answers (cut off by the reply timeout).
#[derive(Debug)]
pub struct ReplyTo {
    worker: usize,
    round: u64,
    tx: UnboundedSender<Reply>,
}

impl ReplyTo {
    /// Send a gradient. Returns false when the round is already over (the reply is dropped).
    pub fn send(&self, gradient: Vector) -> bool {
        self.tx
            .send(Reply {
                worker: self.worker,
                body: ReplyBody::Gradient(gradient),
            })
            .is_ok()
    }
    /// The machine this handle belongs to.
    pub fn worker(&self) -> usize {
        self.worker
    }
    /// The round this handle answers.
    pub fn round(&self) -> u64 {
        self.round
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        // Fails (ignored) when the round is already over.
        let panicking = std::thread::panicking();
        let message = if panicking {
            LAST_PANIC.with(|m| m.borrow_mut().take())
        } else {
            None
        };
        let _ = self.tx.send(Reply {
            worker: self.worker,
            body: ReplyBody::Dropped { panicking, message },
        });
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Install, once per process, a panic hook for the machines' threads: on a thread marked with
/// [`quiet_panics_here`], a panic (a crashing adversary) prints nothing; its message and location
/// are kept for the machine's `crashed` fault (faults.csv, summary.json). Other threads keep the
/// hook they had.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let payload = info.payload();
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|m| *m.borrow_mut() = Some(format!("{text}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Mark (or unmark) the current thread as one whose panics [`install_panic_hook`]'s hook keeps
/// quiet.
pub fn quiet_panics_here(on: bool) {
    QUIET.with(|q| q.set(on));
}

/// Request to an honest machine: compute a stochastic gradient at `params`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct GradientRequest {
    /// Round number, from 1.
    pub round: u64,
    /// Current parameters.
    pub params: Arc<Vector>,
    /// Where to answer.
    pub reply: ReplyTo,
}

/// Request to a Byzantine machine, with the omniscient view of the round.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ByzantineRequest {
    /// Everything the adversary may look at.
    pub view: Arc<RoundView>,
    /// Where to answer (or not).
    pub reply: ReplyTo,
}

/// An honest machine: answers with `problem.stochastic_gradient` from its own stream, or with
/// worker momentum, with its momentum buffer updated by that gradient.
pub struct HonestWorker {
    id: usize,
    problem: Arc<dyn Problem>,
    rng: SimRng,
    momentum: MomentumBuffer,
}

impl HonestWorker {
    /// Honest machine `id` drawing from `rng` (stream `id` of the master seed), without momentum.
    pub fn new(id: usize, problem: Arc<dyn Problem>, rng: SimRng) -> Self {
        HonestWorker {
            id,
            problem,
            rng,
            momentum: MomentumBuffer::default(),
        }
    }
    /// The same machine keeping worker momentum `momentum` (it sends its buffer).
    pub fn with_momentum(mut self, momentum: Momentum) -> Self {
        self.momentum = MomentumBuffer::new(momentum);
        self
    }
}

impl Actor for HonestWorker {
    type Context = Context<Self>;
}

impl Handler<GradientRequest> for HonestWorker {
    type Result = ();
    fn handle(&mut self, msg: GradientRequest, _: &mut Context<Self>) {
        let g = self
            .problem
            .stochastic_gradient(&msg.params, self.id, &mut self.rng);
        msg.reply.send(self.momentum.push(g));
    }
}

/// The generic Byzantine machine: draws the gradient an honest machine would send (its own
/// stream), then asks its [`Adversary`] what to send instead (from round `from_round` on; before
/// it, it sends the honest gradient and tells the adversary through
/// [`Adversary::honest_round`]). With worker momentum it keeps the buffer an honest machine in its
/// place would keep, and that buffer is the honest vector it sends or shows its adversary
/// ([`AttackContext::own`]).
pub struct ByzantineWorker {
    id: usize,
    problem: Arc<dyn Problem>,
    rng: SimRng,
    adversary_rng: SimRng,
    adversary: Box<dyn Adversary>,
    from_round: u64,
    momentum: MomentumBuffer,
}

impl ByzantineWorker {
    /// Byzantine machine `id`: `rng` for its honest gradient, `adversary_rng` for the adversary,
    /// which acts from round `from_round` on.
    pub fn new(
        id: usize,
        problem: Arc<dyn Problem>,
        rng: SimRng,
        adversary_rng: SimRng,
        adversary: Box<dyn Adversary>,
        from_round: u64,
    ) -> Self {
        ByzantineWorker {
            id,
            problem,
            rng,
            adversary_rng,
            adversary,
            from_round,
            momentum: MomentumBuffer::default(),
        }
    }
    /// The same machine keeping worker momentum `momentum`, like an honest machine.
    pub fn with_momentum(mut self, momentum: Momentum) -> Self {
        self.momentum = MomentumBuffer::new(momentum);
        self
    }
}

impl Actor for ByzantineWorker {
    type Context = Context<Self>;
}

impl Handler<ByzantineRequest> for ByzantineWorker {
    type Result = ();
    fn handle(&mut self, msg: ByzantineRequest, _: &mut Context<Self>) {
        let params = &msg.view.params;
        let gradient = if msg.view.round < self.from_round {
            self.problem
                .stochastic_gradient(params, self.id, &mut self.rng)
        } else {
            self.adversary
                .own_gradient(self.problem.as_ref(), params, self.id, &mut self.rng)
        };
        let own = self.momentum.push(gradient);
        let mut ctx = AttackContext {
            id: self.id,
            own: &own,
            rng: &mut self.adversary_rng,
            view: &msg.view,
        };
        if msg.view.round < self.from_round {
            self.adversary.honest_round(&mut ctx);
            msg.reply.send(own);
            return;
        }
        if let Some(v) = self.adversary.attack(&mut ctx) {
            msg.reply.send(v);
        }
    }
}

/// The role of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Follows the protocol.
    Honest,
    /// Sends whatever its adversary chooses.
    Byzantine,
}

impl Role {
    /// `honest` or `byzantine`, as in the CSV files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Honest => "honest",
            Role::Byzantine => "byzantine",
        }
    }
}

/// A fault observed by the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Round.
    pub round: u64,
    /// Machine.
    pub worker: usize,
    /// Its role.
    pub role: Role,
    /// `non_finite`, `wrong_length`, `silent`, `duplicate_reply`, `crashed`, `timeout`.
    pub kind: &'static str,
    /// For a crash: the panic's message and location, when known.
    pub detail: Option<String>,
}

/// A machine expelled in a round.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpulsionRecord {
    /// Machine.
    pub worker: usize,
    /// Its role.
    pub role: Role,
    /// Why (e.g. `window_long`, `no_valid_gradient`, `crashed`, `timeout`).
    pub reason: String,
}

/// A vector the aggregator left out of a round's step (the safeguard's per-round filter).
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedRecord {
    /// Machine.
    pub worker: usize,
    /// Its role.
    pub role: Role,
    /// Vectors of the round within `radius` of it, itself included (not more than half).
    pub neighbours: usize,
    /// The filter's radius (`2V`).
    pub radius: f64,
}

/// Everything that happened in one round, handed to the observers.
#[derive(Debug, Clone)]
pub struct RoundEvent {
    /// Round number, from 1.
    pub round: u64,
    /// The iterate was evaluated after this round's step (every `eval_every` rounds and the
    /// last round run; see [`crate::evaluation`]): `loss`, `grad_norm` and `metrics` hold values.
    pub evaluated: bool,
    /// Loss after the step (`NaN` when not evaluated).
    pub loss: f64,
    /// True-gradient norm after the step (`NaN` when not evaluated).
    pub grad_norm: f64,
    /// Size of the good set after this round's expulsions.
    pub good: usize,
    /// Byzantine machines in the good set after this round's expulsions.
    pub byzantine_in_good: usize,
    /// `||aggregate - mean of this round's honest gradients||`.
    pub agg_error: f64,
    /// No machine qualified as safeguard reference in some window this round.
    pub no_reference: bool,
    /// Faults seen this round.
    pub faults: Vec<Fault>,
    /// Machines expelled this round, by id.
    pub expulsions: Vec<ExpulsionRecord>,
    /// Vectors the aggregator left out of this round's step, by id (safeguard's filter).
    pub dropped: Vec<DroppedRecord>,
    /// The aggregator left out every valid vector: the step had no gradient part.
    pub all_dropped: bool,
    /// Expulsions the aggregator's guard withheld this round (the machines stay good), by id,
    /// with the reason they would have had.
    pub withheld: Vec<ExpulsionRecord>,
    /// Safeguard window distances (empty for other rules).
    pub distances: Vec<WindowDistance>,
    /// Parameters after the step.
    pub params: Arc<Vector>,
    /// Extra problem metrics after the step (test accuracy, `min_eig`, ...; empty when not
    /// evaluated).
    pub metrics: Vec<(&'static str, f64)>,
    /// The parameters are no longer finite or left the divergence bound (checked every round),
    /// or the loss is no longer finite (checked on evaluated rounds).
    pub diverged: bool,
    /// The aggregate was not finite (overflow on huge inputs), so no step was taken this round.
    pub step_skipped: bool,
}

/// Ask the coordinator to run one round.
#[derive(Message)]
#[rtype(result = "RoundEvent")]
pub struct RunRound;

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

/// The master: keeps the parameters, the good set and the aggregator; runs the rounds.
pub struct Coordinator {
    problem: Arc<dyn Problem>,
    aggregator: Box<dyn Aggregator>,
    config: CoordinatorConfig,
    params: Arc<Vector>,
    roles: Vec<Role>,
    good: Vec<bool>,
    honest: Vec<(usize, Recipient<GradientRequest>)>,
    byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
    optimizer: ServerOptimizer,
    round: u64,
}

/// Replies collected in one phase, by worker id (all replies kept, to see duplicates).
#[derive(Debug, Default)]
struct Collected {
    replies: BTreeMap<usize, Vec<Vector>>,
    /// Machines whose handle was dropped, whether during a panic (a crash), and the panic's
    /// message.
    dropped: BTreeMap<usize, (bool, Option<String>)>,
    timed_out: bool,
}

async fn collect(mut rx: UnboundedReceiver<Reply>, timeout: Option<Duration>) -> Collected {
    let mut out = Collected::default();
    let receive = async {
        // Ends when every handle of the round has been dropped.
        while let Some(r) = rx.recv().await {
            match r.body {
                ReplyBody::Gradient(g) => out.replies.entry(r.worker).or_default().push(g),
                ReplyBody::Dropped { panicking, message } => {
                    let entry = out.dropped.entry(r.worker).or_default();
                    entry.0 |= panicking;
                    if entry.1.is_none() {
                        entry.1 = message;
                    }
                }
            }
        }
    };
    match timeout {
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
    /// actors' recipients (any order; they are sorted by id).
    #[allow(clippy::too_many_arguments)] // one plain constructor beats a builder for 8 parts
    pub fn new(
        problem: Arc<dyn Problem>,
        aggregator: Box<dyn Aggregator>,
        config: CoordinatorConfig,
        initial: Vector,
        roles: Vec<Role>,
        mut honest: Vec<(usize, Recipient<GradientRequest>)>,
        mut byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
        perturbation_rng: SimRng,
    ) -> Self {
        honest.sort_by_key(|(i, _)| *i);
        byzantine.sort_by_key(|(i, _)| *i);
        let m = roles.len();
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
            optimizer,
            round: 0,
        }
    }

    fn ask_honest(&self, round: u64) -> UnboundedReceiver<Reply> {
        let (tx, rx) = unbounded_channel();
        for (id, r) in &self.honest {
            if self.good[*id] {
                let reply = ReplyTo {
                    worker: *id,
                    round,
                    tx: tx.clone(),
                };
                r.do_send(GradientRequest {
                    round,
                    params: self.params.clone(),
                    reply,
                });
            }
        }
        rx
    }

    fn ask_byzantine(&self, round: u64, honest: &Collected) -> UnboundedReceiver<Reply> {
        let (tx, rx) = unbounded_channel();
        if !self.byzantine.iter().any(|(id, _)| self.good[*id]) {
            // Nobody to ask: no view to build (it copies every honest vector).
            return rx;
        }
        let honest_vectors: Vec<(usize, Vector)> = honest
            .replies
            .iter()
            .filter_map(|(w, v)| v.first().map(|g| (*w, g.clone())))
            .collect();
        let view = Arc::new(RoundView::new(
            round,
            self.params.clone(),
            self.roles.len(),
            self.good.iter().filter(|g| **g).count(),
            Arc::new(honest_vectors),
            Arc::new(
                self.byzantine
                    .iter()
                    .map(|(i, _)| *i)
                    .filter(|i| self.good[*i])
                    .collect(),
            ),
            Arc::new(self.aggregator.public_state()),
        ));
        for (id, r) in &self.byzantine {
            if self.good[*id] {
                let reply = ReplyTo {
                    worker: *id,
                    round,
                    tx: tx.clone(),
                };
                r.do_send(ByzantineRequest {
                    view: view.clone(),
                    reply,
                });
            }
        }
        rx
    }

    fn is_connected(&self, id: usize) -> bool {
        // Both lists are sorted by id (see `new`): O(log m) per machine, not O(m).
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

    fn finish_round(&mut self, round: u64, honest: Collected, byzantine: Collected) -> RoundEvent {
        let dim = self.problem.dim();
        let workers: Vec<usize> = (0..self.roles.len()).filter(|&i| self.good[i]).collect();
        let mut faults = Vec::new();
        let mut forced: Vec<(usize, &'static str)> = Vec::new();
        let mut gradients: Vec<Option<Vector>> = Vec::with_capacity(workers.len());
        for &w in &workers {
            let role = self.roles[w];
            let phase = if role == Role::Honest {
                &honest
            } else {
                &byzantine
            };
            let detail = phase.dropped.get(&w).and_then(|d| d.1.clone());
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
            let crashed = phase.dropped.get(&w).is_some_and(|d| d.0) || !self.is_connected(w);
            let replies = if crashed {
                None
            } else {
                phase.replies.get(&w).map(|v| v.as_slice())
            };
            let g = match replies {
                None | Some([]) => {
                    let kind = if crashed {
                        "crashed"
                    } else if phase.timed_out && !phase.dropped.contains_key(&w) {
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
                Some([first, rest @ ..]) => {
                    if !rest.is_empty() {
                        fault("duplicate_reply");
                    }
                    if first.len() != dim {
                        fault("wrong_length");
                        None
                    } else if !is_finite(first) {
                        fault("non_finite");
                        None
                    } else {
                        Some(first.clone())
                    }
                }
            };
            gradients.push(g);
        }
        let honest_mean = mean(
            workers
                .iter()
                .zip(&gradients)
                .filter(|(w, _)| self.roles[**w] == Role::Honest)
                .filter_map(|(_, g)| g.as_ref()),
            dim,
        );
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
        let record = |worker: usize, reason: String| ExpulsionRecord {
            worker,
            role: self.roles.get(worker).copied().unwrap_or(Role::Byzantine),
            reason,
        };
        let dropped = agg
            .dropped
            .iter()
            .map(|d| DroppedRecord {
                worker: d.worker,
                role: self.roles.get(d.worker).copied().unwrap_or(Role::Byzantine),
                neighbours: d.neighbours,
                radius: d.radius,
            })
            .collect();
        let withheld = agg
            .withheld
            .iter()
            .map(|e| record(e.worker, e.reason.clone()))
            .collect();
        let mut direction = agg.direction;
        // Every input is finite, but huge finite vectors can still overflow a rule's arithmetic
        // (a mean of 1e308s). The model must never be poisoned: skip the step and report it.
        let step_skipped = direction.len() != dim || !is_finite(&direction);
        if step_skipped {
            direction = Vector::zeros(dim);
        }
        let agg_error = distance(&direction, &honest_mean);

        // x <- x - eta_t (xi + v), xi ~ N(0, nu^2 I) (semantic 6: xi scaled by eta), v the
        // aggregate or its server momentum.
        let next = self.optimizer.step(&self.params, direction, round);
        let diverged = !is_finite(&next) || norm(&next) > self.config.divergence_norm;
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
}

impl Handler<RunRound> for Coordinator {
    type Result = AtomicResponse<Self, RoundEvent>;

    fn handle(&mut self, _: RunRound, _: &mut Context<Self>) -> Self::Result {
        self.round += 1;
        let round = self.round;
        let timeout = self.config.reply_timeout;
        let rx = self.ask_honest(round);
        AtomicResponse::new(Box::pin(
            collect(rx, None)
                .into_actor(self)
                .then(move |honest, act, _| {
                    let rx = act.ask_byzantine(round, &honest);
                    async move { (honest, collect(rx, Some(timeout)).await) }.into_actor(act)
                })
                .map(move |(honest, byz), act, _| act.finish_round(round, honest, byz)),
        ))
    }
}
