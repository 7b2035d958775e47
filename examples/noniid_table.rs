//! Honest machines on non-i.i.d. shards drift apart, and the safeguard's windows measure exactly
//! that: how many *honest* machines does the double safeguard expel on digits when the data are
//! split with label skew? No attack, 10 honest machines, a 64-64-10 MLP (tanh), batch 32, lr 0.1,
//! windows of 300 and 50 rounds, 1500 rounds, seeds 1 to 3.
//!
//! Two ways to set the thresholds, both with factor 1.5:
//! - calibrated on **i.i.d. shards** (the paper's assumption): the `oracle_pre_run` pre-run of the
//!   i.i.d. run of the same seed, then used as `fixed` thresholds under every sharding;
//! - calibrated on **the run's own shards** (the `oracle_pre_run` mode as is): the pre-run sees the
//!   same drift, so the thresholds grow with it.
//!
//! Run: `cargo run --release --example noniid_table` (about a minute on 2 cores); prints a
//! markdown table.

use safeguard_sim::record::Summary;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::{Value, json};

const SEEDS: [u64; 3] = [1, 2, 3];

fn run(seed: u64, sharding: &Value, threshold: Value) -> Summary {
    let text = json!({
        "name": "noniid", "seed": seed, "rounds": 1500,
        "workers": {"honest": 10, "byzantine": 0},
        "problem": {"kind": "mlp", "hidden": [64], "activation": "tanh",
                    "data": {"kind": "digits"}, "sharding": sharding, "batch_size": 32},
        "optimizer": {"lr": 0.1},
        "aggregator": {"kind": "safeguard", "window_long": 300, "window_short": 50,
                       "threshold": threshold},
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
fn cell(values: &[f64], digits: usize, each: usize) -> String {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let each: Vec<String> = values.iter().map(|v| format!("{v:.each$}")).collect();
    format!("{mean:.digits$} ({})", each.join(", "))
}

fn accuracy(s: &Summary) -> f64 {
    100.0
        * s.final_
            .metrics
            .get("accuracy")
            .copied()
            .flatten()
            .unwrap_or(f64::NAN)
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
        (
            "dirichlet, alpha 1.0",
            json!({"kind": "dirichlet", "alpha": 1.0}),
        ),
        (
            "dirichlet, alpha 0.3",
            json!({"kind": "dirichlet", "alpha": 0.3}),
        ),
        (
            "dirichlet, alpha 0.1",
            json!({"kind": "dirichlet", "alpha": 0.1}),
        ),
    ];
    let pre_run = json!({"mode": "oracle_pre_run", "factor": 1.5});
    // The i.i.d. calibration of each seed, as fixed thresholds.
    let iid: Vec<Value> = SEEDS
        .iter()
        .map(|&seed| {
            let s = run(seed, &shardings[0].1, pre_run.clone());
            json!({"mode": "fixed", "long": threshold(&s, "long"), "short": threshold(&s, "short")})
        })
        .collect();
    println!(
        "| sharding | i.i.d. thresholds: honest expelled (of 10) | first expulsion (round) | final test accuracy (%) | own-shard thresholds: honest expelled | short-window threshold | final test accuracy (%) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, sharding) in &shardings {
        let fixed: Vec<Summary> = SEEDS
            .iter()
            .zip(&iid)
            .map(|(&seed, th)| run(seed, sharding, th.clone()))
            .collect();
        let own: Vec<Summary> = SEEDS
            .iter()
            .map(|&seed| run(seed, sharding, pre_run.clone()))
            .collect();
        let expelled =
            |v: &[Summary]| -> Vec<f64> { v.iter().map(|s| s.expelled.honest as f64).collect() };
        let first: Vec<String> = fixed
            .iter()
            .map(|s| {
                s.first_expulsion_round
                    .map_or_else(|| "-".to_string(), |r| r.to_string())
            })
            .collect();
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            cell(&expelled(&fixed), 1, 0),
            first.join(", "),
            cell(&fixed.iter().map(accuracy).collect::<Vec<_>>(), 1, 1),
            cell(&expelled(&own), 1, 0),
            cell(
                &own.iter()
                    .map(|s| threshold(s, "short"))
                    .collect::<Vec<_>>(),
                1,
                1
            ),
            cell(&own.iter().map(accuracy).collect::<Vec<_>>(), 1, 1),
        );
    }
}
