//! Attacks: what a Byzantine machine sends.
//!
//! The common case is a small trait, [`Adversary`]: given an [`AttackContext`] (the machine's id,
//! its own honest gradient, its own random stream and the read-only [`RoundView`] of the round:
//! the omniscient model of Allen-Zhu et al. 2021, Remark 2.2), return a vector, or nothing to stay
//! silent. The generic Byzantine actor ([`crate::actors::ByzantineWorker`]) wraps one per machine.
//! The full case is any actix actor that handles [`crate::actors::ByzantineRequest`]; one actor
//! may serve several colluding machines ([`Adversaries::actors`]).
//!
//! Anything an adversary returns is checked by the coordinator (finite, right length, one reply
//! a round) before any arithmetic: a misbehaving adversary is a fault the run survives and
//! reports, never a poisoned model.
//!
//! An attack *kind* is a parameter type implementing [`AttackKind`]; every attack object in a
//! scenario also takes `from_round` (honest behaviour before that round, default 1). The built-in
//! kinds live one per file and are registered by [`register_builtins`].

pub mod alie;
pub mod alie_search;
pub mod collusion;
pub mod delayed;
pub mod faulty;
pub mod gaussian;
pub mod ipm;
pub mod ipm_search;
pub mod label_flip;
pub mod mimic;
pub mod none;
pub mod omission;
pub mod saddle_trap;
pub mod safeguard_attack;
pub mod search;
pub mod sign_flip;
pub mod standalone;
pub mod threshold_aware;
pub mod window_tracker;
pub mod zero;

use crate::actors::ByzantineRequest;
use crate::aggregate::PublicState;
use crate::linalg::{Vector, mean};
use crate::problem::Problem;
use crate::registry::{BuildContext, DynParams, Params, Registry};
use crate::rng::{SimRng, stream, streams};
use actix::{ArbiterHandle, Recipient};
use std::sync::{Arc, OnceLock};

pub use alie::{Alie, AlieParams, AlieSign, ZSpec};
pub use alie_search::AlieSearchParams;
pub use collusion::Collusion;
pub use delayed::{Delayed, DelayedParams, DelayedWarmup};
pub use faulty::{FaultMode, Faulty, FaultyParams};
pub use gaussian::{Gaussian, GaussianParams};
pub use ipm::{Ipm, IpmParams};
pub use ipm_search::IpmSearchParams;
pub use label_flip::{LabelFlip, LabelFlipParams};
pub use mimic::{Mimic, MimicParams};
pub use none::{NoAttack, NoneParams};
pub use omission::{Omission, OmissionParams};
pub use saddle_trap::{SaddleTrap, SaddleTrapParams};
pub use safeguard_attack::{SafeguardAttack, SafeguardAttackParams};
pub use search::SearchAttack;
pub use sign_flip::{FlipOf, SignFlip, SignFlipParams};
pub use threshold_aware::{BiasDirection, ThresholdAware, ThresholdAwareParams};
pub use window_tracker::{WhiteBox, WindowTracker};
pub use zero::{Zero, ZeroParams};

/// A read-only view of one round, given to every Byzantine machine after the honest machines
/// have answered. The honest statistics are computed once per round, on first use, and shared by
/// every Byzantine machine (the view is behind an `Arc`).
#[derive(Debug)]
pub struct RoundView {
    /// Round number, starting at 1.
    pub round: u64,
    /// Current parameters `x_{t-1}`.
    pub params: Arc<Vector>,
    /// `m`, machines at the start of the run.
    pub machines: usize,
    /// `|good_t|`: machines the coordinator still queries this round (before this round's
    /// expulsions).
    pub good: usize,
    /// The honest gradients of this round with their worker ids, ascending.
    pub honest: Arc<Vec<(usize, Vector)>>,
    /// Ids of the Byzantine machines still in the good set, ascending (they may collude).
    pub byzantine: Arc<Vec<usize>>,
    /// The aggregator's public state before this round (what the paper's omniscient adversary
    /// knows of the defense; see [`PublicState`]).
    pub aggregator: Arc<PublicState>,
    mean: OnceLock<Vector>,
    squares: OnceLock<Vector>,
}

impl RoundView {
    /// A view of round `round`.
    pub fn new(
        round: u64,
        params: Arc<Vector>,
        machines: usize,
        good: usize,
        honest: Arc<Vec<(usize, Vector)>>,
        byzantine: Arc<Vec<usize>>,
        aggregator: Arc<PublicState>,
    ) -> Self {
        RoundView {
            round,
            params,
            machines,
            good,
            honest,
            byzantine,
            aggregator,
            mean: OnceLock::new(),
            squares: OnceLock::new(),
        }
    }

    /// Dimension of the parameters.
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// Number of honest gradients this round.
    pub fn honest_count(&self) -> usize {
        self.honest.len()
    }

    /// `mu`: the coordinate-wise mean of this round's honest gradients, summed in id order
    /// (the zero vector when there are none). Computed once per round.
    pub fn honest_mean(&self) -> &Vector {
        self.mean
            .get_or_init(|| mean(self.honest.iter().map(|(_, g)| g), self.dim()))
    }

    /// `s`: the coordinate-wise standard deviation of this round's honest gradients, with `ddof`
    /// subtracted from the count in the denominator (0: population, 1: sample). Zero where the
    /// count does not exceed `ddof`. The sums of squares are computed once per round.
    pub fn honest_std(&self, ddof: usize) -> Vector {
        let squares = self.squares.get_or_init(|| {
            // Two passes (mean first), not sum x^2 - n mu^2, which cancels badly.
            let mu = self.honest_mean();
            let mut squares = Vector::zeros(self.dim());
            for (_, g) in self.honest.iter() {
                ndarray::Zip::from(&mut squares)
                    .and(g)
                    .and(mu)
                    .for_each(|s, &x, &m| *s += (x - m) * (x - m));
            }
            squares
        });
        let n = self.honest.len();
        if n <= ddof {
            return Vector::zeros(self.dim());
        }
        let denom = (n - ddof) as f64;
        squares.mapv(|s| (s / denom).sqrt())
    }
}

/// What an adversary gets each round.
pub struct AttackContext<'a> {
    /// This machine's id.
    pub id: usize,
    /// The vector an honest machine in this position would send this round: its stochastic
    /// gradient, drawn from this machine's own stream (`id`), or with worker momentum
    /// (`optimizer.worker_momentum`) its momentum buffer updated with that gradient (see
    /// [`crate::optimizer`]).
    pub own: &'a Vector,
    /// The adversary's own stream (`ADVERSARY + id`): draw every random number from it, so the
    /// run stays reproducible whatever the thread count.
    pub rng: &'a mut SimRng,
    /// The round's view (shared by every Byzantine machine).
    pub view: &'a RoundView,
}

/// What a Byzantine machine does with its view of the round.
pub trait Adversary: Send {
    /// The vector to send this round, or `None` to stay silent.
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector>;
    /// Called instead of [`Adversary::attack`] in the rounds before the attack's `from_round`,
    /// where the machine sends its own honest gradient `ctx.own`: a stateful adversary keeps its
    /// history here (the gradients it will replay, the windowed sums it must stay close to).
    /// The default does nothing.
    fn honest_round(&mut self, ctx: &mut AttackContext<'_>) {
        let _ = ctx;
    }
    /// The gradient this machine computes in an attacking round, from its own stream `rng`
    /// (stream `id`), before [`Adversary::attack`] sees it as `ctx.own` (with worker momentum,
    /// it is pushed into the machine's momentum buffer first). The default is the honest
    /// stochastic gradient; label flipping computes the same minibatch's gradient with flipped
    /// labels. Draw exactly what the problem's gradient draws, from `rng` only.
    fn own_gradient(
        &mut self,
        problem: &dyn crate::problem::Problem,
        params: &Vector,
        id: usize,
        rng: &mut SimRng,
    ) -> Vector {
        problem.stochastic_gradient(params, id, rng)
    }
}

/// An [`Adversary`] made from a closure (see [`adversary_fn`]).
pub struct FnAdversary<F>(F);

impl<F> Adversary for FnAdversary<F>
where
    F: FnMut(&mut AttackContext<'_>) -> Option<Vector> + Send,
{
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        (self.0)(ctx)
    }
}

impl Adversary for Box<dyn Adversary> {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        (**self).attack(ctx)
    }
    fn honest_round(&mut self, ctx: &mut AttackContext<'_>) {
        (**self).honest_round(ctx)
    }
    fn own_gradient(
        &mut self,
        problem: &dyn crate::problem::Problem,
        params: &Vector,
        id: usize,
        rng: &mut SimRng,
    ) -> Vector {
        (**self).own_gradient(problem, params, id, rng)
    }
}

/// An adversary from a closure: `adversary_fn(|ctx| Some(-ctx.own))`.
pub fn adversary_fn<F>(f: F) -> FnAdversary<F>
where
    F: FnMut(&mut AttackContext<'_>) -> Option<Vector> + Send,
{
    FnAdversary(f)
}

/// What an attack kind starts for the Byzantine machines of a run.
pub enum Adversaries {
    /// The trait form: one [`Adversary`] per Byzantine machine (called with its id), each wrapped
    /// by the generic [`crate::actors::ByzantineWorker`] actor.
    Each(Box<dyn FnMut(usize) -> Box<dyn Adversary> + Send>),
    /// The full actor form: the closure starts actix actors (inside the running System) and
    /// returns a recipient for every Byzantine id of [`ActorSetup::ids`]; one actor may serve
    /// several ids (collusion).
    Actors(StartActors),
}

/// The closure of [`Adversaries::Actors`].
pub type StartActors = Box<dyn FnOnce(&ActorSetup<'_>) -> Result<ActorList, String> + Send>;

/// Recipients of the Byzantine machines, by id.
pub type ActorList = Vec<(usize, Recipient<ByzantineRequest>)>;

impl Adversaries {
    /// The trait form: `make(id)` gives the adversary of machine `id`.
    pub fn each<A: Adversary + 'static>(mut make: impl FnMut(usize) -> A + Send + 'static) -> Self {
        Adversaries::Each(Box::new(move |id| Box::new(make(id)) as Box<dyn Adversary>))
    }
    /// The full actor form (see [`Adversaries::Actors`]).
    pub fn actors(
        start: impl FnOnce(&ActorSetup<'_>) -> Result<ActorList, String> + Send + 'static,
    ) -> Self {
        Adversaries::Actors(Box::new(start))
    }
}

/// What an actor-form attack gets to start its actors.
pub struct ActorSetup<'a> {
    /// The Byzantine machine ids, ascending: return a recipient for each.
    pub ids: &'a [usize],
    /// The problem (for the machines' own honest gradients).
    pub problem: &'a Arc<dyn Problem>,
    /// The attack's `from_round`: the machines must behave honestly before it (send
    /// [`ActorSetup::gradient_stream`]'s honest gradient).
    pub from_round: u64,
    pub(crate) seed: u64,
    pub(crate) arbiters: &'a [ArbiterHandle],
    pub(crate) worker_momentum: crate::optimizer::Momentum,
}

impl ActorSetup<'_> {
    /// The arbiter (thread) machine `id` is placed on: start its actor there with
    /// `Actor::start_in_arbiter(&setup.arbiter(id), ...)`.
    pub fn arbiter(&self, id: usize) -> ArbiterHandle {
        match self.arbiters.len() {
            0 => actix::Arbiter::current(),
            n => self.arbiters[id % n].clone(),
        }
    }
    /// Machine `id`'s own stream, for the gradient an honest machine would send (stream `id`).
    pub fn gradient_stream(&self, id: usize) -> SimRng {
        stream(self.seed, id as u64)
    }
    /// Machine `id`'s adversary stream (`ADVERSARY + id`).
    pub fn adversary_stream(&self, id: usize) -> SimRng {
        stream(self.seed, streams::ADVERSARY + id as u64)
    }
    /// An empty momentum buffer with the run's worker momentum: what an honest machine keeps.
    /// An honest machine sends `buffer.push(gradient)` each round (the gradient itself when the
    /// run has no worker momentum), so an actor that imitates one should too.
    pub fn momentum_buffer(&self) -> crate::optimizer::MomentumBuffer {
        crate::optimizer::MomentumBuffer::new(self.worker_momentum)
    }
}

/// What an attack's vector depends on besides its parameters and the round's honest gradients
/// (see [`AttackKind::depends_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    /// The machine's own honest gradient.
    OwnGradient,
    /// Earlier rounds (a history the adversary keeps).
    History,
    /// The defense: its public state, or its rule.
    Defense,
    /// The problem (e.g. Hessian-vector products at the parameters).
    Problem,
    /// Random draws from the adversary's stream.
    Randomness,
    /// Behaviour of the machine's actor (answering twice, crashing, hanging).
    Runtime,
    /// Not declared: the kind does not override [`AttackKind::depends_on`].
    Undeclared,
}

impl Dependency {
    /// In words, for messages: "its own honest gradient", ...
    pub fn describe(&self) -> &'static str {
        match self {
            Dependency::OwnGradient => "the machine's own honest gradient",
            Dependency::History => "earlier rounds",
            Dependency::Defense => "the defense (its rule or public state)",
            Dependency::Problem => "the problem",
            Dependency::Randomness => "random draws",
            Dependency::Runtime => "the machine's actor (a fault no vector expresses)",
            Dependency::Undeclared => {
                "undeclared inputs (the kind does not declare that it needs the honest gradients only)"
            }
        }
    }
}

/// An attack kind: its parameter type and what it starts.
pub trait AttackKind: Params {
    /// The adversaries of a run.
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String>;
    /// What the attack's vector depends on besides its parameters and the round's honest
    /// gradients (their mean, spread, ids): empty when it is a function of those alone, which
    /// [`standalone::attack_vector`] (`safeguard-sim attack`) can then compute without a run.
    /// The default, `[Undeclared]`, is the safe answer for a kind that says nothing.
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::Undeclared]
    }
}

/// The object-safe form of [`AttackKind`] the registry stores.
pub trait DynAttack: DynParams {
    /// [`AttackKind::build`].
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Adversaries, String>;
    /// [`AttackKind::depends_on`].
    fn depends_on_dyn(&self) -> Vec<Dependency>;
}

impl<P: AttackKind> DynAttack for P {
    fn build_dyn(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        self.build(ctx)
    }
    fn depends_on_dyn(&self) -> Vec<Dependency> {
        self.depends_on()
    }
}

/// Register the built-in attack kinds.
pub fn register_builtins(registry: &mut Registry) {
    registry
        .add_attack::<NoneParams>("none")
        .add_attack::<SignFlipParams>("sign_flip")
        .add_attack::<ZeroParams>("zero")
        .add_attack::<GaussianParams>("gaussian")
        .add_attack::<FaultyParams>("faulty")
        .add_attack::<DelayedParams>("delayed")
        .add_attack::<AlieParams>("alie")
        .add_attack::<IpmParams>("ipm")
        .add_attack::<OmissionParams>("omission")
        .add_attack::<MimicParams>("mimic")
        .add_attack::<SafeguardAttackParams>("safeguard_attack")
        .add_attack::<ThresholdAwareParams>("threshold_aware")
        .add_attack::<AlieSearchParams>("alie_search")
        .add_attack::<IpmSearchParams>("ipm_search")
        .add_attack::<SaddleTrapParams>("saddle_trap")
        .add_attack::<LabelFlipParams>("label_flip");
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::array;

    /// A view with honest gradients `honest` (ids 0..) and one Byzantine machine after them.
    pub(crate) fn view_with(honest: Vec<Vector>) -> RoundView {
        let dim = honest.first().map(|g| g.len()).unwrap_or(2);
        let n = honest.len();
        RoundView::new(
            1,
            Arc::new(Vector::zeros(dim)),
            n + 1,
            n + 1,
            Arc::new(honest.into_iter().enumerate().collect()),
            Arc::new(vec![n]),
            Arc::new(PublicState::default()),
        )
    }

    /// The reference file's three honest vectors, [1,2,3], [4,5,6], [7,8,9], and one Byzantine.
    pub(crate) fn reference_view() -> RoundView {
        view_with(vec![
            array![1.0, 2.0, 3.0],
            array![4.0, 5.0, 6.0],
            array![7.0, 8.0, 9.0],
        ])
    }

    /// Run `adversary` once as machine `id` with own gradient `own` on `view`.
    pub(crate) fn attack_once(
        adversary: &mut dyn Adversary,
        view: &RoundView,
        own: &Vector,
    ) -> Option<Vector> {
        let mut rng = crate::rng::stream(1, 1);
        adversary.attack(&mut AttackContext {
            id: view.machines - 1,
            own,
            rng: &mut rng,
            view,
        })
    }

    #[test]
    fn honest_statistics_of_the_reference_vectors() {
        // The reference file's vectors: [1,2,3], [4,5,6], [7,8,9].
        let v = view_with(vec![
            array![1.0, 2.0, 3.0],
            array![4.0, 5.0, 6.0],
            array![7.0, 8.0, 9.0],
        ]);
        assert_eq!(v.honest_mean(), &array![4.0, 5.0, 6.0]);
        assert_eq!(v.honest_std(1), array![3.0, 3.0, 3.0]);
        assert_eq!(
            v.honest_std(0),
            array![6f64.sqrt(), 6f64.sqrt(), 6f64.sqrt()]
        );
        assert_eq!(v.honest_std(3), Vector::zeros(3));
    }

    #[test]
    fn closures_are_adversaries() {
        let v = view_with(vec![array![1.0, 2.0]]);
        let mut a = adversary_fn(|ctx: &mut AttackContext<'_>| Some(ctx.view.honest_mean() * -2.0));
        assert_eq!(
            attack_once(&mut a, &v, &array![0.0, 0.0]),
            Some(array![-2.0, -4.0])
        );
    }
}
