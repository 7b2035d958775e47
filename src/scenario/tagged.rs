//! Objects tagged by a field (`{"kind": "saddle", "dim": 10}`), parsed so that every error keeps
//! the exact field path and every unknown field is rejected.
//!
//! serde's internally tagged enums buffer their content, which loses error positions and lets
//! unknown fields of unit variants through silently. Instead each tagged enum is declared
//! *adjacently* tagged (`kind` + `params`, with `deny_unknown_fields` on every parameter struct),
//! and [`Tagged`] rewrites the user's flat object into that shape before deserializing it with
//! `serde_path_to_error`. An error inside carries its inner path to the outer deserializer through
//! the message (see [`encode`] / [`decode`]), so nested tagged objects keep full paths such as
//! `aggregator.threshold.mode`.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A tagged enum: declared with `#[serde(tag = "kind", content = "params")]`; `TAG` is the
/// field name users write (`kind`, or `mode` for thresholds).
pub trait TaggedEnum: Serialize + DeserializeOwned + JsonSchema {
    /// The tag field users write.
    const TAG: &'static str;
    /// Former names still read, `(old, new)`: a file with `old` parses as `new`, and the resolved
    /// scenario writes `new`. Not listed among the choices of error messages.
    const ALIASES: &'static [(&'static str, &'static str)] = &[];
}

/// A user-facing flat tagged object around an adjacently tagged enum `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged<T>(pub T);

const MARK: char = '\u{1}';

/// Put an inner field path into an error message, so that it survives serde's error type.
pub fn encode(path: &str, message: &str) -> String {
    let (inner, msg) = decode(message);
    let full = join(path, &inner);
    format!("{MARK}{full}{MARK}{msg}")
}

/// Split a message made by [`encode`] into (inner path, message); plain messages have an empty
/// path.
pub fn decode(message: &str) -> (String, String) {
    if let Some(rest) = message.strip_prefix(MARK)
        && let Some(i) = rest.find(MARK)
    {
        return (
            rest[..i].to_string(),
            rest[i + MARK.len_utf8()..].to_string(),
        );
    }
    (String::new(), message.to_string())
}

/// Join two field paths (`a` + `b[1].c`).
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

/// A `serde_path_to_error` path as our dotted string (root is empty).
pub fn path_string(p: &serde_path_to_error::Path) -> String {
    let s = p.to_string();
    if s == "." { String::new() } else { s }
}

/// `a number`, `an object`, ...: the JSON type of `v` in plain words.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The valid tags of `T` as serde lists them (`` `a`, `b` or `c` ``), taken from the error for an
/// empty tag so that it cannot drift from the enum.
fn choices<T: TaggedEnum>() -> String {
    let mut probe = Map::new();
    probe.insert("kind".into(), Value::String(String::new()));
    probe.insert("params".into(), Value::Object(Map::new()));
    match serde_json::from_value::<T>(Value::Object(probe)) {
        Err(e) => {
            let msg = e.to_string();
            msg.split_once("expected ")
                .map(|(_, c)| c.to_string())
                .unwrap_or_default()
        }
        Ok(_) => String::new(),
    }
}

impl<'de, T: TaggedEnum> Deserialize<'de> for Tagged<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let Value::Object(mut map) = v else {
            return Err(D::Error::custom(format!(
                "invalid type: {}, expected an object with a `{}` field",
                json_type(&v),
                T::TAG
            )));
        };
        let Some(mut kind) = map.remove(T::TAG) else {
            return Err(D::Error::custom(format!(
                "missing field `{}` ({})",
                T::TAG,
                choices::<T>()
            )));
        };
        if !kind.is_string() {
            return Err(D::Error::custom(encode(
                T::TAG,
                &format!(
                    "invalid type: {}, expected a string: {}",
                    json_type(&kind),
                    choices::<T>()
                ),
            )));
        }
        if let Some((_, new)) = T::ALIASES.iter().find(|(old, _)| kind == *old) {
            kind = Value::String((*new).to_string());
        }
        let mut adjacent = Map::new();
        adjacent.insert("kind".into(), kind);
        adjacent.insert("params".into(), Value::Object(map));
        match serde_path_to_error::deserialize::<_, T>(Value::Object(adjacent)) {
            Ok(t) => Ok(Tagged(t)),
            Err(e) => {
                let p = path_string(e.path());
                let p = if p == "kind" {
                    T::TAG.to_string()
                } else if let Some(rest) = p.strip_prefix("params.") {
                    rest.to_string()
                } else if p == "params" {
                    String::new()
                } else {
                    p
                };
                Err(D::Error::custom(encode(&p, &e.into_inner().to_string())))
            }
        }
    }
}

impl<T: TaggedEnum> Serialize for Tagged<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        let mut out = Map::new();
        if let Value::Object(mut m) = v {
            if let Some(k) = m.remove("kind") {
                out.insert(T::TAG.to_string(), k);
            }
            if let Some(Value::Object(p)) = m.remove("params") {
                out.extend(p);
            }
        }
        Value::Object(out).serialize(s)
    }
}

impl<T: TaggedEnum> JsonSchema for Tagged<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // T's schema is a oneOf of {kind: const, params: $ref}; inline each params object and
        // put the tag next to its fields.
        let adjacent = T::json_schema(generator);
        let defs = generator.definitions().clone();
        let resolve = |v: &Value| -> Value {
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or(r);
                if let Some(d) = defs.get(name) {
                    return d.clone();
                }
            }
            v.clone()
        };
        let mut variants = Vec::new();
        let list = adjacent
            .get("oneOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for variant in list {
            let props = variant.get("properties").cloned().unwrap_or(Value::Null);
            let tag = props.get("kind").cloned().unwrap_or(Value::Null);
            let params = props.get("params").map(resolve).unwrap_or(Value::Null);
            let mut properties = Map::new();
            properties.insert(T::TAG.to_string(), tag);
            if let Some(p) = params.get("properties").and_then(Value::as_object) {
                properties.extend(p.clone());
            }
            let mut required = vec![Value::String(T::TAG.to_string())];
            if let Some(r) = params.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
            let mut obj = Map::new();
            obj.insert("type".into(), "object".into());
            if let Some(d) = variant
                .get("description")
                .or_else(|| params.get("description"))
            {
                obj.insert("description".into(), d.clone());
            }
            obj.insert("properties".into(), Value::Object(properties));
            obj.insert("required".into(), Value::Array(required));
            obj.insert("additionalProperties".into(), false.into());
            variants.push(Value::Object(obj));
        }
        let mut out = Map::new();
        out.insert("oneOf".into(), Value::Array(variants));
        Schema::try_from(Value::Object(out)).unwrap_or_default()
    }
}
