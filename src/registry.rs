//! The registry of kinds: every `kind` a scenario file can name (problem, aggregator,
//! pre-aggregator, attack) is registered here, built-in or from a user's crate, in the same way.
//!
//! A kind is a *parameter type*: a serde struct with a JSON Schema (`#[derive(Serialize,
//! Deserialize, JsonSchema)]`, `#[serde(deny_unknown_fields)]`), whose doc comment is the kind's
//! description in `list` and in the schema. It implements [`Params`] (checks against the rest of
//! the scenario, defaults that depend on it) and one section trait that builds the thing itself:
//! [`crate::problem::ProblemKind`], [`crate::aggregate::AggregatorKind`],
//! [`crate::aggregate::PreAggregatorKind`] or [`crate::attack::AttackKind`].
//!
//! ```
//! use safeguard_sim::prelude::*;
//!
//! /// Sends the honest mean, scaled: a toy attack.
//! #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Scaled {
//!     /// The factor.
//!     factor: f64,
//! }
//! impl Params for Scaled {}
//! impl AttackKind for Scaled {
//!     fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
//!         let factor = self.factor;
//!         Ok(Adversaries::each(move |_id| {
//!             adversary_fn(move |ctx: &mut AttackContext<'_>| Some(ctx.view.honest_mean() * factor))
//!         }))
//!     }
//! }
//!
//! let mut registry = Registry::builtin();
//! registry.add_attack::<Scaled>("scaled");
//! let text = r#"{"name":"doc","seed":1,"rounds":20,"workers":{"honest":3,"byzantine":1},
//!   "problem":{"kind":"quadratic","dim":2},"optimizer":{"lr":0.1},
//!   "aggregator":{"kind":"mean"},"attack":{"kind":"scaled","factor":-2}}"#;
//! let scenario = registry.parse(text, "doc.json").unwrap();
//! assert_eq!(scenario.attack_kind(), "scaled");
//! let bad = registry.parse(&text.replace("factor", "factr"), "doc.json").unwrap_err();
//! assert_eq!(bad.path, "attack.factr");
//! ```
//!
//! Parsing, `validate`, `list` and `schema` read the registry, so a user's kind gets the same error
//! quality as a built-in one: file:line:column, the field path, and a did-you-mean over every
//! registered name. A later registration under a name replaces the earlier one (so a user may
//! replace a built-in kind); the order of registration is the order of `list`.

use crate::aggregate::{AggregatorKind, DynAggregator, DynPreAggregator, PreAggregatorKind};
use crate::attack::{AttackKind, DynAttack};
use crate::problem::{DynProblem, ProblemInfo, ProblemKind};
use crate::rng::SimRng;
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

/// The parameter type of a kind. Implement [`Params::check`] to reject bad values (with the field
/// they belong to) and to fill in defaults that depend on the rest of the scenario; the default
/// accepts everything.
pub trait Params:
    Serialize + DeserializeOwned + JsonSchema + Clone + Debug + Send + Sync + 'static
{
    /// Check the values against the rest of the scenario and fill in derived defaults. Called
    /// once, after parsing; the kind never sees unchecked values afterwards.
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        let _ = ctx;
        Ok(())
    }
}

/// A bad parameter value: which field, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The field path. Relative to the kind's object (`scale`, `threshold.factor`, or empty for
    /// the object itself) unless `in_scenario` is set.
    pub path: String,
    /// What is wrong, and what would be right.
    pub message: String,
    /// The path is absolute in the scenario (e.g. `workers.byzantine`).
    pub in_scenario: bool,
}

impl ParamError {
    /// An error about field `field` of the kind's own object (`""` for the whole object).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            path: field.into(),
            message: message.into(),
            in_scenario: false,
        }
    }
    /// An error about another part of the scenario, by its full path (`workers.byzantine`).
    pub fn scenario(path: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            path: path.into(),
            message: message.into(),
            in_scenario: true,
        }
    }
    /// `Err` unless `value` is finite and > 0 (or >= 0 with `zero_ok`).
    pub fn require_positive(field: &str, value: f64, zero_ok: bool) -> Result<(), ParamError> {
        if !value.is_finite() || value < 0.0 || (!zero_ok && value == 0.0) {
            let want = if zero_ok {
                "a finite number >= 0"
            } else {
                "a finite number > 0"
            };
            return Err(ParamError::new(
                field,
                format!("expected {want}, got {value}"),
            ));
        }
        Ok(())
    }
    /// `Err` unless `value` is finite.
    pub fn require_finite(field: &str, value: f64) -> Result<(), ParamError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(ParamError::new(field, "expected a finite number"))
        }
    }
}

/// The scenario-level facts every kind may read when it is checked or built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// Master seed.
    pub seed: u64,
    /// Rounds planned.
    pub rounds: u64,
    /// Honest machines (ids `0..honest`).
    pub honest: usize,
    /// Byzantine machines (ids `honest..honest + byzantine`).
    pub byzantine: usize,
    /// Step size.
    pub lr: f64,
    /// Standard deviation of the perturbation (multiplied by `lr`).
    pub perturbation: f64,
    /// Schedule, worker momentum and server momentum (see [`crate::optimizer`]).
    pub optimizer: crate::optimizer::Optimizer,
}

impl Setting {
    /// `m`, all machines.
    pub fn machines(&self) -> usize {
        self.honest + self.byzantine
    }
}

/// What [`Params::check`] may look at.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The scenario-level facts.
    pub setting: Setting,
    /// How many vectors the kind being checked receives per round at most: the machine count
    /// `m` for an aggregator without pre-aggregators (and for problems and attacks); for an
    /// aggregator after pre-aggregators, what the last of them outputs (bucketing makes
    /// `ceil(m / size)` vectors of `m`); for a pre-aggregator, what the one before it outputs.
    /// Fewer may arrive in a round (silent machines): rules must define what they do then.
    pub inputs: usize,
    /// The problem's facts; `None` while the problem itself is checked.
    pub problem: Option<&'a ProblemInfo>,
    /// The aggregator's kind; `None` while the problem or the aggregator is checked.
    pub aggregator: Option<&'a str>,
    /// Whether the aggregator publishes windows in its public state
    /// ([`crate::aggregate::AggregatorKind::publishes_windows`]); `false` while the problem or
    /// the aggregator is checked.
    pub aggregator_windows: bool,
}

/// Builds a fresh copy of a scenario's aggregation rule (pre-aggregators included), in its
/// initial state: what a what-if evaluation runs a candidate round through.
pub type AggregatorFactory =
    Arc<dyn Fn() -> Result<Box<dyn crate::aggregate::Aggregator>, String> + Send + Sync>;

/// What a kind's constructor gets (aggregators, pre-aggregators and attacks; problems get the
/// [`Setting`] only).
#[derive(Clone)]
pub struct BuildContext {
    /// The scenario-level facts.
    pub setting: Setting,
    /// The problem of the run.
    pub problem: Arc<dyn crate::problem::Problem>,
    /// A fresh copy of the scenario's aggregation rule on demand, for attacks that evaluate
    /// candidate vectors against the defense (`alie_search`, `ipm_search`) or read its windows
    /// before the run (`threshold_aware`). Set by [`crate::scenario::Scenario::build_context`];
    /// `None` elsewhere (e.g. `safeguard-sim attack`, which has no defense).
    ///
    /// A fresh copy of a stateful rule starts from its initial state: the safeguard's windows
    /// are empty and every machine is good, so what it returns for one round is the mean over
    /// the machines offered, and its expulsions say nothing about the real run.
    pub aggregator: Option<AggregatorFactory>,
}

impl BuildContext {
    /// A context with no aggregator factory.
    pub fn new(setting: Setting, problem: Arc<dyn crate::problem::Problem>) -> Self {
        BuildContext {
            setting,
            problem,
            aggregator: None,
        }
    }

    /// Stream `id` of the master seed (see [`crate::rng::streams`] for the reserved ids).
    pub fn stream(&self, id: u64) -> SimRng {
        crate::rng::stream(self.setting.seed, id)
    }

    /// A fresh copy of the scenario's aggregation rule (see [`BuildContext::aggregator`]).
    pub fn fresh_aggregator(&self) -> Result<Box<dyn crate::aggregate::Aggregator>, String> {
        match &self.aggregator {
            Some(make) => make(),
            None => Err(
                "no aggregation rule is known here (the attack needs a scenario's defense)".into(),
            ),
        }
    }
}

impl Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("setting", &self.setting)
            .field("problem", &self.problem.name())
            .field("aggregator", &self.aggregator.is_some())
            .finish()
    }
}

/// The object-safe part of [`Params`], implemented for every parameter type.
pub trait DynParams: Debug + Send + Sync {
    /// The parameters as JSON (every default filled in).
    fn to_json(&self) -> Value;
    /// [`Params::check`].
    fn check_dyn(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError>;
    /// For downcasting to the concrete parameter type.
    fn as_any(&self) -> &dyn Any;
}

impl<P: Params> DynParams for P {
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn check_dyn(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        self.check(ctx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A section of the scenario that selects a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// `problem`.
    Problem,
    /// `aggregator`.
    Aggregator,
    /// `aggregator.pre[i]`.
    PreAggregator,
    /// `attack`.
    Attack,
}

impl Section {
    /// The four sections, in the order of `list`.
    pub const ALL: [Section; 4] = [
        Section::Problem,
        Section::Aggregator,
        Section::PreAggregator,
        Section::Attack,
    ];
    /// The field name in scenario files (`aggregator.pre` for pre-aggregators).
    pub fn field(&self) -> &'static str {
        match self {
            Section::Problem => "problem",
            Section::Aggregator => "aggregator",
            Section::PreAggregator => "aggregator.pre",
            Section::Attack => "attack",
        }
    }
    /// Keys every kind of the section accepts besides its own parameters.
    pub fn common_keys(&self) -> &'static [&'static str] {
        match self {
            Section::Aggregator => &["pre"],
            Section::Attack => &["from_round"],
            _ => &[],
        }
    }
}

type ParseFn<D> = fn(Value) -> Result<Box<D>, serde_path_to_error::Error<serde_json::Error>>;
type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

/// One registered kind of a section.
pub(crate) struct Entry<D: ?Sized> {
    pub(crate) name: String,
    pub(crate) parse: ParseFn<D>,
    pub(crate) schema: SchemaFn,
}

/// The registered kinds of one section, in registration order.
pub(crate) struct Kinds<D: ?Sized> {
    pub(crate) entries: Vec<Entry<D>>,
}

impl<D: ?Sized> Kinds<D> {
    fn new() -> Self {
        Kinds {
            entries: Vec::new(),
        }
    }
    fn add(&mut self, entry: Entry<D>) {
        match self.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }
    pub(crate) fn get(&self, name: &str) -> Option<&Entry<D>> {
        self.entries.iter().find(|e| e.name == name)
    }
    pub(crate) fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

fn parse_with<P, D: ?Sized>(
    v: Value,
    boxed: fn(P) -> Box<D>,
) -> Result<Box<D>, serde_path_to_error::Error<serde_json::Error>>
where
    P: DeserializeOwned,
{
    serde_path_to_error::deserialize::<_, P>(v).map(boxed)
}

fn schema_of<P: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<P>()
}

/// Every kind a scenario can name. [`Registry::builtin`] holds the kinds this crate ships; a
/// user's binary adds its own and passes the registry to [`crate::cli::main_with`] or
/// [`Registry::parse`].
pub struct Registry {
    pub(crate) problems: Kinds<dyn DynProblem>,
    pub(crate) aggregators: Kinds<dyn DynAggregator>,
    pub(crate) pre_aggregators: Kinds<dyn DynPreAggregator>,
    pub(crate) attacks: Kinds<dyn DynAttack>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("problems", &self.problems.names())
            .field("aggregators", &self.aggregators.names())
            .field("pre_aggregators", &self.pre_aggregators.names())
            .field("attacks", &self.attacks.names())
            .finish()
    }
}

impl Registry {
    /// A registry with no kinds at all.
    pub fn empty() -> Self {
        Registry {
            problems: Kinds::new(),
            aggregators: Kinds::new(),
            pre_aggregators: Kinds::new(),
            attacks: Kinds::new(),
        }
    }

    /// The kinds this crate ships (registered through the same calls a user makes).
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        crate::problem::register_builtins(&mut r);
        crate::aggregate::register_builtins(&mut r);
        crate::attack::register_builtins(&mut r);
        r
    }

    /// Register problem kind `name` with parameter type `P`.
    pub fn add_problem<P: ProblemKind>(&mut self, name: &str) -> &mut Self {
        self.problems.add(Entry {
            name: name.to_string(),
            parse: |v| parse_with::<P, dyn DynProblem>(v, |p| Box::new(p)),
            schema: schema_of::<P>,
        });
        self
    }

    /// Register aggregator kind `name` with parameter type `P`.
    pub fn add_aggregator<P: AggregatorKind>(&mut self, name: &str) -> &mut Self {
        self.aggregators.add(Entry {
            name: name.to_string(),
            parse: |v| parse_with::<P, dyn DynAggregator>(v, |p| Box::new(p)),
            schema: schema_of::<P>,
        });
        self
    }

    /// Register pre-aggregator kind `name` (listed in an aggregator's `pre` array).
    pub fn add_pre_aggregator<P: PreAggregatorKind>(&mut self, name: &str) -> &mut Self {
        self.pre_aggregators.add(Entry {
            name: name.to_string(),
            parse: |v| parse_with::<P, dyn DynPreAggregator>(v, |p| Box::new(p)),
            schema: schema_of::<P>,
        });
        self
    }

    /// Register attack kind `name` with parameter type `P`.
    pub fn add_attack<P: AttackKind>(&mut self, name: &str) -> &mut Self {
        self.attacks.add(Entry {
            name: name.to_string(),
            parse: |v| parse_with::<P, dyn DynAttack>(v, |p| Box::new(p)),
            schema: schema_of::<P>,
        });
        self
    }

    /// The registered kind names of a section, in registration order.
    pub fn kinds(&self, section: Section) -> Vec<&str> {
        match section {
            Section::Problem => self.problems.names(),
            Section::Aggregator => self.aggregators.names(),
            Section::PreAggregator => self.pre_aggregators.names(),
            Section::Attack => self.attacks.names(),
        }
    }

    /// Parse and check a scenario from JSON text; `source_name` labels errors (a file name).
    pub fn parse(
        &self,
        text: &str,
        source_name: &str,
    ) -> Result<crate::scenario::Scenario, crate::ScenarioError> {
        crate::scenario::Scenario::parse(text, source_name, self)
    }

    /// Read, parse and check a scenario file.
    pub fn load(
        &self,
        path: &std::path::Path,
    ) -> Result<crate::scenario::Scenario, crate::ScenarioError> {
        crate::scenario::Scenario::load(path, self)
    }

    /// The JSON Schema of the scenario format with every registered kind.
    pub fn json_schema(&self) -> Value {
        crate::scenario::catalog::json_schema(self)
    }

    /// Every field of a scenario and every registered kind with its parameters, types and
    /// defaults, as `safeguard-sim list` prints it.
    pub fn catalog(&self) -> String {
        crate::scenario::catalog::catalog(self)
    }
}
