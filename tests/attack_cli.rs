//! `safeguard-sim attack ATTACK HONEST`: the reference file's known answers at full precision,
//! files or inline JSON, and exit code 2 with one clear line for every bad input.

mod common;
use common::*;

fn attack(args: &[&str]) -> std::process::Output {
    let mut all = vec!["attack"];
    all.extend_from_slice(args);
    run_in(&root(), &all)
}

fn vector(out: &std::process::Output) -> Vec<f64> {
    assert_code(out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

const REFERENCE: &str = "[[1,2,3],[4,5,6],[7,8,9]]";

#[test]
fn known_answers_on_the_reference_vectors() {
    for (a, want) in [
        (
            r#"{"kind": "sign_flip", "of": "honest_mean"}"#,
            [-4.0, -5.0, -6.0],
        ),
        (r#"{"kind": "ipm", "eps": 2}"#, [-8.0, -10.0, -12.0]),
        (
            r#"{"kind": "alie", "z": 1.5, "sign": "plus", "ddof": 1}"#,
            [8.5, 9.5, 10.5],
        ),
    ] {
        assert_eq!(vector(&attack(&[a, REFERENCE])), want, "{a}");
    }
}

#[test]
fn full_round_trip_precision_files_and_byzantine_count() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.json");
    let h = tmp.path().join("h.json");
    std::fs::write(&a, r#"{"kind": "alie", "z": "karimireddy"}"#).unwrap();
    std::fs::write(&h, "[[0.1], [0.2], [0.7], [1e-3], [3], [2.5]]").unwrap();
    let out = attack(&[a.to_str().unwrap(), h.to_str().unwrap(), "--byzantine", "4"]);
    let got = vector(&out)[0];
    // n = 10, f = 4: z = Phi^-1(2/3); sample std of the six values.
    let xs = [0.1, 0.2, 0.7, 1e-3, 3.0, 2.5];
    let mu = xs.iter().sum::<f64>() / 6.0;
    let s = (xs.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / 5.0).sqrt();
    let want = mu - 0.430_727_299_295_457_6 * s;
    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    // The printed number parses back to the very f64 the library computes.
    let lib = safeguard_sim::attack::standalone::attack_vector(
        &safeguard_sim::Registry::builtin(),
        r#"{"kind": "alie", "z": "karimireddy"}"#,
        "A",
        &xs.iter().map(|x| ndarray::array![*x]).collect::<Vec<_>>(),
        4,
    )
    .unwrap()
    .unwrap();
    assert_eq!(got.to_bits(), lib[0].to_bits());
}

#[test]
fn bad_input_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 8] = [
        (
            &[r#"{"kind": "sign_flp"}"#, REFERENCE],
            "ATTACK:1:10: kind: unknown kind `sign_flp`",
        ),
        (
            &[r#"{"kind": "ipm", "epss": 1}"#, REFERENCE],
            "(did you mean `eps`?)",
        ),
        (
            &[r#"{"kind": "sign_flip"}"#, REFERENCE],
            "depends on the machine's own honest gradient",
        ),
        (
            &[r#"{"kind": "threshold_aware"}"#, REFERENCE],
            "the defense",
        ),
        (
            &[r#"{"kind": "zero"}"#, "[[1, 2], [3]]"],
            "HONEST[1]: has 1 numbers",
        ),
        (
            &[r#"{"kind": "zero"}"#, "[]"],
            "HONEST: expected at least one",
        ),
        (
            &["no-such-file.json", REFERENCE],
            "ATTACK: `no-such-file.json` is neither",
        ),
        (
            &[r#"{"kind": "zero"}"#, REFERENCE, "--byzantine", "0"],
            "--byzantine: expected at least 1",
        ),
    ];
    for (args, want) in cases {
        let out = attack(args);
        assert_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}
