//! summary.json says what it means: the problem's known minimum and the best loss reached are
//! two fields, and fields that do not apply to a run are absent rather than 0.

mod common;
use common::*;
use serde_json::json;

#[test]
fn known_minimum_and_best_loss_are_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(400);
    s["eval_every"] = json!(7);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sm = summary(&run);
    assert!(sm.get("min_loss").is_none(), "{sm}");
    assert_eq!(sm["known_min_loss"], -0.5);
    let best = sm["best_loss"].as_f64().unwrap();
    let round = sm["best_loss_round"].as_u64().unwrap();
    assert!(best <= sm["final"]["loss"].as_f64().unwrap());
    assert!(best > -0.5 && best < 0.0, "{best}");
    assert!(round > 0 && round <= 400);
    // The best loss is over every round, not only the rows of rounds.csv.
    let sampled_min = csv_rows(&run.join("rounds.csv"))
        .iter()
        .map(|r| r[1].parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(best <= sampled_min);
}

#[test]
fn fields_that_do_not_apply_are_absent() {
    let tmp = tempfile::tempdir().unwrap();
    // The single variant has no long window: nothing is measured for it.
    let mut s = quickstart();
    s["name"] = json!("single");
    s["rounds"] = json!(300);
    s["aggregator"] = json!({"kind": "safeguard", "variant": "single", "window_short": 100,
        "threshold": {"mode": "calibrate"}});
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let t = &summary(&run)["thresholds"];
    assert!(t.get("calibrated_max_distance_long").is_none(), "{t}");
    assert!(t.get("long").is_none(), "{t}");
    assert!(
        t["calibrated_max_distance_short"].as_f64().unwrap() > 0.0,
        "{t}"
    );
    assert!(t["short"].as_f64().unwrap() > 0.0, "{t}");
    // The mean has no thresholds at all.
    s["name"] = json!("mean");
    s["aggregator"] = json!({"kind": "mean"});
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    assert!(summary(&run).get("thresholds").is_none());
}
