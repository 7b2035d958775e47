//! Benchmarks of the whole system: the memory bandwidth the kernels are held against, the actor
//! system's cost per message, and end-to-end rounds per second of the shipped scenarios.
//!
//! - `memory`: a streaming sum (read 80 MB) and a streaming copy (read 80 MB, write 80 MB) of
//!   `1e7` numbers: bytes moved / time is this machine's memory bandwidth, the ceiling every
//!   kernel's "bare pass" is held against.
//! - `actor_round`: one round of the actor system with a trivial problem (quadratic, `d = 1`,
//!   mean, no Byzantine machine) at `m` = 10, 100, 1000 machines, on one thread: time per round
//!   / `m` is the overhead per machine (one request, one reply, one 1-number gradient).
//! - `end_to_end`: whole runs through `run_blocking` (no output files): the quickstart (3000
//!   rounds), digits_mlp (500 rounds, evaluated at the start and the end only), scale_1000 and
//!   its `mean` twin (10 of their 300 rounds: a full run takes 50 to 100 s), each with `--threads 1`,
//!   `--threads 2` (placement `auto`) and `--threads 2 --placement spread`. Rounds per second
//!   = rounds / time per run.
//!
//! Run: `cargo bench --bench system` (about 6 minutes on 2 cores). Figures are in the README.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use safeguard_sim::placement::PlacementPolicy;
use safeguard_sim::scenario::Scenario;
use safeguard_sim::sim::{RunOptions, Simulation, run_blocking};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Streaming sum and copy of `1e7` numbers (80 MB: far beyond any cache).
fn memory(c: &mut Criterion) {
    const N: usize = 10_000_000;
    let src: Vec<f64> = (0..N).map(|i| i as f64).collect();
    let mut dst = vec![0.0f64; N];
    let mut group = c.benchmark_group("memory");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Bytes((N * 8) as u64));
    group.bench_function("sum_80MB", |b| {
        b.iter(|| {
            // Four accumulators: the sum is bound by memory, not by the adder's latency.
            let mut acc = [0.0f64; 4];
            for chunk in black_box(&src).chunks_exact(4) {
                for (a, x) in acc.iter_mut().zip(chunk) {
                    *a += x;
                }
            }
            black_box(acc.iter().sum::<f64>())
        })
    });
    group.throughput(Throughput::Bytes((2 * N * 8) as u64));
    group.bench_function("copy_80MB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    group.finish();
}

/// A scenario of `m` honest machines on a 1-dimensional quadratic, run for ever (the rounds are
/// the benchmark's), never evaluated.
fn trivial(m: usize) -> Scenario {
    let text = format!(
        r#"{{"name":"trivial","seed":1,"rounds":100000000,"eval_every":100000000,
        "workers":{{"honest":{m},"byzantine":0}},
        "problem":{{"kind":"quadratic","dim":1}},"optimizer":{{"lr":0.01}},
        "aggregator":{{"kind":"mean"}}}}"#
    );
    Scenario::from_json_str(&text, "trivial.json").expect("a valid scenario")
}

/// One round of the actor system at `m` machines, on one thread.
fn actor_round(c: &mut Criterion) {
    let mut group = c.benchmark_group("actor_round");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for m in [10usize, 100, 1000] {
        let scenario = trivial(m);
        // Elements = machines: criterion prints the cost per machine and round.
        group.throughput(Throughput::Elements(m as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("m={m}")), |b| {
            let mut sim = Simulation::start(&scenario, &RunOptions::default()).expect("start");
            b.iter_custom(|rounds| {
                let t = Instant::now();
                let done = sim.run(rounds, |e| Ok(black_box(e).round > 0));
                assert!(done.is_ok_and(|d| d == rounds));
                t.elapsed()
            })
        });
    }
    group.finish();
}

/// A shipped scenario, with `rounds` and `eval_every` replaced when given.
fn shipped(name: &str, rounds: Option<u64>) -> Scenario {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("a shipped scenario");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    if let Some(r) = rounds {
        json["rounds"] = serde_json::json!(r);
        json["eval_every"] = serde_json::json!(r);
    }
    Scenario::from_json_str(&json.to_string(), &path).expect("a valid scenario")
}

/// Whole runs of the shipped scenarios at 1 and 2 threads.
fn end_to_end(c: &mut Criterion) {
    let cases = [
        ("quickstart", None),
        ("digits_mlp", Some(500)),
        // 10 of their 300 rounds (a full run takes 50 to 100 s; criterion takes 10 samples).
        ("scale_1000", Some(10)),
        ("scale_1000_mean", Some(10)),
    ];
    let settings = [
        ("threads=1", 1, PlacementPolicy::Auto),
        ("threads=2", 2, PlacementPolicy::Auto),
        ("threads=2,spread", 2, PlacementPolicy::Spread),
    ];
    for (name, rounds) in cases {
        let scenario = shipped(name, rounds);
        let mut group = c.benchmark_group(format!("end_to_end/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(5));
        // Elements = rounds: criterion prints rounds per second.
        group.throughput(Throughput::Elements(scenario.spec().rounds));
        for (label, threads, placement) in settings {
            let options = RunOptions {
                threads,
                placement,
                ..RunOptions::default()
            };
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter(|| {
                    let r = run_blocking(&scenario, &options, &mut []).expect("a run");
                    black_box(r.summary.rounds)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, memory, actor_round, end_to_end);
criterion_main!(benches);
