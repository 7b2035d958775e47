//! Bounded fuzzing of the scenario parser: random text, byte-level mutations of a valid scenario
//! and structured JSON mutations. The parser must never panic; every error must carry a 1-based
//! position inside the text; every accepted scenario must survive a round trip through its
//! resolved JSON.

use proptest::prelude::*;
use proptest::sample::Index;
use safeguard_sim::scenario::Scenario;
use serde_json::Value;

const QUICKSTART: &str = include_str!("../scenarios/quickstart.json");

/// Cases per property: 384, or `FUZZ_CASES` for a longer local search.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(384)
}

/// The checks every outcome must pass.
fn check(text: &str) -> Result<(), TestCaseError> {
    match Scenario::from_json_str(text, "fuzz.json") {
        Err(e) => {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(e.line >= 1 && e.column >= 1, "zero position: {e:?}");
            prop_assert!(
                e.line <= text.lines().count() + 1,
                "line {} beyond the text ({e:?})",
                e.line
            );
            let line_chars = lines
                .get(e.line - 1)
                .map(|l| l.chars().count())
                .unwrap_or(0);
            prop_assert!(
                e.column <= line_chars + 1,
                "column {} beyond line {} ({line_chars} chars): {e:?}",
                e.column,
                e.line
            );
            prop_assert!(!e.message.is_empty(), "empty message: {e:?}");
            prop_assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
            prop_assert!(
                !e.message.contains('\u{1}'),
                "internal path marker leaked: {e:?}"
            );
            // A field error points at a key or a value (not at a comma, a colon or white space);
            // an unknown or repeated field at its key.
            let at = lines
                .get(e.line - 1)
                .and_then(|l| l.chars().nth(e.column - 1));
            if !e.path.is_empty() {
                prop_assert!(
                    at.is_some_and(|c| "\"{[-0123456789tfn".contains(c)),
                    "{e:?} points at {at:?}"
                );
            }
            if e.message.starts_with("unknown field `")
                || e.message.starts_with("duplicate field `")
            {
                prop_assert_eq!(at, Some('"'), "{:?} does not point at the key", e);
            }
        }
        Ok(s) => {
            let json = s.to_json();
            let again = Scenario::from_json_str(&json, "again.json");
            prop_assert!(
                again.is_ok(),
                "resolved JSON rejected: {:?}\n{json}",
                again.err()
            );
            prop_assert_eq!(
                again.ok(),
                Some(s),
                "round trip changed the scenario:\n{}",
                json
            );
        }
    }
    Ok(())
}

/// Characters that matter to JSON, plus some that do not.
fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['{', '}', '[', ']', '"', ':', ',', ' ', '\n', '\\', '-', '.', 'e', '0', '1', '9', 't', 'n', 'u', 'l']),
        1 => any::<char>(),
    ]
}

/// A random JSON value (numbers biased to the edges).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            0i64,
            1,
            -1,
            2,
            7,
            100,
            i64::MAX,
            i64::MIN,
            100_000_000,
            100_000_001
        ])
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![0.0f64, -0.0, 0.5, -2.5, 1e-300, 1e308, -1e308, 3.0])
            .prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "x",
            "none",
            "saddle",
            "quadratic",
            "rosenbrock",
            "mean",
            "oracle",
            "safeguard",
            "single",
            "double",
            "fixed",
            "theory",
            "calibrate",
            "sign_flip",
            "zero",
            "gaussian",
            "faulty",
            "bounded",
            "nan",
            "hang",
            "keep_all",
            "most_neighbours",
            "../x",
            "a/b",
            "ok-name",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["kind", "mode", "dim", "x", "lr", "short", "long"]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// JSON pointers of every value in `v` (the root included).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn quickstart_value() -> Value {
    serde_json::from_str(QUICKSTART).expect("quickstart parses")
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Delete(Index),
    Add(Index, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "oops",
            "kind",
            "mode",
            "dim",
            "window_long",
            "long",
            "sigma",
            "rounds",
            "$schema",
            ""
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
        "[a-z.\\[\\]`, 0-9]{0,6}",
        any::<String>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        2 => any::<Index>().prop_map(Edit::Delete),
        2 => (any::<Index>(), key, json_value()).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
    ]
}

fn apply(v: &mut Value, e: &Edit) {
    let mut ptrs = Vec::new();
    pointers(v, String::new(), &mut ptrs);
    match e {
        Edit::Replace(i, new) => {
            let p = i.get(&ptrs).clone();
            if let Some(slot) = v.pointer_mut(&p) {
                *slot = new.clone();
            }
        }
        Edit::Delete(i) => {
            let p = i.get(&ptrs).clone();
            if let Some((parent, last)) = p.rsplit_once('/') {
                let key = last.replace("~1", "/").replace("~0", "~");
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.shift_remove(&key);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(n) = key.parse::<usize>()
                            && n < a.len()
                        {
                            a.remove(n);
                        }
                    }
                    _ => {}
                }
            }
        }
        Edit::Add(i, k, new) => {
            let objects: Vec<&String> = ptrs
                .iter()
                .filter(|p| v.pointer(p).is_some_and(Value::is_object))
                .collect();
            if objects.is_empty() {
                return;
            }
            let p = i.get(&objects).to_string();
            if let Some(Value::Object(m)) = v.pointer_mut(&p) {
                m.insert(k.clone(), new.clone());
            }
        }
    }
}

#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(Index, u8),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Truncate(Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let junk = prop::collection::vec(
        prop_oneof![3 => prop::sample::select(b"{}[]\":,. \n-0123456789eE\\truefalsnl".to_vec()), 1 => any::<u8>()],
        1..6,
    );
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        2 => (any::<Index>(), 1usize..12).prop_map(|(i, n)| ByteEdit::Delete(i, n)),
        3 => (any::<Index>(), junk).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        1 => any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

fn apply_bytes(bytes: &mut Vec<u8>, e: &ByteEdit) {
    if bytes.is_empty() {
        return;
    }
    match e {
        ByteEdit::Flip(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        ByteEdit::Delete(i, n) => {
            let at = i.index(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
        ByteEdit::Insert(i, b) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        ByteEdit::Truncate(i) => {
            let at = i.index(bytes.len());
            bytes.truncate(at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_strings(text in prop_oneof![any::<String>(), prop::collection::vec(json_char(), 0..200).prop_map(|c| c.into_iter().collect::<String>())]) {
        check(&text)?;
    }

    #[test]
    fn random_json_documents(v in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        check(&text)?;
    }

    #[test]
    fn byte_mutations_of_quickstart(edits in prop::collection::vec(byte_edit(), 1..4)) {
        let mut bytes = QUICKSTART.as_bytes().to_vec();
        for e in &edits {
            apply_bytes(&mut bytes, e);
        }
        // from_json_str takes text; invalid UTF-8 is from_file's business (tested elsewhere).
        let text = String::from_utf8_lossy(&bytes);
        check(&text)?;
    }

    #[test]
    fn structured_mutations_of_quickstart(edits in prop::collection::vec(edit(), 1..4), pretty in any::<bool>()) {
        let mut v = quickstart_value();
        for e in &edits {
            apply(&mut v, e);
        }
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        check(&text)?;
    }

    #[test]
    fn structured_mutations_of_every_shipped_kind(which in 0usize..5, edits in prop::collection::vec(edit(), 1..3)) {
        // Start from scenarios that parse, with other kinds than the quickstart's, so that the
        // checks of every kind see mutated values (and accepted ones round-trip).
        let base = [
            r#"{"name":"q","seed":1,"rounds":50,"workers":{"honest":3,"byzantine":1},"problem":{"kind":"quadratic","dim":3,"noise":{"kind":"gaussian","std":0.5}},"optimizer":{"lr":0.1},"aggregator":{"kind":"mean"},"attack":{"kind":"gaussian","mean":1,"std":2}}"#,
            r#"{"name":"r","seed":2,"rounds":50,"workers":{"honest":5,"byzantine":2},"problem":{"kind":"rosenbrock"},"optimizer":{"lr":0.001},"aggregator":{"kind":"safeguard","variant":"single","window_short":10,"threshold":{"mode":"fixed","short":3}},"attack":{"kind":"faulty","mode":"hang","from_round":3}}"#,
            r#"{"name":"s","seed":3,"rounds":50,"workers":{"honest":5,"byzantine":2},"problem":{"kind":"saddle","dim":4},"optimizer":{"lr":0.01},"aggregator":{"kind":"safeguard","window_short":5,"window_long":20,"threshold":{"mode":"theory","c":3}},"attack":{"kind":"zero"}}"#,
            r#"{"name":"o","seed":4,"rounds":50,"workers":{"honest":5,"byzantine":2},"problem":{"kind":"saddle"},"optimizer":{"lr":0.01},"aggregator":{"kind":"oracle"},"attack":{"kind":"none"},"eval_every":5}"#,
            r#"{"name":"c","seed":5,"rounds":50,"workers":{"honest":5,"byzantine":2,"reply_timeout_ms":100},"problem":{"kind":"saddle"},"optimizer":{"lr":0.01},"aggregator":{"kind":"safeguard","window_short":5,"threshold":{"mode":"calibrate","rounds":80,"factor":2}},"attack":{"kind":"sign_flip"}}"#,
        ][which];
        prop_assert!(Scenario::from_json_str(base, "base.json").is_ok(), "base {which} rejected");
        let mut v: Value = serde_json::from_str(base).unwrap();
        for e in &edits {
            apply(&mut v, e);
        }
        check(&serde_json::to_string_pretty(&v).unwrap())?;
    }
}

#[test]
fn quickstart_round_trips() {
    check(QUICKSTART).unwrap();
}
