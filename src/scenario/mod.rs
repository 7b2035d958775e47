//! Scenario files (JSON): parsed with a [`Registry`] of kinds and checked once into a valid
//! [`Scenario`] (the checked-parameters idea of linfa's `param_guard`): the simulator never sees
//! an invalid value.
//!
//! Top-level keys: `name`, `seed`, `rounds`, `workers` {`honest`, `byzantine`,
//! `reply_timeout_ms`}, `problem`, `optimizer` {`lr`, `perturbation`, `divergence_norm`,
//! `schedule`, `worker_momentum`, `server_momentum`, `momentum_form`; see [`crate::optimizer`]},
//! `aggregator`, `attack`, `eval_every`, `evaluation` (see [`crate::evaluation`]) and an optional
//! `$schema`. `problem`, `aggregator` and `attack` are objects tagged by `kind`, whose parameters
//! belong to the kind (registered in the [`Registry`]); an aggregator may also list
//! pre-aggregators in `pre`, and an attack takes `from_round`. Unknown fields are rejected
//! everywhere; every error names the field path and line:column. This module composes the pieces
//! and checks what spans sections (counts, memory); each kind checks its own parameters
//! ([`crate::registry::Params::check`]).

pub mod attack_object;
pub mod catalog;
pub(crate) mod errors;
pub mod locate;
pub mod tagged;

use crate::aggregate::{Aggregator, Composed, DynAggregator, DynPreAggregator};
use crate::attack::{Adversaries, DynAttack};
use crate::error::{Error, ScenarioError};
use crate::evaluation::{EvaluationPlan, EvaluationSpec, SecondOrderPlan};
pub use crate::optimizer::OptimizerSpec;
use crate::problem::{DynProblem, Problem, ProblemInfo};
use crate::registry::{
    BuildContext, CheckContext, DynParams, Entry, ParamError, Registry, Section, Setting,
};
use errors::{located, printable, quoted_list};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt::Debug;
use std::sync::Arc;
pub use tagged::{Tagged, TaggedEnum};

/// Scenarios whose estimated memory exceeds this are refused up front.
pub const MEMORY_LIMIT_BYTES: u64 = 8 << 30;
/// Longest accepted run name.
pub const MAX_NAME_LEN: usize = 100;

/// A scenario as written in the file: the common fields typed, the kind objects as JSON until
/// the registry resolves them. In a checked [`Scenario`], the kind objects hold every default.
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
    /// What to minimise (`kind` and its parameters).
    pub problem: KindObject,
    /// Step, schedule, momentum and perturbation.
    #[serde(deserialize_with = "object_only")]
    pub optimizer: OptimizerSpec,
    /// How the master aggregates (`kind`, its parameters, and optional `pre`).
    pub aggregator: KindObject,
    /// What the Byzantine machines send (`kind`, its parameters, and `from_round`).
    #[serde(default = "default_attack")]
    pub attack: KindObject,
    /// Evaluate the iterate (loss, gradient norm, the problem's metrics such as test accuracy)
    /// and write a row of rounds.csv every this many rounds, and at the last round.
    #[serde(default = "one")]
    pub eval_every: u64,
    /// The second-order metric `min_eig` and the final local-minimum test (absent: none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "object_only_option"
    )]
    #[schemars(with = "EvaluationSpec")]
    pub evaluation: Option<EvaluationSpec>,
}

fn one() -> u64 {
    1
}

fn default_attack() -> KindObject {
    let mut m = Map::new();
    m.insert("kind".into(), Value::String("none".into()));
    KindObject(m)
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

/// [`object_only`] for an optional object (`null` is refused like any non-object).
fn object_only_option<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    object_only(d).map(Some)
}

/// An object tagged by `kind`, kept as JSON until the registry resolves it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for KindObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => Ok(KindObject(m)),
            other => Err(serde::de::Error::custom(format!(
                "invalid type: {}, expected an object with a `kind` field",
                tagged::json_type(&other)
            ))),
        }
    }
}

impl JsonSchema for KindObject {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KindObject".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "required": ["kind"]})
    }
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

/// A kind chosen by a scenario, with its checked parameters.
pub struct Chosen<D: ?Sized> {
    /// The kind's registered name.
    pub kind: String,
    /// Its parameters.
    pub params: Arc<D>,
}

impl<D: ?Sized> Clone for Chosen<D> {
    fn clone(&self) -> Self {
        Chosen {
            kind: self.kind.clone(),
            params: self.params.clone(),
        }
    }
}

impl<D: ?Sized + DynParams> Chosen<D> {
    /// The kind object as written back to scenario.json: `kind` first, then every parameter.
    fn to_object(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("kind".into(), Value::String(self.kind.clone()));
        if let Value::Object(p) = self.params.to_json() {
            m.extend(p);
        }
        m
    }
}

impl<D: ?Sized + Debug> Debug for Chosen<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind, self.params)
    }
}

/// A checked scenario: every value is valid and every default is filled in. Two scenarios are
/// equal when their resolved JSON is.
#[derive(Clone)]
pub struct Scenario {
    spec: ScenarioSpec,
    problem: Chosen<dyn DynProblem>,
    problem_info: ProblemInfo,
    aggregator: Chosen<dyn DynAggregator>,
    pre: Vec<Chosen<dyn DynPreAggregator>>,
    attack: Chosen<dyn DynAttack>,
    from_round: u64,
}

impl PartialEq for Scenario {
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

impl Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A field-path error before it is located in the text.
pub(crate) type PathError = (String, String);

/// Resolve the kind object at `path` with the registered kinds `kinds` of `section`: the `kind`
/// must be a registered name, the rest (less `common` keys) must parse as its parameters.
fn resolve<D: ?Sized>(
    kinds: &crate::registry::Kinds<D>,
    section: Section,
    path: &str,
    object: &Map<String, Value>,
    common: &[&str],
) -> Result<Chosen<D>, PathError> {
    let names = kinds.names();
    let choices = if names.is_empty() {
        format!("no {} kinds are registered", section.field())
    } else {
        format!("one of {}", quoted_list(&names))
    };
    let Some(kind) = object.get("kind") else {
        return Err((path.into(), format!("missing field `kind` ({choices})")));
    };
    let Some(kind) = kind.as_str() else {
        return Err((
            tagged::join(path, "kind"),
            format!(
                "invalid type: {}, expected a string: {choices}",
                tagged::json_type(kind)
            ),
        ));
    };
    let Some(Entry { parse, .. }) = kinds.get(kind) else {
        return Err((
            tagged::join(path, "kind"),
            format!("unknown kind `{kind}`, expected {choices}"),
        ));
    };
    let params: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| k.as_str() != "kind" && !common.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match parse(Value::Object(params)) {
        Ok(p) => Ok(Chosen {
            kind: kind.to_string(),
            params: Arc::from(p),
        }),
        Err(e) => {
            let inner = tagged::path_string(e.path());
            Err((tagged::join(path, &inner), e.into_inner().to_string()))
        }
    }
}

/// The `from_round` of the attack object at `path` (default 1).
fn from_round_of(object: &Map<String, Value>, path: &str) -> Result<u64, PathError> {
    let field = tagged::join(path, "from_round");
    match object.get("from_round") {
        None => Ok(1),
        Some(v) => match u64::deserialize(v) {
            Ok(r) if r >= 1 => Ok(r),
            Ok(_) => Err((
                field,
                "expected a round >= 1 (rounds are numbered from 1)".into(),
            )),
            Err(e) => Err((field, e.to_string())),
        },
    }
}

/// Run a kind's check, turning its relative field path into the scenario's.
fn check_kind<D: ?Sized + DynParams>(
    chosen: &mut Chosen<D>,
    path: &str,
    ctx: &CheckContext<'_>,
) -> Result<(), PathError> {
    let Some(params) = Arc::get_mut(&mut chosen.params) else {
        return Err((
            path.into(),
            "internal: parameters shared before the check".into(),
        ));
    };
    params.check_dyn(ctx).map_err(|e: ParamError| {
        let p = if e.in_scenario {
            e.path
        } else {
            tagged::join(path, &e.path)
        };
        (p, e.message)
    })
}

/// The error for `message` about field `path` of the JSON `text`, located at its line:column.
pub(crate) fn locate_error(
    text: &str,
    source_name: &str,
    path: &str,
    message: &str,
) -> ScenarioError {
    located(text, source_name, path, message)
}

/// A file name as printed in messages (control characters escaped).
pub(crate) fn printable_name(name: &str) -> String {
    errors::printable(name)
}

/// A serde error message in plain words, without its position (`at line 1 column 5`).
pub(crate) fn plain_message(message: &str) -> String {
    errors::plain_types(&errors::strip_position(message))
}

/// Parse `text` as one JSON object that is `what` (`the rule`), with the scenario parser's
/// syntax checks (duplicate keys, nesting, byte order mark) and messages.
pub(crate) fn parse_object(
    text: &str,
    source_name: &str,
    what: &str,
) -> Result<Map<String, Value>, ScenarioError> {
    errors::check_syntax_of(text, source_name, what)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) | Err(_) => Err(located(text, source_name, "", "expected a JSON object")),
    }
}

/// An aggregator object resolved with a registry: the rule, and its pre-aggregators in order.
pub(crate) type ResolvedAggregator = (Chosen<dyn DynAggregator>, Vec<Chosen<dyn DynPreAggregator>>);

/// Resolve the aggregator object at `path` (`aggregator` in a scenario, empty for a rule object
/// on its own, as `safeguard-sim aggregate` reads it): its kind and parameters, then each entry
/// of its optional `pre` array.
pub(crate) fn resolve_aggregator(
    registry: &Registry,
    path: &str,
    object: &Map<String, Value>,
) -> Result<ResolvedAggregator, PathError> {
    let aggregator = resolve(
        &registry.aggregators,
        Section::Aggregator,
        path,
        object,
        Section::Aggregator.common_keys(),
    )?;
    let pre_path = tagged::join(path, "pre");
    let mut pre = Vec::new();
    match object.get("pre") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{pre_path}[{i}]");
                let Value::Object(obj) = item else {
                    return Err((
                        item_path,
                        format!(
                            "invalid type: {}, expected an object with a `kind` field",
                            tagged::json_type(item)
                        ),
                    ));
                };
                pre.push(resolve(
                    &registry.pre_aggregators,
                    Section::PreAggregator,
                    &item_path,
                    obj,
                    &[],
                )?);
            }
        }
        Some(other) => {
            return Err((
                pre_path,
                format!(
                    "invalid type: {}, expected an array of pre-aggregator objects",
                    tagged::json_type(other)
                ),
            ));
        }
    }
    Ok((aggregator, pre))
}

/// Check an aggregator and its pre-aggregators (`ctx.inputs` is the machine count): the
/// pre-aggregators first, in order, each told how many vectors reach it
/// ([`CheckContext::inputs`]), then the rule, told how many the last one outputs (so that a
/// rule's precondition, e.g. Krum's `n >= 2f + 3`, is checked against what it will receive).
pub(crate) fn check_aggregator(
    aggregator: &mut Chosen<dyn DynAggregator>,
    pre: &mut [Chosen<dyn DynPreAggregator>],
    path: &str,
    ctx: &CheckContext<'_>,
) -> Result<(), PathError> {
    if !pre.is_empty() && !aggregator.params.accepts_pre_dyn() {
        return Err((
            tagged::join(path, "pre"),
            format!(
                "`{}` needs each machine's own vector, so pre-aggregators cannot come before it; remove `pre`",
                aggregator.kind
            ),
        ));
    }
    let mut inner = *ctx;
    for (i, p) in pre.iter_mut().enumerate() {
        check_kind(p, &format!("{}[{i}]", tagged::join(path, "pre")), &inner)?;
        inner.inputs = p.params.output_count_dyn(inner.inputs);
    }
    check_kind(aggregator, path, &inner)
}

/// The resolved aggregator object, as written back: `kind`, every parameter, then `pre` if any.
pub(crate) fn aggregator_object(
    aggregator: &Chosen<dyn DynAggregator>,
    pre: &[Chosen<dyn DynPreAggregator>],
) -> Map<String, Value> {
    let mut agg = aggregator.to_object();
    if !pre.is_empty() {
        let list = pre.iter().map(|p| Value::Object(p.to_object())).collect();
        agg.insert("pre".into(), Value::Array(list));
    }
    agg
}

/// Build a checked aggregator with its pre-aggregators in front ([`Composed`]).
pub(crate) fn build_aggregator(
    aggregator: &Chosen<dyn DynAggregator>,
    pre: &[Chosen<dyn DynPreAggregator>],
    ctx: &BuildContext,
) -> Result<Box<dyn Aggregator>, Error> {
    let fail = |kind: &str, e: String| Error::Build(format!("aggregator `{kind}`: {e}"));
    let rule = aggregator
        .params
        .build_dyn(ctx)
        .map_err(|e| fail(&aggregator.kind, e))?;
    if pre.is_empty() {
        return Ok(rule);
    }
    let pre = pre
        .iter()
        .map(|p| p.params.build_dyn(ctx).map_err(|e| fail(&p.kind, e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(Composed::new(pre, rule)))
}

impl Scenario {
    /// Parse and check a scenario from JSON text with the built-in kinds
    /// ([`Registry::builtin`]); `source_name` labels errors (a file name).
    pub fn from_json_str(text: &str, source_name: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, source_name, &Registry::builtin())
    }

    /// Read, parse and check a scenario file with the built-in kinds.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        Scenario::load(path, &Registry::builtin())
    }

    /// Parse and check a scenario from JSON text with the kinds of `registry`.
    pub fn parse(
        text: &str,
        source_name: &str,
        registry: &Registry,
    ) -> Result<Scenario, ScenarioError> {
        // Pass 1: syntax and duplicate keys.
        errors::check_syntax(text, source_name)?;
        // Pass 2: the common structure, with the field path.
        let mut de = serde_json::Deserializer::from_str(text);
        let spec: ScenarioSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = tagged::path_string(e.path());
            let mut message = e.into_inner().to_string();
            if path == "target" && message.starts_with("unknown field `target`") {
                // The schema lists it: say where it belongs.
                message = "unknown field `target`, which belongs to sweeps only (files with a \
                           `sweep` block), where it sets the loss target of the comparison"
                    .into();
            }
            located(text, source_name, &path, &message)
        })?;
        // Pass 3: the kinds, then the checks of the whole.
        Scenario::resolve(spec, registry)
            .map_err(|(path, message)| located(text, source_name, &path, &message))
    }

    /// Read, parse and check a scenario file with the kinds of `registry`.
    pub fn load(path: &std::path::Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
        let text = read_scenario_file(path)?;
        Scenario::parse(&text, &printable(&path.display().to_string()), registry)
    }

    /// Resolve the kinds of a parsed spec with `registry` and check the whole, filling in every
    /// default. Errors are (field path, message).
    pub fn resolve(spec: ScenarioSpec, registry: &Registry) -> Result<Scenario, PathError> {
        // Structure first (every kind and parameter parses), then values.
        let mut problem = resolve(
            &registry.problems,
            Section::Problem,
            "problem",
            &spec.problem.0,
            &[],
        )?;
        let (mut aggregator, mut pre) =
            resolve_aggregator(registry, "aggregator", &spec.aggregator.0)?;
        let mut attack = resolve(
            &registry.attacks,
            Section::Attack,
            "attack",
            &spec.attack.0,
            Section::Attack.common_keys(),
        )?;
        let from_round = from_round_of(&spec.attack.0, "attack")?;

        check_common(&spec)?;
        let setting = Setting {
            seed: spec.seed,
            rounds: spec.rounds,
            honest: spec.workers.honest,
            byzantine: spec.workers.byzantine,
            lr: spec.optimizer.lr,
            perturbation: spec.optimizer.perturbation,
            optimizer: spec.optimizer.optimizer(),
        };
        let mut ctx = CheckContext {
            setting,
            inputs: setting.machines(),
            problem: None,
            aggregator: None,
            aggregator_windows: false,
        };
        check_kind(&mut problem, "problem", &ctx)?;
        let problem_info = problem.params.info_dyn();
        check_memory(&spec, problem_info.dim)?;
        ctx.problem = Some(&problem_info);
        check_aggregator(&mut aggregator, &mut pre, "aggregator", &ctx)?;
        ctx.aggregator = Some(&aggregator.kind);
        ctx.aggregator_windows = aggregator.params.publishes_windows_dyn();
        check_kind(&mut attack, "attack", &ctx)?;

        let mut spec = spec;
        spec.schema = None;
        let mut s = Scenario {
            spec,
            problem,
            problem_info,
            aggregator,
            pre,
            attack,
            from_round,
        };
        // The resolved kind objects, for scenario.json.
        s.spec.problem = KindObject(s.problem.to_object());
        s.spec.aggregator = KindObject(aggregator_object(&s.aggregator, &s.pre));
        let mut att = s.attack.to_object();
        att.insert("from_round".into(), Value::from(s.from_round));
        s.spec.attack = KindObject(att);
        Ok(s)
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

    /// The scenario-level facts every kind sees.
    pub fn setting(&self) -> Setting {
        Setting {
            seed: self.spec.seed,
            rounds: self.spec.rounds,
            honest: self.spec.workers.honest,
            byzantine: self.spec.workers.byzantine,
            lr: self.spec.optimizer.lr,
            perturbation: self.spec.optimizer.perturbation,
            optimizer: self.spec.optimizer.optimizer(),
        }
    }

    /// When the iterate is evaluated and whether `min_eig` is computed (from `eval_every` and
    /// `evaluation`).
    pub fn evaluation_plan(&self) -> EvaluationPlan {
        EvaluationPlan {
            eval_every: self.spec.eval_every,
            rounds: self.spec.rounds,
            second_order: self.spec.evaluation.as_ref().map(|e| SecondOrderPlan {
                every: e.min_eig_every,
                lanczos_steps: e.lanczos_steps,
                eps: e.eps,
                seed: self.spec.seed,
            }),
        }
    }

    /// The problem's kind.
    pub fn problem_kind(&self) -> &str {
        &self.problem.kind
    }
    /// The aggregator's kind.
    pub fn aggregator_kind(&self) -> &str {
        &self.aggregator.kind
    }
    /// The attack's kind.
    pub fn attack_kind(&self) -> &str {
        &self.attack.kind
    }
    /// The attack's `from_round` (honest behaviour before it).
    pub fn attack_from_round(&self) -> u64 {
        self.from_round
    }
    /// Facts about the problem known from its parameters.
    pub fn problem_info(&self) -> &ProblemInfo {
        &self.problem_info
    }

    /// The problem's parameters, if they are of type `P` (e.g. to inspect a built-in kind).
    pub fn problem_params<P: 'static>(&self) -> Option<&P> {
        self.problem.params.as_any().downcast_ref()
    }
    /// The aggregator's parameters, if they are of type `P`.
    pub fn aggregator_params<P: 'static>(&self) -> Option<&P> {
        self.aggregator.params.as_any().downcast_ref()
    }
    /// The attack's parameters, if they are of type `P`.
    pub fn attack_params<P: 'static>(&self) -> Option<&P> {
        self.attack.params.as_any().downcast_ref()
    }

    /// Build the problem.
    pub fn build_problem(&self) -> Result<Arc<dyn Problem>, Error> {
        self.problem
            .params
            .build_dyn(&self.setting())
            .map_err(|e| Error::Build(format!("problem `{}`: {e}", self.problem.kind)))
    }

    /// Build the problem (shorthand for [`Scenario::build_problem`] that panics on failure,
    /// for tests and examples: the built-in problems never fail to build).
    #[doc(hidden)]
    pub fn problem(&self) -> Arc<dyn Problem> {
        match self.build_problem() {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// The context the other kinds are built with. Its aggregator factory
    /// ([`BuildContext::aggregator`]) builds the scenario's rule once, on first use, and hands
    /// out copies of that pristine instance when the rule can copy itself
    /// ([`Aggregator::boxed_clone`]), so that a rule with an expensive construction (the
    /// calibrating safeguard's pre-run) is built once; otherwise it builds a new one each time.
    pub fn build_context(&self, problem: Arc<dyn Problem>) -> BuildContext {
        let plain = BuildContext::new(self.setting(), problem);
        let scenario = self.clone();
        let inner = plain.clone();
        let template: std::sync::Mutex<Option<Box<dyn Aggregator>>> = std::sync::Mutex::new(None);
        let factory = move || -> Result<Box<dyn Aggregator>, String> {
            let build = || scenario.build_aggregator(&inner).map_err(|e| e.to_string());
            let mut slot = template.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(build()?);
            }
            match slot.as_ref().and_then(|t| t.boxed_clone()) {
                Some(copy) => Ok(copy),
                None => build(),
            }
        };
        BuildContext {
            aggregator: Some(Arc::new(factory)),
            ..plain
        }
    }

    /// Build the aggregator (with its pre-aggregators in front); a calibrating safeguard runs its
    /// pre-run here.
    pub fn build_aggregator(&self, ctx: &BuildContext) -> Result<Box<dyn Aggregator>, Error> {
        build_aggregator(&self.aggregator, &self.pre, ctx)
    }

    /// Build the attack's adversaries.
    pub fn build_attack(&self, ctx: &BuildContext) -> Result<Adversaries, Error> {
        self.attack
            .params
            .build_dyn(ctx)
            .map_err(|e| Error::Build(format!("attack `{}`: {e}", self.attack.kind)))
    }
}

/// Read a scenario file as text: a clear error for a directory, a file over 16 MiB, a file that
/// cannot be read, or bytes that are not UTF-8 (with the position of the first bad byte).
pub fn read_scenario_file(path: &std::path::Path) -> Result<String, ScenarioError> {
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
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let prefix = String::from_utf8_lossy(&bytes[..valid]);
        let (line, column) = locate::line_col(&prefix, prefix.len());
        ScenarioError {
            source_name: name.clone(),
            path: String::new(),
            line,
            column,
            message: format!(
                "the file is not valid UTF-8 (byte 0x{:02X} at byte offset {valid}): save it as UTF-8",
                bytes.get(valid).copied().unwrap_or(0)
            ),
        }
    })
}

/// `Err` with the reason unless `name` is a valid run name: 1 to [`MAX_NAME_LEN`] letters,
/// digits, `-`, `_` or `.`, not starting with `.` (it names the output directory).
pub fn check_run_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{name:?} is not a valid run name: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', not starting with '.' (it names the output directory)"
        ));
    }
    Ok(())
}

/// The checks of the common fields.
fn check_common(spec: &ScenarioSpec) -> Result<(), PathError> {
    fn e<T>(p: &str, m: String) -> Result<T, PathError> {
        Err((p.to_string(), m))
    }
    check_run_name(&spec.name).map_err(|m| ("name".to_string(), m))?;
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
    let within = |section: &str, e: ParamError| (tagged::join(section, &e.path), e.message);
    spec.optimizer.check().map_err(|e| within("optimizer", e))?;
    if let Some(evaluation) = &spec.evaluation {
        evaluation
            .check(spec.eval_every)
            .map_err(|e| within("evaluation", e))?;
    }
    Ok(())
}

/// Memory: parameters, one gradient per machine in flight, two windows per machine.
fn check_memory(spec: &ScenarioSpec, dim: usize) -> Result<(), PathError> {
    let m = spec.workers.honest.saturating_add(spec.workers.byzantine);
    let vectors = 8u64.saturating_add((m as u64).saturating_mul(4));
    let bytes = vectors.saturating_mul(dim as u64).saturating_mul(8);
    if bytes > MEMORY_LIMIT_BYTES {
        return Err((
            "problem.dim".into(),
            format!(
                "{m} machines x dim {dim} need about {:.1} GiB of memory (limit {} GiB); reduce dim or the number of machines",
                bytes as f64 / (1u64 << 30) as f64,
                MEMORY_LIMIT_BYTES >> 30
            ),
        ));
    }
    Ok(())
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
        assert!(json.contains("\"from_round\": 1"), "{json}");
        let again = Scenario::from_json_str(&json, "again.json").unwrap();
        assert_eq!(again, s);
        assert_eq!(s.attack_kind(), "sign_flip");
        let sf: &crate::attack::SignFlipParams = s.attack_params().unwrap();
        assert_eq!(sf.scale, 2.0);
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
        let e = err(&OK.replace("\"sign_flip\"", "\"sign_flp\""));
        assert_eq!(e.path, "attack.kind");
        assert!(
            e.message.contains("did you mean `sign_flip`"),
            "{}",
            e.message
        );
        let e = err(&OK.replace("\"scale\": 2", "\"scale\": 2, \"from_round\": 0"));
        assert_eq!(e.path, "attack.from_round");
        let e = err(&OK.replace("\"window_short\": 5", "\"window_short\": 5, \"pre\": 3"));
        assert_eq!(e.path, "aggregator.pre");
    }
}
