//! `threshold_aware`: a white-box, colluding attack on the safeguard's windows. It reads the
//! defense's public state and pushes a constant bias sized to stay just inside `2 * Th` in every
//! window: the strongest constant push the safeguard cannot expel.
//!
//! Every colluder sends `mu + l * u`, with `mu` the round's honest mean, `u` a unit direction
//! (`ones`: `(1, ..., 1) / sqrt(d)`, a fixed direction, so the bias adds up over a window;
//! `against_honest_mean`: `-mu / ||mu||`) and `l` the bias, at most
//! `beta = fraction * min_w (2 * Th_w * |good| / T_w)` (so that a whole window of `T_w` rounds at
//! `beta` moves a colluder's windowed sum by `fraction * 2 * Th_w`), or the given `bias`. Each
//! round `l` is then lowered, if needed, so that the colluders' windowed sums stay within
//! `fraction * 2 * Th_w` of every honest machine's sum in every window: the adversary rebuilds
//! those sums exactly ([`super::window_tracker`]), so no honest reference can expel it. The
//! SafeguardSGD paper's own analysis says this much is always possible ("an attacker that stays
//! inside 2 Th is never expelled, and every window reset renews its budget").
//!
//! Cost: `O(h d)` a round, once for all colluders; memory `O((h + f) d)` per window.

use super::window_tracker::WhiteBox;
use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency, RoundView};
use crate::linalg::{Vector, norm};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The direction of the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BiasDirection {
    /// The fixed unit vector `(1, ..., 1) / sqrt(d)`: a constant bias.
    Ones,
    /// `-mu / ||mu||`, against the round's honest mean (an inner-product push).
    AgainstHonestMean,
}

/// `threshold_aware`: white-box, colluding: every colluder sends `mu + l * u` (`u`: `direction`,
/// a unit vector), with the bias `l` sized from the defense's public windows to stay just inside
/// `2 * Th`: at most `fraction * min_w (2 Th_w |good| / T_w)` (or `bias` if given), and lowered
/// each round so that the colluders' windowed sums, rebuilt exactly from the honest gradients,
/// stay within `fraction * 2 * Th` of every honest machine's sum. Never expelled by the
/// safeguard. Against a rule without windows it needs `bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdAwareParams {
    /// The bias norm per round (default: sized from the defense's windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<f64>,
    /// The fraction of `2 * Th` the colluders may use, in (0, 1) (default 0.95).
    pub fraction: f64,
    /// `ones` (a fixed direction, the default) or `against_honest_mean`.
    pub direction: BiasDirection,
}

impl Default for ThresholdAwareParams {
    fn default() -> Self {
        ThresholdAwareParams {
            bias: None,
            fraction: 0.95,
            direction: BiasDirection::Ones,
        }
    }
}

/// `Err` unless `0 < fraction < 1`.
pub(crate) fn check_fraction(fraction: f64) -> Result<(), ParamError> {
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(ParamError::new(
            "fraction",
            format!("expected a number in (0, 1), got {fraction}"),
        ))
    }
}

impl Params for ThresholdAwareParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        check_fraction(self.fraction)?;
        match (self.bias, ctx.aggregator) {
            (Some(b), _) => ParamError::require_positive("bias", b, true)?,
            (None, Some(rule)) if !ctx.aggregator_windows => {
                return Err(ParamError::new(
                    "bias",
                    format!(
                        "`threshold_aware` sizes its bias from the defense's windows, and `{rule}` publishes none: give `bias` (a norm per round, e.g. 0.5)"
                    ),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

impl AttackKind for ThresholdAwareParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        if self.bias.is_none() {
            let rule = ctx.fresh_aggregator()?;
            if rule.public_state().windows.is_empty() {
                return Err(
                    "`threshold_aware` sizes its bias from the defense's windows, and this defense publishes none: give `bias`"
                        .into(),
                );
            }
        }
        let attack = ThresholdAware {
            params: self.clone(),
            shared: WhiteBox::new(),
        };
        Ok(Adversaries::each(move |_| attack.clone()))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::Defense, Dependency::History]
    }
}

/// `fraction * min_w (2 Th_w |good| / T_w)`: the constant bias that uses `fraction` of every
/// window's expulsion radius over a whole window; `None` without windows.
pub fn window_bias(view: &RoundView, fraction: f64) -> Option<f64> {
    let good = view.aggregator.good.unwrap_or(view.good).max(1) as f64;
    view.aggregator
        .windows
        .iter()
        .map(|w| fraction * 2.0 * w.threshold * good / w.length.max(1) as f64)
        .reduce(f64::min)
}

/// The threshold-aware adversary (one per colluder, sharing one state).
#[derive(Debug, Clone)]
pub struct ThresholdAware {
    params: ThresholdAwareParams,
    shared: WhiteBox,
}

impl Adversary for ThresholdAware {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let p = &self.params;
        Some(self.shared.send(ctx.view, |tracker, view| {
            let mu = view.honest_mean();
            let u = match p.direction {
                BiasDirection::Ones => {
                    Vector::from_elem(view.dim(), 1.0 / (view.dim().max(1) as f64).sqrt())
                }
                BiasDirection::AgainstHonestMean => {
                    let n = norm(mu);
                    if n > 0.0 {
                        mu * (-1.0 / n)
                    } else {
                        Vector::zeros(view.dim())
                    }
                }
            };
            let cap = p
                .bias
                .or_else(|| window_bias(view, p.fraction))
                .unwrap_or(0.0);
            let l = tracker.step(view, mu, &u, cap, p.fraction);
            let mut v = mu.clone();
            v.scaled_add(l, &u);
            v
        }))
    }
    fn honest_round(&mut self, ctx: &mut AttackContext<'_>) {
        self.shared.honest_round(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{PublicState, WindowState};
    use crate::attack::tests::attack_once;
    use ndarray::array;
    use std::sync::Arc;

    fn view(round: u64, position: u64) -> RoundView {
        // Honest machines 0, 1 at +1, -1 in odd rounds and -1, +1 in even ones (mean 0);
        // colluders 2, 3; |good| = 4; one window of length 10 with threshold 1.
        let sign = if round % 2 == 1 { 1.0 } else { -1.0 };
        RoundView::new(
            round,
            Arc::new(Vector::zeros(1)),
            4,
            4,
            Arc::new(vec![(0, array![sign]), (1, array![-sign])]),
            Arc::new(vec![2, 3]),
            Arc::new(PublicState {
                good: Some(4),
                windows: vec![WindowState {
                    name: "short",
                    length: 10,
                    position,
                    threshold: 1.0,
                    scales_with_good: false,
                    reference: None,
                    distances: Vec::new(),
                }],
                ..PublicState::default()
            }),
        )
    }

    #[test]
    fn constant_bias_sized_from_the_window_then_clamped() {
        let a = ThresholdAware {
            params: ThresholdAwareParams {
                fraction: 0.5,
                ..Default::default()
            },
            shared: WhiteBox::new(),
        };
        // beta = 0.5 * 2 * 1 * 4 / 10 = 0.4 per round, direction (1) in one dimension.
        assert!((window_bias(&view(1, 0), 0.5).unwrap() - 0.4).abs() < 1e-15);
        let mut sent = Vec::new();
        for t in 1..=10u64 {
            let v = view(t, t - 1);
            let mut mine = a.clone();
            let mut other = a.clone();
            let x = attack_once(&mut mine, &v, &array![0.0]).unwrap();
            // The other colluder gets the same vector (computed once).
            assert_eq!(attack_once(&mut other, &v, &array![9.0]), Some(x.clone()));
            sent.push(x[0]);
        }
        // The honest sums are +-1/4 after odd rounds and 0 after even ones; radius
        // 0.5 * 2 * 1 = 1. The colluders' sum grows by 0.4 / 4 = 0.1 a round up to 0.7, then
        // is held at 0.75 (odd rounds) and 1 (even rounds).
        let mut s = 0.0;
        let mut sums = Vec::new();
        for x in &sent {
            s += x / 4.0;
            sums.push(s);
        }
        let want = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.75, 0.85];
        for (got, want) in sums.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{sums:?}");
        }
    }
}
