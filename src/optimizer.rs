//! The optimiser around the aggregation rule: what the machines send (worker momentum), how the
//! master steps (learning-rate schedule, server momentum, perturbation), and the scenario's
//! `optimizer` object that sets them.
//!
//! One round `t` (from 1), for honest machine `i` with stochastic gradient `g_{t,i}`:
//!
//! ```text
//! u_{t,i} = momentum_w(u_{t-1,i}, g_{t,i})         what machine i sends (u = g without momentum)
//! d_t     = aggregate(u_{t,i} over the good set)    the rule (mean, safeguard, ...)
//! v_t     = momentum_s(v_{t-1}, d_t)                server momentum (v = d without it)
//! x_t     = x_{t-1} - lr_t (xi_t + v_t),  xi_t ~ N(0, nu^2 I)
//! ```
//!
//! With the defaults (no momentum, constant `lr`) this is exactly SafeguardSGD's step
//! (Allen-Zhu et al., ICLR 2021, Algorithm 1: `x_{t+1} = x_t - eta (xi_t + mean)`).
//!
//! **Momentum, two conventions** ([`MomentumForm`]; the knob is `optimizer.momentum_form`, one
//! form for both momenta), both starting from a zero buffer:
//! - `ema` (the default): `m_t = beta m_{t-1} + (1 - beta) g_t`, the exponential moving average
//!   of Karimireddy, He & Jaggi, "Learning from History for Byzantine Robust Optimization"
//!   (ICML 2021), Algorithm 2. It keeps the scale of a gradient, so `lr` and the thresholds stay
//!   comparable with and without momentum (the first rounds are biased towards 0).
//! - `heavy_ball`: `m_t = beta m_{t-1} + g_t` (Polyak 1964; PyTorch's `SGD(momentum=beta)` with
//!   `dampening = 0`, whose first buffer is also `g_1`). Its vectors are up to `1 / (1 - beta)`
//!   times a gradient: divide `lr` by that to compare with `ema`.
//!
//! **Worker momentum** (`worker_momentum`) is kept by each machine, which sends its buffer
//! instead of its gradient: this is what "learning from history" defenses rely on (the buffer
//! averages the honest noise away, so honest vectors cluster more tightly than gradients do).
//! A Byzantine machine's own vector ([`crate::attack::AttackContext::own`]) is then the buffer an
//! honest machine in its place would send.
//!
//! **What the safeguard's windows accumulate** with worker momentum: the vectors the machines
//! send, i.e. the buffers, `A_i = sum_{k in window} u_{k,i} / |good_k|`. Summing the update over
//! a window `a..b` gives, for each machine,
//! `sum_{k=a..b} m_k = sum_{k=a..b} g_k + beta / (1 - beta) (m_{a-1} - m_b)` (`ema`) and
//! `sum_{k=a..b} m_k = (sum_{k=a..b} g_k + beta (m_{a-1} - m_b)) / (1 - beta)` (`heavy_ball`):
//! a window of buffers is the window of gradients plus a boundary term (times `1 / (1 - beta)`
//! for `heavy_ball`). A bias a Byzantine machine adds every round still grows linearly with the
//! window; the honest spread gains the boundary term, about `beta sqrt(2 / (1 - beta^2)) sigma`
//! (2.9 sigma at `beta = 0.9`), small against `sqrt(W) sigma` for windows of more than a few
//! tens of rounds. `theory` thresholds are computed from the gradient noise and ignore both
//! effects (scale them by `1 / (1 - beta)` yourself for `heavy_ball`); `oracle_pre_run`
//! thresholds come from a pre-run that uses the same worker momentum, server momentum and
//! schedule, so they measure what the windows will hold; `adaptive` thresholds are measured on
//! the run's own vectors. The safeguard's per-round filter bounds the noise of what machines
//! send: an `ema` buffer keeps a gradient's bound `V` (its weights sum to at most 1), a
//! `heavy_ball` buffer's is `V / (1 - beta)`, and the safeguard's default `noise_bound` is
//! scaled accordingly ([`Momentum::noise_scale`]).
//!
//! **Server momentum** (`server_momentum`) is kept by the master on the aggregate (as in
//! FedAvgM: Hsu, Qi & Brown 2019), outside the rule: the rule still sees the machines' vectors.
//! A round whose aggregate overflowed (no step taken, see the coordinator) adds a zero
//! direction to it.
//!
//! **Schedules** ([`Schedule`]): `constant`; `step` (`lr gamma^floor((t - 1) / every)`, PyTorch's
//! `StepLR`); `cosine` (`final_lr + (lr - final_lr) (1 + cos(pi (t - 1) / T)) / 2` with `T` the
//! run's rounds: cosine annealing without restarts, Loshchilov & Hutter, "SGDR", ICLR 2017, as
//! PyTorch's `CosineAnnealingLR` with `T_max = rounds`). The perturbation is multiplied by the
//! round's `lr_t`, as the paper multiplies it by `eta`.

use crate::linalg::Vector;
use crate::registry::{ParamError, Setting};
use crate::rng::SimRng;
use crate::scenario::{Tagged, TaggedEnum};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The scenario's `optimizer` object: `x <- x - lr_t (xi + v)`, `xi ~ N(0, perturbation^2 I)`,
/// with `v` the aggregate (or its server momentum) of the vectors the machines send (their
/// gradients, or their worker momentum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an object with `lr`")]
pub struct OptimizerSpec {
    /// Step size `eta` (the schedule's starting value).
    pub lr: f64,
    /// `nu`, the standard deviation of the Gaussian perturbation (multiplied by `lr`, as in
    /// Algorithm 1 of the paper).
    #[serde(default)]
    pub perturbation: f64,
    /// The run stops with status `diverged` when `||x||` exceeds this (or becomes non-finite).
    #[serde(default = "default_divergence")]
    pub divergence_norm: f64,
    /// Learning-rate schedule: `{"kind": "constant" | "step" | "cosine", ...}`.
    #[serde(default = "default_schedule")]
    pub schedule: Tagged<ScheduleSpec>,
    /// Worker momentum `beta` in [0, 1): each machine sends its momentum buffer instead of its
    /// gradient (0: the gradient itself, as in the paper).
    #[serde(default)]
    pub worker_momentum: f64,
    /// Server momentum `mu` in [0, 1), kept by the master on the aggregate (0: none).
    #[serde(default)]
    pub server_momentum: f64,
    /// The momentum convention, for both momenta: `ema` (`m = beta m + (1 - beta) g`,
    /// Karimireddy et al. 2021) or `heavy_ball` (`m = beta m + g`, PyTorch's SGD).
    #[serde(default)]
    pub momentum_form: MomentumForm,
}

fn default_divergence() -> f64 {
    1e6
}

fn default_schedule() -> Tagged<ScheduleSpec> {
    Tagged(ScheduleSpec::Constant(ConstantSchedule {}))
}

impl OptimizerSpec {
    /// Check the values; paths are relative to the `optimizer` object.
    pub fn check(&self) -> Result<(), ParamError> {
        ParamError::require_positive("lr", self.lr, false)?;
        ParamError::require_positive("perturbation", self.perturbation, true)?;
        ParamError::require_positive("divergence_norm", self.divergence_norm, false)?;
        for (field, beta) in [
            ("worker_momentum", self.worker_momentum),
            ("server_momentum", self.server_momentum),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(ParamError::new(
                    field,
                    format!("expected a momentum in [0, 1), got {beta}"),
                ));
            }
        }
        self.schedule.0.check("schedule")
    }

    /// The checked settings every part of a run reads (see [`Setting::optimizer`]).
    pub fn optimizer(&self) -> Optimizer {
        Optimizer {
            schedule: self.schedule.0.schedule(),
            worker_momentum: Momentum {
                beta: self.worker_momentum,
                form: self.momentum_form,
            },
            server_momentum: Momentum {
                beta: self.server_momentum,
                form: self.momentum_form,
            },
        }
    }
}

/// A learning-rate schedule, as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ScheduleSpec {
    /// `lr` every round.
    Constant(ConstantSchedule),
    /// `lr * gamma^floor((t - 1) / every)` at round `t` (PyTorch's `StepLR`).
    Step(StepSchedule),
    /// `final_lr + (lr - final_lr) (1 + cos(pi (t - 1) / rounds)) / 2` at round `t`: cosine
    /// annealing over the run (Loshchilov & Hutter 2017; PyTorch's `CosineAnnealingLR`).
    Cosine(CosineSchedule),
}
impl TaggedEnum for ScheduleSpec {
    const TAG: &'static str = "kind";
}

/// The constant schedule (no parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstantSchedule {}

/// Step decay parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSchedule {
    /// Rounds between two decays.
    pub every: u64,
    /// The factor applied at each decay (default 0.1).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

fn default_gamma() -> f64 {
    0.1
}

/// Cosine annealing parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CosineSchedule {
    /// The learning rate the schedule anneals to at the end of the run.
    pub final_lr: f64,
}
impl Default for CosineSchedule {
    fn default() -> Self {
        CosineSchedule { final_lr: 0.0 }
    }
}

impl ScheduleSpec {
    /// Check the values; `field` is the path of the schedule object.
    pub fn check(&self, field: &str) -> Result<(), ParamError> {
        match self {
            ScheduleSpec::Constant(_) => Ok(()),
            ScheduleSpec::Step(s) => {
                if s.every == 0 {
                    return Err(ParamError::new(
                        format!("{field}.every"),
                        "expected at least 1 round",
                    ));
                }
                ParamError::require_positive(&format!("{field}.gamma"), s.gamma, false)
            }
            ScheduleSpec::Cosine(c) => {
                ParamError::require_positive(&format!("{field}.final_lr"), c.final_lr, true)
            }
        }
    }
    /// The schedule it describes.
    pub fn schedule(&self) -> Schedule {
        match self {
            ScheduleSpec::Constant(_) => Schedule::Constant,
            ScheduleSpec::Step(s) => Schedule::Step {
                every: s.every,
                gamma: s.gamma,
            },
            ScheduleSpec::Cosine(c) => Schedule::Cosine {
                final_lr: c.final_lr,
            },
        }
    }
}

/// A learning-rate schedule (checked: `every >= 1`, `gamma > 0`, `final_lr >= 0`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// `lr` every round.
    #[default]
    Constant,
    /// `lr * gamma^floor((t - 1) / every)`.
    Step {
        /// Rounds between decays.
        every: u64,
        /// Factor of each decay.
        gamma: f64,
    },
    /// `final_lr + (lr - final_lr) (1 + cos(pi (t - 1) / rounds)) / 2`.
    Cosine {
        /// The value it anneals to.
        final_lr: f64,
    },
}

impl Schedule {
    /// The learning rate of round `round` (from 1) of a run of `rounds` rounds starting at `lr`.
    /// `Constant` returns `lr` itself (bit for bit).
    pub fn lr(&self, lr: f64, round: u64, rounds: u64) -> f64 {
        let t = round.saturating_sub(1);
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => {
                let decays = t / every.max(1);
                lr * gamma.powf(decays as f64)
            }
            Schedule::Cosine { final_lr } => {
                let progress = t as f64 / rounds.max(1) as f64;
                final_lr + (lr - final_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

/// The momentum convention (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum MomentumForm {
    /// `m_t = beta m_{t-1} + (1 - beta) g_t` (Karimireddy, He & Jaggi, ICML 2021).
    #[default]
    Ema,
    /// `m_t = beta m_{t-1} + g_t` (Polyak's heavy ball; PyTorch's SGD with `dampening = 0`).
    HeavyBall,
}

/// A momentum coefficient and its convention. `beta = 0` means no momentum.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Momentum {
    /// The coefficient, in `[0, 1)`.
    pub beta: f64,
    /// The convention.
    pub form: MomentumForm,
}

impl Momentum {
    /// The factor from a bound `V` on the gradient noise (`||g_t - grad f(x_t)|| <= V`) to a bound
    /// on the buffer's noise, `||m_t - (the same recurrence on the true gradients)||`: the sum of
    /// the weights, `sum_k w beta^k` with `w` the weight of a new gradient; `1` for `ema`
    /// (`(1 - beta) sum_k beta^k <= 1`) and without momentum, `1 / (1 - beta)` for `heavy_ball`.
    pub fn noise_scale(&self) -> f64 {
        match self.form {
            MomentumForm::HeavyBall if self.beta > 0.0 => 1.0 / (1.0 - self.beta),
            _ => 1.0,
        }
    }
}

/// A momentum buffer, from zero: [`MomentumBuffer::push`] adds one round's vector.
#[derive(Debug, Clone, Default)]
pub struct MomentumBuffer {
    momentum: Momentum,
    buffer: Option<Vector>,
}

impl MomentumBuffer {
    /// An empty buffer (`m_0 = 0`).
    pub fn new(momentum: Momentum) -> Self {
        MomentumBuffer {
            momentum,
            buffer: None,
        }
    }

    /// Add this round's vector `g` and return the new buffer `m_t`. Without momentum
    /// (`beta = 0`) it returns `g` itself, untouched, and keeps nothing.
    pub fn push(&mut self, g: Vector) -> Vector {
        let Momentum { beta, form } = self.momentum;
        if beta == 0.0 {
            return g;
        }
        let weight = match form {
            MomentumForm::Ema => 1.0 - beta,
            MomentumForm::HeavyBall => 1.0,
        };
        let m = match self.buffer.take() {
            // m_0 = 0, so m_1 = weight * g.
            None => g * weight,
            Some(mut m) if m.len() == g.len() => {
                m *= beta;
                m.scaled_add(weight, &g);
                m
            }
            // A vector of another length cannot extend the buffer: start again from it.
            Some(_) => g * weight,
        };
        self.buffer = Some(m.clone());
        m
    }

    /// The current buffer (`None` before the first push, or without momentum).
    pub fn buffer(&self) -> Option<&Vector> {
        self.buffer.as_ref()
    }
}

/// The optimiser settings beyond `lr` and `perturbation` (which [`Setting`] holds itself).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Optimizer {
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// What each machine keeps and sends (no momentum: its gradient).
    pub worker_momentum: Momentum,
    /// What the master keeps on the aggregate.
    pub server_momentum: Momentum,
}

/// The master's step: `x_t = x_{t-1} - lr_t (xi_t + v_t)`, with `v_t` the server momentum of the
/// aggregates and `xi_t ~ N(0, nu^2 I)` drawn from its own stream (nothing is drawn when
/// `nu = 0`). Used by the coordinator and by the safeguard's calibration pre-run.
#[derive(Debug)]
pub struct ServerOptimizer {
    lr: f64,
    perturbation: f64,
    schedule: Schedule,
    rounds: u64,
    momentum: MomentumBuffer,
    rng: SimRng,
}

impl ServerOptimizer {
    /// The step of a run of `rounds` rounds with base step `lr`, perturbation `perturbation`
    /// (drawn from `rng`), `schedule` and `server_momentum`.
    pub fn new(
        lr: f64,
        perturbation: f64,
        schedule: Schedule,
        server_momentum: Momentum,
        rounds: u64,
        rng: SimRng,
    ) -> Self {
        ServerOptimizer {
            lr,
            perturbation,
            schedule,
            rounds,
            momentum: MomentumBuffer::new(server_momentum),
            rng,
        }
    }

    /// The step of the run described by `setting`, drawing the perturbation from `rng`.
    pub fn from_setting(setting: &Setting, rng: SimRng) -> Self {
        ServerOptimizer::new(
            setting.lr,
            setting.perturbation,
            setting.optimizer.schedule,
            setting.optimizer.server_momentum,
            setting.rounds,
            rng,
        )
    }

    /// The learning rate of round `round`.
    pub fn lr(&self, round: u64) -> f64 {
        self.schedule.lr(self.lr, round, self.rounds)
    }

    /// The parameters after round `round`'s step from `x` along the aggregate `direction`.
    pub fn step(&mut self, x: &Vector, direction: Vector, round: u64) -> Vector {
        let mut step = self.momentum.push(direction);
        if self.perturbation > 0.0 {
            let nu = self.perturbation;
            let rng = &mut self.rng;
            step += &Vector::from_shape_simple_fn(x.len(), || nu * crate::rng::normal(rng));
        }
        x - &(step * self.lr(round))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use ndarray::array;

    #[test]
    fn schedules_on_known_rounds() {
        let c = Schedule::Constant;
        assert_eq!(c.lr(0.3, 1, 10), 0.3);
        assert_eq!(c.lr(0.3, 10, 10), 0.3);
        let s = Schedule::Step {
            every: 100,
            gamma: 0.5,
        };
        assert_eq!(s.lr(0.8, 1, 1000), 0.8);
        assert_eq!(s.lr(0.8, 100, 1000), 0.8);
        assert_eq!(s.lr(0.8, 101, 1000), 0.4);
        assert_eq!(s.lr(0.8, 250, 1000), 0.2);
        let cos = Schedule::Cosine { final_lr: 0.1 };
        assert_eq!(cos.lr(1.1, 1, 100), 1.1);
        // Half way (t - 1 = T / 2): the mean of the two ends.
        assert!((cos.lr(1.1, 51, 100) - 0.6).abs() < 1e-15);
        // The last round: (1 + cos(pi (T - 1) / T)) / 2 of the way from final_lr.
        let want = 0.1 + 0.5 * (1.0 + (std::f64::consts::PI * 0.99).cos());
        assert!((cos.lr(1.1, 100, 100) - want).abs() < 1e-15);
        // Decreasing throughout.
        let lrs: Vec<f64> = (1..=100).map(|t| cos.lr(1.1, t, 100)).collect();
        assert!(lrs.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn momentum_buffers_follow_their_recurrences() {
        let g = [array![1.0, 0.0], array![0.0, 2.0], array![4.0, 4.0]];
        // EMA with beta 0.5: m1 = g1/2, m2 = m1/2 + g2/2, m3 = m2/2 + g3/2.
        let mut ema = MomentumBuffer::new(Momentum {
            beta: 0.5,
            form: MomentumForm::Ema,
        });
        let out: Vec<Vector> = g.iter().map(|v| ema.push(v.clone())).collect();
        assert_eq!(out[0], array![0.5, 0.0]);
        assert_eq!(out[1], array![0.25, 1.0]);
        assert_eq!(out[2], array![2.125, 2.5]);
        assert_eq!(ema.buffer(), Some(&out[2]));
        // Heavy ball with beta 0.5: m1 = g1, m2 = m1/2 + g2, m3 = m2/2 + g3.
        let mut hb = MomentumBuffer::new(Momentum {
            beta: 0.5,
            form: MomentumForm::HeavyBall,
        });
        let out: Vec<Vector> = g.iter().map(|v| hb.push(v.clone())).collect();
        assert_eq!(out[0], array![1.0, 0.0]);
        assert_eq!(out[1], array![0.5, 2.0]);
        assert_eq!(out[2], array![4.25, 5.0]);
        assert_eq!(
            Momentum {
                beta: 0.5,
                form: MomentumForm::HeavyBall
            }
            .noise_scale(),
            2.0
        );
        assert_eq!(ema.momentum.noise_scale(), 1.0);
        // No momentum: the vector itself, nothing kept.
        let mut none = MomentumBuffer::new(Momentum::default());
        assert_eq!(none.push(g[2].clone()), g[2]);
        assert!(none.buffer().is_none());
    }

    #[test]
    fn window_sum_identities_of_the_module_docs() {
        // sum_{a..b} m = sum_{a..b} g + beta/(1-beta) (m_{a-1} - m_b) (EMA), and
        // sum_{a..b} m = (sum_{a..b} g + beta (m_{a-1} - m_b)) / (1 - beta) (heavy ball).
        let gs: Vec<Vector> = (0..12)
            .map(|k| array![(k as f64 * 0.7).sin(), (k as f64 * 1.3).cos()])
            .collect();
        for form in [MomentumForm::Ema, MomentumForm::HeavyBall] {
            let beta = 0.8;
            let mut buf = MomentumBuffer::new(Momentum { beta, form });
            let ms: Vec<Vector> = gs.iter().map(|g| buf.push(g.clone())).collect();
            let (a, b) = (4, 10);
            let sum_m: Vector = ms[a..=b].iter().fold(Vector::zeros(2), |s, m| s + m);
            let sum_g: Vector = gs[a..=b].iter().fold(Vector::zeros(2), |s, g| s + g);
            let boundary = &ms[a - 1] - &ms[b];
            let want = match form {
                MomentumForm::Ema => sum_g + boundary * (beta / (1.0 - beta)),
                MomentumForm::HeavyBall => (sum_g + boundary * beta) / (1.0 - beta),
            };
            assert!(crate::linalg::distance(&sum_m, &want) < 1e-12, "{form:?}");
        }
    }

    #[test]
    fn server_step_with_momentum_and_schedule() {
        let mut opt = ServerOptimizer::new(
            0.5,
            0.0,
            Schedule::Step {
                every: 1,
                gamma: 0.5,
            },
            Momentum {
                beta: 0.5,
                form: MomentumForm::HeavyBall,
            },
            10,
            stream(1, 1),
        );
        let x0 = array![1.0, 1.0];
        // Round 1: v = d, lr 0.5.
        let x1 = opt.step(&x0, array![1.0, 0.0], 1);
        assert_eq!(x1, array![0.5, 1.0]);
        // Round 2: v = 0.5 v + d = (0.5, 2), lr 0.25.
        let x2 = opt.step(&x1, array![0.0, 2.0], 2);
        assert_eq!(x2, array![0.375, 0.5]);
        // Without momentum and schedule, the paper's step: x - lr (xi + d), xi from the stream.
        let mut plain = ServerOptimizer::new(
            0.1,
            0.3,
            Schedule::Constant,
            Momentum::default(),
            10,
            stream(2, 7),
        );
        let mut rng = stream(2, 7);
        let xi = Vector::from_shape_simple_fn(2, || 0.3 * crate::rng::normal(&mut rng));
        let want = &x0 - &((array![1.0, -1.0] + xi) * 0.1);
        assert_eq!(plain.step(&x0, array![1.0, -1.0], 1), want);
    }

    #[test]
    fn bad_values_name_their_field() {
        let spec = |extra: &str| -> OptimizerSpec {
            serde_json::from_str(&format!("{{\"lr\": 0.1{extra}}}")).unwrap()
        };
        assert!(spec("").check().is_ok());
        let e = spec(", \"worker_momentum\": 1.0").check().unwrap_err();
        assert_eq!(e.path, "worker_momentum");
        assert!(e.message.contains("[0, 1)"), "{}", e.message);
        let e = spec(", \"server_momentum\": -0.1").check().unwrap_err();
        assert_eq!(e.path, "server_momentum");
        let e = spec(", \"schedule\": {\"kind\": \"step\", \"every\": 0}")
            .check()
            .unwrap_err();
        assert_eq!(e.path, "schedule.every");
        let e = spec(", \"schedule\": {\"kind\": \"step\", \"every\": 5, \"gamma\": 0}")
            .check()
            .unwrap_err();
        assert_eq!(e.path, "schedule.gamma");
        let e = spec(", \"schedule\": {\"kind\": \"cosine\", \"final_lr\": -1}")
            .check()
            .unwrap_err();
        assert_eq!(e.path, "schedule.final_lr");
        let o = spec(", \"worker_momentum\": 0.9, \"momentum_form\": \"heavy_ball\"").optimizer();
        assert_eq!(o.worker_momentum.beta, 0.9);
        assert_eq!(o.server_momentum.form, MomentumForm::HeavyBall);
    }
}
