//! Honest machines on non-i.i.d. shards drift apart, and the safeguard's windows measure exactly
//! that: what does the double safeguard do to *honest* machines on digits when the data are split
//! with label skew? No attack, 10 honest machines, a 64-64-10 MLP (tanh), batch 32, lr 0.1,
//! windows of 300 and 50 rounds, factor 1.5, 1500 rounds, seeds 1 to 3.
//!
//! Three configurations per sharding:
//! - **i.i.d. calibration, no filter or guard, `most_neighbours`**: Algorithm 1 as printed
//!   (`filter` and `guard` off), with the known workaround when no machine qualifies as reference,
//!   and the thresholds an `oracle_pre_run` pre-run measures on **i.i.d. shards** (the paper's
//!   assumption), used as `fixed` thresholds under every sharding;
//! - **i.i.d. calibration, defaults**: the same thresholds, and the same pre-run's measured
//!   `2V` as the filter's radius (`noise_bound`), with the safeguard's defaults (the per-round
//!   filter, the guard, `keep_all`);
//! - **own-shard calibration, defaults**: `oracle_pre_run` as is, whose pre-run sees the run's
//!   own shards, so the thresholds and the filter's radius grow with the drift.
//!
//! Run: `cargo run --release --example noniid_table` (about a minute and a half on 2 cores);
//! prints a markdown table.

use safeguard_sim::record::Summary;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::{Value, json};

const SEEDS: [u64; 3] = [1, 2, 3];

fn run(seed: u64, sharding: &Value, aggregator: &Value) -> Summary {
    let text = json!({
        "name": "noniid", "seed": seed, "rounds": 1500,
        "workers": {"honest": 10, "byzantine": 0},
        "problem": {"kind": "mlp", "hidden": [64], "activation": "tanh",
                    "data": {"kind": "digits"}, "sharding": sharding, "batch_size": 32},
        "optimizer": {"lr": 0.1},
        "aggregator": aggregator,
        "eval_every": 100
    });
    let scenario = Scenario::from_json_str(&text.to_string(), "noniid.json")
        .unwrap_or_else(|e| panic!("the example's scenario is valid: {e}"));
    run_blocking(&scenario, &RunOptions::default(), &mut [])
        .unwrap_or_else(|e| panic!("run failed: {e}"))
        .summary
}

/// `mean (a, b, c)` of the per-seed values: the mean with `digits` decimals, each value with
/// `each` decimals.
fn cell(values: impl Iterator<Item = f64>, digits: usize, each: usize) -> String {
    let values: Vec<f64> = values.collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let each: Vec<String> = values.iter().map(|v| format!("{v:.each$}")).collect();
    format!("{mean:.digits$} ({})", each.join(", "))
}

fn threshold(s: &Summary, window: &str) -> f64 {
    s.thresholds
        .as_ref()
        .and_then(|t| t.get(window).copied())
        .unwrap_or(f64::NAN)
}

fn main() {
    let shardings = [
        ("iid", json!({"kind": "iid"})),
        ("dirichlet 1.0", json!({"kind": "dirichlet", "alpha": 1.0})),
        ("dirichlet 0.3", json!({"kind": "dirichlet", "alpha": 0.3})),
        ("dirichlet 0.1", json!({"kind": "dirichlet", "alpha": 0.1})),
    ];
    let safeguard = json!({"kind": "safeguard", "window_long": 300, "window_short": 50,
                           "threshold": {"mode": "oracle_pre_run", "factor": 1.5}});
    // The i.i.d. pre-run of each seed: its thresholds, and its measured 2V as the filter's radius.
    let iid: Vec<(Value, Value)> = SEEDS
        .iter()
        .map(|&seed| {
            let s = run(seed, &shardings[0].1, &safeguard);
            let fixed = json!({"mode": "fixed", "long": threshold(&s, "long"),
                               "short": threshold(&s, "short")});
            let mut printed = safeguard.clone();
            printed["threshold"] = fixed.clone();
            printed["filter"] = json!(false);
            printed["guard"] = json!(false);
            printed["on_no_reference"] = json!("most_neighbours");
            let mut defaults = safeguard.clone();
            defaults["threshold"] = fixed;
            defaults["noise_bound"] =
                json!(threshold(&s, "calibrated_max_pairwise_gradient") / 2.0);
            (printed, defaults)
        })
        .collect();
    println!(
        "| sharding | safeguard | short-window threshold | honest expelled (of 10) | first expulsion (round) | expulsions withheld by the guard | no-reference rounds | honest vectors dropped by the filter | final test accuracy (%) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (label, sharding) in &shardings {
        let configurations: [(&str, Vec<Summary>); 3] = [
            (
                "i.i.d. calibration, no filter or guard, `most_neighbours`",
                SEEDS
                    .iter()
                    .zip(&iid)
                    .map(|(&seed, (printed, _))| run(seed, sharding, printed))
                    .collect(),
            ),
            (
                "i.i.d. calibration, defaults",
                SEEDS
                    .iter()
                    .zip(&iid)
                    .map(|(&seed, (_, defaults))| run(seed, sharding, defaults))
                    .collect(),
            ),
            (
                "own-shard calibration, defaults",
                SEEDS
                    .iter()
                    .map(|&seed| run(seed, sharding, &safeguard))
                    .collect(),
            ),
        ];
        for (name, runs) in &configurations {
            let first: Vec<String> = runs
                .iter()
                .map(|s| {
                    s.first_expulsion_round
                        .map_or_else(|| "-".to_string(), |r| r.to_string())
                })
                .collect();
            let withheld = runs.iter().map(|s| {
                s.guard
                    .as_ref()
                    .map_or(0.0, |g| g.withheld_expulsions as f64)
            });
            let dropped = runs
                .iter()
                .map(|s| s.filter.as_ref().map_or(0.0, |f| f.dropped.honest as f64));
            let accuracy = runs.iter().map(|s| {
                100.0
                    * s.final_
                        .metrics
                        .get("accuracy")
                        .copied()
                        .flatten()
                        .unwrap_or(f64::NAN)
            });
            println!(
                "| {label} | {name} | {} | {} | {} | {} | {} | {} | {} |",
                cell(runs.iter().map(|s| threshold(s, "short")), 1, 1),
                cell(runs.iter().map(|s| s.expelled.honest as f64), 1, 0),
                first.join(", "),
                cell(withheld, 0, 0),
                cell(runs.iter().map(|s| s.no_reference_rounds as f64), 0, 0),
                cell(dropped, 0, 0),
                cell(accuracy, 1, 1),
            );
        }
    }
}
