//! Every attack against every defense on the quickstart problem: the final loss, the mean loss
//! over the last 1000 rounds (the final loss alone is one noisy sample), and the machines
//! expelled, as a Markdown table (the README's attack table).
//!
//! ```sh
//! cargo run --release --example attack_table
//! ```
//!
//! Each cell runs `scenarios/quickstart.json` (10-dimensional strict saddle, 6 honest and 4
//! Byzantine machines, 3000 rounds, seed 7) with the row's attack and the column's defense, in
//! process through the library (no output files). To add a defense or an attack, add a line to
//! `DEFENSES` or `ATTACKS`. Then the `threshold_aware` comparison: its bias, as sized against
//! the safeguard, given explicitly to the rules that publish no windows.

use safeguard_sim::Error;
use safeguard_sim::actors::RoundEvent;
use safeguard_sim::aggregate::Aggregator;
use safeguard_sim::prelude::*;
use safeguard_sim::record::{Observer, Status};
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::{Value, json};
use std::collections::VecDeque;

/// Rounds averaged for the mean loss at the end of a run.
const TAIL: usize = 1000;

/// Keeps the losses of the last `TAIL` rounds.
#[derive(Default)]
struct Tail(VecDeque<f64>);

impl Observer for Tail {
    fn round(&mut self, event: &RoundEvent) -> Result<(), Error> {
        self.0.push_back(event.loss);
        if self.0.len() > TAIL {
            self.0.pop_front();
        }
        Ok(())
    }
}

/// The defenses (columns): a label and the `aggregator` object. `QUICKSTART` stands for the
/// quickstart's own aggregator (the calibrated double safeguard).
const DEFENSES: &[(&str, &str)] = &[
    ("mean", r#"{"kind": "mean"}"#),
    ("median", r#"{"kind": "median"}"#),
    ("trimmed_mean", r#"{"kind": "trimmed_mean"}"#),
    ("geometric_median", r#"{"kind": "geometric_median"}"#),
    ("krum (f 4)", r#"{"kind": "krum", "unchecked": true}"#),
    (
        "centered_clipping (tau 1)",
        r#"{"kind": "centered_clipping", "tau": 1.0}"#,
    ),
    ("zeno", r#"{"kind": "zeno"}"#),
    ("oracle", r#"{"kind": "oracle"}"#),
    ("safeguard", "QUICKSTART"),
];

/// The attacks (rows): a label and the `attack` object.
const ATTACKS: &[(&str, &str)] = &[
    ("none", r#"{"kind": "none"}"#),
    (
        "sign_flip (own, x4)",
        r#"{"kind": "sign_flip", "scale": 4.0}"#,
    ),
    (
        "sign_flip (honest_mean)",
        r#"{"kind": "sign_flip", "of": "honest_mean"}"#,
    ),
    ("zero", r#"{"kind": "zero"}"#),
    ("gaussian (std 1)", r#"{"kind": "gaussian"}"#),
    ("delayed (D = 1000)", r#"{"kind": "delayed"}"#),
    ("alie (z baruch = 0.84)", r#"{"kind": "alie"}"#),
    ("alie (z = 0.3)", r#"{"kind": "alie", "z": 0.3}"#),
    ("ipm (eps 0.1)", r#"{"kind": "ipm"}"#),
    ("ipm (eps 2)", r#"{"kind": "ipm", "eps": 2.0}"#),
    ("mimic (static)", r#"{"kind": "mimic"}"#),
    ("mimic (warmup 100)", r#"{"kind": "mimic", "warmup": 100}"#),
    ("safeguard_attack (0.4)", r#"{"kind": "safeguard_attack"}"#),
    ("threshold_aware", r#"{"kind": "threshold_aware"}"#),
    ("alie_search", r#"{"kind": "alie_search"}"#),
    ("ipm_search", r#"{"kind": "ipm_search"}"#),
    ("saddle_trap", r#"{"kind": "saddle_trap"}"#),
    ("omission (p 0.1)", r#"{"kind": "omission"}"#),
];

fn quickstart() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.json");
    let text = std::fs::read_to_string(path).expect("scenarios/quickstart.json");
    let mut v: Value = serde_json::from_str(&text).expect("the quickstart parses");
    v.as_object_mut().map(|o| o.remove("$schema"));
    v
}

/// Run the quickstart with `aggregator` and `attack`; one table cell.
fn cell(registry: &Registry, aggregator: &Value, attack: &Value) -> String {
    let mut s = quickstart();
    s["aggregator"] = aggregator.clone();
    s["attack"] = attack.clone();
    let scenario = match registry.parse(&s.to_string(), "attack_table") {
        Ok(sc) => sc,
        Err(e) if e.message.contains("give `bias`") => return "needs `bias`".into(),
        Err(e) => return format!("invalid: {}", e.message),
    };
    // Only the safeguard expels; the other rules' counts would always read 0/0.
    let expels = aggregator["kind"] == "safeguard";
    let mut tail = Tail::default();
    match run_blocking(&scenario, &RunOptions::default(), &mut [&mut tail]) {
        Ok(r) => {
            let sm = r.summary;
            let expelled = if expels {
                format!(", {}/{}", sm.expelled.byzantine, sm.expelled.honest)
            } else {
                String::new()
            };
            let mean = tail.0.iter().sum::<f64>() / tail.0.len().max(1) as f64;
            match (sm.status, sm.final_.loss) {
                (Status::Diverged, _) => format!("diverged (round {}){expelled}", sm.rounds),
                (_, Some(loss)) => format!("{loss:.4} ({mean:.4}){expelled}"),
                (_, None) => format!("n/a{expelled}"),
            }
        }
        Err(e) => format!("error: {e}"),
    }
}

fn main() {
    let registry = Registry::builtin();
    let defenses: Vec<(&str, Value)> = DEFENSES
        .iter()
        .map(|(name, json)| {
            let v = if *json == "QUICKSTART" {
                quickstart()["aggregator"].clone()
            } else {
                serde_json::from_str(json).expect("a defense object")
            };
            (*name, v)
        })
        .collect();
    println!(
        "Final loss after 3000 rounds (in brackets: the mean over the last {TAIL} rounds; minimum -0.5, the saddle is 0), and Byzantine/honest machines expelled.\n"
    );
    let header: Vec<&str> = defenses.iter().map(|(n, _)| *n).collect();
    println!("| attack | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    for (label, json) in ATTACKS {
        let attack: Value = serde_json::from_str(json).expect("an attack object");
        let cells: Vec<String> = defenses
            .iter()
            .map(|(_, agg)| cell(&registry, agg, &attack))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }

    // threshold_aware: the bias it sizes against the safeguard, given to the others.
    let sg = quickstart();
    let scenario = registry
        .parse(&sg.to_string(), "quickstart")
        .expect("the quickstart is valid");
    let problem = scenario.build_problem().expect("the problem builds");
    let rule: Box<dyn Aggregator> = scenario
        .build_aggregator(&scenario.build_context(problem))
        .expect("the safeguard builds");
    let state = rule.public_state();
    let good = state.good.unwrap_or(scenario.machines()) as f64;
    let fraction = 0.95;
    let bias = state
        .windows
        .iter()
        .map(|w| fraction * 2.0 * w.threshold * good / w.length as f64)
        .fold(f64::INFINITY, f64::min);
    println!(
        "\nthreshold_aware (direction `ones`, fraction {fraction}): the bias sized against the safeguard is {bias:.4} per round; the same bias given explicitly to the other rules:\n"
    );
    println!("| defense | final loss (mean of the last {TAIL}), expelled byzantine/honest |");
    println!("|---|---|");
    for (name, agg) in &defenses {
        let attack = if agg["kind"] == "safeguard" {
            json!({"kind": "threshold_aware"})
        } else {
            json!({"kind": "threshold_aware", "bias": bias})
        };
        println!("| {name} | {} |", cell(&registry, agg, &attack));
    }
}
