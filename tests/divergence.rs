//! Diverging training is a result, not a crash: the run stops with `status: "diverged"`, keeps
//! every output file and plot (each SVG and report.html), and exits 0. The plots must cope with
//! huge and infinite values.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every output of a finished run directory is present and whole, and every chart is drawn:
/// the CSV files end with a newline, summary.json parses, each SVG is a complete document and
/// report.html inlines all of them. `extra` names the charts this run must have beyond the
/// five every run gets (every problem here has two parameters or more, so a trajectory).
fn assert_complete(run: &Path, extra: &[&str]) {
    let mut csv = vec![
        "rounds.csv",
        "expulsions.csv",
        "faults.csv",
        "workers.csv",
        "trajectory.csv",
        "surface.csv",
    ];
    if extra.contains(&"window_distances.svg") {
        csv.push("window_distances.csv");
    }
    for f in csv {
        let text = read(&run.join(f));
        assert!(text.ends_with('\n'), "{f} does not end with a newline");
    }
    assert!(read(&run.join("scenario.json")).trim_end().ends_with('}'));
    let _ = summary(run);
    let mut svgs = vec![
        "loss.svg",
        "grad_norm.svg",
        "good_machines.svg",
        "expulsions.svg",
        "trajectory.svg",
    ];
    for e in extra {
        if !svgs.contains(e) {
            svgs.push(e);
        }
    }
    for f in &svgs {
        let text = read(&run.join(f));
        assert!(text.starts_with("<svg"), "{f} is not an SVG document");
        assert!(text.trim_end().ends_with("</svg>"), "{f} is truncated");
        assert!(
            !text.contains("NaN") && !text.contains("inf\""),
            "{f} has non-finite coordinates"
        );
    }
    // No chart that was not expected (e.g. a leftover temporary file).
    let mut found: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg") || n.ends_with(".tmp"))
        .collect();
    found.sort();
    let mut expected: Vec<String> = svgs.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected);
    let html = read(&run.join("report.html"));
    assert!(
        html.trim_end().ends_with("</html>"),
        "report.html is truncated"
    );
    assert!(
        html.matches("<svg").count() >= svgs.len(),
        "report.html does not inline every chart"
    );
    assert!(
        html.contains("diverged"),
        "report.html does not say the run diverged"
    );
}

/// rounds.csv has row 0, then one row per round run, the last one the summary's round.
fn assert_rounds_match_summary(run: &Path, s: &serde_json::Value) -> Vec<Vec<String>> {
    let rows = csv_rows(&run.join("rounds.csv"));
    let rounds = s["rounds"].as_u64().unwrap();
    assert_eq!(rows.len() as u64, rounds + 1);
    assert_eq!(rows.last().unwrap()[0], rounds.to_string());
    rows
}

#[test]
fn a_huge_learning_rate_diverges_and_keeps_its_outputs_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let s = json!({
        "name": "huge-lr", "seed": 1, "rounds": 200,
        "workers": {"honest": 5, "byzantine": 0},
        "problem": {"kind": "quadratic", "dim": 5},
        "optimizer": {"lr": 5.0},
        "aggregator": {"kind": "mean"}
    });
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sum = summary(&run);
    assert_eq!(sum["status"], "diverged", "{sum}");
    let rounds = sum["rounds"].as_u64().unwrap();
    assert!((1..200).contains(&rounds), "{sum}");
    // Stopped at the first round past the divergence bound (1e6 by default).
    let loss = sum["final"]["loss"]
        .as_f64()
        .expect("still finite at the bound");
    assert!(loss > 1e6, "{sum}");
    assert_rounds_match_summary(&run, &sum);
    assert_complete(&run, &[]);
}

#[test]
fn mean_under_sign_flip_diverges_on_the_saddle_the_same_way_on_any_thread_count() {
    // 4 of 10 machines send -4 g: the mean moves uphill (6 - 16 = -10 honest gradients' worth).
    let tmp = tempfile::tempdir().unwrap();
    let mut s = json!({
        "name": "mean-sign-flip", "seed": 7, "rounds": 3000,
        "workers": {"honest": 6, "byzantine": 4},
        "problem": {"kind": "saddle", "dim": 10, "negative_dims": 2},
        "optimizer": {"lr": 0.02, "perturbation": 0.1},
        "aggregator": {"kind": "mean"},
        "attack": {"kind": "sign_flip", "scale": 4.0}
    });
    let (out, run) = run_json(tmp.path(), &s, &["--threads", "1"]);
    assert_code(&out, 0);
    let sum = summary(&run);
    assert_eq!(sum["status"], "diverged", "{sum}");
    assert!(sum["rounds"].as_u64().unwrap() < 3000, "{sum}");
    assert_eq!(sum["expelled"], json!({"byzantine": 0, "honest": 0}));
    assert_eq!(sum["faults"]["total"], 0);
    let rows = assert_rounds_match_summary(&run, &sum);
    let last_loss: f64 = rows.last().unwrap()[1].parse().unwrap();
    assert!(last_loss > 1e6, "{last_loss}");
    assert_complete(&run, &[]);

    s["name"] = json!("mean-sign-flip-2");
    let (out, run2) = run_json(tmp.path(), &s, &["--threads", "2"]);
    assert_code(&out, 0);
    assert_eq!(
        read(&run.join("rounds.csv")),
        read(&run2.join("rounds.csv"))
    );
    assert_eq!(summary(&run2)["rounds"], sum["rounds"]);
}

/// With a divergence bound of 1e300 the values overflow to infinity before the run stops.
fn overflowing(
    name: &str,
    problem: serde_json::Value,
    lr: f64,
    aggregator: serde_json::Value,
) -> serde_json::Value {
    json!({
        "name": name, "seed": 3, "rounds": 400,
        "workers": {"honest": 5, "byzantine": 2},
        "problem": problem,
        "optimizer": {"lr": lr, "divergence_norm": 1e300},
        "aggregator": aggregator,
        "attack": {"kind": "sign_flip", "scale": 4.0}
    })
}

#[test]
fn values_that_overflow_to_infinity_are_a_result_too() {
    let tmp = tempfile::tempdir().unwrap();
    let safeguard = json!({
        "kind": "safeguard", "variant": "double", "window_long": 40, "window_short": 10,
        "threshold": {"mode": "theory"}
    });
    let cases = [
        // Quadratic, mean: the loss overflows first.
        (
            overflowing(
                "inf-mean",
                json!({"kind": "quadratic", "dim": 5}),
                5.0,
                json!({"kind": "mean"}),
            ),
            vec![],
        ),
        // The safeguard's window distances become huge too.
        (
            overflowing(
                "inf-safeguard",
                json!({"kind": "quadratic", "dim": 5}),
                5.0,
                safeguard,
            ),
            vec!["window_distances.svg"],
        ),
        // Two parameters: the trajectory over the level sets runs off to infinity.
        (
            overflowing(
                "inf-rosenbrock",
                json!({"kind": "rosenbrock"}),
                0.5,
                json!({"kind": "mean"}),
            ),
            vec!["trajectory.svg"],
        ),
    ];
    for (s, extra) in cases {
        let name = s["name"].as_str().unwrap().to_string();
        let (out, run) = run_json(tmp.path(), &s, &[]);
        assert_code(&out, 0);
        let sum = summary(&run);
        assert_eq!(sum["status"], "diverged", "{name}: {sum}");
        // Non-finite final values are written as null, never as invalid JSON.
        assert!(sum["final"]["loss"].is_null(), "{name}: {sum}");
        let rows = assert_rounds_match_summary(&run, &sum);
        let last: f64 = rows.last().unwrap()[1].parse().unwrap();
        assert!(!last.is_finite(), "{name}: last loss {last}");
        // The run stops at the first round whose loss is not finite.
        for r in &rows[..rows.len() - 1] {
            assert!(
                r[1].parse::<f64>().unwrap().is_finite(),
                "{name}: ran on after round {}",
                r[0]
            );
        }
        assert_complete(&run, &extra);

        // `plot` redraws the same charts from the files.
        let before = std::fs::read(run.join("loss.svg")).unwrap();
        for f in std::iter::once("report.html").chain(extra.iter().copied()) {
            std::fs::remove_file(run.join(f)).unwrap();
        }
        let out = run_in(tmp.path(), &["plot", run.to_str().unwrap()]);
        assert_code(&out, 0);
        assert_eq!(
            std::fs::read(run.join("loss.svg")).unwrap(),
            before,
            "{name}: plots are not deterministic"
        );
        assert_complete(&run, &extra);
    }
}

/// Huge *finite* Byzantine vectors pass the coordinator's checks, but their mean overflows to
/// infinity. The model must not be poisoned: the step is skipped and counted, the run goes on.
#[test]
fn an_aggregate_that_overflows_skips_the_step_instead_of_poisoning_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let s = json!({
        "name": "overflow", "seed": 5, "rounds": 40,
        "workers": {"honest": 4, "byzantine": 2},
        "problem": {"kind": "quadratic", "dim": 3, "noise": {"kind": "gaussian", "std": 0.1}},
        "optimizer": {"lr": 0.1},
        "aggregator": {"kind": "mean"},
        "attack": {"kind": "gaussian", "mean": 1e308, "std": 0.0}
    });
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["status"], "completed", "{sm}");
    assert_eq!(sm["skipped_steps"], 40, "{sm}");
    // No step was taken: the loss is still f(x_0) = 1/2 sum lambda_i (lambda 1, 5.5, 10).
    assert_eq!(sm["final"]["loss"].as_f64().unwrap(), 8.25);
    // With the oracle the same attack is harmless: nothing skipped, the loss decreases.
    let mut s = s;
    s["name"] = json!("overflow-oracle");
    s["aggregator"] = json!({"kind": "oracle"});
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["skipped_steps"], 0);
    assert!(sm["final"]["loss"].as_f64().unwrap() < 1.0, "{sm}");
}
