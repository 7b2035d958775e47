//! Benchmarks of the learning tasks: one lock-step round of the digits MLP (64-64-10, 10
//! machines, batch 32: ten minibatch gradients, their mean and the step, on one thread), and the
//! evaluation calls (loss, full gradient, test metrics, smallest Hessian eigenvalue).
//!
//! Run: `cargo bench --bench learning`. Rounds per second = 1 / (time per round).
//!
//! The groups ending in `_cpu` measure the same calls in *thread CPU time*
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall time: on a machine shared with other jobs (CI,
//! other builds) the wall time counts the time the thread waited for a core, the CPU time does
//! not. On an idle machine the two agree.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use safeguard_sim::linalg::Vector;
use safeguard_sim::problem::Problem;
use safeguard_sim::problem::classifier::{Classifier, TrainingOptions};
use safeguard_sim::problem::data::{DataSource, load};
use safeguard_sim::problem::hessian::min_eigenvalue;
use safeguard_sim::problem::mlp::Mlp;
use safeguard_sim::problem::model::Activation;
use safeguard_sim::problem::shard::{Sharding, shard};
use safeguard_sim::rng::{SimRng, stream, streams};
use std::hint::black_box;
use std::time::Duration;

const MACHINES: usize = 10;

fn digits_mlp(activation: Activation) -> Classifier<Mlp> {
    let mut rng = stream(1, streams::DATA);
    let data = load(&DataSource::Digits, 0.2, &mut rng).expect("digits");
    let labels = data.train().labels().to_vec();
    let shards = shard(&labels, 10, MACHINES, Sharding::Iid, &mut rng).expect("shards");
    let model = Mlp::new(64, &[64], 10, activation).expect("mlp");
    Classifier::new(model, data, shards, TrainingOptions::default()).expect("task")
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime(WallTime);

fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter() // nanoseconds, shown like wall time
    }
}

fn round_cpu(c: &mut Criterion<ThreadCpuTime>) {
    round_in(c, "digits_mlp_round_cpu");
}

fn round(c: &mut Criterion) {
    round_in(c, "digits_mlp_round");
}

/// One lock-step round: every machine's minibatch gradient, their mean, the step.
fn round_in<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    for (name, activation) in [("tanh", Activation::Tanh), ("relu", Activation::Relu)] {
        let p = digits_mlp(activation);
        let mut x = p.initial_point(&mut stream(1, streams::INIT));
        let mut rngs: Vec<SimRng> = (0..MACHINES).map(|w| stream(1, w as u64)).collect();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut step = Vector::zeros(p.dim());
                for (w, rng) in rngs.iter_mut().enumerate() {
                    step += &p.stochastic_gradient(&x, w, rng);
                }
                x.scaled_add(-0.05 / MACHINES as f64, &step);
                black_box(&x);
            })
        });
    }
    group.finish();
}

fn evaluation_cpu(c: &mut Criterion<ThreadCpuTime>) {
    evaluation_in(c, "digits_mlp_eval_cpu");
}

fn evaluation(c: &mut Criterion) {
    evaluation_in(c, "digits_mlp_eval");
}

/// The calls an evaluation round makes, one by one.
fn evaluation_in<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    let p = digits_mlp(Activation::Tanh);
    let x = p.initial_point(&mut stream(1, streams::INIT));
    let mut rng = stream(1, 0);
    group.bench_function("stochastic_gradient", |b| {
        b.iter(|| black_box(p.stochastic_gradient(&x, 0, &mut rng)))
    });
    group.bench_function("loss", |b| b.iter(|| black_box(p.loss(&x))));
    group.bench_function("gradient", |b| b.iter(|| black_box(p.gradient(&x))));
    group.bench_function("metrics", |b| b.iter(|| black_box(p.metrics(&x))));
    group.bench_function("min_eig_30_steps", |b| {
        b.iter(|| black_box(min_eigenvalue(&p, &x, 30, 1)))
    });
    group.finish();
}

/// The portable tanh against libm's, on one hidden layer's worth of values (32 x 64).
fn activation(c: &mut Criterion) {
    let mut group = c.benchmark_group("tanh_2048");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    let values: Vec<f64> = (0..2048).map(|i| (i as f64 - 1024.0) / 300.0).collect();
    let mut out = vec![0.0; 2048];
    group.bench_function("portable", |b| {
        b.iter(|| {
            for (o, v) in out.iter_mut().zip(black_box(&values)) {
                *o = safeguard_sim::problem::activation::tanh(*v);
            }
            black_box(&out);
        })
    });
    group.bench_function("libm", |b| {
        b.iter(|| {
            for (o, v) in out.iter_mut().zip(black_box(&values)) {
                *o = v.tanh();
            }
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, round, evaluation, activation);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = round_cpu, evaluation_cpu
}
criterion_main!(benches, cpu);
