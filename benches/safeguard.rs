//! Benchmarks: the cost of one safeguard round (expected O(m d): the last round's reference is
//! tried first) against the mean and against the worst case (no reference qualifies, every
//! candidate is tried: O(m^2 d)), and whole runs of the quickstart through the actors.
//!
//! The per-round filter adds its own cost: with a radius (`2V`) most vectors are decided from
//! their distance to one centre, `O(m d)`; when honest vectors sit right at the noise bound
//! (noise on the sphere of radius `V`, the tightest case) more of them need exact pairwise
//! counts; the estimated radius (problems without a bound) always costs `O(m^2 d)`.
//!
//! `safeguard_bare_pass` is the yardstick of the steady-state round: one fused pass over the
//! bytes the update must touch (gradients read once, both windows read and written once, the
//! mean summed); the target is the `safeguard` round within 2x of it.
//!
//! Run: `cargo bench --bench safeguard`. Figures are in the README.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use safeguard_sim::aggregate::safeguard::NoReference;
use safeguard_sim::aggregate::{
    Aggregator, Filter, Mean, RoundInput, Safeguard, SafeguardConfig, Thresholds, Variant,
};
use safeguard_sim::linalg::Vector;
use safeguard_sim::rng::{normal, stream};
use std::hint::black_box;
use std::time::Duration;

/// `m` gradients of dimension `d`: noise around a common direction.
fn gradients(m: usize, d: usize) -> Vec<Option<Vector>> {
    let mut rng = stream(1, 0);
    let common = Vector::from_shape_simple_fn(d, || normal(&mut rng));
    (0..m)
        .map(|_| Some(&common + &Vector::from_shape_simple_fn(d, || 0.1 * normal(&mut rng))))
        .collect()
}

/// `m` gradients of dimension `d` at distance exactly 1 from a common direction (noise on the
/// unit sphere: every honest vector sits at the bound V = 1).
fn gradients_at_the_bound(m: usize, d: usize) -> Vec<Option<Vector>> {
    let mut rng = stream(2, 0);
    let common = Vector::from_shape_simple_fn(d, || normal(&mut rng));
    (0..m)
        .map(|_| {
            let n = Vector::from_shape_simple_fn(d, || normal(&mut rng));
            let len = safeguard_sim::linalg::norm(&n);
            Some(&common + &(n / len))
        })
        .collect()
}

fn config(threshold: f64) -> SafeguardConfig {
    SafeguardConfig {
        variant: Variant::Double,
        window_long: 600,
        window_short: 100,
        thresholds: Thresholds::Fixed {
            long: threshold,
            short: threshold,
        },
        on_no_reference: NoReference::MostNeighbours,
        filter: Filter::Off,
        guard: true,
    }
}

fn round_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate_round");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    for &(m, d) in &[
        (10usize, 1_000usize),
        (40, 1_000),
        (160, 1_000),
        (10, 100_000),
    ] {
        let grads = gradients(m, d);
        let workers: Vec<usize> = (0..m).collect();
        let params = Vector::zeros(d);
        let hm = Vector::zeros(d);
        let input = RoundInput {
            round: 1,
            params: &params,
            machines: m,
            workers: &workers,
            gradients: &grads,
            honest_mean: &hm,
        };
        let label = format!("m={m},d={d}");
        // The yardstick of the safeguard's update: one pass over the bytes it must touch (the
        // round's gradients read once, both windows read and written once, the mean summed).
        group.bench_function(BenchmarkId::new("safeguard_bare_pass", &label), |b| {
            let mut long = vec![Vector::zeros(d); m];
            let mut short = vec![Vector::zeros(d); m];
            let mut sum = Vector::zeros(d);
            b.iter(|| {
                sum.fill(0.0);
                for ((g, l), s) in grads.iter().flatten().zip(&mut long).zip(&mut short) {
                    let scale = 1.0 / m as f64;
                    for (((g, l), s), o) in g
                        .iter()
                        .zip(l.iter_mut())
                        .zip(s.iter_mut())
                        .zip(sum.iter_mut())
                    {
                        *l += scale * g;
                        *s += scale * g;
                        *o += g;
                    }
                }
                black_box(&sum);
            })
        });
        group.bench_function(BenchmarkId::new("mean", &label), |b| {
            let mut agg = Mean;
            b.iter(|| black_box(agg.aggregate(black_box(&input))))
        });
        // Huge thresholds: the first candidate qualifies every round (steady state).
        group.bench_function(BenchmarkId::new("safeguard", &label), |b| {
            let mut agg = Safeguard::new(config(1e12), m, d);
            b.iter(|| black_box(agg.aggregate(black_box(&input))))
        });
        // The filter with a radius comfortably above the honest spread (noise of norm about
        // 0.1 sqrt(d), radius 2V with V = 0.15 sqrt(d)).
        let v = 0.15 * (d as f64).sqrt();
        group.bench_function(BenchmarkId::new("safeguard_filter", &label), |b| {
            let mut cfg = config(1e12);
            cfg.filter = Filter::Radius(2.0 * v);
            let mut agg = Safeguard::new(cfg, m, d);
            b.iter(|| black_box(agg.aggregate(black_box(&input))))
        });
        // The filter when every honest vector sits at the bound (radius exactly 2V).
        let tight = gradients_at_the_bound(m, d);
        let tight_input = RoundInput {
            gradients: &tight,
            ..input
        };
        group.bench_function(BenchmarkId::new("safeguard_filter_at_bound", &label), |b| {
            let mut cfg = config(1e12);
            cfg.filter = Filter::Radius(2.0);
            let mut agg = Safeguard::new(cfg, m, d);
            b.iter(|| black_box(agg.aggregate(black_box(&tight_input))))
        });
        if m <= 40 {
            group.bench_function(
                BenchmarkId::new("safeguard_filter_estimated", &label),
                |b| {
                    let mut cfg = config(1e12);
                    cfg.filter = Filter::Estimated;
                    let mut agg = Safeguard::new(cfg, m, d);
                    b.iter(|| black_box(agg.aggregate(black_box(&input))))
                },
            );
        }
        // Zero thresholds: nobody qualifies, every candidate is scanned (the O(m^2 d) worst case;
        // KeepAll so that nobody is expelled and the cost stays the same every round).
        if m <= 40 {
            group.bench_function(BenchmarkId::new("safeguard_no_reference", &label), |b| {
                let mut cfg = config(0.0);
                cfg.on_no_reference = NoReference::KeepAll;
                let mut agg = Safeguard::new(cfg, m, d);
                b.iter(|| black_box(agg.aggregate(black_box(&input))))
            });
        }
    }
    group.finish();
}

fn whole_run(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/quickstart.json"
    ))
    .expect("scenarios/quickstart.json");
    let scenario =
        safeguard_sim::scenario::Scenario::from_json_str(&text, "quickstart.json").expect("valid");
    let mut group = c.benchmark_group("run");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for threads in [1usize, 2] {
        group.bench_function(
            BenchmarkId::new("quickstart_3000_rounds", format!("threads={threads}")),
            |b| {
                let options = safeguard_sim::sim::RunOptions {
                    threads,
                    ..Default::default()
                };
                b.iter(|| {
                    safeguard_sim::sim::run_blocking(&scenario, &options, &mut [])
                        .map(|r| r.summary.rounds)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, round_cost, whole_run);
criterion_main!(benches);
