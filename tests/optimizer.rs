//! The optimiser end to end: worker momentum, server momentum and learning-rate schedules on a
//! noiseless quadratic, where the trajectory is known in closed form, and the rule that a
//! Byzantine machine's own vector is the momentum buffer an honest machine in its place sends.

use safeguard_sim::actors::RoundEvent;
use safeguard_sim::error::Error;
use safeguard_sim::record::Observer;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde_json::json;

/// Collects every round's event.
#[derive(Default)]
struct Events(Vec<RoundEvent>);

impl Observer for Events {
    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        self.0.push(e.clone());
        Ok(())
    }
}

fn run(scenario: &serde_json::Value) -> Vec<RoundEvent> {
    let s = Scenario::from_json_str(&scenario.to_string(), "t.json").unwrap();
    let mut events = Events::default();
    run_blocking(&s, &RunOptions::default(), &mut [&mut events]).unwrap();
    events.0
}

/// `f(x) = 1/2 lambda x^2` in one dimension, from x = 1, without noise, `machines` honest
/// machines and the mean: every machine sends the same vector.
fn quadratic(lambda: f64, machines: usize, optimizer: serde_json::Value) -> serde_json::Value {
    json!({
        "name": "q", "seed": 3, "rounds": 40,
        "workers": {"honest": machines, "byzantine": 0},
        "problem": {"kind": "quadratic", "dim": 1, "min_curvature": lambda,
                    "max_curvature": lambda, "start": 1.0,
                    "noise": {"kind": "gaussian", "std": 0.0}},
        "optimizer": optimizer,
        "aggregator": {"kind": "mean"}
    })
}

/// The iterates `x_1..x_T` of the recursion `m_t = a m_{t-1} + b g_t`, `x_t = x_{t-1} - lr_t m_t`
/// with `g_t = lambda x_{t-1}`, from `x_0 = 1`, `m_0 = 0`.
fn recursion(lambda: f64, a: f64, b: f64, lr: impl Fn(u64) -> f64, rounds: u64) -> Vec<f64> {
    let (mut x, mut m) = (1.0f64, 0.0f64);
    (1..=rounds)
        .map(|t| {
            m = a * m + b * lambda * x;
            x -= lr(t) * m;
            x
        })
        .collect()
}

fn assert_trajectory(events: &[RoundEvent], want: &[f64]) {
    assert_eq!(events.len(), want.len());
    for (e, w) in events.iter().zip(want) {
        let x = e.params[0];
        assert!(
            (x - w).abs() <= 1e-12 * w.abs().max(1e-3),
            "round {}: {x} vs {w}",
            e.round
        );
    }
}

#[test]
fn worker_momentum_is_polyak_heavy_ball_or_its_ema_form() {
    let lambda = 2.0;
    for (form, b) in [("heavy_ball", 1.0), ("ema", 1.0 - 0.8)] {
        let events = run(&quadratic(
            lambda,
            3,
            json!({"lr": 0.05, "worker_momentum": 0.8, "momentum_form": form}),
        ));
        assert_trajectory(&events, &recursion(lambda, 0.8, b, |_| 0.05, 40));
        if form == "heavy_ball" {
            // z^2 - (1 + beta - lr lambda) z + beta has complex roots: the iterate overshoots.
            assert!(events.iter().any(|e| e.params[0] < 0.0));
        }
    }
    // Plain gradient descent with the same step does not overshoot.
    let plain = run(&quadratic(lambda, 3, json!({"lr": 0.05})));
    assert_trajectory(&plain, &recursion(lambda, 0.0, 1.0, |_| 0.05, 40));
    assert!(plain.iter().all(|e| e.params[0] > 0.0));
}

#[test]
fn server_momentum_acts_on_the_aggregate() {
    // Without worker momentum the aggregate is the gradient: the same recursion, kept by the
    // master.
    let events = run(&quadratic(
        1.5,
        2,
        json!({"lr": 0.1, "server_momentum": 0.5, "momentum_form": "heavy_ball"}),
    ));
    assert_trajectory(&events, &recursion(1.5, 0.5, 1.0, |_| 0.1, 40));
}

#[test]
fn schedules_set_each_rounds_step() {
    let step = run(&quadratic(
        1.0,
        2,
        json!({"lr": 0.4, "schedule": {"kind": "step", "every": 10, "gamma": 0.5}}),
    ));
    let lr = |t: u64| 0.4 * 0.5f64.powi(((t - 1) / 10) as i32);
    assert_trajectory(&step, &recursion(1.0, 0.0, 1.0, lr, 40));
    let cosine = run(&quadratic(
        1.0,
        2,
        json!({"lr": 0.4, "schedule": {"kind": "cosine", "final_lr": 0.1}}),
    ));
    let lr =
        |t: u64| 0.1 + 0.3 * 0.5 * (1.0 + (std::f64::consts::PI * (t - 1) as f64 / 40.0).cos());
    assert_trajectory(&cosine, &recursion(1.0, 0.0, 1.0, lr, 40));
}

/// A noisy saddle with worker momentum, `honest` honest machines and `byzantine` Byzantine ones.
fn noisy(honest: usize, byzantine: usize) -> serde_json::Value {
    json!({
        "name": "n", "seed": 11, "rounds": 200,
        "workers": {"honest": honest, "byzantine": byzantine},
        "problem": {"kind": "saddle", "dim": 6, "negative_dims": 2,
                    "noise": {"kind": "gaussian", "std": 0.5}},
        "optimizer": {"lr": 0.05, "worker_momentum": 0.9, "server_momentum": 0.3},
        "aggregator": {"kind": "mean"},
        "attack": {"kind": "none"}
    })
}

#[test]
fn a_byzantine_machines_own_vector_is_the_honest_momentum_buffer() {
    // Attack `none` sends `own`. If `own` is the buffer an honest machine in its place would
    // send, 3 honest + 1 such Byzantine machine run exactly like 4 honest machines (machine 3
    // draws from stream 3 in both).
    let mixed = run(&noisy(3, 1));
    let honest = run(&noisy(4, 0));
    assert_eq!(mixed.len(), honest.len());
    for (a, b) in mixed.iter().zip(&honest) {
        assert_eq!(a.params, b.params, "round {}", a.round);
    }
    // And momentum changes the run (the check above is not vacuous).
    let mut plain = noisy(4, 0);
    plain["optimizer"]["worker_momentum"] = json!(0.0);
    let plain = run(&plain);
    assert_ne!(plain.last().unwrap().params, honest.last().unwrap().params);
}
