//! The round as the coordinator runs it, through the library API: the update rule
//! `x <- x - lr * (xi + aggregate)` with `xi ~ N(0, nu^2 I)` (the perturbation is scaled by the
//! step size, as in Algorithm 1 of Allen-Zhu et al. 2021), and one event per round.

mod common;
use common::Capture;
use safeguard_sim::linalg::Vector;
use safeguard_sim::placement::PlacementPolicy;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};

fn scenario(lr: f64, perturbation: f64, rounds: u64) -> Scenario {
    // Zero gradients everywhere near the start (quadratic at its minimum, no noise): the only
    // movement comes from the perturbation.
    let text = format!(
        r#"{{"name":"p","seed":11,"rounds":{rounds},"workers":{{"honest":3,"byzantine":0}},
        "problem":{{"kind":"quadratic","dim":400,"start":0.0,"min_curvature":1e-9,"max_curvature":1e-9,
                    "noise":{{"kind":"gaussian","std":0.0}}}},
        "optimizer":{{"lr":{lr},"perturbation":{perturbation}}},
        "aggregator":{{"kind":"mean"}}}}"#
    );
    Scenario::from_json_str(&text, "p.json").unwrap()
}

fn first_step(lr: f64, perturbation: f64) -> Vector {
    let mut cap = Capture::default();
    run_blocking(
        &scenario(lr, perturbation, 1),
        &RunOptions::default(),
        &mut [&mut cap],
    )
    .unwrap();
    (*cap.0[0].params).clone()
}

#[test]
fn perturbation_is_multiplied_by_the_step_size() {
    let a = first_step(0.1, 1.0);
    let b = first_step(0.2, 1.0);
    // Same seed, same xi: doubling lr doubles the displacement exactly (not lr * 0 + xi).
    assert_eq!(b, &a * 2.0);
    // Its spread is lr * nu: the sample std of 400 N(0, (0.1)^2) entries is 0.1 +- 10%.
    let std = (a.iter().map(|x| x * x).sum::<f64>() / a.len() as f64).sqrt();
    assert!((std - 0.1).abs() < 0.01, "std {std}");
    // And it scales with nu.
    let c = first_step(0.1, 3.0);
    assert!(
        c.iter()
            .zip(a.iter())
            .all(|(c, a)| (c - 3.0 * a).abs() < 1e-12)
    );
    // No perturbation: no movement at a stationary point.
    assert!(first_step(0.1, 0.0).iter().all(|x| *x == 0.0));
}

#[test]
fn one_event_per_round_in_order_with_the_good_set() {
    let mut cap = Capture::default();
    let r = run_blocking(
        &scenario(0.1, 0.5, 25),
        &RunOptions {
            threads: 2,
            placement: PlacementPolicy::Spread,
            stop: None,
        },
        &mut [&mut cap],
    )
    .unwrap();
    assert_eq!(r.summary.rounds, 25);
    let rounds: Vec<u64> = cap.0.iter().map(|e| e.round).collect();
    assert_eq!(rounds, (1..=25).collect::<Vec<_>>());
    assert!(
        cap.0
            .iter()
            .all(|e| e.good == 3 && e.byzantine_in_good == 0 && e.faults.is_empty())
    );
    // The aggregate of honest machines only is their mean: agg_error is 0.
    assert!(cap.0.iter().all(|e| e.agg_error == 0.0));
}
