//! Unit tests of the safeguard: each semantic of Algorithm 1 and each addition (filter, guard,
//! adaptive thresholds) against hand-made rounds.

use super::*;
use ndarray::array;

fn config(variant: Variant, t1: u64, t0: u64, long: f64, short: f64) -> SafeguardConfig {
    SafeguardConfig {
        variant,
        window_long: t1,
        window_short: t0,
        thresholds: Thresholds::Fixed { long, short },
        on_no_reference: NoReference::MostNeighbours,
        // Algorithm 1 as printed; the filter and the guard have their own tests.
        filter: Filter::Off,
        guard: false,
    }
}

/// Run one round with the given gradients (None = no valid reply) for the good machines.
fn round(sg: &mut Safeguard, grads: &[(usize, Option<Vector>)]) -> Aggregate {
    let workers: Vec<usize> = grads.iter().map(|(w, _)| *w).collect();
    let gradients: Vec<Option<Vector>> = grads.iter().map(|(_, g)| g.clone()).collect();
    let dim = grads
        .iter()
        .find_map(|(_, g)| g.as_ref().map(|g| g.len()))
        .unwrap_or(1);
    let params = Vector::zeros(dim);
    let hm = Vector::zeros(dim);
    let input = RoundInput {
        round: sg.t + 1,
        params: &params,
        machines: sg.machines,
        workers: &workers,
        gradients: &gradients,
        honest_mean: &hm,
    };
    sg.aggregate(&input)
}

fn step(sg: &mut Safeguard, f: impl Fn(usize) -> Vector) -> Aggregate {
    let g = all(sg, f);
    round(sg, &g)
}

fn all(sg: &Safeguard, f: impl Fn(usize) -> Vector) -> Vec<(usize, Option<Vector>)> {
    sg.good_set().into_iter().map(|w| (w, Some(f(w)))).collect()
}

#[test]
fn windows_tumble_and_reset() {
    // Single window of length 3; machine 0 sends 1, the others 0. |good| = 4 throughout
    // (thresholds huge, nobody expelled).
    let mut sg = Safeguard::new(config(Variant::Single, 0, 3, 0.0, 1e9), 4, 1);
    let mut seen = Vec::new();
    for _ in 0..7 {
        step(&mut sg, |w| array![if w == 0 { 1.0 } else { 0.0 }]);
        seen.push(sg.short.sums[0][0]);
    }
    // 1/4, 2/4, 3/4, then reset at t = 3 and 6: not a sliding window (which would stay at 3/4).
    assert_eq!(seen, vec![0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.25]);
}

#[test]
fn normalisation_by_good_size_at_arrival() {
    // 5 machines; machine 4 is far away and expelled after round 1. Machine 0 sends 1 every
    // round: its sum is 1/5 (arrived while |good| = 5) + 1/4 (arrived while |good| = 4).
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 5, 1);
    let r1 = step(&mut sg, |w| array![if w == 4 { 100.0 } else { 1.0 }]);
    assert_eq!(
        r1.expel.iter().map(|e| e.worker).collect::<Vec<_>>(),
        vec![4]
    );
    step(&mut sg, |_| array![1.0]);
    assert_eq!(sg.short.sums[0][0], 1.0 / 5.0 + 1.0 / 4.0);
}

#[test]
fn reference_needs_more_than_half_of_m_counted_against_m() {
    // m = 6 machines, of which 2 were expelled earlier; the 4 left form two pairs: no machine
    // has more than half of anything within the threshold, so no reference qualifies. (That
    // the count is against m, not |good_t|, is pinned by
    // `majority_is_counted_against_m_not_good_t`.)
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.6), 6, 1);
    sg.good[4] = false;
    sg.good[5] = false;
    let out = step(&mut sg, |w| array![if w < 2 { 0.0 } else { 4.0 }]);
    assert!(out.no_reference);
    // With 4 of 6 together, a reference qualifies (4 > 3), and the count includes itself:
    // 3 others + itself.
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
    let out = step(&mut sg, |w| {
        array![if w < 4 { 0.0 } else { 50.0 + w as f64 }]
    });
    assert!(!out.no_reference);
    let expelled: Vec<usize> = out.expel.iter().map(|e| e.worker).collect();
    assert_eq!(expelled, vec![4, 5]);
    // Exactly m/2 = 3 together is not enough.
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
    let out = step(&mut sg, |w| {
        array![if w < 3 { 0.0 } else { 10.0 * w as f64 }]
    });
    assert!(out.no_reference);
}

#[test]
fn expulsion_at_twice_the_threshold() {
    // Threshold 1 (per window sum, |good| = 5 so sums are values / 5). Machine 3 sits at
    // exactly 2 * Th from the others (kept), machine 4 just beyond (expelled).
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 1.0), 5, 1);
    let out = step(&mut sg, |w| match w {
        3 => array![10.0],        // 10 / 5 = 2.0 = 2 * Th: kept
        4 => array![10.0 + 1e-9], // just above 2 * Th: expelled
        _ => array![0.0],
    });
    assert_eq!(
        out.expel,
        vec![Expulsion {
            worker: 4,
            reason: "window_short".into()
        }]
    );
    // Machine 3 is within 2 * Th but not within Th of the reference: kept.
    assert!(sg.good[3]);
}

#[test]
fn expulsion_is_permanent() {
    let mut sg = Safeguard::new(config(Variant::Single, 0, 2, 0.0, 1.0), 5, 1);
    step(&mut sg, |w| array![if w == 4 { 100.0 } else { 0.0 }]);
    assert_eq!(sg.good_set(), vec![0, 1, 2, 3]);
    // Even if machine 4 were offered again with a perfect vector after the window reset, it is
    // no longer in the good set: the aggregator ignores it and never re-admits it.
    for _ in 0..5 {
        let mut grads = all(&sg, |_| array![0.0]);
        grads.push((4, Some(array![100.0])));
        let out = round(&mut sg, &grads);
        assert!(out.expel.is_empty());
        assert_eq!(out.direction, array![0.0]);
    }
    assert_eq!(sg.good_set(), vec![0, 1, 2, 3]);
}

#[test]
fn step_averages_over_good_set_before_filtering() {
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 5, 1);
    let out = step(&mut sg, |w| array![if w == 4 { 95.0 } else { 1.0 }]);
    assert_eq!(out.expel.len(), 1);
    // (4 * 1 + 95) / 5, the expelled machine still counts this round.
    assert_eq!(out.direction, array![(4.0 + 95.0) / 5.0]);
    let out = step(&mut sg, |_| array![1.0]);
    assert_eq!(out.direction, array![1.0]);
}

#[test]
fn double_checks_both_windows() {
    // Long window 100 with a tight threshold; short window 1 with a loose one. A machine with a
    // small constant bias stays inside the short window but drifts out of the long one.
    let mut sg = Safeguard::new(config(Variant::Double, 100, 1, 0.5, 100.0), 5, 1);
    let mut expelled_at = None;
    for t in 0..100 {
        let out = step(&mut sg, |w| array![if w == 4 { 1.0 } else { 0.0 }]);
        if let Some(e) = out.expel.first() {
            assert_eq!(e.reason, "window_long");
            expelled_at = Some(t);
            break;
        }
    }
    // A_4 = k / 5 after k rounds: beyond 2 * 0.5 = 1.0 once k = 6 (t = 5).
    assert_eq!(expelled_at, Some(5));
}

#[test]
fn silent_machine_is_expelled_and_not_averaged() {
    let mut sg = Safeguard::new(config(Variant::Single, 0, 10, 0.0, 1.0), 4, 1);
    let mut grads = all(&sg, |_| array![2.0]);
    grads[1].1 = None;
    let out = round(&mut sg, &grads);
    assert_eq!(
        out.expel,
        vec![Expulsion {
            worker: 1,
            reason: "no_valid_gradient".into()
        }]
    );
    assert_eq!(out.direction, array![2.0]);
}

#[test]
fn last_reference_is_tried_first_and_any_qualifier_will_do() {
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 10.0), 5, 1);
    step(&mut sg, |w| array![w as f64]);
    let first = sg.short.last_reference;
    assert_eq!(first, Some(0));
    step(&mut sg, |w| array![w as f64]);
    assert_eq!(sg.short.last_reference, first);
}

#[test]
fn keep_all_policy_expels_nobody_without_reference() {
    let mut cfg = config(Variant::Single, 0, 100, 0.0, 0.1);
    cfg.on_no_reference = NoReference::KeepAll;
    let mut sg = Safeguard::new(cfg, 4, 1);
    let out = step(&mut sg, |w| array![10.0 * w as f64]);
    assert!(out.no_reference);
    assert!(out.expel.is_empty());
    let mut cfg = config(Variant::Single, 0, 100, 0.0, 0.1);
    cfg.on_no_reference = NoReference::MostNeighbours;
    let mut sg = Safeguard::new(cfg, 4, 1);
    let out = step(&mut sg, |w| array![10.0 * w as f64]);
    assert!(out.no_reference);
    // Reference = machine 0 (ties -> lowest id); everyone else is beyond 2 * 0.1.
    assert_eq!(out.expel.len(), 3);
}

#[test]
fn per_good_thresholds_scale_with_good_set() {
    let th = Thresholds::PerGood {
        long: 10.0,
        short: 4.0,
    };
    assert_eq!(th.at(5), (2.0, 0.8));
    assert_eq!(th.at(10), (1.0, 0.4));
}

#[test]
fn calibration_measures_central_and_pairwise_spread() {
    use crate::problem::{Noise, Saddle};
    use calibrate::{PreRun, Statistic};
    let p = Saddle::new(5, 1, 0.1, Noise::Bounded { radius: 1.0 });
    let cal = calibrate(
        &p,
        &PreRun {
            honest: 6,
            lr: 0.05,
            perturbation: 0.0,
            variant: Variant::Double,
            window_long: 40,
            window_short: 10,
            rounds: 80,
            seed: 3,
        },
    );
    assert!(cal.max_long > cal.max_short && cal.max_short > 0.0);
    // The largest distance between two machines is at least the radius around the most central
    // one and at most twice it (triangle inequality).
    for (pair, central) in [
        (cal.max_pairwise_long, cal.max_long),
        (cal.max_pairwise_short, cal.max_short),
    ] {
        assert!(
            pair >= central && pair <= 2.0 * central,
            "{pair} vs {central}"
        );
    }
    // Two gradients of a round differ by two noise vectors of norm <= V = 1.
    assert!(cal.max_pairwise_gradient > 1.0 && cal.max_pairwise_gradient <= 2.0);
    assert_eq!(
        cal.thresholds(Statistic::Central, 1.0),
        Thresholds::PerGood {
            long: cal.max_long * 6.0,
            short: cal.max_short * 6.0
        }
    );
    assert_eq!(
        cal.thresholds(Statistic::Pairwise, 2.0),
        Thresholds::PerGood {
            long: 2.0 * cal.max_pairwise_long * 6.0,
            short: 2.0 * cal.max_pairwise_short * 6.0
        }
    );
}

#[test]
fn majority_is_counted_against_m_not_good_t() {
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
    sg.good[4] = false;
    sg.good[5] = false;
    // 3 of the 4 good machines agree: 3 > 4/2 but not 3 > 6/2.
    let out = step(&mut sg, |w| array![if w < 3 { 0.0 } else { 10.0 }]);
    assert!(out.no_reference);
}

#[test]
fn long_window_tumbles() {
    let mut sg = Safeguard::new(config(Variant::Double, 4, 2, 1e9, 1e9), 4, 1);
    let mut seen = Vec::new();
    for _ in 0..6 {
        step(&mut sg, |w| array![if w == 0 { 1.0 } else { 0.0 }]);
        seen.push(sg.long.as_ref().unwrap().sums[0][0]);
    }
    assert_eq!(seen, vec![0.25, 0.5, 0.75, 1.0, 0.25, 0.5]);
}

#[test]
fn divisor_is_good_size_not_valid_count() {
    // 4 good machines, machine 3 silent this round: machine 0's sum gets 1/4, not 1/3.
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 10.0), 4, 1);
    let mut grads = all(&sg, |_| array![1.0]);
    grads[3].1 = None;
    round(&mut sg, &grads);
    assert_eq!(sg.short.sums[0][0], 0.25);
}

fn with(mut cfg: SafeguardConfig, filter: Filter, guard: bool) -> SafeguardConfig {
    cfg.filter = filter;
    cfg.guard = guard;
    cfg
}

#[test]
fn filter_drops_a_far_vector_from_the_step_but_not_from_the_windows() {
    let cfg = with(
        config(Variant::Single, 0, 100, 0.0, 1e9),
        Filter::Radius(2.0),
        false,
    );
    let mut sg = Safeguard::new(cfg, 5, 1);
    let out = step(&mut sg, |w| {
        array![if w == 4 { 100.0 } else { w as f64 * 0.5 }]
    });
    // Machines 0..3 lie within 2 of each other: 4 of 5, more than half. Machine 4 has itself only.
    assert_eq!(
        out.dropped,
        vec![Dropped {
            worker: 4,
            neighbours: 1,
            radius: 2.0
        }]
    );
    assert_eq!(out.direction, array![(0.0 + 0.5 + 1.0 + 1.5) / 4.0]);
    // The window still holds the dropped vector (divided by |good| = 5), and nobody is expelled.
    assert_eq!(sg.short.sums[4][0], 100.0 / 5.0);
    assert!(out.expel.is_empty());
    // Without the filter, the same round averages all five (Algorithm 1 as printed).
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 1e9), 5, 1);
    let out = step(&mut sg, |w| {
        array![if w == 4 { 100.0 } else { w as f64 * 0.5 }]
    });
    assert_eq!(out.direction, array![(3.0 + 100.0) / 5.0]);
    assert!(out.dropped.is_empty());
}

#[test]
fn filtered_step_equals_the_honest_mean_when_only_attackers_are_far() {
    // The Gaussian attack of scenarios/huge_gaussian.json in one round: 6 honest vectors within
    // V = 1 of the true gradient, 4 vectors of norm about 1e4.
    let mut rng = crate::rng::stream(5, 0);
    let honest: Vec<Vector> = (0..6)
        .map(|_| crate::problem::Noise::Bounded { radius: 1.0 }.sample(10, &mut rng))
        .collect();
    let attack: Vec<Vector> = (0..4)
        .map(|_| Vector::from_shape_simple_fn(10, || 1e4 * crate::rng::normal(&mut rng)))
        .collect();
    let cfg = with(
        config(Variant::Single, 0, 100, 0.0, 1e9),
        Filter::Radius(2.0),
        true,
    );
    let mut sg = Safeguard::new(cfg, 10, 10);
    let out = step(&mut sg, |w| {
        if w < 6 {
            honest[w].clone()
        } else {
            attack[w - 6].clone()
        }
    });
    assert_eq!(out.direction, mean(honest.iter(), 10));
    let dropped: Vec<usize> = out.dropped.iter().map(|d| d.worker).collect();
    assert_eq!(dropped, vec![6, 7, 8, 9]);
}

#[test]
fn guard_never_leaves_half_or_fewer_and_expels_the_most_deviant_first() {
    // m = 7: the guard keeps at least 4 good. Threshold 0.5 (per sum; sums are values / 7):
    // machines 0..2 agree, 3..6 lie farther and farther. Reference: machine 0 or 1 or 2 has only
    // 3 of 7 within the threshold: no reference qualifies, so most_neighbours takes machine 0.
    let cfg = with(config(Variant::Single, 0, 100, 0.0, 0.5), Filter::Off, true);
    let mut sg = Safeguard::new(cfg, 7, 1);
    let value = |w: usize| array![if w < 3 { 0.0 } else { 7.0 * w as f64 }];
    let out = step(&mut sg, value);
    assert!(out.no_reference);
    // Four machines beyond 2 * 0.5; the guard allows 7 - 4 = 3 expulsions: the farthest three.
    let expelled: Vec<usize> = out.expel.iter().map(|e| e.worker).collect();
    assert_eq!(expelled, vec![4, 5, 6]);
    let withheld: Vec<usize> = out.withheld.iter().map(|e| e.worker).collect();
    assert_eq!(withheld, vec![3]);
    assert_eq!(out.withheld[0].reason, "window_short");
    assert_eq!(sg.good_set(), vec![0, 1, 2, 3]);
    // Round after round the guard holds; machine 3 stays good.
    for _ in 0..5 {
        let out = step(&mut sg, value);
        assert!(out.expel.is_empty());
        assert_eq!(out.withheld.len(), 1);
    }
    assert_eq!(sg.good_set().len(), 4);
    // Without the guard the same round expels all four, leaving 3 of 7.
    let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 7, 1);
    let out = step(&mut sg, value);
    assert_eq!(out.expel.len(), 4);
    assert_eq!(sg.good_set().len(), 3);
}

#[test]
fn guard_counts_machines_without_a_valid_gradient_first() {
    // m = 5, at least 3 must stay good. Machine 1 is silent (expelled whatever the guard), so of
    // the two far machines only one may go.
    let cfg = with(config(Variant::Single, 0, 100, 0.0, 0.5), Filter::Off, true);
    let mut sg = Safeguard::new(cfg, 5, 1);
    let mut grads = all(&sg, |w| array![if w < 3 { 0.0 } else { 5.0 * w as f64 }]);
    grads[1].1 = None;
    let out = round(&mut sg, &grads);
    let expelled: Vec<(usize, &str)> = out
        .expel
        .iter()
        .map(|e| (e.worker, e.reason.as_str()))
        .collect();
    assert_eq!(
        expelled,
        vec![(1, "no_valid_gradient"), (4, "window_short")]
    );
    assert_eq!(out.withheld.len(), 1);
    assert_eq!(sg.good_set(), vec![0, 2, 3]);
}

#[test]
fn adaptive_thresholds_wait_for_the_first_window_then_measure_it() {
    let mut cfg = config(Variant::Single, 0, 3, 0.0, 1.0);
    cfg.thresholds = Thresholds::Adaptive { factor: 2.0 };
    let mut sg = Safeguard::new(cfg, 5, 1);
    assert_eq!(sg.current_thresholds(5).1, f64::INFINITY);
    for _ in 0..3 {
        // The adversary sees no threshold yet; the round has no check, no distances, no
        // expulsion, and is not a no-reference round.
        assert_eq!(sg.public_state().windows[0].threshold, f64::INFINITY);
        let out = step(&mut sg, |w| array![w as f64]);
        assert!(out.distances.is_empty() && out.expel.is_empty() && !out.no_reference);
    }
    // Sums after the window: 3w/5 = 0, 0.6, 1.2, 1.8, 2.4. The smallest threshold at which a
    // machine has 3 of 5 within it: 0.6 (around machine 1, 2 or 3). Times the factor 2.
    let th = sg.current_thresholds(5).1;
    assert!((th - 1.2).abs() < 1e-12, "{th}");
    // It scales with the good set like the other per-|good| modes.
    assert!((sg.current_thresholds(4).1 - 1.5).abs() < 1e-12);
    let out = step(&mut sg, |w| array![w as f64]);
    assert!(!out.distances.is_empty());
    assert!(!out.no_reference);
}

#[test]
fn majority_radius_is_the_smallest_threshold_that_makes_a_reference() {
    let mut w = Window::new("short", 10, 6, 1);
    for (i, v) in [0.0, 1.0, 1.5, 7.0, 20.0, 21.0].iter().enumerate() {
        w.sums[i][0] = *v;
    }
    let all: Vec<usize> = (0..6).collect();
    // need = 4: around machine 1 (1.0): 0, 0.5, 1.0, 6.0 -> 6.0; around 2: 0, 0.5, 1.5, 5.5 -> 5.5.
    let q = w.majority_radius(&all, 6).unwrap();
    assert_eq!(q, 5.5);
    // At that threshold machine 2 qualifies; just below it no machine does.
    let mut check = w.clone();
    assert!(check.check(&all, 6, q, NoReference::KeepAll).qualified);
    assert!(
        !check
            .check(&all, 6, q * 0.999, NoReference::KeepAll)
            .qualified
    );
    // Fewer candidates than a majority of m: nothing to measure.
    assert_eq!(w.majority_radius(&all[..3], 6), None);
}
