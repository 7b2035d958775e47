//! The `safeguard` kind's parameters, their checks, and the construction of the rule (with the
//! calibration pre-run when the thresholds ask for it).

use super::calibrate::PreRun;
use super::modes::{check_factor, paper_threshold};
use super::{Filter, NoReference, Safeguard, SafeguardConfig, Thresholds, Variant, calibrate};
use crate::aggregate::{Aggregator, AggregatorKind};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::scenario::Tagged;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::modes::{
    AdaptiveThreshold, FixedThreshold, OraclePreRunThreshold, PaperThreshold, StatisticSpec,
    TheoryThreshold, ThresholdSpec,
};

/// Algorithm 1 (two windows) or Algorithm 2 (one window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VariantSpec {
    /// Algorithm 1, double safeguard: windows `window_long` (T1) and `window_short` (T0).
    Double,
    /// Algorithm 2, single safeguard: the window `window_short` only.
    Single,
}

/// What to do when no machine qualifies as reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoReferenceSpec {
    /// Use the machine with the most neighbours as reference (the workaround of the epfml
    /// re-implementation).
    MostNeighbours,
    /// Expel nobody through that window that round (the default).
    KeepAll,
}

/// `safeguard`: SafeguardSGD (Z. Allen-Zhu, F. Ebrahimian, J. Li, D. Alistarh, ICLR 2021):
/// windowed sums of each machine's gradients, a reference machine with more than m/2 machines
/// within the threshold, permanent expulsion beyond twice the threshold, mean over the good set.
/// Two additions, each with a knob: the per-round `filter` (the paper's w.l.o.g. of Assumption
/// 2.1: a vector not within 2V of more than half of the round's vectors leaves the step) and the
/// `guard` (window expulsions never leave m/2 machines or fewer). Cost: O(m d) a round in the
/// steady state (O(m^2 d) when no reference qualifies, or with the filter's estimated radius).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SafeguardParams {
    /// `double` (Algorithm 1) or `single` (Algorithm 2).
    #[serde(default = "default_variant")]
    pub variant: VariantSpec,
    /// `T1`, the long window in rounds (double only; must be >= `window_short`; default 6 x
    /// `window_short`, the paper's 6 epochs against 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_long: Option<u64>,
    /// `T0`, the short window in rounds.
    pub window_short: u64,
    /// Thresholds `Th1`, `Th0`: `{"mode": "fixed" | "theory" | "paper" | "oracle_pre_run" |
    /// "adaptive", ...}`.
    pub threshold: Tagged<ThresholdSpec>,
    /// What a window does when no machine qualifies as reference (the algorithm is undefined
    /// there): `keep_all` (default: expel nobody through it that round) or `most_neighbours`
    /// (take the machine with the most neighbours as reference). The README's table shows why.
    #[serde(default = "default_no_reference")]
    pub on_no_reference: NoReferenceSpec,
    /// The per-round filter (the paper's w.l.o.g. of Assumption 2.1): before the step, drop each
    /// vector that is not within 2V of more than half of the round's vectors; it still enters the
    /// windows. `false` gives Algorithm 1 as printed.
    #[serde(default = "yes")]
    pub filter: bool,
    /// `V`, the bound on an honest gradient's noise, `||g - grad f|| <= V` (Assumption 2.1), for
    /// the filter (radius 2V) and the `paper` thresholds. Default: the problem's bound (bounded
    /// noise: its radius), times `1 / (1 - beta)` with `heavy_ball` worker momentum (the bound on
    /// a buffer's noise; an `ema` buffer keeps the gradient's bound). Without one, the filter takes 2V from the `oracle_pre_run` pre-run
    /// (the largest distance between two honest gradients of a round), or else estimates it from
    /// each round's own vectors (O(m^2 d) a round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_bound: Option<f64>,
    /// Never let window expulsions leave m/2 machines or fewer in the good set: such an
    /// expulsion contradicts the honest majority the algorithm assumes; the most deviant
    /// machines go first, the others are withheld and counted. `false` gives Algorithm 1 as
    /// printed.
    #[serde(default = "yes")]
    pub guard: bool,
}

fn yes() -> bool {
    true
}

fn default_variant() -> VariantSpec {
    VariantSpec::Double
}
/// `keep_all`: in the README's tight-threshold table it expels fewer honest machines than
/// `most_neighbours` in every case, as many Byzantine ones or more, and ends at a lower loss.
fn default_no_reference() -> NoReferenceSpec {
    NoReferenceSpec::KeepAll
}

impl Params for SafeguardParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let (honest, byzantine) = (ctx.setting.honest, ctx.setting.byzantine);
        if byzantine >= honest {
            return Err(ParamError::scenario(
                "workers.byzantine",
                format!(
                    "the safeguard needs fewer Byzantine than honest machines (alpha < 1/2); got {byzantine} of {}",
                    ctx.setting.machines()
                ),
            ));
        }
        if self.window_short == 0 {
            return Err(ParamError::new("window_short", "expected at least 1 round"));
        }
        match self.variant {
            VariantSpec::Double => {
                let t1 = self
                    .window_long
                    .unwrap_or(self.window_short.saturating_mul(6));
                if t1 < self.window_short {
                    return Err(ParamError::new(
                        "window_long",
                        format!(
                            "the long window ({t1}) must be at least the short one ({}): T1 >= T0",
                            self.window_short
                        ),
                    ));
                }
                self.window_long = Some(t1);
            }
            VariantSpec::Single => {
                if self.window_long.is_some() {
                    return Err(ParamError::new(
                        "window_long",
                        "the single safeguard has one window (window_short); remove window_long",
                    ));
                }
            }
        }
        if let Some(v) = self.noise_bound {
            ParamError::require_positive("noise_bound", v, true)?;
        } else {
            // V bounds what the machines send: with heavy-ball worker momentum a buffer's noise
            // is up to 1/(1 - beta) times a gradient's (see the optimizer module).
            let scale = ctx.setting.optimizer.worker_momentum.noise_scale();
            self.noise_bound = ctx.problem.and_then(|p| p.noise_bound).map(|v| v * scale);
        }
        let longest = self.window_long.unwrap_or(self.window_short);
        let noise_bound = self.noise_bound;
        match &mut self.threshold.0 {
            ThresholdSpec::Fixed(f) => {
                ParamError::require_positive("threshold.short", f.short, false)?;
                match (self.variant, f.long) {
                    (VariantSpec::Double, None) => {
                        return Err(ParamError::new(
                            "threshold",
                            "missing field `long` (Th1 of the long window)",
                        ));
                    }
                    (VariantSpec::Double, Some(l)) => {
                        ParamError::require_positive("threshold.long", l, false)?;
                        if l < f.short {
                            return Err(ParamError::new(
                                "threshold.long",
                                format!("Th1 ({l}) must be at least Th0 ({})", f.short),
                            ));
                        }
                    }
                    (VariantSpec::Single, Some(_)) => {
                        return Err(ParamError::new(
                            "threshold.long",
                            "the single safeguard has no long window; remove `long`",
                        ));
                    }
                    (VariantSpec::Single, None) => {}
                }
            }
            ThresholdSpec::Theory(t) => {
                ParamError::require_positive("threshold.c", t.c, false)?;
                match t.sigma {
                    Some(s) => ParamError::require_positive("threshold.sigma", s, false)?,
                    None => {
                        let sigma = ctx.problem.and_then(|p| p.noise_level).unwrap_or(0.0);
                        if sigma <= 0.0 || !sigma.is_finite() {
                            return Err(ParamError::new(
                                "threshold.sigma",
                                "the problem states no gradient noise: give sigma > 0",
                            ));
                        }
                        t.sigma = Some(sigma);
                    }
                }
            }
            ThresholdSpec::Paper(p) => {
                if !(p.p > 0.0 && p.p < 1.0) {
                    return Err(ParamError::new(
                        "threshold.p",
                        format!("expected a failure probability 0 < p < 1, got {}", p.p),
                    ));
                }
                match noise_bound {
                    Some(v) if v > 0.0 => {}
                    Some(_) => {
                        return Err(ParamError::new(
                            "noise_bound",
                            "the `paper` thresholds are 8 V sqrt(W ln(16 m T / p)): they need a noise bound V > 0",
                        ));
                    }
                    None => {
                        return Err(ParamError::new(
                            "noise_bound",
                            "the `paper` thresholds need the noise bound V, and the problem states none (its noise is not bounded): give `noise_bound`",
                        ));
                    }
                }
            }
            ThresholdSpec::OraclePreRun(c) => {
                check_factor(c.factor)?;
                let r = c.rounds.unwrap_or(longest.saturating_mul(2));
                if r < longest || r > 100_000_000 {
                    return Err(ParamError::new(
                        "threshold.rounds",
                        format!(
                            "the pre-run must cover the longest window ({longest} rounds) and be at most 100000000; got {r}"
                        ),
                    ));
                }
                c.rounds = Some(r);
            }
            ThresholdSpec::Adaptive(a) => check_factor(a.factor)?,
        }
        Ok(())
    }
}

impl SafeguardParams {
    /// The checked configuration for a run of `machines` machines and `rounds` rounds, with the
    /// thresholds it can resolve without a pre-run (every mode but `oracle_pre_run`, whose
    /// thresholds are zero here and resolved by [`AggregatorKind::build`]). Without a noise bound,
    /// the filter is [`Filter::Estimated`] here; `build` takes the pre-run's measurement instead
    /// when there is one.
    pub fn config(&self, machines: usize, rounds: u64) -> SafeguardConfig {
        let variant = match self.variant {
            VariantSpec::Double => Variant::Double,
            VariantSpec::Single => Variant::Single,
        };
        let t1 = self.window_long.unwrap_or(self.window_short);
        let t0 = self.window_short;
        let thresholds = match &self.threshold.0 {
            ThresholdSpec::Fixed(f) => Thresholds::Fixed {
                long: f.long.unwrap_or(f.short),
                short: f.short,
            },
            ThresholdSpec::Theory(t) => {
                let s = t.sigma.unwrap_or(0.0);
                Thresholds::PerGood {
                    long: t.c * s * (t1 as f64).sqrt(),
                    short: t.c * s * (t0 as f64).sqrt(),
                }
            }
            ThresholdSpec::Paper(p) => {
                let v = self.noise_bound.unwrap_or(0.0);
                Thresholds::Fixed {
                    long: paper_threshold(v, t1, machines, rounds, p.p),
                    short: paper_threshold(v, t0, machines, rounds, p.p),
                }
            }
            ThresholdSpec::OraclePreRun(_) => Thresholds::PerGood {
                long: 0.0,
                short: 0.0,
            },
            ThresholdSpec::Adaptive(a) => Thresholds::Adaptive { factor: a.factor },
        };
        let on_no_reference = match self.on_no_reference {
            NoReferenceSpec::MostNeighbours => NoReference::MostNeighbours,
            NoReferenceSpec::KeepAll => NoReference::KeepAll,
        };
        let filter = match (self.filter, self.noise_bound) {
            (false, _) => Filter::Off,
            (true, Some(v)) => Filter::Radius(2.0 * v),
            (true, None) => Filter::Estimated,
        };
        SafeguardConfig {
            variant,
            window_long: t1,
            window_short: t0,
            thresholds,
            on_no_reference,
            filter,
            guard: self.guard,
        }
    }
}

impl AggregatorKind for SafeguardParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        let s = ctx.setting;
        let mut config = self.config(s.machines(), s.rounds);
        let mut report = Vec::new();
        let mut source = "noise_bound";
        if let ThresholdSpec::OraclePreRun(c) = &self.threshold.0 {
            let cal = calibrate(
                ctx.problem.as_ref(),
                &PreRun {
                    honest: s.honest,
                    lr: s.lr,
                    perturbation: s.perturbation,
                    variant: config.variant,
                    window_long: config.window_long,
                    window_short: config.window_short,
                    rounds: c.rounds.unwrap_or(2 * config.window_long),
                    seed: s.seed,
                    optimizer: s.optimizer,
                    run_rounds: s.rounds,
                },
            );
            config.thresholds = cal.thresholds(c.statistic.into(), c.factor);
            report = cal.report(config.variant);
            if config.filter == Filter::Estimated {
                config.filter = Filter::Radius(cal.max_pairwise_gradient);
                source = "oracle_pre_run";
            }
        }
        if config.filter == Filter::Estimated {
            source = "per_round_estimate";
        }
        Ok(Box::new(
            Safeguard::new(config, s.machines(), ctx.problem.dim())
                .with_report(report)
                .with_filter_source(source),
        ))
    }
    fn accepts_pre(&self) -> bool {
        false
    }
    fn one_shot(&self) -> Result<(), String> {
        Err("the safeguard is stateful across rounds (windowed sums over `window_short` and `window_long` rounds, permanent expulsion): one set of vectors has no safeguard aggregate; run a scenario instead".into())
    }
    fn publishes_windows(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn scenario(threshold: &str, noise: &str) -> Result<Scenario, crate::ScenarioError> {
        let text = format!(
            r#"{{"name":"t","seed":1,"rounds":1000,"workers":{{"honest":6,"byzantine":4}},
            "problem":{{"kind":"saddle","dim":5,"noise":{noise}}},"optimizer":{{"lr":0.1}},
            "aggregator":{{"kind":"safeguard","window_long":60,"window_short":10,"threshold":{threshold}}}}}"#
        );
        Scenario::from_json_str(&text, "t.json")
    }

    fn params(s: &Scenario) -> &SafeguardParams {
        s.aggregator_params().unwrap()
    }

    const BOUNDED: &str = r#"{"kind":"bounded","radius":2.0}"#;
    const GAUSSIAN: &str = r#"{"kind":"gaussian","std":1.0}"#;

    #[test]
    fn paper_thresholds_are_lemma_4_2_with_the_problems_noise_bound() {
        let s = scenario(r#"{"mode":"paper"}"#, BOUNDED).unwrap();
        let p = params(&s);
        assert_eq!(p.noise_bound, Some(2.0));
        let c = p.config(10, 1000);
        let expected = |w: f64| 8.0 * 2.0 * (w * (16.0f64 * 10.0 * 1000.0 / 0.01).ln()).sqrt();
        assert_eq!(
            c.thresholds,
            Thresholds::Fixed {
                long: expected(60.0),
                short: expected(10.0)
            }
        );
        // The filter's radius is 2V with the same V.
        assert_eq!(c.filter, Filter::Radius(4.0));
        // Gaussian noise has no bound: the paper's thresholds need one.
        let e = scenario(r#"{"mode":"paper"}"#, GAUSSIAN).unwrap_err();
        assert_eq!(e.path, "aggregator.noise_bound");
        assert!(e.message.contains("give `noise_bound`"), "{}", e.message);
        let e = scenario(r#"{"mode":"paper","p":1.5}"#, BOUNDED).unwrap_err();
        assert_eq!(e.path, "aggregator.threshold.p");
    }

    #[test]
    fn calibrate_is_read_as_oracle_pre_run() {
        let s = scenario(r#"{"mode":"calibrate","factor":1.5}"#, BOUNDED).unwrap();
        let json = s.to_json();
        assert!(json.contains("\"mode\": \"oracle_pre_run\""), "{json}");
        assert!(json.contains("\"statistic\": \"central\""), "{json}");
        let again = Scenario::from_json_str(&json, "again.json").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn the_filter_radius_comes_from_the_noise_bound_or_is_estimated() {
        let s = scenario(r#"{"mode":"theory"}"#, GAUSSIAN).unwrap();
        assert_eq!(params(&s).noise_bound, None);
        assert_eq!(params(&s).config(10, 1000).filter, Filter::Estimated);
        let s = scenario(r#"{"mode":"adaptive"}"#, BOUNDED).unwrap();
        let c = params(&s).config(10, 1000);
        assert_eq!(c.filter, Filter::Radius(4.0));
        assert_eq!(c.thresholds, Thresholds::Adaptive { factor: 1.5 });
        assert!(c.guard);
    }
}
