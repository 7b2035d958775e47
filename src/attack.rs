//! Attacks: what a Byzantine machine sends.
//!
//! The common case is a small trait, [`Adversary`]: given a read-only [`RoundView`] of the round
//! (omniscient model of Allen-Zhu et al. 2021, Remark 2.2: parameters, round number, every honest
//! gradient of this round, the machine's own honest gradient, the aggregator's public state),
//! return a vector, or nothing to stay silent. The generic Byzantine actor
//! ([`crate::actors::ByzantineWorker`]) wraps one. Anything an adversary returns is checked by the
//! coordinator (finite, right length) before any arithmetic: a misbehaving adversary is a fault
//! the run survives and reports, never a poisoned model.

use crate::aggregate::PublicState;
use crate::linalg::Vector;
use crate::rng::SimRng;
use std::sync::Arc;

/// A read-only view of one round, given to every Byzantine machine after the honest machines
/// have answered.
#[derive(Debug, Clone)]
pub struct RoundView {
    /// Round number, starting at 1.
    pub round: u64,
    /// Current parameters.
    pub params: Arc<Vector>,
    /// `m`, machines at the start of the run.
    pub machines: usize,
    /// The honest gradients of this round with their worker ids, ascending.
    pub honest: Arc<Vec<(usize, Vector)>>,
    /// Ids of the Byzantine machines still in the good set, ascending (they may collude).
    pub byzantine: Arc<Vec<usize>>,
    /// The aggregator's public state before this round.
    pub aggregator: Arc<PublicState>,
}

/// What a Byzantine machine does with its view of the round.
pub trait Adversary: Send {
    /// Name, as in the scenario's `attack.kind`.
    fn name(&self) -> &str;
    /// The vector to send this round, or `None` to stay silent. `own` is the gradient an honest
    /// machine in this position would have sent (drawn from this machine's stream); `rng` is the
    /// adversary's own stream.
    fn attack(&mut self, view: &RoundView, own: &Vector, rng: &mut SimRng) -> Option<Vector>;
}

/// Sends its own honest gradient: a Byzantine machine that does not attack.
#[derive(Debug, Clone, Default)]
pub struct NoAttack;

impl Adversary for NoAttack {
    fn name(&self) -> &str {
        "none"
    }
    fn attack(&mut self, _: &RoundView, own: &Vector, _: &mut SimRng) -> Option<Vector> {
        Some(own.clone())
    }
}

/// Sign flipping: `-scale * g`, with `g` the machine's own honest gradient (Allen-Zhu et al. 2021
/// use `scale = 1`; some libraries negate the honest mean instead, or scale by 100).
#[derive(Debug, Clone)]
pub struct SignFlip {
    /// The factor `c`.
    pub scale: f64,
}

impl Adversary for SignFlip {
    fn name(&self) -> &str {
        "sign_flip"
    }
    fn attack(&mut self, _: &RoundView, own: &Vector, _: &mut SimRng) -> Option<Vector> {
        Some(own * -self.scale)
    }
}

/// Sends the zero vector.
#[derive(Debug, Clone, Default)]
pub struct Zero;

impl Adversary for Zero {
    fn name(&self) -> &str {
        "zero"
    }
    fn attack(&mut self, _: &RoundView, own: &Vector, _: &mut SimRng) -> Option<Vector> {
        Some(Vector::zeros(own.len()))
    }
}

/// Gaussian noise `N(mean, std^2 I)`, independent of the parameters.
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// Mean of every coordinate.
    pub mean: f64,
    /// Standard deviation of every coordinate.
    pub std: f64,
}

impl Adversary for Gaussian {
    fn name(&self) -> &str {
        "gaussian"
    }
    fn attack(&mut self, _: &RoundView, own: &Vector, rng: &mut SimRng) -> Option<Vector> {
        let (m, s) = (self.mean, self.std);
        Some(Vector::from_shape_simple_fn(own.len(), || {
            m + s * crate::rng::normal(rng)
        }))
    }
}

/// A deliberately misbehaving machine, to test that a run survives faults (and how a defense
/// treats them). Each mode is one fault.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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

/// The vector part of the faulty modes (the actor handles `Silent`, `Twice`, `Panic`, `Hang`).
#[derive(Debug, Clone)]
pub struct Faulty {
    /// Which fault.
    pub mode: FaultMode,
    /// First round (1-based) at which the fault starts; before that the machine behaves honestly.
    pub from_round: u64,
}

impl Adversary for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn attack(&mut self, view: &RoundView, own: &Vector, _: &mut SimRng) -> Option<Vector> {
        if view.round < self.from_round {
            return Some(own.clone());
        }
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
            // Handled by the actor; the vector part is the honest gradient.
            FaultMode::Twice | FaultMode::Panic | FaultMode::Hang => Some(own.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn view() -> RoundView {
        RoundView {
            round: 1,
            params: Arc::new(array![0.0, 0.0]),
            machines: 3,
            honest: Arc::new(vec![(0, array![1.0, 2.0])]),
            byzantine: Arc::new(vec![2]),
            aggregator: Arc::new(PublicState::default()),
        }
    }

    #[test]
    fn basic_attacks() {
        let mut rng = crate::rng::stream(1, 1);
        let own = array![1.0, -2.0];
        assert_eq!(NoAttack.attack(&view(), &own, &mut rng), Some(own.clone()));
        assert_eq!(
            SignFlip { scale: 4.0 }.attack(&view(), &own, &mut rng),
            Some(array![-4.0, 8.0])
        );
        assert_eq!(Zero.attack(&view(), &own, &mut rng), Some(array![0.0, 0.0]));
        let g = Gaussian {
            mean: 5.0,
            std: 0.0,
        }
        .attack(&view(), &own, &mut rng);
        assert_eq!(g, Some(array![5.0, 5.0]));
        let f = Faulty {
            mode: FaultMode::WrongLength,
            from_round: 1,
        }
        .attack(&view(), &own, &mut rng);
        assert_eq!(f.map(|v| v.len()), Some(3));
        let f = Faulty {
            mode: FaultMode::Nan,
            from_round: 2,
        }
        .attack(&view(), &own, &mut rng);
        assert_eq!(f, Some(own.clone()), "honest before from_round");
    }
}
