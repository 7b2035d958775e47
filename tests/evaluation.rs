//! Evaluation of the iterate: only the rounds rounds.csv records are evaluated (the same rows as
//! evaluating every round), an interrupted run ends on an evaluated round, and the second-order
//! metric `min_eig` with the final local-minimum test on problems whose Hessian is known.

mod common;
use common::*;
use safeguard_sim::actors::RoundEvent;
use safeguard_sim::error::Error;
use safeguard_sim::linalg::Vector;
use safeguard_sim::prelude::*;
use safeguard_sim::problem::{Noise, Quadratic};
use safeguard_sim::record::{Observer, Status};
use safeguard_sim::rng::SimRng;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LOSS_CALLS: AtomicUsize = AtomicUsize::new(0);
static GRADIENT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A quadratic that counts its evaluations (loss and true gradient).
struct Counting(Quadratic);

impl Problem for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn initial_point(&self, rng: &mut SimRng) -> Vector {
        self.0.initial_point(rng)
    }
    fn loss(&self, x: &Vector) -> f64 {
        LOSS_CALLS.fetch_add(1, Ordering::SeqCst);
        self.0.loss(x)
    }
    fn gradient(&self, x: &Vector) -> Vector {
        GRADIENT_CALLS.fetch_add(1, Ordering::SeqCst);
        self.0.gradient(x)
    }
    fn stochastic_gradient(&self, x: &Vector, worker: usize, rng: &mut SimRng) -> Vector {
        self.0.stochastic_gradient(x, worker, rng)
    }
    fn noise_level(&self) -> f64 {
        self.0.noise_level()
    }
}

/// `counting`: a 3-dimensional quadratic that counts its evaluations.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CountingParams {}
impl Params for CountingParams {}
impl ProblemKind for CountingParams {
    fn info(&self) -> ProblemInfo {
        ProblemInfo {
            dim: 3,
            noise_level: Some(1.0),
            ..Default::default()
        }
    }
    fn build(&self, _: &Setting) -> Result<Arc<dyn Problem>, String> {
        let q = Quadratic::new(3, 1.0, 2.0, 1.0, Noise::Gaussian { std: 0.5 });
        Ok(Arc::new(Counting(q)))
    }
}

/// Collects the events, and sets `stop` after round `stop_at`.
struct Watch {
    events: Vec<RoundEvent>,
    stop: Arc<AtomicBool>,
    stop_at: u64,
}

impl Observer for Watch {
    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        self.events.push(e.clone());
        if e.round == self.stop_at {
            self.stop.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn quadratic_run(problem: serde_json::Value, rounds: u64, eval_every: u64) -> serde_json::Value {
    json!({
        "name": "e", "seed": 4, "rounds": rounds,
        "workers": {"honest": 4, "byzantine": 1},
        "problem": problem,
        "optimizer": {"lr": 0.1},
        "aggregator": {"kind": "mean"},
        "attack": {"kind": "sign_flip"},
        "eval_every": eval_every
    })
}

#[test]
fn only_recorded_rounds_are_evaluated() {
    let mut registry = Registry::builtin();
    registry.add_problem::<CountingParams>("counting");
    let text = quadratic_run(json!({"kind": "counting"}), 95, 10).to_string();
    let scenario = registry.parse(&text, "c.json").unwrap();
    let mut watch = Watch {
        events: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
        stop_at: 0,
    };
    run_blocking(&scenario, &RunOptions::default(), &mut [&mut watch]).unwrap();
    // The initial point, rounds 10, 20, ..., 90, and the last round 95.
    let evaluated: Vec<u64> = watch
        .events
        .iter()
        .filter(|e| e.evaluated)
        .map(|e| e.round)
        .collect();
    assert_eq!(evaluated, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 95]);
    assert_eq!(LOSS_CALLS.load(Ordering::SeqCst), 11);
    assert_eq!(GRADIENT_CALLS.load(Ordering::SeqCst), 11);
    for e in &watch.events {
        assert_eq!(e.evaluated, e.loss.is_finite(), "round {}", e.round);
    }
}

#[test]
fn a_stop_request_ends_on_an_evaluated_round() {
    let text = quadratic_run(json!({"kind": "quadratic", "dim": 4}), 1000, 10).to_string();
    let scenario = safeguard_sim::scenario::Scenario::from_json_str(&text, "s.json").unwrap();
    for (stop_at, last) in [(13, 14), (20, 20)] {
        let stop = Arc::new(AtomicBool::new(false));
        let mut watch = Watch {
            events: Vec::new(),
            stop: stop.clone(),
            stop_at,
        };
        let options = RunOptions {
            threads: 1,
            stop: Some(stop),
            ..RunOptions::default()
        };
        let result = run_blocking(&scenario, &options, &mut [&mut watch]).unwrap();
        let s = result.summary;
        assert_eq!(s.status, Status::Interrupted);
        // Round 13 was not evaluated: the coordinator evaluates round 14 as the last one.
        assert_eq!(s.rounds, last);
        let final_event = watch.events.last().unwrap();
        assert_eq!(final_event.round, last);
        assert!(final_event.evaluated);
        assert_eq!(s.final_.loss, Some(final_event.loss));
    }
}

#[test]
fn recorded_rows_are_those_of_a_run_evaluated_every_round() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["rounds"] = json!(403);
    let (o1, every) = run_json(tmp.path(), &s, &[]);
    assert_code(&o1, 0);
    s["name"] = json!("sparse");
    s["eval_every"] = json!(7);
    let (o7, sparse) = run_json(tmp.path(), &s, &[]);
    assert_code(&o7, 0);
    let all = std::fs::read_to_string(every.join("rounds.csv")).unwrap();
    let some = std::fs::read_to_string(sparse.join("rounds.csv")).unwrap();
    let want: Vec<&str> = all
        .lines()
        .enumerate()
        .filter(|(i, _)| *i <= 1 || (*i - 1) % 7 == 0 || *i == 404)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(some.lines().collect::<Vec<_>>(), want);
    assert_eq!(want.len(), 1 + 1 + 403 / 7 + 1);
    for f in ["expulsions.csv", "faults.csv"] {
        assert_eq!(
            std::fs::read_to_string(every.join(f)).unwrap(),
            std::fs::read_to_string(sparse.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn min_eig_of_a_quadratic_is_its_smallest_curvature_on_the_rows_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quadratic_run(
        json!({"kind": "quadratic", "dim": 5, "min_curvature": 0.5, "max_curvature": 4.0,
               "noise": {"kind": "gaussian", "std": 0.0}}),
        200,
        5,
    );
    s["workers"] = json!({"honest": 3, "byzantine": 0});
    s["evaluation"] = json!({"min_eig_every": 20, "lanczos_steps": 5, "eps": 1e-4});
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let text = std::fs::read_to_string(run.join("rounds.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "min_eig").unwrap();
    let mut with_eig = Vec::new();
    for row in csv_rows(&run.join("rounds.csv")) {
        let round: u64 = row[0].parse().unwrap();
        if row[col].is_empty() {
            continue;
        }
        with_eig.push(round);
        let v: f64 = row[col].parse().unwrap();
        assert!((v - 0.5).abs() < 1e-9, "round {round}: {v}");
    }
    let want: Vec<u64> = (0..=200).step_by(20).collect();
    assert_eq!(with_eig, want);
    // Converged without noise: an approximate local minimum.
    let sum = summary(&run);
    let so = &sum["second_order"];
    assert_eq!(so["approximate_local_minimum"], true, "{sum}");
    assert!((so["min_eig"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(so["eps"], 1e-4);
    assert!(so["grad_norm"].as_f64().unwrap() <= 1e-4);
    assert_eq!(sum["final"]["min_eig"], so["min_eig"]);
}

#[test]
fn at_a_strict_saddle_the_verdict_is_no() {
    // The saddle without noise or perturbation never moves from x = 0, where the Hessian is
    // diag(-1, -1, 1, 1): the gradient vanishes, min_eig = -1 < -sqrt(eps).
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quadratic_run(
        json!({"kind": "saddle", "dim": 4, "negative_dims": 2,
               "noise": {"kind": "gaussian", "std": 0.0}}),
        30,
        10,
    );
    s["workers"] = json!({"honest": 3, "byzantine": 0});
    s["evaluation"] = json!({"lanczos_steps": 4});
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sum = summary(&run);
    let so = &sum["second_order"];
    assert_eq!(so["approximate_local_minimum"], false, "{sum}");
    assert_eq!(so["grad_norm"], 0.0);
    assert!((so["min_eig"].as_f64().unwrap() + 1.0).abs() < 1e-9, "{so}");
    assert_eq!(so["round"], 30);
    // min_eig_every 0: the initial point and the last round only.
    let rows = csv_rows(&run.join("rounds.csv"));
    let eig: Vec<&str> = rows.iter().map(|r| r.last().unwrap().as_str()).collect();
    assert!(!eig[0].is_empty() && !eig[3].is_empty());
    assert!(eig[1].is_empty() && eig[2].is_empty());
}
