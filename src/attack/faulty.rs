//! `faulty`: deliberately misbehaving machines, to test that a run survives faults and to see how
//! a defense treats them. The vector faults use the trait form ([`Faulty`]); the faults a vector
//! cannot express (answering twice, panicking, hanging) use the full actor form
//! ([`FaultyWorker`]), started through [`Adversaries::actors`] like any user actor.

use super::{ActorSetup, Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::actors::ByzantineRequest;
use crate::linalg::Vector;
use crate::problem::Problem;
use crate::registry::{BuildContext, Params};
use crate::rng::SimRng;
use actix::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// A vector full of NaN.
    Nan,
    /// A vector with an infinite entry.
    Inf,
    /// A vector one entry too long.
    WrongLength,
    /// Stays silent (drops its reply).
    Silent,
    /// Answers twice in the same round (first its honest gradient, then a huge vector).
    Twice,
    /// Panics inside the actor's handler: the actor dies (a crashed machine).
    Panic,
    /// Keeps the reply handle and never answers: the coordinator's reply timeout fires.
    Hang,
}

/// `faulty`: a deliberately misbehaving machine (NaN, inf, wrong length, silence, double answers,
/// panics, hangs), to test robustness. With `from_round`, honest before that round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultyParams {
    /// The fault.
    pub mode: FaultMode,
}

impl Params for FaultyParams {}

impl AttackKind for FaultyParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        let mode = self.mode;
        Ok(match mode {
            FaultMode::Twice | FaultMode::Panic | FaultMode::Hang => {
                let problem = ctx.problem.clone();
                Adversaries::actors(move |setup: &ActorSetup<'_>| {
                    Ok(setup
                        .ids
                        .iter()
                        .map(|&id| {
                            let (p, rng, from) =
                                (problem.clone(), setup.gradient_stream(id), setup.from_round);
                            let addr =
                                FaultyWorker::start_in_arbiter(&setup.arbiter(id), move |_| {
                                    FaultyWorker::new(id, p, rng, mode, from)
                                });
                            (id, addr.recipient())
                        })
                        .collect())
                })
            }
            _ => Adversaries::each(move |_| Faulty { mode }),
        })
    }
    fn depends_on(&self) -> Vec<Dependency> {
        match self.mode {
            FaultMode::Nan | FaultMode::WrongLength => Vec::new(),
            FaultMode::Inf => vec![Dependency::OwnGradient],
            FaultMode::Silent => Vec::new(),
            FaultMode::Twice | FaultMode::Panic | FaultMode::Hang => vec![Dependency::Runtime],
        }
    }
}

/// The vector faults (`nan`, `inf`, `wrong_length`, `silent`); the actor-level modes send the
/// honest gradient here (their fault is in [`FaultyWorker`]).
#[derive(Debug, Clone)]
pub struct Faulty {
    /// Which fault.
    pub mode: FaultMode,
}

impl Adversary for Faulty {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let own = ctx.own;
        match self.mode {
            FaultMode::Nan => Some(Vector::from_elem(own.len(), f64::NAN)),
            FaultMode::Inf => {
                let mut v = own.clone();
                if let Some(x) = v.get_mut(0) {
                    *x = f64::INFINITY;
                }
                Some(v)
            }
            FaultMode::WrongLength => Some(Vector::zeros(own.len() + 1)),
            FaultMode::Silent => None,
            FaultMode::Twice | FaultMode::Panic | FaultMode::Hang => Some(own.clone()),
        }
    }
}

/// A machine that misbehaves at the actor level, for the faults a vector cannot express: it
/// answers twice, panics in its handler, or keeps its reply handle and never answers.
pub struct FaultyWorker {
    id: usize,
    problem: Arc<dyn Problem>,
    rng: SimRng,
    mode: FaultMode,
    from_round: u64,
    held: Vec<crate::actors::ReplyTo>,
}

impl FaultyWorker {
    /// Machine `id` with fault `mode` from round `from_round` on (honest before); `rng` is its
    /// own gradient stream.
    pub fn new(
        id: usize,
        problem: Arc<dyn Problem>,
        rng: SimRng,
        mode: FaultMode,
        from_round: u64,
    ) -> Self {
        FaultyWorker {
            id,
            problem,
            rng,
            mode,
            from_round,
            held: Vec::new(),
        }
    }
}

impl Actor for FaultyWorker {
    type Context = Context<Self>;
}

impl Handler<ByzantineRequest> for FaultyWorker {
    type Result = ();
    fn handle(&mut self, msg: ByzantineRequest, _: &mut Context<Self>) {
        let own = self
            .problem
            .stochastic_gradient(&msg.view.params, self.id, &mut self.rng);
        if msg.view.round < self.from_round {
            msg.reply.send(own);
            return;
        }
        match self.mode {
            FaultMode::Twice => {
                msg.reply.send(own.clone());
                msg.reply.send(own * 1e6);
            }
            FaultMode::Panic => panic!(
                "faulty machine {}: deliberate panic in round {}",
                self.id, msg.view.round
            ),
            FaultMode::Hang => self.held.push(msg.reply),
            mode => {
                let mut ctx = AttackContext {
                    id: self.id,
                    own: &own,
                    rng: &mut self.rng,
                    view: &msg.view,
                };
                if let Some(v) = (Faulty { mode }).attack(&mut ctx) {
                    msg.reply.send(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn vector_faults() {
        let v = view_with(vec![array![5.0, 5.0]]);
        let own = array![1.0, -2.0];
        let f = |mode| attack_once(&mut Faulty { mode }, &v, &own);
        assert_eq!(f(FaultMode::WrongLength).map(|v| v.len()), Some(3));
        assert!(f(FaultMode::Nan).is_some_and(|v| v.iter().all(|x| x.is_nan())));
        assert_eq!(f(FaultMode::Inf), Some(array![f64::INFINITY, -2.0]));
        assert_eq!(f(FaultMode::Silent), None);
        assert_eq!(f(FaultMode::Twice), Some(own.clone()));
    }
}
