//! `safeguard_attack`: the attack the SafeguardSGD paper designed against itself (Allen-Zhu,
//! Ebrahimian, Li, Alistarh, ICLR 2021, Section 5 and Table 1: "safeguard attack", factor 0.4,
//! 0.5 in the appendix): a negative, re-scaled gradient, kept under the safeguard's thresholds.
//!
//! The paper describes it in one sentence and publishes no code, so this is our reading, named
//! here so that nothing is hidden:
//! - "negative, re-scaled gradient" is `-factor * mu`, with `mu` the mean of the round's honest
//!   gradients (the paper calls it an inner-product-manipulation attack, and IPM negates the
//!   honest mean; colluders then send identical vectors);
//! - "kept under the thresholds" (`stay_under`, default true): every colluder sends
//!   `mu + l * (-factor * mu - mu)`, with `l = 1` (the full attack) unless that would put a
//!   colluder's windowed sum farther than `fraction * 2 * Th` from some honest machine's sum in
//!   some window; then `l` is the largest step that keeps it inside (the adversary rebuilds the
//!   sums from the gradients it sees: [`super::window_tracker`]). Against a rule without windows
//!   (mean, median) it always sends `-factor * mu`.

use super::window_tracker::WhiteBox;
use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `safeguard_attack`: the SafeguardSGD paper's own attack (Table 1, factor 0.4): every
/// colluder sends the negative, re-scaled honest mean `-factor * mu`, kept under the safeguard's
/// thresholds (`stay_under`): it moves from `mu` toward `-factor * mu` only as far as keeps its
/// windowed sums within `fraction * 2 * Th` of every honest machine's (the paper's wording is one
/// sentence; this reading is documented in src/attack/safeguard_attack.rs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SafeguardAttackParams {
    /// The re-scaling factor (the paper: 0.4, and 0.5 in its appendix).
    pub factor: f64,
    /// Stay under the thresholds of a windowed defense (default true).
    pub stay_under: bool,
    /// The fraction of `2 * Th` the colluders may use, in (0, 1) (default 0.95).
    pub fraction: f64,
}

impl Default for SafeguardAttackParams {
    fn default() -> Self {
        SafeguardAttackParams {
            factor: 0.4,
            stay_under: true,
            fraction: 0.95,
        }
    }
}

impl Params for SafeguardAttackParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        ParamError::require_positive("factor", self.factor, true)?;
        super::threshold_aware::check_fraction(self.fraction)
    }
}

impl AttackKind for SafeguardAttackParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let attack = SafeguardAttack {
            params: self.clone(),
            shared: WhiteBox::new(),
        };
        Ok(Adversaries::each(move |_| attack.clone()))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        if self.stay_under {
            vec![Dependency::Defense, Dependency::History]
        } else {
            Vec::new()
        }
    }
}

/// The safeguard attack (one per colluder, sharing one state).
#[derive(Debug, Clone)]
pub struct SafeguardAttack {
    params: SafeguardAttackParams,
    shared: WhiteBox,
}

impl Adversary for SafeguardAttack {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let p = &self.params;
        let full = ctx.view.honest_mean() * -p.factor;
        if !p.stay_under {
            return Some(full);
        }
        Some(self.shared.send(ctx.view, |tracker, view| {
            let mu = view.honest_mean();
            let dir = &full - mu;
            let l = tracker.step(view, mu, &dir, 1.0, p.fraction);
            let mut v = mu.clone();
            v.scaled_add(l, &dir);
            v
        }))
    }
    fn honest_round(&mut self, ctx: &mut AttackContext<'_>) {
        if self.params.stay_under {
            self.shared.honest_round(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{PublicState, WindowState};
    use crate::attack::RoundView;
    use crate::attack::tests::{attack_once, reference_view};
    use ndarray::array;
    use std::sync::Arc;

    fn attack(stay_under: bool) -> SafeguardAttack {
        SafeguardAttack {
            params: SafeguardAttackParams {
                stay_under,
                ..Default::default()
            },
            shared: WhiteBox::new(),
        }
    }

    #[test]
    fn negative_rescaled_honest_mean_without_windows() {
        // mu = [4, 5, 6]: -0.4 mu, whether or not it would stay under (no windows here).
        let own = array![0.0, 0.0, 0.0];
        for stay in [false, true] {
            let got = attack_once(&mut attack(stay), &reference_view(), &own).unwrap();
            let want = array![-1.6, -2.0, -2.4];
            assert!((&got - &want).iter().all(|x| x.abs() < 1e-12), "{got}");
        }
    }

    #[test]
    fn stays_under_the_threshold_of_a_window() {
        // Honest machines 0, 1 send [1] and [3] (mean 2); colluder 2; |good| = 3; one window of
        // threshold `th`. The colluder sends v = 2 + l * (-0.8 - 2) and its sum v/3 must stay
        // within R = 0.95 * 2 * th of both honest sums, 1/3 and 1.
        let view = |threshold: f64| {
            RoundView::new(
                1,
                Arc::new(Vector::zeros(1)),
                3,
                3,
                Arc::new(vec![(0, array![1.0]), (1, array![3.0])]),
                Arc::new(vec![2]),
                Arc::new(PublicState {
                    good: Some(3),
                    windows: vec![WindowState {
                        name: "short",
                        length: 5,
                        position: 0,
                        threshold,
                        scales_with_good: false,
                        reference: None,
                        distances: Vec::new(),
                    }],
                    ..PublicState::default()
                }),
            )
        };
        // th = 1 (R = 1.9): v in [-2.7, 6.7]; the full attack v = -0.8 is inside (l = 1).
        let got = attack_once(&mut attack(true), &view(1.0), &array![0.0]).unwrap();
        assert!((got[0] + 0.8).abs() < 1e-12, "{got}");
        // th = 0.5 (R = 0.95): v in [0.15, 3.85]; it goes as far as v = 0.15.
        let got = attack_once(&mut attack(true), &view(0.5), &array![0.0]).unwrap();
        assert!((got[0] - 0.15).abs() < 1e-12, "{got}");
        // th = 0.1 (R = 0.19): v in [0.43, 1.57] and [2.43, 3.57]: no safe step; it sends mu.
        let got = attack_once(&mut attack(true), &view(0.1), &array![0.0]).unwrap();
        assert_eq!(got, array![2.0]);
    }
}
