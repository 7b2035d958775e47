//! The safeguard's threshold tables of the README, measured: run
//! `cargo run --release --example threshold_table -- [TABLE...]` and paste the markdown it prints.
//!
//! Tables (all by default; name some to run only those):
//! - `no_reference`: tight thresholds under each `on_no_reference` choice, with and without the
//!   guard (the evidence for the default);
//! - `false_expulsions`: attack `none` (every machine behaves honestly), 10 seeds, 20,000 rounds,
//!   each threshold mode and factor 0.6 / 0.8 / 1.0 / 1.5;
//! - `honest_expulsions`: attack `zero` with 6 honest and 5 Byzantine machines, 10 seeds, same
//!   modes and factors, double and single safeguard;
//! - `oracle_gap`: the safeguard's final loss against the oracle's, over seeds and attacks.
//!
//! Every run is the quickstart's setting (10-dimensional saddle, bounded noise V = 1, lr 0.02,
//! nu 0.1; windows 600/100, single window 200) through the library (`sim::run_blocking`), no
//! output files; runs are spread over the machine's cores and the tables do not depend on it.

use safeguard_sim::aggregate::Variant;
use safeguard_sim::aggregate::safeguard::calibrate::{PreRun, Statistic, calibrate};
use safeguard_sim::problem::{Noise, Saddle};
use safeguard_sim::record::Summary;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

const SEEDS: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const FACTORS: [f64; 4] = [0.6, 0.8, 1.0, 1.5];

/// The quickstart's scenario with `honest` + `byzantine` machines and `attack`.
fn base(seed: u64, rounds: u64, honest: usize, byzantine: usize, attack: Value) -> Value {
    json!({
        "name": "table", "seed": seed, "rounds": rounds,
        "workers": {"honest": honest, "byzantine": byzantine},
        "problem": {"kind": "saddle", "dim": 10, "negative_dims": 2,
                    "noise": {"kind": "bounded", "radius": 1.0}},
        "optimizer": {"lr": 0.02, "perturbation": 0.1},
        "aggregator": {"kind": "safeguard", "variant": "double",
                       "window_long": 600, "window_short": 100,
                       "threshold": {"mode": "oracle_pre_run", "factor": 1.5}},
        "attack": attack,
    })
}

/// Run every scenario (in parallel over the cores), results in input order.
fn run_all(scenarios: &[Value]) -> Vec<Summary> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut results: Vec<Option<Summary>> = vec![None; scenarios.len()];
    let chunks: Vec<Vec<(usize, Summary)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(v) = scenarios.get(i) else { break };
                        let scenario = Scenario::from_json_str(&v.to_string(), "table.json")
                            .unwrap_or_else(|e| panic!("{e}\n{v}"));
                        let r = run_blocking(&scenario, &RunOptions::default(), &mut [])
                            .unwrap_or_else(|e| panic!("{e}"));
                        out.push((i, r.summary));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a table thread"))
            .collect()
    });
    for (i, s) in chunks.into_iter().flatten() {
        results[i] = Some(s);
    }
    results.into_iter().map(|s| s.expect("every run")).collect()
}

/// A threshold mode of the tables, at a factor.
#[derive(Clone, Copy)]
enum Mode {
    Central,
    Pairwise,
    Adaptive,
    Theory,
    Fixed,
    Paper,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Central,
        Mode::Pairwise,
        Mode::Adaptive,
        Mode::Theory,
        Mode::Fixed,
        Mode::Paper,
    ];
    fn label(self) -> &'static str {
        match self {
            Mode::Central => "`oracle_pre_run`, `central` (factor)",
            Mode::Pairwise => "`oracle_pre_run`, `pairwise` (factor)",
            Mode::Adaptive => "`adaptive` (factor)",
            Mode::Theory => "`theory` (c = 3 x factor)",
            Mode::Fixed => "`fixed` (factor x the central pre-run's values at m)",
            Mode::Paper => "`paper` (p = 0.01; no factor)",
        }
    }
    /// The `threshold` object (and whether the variant is single).
    fn threshold(self, factor: f64, variant: Variant, fixed: (f64, f64)) -> Value {
        match self {
            Mode::Central => json!({"mode": "oracle_pre_run", "factor": factor}),
            Mode::Pairwise => {
                json!({"mode": "oracle_pre_run", "factor": factor, "statistic": "pairwise"})
            }
            Mode::Adaptive => json!({"mode": "adaptive", "factor": factor}),
            Mode::Theory => json!({"mode": "theory", "c": 3.0 * factor}),
            Mode::Fixed => match variant {
                Variant::Double => {
                    json!({"mode": "fixed", "long": factor * fixed.0, "short": factor * fixed.1})
                }
                Variant::Single => json!({"mode": "fixed", "short": factor * fixed.1}),
            },
            Mode::Paper => json!({"mode": "paper"}),
        }
    }
}

/// `(Th1, Th0)` of the central oracle pre-run at factor 1 and all `m` machines good: the values
/// the `fixed` rows scale.
fn central_values(seed: u64, honest: usize, machines: usize, variant: Variant) -> (f64, f64) {
    let problem = Saddle::new(10, 2, 0.0, Noise::Bounded { radius: 1.0 });
    let (t1, t0) = match variant {
        Variant::Double => (600, 100),
        Variant::Single => (200, 200),
    };
    let cal = calibrate(
        &problem,
        &PreRun {
            honest,
            lr: 0.02,
            perturbation: 0.1,
            variant,
            window_long: t1,
            window_short: t0,
            rounds: 2 * t1,
            seed,
        },
    );
    cal.thresholds(Statistic::Central, 1.0).at(machines)
}

fn with_aggregator(
    mut s: Value,
    variant: Variant,
    threshold: Value,
    extra: &[(&str, Value)],
) -> Value {
    let agg = &mut s["aggregator"];
    agg["threshold"] = threshold;
    if variant == Variant::Single {
        agg["variant"] = json!("single");
        agg["window_short"] = json!(200);
        if let Some(o) = agg.as_object_mut() {
            o.remove("window_long");
        }
    }
    for (k, v) in extra {
        agg[*k] = v.clone();
    }
    s
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn loss(s: &Summary) -> f64 {
    s.final_.loss.unwrap_or(f64::INFINITY)
}

/// One table over modes and factors, each cell over the seeds. With `all_honest` (attack `none`:
/// the "Byzantine" machines behave honestly too) every expulsion is a false one.
fn expulsion_table(
    title: &str,
    (honest, byzantine): (usize, usize),
    attack: Value,
    rounds: u64,
    variant: Variant,
) {
    let all_honest = attack["kind"] == "none";
    let m = honest + byzantine;
    let mut scenarios = Vec::new();
    let mut cells = Vec::new();
    for mode in Mode::ALL {
        let factors: &[f64] = if matches!(mode, Mode::Paper) {
            &[1.0]
        } else {
            &FACTORS
        };
        for &factor in factors {
            let from = scenarios.len();
            for &seed in &SEEDS {
                let fixed = if matches!(mode, Mode::Fixed) {
                    central_values(seed, honest, m, variant)
                } else {
                    (0.0, 0.0)
                };
                let s = base(seed, rounds, honest, byzantine, attack.clone());
                scenarios.push(with_aggregator(
                    s,
                    variant,
                    mode.threshold(factor, variant, fixed),
                    &[],
                ));
            }
            cells.push((mode, factor, from..scenarios.len()));
        }
    }
    let results = run_all(&scenarios);
    println!("### {title}\n");
    let header: Vec<String> = FACTORS.iter().map(|f| format!("factor {f}")).collect();
    println!("| mode | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(FACTORS.len()));
    for mode in Mode::ALL {
        let mut row = Vec::new();
        for (_, _, range) in cells.iter().filter(|(md, _, _)| md.label() == mode.label()) {
            let rs = &results[range.clone()];
            let false_out =
                |s: &Summary| s.expelled.honest + if all_honest { s.expelled.byzantine } else { 0 };
            let out: usize = rs.iter().map(false_out).sum();
            let runs = rs.iter().filter(|s| false_out(s) > 0).count();
            let byz: usize = rs.iter().map(|s| s.expelled.byzantine).sum();
            let l = mean(rs.iter().map(loss));
            row.push(if all_honest {
                format!("{out} ({runs}) / {l:.3}")
            } else {
                format!("{out} ({runs}) / {byz} / {l:.3}")
            });
        }
        if row.len() == 1 {
            row = vec![row[0].clone(); FACTORS.len()];
        }
        println!("| {} | {} |", mode.label(), row.join(" | "));
    }
    let per = if all_honest {
        "machines expelled, all falsely, over the seeds (runs with any) / mean final loss"
    } else {
        "honest machines expelled over the seeds (runs with any) / Byzantine machines expelled / mean final loss"
    };
    println!(
        "\nCells: {per}. {m} machines, {rounds} rounds, {} seeds, minimum loss -0.5; filter and guard on (the defaults).\n",
        SEEDS.len()
    );
}

fn no_reference_table() {
    struct Case {
        label: &'static str,
        honest: usize,
        byzantine: usize,
        attack: Value,
        variant: Variant,
        threshold: Value,
    }
    let zero = json!({"kind": "zero"});
    let cases = [
        Case {
            label: "6 honest + 5 `zero`, single, pre-run factor 0.8",
            honest: 6,
            byzantine: 5,
            attack: zero.clone(),
            variant: Variant::Single,
            threshold: json!({"mode": "oracle_pre_run", "factor": 0.8}),
        },
        Case {
            label: "6 honest + 5 `zero`, single, pre-run factor 0.6",
            honest: 6,
            byzantine: 5,
            attack: zero.clone(),
            variant: Variant::Single,
            threshold: json!({"mode": "oracle_pre_run", "factor": 0.6}),
        },
        Case {
            label: "6 honest + 5 `zero`, double, pre-run factor 0.6",
            honest: 6,
            byzantine: 5,
            attack: zero.clone(),
            variant: Variant::Double,
            threshold: json!({"mode": "oracle_pre_run", "factor": 0.6}),
        },
        Case {
            label: "6 honest + 4 `sign_flip` x4, double, pre-run factor 0.6",
            honest: 6,
            byzantine: 4,
            attack: json!({"kind": "sign_flip", "scale": 4.0}),
            variant: Variant::Double,
            threshold: json!({"mode": "oracle_pre_run", "factor": 0.6}),
        },
        Case {
            label: "10 honest (`none`), double, pre-run factor 0.6",
            honest: 6,
            byzantine: 4,
            attack: json!({"kind": "none"}),
            variant: Variant::Double,
            threshold: json!({"mode": "oracle_pre_run", "factor": 0.6}),
        },
        Case {
            label: "6 honest + 5 `zero`, double, `adaptive` factor 0.6",
            honest: 6,
            byzantine: 5,
            attack: zero,
            variant: Variant::Double,
            threshold: json!({"mode": "adaptive", "factor": 0.6}),
        },
    ];
    let choices = [
        ("`most_neighbours`, no guard", "most_neighbours", false),
        ("`keep_all`, no guard", "keep_all", false),
        ("`most_neighbours` + guard", "most_neighbours", true),
        ("`keep_all` + guard", "keep_all", true),
    ];
    let mut scenarios = Vec::new();
    for c in &cases {
        for (_, policy, guard) in &choices {
            for &seed in &SEEDS {
                let s = base(seed, 3000, c.honest, c.byzantine, c.attack.clone());
                scenarios.push(with_aggregator(
                    s,
                    c.variant,
                    c.threshold.clone(),
                    &[("on_no_reference", json!(policy)), ("guard", json!(guard))],
                ));
            }
        }
    }
    let results = run_all(&scenarios);
    println!("### Tight thresholds: `on_no_reference` and the guard\n");
    println!(
        "3000 rounds, {} seeds, filter on. Each cell: honest expelled (runs with any) / Byzantine expelled / mean no-reference rounds / smallest good set / mean and worst final loss (minimum -0.5).\n",
        SEEDS.len()
    );
    println!(
        "| case | {} |",
        choices.iter().map(|c| c.0).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(choices.len()));
    let per_case = choices.len() * SEEDS.len();
    for (ci, c) in cases.iter().enumerate() {
        let mut row = Vec::new();
        for k in 0..choices.len() {
            let from = ci * per_case + k * SEEDS.len();
            let rs = &results[from..from + SEEDS.len()];
            let honest_out: usize = rs.iter().map(|s| s.expelled.honest).sum();
            let runs = rs.iter().filter(|s| s.expelled.honest > 0).count();
            let byz: usize = rs.iter().map(|s| s.expelled.byzantine).sum();
            let nr = mean(rs.iter().map(|s| s.no_reference_rounds as f64));
            let m = c.honest + c.byzantine;
            let min_good = rs
                .iter()
                .map(|s| m - s.expelled.honest - s.expelled.byzantine)
                .min()
                .unwrap_or(m);
            let l = mean(rs.iter().map(loss));
            let worst = rs.iter().map(loss).fold(f64::NEG_INFINITY, f64::max);
            row.push(format!(
                "{honest_out} ({runs}) / {byz} / {nr:.0} / {min_good} / {l:.3}, {worst:.3}"
            ));
        }
        println!("| {} | {} |", c.label, row.join(" | "));
    }
    println!();
}

fn oracle_gap_table() {
    let attacks = [
        ("`sign_flip` x4", json!({"kind": "sign_flip", "scale": 4.0})),
        ("`sign_flip` x1", json!({"kind": "sign_flip"})),
        ("`zero`", json!({"kind": "zero"})),
        ("`gaussian` std 1", json!({"kind": "gaussian"})),
        (
            "`gaussian` std 1e4",
            json!({"kind": "gaussian", "std": 1e4}),
        ),
        ("`none`", json!({"kind": "none"})),
    ];
    let mut scenarios = Vec::new();
    for (_, attack) in &attacks {
        for &seed in &SEEDS {
            let s = base(seed, 3000, 6, 4, attack.clone());
            let mut oracle = s.clone();
            oracle["aggregator"] = json!({"kind": "oracle"});
            scenarios.push(oracle);
            scenarios.push(s.clone());
            scenarios.push(with_aggregator(
                s,
                Variant::Double,
                json!({"mode": "oracle_pre_run", "factor": 1.5}),
                &[("filter", json!(false))],
            ));
        }
    }
    let results = run_all(&scenarios);
    println!("### The safeguard against the oracle\n");
    println!(
        "The quickstart (pre-run factor 1.5), 3000 rounds, {} seeds per attack: runs whose final loss equals the oracle's to the last bit, and the largest difference.\n",
        SEEDS.len()
    );
    println!(
        "| attack | filter on: equal | filter on: largest difference | filter off: equal | filter off: largest difference |"
    );
    println!("|---|---|---|---|---|");
    for (ai, (label, _)) in attacks.iter().enumerate() {
        let mut on = (0, 0.0f64);
        let mut off = (0, 0.0f64);
        for si in 0..SEEDS.len() {
            let i = (ai * SEEDS.len() + si) * 3;
            let o = loss(&results[i]);
            for (acc, r) in [(&mut on, &results[i + 1]), (&mut off, &results[i + 2])] {
                let l = loss(r);
                if l.to_bits() == o.to_bits() {
                    acc.0 += 1;
                }
                acc.1 = acc.1.max((l - o).abs());
            }
        }
        let fmt = |d: f64| {
            if d == 0.0 {
                "0".to_string()
            } else {
                format!("{d:.1e}")
            }
        };
        println!(
            "| {label} | {}/{} | {} | {}/{} | {} |",
            on.0,
            SEEDS.len(),
            fmt(on.1),
            off.0,
            SEEDS.len(),
            fmt(off.1)
        );
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name || a == "all");
    if want("no_reference") {
        no_reference_table();
    }
    if want("false_expulsions") {
        expulsion_table(
            "False expulsions: attack `none`, 10 machines, 20,000 rounds",
            (6, 4),
            json!({"kind": "none"}),
            20_000,
            Variant::Double,
        );
    }
    if want("honest_expulsions") {
        for variant in [Variant::Double, Variant::Single] {
            let name = match variant {
                Variant::Double => "double safeguard (windows 600 / 100)",
                Variant::Single => "single safeguard (window 200)",
            };
            expulsion_table(
                &format!("Honest expulsions: 6 honest + 5 `zero`, {name}, 3000 rounds"),
                (6, 5),
                json!({"kind": "zero"}),
                3000,
                variant,
            );
        }
    }
    if want("oracle_gap") {
        oracle_gap_table();
    }
}
