//! SafeguardSGD beyond Algorithm 1 as printed, end to end through the binary: the per-round
//! filter (the paper's w.l.o.g. of Assumption 2.1) against huge Byzantine vectors, and the guard
//! under thresholds tight enough to expel honest machines.

mod common;
use common::*;
use serde_json::json;

#[test]
fn huge_gaussian_converges_with_the_filter_and_diverges_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/huge_gaussian.json")).unwrap();
    let mut s: serde_json::Value = serde_json::from_str(&text).unwrap();
    s.as_object_mut().unwrap().remove("$schema");
    assert_eq!(
        s["attack"],
        json!({"kind": "gaussian", "mean": 0.0, "std": 10000.0})
    );
    assert_eq!(s["aggregator"]["filter"], json!(true));
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["status"], "completed", "{sm}");
    let loss = sm["final"]["loss"].as_f64().unwrap();
    assert!(loss < -0.45, "final loss {loss}");
    assert_eq!(sm["expelled"], json!({"byzantine": 4, "honest": 0}));
    // Every Byzantine vector of round 1 left the step (their senders were expelled in that
    // round), and no honest vector ever did: V = 1 is a true bound of the saddle's noise.
    assert_eq!(sm["filter"]["radius_source"], "noise_bound");
    assert_eq!(sm["filter"]["radius"], 2.0);
    assert_eq!(
        sm["filter"]["dropped"],
        json!({"honest": 0, "byzantine": 4})
    );
    let rows = csv_rows(&run.join("dropped.csv"));
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_eq!((r[0].as_str(), r[2].as_str()), ("1", "byzantine"), "{r:?}");
    }
    assert_eq!(sm["warnings"], json!([]));

    // Algorithm 1 as printed: the four huge vectors enter round 1's step (the step averages over
    // the good set before that round's expulsions) and the run is lost.
    s["name"] = json!("no_filter");
    s["aggregator"]["filter"] = json!(false);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["status"], "diverged", "{sm}");
    assert!(sm["rounds"].as_u64().unwrap() <= 10, "{sm}");
    assert_eq!(sm["expelled"]["byzantine"], 4);
    assert!(sm.get("filter").is_none(), "{sm}");
    assert!(!run.join("dropped.csv").exists());
}

/// 6 honest machines and 5 `zero` attackers, single safeguard, pre-run thresholds at 0.6 of the
/// measured honest spread, `most_neighbours`: tight enough to expel honest machines.
fn tight(name: &str, guard: bool) -> serde_json::Value {
    json!({
        "name": name, "seed": 1, "rounds": 1500,
        "workers": {"honest": 6, "byzantine": 5},
        "problem": {"kind": "saddle", "dim": 10, "negative_dims": 2,
                    "noise": {"kind": "bounded", "radius": 1.0}},
        "optimizer": {"lr": 0.02, "perturbation": 0.1},
        "aggregator": {"kind": "safeguard", "variant": "single", "window_short": 200,
                       "threshold": {"mode": "oracle_pre_run", "factor": 0.6},
                       "on_no_reference": "most_neighbours", "guard": guard},
        "attack": {"kind": "zero"}
    })
}

fn smallest_good_set(run: &std::path::Path) -> usize {
    csv_rows(&run.join("rounds.csv"))
        .iter()
        .map(|r| r[3].parse::<usize>().unwrap())
        .min()
        .unwrap()
}

#[test]
fn the_guard_keeps_more_than_half_of_the_machines_good_and_the_run_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    // Without the guard the cascade of the issue: every honest machine is expelled, and the good
    // set falls to the 5 attackers, 5 of 11.
    let (out, run) = run_json(tmp.path(), &tight("no_guard", false), &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["expelled"]["honest"], 6, "{sm}");
    assert!(smallest_good_set(&run) <= 5);
    assert!(sm.get("guard").is_none());

    // With the guard (run without --quiet, to read the terminal line too).
    let s = tight("guard", true);
    let file = tmp.path().join("guard.json");
    std::fs::write(&file, s.to_string()).unwrap();
    let run = tmp.path().join("out-guard");
    let out = run_in(
        tmp.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ],
    );
    assert_code(&out, 0);
    let sm = summary(&run);
    // Thresholds this tight still expel honest machines...
    let honest_out = sm["expelled"]["honest"].as_u64().unwrap();
    assert!(honest_out >= 1, "{sm}");
    // ...but the good set never falls to m/2 = 5.5 or fewer: at least 6 of 11 stay, every round.
    assert!(smallest_good_set(&run) >= 6);
    let g = &sm["guard"];
    assert_eq!(g["min_allowed"], 6);
    assert!(g["min_good"].as_u64().unwrap() >= 6, "{g}");
    assert!(g["withheld_expulsions"].as_u64().unwrap() > 0, "{g}");
    assert!(g["first_round"].as_u64().unwrap() >= 1);
    // summary.json and the terminal say so, in plain sentences.
    let warnings: Vec<&str> = sm["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("The guard withheld")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("No machine qualified as reference")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("{honest_out} honest machine(s) were expelled by"))),
        "{warnings:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\nwarning: The guard withheld"), "{stderr}");
    assert_eq!(
        stderr.matches("\nwarning: ").count(),
        warnings.len(),
        "{stderr}"
    );
}
