//! Scenario files (JSON): parsed into a [`ScenarioSpec`], checked once into a valid
//! [`Scenario`] (the checked-parameters idea of linfa's `param_guard`): the simulator never sees
//! an invalid value.
//!
//! Top-level keys: `name`, `seed`, `rounds`, `workers` {`honest`, `byzantine`}, `problem`,
//! `optimizer` {`lr`, `perturbation`}, `aggregator`, `attack`, `eval_every` (and an optional
//! `$schema`). `problem`, `aggregator` and `attack` are objects tagged by `kind`. Unknown fields
//! are rejected everywhere; every error names the field path and line:column. `safeguard-sim
//! schema` prints the JSON Schema, `safeguard-sim list` every kind with its parameters.

pub mod locate;
pub mod tagged;

use crate::aggregate::safeguard::{NoReference, SafeguardConfig, Thresholds, Variant};
use crate::attack::FaultMode;
use crate::error::ScenarioError;
use crate::problem::{Noise, Problem, Quadratic, Rosenbrock, Saddle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
pub use tagged::{Tagged, TaggedEnum};

/// Scenarios whose estimated memory exceeds this are refused up front.
pub const MEMORY_LIMIT_BYTES: u64 = 8 << 30;
/// Longest accepted run name.
pub const MAX_NAME_LEN: usize = 100;

/// A scenario as written in the file (after defaults, before checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Optional JSON Schema reference for editors; ignored.
    #[serde(rename = "$schema", default, skip_serializing)]
    pub schema: Option<String>,
    /// Run name: the output directory is `output/<name>/`. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Master seed: every actor derives its own stream from (seed, worker id).
    pub seed: u64,
    /// Number of rounds.
    pub rounds: u64,
    /// The machines.
    #[serde(deserialize_with = "object_only")]
    pub workers: WorkersSpec,
    /// What to minimise.
    pub problem: Tagged<ProblemSpec>,
    /// Step and perturbation.
    #[serde(deserialize_with = "object_only")]
    pub optimizer: OptimizerSpec,
    /// How the master aggregates.
    pub aggregator: Tagged<AggregatorSpec>,
    /// What the Byzantine machines send.
    #[serde(default = "default_attack")]
    pub attack: Tagged<AttackSpec>,
    /// Write a row of rounds.csv every this many rounds (and at the last round).
    #[serde(default = "one")]
    pub eval_every: u64,
}

fn one() -> u64 {
    1
}

/// Deserialize a struct from a JSON object only: serde's derived structs also accept an array of
/// their field values in order (`"workers": [6, 2]`), which a scenario file must not rely on.
fn object_only<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct ObjectOnly<D>(D);
    impl<'de, D: serde::Deserializer<'de>> serde::Deserializer<'de> for ObjectOnly<D> {
        type Error = D::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(v)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_map(v)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    T::deserialize(ObjectOnly(d))
}
fn default_attack() -> Tagged<AttackSpec> {
    Tagged(AttackSpec::None(Empty {}))
}

/// The machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `honest` and `byzantine`"
)]
pub struct WorkersSpec {
    /// Honest machines (ids `0..honest`).
    pub honest: usize,
    /// Byzantine machines (ids `honest..honest+byzantine`).
    pub byzantine: usize,
    /// How long Byzantine machines get to answer in a round, in milliseconds; a machine that
    /// has not answered by then is expelled (`timeout`).
    #[serde(default = "default_timeout")]
    pub reply_timeout_ms: u64,
}

fn default_timeout() -> u64 {
    2000
}

/// Step size and perturbation: `x <- x - lr * (xi + aggregate)`, `xi ~ N(0, perturbation^2 I)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an object with `lr`")]
pub struct OptimizerSpec {
    /// Step size `eta`.
    pub lr: f64,
    /// `nu`, the standard deviation of the Gaussian perturbation (multiplied by `lr`, as in
    /// Algorithm 1 of the paper).
    #[serde(default)]
    pub perturbation: f64,
    /// The run stops with status `diverged` when `||x||` exceeds this (or becomes non-finite).
    #[serde(default = "default_divergence")]
    pub divergence_norm: f64,
}

fn default_divergence() -> f64 {
    1e6
}

/// An object with no parameters (only its `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Gradient noise of the honest machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum NoiseSpec {
    /// Uniform in a ball of radius `radius` (bounded noise, as the paper assumes).
    Bounded(BoundedNoise),
    /// Gaussian `N(0, std^2 I)`.
    Gaussian(GaussianNoise),
}
impl TaggedEnum for NoiseSpec {
    const TAG: &'static str = "kind";
}

/// Bounded noise parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BoundedNoise {
    /// The radius `V`.
    pub radius: f64,
}
impl Default for BoundedNoise {
    fn default() -> Self {
        BoundedNoise { radius: 1.0 }
    }
}

/// Gaussian noise parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianNoise {
    /// Per-coordinate standard deviation.
    pub std: f64,
}
impl Default for GaussianNoise {
    fn default() -> Self {
        GaussianNoise { std: 1.0 }
    }
}

fn default_noise() -> Tagged<NoiseSpec> {
    Tagged(NoiseSpec::Bounded(BoundedNoise::default()))
}

/// The problem to minimise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ProblemSpec {
    /// Convex sanity check: `1/2 sum lambda_i x_i^2`.
    Quadratic(QuadraticParams),
    /// Strict saddle: `sum_{i<k} (x_i^4/4 - x_i^2/2) + sum_{i>=k} x_i^2/2`.
    Saddle(SaddleParams),
    /// Rosenbrock's valley `(a - x)^2 + b (y - x^2)^2` (2 parameters).
    Rosenbrock(RosenbrockParams),
}
impl TaggedEnum for ProblemSpec {
    const TAG: &'static str = "kind";
}

/// Quadratic parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QuadraticParams {
    /// Dimension `d`.
    pub dim: usize,
    /// Smallest curvature `lambda_0`.
    pub min_curvature: f64,
    /// Largest curvature `lambda_{d-1}`.
    pub max_curvature: f64,
    /// Start at `start * (1, ..., 1)`.
    pub start: f64,
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for QuadraticParams {
    fn default() -> Self {
        QuadraticParams {
            dim: 10,
            min_curvature: 1.0,
            max_curvature: 10.0,
            start: 1.0,
            noise: default_noise(),
        }
    }
}

/// Saddle parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SaddleParams {
    /// Dimension `d`.
    pub dim: usize,
    /// `k`, the number of negative-curvature directions (minimum `-k/4`).
    pub negative_dims: usize,
    /// Start at the saddle plus a random offset of this norm (0: exactly at the saddle).
    pub start_offset: f64,
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for SaddleParams {
    fn default() -> Self {
        SaddleParams {
            dim: 10,
            negative_dims: 2,
            start_offset: 0.0,
            noise: default_noise(),
        }
    }
}

/// Rosenbrock parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RosenbrockParams {
    /// `a` (minimum at `(a, a^2)`).
    pub a: f64,
    /// `b`, the valley's steepness.
    pub b: f64,
    /// Starting point.
    pub start: [f64; 2],
    /// Gradient noise.
    pub noise: Tagged<NoiseSpec>,
}
impl Default for RosenbrockParams {
    fn default() -> Self {
        RosenbrockParams {
            a: 1.0,
            b: 100.0,
            start: [-1.5, 2.0],
            noise: default_noise(),
        }
    }
}

/// The aggregation rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum AggregatorSpec {
    /// Plain mean: no defense.
    Mean(Empty),
    /// Mean of the honest gradients only: the ideal line (not a real defense).
    Oracle(Empty),
    /// SafeguardSGD (Allen-Zhu et al., ICLR 2021).
    Safeguard(SafeguardParams),
}
impl TaggedEnum for AggregatorSpec {
    const TAG: &'static str = "kind";
}

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

/// SafeguardSGD parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SafeguardParams {
    /// `double` (Algorithm 1) or `single` (Algorithm 2).
    #[serde(default = "default_variant")]
    pub variant: VariantSpec,
    /// `T1`, the long window in rounds (double only; must be >= `window_short`).
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

/// What the Byzantine machines send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum AttackSpec {
    /// No attack: Byzantine machines send their honest gradient.
    None(Empty),
    /// `-scale * g`, with `g` the machine's own honest gradient.
    SignFlip(SignFlipParams),
    /// The zero vector.
    Zero(Empty),
    /// `N(mean, std^2 I)`, independent of the parameters.
    Gaussian(GaussianAttackParams),
    /// A deliberately misbehaving machine (NaN, inf, wrong length, silence, double answers,
    /// panics, hangs), to test robustness.
    Faulty(FaultyParams),
}
impl TaggedEnum for AttackSpec {
    const TAG: &'static str = "kind";
}

/// Sign-flip parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SignFlipParams {
    /// The factor `c` (the paper uses 1).
    pub scale: f64,
}
impl Default for SignFlipParams {
    fn default() -> Self {
        SignFlipParams { scale: 1.0 }
    }
}

/// Gaussian attack parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianAttackParams {
    /// Mean of every coordinate.
    pub mean: f64,
    /// Standard deviation of every coordinate (libraries use 1 to 200).
    pub std: f64,
}
impl Default for GaussianAttackParams {
    fn default() -> Self {
        GaussianAttackParams {
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// Faulty-machine parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultyParams {
    /// The fault.
    pub mode: FaultMode,
    /// First round with the fault (honest before).
    #[serde(default = "one")]
    pub from_round: u64,
}

/// A checked scenario: every value is valid and every default is filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    spec: ScenarioSpec,
}

/// The edit distance (insertions, deletions, substitutions and swaps of two neighbours, so that
/// `safegaurd` is one edit from `safeguard`), for did-you-mean suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j - 1] + cost)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// For serde's "unknown variant `x`, expected one of `a`, `b`" and "unknown field" messages,
/// add the closest valid choice (only when it is close: about one edit per three letters).
fn did_you_mean(message: &str) -> String {
    if !(message.starts_with("unknown variant `") || message.starts_with("unknown field `")) {
        return message.to_string();
    }
    let given = message.split('`').nth(1).unwrap_or("");
    let choices: Vec<&str> = message
        .split_once("expected")
        .map(|(_, rest)| rest.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    if given.is_empty() || choices.is_empty() {
        return message.to_string();
    }
    let best = choices.iter().map(|c| (edit_distance(given, c), *c)).min();
    match best {
        Some((d, c)) if d > 0 && d <= (given.chars().count() + 1) / 3 => {
            format!("{message} (did you mean `{c}`?)")
        }
        _ => message.to_string(),
    }
}

/// Pass 1: the JSON syntax (with serde_json's nesting limit), plus what building a
/// `serde_json::Value` would hide: a key given twice in one object (the `Value` that tagged
/// objects are built from keeps the last one silently). Yields the JSON type of the value.
struct Syntax(&'static str);

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Syntax;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Syntax, E> {
                Ok(Syntax("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Syntax, E> {
                Ok(Syntax("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Syntax, E> {
                Ok(Syntax("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Syntax, E> {
                Ok(Syntax("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Syntax, E> {
                Ok(Syntax("a string"))
            }
            fn visit_unit<E>(self) -> Result<Syntax, E> {
                Ok(Syntax("null"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Syntax, A::Error> {
                while seq.next_element::<Syntax>()?.is_some() {}
                Ok(Syntax("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Syntax, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    map.next_value::<Syntax>()?;
                }
                Ok(Syntax("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Escape control characters (a key written `"\nseed"` is quoted back as `\nseed`), so that an
/// error stays on one line.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// serde's type names in plain words (`u64` -> a whole number >= 0, `map` -> an object).
fn plain_types(message: &str) -> String {
    let mut m = message.to_string();
    for (suffix, plain) in [
        (", expected u64", ", expected a whole number >= 0"),
        (", expected usize", ", expected a whole number >= 0"),
        (", expected f64", ", expected a number"),
    ] {
        if let Some(rest) = m.strip_suffix(suffix) {
            m = format!("{rest}{plain}");
        }
    }
    for (prefix, plain) in [
        ("invalid type: map,", "invalid type: an object,"),
        ("invalid type: sequence,", "invalid type: an array,"),
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = format!("{plain}{rest}");
        }
    }
    m
}

/// A hint for the JSON syntax errors people make most, from the text at the error.
fn syntax_hint(text: &str, line: usize, column: usize) -> &'static str {
    let rest: String = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .chars()
        .skip(column.saturating_sub(1))
        .collect();
    let rest = rest.trim_start();
    if rest.starts_with("//") || rest.starts_with("/*") {
        " (JSON has no comments)"
    } else if rest.starts_with('\'') {
        " (JSON strings and keys take double quotes)"
    } else if ["NaN", "Infinity", "-Infinity", "inf", "nan"]
        .iter()
        .any(|w| rest.starts_with(w))
    {
        " (NaN and infinities are not JSON numbers)"
    } else {
        ""
    }
}

/// Remove serde_json's " at line L column C" suffix.
fn strip_position(message: &str) -> String {
    if let Some(i) = message.rfind(" at line ") {
        let tail = &message[i + 9..];
        if tail.split(" column ").count() == 2
            && tail
                .chars()
                .all(|c| c.is_ascii_digit() || " column".contains(c))
        {
            return message[..i].to_string();
        }
    }
    message.to_string()
}

impl Scenario {
    /// Parse and check a scenario from JSON text. `source_name` labels errors (a file name).
    pub fn from_json_str(text: &str, source_name: &str) -> Result<Scenario, ScenarioError> {
        let err_at = |path: &str, line: usize, column: usize, message: String| ScenarioError {
            source_name: printable(source_name),
            path: printable(path),
            line,
            column,
            message: printable(&message),
        };
        if text.trim().is_empty() {
            return Err(err_at(
                "",
                1,
                1,
                "the file is empty: expected a JSON object".into(),
            ));
        }
        if text.starts_with('\u{feff}') {
            return Err(err_at(
                "",
                1,
                1,
                "the file starts with a byte order mark (BOM): save it as UTF-8 without BOM".into(),
            ));
        }
        // Pass 1: syntax (exact position, nesting limited to 128 levels by serde_json) and
        // duplicate keys.
        let mut de = serde_json::Deserializer::from_str(text);
        let pass1 = serde_path_to_error::deserialize::<_, Syntax>(&mut de)
            .map_err(|e| {
                // Keep the path as segments: keys here may hold `.` or `[`.
                let segments: Vec<locate::Segment> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => {
                            Some(locate::Segment::Key(key.clone()))
                        }
                        serde_path_to_error::Segment::Seq { index } => {
                            Some(locate::Segment::Index(*index))
                        }
                        _ => None,
                    })
                    .collect();
                (tagged::path_string(e.path()), segments, e.into_inner())
            })
            .and_then(|s| {
                de.end()
                    .map(|()| s)
                    .map_err(|e| (String::new(), Vec::new(), e))
            });
        match pass1 {
            Ok(Syntax("an object")) => {}
            Ok(Syntax(other)) => {
                let (line, col) = locate::line_col(text, text.len() - text.trim_start().len());
                return Err(err_at(
                    "",
                    line,
                    col,
                    format!("expected a JSON object (the scenario), got {other}"),
                ));
            }
            Err((parent, segments, inner)) => {
                let msg = strip_position(&inner.to_string());
                if let Some(key) = msg
                    .strip_prefix("duplicate field `")
                    .and_then(|r| r.strip_suffix('`'))
                {
                    let pos = locate::locate_key(text, &segments, key, 1);
                    let (line, col) = locate::line_col(text, pos);
                    return Err(err_at(
                        &tagged::join(&parent, key),
                        line,
                        col,
                        format!("{msg}: give each key once"),
                    ));
                }
                let line = inner.line().max(1);
                let col = locate::char_column(text, line, inner.column()).max(1);
                let mut msg = format!("invalid JSON: {msg}{}", syntax_hint(text, line, col));
                if msg.ends_with("recursion limit exceeded") {
                    msg.push_str(" (nesting deeper than 128 levels)");
                } else if msg.ends_with("number out of range") {
                    msg.push_str(" (beyond the largest 64-bit float, about 1.8e308)");
                }
                return Err(err_at("", line, col, msg));
            }
        }
        // Pass 2: structure, with the field path.
        let mut de = serde_json::Deserializer::from_str(text);
        let spec: ScenarioSpec = match serde_path_to_error::deserialize(&mut de) {
            Ok(s) => s,
            Err(e) => {
                let outer = tagged::path_string(e.path());
                let inner = e.into_inner();
                let (inner_path, msg) = tagged::decode(&strip_position(&inner.to_string()));
                let mut path = tagged::join(&outer, &inner_path);
                let msg = plain_types(&did_you_mean(&msg));
                // An unknown field: point at its key. The path ends with the key, which may hold
                // `.`, `[` or even "`, ": find the parent path it ends, locate the key under it.
                let parent_of = |name: &str| -> Option<String> {
                    let p = path.strip_suffix(name)?;
                    if p.is_empty() {
                        Some(String::new())
                    } else if let Some(q) = p.strip_suffix('.') {
                        Some(q.to_string())
                    } else {
                        name.starts_with('[').then(|| p.to_string())
                    }
                };
                let found = msg.strip_prefix("unknown field `").and_then(|rest| {
                    let mut names = rest.match_indices("`, ").map(|(i, _)| &rest[..i]);
                    names
                        .find_map(|n| parent_of(n).map(|p| (n, p)))
                        .or_else(|| rest.split_once("`, ").map(|(n, _)| (n, path.clone())))
                });
                let pos = match found {
                    Some((name, parent)) => {
                        path = tagged::join(&parent, name);
                        locate::locate_key(text, &locate::parse_path(&parent), name, 0)
                    }
                    None => locate::locate(text, &locate::parse_path(&path), false),
                };
                let (line, col) = locate::line_col(text, pos);
                return Err(err_at(&path, line, col, msg));
            }
        };
        Scenario::check(spec).map_err(|(path, message)| {
            let pos = locate::locate(text, &locate::parse_path(&path), false);
            let (line, col) = locate::line_col(text, pos);
            err_at(&path, line, col, message)
        })
    }

    /// Read, parse and check a scenario file.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let name = printable(&path.display().to_string());
        let fail = |message: String| ScenarioError {
            source_name: name.clone(),
            path: String::new(),
            line: 1,
            column: 1,
            message,
        };
        if path.is_dir() {
            return Err(fail("is a directory, not a scenario file".into()));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
        if bytes.len() > 16 << 20 {
            return Err(fail(format!(
                "the file is {} bytes; scenario files are limited to 16 MiB",
                bytes.len()
            )));
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                let (line, column) = locate::line_col(&prefix, prefix.len());
                return Err(ScenarioError {
                    source_name: name,
                    path: String::new(),
                    line,
                    column,
                    message: format!(
                        "the file is not valid UTF-8 (byte 0x{:02X} at byte offset {valid}): save it as UTF-8",
                        bytes[valid]
                    ),
                });
            }
        };
        Scenario::from_json_str(&text, &name)
    }

    /// Check a spec, filling in every default. Errors are (field path, message).
    pub fn check(mut spec: ScenarioSpec) -> Result<Scenario, (String, String)> {
        fn e<T>(p: &str, m: String) -> Result<T, (String, String)> {
            Err((p.to_string(), m))
        }
        let finite_pos = |p: &str, v: f64, zero_ok: bool| -> Result<(), (String, String)> {
            if !v.is_finite() || v < 0.0 || (!zero_ok && v == 0.0) {
                let want = if zero_ok {
                    "a finite number >= 0"
                } else {
                    "a finite number > 0"
                };
                return e(p, format!("expected {want}, got {v}"));
            }
            Ok(())
        };
        let n = &spec.name;
        if n.is_empty()
            || n.len() > MAX_NAME_LEN
            || n.starts_with('.')
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return e(
                "name",
                format!(
                    "{n:?} is not a valid run name: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', not starting with '.' (it names the output directory)"
                ),
            );
        }
        if spec.rounds == 0 || spec.rounds > 100_000_000 {
            return e(
                "rounds",
                format!("expected 1 to 100000000 rounds, got {}", spec.rounds),
            );
        }
        if spec.eval_every == 0 {
            return e("eval_every", "expected at least 1".into());
        }
        let w = &spec.workers;
        if w.honest == 0 {
            return e(
                "workers.honest",
                "at least one honest machine is needed".into(),
            );
        }
        let m = w.honest.saturating_add(w.byzantine);
        if m > 100_000 {
            return e(
                "workers",
                format!("{m} machines: at most 100000 are supported"),
            );
        }
        if w.reply_timeout_ms == 0 || w.reply_timeout_ms > 600_000 {
            return e(
                "workers.reply_timeout_ms",
                format!("expected 1 to 600000 ms, got {}", w.reply_timeout_ms),
            );
        }
        finite_pos("optimizer.lr", spec.optimizer.lr, false)?;
        finite_pos("optimizer.perturbation", spec.optimizer.perturbation, true)?;
        finite_pos(
            "optimizer.divergence_norm",
            spec.optimizer.divergence_norm,
            false,
        )?;

        let check_noise = |p: &str, n: &NoiseSpec| match n {
            NoiseSpec::Bounded(b) => finite_pos(&format!("{p}.radius"), b.radius, true),
            NoiseSpec::Gaussian(g) => finite_pos(&format!("{p}.std"), g.std, true),
        };
        let dim = match &spec.problem.0 {
            ProblemSpec::Quadratic(q) => q.dim,
            ProblemSpec::Saddle(s) => s.dim,
            ProblemSpec::Rosenbrock(_) => 2,
        };
        if dim == 0 || dim > 100_000_000 {
            return e("problem.dim", format!("expected 1 to 100000000, got {dim}"));
        }
        match &spec.problem.0 {
            ProblemSpec::Quadratic(q) => {
                for (k, v) in [
                    ("min_curvature", q.min_curvature),
                    ("max_curvature", q.max_curvature),
                ] {
                    finite_pos(&format!("problem.{k}"), v, false)?;
                }
                if q.max_curvature < q.min_curvature {
                    return e("problem.max_curvature", "must be >= min_curvature".into());
                }
                if !q.start.is_finite() {
                    return e("problem.start", "expected a finite number".into());
                }
                check_noise("problem.noise", &q.noise.0)?;
            }
            ProblemSpec::Saddle(s) => {
                if s.negative_dims > s.dim {
                    return e(
                        "problem.negative_dims",
                        format!(
                            "{} negative directions do not fit in dim {}",
                            s.negative_dims, s.dim
                        ),
                    );
                }
                finite_pos("problem.start_offset", s.start_offset, true)?;
                check_noise("problem.noise", &s.noise.0)?;
            }
            ProblemSpec::Rosenbrock(r) => {
                for (i, v) in [r.a, r.b, r.start[0], r.start[1]].iter().enumerate() {
                    if !v.is_finite() {
                        let p = [
                            "problem.a",
                            "problem.b",
                            "problem.start[0]",
                            "problem.start[1]",
                        ][i];
                        return e(p, "expected a finite number".into());
                    }
                }
                finite_pos("problem.b", r.b, true)?;
                check_noise("problem.noise", &r.noise.0)?;
            }
        }
        // Memory: parameters, one gradient per machine in flight, two windows per machine.
        let vectors = 8u64.saturating_add((m as u64).saturating_mul(4));
        let bytes = vectors.saturating_mul(dim as u64).saturating_mul(8);
        if bytes > MEMORY_LIMIT_BYTES {
            return e(
                "problem.dim",
                format!(
                    "{m} machines x dim {dim} need about {:.1} GiB of memory (limit {} GiB); reduce dim or the number of machines",
                    bytes as f64 / (1u64 << 30) as f64,
                    MEMORY_LIMIT_BYTES >> 30
                ),
            );
        }

        if let AggregatorSpec::Safeguard(sg) = &mut spec.aggregator.0 {
            if w.byzantine >= w.honest {
                return e(
                    "workers.byzantine",
                    format!(
                        "the safeguard needs fewer Byzantine than honest machines (alpha < 1/2); got {} of {m}",
                        w.byzantine
                    ),
                );
            }
            if sg.window_short == 0 {
                return e(
                    "aggregator.window_short",
                    "expected at least 1 round".into(),
                );
            }
            match sg.variant {
                VariantSpec::Double => {
                    let t1 = sg.window_long.unwrap_or(sg.window_short.saturating_mul(6));
                    if t1 < sg.window_short {
                        return e(
                            "aggregator.window_long",
                            format!(
                                "the long window ({t1}) must be at least the short one ({}): T1 >= T0",
                                sg.window_short
                            ),
                        );
                    }
                    sg.window_long = Some(t1);
                }
                VariantSpec::Single => {
                    if sg.window_long.is_some() {
                        return e("aggregator.window_long", "the single safeguard has one window (window_short); remove window_long".into());
                    }
                }
            }
            let longest = sg.window_long.unwrap_or(sg.window_short);
            match &mut sg.threshold.0 {
                ThresholdSpec::Fixed(f) => {
                    finite_pos("aggregator.threshold.short", f.short, false)?;
                    match (sg.variant, f.long) {
                        (VariantSpec::Double, None) => {
                            return e(
                                "aggregator.threshold",
                                "missing field `long` (Th1 of the long window)".into(),
                            );
                        }
                        (VariantSpec::Double, Some(l)) => {
                            finite_pos("aggregator.threshold.long", l, false)?;
                            if l < f.short {
                                return e(
                                    "aggregator.threshold.long",
                                    format!("Th1 ({l}) must be at least Th0 ({})", f.short),
                                );
                            }
                        }
                        (VariantSpec::Single, Some(_)) => {
                            return e(
                                "aggregator.threshold.long",
                                "the single safeguard has no long window; remove `long`".into(),
                            );
                        }
                        (VariantSpec::Single, None) => {}
                    }
                }
                ThresholdSpec::Theory(t) => {
                    finite_pos("aggregator.threshold.c", t.c, false)?;
                    if let Some(s) = t.sigma {
                        finite_pos("aggregator.threshold.sigma", s, false)?;
                    }
                }
                ThresholdSpec::Calibrate(c) => {
                    finite_pos("aggregator.threshold.factor", c.factor, false)?;
                    let r = c.rounds.unwrap_or(longest.saturating_mul(2));
                    if r < longest || r > 100_000_000 {
                        return e(
                            "aggregator.threshold.rounds",
                            format!(
                                "the pre-run must cover the longest window ({longest} rounds) and be at most 100000000; got {r}"
                            ),
                        );
                    }
                    c.rounds = Some(r);
                }
            }
        }
        // Resolve the theory sigma from the problem's noise.
        let sigma = Scenario { spec: spec.clone() }.problem().noise_level();
        if let AggregatorSpec::Safeguard(sg) = &mut spec.aggregator.0
            && let ThresholdSpec::Theory(t) = &mut sg.threshold.0
            && t.sigma.is_none()
        {
            if sigma <= 0.0 {
                return e(
                    "aggregator.threshold.sigma",
                    "the problem has no gradient noise: give sigma > 0".into(),
                );
            }
            t.sigma = Some(sigma);
        }
        if let AttackSpec::SignFlip(s) = &spec.attack.0
            && !s.scale.is_finite()
        {
            return e("attack.scale", "expected a finite number".into());
        }
        if let AttackSpec::Gaussian(g) = &spec.attack.0 {
            if !g.mean.is_finite() {
                return e("attack.mean", "expected a finite number".into());
            }
            finite_pos("attack.std", g.std, true)?;
        }
        spec.schema = None;
        Ok(Scenario { spec })
    }

    /// The resolved spec (every default filled in).
    pub fn spec(&self) -> &ScenarioSpec {
        &self.spec
    }

    /// The resolved scenario as pretty JSON: running it again reproduces the run.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.spec).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Run name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Total number of machines `m`.
    pub fn machines(&self) -> usize {
        self.spec.workers.honest + self.spec.workers.byzantine
    }

    /// Build the problem.
    pub fn problem(&self) -> Arc<dyn Problem> {
        let noise = |n: &Tagged<NoiseSpec>| match &n.0 {
            NoiseSpec::Bounded(b) => Noise::Bounded { radius: b.radius },
            NoiseSpec::Gaussian(g) => Noise::Gaussian { std: g.std },
        };
        match &self.spec.problem.0 {
            ProblemSpec::Quadratic(q) => Arc::new(Quadratic::new(
                q.dim,
                q.min_curvature,
                q.max_curvature,
                q.start,
                noise(&q.noise),
            )),
            ProblemSpec::Saddle(s) => Arc::new(Saddle::new(
                s.dim,
                s.negative_dims,
                s.start_offset,
                noise(&s.noise),
            )),
            ProblemSpec::Rosenbrock(r) => {
                Arc::new(Rosenbrock::new(r.a, r.b, r.start, noise(&r.noise)))
            }
        }
    }

    /// The safeguard's configuration with the thresholds it can resolve without a pre-run
    /// (`fixed`, `theory`); `calibrate` thresholds are resolved by [`crate::sim`].
    pub fn safeguard(&self) -> Option<(SafeguardConfig, Option<CalibrateThreshold>)> {
        let AggregatorSpec::Safeguard(sg) = &self.spec.aggregator.0 else {
            return None;
        };
        let variant = match sg.variant {
            VariantSpec::Double => Variant::Double,
            VariantSpec::Single => Variant::Single,
        };
        let t1 = sg.window_long.unwrap_or(sg.window_short);
        let t0 = sg.window_short;
        let (thresholds, calibrate) = match &sg.threshold.0 {
            ThresholdSpec::Fixed(f) => (
                Thresholds::Fixed {
                    long: f.long.unwrap_or(f.short),
                    short: f.short,
                },
                None,
            ),
            ThresholdSpec::Theory(t) => {
                let s = t.sigma.unwrap_or(0.0);
                (
                    Thresholds::PerGood {
                        long: t.c * s * (t1 as f64).sqrt(),
                        short: t.c * s * (t0 as f64).sqrt(),
                    },
                    None,
                )
            }
            ThresholdSpec::Calibrate(c) => (
                Thresholds::PerGood {
                    long: 0.0,
                    short: 0.0,
                },
                Some(c.clone()),
            ),
        };
        let on_no_reference = match sg.on_no_reference {
            NoReferenceSpec::MostNeighbours => NoReference::MostNeighbours,
            NoReferenceSpec::KeepAll => NoReference::KeepAll,
        };
        Some((
            SafeguardConfig {
                variant,
                window_long: t1,
                window_short: t0,
                thresholds,
                on_no_reference,
            },
            calibrate,
        ))
    }
}

/// The JSON Schema of the scenario format.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioSpec)).unwrap_or_default()
}

/// A human-readable list of every tagged kind (problems, aggregators, attacks, noise, threshold
/// modes) with its parameters, types and defaults, taken from the JSON Schema so it cannot drift.
pub fn catalog() -> String {
    use serde_json::Value;
    let schema = json_schema();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => defs
                .get(r.rsplit('/').next().unwrap_or(r))
                .cloned()
                .unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let type_of = |v: &Value| -> String {
        let v = resolve(v);
        if let Some(t) = v.get("type") {
            return match t {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => String::new(),
            };
        }
        if let Some(e) = v.get("enum").and_then(Value::as_array) {
            return e
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("|");
        }
        if let Some(one) = v.get("oneOf").and_then(Value::as_array) {
            let names: Vec<String> = one
                .iter()
                .filter_map(|o| {
                    o.get("const")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            o.get("properties")
                                .and_then(|p| p.as_object())
                                .and_then(|p| p.values().next())
                                .and_then(|k| k.get("const"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                })
                .collect();
            if !names.is_empty() {
                return format!("{{{}}}", names.join("|"));
            }
        }
        "object".into()
    };
    let mut out = String::new();
    let sections = [
        ("problem", "ProblemSpec", "kind"),
        ("problem.noise", "NoiseSpec", "kind"),
        ("aggregator", "AggregatorSpec", "kind"),
        ("aggregator.threshold", "ThresholdSpec", "mode"),
        ("attack", "AttackSpec", "kind"),
    ];
    for (field, def, tag) in sections {
        out.push_str(&format!("{field} ({tag}):\n"));
        let variants = defs
            .get(def)
            .and_then(|d| d.get("oneOf"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in variants {
            let props = v
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let kind = props
                .get(tag)
                .and_then(|k| k.get("const"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let desc = v.get("description").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!(
                "  {kind:<12} {}\n",
                desc.lines().next().unwrap_or("")
            ));
            let required: Vec<&str> = v
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (name, p) in props.iter().filter(|(n, _)| n.as_str() != tag) {
                let default = match p.get("default") {
                    Some(d) => format!("default {d}"),
                    None if required.contains(&name.as_str()) => "required".into(),
                    None => "optional".into(),
                };
                let pd = p.get("description").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!(
                    "      {name:<18} {:<22} {default:<28} {}\n",
                    type_of(p),
                    pd.lines().next().unwrap_or("")
                ));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{
  "name": "t",
  "seed": 1,
  "rounds": 10,
  "workers": {"honest": 6, "byzantine": 4},
  "problem": {"kind": "saddle", "dim": 5},
  "optimizer": {"lr": 0.1},
  "aggregator": {"kind": "safeguard", "window_short": 5,
                 "threshold": {"mode": "theory"}},
  "attack": {"kind": "sign_flip", "scale": 2}
}"#;

    fn err(text: &str) -> ScenarioError {
        match Scenario::from_json_str(text, "f.json") {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_are_filled_and_round_trip() {
        let s = Scenario::from_json_str(OK, "f.json").unwrap();
        let json = s.to_json();
        assert!(json.contains("\"window_long\": 30"), "{json}");
        assert!(json.contains("\"sigma\""), "{json}");
        let again = Scenario::from_json_str(&json, "again.json").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn suggestions_only_when_close() {
        assert_eq!(edit_distance("safegaurd", "safeguard"), 1);
        assert_eq!(edit_distance("sadle", "saddle"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let m = |given: &str| {
            did_you_mean(&format!(
                "unknown variant `{given}`, expected one of `double`, `single`, `name`"
            ))
        };
        assert!(m("nmae").ends_with("(did you mean `name`?)"));
        assert!(m("singel").ends_with("(did you mean `single`?)"));
        assert!(!m("tripple").contains("did you mean"));
        assert!(!m("x").contains("did you mean"));
        assert!(
            !did_you_mean("invalid type: a string, expected an object with a `kind` field")
                .contains("did you mean")
        );
    }

    #[test]
    fn errors_name_path_and_position() {
        let e = err(&OK.replace("\"dim\": 5", "\"dim\": 5, \"oops\": 1"));
        assert_eq!(e.path, "problem.oops");
        assert_eq!((e.line, e.column), (6, 43));
        let e = err(&OK.replace("\"theory\"", "\"theroy\""));
        assert_eq!(e.path, "aggregator.threshold.mode");
        assert!(e.message.contains("did you mean `theory`"), "{}", e.message);
        assert_eq!(e.line, 9);
        let e = err(&OK.replace("\"scale\": 2", "\"scale\": \"x\""));
        assert_eq!(e.path, "attack.scale");
        assert_eq!((e.line, e.column), (10, 44));
        let e = err(&OK.replace("\"lr\": 0.1", "\"lr\": -1"));
        assert_eq!(e.path, "optimizer.lr");
        assert_eq!((e.line, e.column), (7, 23));
        let e = err(&OK.replace(
            "\"kind\": \"sign_flip\", \"scale\": 2",
            "\"kind\": \"none\", \"x\": 2",
        ));
        assert_eq!(e.path, "attack.x");
        let e = err("{\"name\": ");
        assert_eq!(e.line, 1);
        assert!(e.message.starts_with("invalid JSON"));
        let e = err(&OK.replace("\"honest\": 6", "\"honest\": 3"));
        assert_eq!(e.path, "workers.byzantine");
    }
}
