//! The scenario format as documentation: the JSON Schema with every registered kind
//! (`safeguard-sim schema`) and a readable list of every field and kind with its parameters,
//! types and defaults (`safeguard-sim list`), both generated from the registry so that neither
//! can drift from the code.

use super::ScenarioSpec;
use crate::registry::{Kinds, Registry, Section};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

/// One variant per registered kind: its name, a reference to its parameters' definition (made
/// in `generator`) and the section's common keys; [`inline`] turns it into the tagged object.
fn variants<D: ?Sized>(
    kinds: &Kinds<D>,
    generator: &mut SchemaGenerator,
    common: &Map<String, Value>,
) -> Vec<Value> {
    kinds
        .entries
        .iter()
        .map(|e| {
            let reference = serde_json::to_value((e.schema)(generator)).unwrap_or(Value::Null);
            json!({"$ref_params": reference, "kind": e.name, "common": common})
        })
        .collect()
}

/// Inline a variant made by [`variants`] against the root's definitions.
fn inline(variant: &Value, defs: &Map<String, Value>, tag: &str) -> Value {
    let reference = variant.get("$ref_params").cloned().unwrap_or(Value::Null);
    let params = match reference.get("$ref").and_then(Value::as_str) {
        Some(r) => defs
            .get(r.rsplit('/').next().unwrap_or(r))
            .cloned()
            .unwrap_or(Value::Null),
        None => reference,
    };
    let kind = variant.get("kind").cloned().unwrap_or(Value::Null);
    let mut properties = Map::new();
    properties.insert(tag.into(), json!({"type": "string", "const": kind}));
    if let Some(p) = params.get("properties").and_then(Value::as_object) {
        properties.extend(p.clone());
    }
    if let Some(Value::Object(c)) = variant.get("common") {
        properties.extend(c.clone());
    }
    let mut required = vec![Value::String(tag.into())];
    if let Some(r) = params.get("required").and_then(Value::as_array) {
        required.extend(r.iter().cloned());
    }
    let mut obj = Map::new();
    obj.insert("type".into(), "object".into());
    if let Some(d) = params.get("description") {
        obj.insert("description".into(), d.clone());
    }
    obj.insert("properties".into(), Value::Object(properties));
    obj.insert("required".into(), Value::Array(required));
    obj.insert("additionalProperties".into(), false.into());
    Value::Object(obj)
}

/// The JSON Schema of the scenario format with every kind of `registry`.
pub fn json_schema(registry: &Registry) -> Value {
    let mut generator = SchemaGenerator::default();
    let from_round = json!({
        "from_round": {
            "description": "First round of the attack (1-based); before it the Byzantine machines behave honestly.",
            "type": "integer",
            "format": "uint64",
            "minimum": 1,
            "default": 1
        }
    });
    let pre = json!({
        "pre": {
            "description": "Pre-aggregators applied in order to the round's vectors before the rule (e.g. nearest-neighbour mixing, bucketing).",
            "type": "array",
            "items": {"$ref": "#/$defs/PreAggregator"}
        }
    });
    let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
    let sections = [
        (
            "Problem",
            variants(&registry.problems, &mut generator, &Map::new()),
        ),
        (
            "Aggregator",
            variants(&registry.aggregators, &mut generator, &obj(pre)),
        ),
        (
            "PreAggregator",
            variants(&registry.pre_aggregators, &mut generator, &Map::new()),
        ),
        (
            "Attack",
            variants(&registry.attacks, &mut generator, &obj(from_round)),
        ),
    ];
    let root = generator.into_root_schema_for::<ScenarioSpec>();
    let mut root = serde_json::to_value(root).unwrap_or(Value::Null);
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut new_defs = defs.clone();
    for (name, list) in sections {
        let one_of: Vec<Value> = list.iter().map(|v| inline(v, &defs, "kind")).collect();
        new_defs.insert(name.into(), json!({ "oneOf": one_of }));
    }
    new_defs.remove("KindObject");
    if let Some(r) = root.as_object_mut() {
        r.insert("$defs".into(), Value::Object(new_defs));
        if let Some(Value::Object(props)) = r.get_mut("properties") {
            for (field, def) in [
                ("problem", "Problem"),
                ("aggregator", "Aggregator"),
                ("attack", "Attack"),
            ] {
                let description = props.get(field).and_then(|p| p.get("description")).cloned();
                let mut p = Map::new();
                if let Some(d) = description {
                    p.insert("description".into(), d);
                }
                p.insert("$ref".into(), Value::String(format!("#/$defs/{def}")));
                if field == "attack" {
                    p.insert("default".into(), json!({"kind": "none"}));
                }
                props.insert(field.into(), Value::Object(p));
            }
            props.insert(
                "sweep".into(),
                json!({
                    "description": "Makes the file a sweep: for each key (a scenario field, or a dotted path into one such as `optimizer.lr`), the array of values to try; the runs are the grid product, in key order. A key of several paths joined by `+` takes arrays of one value per path, set together (zipped, not crossed). `seed` is the replicate: comparisons report the mean and standard deviation over seeds.",
                    "type": "object",
                    "additionalProperties": {"type": "array", "minItems": 1}
                }),
            );
            props.insert(
                "target".into(),
                json!({
                    "description": "Sweeps only: the loss target of the comparison. comparison.csv gets `rounds_to_target`, the first round at which the loss averaged over the `window` rounds centred on it is at most `f* + loss_gap` (f*: the problem's known minimum) or `loss`, and `target_reached`.",
                    "type": "object",
                    "properties": {
                        "loss_gap": {"type": "number", "exclusiveMinimum": 0, "description": "Reach the known minimum plus this."},
                        "loss": {"type": "number", "description": "Reach this loss (problems without a known minimum)."},
                        "window": {"type": "integer", "minimum": 1, "default": 1, "description": "Rounds the loss is averaged over, centred on each round (1: the loss itself)."}
                    },
                    "additionalProperties": false
                }),
            );
        }
    }
    root
}

/// Wrap `text` (one paragraph) to `width` columns, continuation lines indented by `indent`.
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

struct Printer<'a> {
    defs: &'a Map<String, Value>,
    out: String,
}

impl Printer<'_> {
    fn resolve(&self, v: &Value) -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .defs
                .get(r.rsplit('/').next().unwrap_or(r))
                .cloned()
                .unwrap_or(Value::Null),
            None => v.clone(),
        }
    }

    /// The tag name and variants of a tagged `oneOf` (`kind` or `mode`), if `v` is one.
    fn tagged(&self, v: &Value) -> Option<(String, Vec<Value>)> {
        let v = self.resolve(v);
        let one = v.get("oneOf")?.as_array()?;
        let first = one.first()?;
        let props = first.get("properties")?.as_object()?;
        let (tag, _) = props.iter().find(|(_, p)| p.get("const").is_some())?;
        Some((tag.clone(), one.clone()))
    }

    fn type_of(&self, v: &Value) -> String {
        if let Some((tag, variants)) = self.tagged(v) {
            let names: Vec<String> = variants
                .iter()
                .filter_map(|o| {
                    o.pointer(&format!("/properties/{tag}/const"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            return format!("{{{tag}: {}}}", names.join("|"));
        }
        let v = self.resolve(v);
        if let Some(t) = v.get("type") {
            let t = match t {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|s| *s != "null")
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => String::new(),
            };
            if t == "array"
                && let Some(items) = v.get("items")
            {
                return format!("array of {}", self.type_of(items));
            }
            return t;
        }
        let choices: Vec<String> = v
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                v.get("oneOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("const").or_else(|| o.get("type"))),
            )
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if !choices.is_empty() {
            return choices.join("|");
        }
        "object".into()
    }

    /// Print the fields of an object schema at `indent`, skipping `skip`, one
    /// `name (type, default): description` paragraph each; tagged objects and objects nested in
    /// them are listed below their field.
    fn fields(&mut self, schema: &Value, indent: usize, skip: &[&str]) {
        let schema = self.resolve(schema);
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let pad = " ".repeat(indent);
        for (name, p) in props.iter().filter(|(n, _)| !skip.contains(&n.as_str())) {
            let default = match p.get("default") {
                Some(d) => format!("default {d}"),
                None if required.contains(name) => "required".into(),
                None => "optional".into(),
            };
            let desc = p.get("description").and_then(Value::as_str).unwrap_or("");
            let text = format!("{name} ({}, {default}): {desc}", self.type_of(p));
            self.out.push_str(&format!(
                "{pad}{}\n",
                wrap(&text, WIDTH.saturating_sub(indent), indent + 4)
            ));
            if let Some((tag, variants)) = self.tagged(p) {
                self.variants(&tag, &variants, indent + 4, &[]);
            } else {
                let resolved = self.resolve(p);
                if resolved.get("properties").is_some() {
                    self.fields(&resolved, indent + 4, &[]);
                }
            }
        }
    }

    /// Print tagged variants (`name: description`, the description without a leading
    /// `` `name`: ``), then their fields less the tag and `skip`.
    fn variants(&mut self, tag: &str, variants: &[Value], indent: usize, skip: &[&str]) {
        let pad = " ".repeat(indent);
        for v in variants {
            let name = v
                .pointer(&format!("/properties/{tag}/const"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let desc = v.get("description").and_then(Value::as_str).unwrap_or("");
            let desc = desc
                .strip_prefix(&format!("`{name}`: "))
                .or_else(|| desc.strip_prefix(&format!("`{name}`:")))
                .unwrap_or(desc);
            let text = format!("{tag} `{name}`: {desc}");
            self.out.push_str(&format!(
                "{pad}{}\n",
                wrap(&text, WIDTH.saturating_sub(indent), indent + 4)
            ));
            let mut skip_all = vec![tag];
            skip_all.extend_from_slice(skip);
            self.fields(v, indent + 4, &skip_all);
        }
    }
}

/// Width of `list`'s text.
const WIDTH: usize = 96;

/// Every field of a scenario and every registered kind with its parameters, types, defaults and
/// descriptions.
pub fn catalog(registry: &Registry) -> String {
    let schema = json_schema(registry);
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut p = Printer {
        defs: &defs,
        out: String::new(),
    };
    p.out.push_str("scenario fields:\n");
    // The top-level fields in the order of a scenario file; the kind sections follow.
    let mut top = schema.clone();
    if let Some(props) = top.get("properties").and_then(Value::as_object) {
        let mut ordered = Map::new();
        for field in [
            "name",
            "seed",
            "rounds",
            "workers",
            "problem",
            "optimizer",
            "aggregator",
            "attack",
            "eval_every",
            "evaluation",
            "sweep",
            "target",
        ] {
            if let Some(mut v) = props.get(field).cloned() {
                if ["problem", "aggregator", "attack"].contains(&field)
                    && let Some(o) = v.as_object_mut()
                    && o.remove("$ref").is_some()
                {
                    o.insert("type".into(), "object".into());
                    let d = o.get("description").and_then(Value::as_str).unwrap_or("");
                    let d = format!("{d} See `{field} (kind)` below.");
                    o.insert("description".into(), Value::String(d));
                }
                ordered.insert(field.into(), v);
            }
        }
        top["properties"] = Value::Object(ordered);
    }
    p.fields(&top, 2, &[]);
    for section in Section::ALL {
        let def = match section {
            Section::Problem => "Problem",
            Section::Aggregator => "Aggregator",
            Section::PreAggregator => "PreAggregator",
            Section::Attack => "Attack",
        };
        let variants = defs
            .get(def)
            .and_then(|d| d.get("oneOf"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        p.out.push_str(&format!("\n{} (kind):\n", section.field()));
        // The keys every kind of the section takes, once.
        let common = section.common_keys();
        if let Some(first) = variants.first() {
            let mut shared = Map::new();
            let mut props = Map::new();
            for key in common {
                if let Some(v) = first.pointer(&format!("/properties/{key}")) {
                    props.insert((*key).into(), v.clone());
                }
            }
            shared.insert("properties".into(), Value::Object(props));
            if !common.is_empty() {
                p.out.push_str("  every kind also takes:\n");
                p.fields(&Value::Object(shared), 4, &[]);
            }
        } else {
            p.out.push_str("  (none registered)\n");
        }
        p.variants("kind", &variants, 2, common);
    }
    p.out
}
