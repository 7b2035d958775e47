//! `safeguard-sim aggregate RULE INPUT`: any rule applied once to given vectors, printed as JSON;
//! bad input gets exit code 2, one error line that names what is wrong, and nothing on stdout.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Output, Stdio};

const REFERENCE: &str = "[[1, 2, 3],\n [4, 5, 6],\n [7, 8, 9]]\n";

fn aggregate(rule: &str, input: &str) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("v.json");
    std::fs::write(&file, input).unwrap();
    run_in(tmp.path(), &["aggregate", rule, file.to_str().unwrap()])
}

fn ok_json(out: &Output) -> Value {
    assert_code(out, 0);
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Exit 2, empty stdout, one `error: ` line; returns it.
fn bad(out: &Output) -> String {
    assert_code(out, 2);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn known_answers_of_the_reference_vectors() {
    // ByzFL's unit tests on [1,2,3], [4,5,6], [7,8,9] (its conventions where they matter).
    let cases = [
        (json!({"kind": "mean"}), json!([4.0, 5.0, 6.0])),
        (json!({"kind": "median"}), json!([4.0, 5.0, 6.0])),
        (
            json!({"kind": "trimmed_mean", "f": 1}),
            json!([4.0, 5.0, 6.0]),
        ),
        (
            json!({"kind": "krum", "f": 1, "unchecked": true}),
            json!([1.0, 2.0, 3.0]),
        ),
        (
            json!({"kind": "multi_krum", "f": 1, "neighbours": "n_minus_f_minus_1", "unchecked": true}),
            json!([2.5, 3.5, 4.5]),
        ),
        (json!({"kind": "centered_clipping"}), json!([4.0, 5.0, 6.0])),
        // NNM (f = 1) gives [2.5..], [2.5..], [5.5..]; their mean:
        (
            json!({"kind": "mean", "pre": [{"kind": "nnm", "f": 1}]}),
            json!([3.5, 4.5, 5.5]),
        ),
    ];
    for (rule, want) in cases {
        let v = ok_json(&aggregate(&rule.to_string(), REFERENCE));
        assert_eq!(v["direction"], want, "{rule}");
        assert_eq!(v["n"], 3);
        assert_eq!(v["dropped"], json!([]));
    }
    let v = ok_json(&aggregate(
        r#"{"kind": "krum", "f": 1, "unchecked": true}"#,
        REFERENCE,
    ));
    assert_eq!(v["selected"], json!([0]));
    assert_eq!(v["scores"], json!([27.0, 27.0, 27.0]));
    assert_eq!(
        v["rule"],
        json!({"kind": "krum", "f": 1, "neighbours": "published", "unchecked": true})
    );
    // ByzFL's GeometricMedian(nu = 0.1, T = 3) starts at zero: 3.78788764, ...
    let v = ok_json(&aggregate(
        r#"{"kind": "geometric_median", "nu": 0.1, "iterations": 3, "tolerance": 0, "start": "zero"}"#,
        REFERENCE,
    ));
    let d: Vec<f64> = v["direction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (got, want) in d.iter().zip([3.78788764, 4.78788764, 5.78788764]) {
        assert!((got - want).abs() < 5e-9, "{got}");
    }
}

#[test]
fn the_printed_direction_is_the_library_result_to_the_last_bit() {
    let vectors = vec![
        vec![0.1, 1.0 / 3.0],
        vec![0.25, 2.0 / 7.0],
        vec![-0.7, 1e-300],
        vec![3.0, 0.3],
    ];
    let rule = r#"{"kind": "geometric_median"}"#;
    let lib = safeguard_sim::aggregate::aggregate_vectors(
        &safeguard_sim::Registry::builtin(),
        rule,
        "RULE",
        &vectors,
        0,
    )
    .unwrap();
    let v = ok_json(&aggregate(rule, &serde_json::to_string(&vectors).unwrap()));
    let printed: Vec<f64> = v["direction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(printed, lib.direction.to_vec());
}

#[test]
fn reads_stdin_and_rule_files() {
    let tmp = tempfile::tempdir().unwrap();
    let rule = tmp.path().join("rule.json");
    std::fs::write(&rule, "{\n  \"kind\": \"trimmed_mean\",\n  \"f\": 1\n}\n").unwrap();
    let mut child = bin()
        .current_dir(tmp.path())
        .args(["aggregate", rule.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(REFERENCE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(ok_json(&out)["direction"], json!([4.0, 5.0, 6.0]));
    // A bad rule file is located in that file.
    std::fs::write(&rule, "{\n  \"kind\": \"trimmed_mean\",\n  \"f\": -1\n}\n").unwrap();
    let e = bad(&aggregate(rule.to_str().unwrap(), REFERENCE));
    assert!(
        e.contains("rule.json:3:8: f: invalid value: integer `-1`"),
        "{e}"
    );
}

#[test]
fn bucketing_follows_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("v.json");
    std::fs::write(&file, "[[1], [2], [3], [4], [5], [6], [7], [8]]").unwrap();
    let rule = r#"{"kind": "median", "pre": [{"kind": "bucketing", "size": 3}]}"#;
    let mut seen = std::collections::BTreeSet::new();
    for seed in ["0", "1", "2", "3", "4", "5"] {
        let args = ["aggregate", rule, file.to_str().unwrap(), "--seed", seed];
        let a = ok_json(&run_in(tmp.path(), &args));
        assert_eq!(
            a,
            ok_json(&run_in(tmp.path(), &args)),
            "same seed, same answer"
        );
        seen.insert(a["direction"][0].to_string());
    }
    assert!(
        seen.len() > 1,
        "different seeds draw different buckets: {seen:?}"
    );
}

#[test]
fn bad_input_is_named_with_exit_code_two() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"kind": "krun"}"#,
            REFERENCE,
            "RULE:1:10: kind: unknown kind `krun`",
        ),
        (r#"{"kind": "krun"}"#, REFERENCE, "(did you mean `krum`?)"),
        (
            r#"{"kind": "krum", "f": 1}"#,
            REFERENCE,
            "RULE:1:23: f: krum needs n >= 2f + 3",
        ),
        (
            r#"{"kind": "krum", "f": 1}"#,
            REFERENCE,
            "set `\"unchecked\": true`",
        ),
        (
            r#"{"kind": "median", "pre": [{"kind": "bucketing", "size": 9}]}"#,
            REFERENCE,
            "pre[0].size: expected a bucket size from 1 to n = 3",
        ),
        (
            r#"{"kind": "median", "f": 1}"#,
            REFERENCE,
            "f: unknown field `f`, there are no fields",
        ),
        (
            r#"{"kind": "safeguard", "window_short": 2, "threshold": {"mode": "fixed", "long": 1, "short": 1}}"#,
            REFERENCE,
            "kind: the safeguard is stateful across rounds",
        ),
        (
            r#"{"kind": "oracle"}"#,
            REFERENCE,
            "does not say which are honest",
        ),
        (
            r#"{"kind": "median""#,
            REFERENCE,
            "RULE:1:17: invalid JSON: EOF while parsing an object",
        ),
        (
            r#"{"kind": "median"}"#,
            "[[1, 2, 3],\n [4, 5]]",
            "v.json:2:2: [1]: has 2 numbers, but [0] has 3",
        ),
        (
            r#"{"kind": "median"}"#,
            "[[1, \"a\"]]",
            "v.json:1:6: [0][1]: invalid type: string \"a\", expected a number",
        ),
        (
            r#"{"kind": "median"}"#,
            "[[1, 1e400]]",
            "number out of range",
        ),
        (r#"{"kind": "median"}"#, "[]", "v.json:1:1: no vectors"),
        (
            r#"{"kind": "median"}"#,
            "",
            "empty: expected a JSON array of vectors",
        ),
        (
            r#"{"kind": "median"}"#,
            "{\"a\": 1}",
            "v.json:1:1: invalid type: an object, expected an array",
        ),
        (r#"{"kind": "median"}"#, "[[1]] x", "trailing characters"),
        (
            r#"{"kind": "mean"}"#,
            "[[1.7e308], [1.7e308]]",
            "the aggregate is not finite",
        ),
        (
            "no-such-rule.json",
            REFERENCE,
            "no-such-rule.json:1:1: cannot read it",
        ),
    ];
    for (rule, input, want) in cases {
        let e = bad(&aggregate(rule, input));
        assert!(
            e.contains(want),
            "{rule} on {input:?}: {e}\n(wanted {want:?})"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let e = bad(&run_in(
        tmp.path(),
        &["aggregate", r#"{"kind": "mean"}"#, "missing.json"],
    ));
    assert!(e.contains("missing.json:1:1: cannot read it"), "{e}");
}
