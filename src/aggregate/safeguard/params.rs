//! The `safeguard` kind's parameters, their checks, and the construction of the rule (with the
//! calibration pre-run when the thresholds ask for it).

use super::{NoReference, Safeguard, SafeguardConfig, Thresholds, Variant, calibrate};
use crate::aggregate::{Aggregator, AggregatorKind};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::scenario::{Tagged, TaggedEnum};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Use the machine with the most neighbours as reference (known workaround).
    MostNeighbours,
    /// Expel nobody through that window that round.
    KeepAll,
}

/// `safeguard`: SafeguardSGD (Z. Allen-Zhu, F. Ebrahimian, J. Li, D. Alistarh, ICLR 2021):
/// windowed sums of each machine's gradients, a reference machine with more than m/2 machines
/// within the threshold, permanent expulsion beyond twice the threshold, mean over the good set.
/// Cost: O(m d) a round in the steady state (O(m^2 d) when no reference qualifies).
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
    /// Thresholds `Th1`, `Th0`: `{"mode": "fixed" | "theory" | "calibrate", ...}`.
    pub threshold: Tagged<ThresholdSpec>,
    /// `most_neighbours` or `keep_all`.
    #[serde(default = "default_no_reference")]
    pub on_no_reference: NoReferenceSpec,
}

fn default_variant() -> VariantSpec {
    VariantSpec::Double
}
fn default_no_reference() -> NoReferenceSpec {
    NoReferenceSpec::MostNeighbours
}

/// How the safeguard thresholds are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ThresholdSpec {
    /// Given values.
    Fixed(FixedThreshold),
    /// `c * sigma * sqrt(W) / |good|` for a window of `W` rounds.
    Theory(TheoryThreshold),
    /// A clean pre-run with the honest machines only; threshold = factor x the largest honest
    /// distance to the reference seen (the paper's "automated process").
    Calibrate(CalibrateThreshold),
}
impl TaggedEnum for ThresholdSpec {
    const TAG: &'static str = "mode";
}

/// Fixed thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedThreshold {
    /// `Th1` (double variant only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long: Option<f64>,
    /// `Th0`.
    pub short: f64,
}

/// Theory-scaled thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TheoryThreshold {
    /// The constant `c` (2 to 4 keeps honest machines in).
    pub c: f64,
    /// Noise level `sigma` (`sigma^2 = E||g - grad f||^2`); default: the problem's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
}
impl Default for TheoryThreshold {
    fn default() -> Self {
        TheoryThreshold {
            c: 3.0,
            sigma: None,
        }
    }
}

/// Calibrated thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrateThreshold {
    /// Rounds of the clean pre-run (default: twice the longest window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    /// Threshold = factor x the largest honest distance seen.
    pub factor: f64,
}
impl Default for CalibrateThreshold {
    fn default() -> Self {
        CalibrateThreshold {
            rounds: None,
            factor: 1.5,
        }
    }
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
        let longest = self.window_long.unwrap_or(self.window_short);
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
            ThresholdSpec::Calibrate(c) => {
                ParamError::require_positive("threshold.factor", c.factor, false)?;
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
        }
        Ok(())
    }
}

impl SafeguardParams {
    /// The checked configuration, with the thresholds it can resolve without a pre-run (`fixed`,
    /// `theory`); `calibrate` thresholds are zero here and resolved by [`AggregatorKind::build`].
    pub fn config(&self) -> SafeguardConfig {
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
            ThresholdSpec::Calibrate(_) => Thresholds::PerGood {
                long: 0.0,
                short: 0.0,
            },
        };
        let on_no_reference = match self.on_no_reference {
            NoReferenceSpec::MostNeighbours => NoReference::MostNeighbours,
            NoReferenceSpec::KeepAll => NoReference::KeepAll,
        };
        SafeguardConfig {
            variant,
            window_long: t1,
            window_short: t0,
            thresholds,
            on_no_reference,
        }
    }
}

impl AggregatorKind for SafeguardParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        let mut config = self.config();
        let s = ctx.setting;
        let mut report = Vec::new();
        if let ThresholdSpec::Calibrate(c) = &self.threshold.0 {
            let cal = calibrate(
                ctx.problem.as_ref(),
                s.honest,
                s.lr,
                s.perturbation,
                config.variant,
                config.window_long,
                config.window_short,
                c.rounds.unwrap_or(2 * config.window_long),
                c.factor,
                s.seed,
            );
            config.thresholds = cal.thresholds;
            if config.variant == Variant::Double {
                report.push(("calibrated_max_distance_long".to_string(), cal.max_long));
            }
            report.push(("calibrated_max_distance_short".to_string(), cal.max_short));
        }
        Ok(Box::new(
            Safeguard::new(config, s.machines(), ctx.problem.dim()).with_report(report),
        ))
    }
    fn accepts_pre(&self) -> bool {
        false
    }
}
