//! `delayed`: the gradient the machine computed `delay` rounds earlier (Allen-Zhu et al. 2021,
//! Table 1, "delayed gradient", D = 1000).

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::scenario::MEMORY_LIMIT_BYTES;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What a delayed machine sends while no gradient is `delay` rounds old yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelayedWarmup {
    /// Its current honest gradient (honest behaviour until it has a gradient that old).
    Own,
    /// The oldest gradient it has (that of round 1).
    Oldest,
    /// Nothing (the safeguard then expels it as `no_valid_gradient`).
    Silent,
}

/// `delayed`: in round `t` sends its own honest gradient of round `t - delay` (computed at the
/// parameters of that round; the SafeguardSGD paper uses D = 1000). While `t <= delay`, no
/// gradient is that old: `warmup` says what it sends then (`own`: its current gradient, the
/// default; `oldest`: its round-1 gradient; `silent`). Rounds before `from_round` count: the
/// machine records its gradients from round 1. Memory: a ring buffer of `delay` gradients per
/// machine, `8 * delay * d` bytes each; O(d) work a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DelayedParams {
    /// `D`, in rounds (at least 1).
    pub delay: u64,
    /// `own`, `oldest` or `silent`: what is sent in rounds `t <= delay`.
    pub warmup: DelayedWarmup,
}

impl Default for DelayedParams {
    fn default() -> Self {
        DelayedParams {
            delay: 1000,
            warmup: DelayedWarmup::Own,
        }
    }
}

impl Params for DelayedParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        if self.delay == 0 {
            return Err(ParamError::new("delay", "expected at least 1 round"));
        }
        let dim = ctx.problem.map(|p| p.dim).unwrap_or(0) as u64;
        let machines = ctx.setting.byzantine as u64;
        // Only min(delay, rounds) gradients are ever kept.
        let kept = self.delay.min(ctx.setting.rounds);
        let bytes = kept
            .saturating_mul(dim)
            .saturating_mul(machines)
            .saturating_mul(8);
        if bytes > MEMORY_LIMIT_BYTES {
            return Err(ParamError::new(
                "delay",
                format!(
                    "{machines} machines keeping {kept} gradients of dim {dim} need about {:.1} GiB (limit {} GiB); reduce delay",
                    bytes as f64 / (1u64 << 30) as f64,
                    MEMORY_LIMIT_BYTES >> 30
                ),
            ));
        }
        Ok(())
    }
}

impl AttackKind for DelayedParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let (delay, warmup) = (self.delay, self.warmup);
        Ok(Adversaries::each(move |_| Delayed::new(delay, warmup)))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::OwnGradient, Dependency::History]
    }
}

/// A machine that replays its own gradients `delay` rounds late.
#[derive(Debug, Clone)]
pub struct Delayed {
    delay: usize,
    warmup: DelayedWarmup,
    /// The last `delay` own gradients, oldest first.
    past: VecDeque<Vector>,
    /// The round-1 gradient, kept for `warmup: oldest` (the ring buffer drops it eventually,
    /// but it is only needed while the buffer is not full).
    first: Option<Vector>,
}

impl Delayed {
    /// A delayed machine with delay `delay` (>= 1) and warm-up behaviour `warmup`.
    pub fn new(delay: u64, warmup: DelayedWarmup) -> Self {
        Delayed {
            delay: usize::try_from(delay).unwrap_or(usize::MAX).max(1),
            warmup,
            past: VecDeque::new(),
            first: None,
        }
    }

    /// Record this round's own gradient; returns the one of `delay` rounds ago, if any.
    fn record(&mut self, own: &Vector) -> Option<Vector> {
        if self.first.is_none() {
            self.first = Some(own.clone());
        }
        let old = if self.past.len() == self.delay {
            self.past.pop_front()
        } else {
            None
        };
        self.past.push_back(own.clone());
        old
    }
}

impl Adversary for Delayed {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        match self.record(ctx.own) {
            Some(old) => Some(old),
            None => match self.warmup {
                DelayedWarmup::Own => Some(ctx.own.clone()),
                DelayedWarmup::Oldest => self.first.clone(),
                DelayedWarmup::Silent => None,
            },
        }
    }
    fn honest_round(&mut self, ctx: &mut AttackContext<'_>) {
        self.record(ctx.own);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    fn run(a: &mut Delayed, rounds: usize) -> Vec<Option<Vector>> {
        let v = view_with(vec![array![0.0]]);
        (1..=rounds)
            .map(|t| attack_once(a, &v, &array![t as f64]))
            .collect()
    }

    #[test]
    fn replays_the_gradient_of_delay_rounds_earlier() {
        // Own gradient of round t is [t]; delay 3: round 4 sends [1], round 5 sends [2], ...
        let got = run(&mut Delayed::new(3, DelayedWarmup::Own), 7);
        let want: Vec<Option<Vector>> = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|&x| Some(array![x]))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn warmup_behaviours_before_round_delay_plus_one() {
        let oldest = run(&mut Delayed::new(3, DelayedWarmup::Oldest), 5);
        assert_eq!(
            oldest,
            [1.0, 1.0, 1.0, 1.0, 2.0].map(|x| Some(array![x])).to_vec()
        );
        let silent = run(&mut Delayed::new(2, DelayedWarmup::Silent), 4);
        assert_eq!(
            silent,
            vec![None, None, Some(array![1.0]), Some(array![2.0])]
        );
    }

    #[test]
    fn rounds_before_from_round_are_recorded() {
        let mut a = Delayed::new(2, DelayedWarmup::Silent);
        let v = view_with(vec![array![0.0]]);
        let mut rng = crate::rng::stream(1, 1);
        for t in 1..=2 {
            let own = array![t as f64];
            a.honest_round(&mut AttackContext {
                id: 1,
                own: &own,
                rng: &mut rng,
                view: &v,
            });
        }
        // Round 3 is the first attacked round: it replays round 1's gradient.
        assert_eq!(attack_once(&mut a, &v, &array![3.0]), Some(array![1.0]));
        // Memory stays bounded by the delay.
        assert_eq!(a.past.len(), 2);
    }
}
