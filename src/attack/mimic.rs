//! `mimic`: every Byzantine machine sends a copy of one honest machine's gradient
//! (S. P. Karimireddy, L. He, M. Jaggi, *Byzantine-Robust Learning on Heterogeneous Datasets via
//! Bucketing*, ICLR 2022, Section 3 "mimic attack"). Over-representing one honest machine biases
//! the aggregate towards that machine's data: harmless with i.i.d. data, harmful with
//! heterogeneous shards, and invisible to any rule that only looks at vectors.
//!
//! Two forms:
//! - static (`warmup` 0): the copied machine is `target`;
//! - time-coupled (`warmup` W > 0, the paper's variant): during the first W rounds of the attack
//!   the colluders learn the direction `z` of largest spread of the honest gradients by a
//!   running power iteration, and each round copy the honest machine whose gradient has the
//!   largest inner product with `z`; from then on they keep copying the last machine chosen, so
//!   that the bias adds up along `z` over time. Following the authors' code
//!   (epfml/byzantine-robust-noniid-optimizer): `z_0` is a standard normal vector (drawn from the
//!   colluders' shared stream), `mu` is the running mean of the rounds' honest means, and each
//!   warm-up round `z <- normalise(t/(t+1) z + 1/(t+1) normalise(sum_i <g_i - mu, z> (g_i - mu)))`.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Collusion, Dependency, RoundView};
use crate::linalg::{Vector, norm};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::rng::{SimRng, streams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `mimic`: every Byzantine machine sends a copy of one honest machine's gradient (Karimireddy,
/// He & Jaggi, ICLR 2022). Static with `warmup` 0: the machine `target` (default 0; if it is
/// expelled, the lowest honest id left). Time-coupled with `warmup` W > 0: for W rounds the
/// colluders learn the direction `z` of largest spread of the honest gradients (running power
/// iteration) and copy the honest machine with the largest `<g_i, z>`; afterwards they keep
/// copying the last one chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MimicParams {
    /// The honest machine copied by the static form (default 0); not allowed with `warmup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// Rounds of the time-coupled variant's warm-up (0: the static form, the default).
    pub warmup: u64,
}

impl Params for MimicParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        if self.warmup > 0 {
            if self.target.is_some() {
                return Err(ParamError::new(
                    "target",
                    "the time-coupled variant (warmup > 0) chooses its target: remove `target` or set warmup to 0",
                ));
            }
            return Ok(());
        }
        let target = *self.target.get_or_insert(0);
        if target >= ctx.setting.honest {
            return Err(ParamError::new(
                "target",
                format!(
                    "expected an honest machine id, 0 to {}, got {target}",
                    ctx.setting.honest.saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }
}

impl AttackKind for MimicParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        let attack = Mimic {
            target: self.target.unwrap_or(0),
            warmup: self.warmup,
            shared: Collusion::new(Learned::new(ctx.stream(streams::COLLUSION))),
        };
        Ok(Adversaries::each(move |_| attack.clone()))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        if self.warmup > 0 {
            vec![Dependency::History, Dependency::Randomness]
        } else {
            Vec::new()
        }
    }
}

/// What the colluders of the time-coupled variant learn (shared, updated once per round).
#[derive(Debug)]
struct Learned {
    rng: SimRng,
    /// Warm-up rounds seen so far.
    t: u64,
    mu: Vector,
    z: Vector,
    /// The honest machine copied (the last one chosen).
    target: Option<usize>,
}

/// `sum_i <g_i - mu, z> (g_i - mu)`, normalised (zero if it vanishes).
fn power_step(view: &RoundView, mu: &Vector, z: &Vector) -> Vector {
    let mut acc = Vector::zeros(view.dim());
    for (_, g) in view.honest.iter() {
        let c = g - mu;
        let w = c.dot(z);
        acc.scaled_add(w, &c);
    }
    let n = norm(&acc);
    if n > 0.0 { acc / n } else { acc }
}

impl Learned {
    /// Nothing learned yet; `rng` is the colluders' shared stream.
    fn new(rng: SimRng) -> Self {
        Learned {
            rng,
            t: 0,
            mu: Vector::zeros(0),
            z: Vector::zeros(0),
            target: None,
        }
    }

    /// One warm-up round: update `mu` and `z`, and choose the target.
    fn warm_up(&mut self, view: &RoundView) {
        let mean = view.honest_mean();
        if self.t == 0 {
            self.mu = mean.clone();
            let rng = &mut self.rng;
            let z0: Vector = Vector::from_shape_simple_fn(view.dim(), || crate::rng::normal(rng));
            self.z = power_step(view, &self.mu, &z0);
        } else {
            let t = self.t as f64;
            self.mu = &self.mu * (t / (t + 1.0)) + &(mean / (t + 1.0));
            let step = power_step(view, &self.mu, &self.z);
            let z = &self.z * (t / (t + 1.0)) + &(step / (t + 1.0));
            let n = norm(&z);
            self.z = if n > 0.0 { z / n } else { z };
        }
        self.t += 1;
        // The honest machine with the largest <g_i, z> (lowest id on ties).
        let mut best: Option<(usize, f64)> = None;
        for (id, g) in view.honest.iter() {
            let d = g.dot(&self.z);
            if best.is_none_or(|(_, b)| d > b) {
                best = Some((*id, d));
            }
        }
        self.target = best.map(|(id, _)| id);
    }
}

/// The mimic adversary (one per colluder; the variant's learning is shared).
#[derive(Debug, Clone)]
pub struct Mimic {
    target: usize,
    warmup: u64,
    shared: Collusion<Learned>,
}

/// The gradient of honest machine `id` this round, or of the lowest honest id left.
fn copy_of(view: &RoundView, id: usize) -> Option<Vector> {
    match view.honest.binary_search_by_key(&id, |(i, _)| *i) {
        Ok(k) => Some(view.honest[k].1.clone()),
        Err(_) => view.honest.first().map(|(_, g)| g.clone()),
    }
}

impl Adversary for Mimic {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let view = ctx.view;
        let target = if self.warmup == 0 {
            self.target
        } else {
            let warmup = self.warmup;
            self.shared.round(
                view.round,
                |s| {
                    if s.t < warmup {
                        s.warm_up(view);
                    }
                },
                |s| s.target.unwrap_or(0),
            )
        };
        copy_of(view, target).or_else(|| Some(ctx.own.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, view_with};
    use ndarray::array;

    #[test]
    fn static_copies_the_target_or_the_lowest_honest_left() {
        let v = view_with(vec![array![1.0, 0.0], array![0.0, 1.0]]);
        let mut m = Mimic {
            target: 1,
            warmup: 0,
            shared: Collusion::new(Learned::new(crate::rng::stream(1, 1))),
        };
        assert_eq!(
            attack_once(&mut m, &v, &array![9.0, 9.0]),
            Some(array![0.0, 1.0])
        );
        m.target = 5;
        assert_eq!(
            attack_once(&mut m, &v, &array![9.0, 9.0]),
            Some(array![1.0, 0.0])
        );
    }

    #[test]
    fn variant_learns_the_direction_of_spread_then_keeps_its_target() {
        // Honest gradients spread along the first axis (machine 2 farthest along +x); the second
        // axis carries the same value for everyone. The learned z is +-x; the target is the
        // machine with the largest <g, z>: machine 2 if z = +x, machine 0 if z = -x.
        let honest = |round: u64| {
            let s = if round.is_multiple_of(2) { 1.0 } else { 0.9 };
            vec![
                array![-2.0 * s, 1.0],
                array![0.1, 1.0],
                array![2.0 * s, 1.0],
            ]
        };
        let mut m = Mimic {
            target: 0,
            warmup: 3,
            shared: Collusion::new(Learned::new(crate::rng::stream(5, streams::COLLUSION))),
        };
        let mut picks = Vec::new();
        for round in 1..=6u64 {
            let mut v = view_with(honest(round));
            v.round = round;
            let got = attack_once(&mut m, &v, &array![0.0, 0.0]).unwrap();
            picks.push(got[0].signum() as i32);
        }
        let z = m.shared.round(0, |_| (), |s| s.z.clone());
        assert!(z[0].abs() > 0.999, "z = {z}");
        // It copies an extreme machine (never the middle one), the one on the +z side...
        let side = z[0].signum() as i32;
        assert!(picks.iter().all(|&p| p == side), "{picks:?}");
        // ... and after the warm-up keeps the same machine even if another scores higher.
        let mut v = view_with(vec![array![5.0, 1.0], array![0.1, 1.0], array![-5.0, 1.0]]);
        v.round = 7;
        let got = attack_once(&mut m, &v, &array![0.0, 0.0]).unwrap();
        let kept = if side > 0 { -5.0 } else { 5.0 };
        assert_eq!(got[0], kept);
    }
}
