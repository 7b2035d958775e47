//! End-to-end results of the core simulator: the quickstart, mean vs safeguard, determinism,
//! bad input. Each test runs the built binary on a scenario file.

mod common;
use common::*;
use serde_json::json;

#[test]
fn quickstart_writes_every_output_expels_the_byzantine_and_reaches_the_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, run) = run_json(tmp.path(), &quickstart(), &[]);
    assert_code(&out, 0);
    for f in [
        "scenario.json",
        "rounds.csv",
        "expulsions.csv",
        "faults.csv",
        "workers.csv",
        "window_distances.csv",
        "dropped.csv",
        "summary.json",
        "loss.svg",
        "grad_norm.svg",
        "good_machines.svg",
        "expulsions.svg",
        "window_distances.svg",
        "report.html",
    ] {
        let meta = std::fs::metadata(run.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    // Every problem has a trajectory, the 10-dimensional saddle included (tests/plots.rs).
    for f in [
        "trajectory.csv",
        "surface.csv",
        "trajectory.json",
        "trajectory.svg",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }

    let s = summary(&run);
    assert_eq!(s["status"], "completed");
    assert_eq!(s["rounds"], 3000);
    assert_eq!(s["expelled"]["byzantine"], 4, "{s}");
    assert_eq!(s["expelled"]["honest"], 0, "{s}");
    // The filter dropped Byzantine vectors only (V = 1 bounds the honest noise), and nothing
    // needed a warning.
    assert_eq!(s["filter"]["dropped"]["honest"], 0, "{s}");
    assert!(
        s["filter"]["dropped"]["byzantine"].as_u64().unwrap() > 0,
        "{s}"
    );
    assert!(
        csv_rows(&run.join("dropped.csv"))
            .iter()
            .all(|r| r[2] == "byzantine")
    );
    assert_eq!(s["warnings"], serde_json::json!([]), "{s}");
    // Minimum -k/4 = -0.5; the saddle is at 0.
    let loss = s["final"]["loss"].as_f64().unwrap();
    assert!((loss - -0.5).abs() < 0.05, "final loss {loss}");
    assert!(s["first_expulsion_round"].as_u64().unwrap() > 0);
    for key in ["wall_seconds", "rounds_per_second"] {
        assert!(s[key].as_f64().unwrap() >= 0.0);
    }
    assert!(s["final"]["grad_norm"].as_f64().unwrap() < 0.5);

    // expulsions.csv: exactly the Byzantine machines (ids 6..9), reasons naming a window.
    let rows = csv_rows(&run.join("expulsions.csv"));
    let mut ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec![6, 7, 8, 9]);
    for r in &rows {
        assert_eq!(r[2], "byzantine");
        assert!(r[3].starts_with("window_"), "{r:?}");
    }
    // rounds.csv: header, row 0 (initial point) then one row per round.
    let text = std::fs::read_to_string(run.join("rounds.csv")).unwrap();
    assert!(text.starts_with("round,loss,grad_norm,good,byzantine_in_good,agg_error"));
    let rows = csv_rows(&run.join("rounds.csv"));
    assert_eq!(rows.len(), 3001);
    assert_eq!(rows.last().unwrap()[3], "6");
    assert_eq!(rows.last().unwrap()[4], "0");
    // report.html inlines the plots.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 5);
}

fn with(mut s: serde_json::Value, name: &str, aggregator: serde_json::Value) -> serde_json::Value {
    s["name"] = json!(name);
    s["aggregator"] = aggregator;
    s
}

#[test]
fn mean_fails_where_safeguard_converges_under_sign_flip() {
    let tmp = tempfile::tempdir().unwrap();
    let base = quickstart();
    assert_eq!(base["attack"]["kind"], "sign_flip");
    assert_eq!(base["workers"], json!({"honest": 6, "byzantine": 4}));
    let (out, mean_run) = run_json(
        tmp.path(),
        &with(base.clone(), "mean", json!({"kind": "mean"})),
        &[],
    );
    assert_code(&out, 0);
    let (out, sg_run) = run_json(tmp.path(), &base, &[]);
    assert_code(&out, 0);
    let mean = summary(&mean_run);
    let sg = summary(&sg_run);
    // Mean: the four -4g vectors outweigh the six honest ones; training runs away from the
    // minimum (the run stops as diverged, a result rather than a crash).
    assert_eq!(mean["status"], "diverged", "{mean}");
    let mean_loss = mean["final"]["loss"].as_f64().unwrap_or(f64::INFINITY);
    assert!(mean_loss > 1.0, "mean loss {mean_loss}");
    assert_eq!(sg["status"], "completed");
    let sg_loss = sg["final"]["loss"].as_f64().unwrap();
    assert!(sg_loss < -0.45, "safeguard loss {sg_loss}");
    // The mean run still wrote its outputs and plots.
    assert!(mean_run.join("loss.svg").exists() && mean_run.join("report.html").exists());
}

#[test]
fn same_seed_gives_byte_identical_rounds_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(800);
    let (o1, r1) = run_json(tmp.path(), &s, &["--threads", "1"]);
    assert_code(&o1, 0);
    s["name"] = json!("two");
    // `spread`: the machines really run on 2 threads, however cheap their gradients.
    let (o2, r2) = run_json(tmp.path(), &s, &["--threads", "2", "--placement", "spread"]);
    assert_code(&o2, 0);
    let placement = &summary(&r2)["placement"];
    assert_eq!(placement["threads"], json!(2), "{placement}");
    assert_eq!(
        placement["machines_per_thread"],
        json!([5, 5]),
        "{placement}"
    );
    assert_eq!(summary(&r1)["placement"]["threads"], json!(1));
    // Again from the written, fully resolved scenario.json.
    let r3 = tmp.path().join("again");
    let o3 = run_in(
        tmp.path(),
        &[
            "run",
            r1.join("scenario.json").to_str().unwrap(),
            "--out",
            r3.to_str().unwrap(),
            "--threads",
            "3",
            "--quiet",
        ],
    );
    assert_code(&o3, 0);
    for f in [
        "rounds.csv",
        "expulsions.csv",
        "window_distances.csv",
        "dropped.csv",
        "faults.csv",
        // The figures and the trajectory's files too.
        "trajectory.csv",
        "surface.csv",
        "trajectory.json",
        "loss.svg",
        "grad_norm.svg",
        "good_machines.svg",
        "expulsions.svg",
        "window_distances.svg",
        "trajectory.svg",
    ] {
        let a = std::fs::read(r1.join(f)).unwrap();
        assert_eq!(
            a,
            std::fs::read(r2.join(f)).unwrap(),
            "{f} differs between 1 and 2 threads"
        );
        assert_eq!(
            a,
            std::fs::read(r3.join(f)).unwrap(),
            "{f} differs when rerun from scenario.json"
        );
    }
    assert_eq!(
        std::fs::read(r1.join("scenario.json")).unwrap(),
        std::fs::read(r3.join("scenario.json")).unwrap()
    );
    // A different seed gives a different run (the test could fail).
    s["seed"] = json!(8);
    s["name"] = json!("seed8");
    let (o4, r4) = run_json(tmp.path(), &s, &[]);
    assert_code(&o4, 0);
    assert_ne!(
        std::fs::read(r1.join("rounds.csv")).unwrap(),
        std::fs::read(r4.join("rounds.csv")).unwrap()
    );
}

#[test]
fn malformed_file_exit_code_2_with_path_and_position_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    let text = std::fs::read_to_string(root().join("scenarios/quickstart.json"))
        .unwrap()
        .replace(
            "\"window_short\": 100,",
            "\"window_short\": 100, \"windw_long\": 5,",
        );
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.contains("windw_long")).unwrap() + 1;
    for args in [
        vec!["validate", "bad.json"],
        vec!["run", "bad.json"],
        vec!["run", "bad.json", "--out", "x"],
    ] {
        let out = run_in(tmp.path(), &args);
        assert_code(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("aggregator.windw_long"), "{err}");
        assert!(err.contains(&format!(":{line}:")), "{err}");
        assert!(err.contains("did you mean `window_long`"), "{err}");
        let entries: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            entries,
            vec![std::ffi::OsString::from("bad.json")],
            "something was written"
        );
    }
}

#[test]
fn single_safeguard_and_theory_thresholds_catch_the_attack_too() {
    let tmp = tempfile::tempdir().unwrap();
    let s = with(
        quickstart(),
        "single",
        json!({"kind": "safeguard", "variant": "single", "window_short": 200,
               "threshold": {"mode": "theory", "c": 4.0}}),
    );
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert_eq!(sm["expelled"]["byzantine"], 4, "{sm}");
    assert_eq!(sm["expelled"]["honest"], 0, "{sm}");
    assert!(sm["final"]["loss"].as_f64().unwrap() < -0.45);
    // Only the short window is recorded for the single variant.
    let rows = csv_rows(&run.join("window_distances.csv"));
    assert!(rows.iter().all(|r| r[3] == "short"));
    let resolved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("scenario.json")).unwrap()).unwrap();
    assert!(
        resolved["aggregator"]["threshold"]["sigma"]
            .as_f64()
            .unwrap()
            > 0.0,
        "sigma resolved"
    );
}

#[test]
fn two_parameter_problem_draws_its_trajectory() {
    let tmp = tempfile::tempdir().unwrap();
    let s = json!({
        "name": "rosen", "seed": 3, "rounds": 300,
        "workers": {"honest": 4, "byzantine": 1},
        "problem": {"kind": "rosenbrock", "noise": {"kind": "gaussian", "std": 0.1}},
        "optimizer": {"lr": 0.001},
        "aggregator": {"kind": "oracle"},
        "attack": {"kind": "gaussian", "std": 100.0}
    });
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    assert_eq!(csv_rows(&run.join("trajectory.csv")).len(), 301);
    let svg = std::fs::read_to_string(run.join("trajectory.svg")).unwrap();
    assert!(svg.contains("<svg"));
    let sm = summary(&run);
    assert!(
        sm["final"]["loss"].as_f64().unwrap() < 6.5,
        "loss decreased from f(-1.5, 2) = 6.5: {sm}"
    );
}

#[test]
fn plot_redraws_from_the_csv_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(300);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let before = std::fs::read(run.join("loss.svg")).unwrap();
    std::fs::remove_file(run.join("loss.svg")).unwrap();
    std::fs::remove_file(run.join("report.html")).unwrap();
    let out = run_in(tmp.path(), &["plot", run.to_str().unwrap()]);
    assert_code(&out, 0);
    assert_eq!(
        std::fs::read(run.join("loss.svg")).unwrap(),
        before,
        "plots are deterministic"
    );
    assert!(run.join("report.html").exists());
    let out = run_in(
        tmp.path(),
        &["plot", tmp.path().join("nope").to_str().unwrap()],
    );
    assert_code(&out, 2);
    // A damaged CSV is bad input: exit 2, naming the file and line; the old plots stay.
    let rounds = std::fs::read_to_string(run.join("rounds.csv")).unwrap();
    let damaged: Vec<String> = rounds
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 4 {
                "4,abc,1,10,4,0.1,0,0".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(run.join("rounds.csv"), damaged.join("\n") + "\n").unwrap();
    let out = run_in(tmp.path(), &["plot", run.to_str().unwrap()]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rounds.csv:5") && err.contains("abc"), "{err}");
    assert_eq!(std::fs::read(run.join("loss.svg")).unwrap(), before);
}

#[test]
fn list_and_schema_describe_every_kind() {
    let out = run_in(&root(), &["list"]);
    assert_code(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "quadratic",
        "saddle",
        "rosenbrock",
        "mean",
        "oracle",
        "safeguard",
        "fixed",
        "theory",
        "paper",
        "oracle_pre_run",
        "adaptive",
        "none",
        "sign_flip",
        "zero",
        "gaussian",
        "faulty",
        "delayed",
        "alie",
        "ipm",
        "omission",
        "mimic",
        "safeguard_attack",
        "threshold_aware",
        "alie_search",
        "ipm_search",
        "saddle_trap",
    ] {
        assert!(text.contains(kind), "list lacks {kind}");
    }
    let out = run_in(&root(), &["schema"]);
    assert_code(&out, 0);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The shipped schema file (referenced by the scenarios' "$schema") is the current one.
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("scenarios/schema/scenario.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        schema, shipped,
        "scenarios/schema/scenario.schema.json is stale: run `safeguard-sim schema > scenarios/schema/scenario.schema.json`"
    );
}

#[test]
fn force_replaces_only_earlier_runs_and_empty_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(20);
    let file = tmp.path().join("s.json");
    std::fs::write(&file, s.to_string()).unwrap();
    let run = |out: &str| {
        run_in(
            tmp.path(),
            &[
                "run",
                file.to_str().unwrap(),
                "--out",
                out,
                "--force",
                "--quiet",
            ],
        )
    };
    // A directory that is not a run keeps its contents: exit 2.
    std::fs::create_dir_all(tmp.path().join("victim/sub")).unwrap();
    std::fs::write(tmp.path().join("victim/sub/data.txt"), "keep me").unwrap();
    let out = run("victim");
    assert_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an earlier run"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("victim/sub/data.txt")).unwrap(),
        "keep me"
    );
    // A file, and a path with no directory name of its own, are refused too.
    std::fs::write(tmp.path().join("afile"), "x").unwrap();
    assert_code(&run("afile"), 2);
    assert_code(&run("."), 2);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("afile")).unwrap(),
        "x"
    );
    // An empty directory and an earlier run are replaced.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    assert_code(&run("empty"), 0);
    assert_code(&run("empty"), 0);
    assert!(tmp.path().join("empty/summary.json").exists());
    // Nothing else was left behind (no staging directories).
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["afile", "empty", "s.json", "victim"]);
}

#[test]
fn eval_every_thins_rounds_csv_and_window_distances_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(95);
    s["eval_every"] = json!(10);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let rounds: Vec<u64> = csv_rows(&run.join("rounds.csv"))
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    // Row 0, every 10th round, and the last round.
    assert_eq!(rounds, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]);
    let rows = csv_rows(&run.join("window_distances.csv"));
    assert!(!rows.is_empty());
    let mut distance_rounds: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    distance_rounds.dedup();
    // The same rounds as rounds.csv (row 0 is the initial point, before any window).
    assert_eq!(distance_rounds, rounds[1..]);
    // Expulsions are exact to the round whatever eval_every is.
    let full = {
        let mut s = s.clone();
        s["name"] = json!("full");
        s["eval_every"] = json!(1);
        run_json(tmp.path(), &s, &[]).1
    };
    assert_eq!(
        std::fs::read(run.join("expulsions.csv")).unwrap(),
        std::fs::read(full.join("expulsions.csv")).unwrap()
    );
}
