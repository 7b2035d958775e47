//! The actix actors: one per machine, the machine hosts and the coordinator. Thin shells around
//! the math.
//!
//! The round protocol (lock-step, deterministic):
//! 1. the coordinator sends the current parameters to every host ([`host`]: one actor per arbiter
//!    thread, holding the machines placed there), which forwards a [`GradientRequest`] to each of
//!    its honest machines still in the good set;
//! 2. honest machines answer through the [`ReplyTo`] handle in the request; each host sends its
//!    machines' replies back in one batch;
//! 3. the Byzantine machines get [`ByzantineRequest`] with the omniscient [`RoundView`], the same
//!    way;
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
//!
//! A round costs two cross-thread messages per host and phase, whatever the number of machines
//! (see [`host`]); which thread each machine runs on is decided by [`crate::placement`]. The
//! waits for another thread (the coordinator's for a remote host's batch, a remote host's for its
//! next request) spin for up to 0.5 ms before they park, yielding to the thread's other tasks and
//! to the OS on each turn: in steady state a message finds its thread awake instead of paying a
//! wake-up (tens of microseconds on a virtual machine). Spinning never changes a result.

mod coordinator;
pub mod host;
pub(crate) mod spin;

use crate::aggregate::WindowDistance;
use crate::attack::{Adversary, AttackContext, RoundView};
use crate::linalg::Vector;
use crate::optimizer::{Momentum, MomentumBuffer};
use crate::problem::Problem;
use crate::rng::SimRng;
use actix::prelude::*;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc::UnboundedSender;

pub use coordinator::{Coordinator, CoordinatorConfig};
pub use host::MachineGroup;

/// What travels on a round's channel, stamped by the [`ReplyTo`] handle (a machine cannot forge
/// another's id).
#[derive(Debug)]
struct Reply {
    /// The machine's place in its host's list for this phase.
    slot: usize,
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
    slot: usize,
    tx: UnboundedSender<Reply>,
    /// A reply went through (then a drop says something only during a panic).
    sent: AtomicBool,
}

impl ReplyTo {
    fn new(worker: usize, round: u64, slot: usize, tx: UnboundedSender<Reply>) -> Self {
        ReplyTo {
            worker,
            round,
            slot,
            tx,
            sent: AtomicBool::new(false),
        }
    }
    /// Send a gradient. Returns false when the round is already over (the reply is dropped).
    pub fn send(&self, gradient: Vector) -> bool {
        self.sent.store(true, Ordering::Relaxed);
        self.tx
            .send(Reply {
                slot: self.slot,
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
        // Fails (ignored) when the round is already over. After a reply, only a crash is news.
        let panicking = std::thread::panicking();
        if !panicking && *self.sent.get_mut() {
            return;
        }
        let message = if panicking {
            LAST_PANIC.with(|m| m.borrow_mut().take())
        } else {
            None
        };
        let _ = self.tx.send(Reply {
            slot: self.slot,
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
    /// `||aggregate - mean of this round's honest gradients||` on evaluated rounds (the rows of
    /// rounds.csv); NaN on the others, like `loss`.
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
