//! `omission`: a machine that stays silent with some probability each round (message
//! omission; a crash from some round on is the faulty `silent` mode with `from_round`).

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use rand::RngExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `omission`: each round, stays silent with probability `probability` and otherwise sends its
/// own honest gradient. One uniform draw a round from the machine's adversary stream, so
/// machines omit independently of each other. Under the safeguard, a silent good machine is
/// expelled (`no_valid_gradient`); other rules drop it for the round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OmissionParams {
    /// Probability of silence in each round, in [0, 1].
    pub probability: f64,
}

impl Default for OmissionParams {
    fn default() -> Self {
        OmissionParams { probability: 0.1 }
    }
}

impl Params for OmissionParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(ParamError::new(
                "probability",
                format!("expected a probability in [0, 1], got {}", self.probability),
            ));
        }
        Ok(())
    }
}

impl AttackKind for OmissionParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let probability = self.probability;
        Ok(Adversaries::each(move |_| Omission { probability }))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::OwnGradient, Dependency::Randomness]
    }
}

/// Silent with probability `probability`, honest otherwise.
#[derive(Debug, Clone)]
pub struct Omission {
    /// Probability of silence in each round.
    pub probability: f64,
}

impl Adversary for Omission {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let u: f64 = ctx.rng.random();
        (u >= self.probability).then(|| ctx.own.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::view_with;
    use ndarray::array;

    fn silences(probability: f64, rounds: usize) -> usize {
        let v = view_with(vec![array![0.0]]);
        let own = array![1.0];
        let mut rng = crate::rng::stream(3, 9);
        let mut a = Omission { probability };
        (0..rounds)
            .filter(|_| {
                a.attack(&mut AttackContext {
                    id: 1,
                    own: &own,
                    rng: &mut rng,
                    view: &v,
                })
                .is_none()
            })
            .count()
    }

    #[test]
    fn silent_with_the_given_probability() {
        assert_eq!(silences(0.0, 1000), 0);
        assert_eq!(silences(1.0, 1000), 1000);
        let n = silences(0.3, 10_000);
        // Binomial(10000, 0.3): sd 46; 5 sd either side.
        assert!((2770..=3230).contains(&n), "{n}");
    }
}
