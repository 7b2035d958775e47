//! Error messages for scenario files: one line that names the field path and line:column, in
//! plain words, with a did-you-mean where a name is close to a valid one.

use super::{locate, tagged};
use crate::error::ScenarioError;
use serde::Deserialize;

/// The edit distance (insertions, deletions, substitutions and swaps of two neighbours, so that
/// `safegaurd` is one edit from `safeguard`), for did-you-mean suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
pub(crate) fn did_you_mean(message: &str) -> String {
    if !(message.starts_with("unknown variant `")
        || message.starts_with("unknown field `")
        || message.starts_with("unknown kind `"))
    {
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
pub(crate) struct Syntax(pub(crate) &'static str);

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
pub(crate) fn printable(s: &str) -> String {
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
pub(crate) fn plain_types(message: &str) -> String {
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
pub(crate) fn syntax_hint(text: &str, line: usize, column: usize) -> &'static str {
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
pub(crate) fn strip_position(message: &str) -> String {
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

/// Pass 1 of parsing: an empty file, a byte order mark, the JSON syntax (with serde_json's
/// nesting limit), a key given twice in one object (which a `serde_json::Value` would hide by
/// keeping the last), and a document that is not an object.
pub(crate) fn check_syntax(text: &str, source_name: &str) -> Result<(), ScenarioError> {
    check_syntax_of(text, source_name, "the scenario")
}

/// [`check_syntax`] for a JSON object that is `what` (e.g. `the rule`), named in the message
/// when the document is not an object.
pub(crate) fn check_syntax_of(
    text: &str,
    source_name: &str,
    what: &str,
) -> Result<(), ScenarioError> {
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
                format!("expected a JSON object ({what}), got {other}"),
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
    Ok(())
}

/// The error for `message` about field `path` of `text`: the message in plain words (with a
/// did-you-mean), positioned at the field, or at the key itself for an unknown field.
pub(crate) fn located(text: &str, source_name: &str, path: &str, message: &str) -> ScenarioError {
    let (inner_path, msg) = tagged::decode(&strip_position(message));
    let mut path = tagged::join(path, &inner_path);
    let msg = plain_types(&did_you_mean(&msg));
    // An unknown field: point at its key. The path ends with the key, which may hold `.`, `[`
    // or even "`, ": find the parent path it ends, locate the key under it.
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
    let (line, column) = locate::line_col(text, pos);
    ScenarioError {
        source_name: printable(source_name),
        path: printable(&path),
        line,
        column,
        message: printable(&msg),
    }
}

/// `` `a`, `b`, `c` `` for a list of names.
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            did_you_mean("unknown kind `sign_flp`, expected one of `none`, `sign_flip`")
                .ends_with("(did you mean `sign_flip`?)")
        );
        assert!(
            !did_you_mean("invalid type: a string, expected an object with a `kind` field")
                .contains("did you mean")
        );
    }
}
