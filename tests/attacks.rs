//! The attack library in runs: every shipped attack scenario on a small budget, the claims the
//! README makes (threshold_aware is never expelled; the saddle trap pins the model without
//! perturbation and not with it), the search attacks against a rule registered by the test,
//! and collusion that does not depend on the thread count.

mod common;
use common::Capture;
use safeguard_sim::Registry;
use safeguard_sim::actors::RoundEvent;
use safeguard_sim::aggregate::{Aggregate, Aggregator, AggregatorKind, PublicState, RoundInput};
use safeguard_sim::attack::{Adversaries, AttackContext, RoundView};
use safeguard_sim::linalg::Vector;
use safeguard_sim::placement::PlacementPolicy;
use safeguard_sim::record::{Status, Summary};
use safeguard_sim::registry::{BuildContext, Params};
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, run_blocking};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

fn shipped(name: &str) -> Value {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    v
}

fn run_with(registry: &Registry, s: &Value, threads: usize) -> (Summary, Vec<RoundEvent>) {
    let scenario = registry.parse(&s.to_string(), "test.json").unwrap();
    let mut cap = Capture::default();
    // Several threads are used whatever they cost, to exercise the cross-thread paths.
    let options = RunOptions {
        threads,
        placement: PlacementPolicy::Spread,
        ..RunOptions::default()
    };
    let r = run_blocking(&scenario, &options, &mut [&mut cap]).unwrap();
    (r.summary, cap.0)
}

fn run(s: &Value) -> (Summary, Vec<RoundEvent>) {
    run_with(&Registry::builtin(), s, 1)
}

#[test]
fn every_attack_scenario_runs_on_a_small_budget() {
    // (file, what its first 900 rounds must show under the quickstart's safeguard)
    type Check = fn(&Summary, &[RoundEvent]);
    let expelled_all: Check = |s, _| assert_eq!(s.expelled.byzantine, 4, "{}", s.name);
    let kept_all: Check = |s, _| assert_eq!(s.expelled.byzantine, 0, "{}", s.name);
    let cases: [(&str, Check); 13] = [
        ("sign_flip_honest_mean", expelled_all),
        ("zero", kept_all),
        ("gaussian", |s, _| {
            assert!(s.expelled.byzantine >= 1, "{}", s.name)
        }),
        // D = 1000 > 900 rounds: honest behaviour (warmup `own`) all along, i.e. the very run
        // of attack `none` (checked below).
        ("delayed", kept_all),
        ("alie", expelled_all),
        ("ipm", expelled_all),
        ("mimic", kept_all),
        ("safeguard_attack", kept_all),
        ("threshold_aware", |s, ev| {
            assert_eq!(s.expelled.byzantine, 0);
            assert!(ev.iter().filter(|e| e.agg_error > 0.01).count() > 800);
        }),
        ("alie_search", expelled_all),
        ("ipm_search", expelled_all),
        // Silent with probability 0.1: silence is expulsion (no_valid_gradient) under the
        // safeguard.
        ("omission", |s, ev| {
            assert_eq!(s.expelled.byzantine, 4);
            let reasons: Vec<&str> = ev
                .iter()
                .flat_map(|e| e.expulsions.iter().map(|x| x.reason.as_str()))
                .collect();
            assert!(
                reasons.iter().all(|r| *r == "no_valid_gradient"),
                "{reasons:?}"
            );
        }),
        ("saddle_trap", |s, ev| {
            assert_eq!(s.expelled.byzantine, 0);
            assert!(ev.iter().all(|e| e.loss.abs() < 0.01), "left the saddle");
        }),
    ];
    for (name, check) in cases {
        let mut s = shipped(name);
        assert_eq!(s["name"], name, "the file's name field");
        s["rounds"] = json!(900);
        let (summary, events) = run(&s);
        assert_eq!(summary.status, Status::Completed, "{name}");
        assert_eq!(
            summary.expelled.honest, 0,
            "{name}: an honest machine was expelled"
        );
        check(&summary, &events);
        if name == "delayed" {
            s["attack"] = json!({"kind": "none"});
            let (_, honest) = run(&s);
            let losses =
                |ev: &[RoundEvent]| ev.iter().map(|e| e.loss.to_bits()).collect::<Vec<_>>();
            assert_eq!(losses(&events), losses(&honest));
        }
    }
}

#[test]
fn threshold_aware_is_never_expelled_by_either_safeguard() {
    let base = shipped("threshold_aware");
    let single = json!({"kind": "safeguard", "variant": "single", "window_short": 200,
                        "threshold": {"mode": "theory", "c": 4.0}});
    let fixed = json!({"kind": "safeguard", "variant": "double", "window_long": 300,
                       "window_short": 60, "threshold": {"mode": "fixed", "long": 3.5, "short": 1.6}});
    let mut cases = Vec::new();
    for seed in [1u64, 2, 3] {
        cases.push((seed, base["aggregator"].clone(), base["attack"].clone()));
        cases.push((seed, single.clone(), base["attack"].clone()));
    }
    // Fixed thresholds, the other direction, and colluders whose windowed sums differ (honest
    // rounds before from_round).
    cases.push((
        4,
        fixed,
        json!({"kind": "threshold_aware", "direction": "against_honest_mean", "from_round": 150}),
    ));
    for (seed, aggregator, attack) in cases {
        let mut s = base.clone();
        s["seed"] = json!(seed);
        s["rounds"] = json!(1500);
        s["aggregator"] = aggregator.clone();
        s["attack"] = attack;
        let (summary, events) = run(&s);
        assert_eq!(
            (summary.expelled.byzantine, summary.expelled.honest),
            (0, 0),
            "seed {seed}, {aggregator}"
        );
        // It does push: the aggregate is away from the honest mean in most rounds.
        let pushed = events.iter().filter(|e| e.agg_error > 1e-3).count();
        assert!(pushed > 1000, "seed {seed}: pushed in {pushed} rounds");
    }
}

#[test]
fn saddle_trap_pins_the_model_without_perturbation_and_not_with_it() {
    // The two shipped files differ only in the perturbation.
    let (noisy, trapped) = (shipped("saddle_trap"), shipped("saddle_trap_no_noise"));
    let mut a = noisy.clone();
    a["optimizer"]["perturbation"] = json!(0.0);
    a["name"] = trapped["name"].clone();
    assert_eq!(a, trapped);

    // Without perturbation: at the saddle (f = 0) for all 6000 rounds, nobody expelled.
    let (s, events) = run(&trapped);
    assert_eq!((s.expelled.byzantine, s.expelled.honest), (0, 0));
    let worst = events.iter().map(|e| e.loss.abs()).fold(0.0, f64::max);
    assert!(worst < 0.01, "|f| reached {worst}");
    // With it: the drift makes the cancellation grow until the long window expels the
    // colluders; the honest machines then reach a minimum (-0.5).
    let (s, _) = run(&noisy);
    assert_eq!((s.expelled.byzantine, s.expelled.honest), (4, 0));
    let loss = s.final_.loss.unwrap();
    assert!(loss < -0.45, "final loss {loss}");
    // Control: without the attack, the honest noise alone escapes the saddle (the trap is the
    // attack's doing).
    let mut control = trapped.clone();
    control["attack"] = json!({"kind": "none"});
    control["rounds"] = json!(2000);
    let (s, _) = run(&control);
    assert!(s.final_.loss.unwrap() < -0.45);
}

/// A coordinate-wise median, registered by the test as a user would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestMedianParams {}

impl Params for TestMedianParams {}

impl AggregatorKind for TestMedianParams {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Aggregator>, String> {
        Ok(Box::new(TestMedian))
    }
}

struct TestMedian;

impl Aggregator for TestMedian {
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let vs: Vec<&Vector> = input.valid().map(|(_, g)| g).collect();
        Aggregate::direction(Vector::from_shape_fn(input.dim(), |c| {
            let mut col: Vec<f64> = vs.iter().map(|v| v[c]).collect();
            col.sort_by(f64::total_cmp);
            let n = col.len();
            if n % 2 == 1 {
                col[n / 2]
            } else {
                (col[n / 2 - 1] + col[n / 2]) / 2.0
            }
        }))
    }
}

/// The vector the scenario's attack sends on the reference round [1,2,3], [4,5,6], [7,8,9]
/// (machines 0..3, colluder 3), built through the scenario's context.
fn vector_of(registry: &Registry, scenario: &Value) -> Vector {
    let sc: Scenario = registry.parse(&scenario.to_string(), "s.json").unwrap();
    let ctx = sc.build_context(sc.build_problem().unwrap());
    let Adversaries::Each(mut make) = sc.build_attack(&ctx).unwrap() else {
        panic!("trait-form attack expected")
    };
    let honest = vec![
        (0, Vector::from_vec(vec![1.0, 2.0, 3.0])),
        (1, Vector::from_vec(vec![4.0, 5.0, 6.0])),
        (2, Vector::from_vec(vec![7.0, 8.0, 9.0])),
    ];
    let view = RoundView::new(
        1,
        Arc::new(Vector::zeros(3)),
        4,
        4,
        Arc::new(honest),
        Arc::new(vec![3]),
        Arc::new(PublicState::default()),
    );
    let own = Vector::zeros(3);
    let mut rng = safeguard_sim::rng::stream(1, 2);
    make(3)
        .attack(&mut AttackContext {
            id: 3,
            own: &own,
            rng: &mut rng,
            view: &view,
        })
        .unwrap()
}

#[test]
fn search_attacks_evaluate_the_scenarios_own_rule_through_the_registry() {
    let mut registry = Registry::builtin();
    registry.add_aggregator::<TestMedianParams>("test_median");
    let scenario = |aggregator: &str, attack: Value| {
        json!({"name": "s", "seed": 1, "rounds": 1, "workers": {"honest": 3, "byzantine": 1},
               "problem": {"kind": "quadratic", "dim": 3}, "optimizer": {"lr": 0.1},
               "aggregator": {"kind": aggregator}, "attack": attack})
    };
    let alie = json!({"kind": "alie_search", "range": [0.0, 4.0]});
    let ipm = json!({"kind": "ipm_search", "range": [0.0, 4.0]});
    // Against the mean the distance grows with z (eps): the top of the range. mu = [4,5,6],
    // s = [3,3,3].
    assert_eq!(
        vector_of(&registry, &scenario("mean", alie.clone())).to_vec(),
        vec![-8.0, -7.0, -6.0]
    );
    assert_eq!(
        vector_of(&registry, &scenario("mean", ipm.clone())).to_vec(),
        vec![-16.0, -20.0, -24.0]
    );
    // Against the test's median of four values the distance stops growing once the colluder
    // passes the lowest honest value (z = 1): the smallest z of the plateau.
    let v = vector_of(&registry, &scenario("test_median", alie));
    assert!(
        v.iter()
            .zip([1.0, 2.0, 3.0])
            .all(|(a, b)| (a - b).abs() < 1e-9),
        "{v}"
    );
    // For IPM every eps >= 0 puts the colluder below the lowest honest value: all tie, eps = 0.
    let v = vector_of(&registry, &scenario("test_median", ipm));
    assert!(v.iter().all(|x| *x == 0.0), "{v}");
}

#[test]
fn threshold_aware_needs_a_bias_against_a_rule_without_windows() {
    let mut s = shipped("threshold_aware");
    s["aggregator"] = json!({"kind": "mean"});
    s["rounds"] = json!(5);
    // Refused when the scenario is checked (what `validate` runs), naming the field.
    let e = Registry::builtin()
        .parse(&s.to_string(), "t.json")
        .unwrap_err();
    assert_eq!(e.path, "attack.bias");
    assert!(e.message.contains("give `bias`"), "{e}");
    s["attack"]["bias"] = json!(0.2);
    let (summary, events) = run(&s);
    assert_eq!(summary.status, Status::Completed);
    // The mean moves by f/m * bias = 0.4 * 0.2 every round.
    assert!(events.iter().all(|e| (e.agg_error - 0.08).abs() < 1e-12));
}

#[test]
fn colluders_agree_whatever_the_thread_count() {
    let registry = Registry::builtin();
    for name in [
        "threshold_aware",
        "mimic",
        "alie_search",
        "saddle_trap",
        "safeguard_attack",
    ] {
        let mut s = shipped(name);
        s["rounds"] = json!(200);
        s["aggregator"]["threshold"]["rounds"] = json!(600);
        let (_, one) = run_with(&registry, &s, 1);
        let (_, three) = run_with(&registry, &s, 3);
        let key = |ev: &[RoundEvent]| -> Vec<(u64, u64, usize)> {
            ev.iter()
                .map(|e| (e.loss.to_bits(), e.agg_error.to_bits(), e.good))
                .collect()
        };
        assert_eq!(key(&one), key(&three), "{name}");
    }
}

#[test]
fn label_flip_on_digits_is_caught_by_the_safeguard_and_hurts_the_mean() {
    let accuracy = |s: &Summary| {
        s.final_
            .metrics
            .get("accuracy")
            .copied()
            .flatten()
            .unwrap_or(0.0)
    };
    let mut s = shipped("digits_label_flip");
    s["rounds"] = json!(300);
    s["eval_every"] = json!(300);
    let (safeguard, _) = run(&s);
    assert_eq!(safeguard.expelled.byzantine, 4);
    assert_eq!(safeguard.expelled.honest, 0);
    let mut m = shipped("digits_label_flip_mean");
    m["rounds"] = json!(300);
    m["eval_every"] = json!(300);
    let (mean, _) = run(&m);
    let (a_safeguard, a_mean) = (accuracy(&safeguard), accuracy(&mean));
    assert!(
        a_safeguard > 0.9 && a_mean < a_safeguard - 0.1,
        "safeguard {a_safeguard}, mean {a_mean}"
    );
    // Before `from_round` the machines are honest: the same run as attack `none` up to there.
    m["attack"] = json!({"kind": "label_flip", "from_round": 400});
    let (late, late_events) = run(&m);
    m["attack"] = json!({"kind": "none"});
    let (none, none_events) = run(&m);
    assert_eq!(accuracy(&late), accuracy(&none));
    assert_eq!(late_events.len(), none_events.len());
    // Label flipping needs labels: refused on the saddle, naming the attack's kind.
    let mut q = shipped("zero");
    q["attack"] = json!({"kind": "label_flip"});
    let e = Registry::builtin()
        .parse(&q.to_string(), "q.json")
        .unwrap_err();
    assert_eq!(e.path, "attack.kind");
    assert!(e.message.contains("needs a classification problem"), "{e}");
}

#[test]
fn agg_error_is_measured_on_evaluated_rounds_only_and_the_same_there() {
    // The coordinator takes the honest mean only on evaluated rounds (or every round for a rule
    // that reads it): the rows it reports equal those of a run evaluated every round, and the
    // rounds in between carry NaN, like the loss.
    for rule in [json!({"kind": "mean"}), json!({"kind": "oracle"})] {
        let mut s = shipped("sign_flip_honest_mean");
        s["rounds"] = json!(60);
        s["aggregator"] = rule.clone();
        s["eval_every"] = json!(1);
        let (_, every) = run(&s);
        s["eval_every"] = json!(7);
        let (_, sparse) = run(&s);
        assert_eq!(every.len(), sparse.len());
        for (a, b) in every.iter().zip(&sparse) {
            assert!(a.agg_error.is_finite(), "{rule}");
            if b.evaluated {
                assert_eq!(a.agg_error.to_bits(), b.agg_error.to_bits(), "{rule}");
            } else {
                assert!(b.agg_error.is_nan(), "{rule}: round {}", b.round);
            }
        }
        assert_eq!(sparse.iter().filter(|e| e.evaluated).count(), 60 / 7 + 1);
        // The mean is dragged by the sign flippers; the oracle is the honest mean itself.
        let worst = every.iter().map(|e| e.agg_error).fold(0.0, f64::max);
        assert_eq!(worst > 0.0, rule["kind"] == "mean", "{rule}: {worst}");
    }
}
