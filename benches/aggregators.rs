//! Benchmarks of every aggregation rule at `(m, d)` = (10, 1e6), (100, 1e5), (1000, 1e4), that
//! is `m * d = 1e7` numbers each, next to a bare pass over the same numbers (the `m` vectors
//! summed element-wise once, in row order: what any rule must at least read).
//!
//! Robust rules assume `f = m / 10`. Rules are called through the `Aggregator` trait on a
//! `RoundInput`, as the coordinator calls them; the pre-aggregators through `PreAggregator`, with
//! the copy of the input they consume made outside the timing.
//!
//! Run: `cargo bench --bench aggregators` (about 5 minutes on 2 cores). Figures are in the README.

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use safeguard_sim::aggregate::bulyan::{Coordinate, Selection};
use safeguard_sim::aggregate::geometric_median::GeometricMedianParams;
use safeguard_sim::aggregate::safeguard::NoReference;
use safeguard_sim::aggregate::{
    Aggregator, Bucketing, Bulyan, CenteredClipping, Filter, GeometricMedian, Krum, Mean, Median,
    MultiKrum, Neighbours, Nnm, PreAggregator, RoundInput, Safeguard, SafeguardConfig, Thresholds,
    TrimmedMean, Variant,
};
use safeguard_sim::linalg::Vector;
use safeguard_sim::rng::{normal, stream};
use safeguard_sim::scenario::Scenario;
use std::hint::black_box;
use std::time::Duration;

/// `m` gradient-like vectors of dimension `d`: a common direction plus independent noise.
fn gradients(m: usize, d: usize) -> Vec<Option<Vector>> {
    let mut rng = stream(1, 0);
    let common = Vector::from_shape_simple_fn(d, || normal(&mut rng));
    (0..m)
        .map(|_| Some(&common + &Vector::from_shape_simple_fn(d, || 0.5 * normal(&mut rng))))
        .collect()
}

/// The yardstick: one element-wise pass summing the `m` rows.
fn bare_pass(rows: &[Option<Vector>], out: &mut [f64]) {
    out.iter_mut().for_each(|x| *x = 0.0);
    for r in rows.iter().flatten() {
        if let Some(s) = r.as_slice() {
            for (o, x) in out.iter_mut().zip(s) {
                *o += x;
            }
        }
    }
}

/// Zeno (`b = f`, its defaults otherwise) on a `d`-dimensional quadratic, built from a scenario
/// as a run builds it: the quadratic offers the exact loss as validation, `O(d)` per evaluation,
/// so the figure is Zeno's own cost (one loss at the parameters, one per vector) plus the
/// mean of the kept vectors.
fn zeno(m: usize, d: usize, f: usize) -> Box<dyn Aggregator> {
    let json = serde_json::json!({
        "name": "bench", "seed": 1, "rounds": 1,
        "workers": {"honest": m - f, "byzantine": f},
        "problem": {"kind": "quadratic", "dim": d},
        "optimizer": {"lr": 0.01},
        "aggregator": {"kind": "zeno"},
        "attack": {"kind": "sign_flip"}
    });
    let scenario =
        Scenario::from_json_str(&json.to_string(), "zeno bench").expect("a valid scenario");
    let problem = scenario.build_problem().expect("the quadratic builds");
    scenario
        .build_aggregator(&scenario.build_context(problem))
        .expect("zeno builds")
}

fn rules(c: &mut Criterion) {
    for &(m, d) in &[(10usize, 1_000_000usize), (100, 100_000), (1000, 10_000)] {
        let grads = gradients(m, d);
        let workers: Vec<usize> = (0..m).collect();
        let params = Vector::zeros(d);
        let input = RoundInput {
            round: 1,
            params: &params,
            machines: m,
            workers: &workers,
            gradients: &grads,
            honest_mean: &params,
        };
        let f = m / 10;
        let mut group = c.benchmark_group(format!("aggregators/m={m},d={d}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        let mut out = vec![0.0; d];
        group.bench_function("bare_pass", |b| {
            b.iter(|| bare_pass(black_box(&grads), black_box(&mut out)))
        });
        let mut bench = |name: &str, mut rule: Box<dyn Aggregator>| {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| black_box(rule.aggregate(black_box(&input))))
            });
        };
        bench("mean", Box::new(Mean));
        bench("median", Box::new(Median));
        bench("trimmed_mean", Box::new(TrimmedMean { f }));
        bench(
            "krum",
            Box::new(Krum {
                f,
                neighbours: Neighbours::Published,
            }),
        );
        bench(
            "multi_krum",
            Box::new(MultiKrum {
                f,
                neighbours: Neighbours::Published,
                selected: None,
            }),
        );
        bench(
            "geometric_median",
            Box::new(GeometricMedian {
                params: GeometricMedianParams::default(),
            }),
        );
        bench(
            "bulyan",
            Box::new(Bulyan {
                f,
                neighbours: Neighbours::Published,
                selection: Selection::IteratedKrum,
                coordinate: Coordinate::ClosestToMedian,
            }),
        );
        // The double safeguard in its steady state (huge thresholds: the last round's
        // reference qualifies at once; no filter), the windows of the paper's quickstart.
        bench(
            "safeguard",
            Box::new(Safeguard::new(
                SafeguardConfig {
                    variant: Variant::Double,
                    window_long: 600,
                    window_short: 100,
                    thresholds: Thresholds::Fixed {
                        long: 1e12,
                        short: 1e12,
                    },
                    on_no_reference: NoReference::KeepAll,
                    filter: Filter::Off,
                    guard: true,
                },
                m,
                d,
            )),
        );
        bench(
            "centered_clipping",
            Box::new(CenteredClipping::new(1.0, 1, d)),
        );
        bench("zeno", zeno(m, d, f));
        let vectors: Vec<Vector> = grads.iter().flatten().cloned().collect();
        let mut pre = |name: &str, mut step: Box<dyn PreAggregator>| {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_batched(
                    || vectors.clone(),
                    |v| black_box(step.apply(v)),
                    BatchSize::LargeInput,
                )
            });
        };
        pre("nnm", Box::new(Nnm { f }));
        pre("bucketing", Box::new(Bucketing::new(2, stream(1, 2))));
        group.finish();
    }
}

criterion_group!(benches, rules);
criterion_main!(benches);
