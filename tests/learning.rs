//! The learning problem kinds end to end (`logistic`, `softmax`, `mlp`, `matrix_sensing`) on
//! small budgets: they train through the scenario, report test accuracy in rounds.csv and
//! summary.json, give each machine its own shard (skewed under Dirichlet sharding), and are
//! byte-identical whatever the thread count.
//!
//! The runs go through the library with the run directory's recorder but without the figures:
//! the trajectory figure evaluates the loss on a 64 x 64 grid, which costs minutes for a network
//! in a debug build (the CLI's outputs are tested elsewhere).

mod common;
use common::*;
use safeguard_sim::linalg::Vector;
use safeguard_sim::record::RunRecorder;
use safeguard_sim::rng::stream;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Run `scenario` on `threads` threads, writing the run directory's CSV and JSON files (no
/// figures) into `dir/<name>`; returns that directory.
fn record(dir: &Path, scenario: &serde_json::Value, threads: usize) -> PathBuf {
    let s = Scenario::from_json_str(&scenario.to_string(), "s.json").unwrap();
    let run = dir.join(s.name());
    std::fs::create_dir_all(&run).unwrap();
    let mut recorder = RunRecorder::new(&run, s.to_json());
    let options = RunOptions {
        threads,
        // Several threads are used whatever they cost, to exercise the cross-thread paths.
        placement: safeguard_sim::placement::PlacementPolicy::Spread,
        stop: None,
    };
    run_blocking(&s, &options, &mut [&mut recorder]).unwrap();
    run
}

fn scenario(name: &str, problem: serde_json::Value, rounds: u64, lr: f64) -> serde_json::Value {
    json!({
        "name": name, "seed": 2, "rounds": rounds,
        "workers": {"honest": 5, "byzantine": 0},
        "problem": problem,
        "optimizer": {"lr": lr},
        "aggregator": {"kind": "mean"},
        "eval_every": 20
    })
}

/// The `column` of rounds.csv as numbers (empty cells skipped).
fn column(run: &std::path::Path, column: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("rounds.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no {column} in {header:?}"));
    csv_rows(&run.join("rounds.csv"))
        .iter()
        .filter_map(|r| r[i].parse().ok())
        .collect()
}

#[test]
fn each_learning_kind_trains_and_reports_test_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "logistic",
            json!({"kind": "logistic", "data": {"kind": "breast_cancer"}}),
            0.1,
            0.93,
        ),
        (
            "softmax",
            json!({"kind": "softmax",
                   "data": {"kind": "gaussian_mixture", "classes": 3, "dim": 5, "samples": 600}}),
            0.2,
            0.85,
        ),
        (
            "mlp",
            json!({"kind": "mlp", "hidden": [16, 16], "activation": "relu",
                   "data": {"kind": "spirals", "samples": 600, "noise": 0.02},
                   "batch_size": 16, "weight_decay": 1e-4}),
            0.3,
            0.8,
        ),
    ];
    for (name, problem, lr, accuracy) in cases {
        let run = record(tmp.path(), &scenario(name, problem, 400, lr), 1);
        let acc = column(&run, "accuracy");
        let loss = column(&run, "loss");
        // Row 0, every 20 rounds, 400 rounds.
        assert_eq!(acc.len(), 21, "{name}");
        assert!(loss.last() < loss.first(), "{name}: {loss:?}");
        let s = summary(&run);
        let last = s["final"]["accuracy"].as_f64().unwrap();
        assert_eq!(Some(&last), acc.last(), "{name}");
        assert!(last >= accuracy, "{name}: accuracy {last}");
        assert!(s["final"]["test_loss"].as_f64().unwrap().is_finite());
    }
}

#[test]
fn matrix_sensing_escapes_its_saddle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = scenario(
        "ms",
        json!({"kind": "matrix_sensing", "n": 8, "rank": 2, "eigen_max": 2.0, "eigen_min": 1.0,
               "noise": {"kind": "bounded", "radius": 0.05}}),
        600,
        0.05,
    );
    s["evaluation"] = json!({"min_eig_every": 100, "lanczos_steps": 16, "eps": 0.01});
    let run = record(tmp.path(), &s, 1);
    let eig = column(&run, "min_eig");
    // At U = 0 the smallest Hessian eigenvalue is -eigen_max (d = 16 Lanczos steps: exact).
    assert!((eig[0] + 2.0).abs() < 1e-9, "{eig:?}");
    let sum = summary(&run);
    assert!(sum["final"]["loss"].as_f64().unwrap() < 1e-3, "{sum}");
    assert_eq!(
        sum["second_order"]["approximate_local_minimum"], true,
        "{sum}"
    );
    assert_eq!(sum["known_min_loss"], 0.0);
}

/// Machine `w`'s label frequencies over `draws` minibatches, read off the softmax's bias
/// gradient at `x = 0`: there every class has probability `1/C`, so the bias gradient of a batch
/// is `1/C - (share of class c in the batch)`.
fn label_shares(
    problem: &dyn safeguard_sim::problem::Problem,
    w: usize,
    classes: usize,
) -> Vec<f64> {
    let x = Vector::zeros(problem.dim());
    let mut rng = stream(99, w as u64);
    let draws = 40;
    let mut shares = vec![0.0; classes];
    for _ in 0..draws {
        let g = problem.stochastic_gradient(&x, w, &mut rng);
        let bias = &g.as_slice().unwrap()[g.len() - classes..];
        for (s, b) in shares.iter_mut().zip(bias) {
            *s += (1.0 / classes as f64 - b) / draws as f64;
        }
    }
    shares
}

#[test]
fn dirichlet_sharding_skews_the_machines_labels() {
    let skew = |sharding: serde_json::Value| -> f64 {
        let mut s = scenario(
            "skew",
            json!({"kind": "softmax", "data": {"kind": "digits"}, "sharding": sharding,
                   "batch_size": 256}),
            10,
            0.1,
        );
        s["workers"] = json!({"honest": 8, "byzantine": 2});
        let scenario = Scenario::from_json_str(&s.to_string(), "s.json").unwrap();
        let problem = scenario.build_problem().unwrap();
        // Every machine, Byzantine ones included: the mean of its largest class share.
        (0..10)
            .map(|w| {
                let shares = label_shares(problem.as_ref(), w, 10);
                assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                shares.iter().cloned().fold(0.0, f64::max)
            })
            .sum::<f64>()
            / 10.0
    };
    let iid = skew(json!({"kind": "iid"}));
    let mild = skew(json!({"kind": "dirichlet", "alpha": 1.0}));
    let strong = skew(json!({"kind": "dirichlet", "alpha": 0.1}));
    let one_class = skew(json!({"kind": "shards", "classes_per_machine": 1}));
    // I.i.d.: about 1/10 of each class (0.14 measured: shard and sampling noise); Dirichlet(0.1): a
    // machine holds mostly one or two classes.
    assert!(iid < 0.2, "iid {iid}");
    assert!(mild > iid && strong > mild, "{iid} {mild} {strong}");
    assert!(strong > 0.5, "alpha 0.1: {strong}");
    assert!(one_class > 0.9, "one class per machine: {one_class}");
}

#[test]
fn learning_runs_are_byte_identical_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = scenario(
        "det",
        json!({"kind": "mlp", "hidden": [8], "data": {"kind": "digits"},
               "sharding": {"kind": "dirichlet", "alpha": 0.3}, "batch_size": 8}),
        60,
        0.1,
    );
    s["workers"] = json!({"honest": 5, "byzantine": 2});
    s["attack"] = json!({"kind": "sign_flip"});
    s["aggregator"] = json!({"kind": "safeguard", "window_short": 10,
                             "threshold": {"mode": "oracle_pre_run"}});
    s["optimizer"] = json!({"lr": 0.1, "worker_momentum": 0.9});
    s["eval_every"] = json!(7);
    let r1 = record(tmp.path(), &s, 1);
    s["name"] = json!("det2");
    let r2 = record(tmp.path(), &s, 2);
    for f in ["rounds.csv", "expulsions.csv", "window_distances.csv"] {
        assert_eq!(
            std::fs::read(r1.join(f)).unwrap(),
            std::fs::read(r2.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// A shipped scenario as JSON, with `rounds` replaced when given.
fn shipped(name: &str, rounds: Option<u64>) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(format!("scenarios/{name}.json"))).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    if let Some(r) = rounds {
        v["rounds"] = json!(r);
    }
    v
}

#[test]
fn shipped_learning_scenarios_show_what_the_readme_says() {
    let tmp = tempfile::tempdir().unwrap();
    // digits_mlp: 95 % test accuracy by round 200 (its first 200 rounds: constant lr).
    let run = record(tmp.path(), &shipped("digits_mlp", Some(200)), 1);
    let acc = summary(&run)["final"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "digits_mlp at round 200: {acc}");
    // breast_cancer_logistic: the safeguard expels the 3 sign flippers and classifies well.
    let run = record(tmp.path(), &shipped("breast_cancer_logistic", None), 1);
    let s = summary(&run);
    assert_eq!(s["expelled"], json!({"byzantine": 3, "honest": 0}), "{s}");
    assert!(s["final"]["accuracy"].as_f64().unwrap() > 0.95, "{s}");
    // matrix_sensing: from the saddle (min_eig -1) to an approximate local minimum.
    let run = record(tmp.path(), &shipped("matrix_sensing", None), 1);
    let s = summary(&run);
    assert!((column(&run, "min_eig")[0] + 1.0).abs() < 1e-9);
    assert_eq!(s["expelled"], json!({"byzantine": 3, "honest": 0}), "{s}");
    assert_eq!(s["second_order"]["approximate_local_minimum"], true, "{s}");
}
