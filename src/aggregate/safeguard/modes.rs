//! The safeguard's `threshold` object: one mode per way of setting `Th1` (long window) and `Th0`
//! (short window). Which are the paper's and which are ours:
//! - `fixed`: given values, the paper's rule as printed (Algorithm 1 takes `Th1`, `Th0` as input);
//! - `paper`: the paper's own values, Lemma 4.2: `8 V sqrt(W ln(16 m T / p))`;
//! - `theory`: our scaled form of the same shape, `c sigma sqrt(W) / |good_t|`;
//! - `oracle_pre_run` (formerly `calibrate`): an honest-only pre-run, oracle-assisted (the paper's
//!   "automated process", whose exact rule is not published);
//! - `adaptive`: from the run itself, no oracle knowledge (after the epfml re-implementation).

use super::calibrate::Statistic;
use crate::registry::ParamError;
use crate::scenario::TaggedEnum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the safeguard thresholds are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ThresholdSpec {
    /// `fixed`: given values `long` (Th1) and `short` (Th0), whatever the size of the good set:
    /// the paper's rule as printed.
    Fixed(FixedThreshold),
    /// `theory`: ours, not the paper's constant: `c * sigma * sqrt(W) / |good_t|` for a window of
    /// `W` rounds, the scale of honest windowed sums (divided by |good|); `sigma` is the noise
    /// level sqrt(E||g - grad f||^2).
    Theory(TheoryThreshold),
    /// `paper`: the paper's own constant (Allen-Zhu et al. 2021, Lemma 4.2):
    /// `8 V sqrt(W ln(16 m T / p))` for a window of `W` rounds, with `V` the safeguard's
    /// `noise_bound`, `m` machines, `T` the run's rounds and failure probability `p`; fixed for
    /// the run. Loose: in the README's tables it expels nobody, attackers included.
    Paper(PaperThreshold),
    /// `oracle_pre_run`: a clean pre-run with the honest machines only, which a real master could
    /// not do (oracle-assisted); threshold = `factor` x the largest honest distance it measured
    /// (see `statistic`), x h / |good_t|. Formerly `calibrate`, a name still read.
    OraclePreRun(OraclePreRunThreshold),
    /// `adaptive`: from the run itself, Byzantine machines included, no oracle knowledge: at the
    /// end of each window, `factor` x the smallest threshold at which some machine qualifies as
    /// reference (the floor(m/2)+1-th smallest distance to it), for the next window, x the good
    /// set then / |good_t|. The first window of each length expels nobody. As the
    /// `tuningThreshold` option of epfml/byzantine-robust-noniid-optimizer.
    Adaptive(AdaptiveThreshold),
}
impl TaggedEnum for ThresholdSpec {
    const TAG: &'static str = "mode";
    const ALIASES: &'static [(&'static str, &'static str)] = &[("calibrate", "oracle_pre_run")];
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

/// Theory-scaled thresholds (ours).
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

/// The paper's thresholds (Lemma 4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PaperThreshold {
    /// The failure probability `p` of the lemma (0 < p < 1).
    pub p: f64,
}
impl Default for PaperThreshold {
    fn default() -> Self {
        PaperThreshold { p: 0.01 }
    }
}

/// Which pre-run measurement sets the `oracle_pre_run` thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatisticSpec {
    /// The distance of each honest windowed sum to the most central one's (a radius).
    Central,
    /// The distance between two honest windowed sums: the algorithm's precondition (every
    /// honest pair within Th keeps every honest machine good, whatever the reference).
    Pairwise,
}

/// Oracle-assisted pre-run thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OraclePreRunThreshold {
    /// Rounds of the clean pre-run (default: twice the longest window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    /// Threshold = factor x the largest honest distance seen.
    pub factor: f64,
    /// `central` (distance to the most central honest machine) or `pairwise` (between two
    /// honest machines). Both are measured and reported in summary.json.
    pub statistic: StatisticSpec,
}
impl Default for OraclePreRunThreshold {
    fn default() -> Self {
        OraclePreRunThreshold {
            rounds: None,
            factor: 1.5,
            statistic: StatisticSpec::Central,
        }
    }
}

/// Thresholds set from the run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveThreshold {
    /// Threshold = factor x the smallest threshold at which a reference qualifies.
    pub factor: f64,
}
impl Default for AdaptiveThreshold {
    fn default() -> Self {
        AdaptiveThreshold { factor: 1.5 }
    }
}

impl From<StatisticSpec> for Statistic {
    fn from(s: StatisticSpec) -> Self {
        match s {
            StatisticSpec::Central => Statistic::Central,
            StatisticSpec::Pairwise => Statistic::Pairwise,
        }
    }
}

/// Lemma 4.2's threshold for a window of `window` rounds: `8 V sqrt(W ln(16 m T / p))`.
pub fn paper_threshold(v: f64, window: u64, machines: usize, rounds: u64, p: f64) -> f64 {
    let log = (16.0 * machines as f64 * rounds as f64 / p).ln();
    8.0 * v * (window as f64 * log).sqrt()
}

/// Check `factor` (a finite number > 0).
pub(crate) fn check_factor(factor: f64) -> Result<(), ParamError> {
    ParamError::require_positive("threshold.factor", factor, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_threshold_is_lemma_4_2() {
        // 8 * 2 * sqrt(100 * ln(16 * 10 * 1000 / 0.01)) = 16 * sqrt(100 * ln(1.6e7))
        let th = paper_threshold(2.0, 100, 10, 1000, 0.01);
        assert!((th - 16.0 * (100.0 * 1.6e7f64.ln()).sqrt()).abs() < 1e-9);
        assert!((th - 16.0 * 40.7).abs() < 1.0, "{th}");
    }
}
