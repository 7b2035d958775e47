//! Where the machine actors run: how many threads a run uses, and why.
//!
//! `--threads N` asks for `N` threads in all: the coordinator's own thread and `N - 1` arbiter
//! threads. Machine `id` is placed on thread `id % N` (thread 0 is the coordinator's), so each
//! phase of a round (honest, Byzantine) is split evenly. Each phase then costs two cross-thread
//! messages per extra thread ([`crate::actors::host`]). Waits for another thread spin before
//! they park ([`crate::actors`]' spin module), so in steady state a message finds its thread
//! awake and a round trip costs a few microseconds; a thread idle for longer than the spin budget
//! (a slow aggregator, an evaluation) parks and pays a wake-up, tens of microseconds on a
//! virtual machine. Threads pay only when a phase's gradients cost more than that.
//!
//! With the `auto` policy (the default), a run that asks for several threads first measures
//! both: the problem's stochastic gradient at the initial point (a few calls, on a stream of its
//! own whose draws are thrown away: the run's streams are untouched) and a round trip to another
//! thread as the rounds pay it (spinning waits, the median of 16 trips). It keeps `N` threads
//! when the work they take off the critical path is at least twice the messages' cost
//! ([`decide`]), and one thread otherwise; it never uses more threads than the machine has
//! cores. The `spread` policy uses `N` threads whatever they cost (the tests use it to
//! exercise the cross-thread paths). Results never depend on the placement: replies are sorted by
//! machine id before any arithmetic. The summary says which placement was used, and why
//! (`placement` in summary.json, and the CLI's summary line).

use crate::linalg::Vector;
use crate::problem::Problem;
use crate::rng::{stream, streams};
use serde::Serialize;
use std::time::{Duration, Instant};

/// How the thread count is chosen (never changes the results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlacementPolicy {
    /// Use the requested threads only when they pay (see the module docs).
    #[default]
    Auto,
    /// Use the requested threads, whatever they cost.
    Spread,
}

impl PlacementPolicy {
    /// `auto` or `spread`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlacementPolicy::Auto => "auto",
            PlacementPolicy::Spread => "spread",
        }
    }
}

/// The placement a run used (summary.json's `placement`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    /// Threads asked for (`--threads`).
    pub requested: usize,
    /// Threads used: the coordinator's own and `threads - 1` arbiter threads.
    pub threads: usize,
    /// `auto` or `spread`.
    pub policy: &'static str,
    /// Machines on each thread (the first is the coordinator's).
    pub machines_per_thread: Vec<usize>,
    /// The measured cost of one stochastic gradient, in microseconds (`auto` with several
    /// threads asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gradient_us: Option<f64>,
    /// The measured round trip to another thread, in microseconds (idem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip_us: Option<f64>,
    /// Why this many threads, in a few words.
    pub reason: String,
}

impl Placement {
    /// `threads` threads for `machines` machines (machine `id` on thread `id % threads`).
    pub fn new(
        requested: usize,
        threads: usize,
        policy: PlacementPolicy,
        machines: usize,
        reason: impl Into<String>,
    ) -> Self {
        let threads = threads.clamp(1, machines.max(1));
        let machines_per_thread = (0..threads)
            .map(|t| (t..machines).step_by(threads).count())
            .collect();
        Placement {
            requested,
            threads,
            policy: policy.as_str(),
            machines_per_thread,
            gradient_us: None,
            round_trip_us: None,
            reason: reason.into(),
        }
    }

    /// The thread (group) of machine `id`: 0 is the coordinator's.
    pub fn thread_of(&self, id: usize) -> usize {
        id % self.threads.max(1)
    }

    /// One phrase for the CLI: `1 thread` or `2 threads (5 + 5 machines)`, with the reason when
    /// fewer threads than asked were used.
    pub fn describe(&self) -> String {
        let mut s = if self.threads == 1 {
            "1 thread".to_string()
        } else {
            let split: Vec<String> = self
                .machines_per_thread
                .iter()
                .map(|n| n.to_string())
                .collect();
            format!("{} threads ({} machines)", self.threads, split.join(" + "))
        };
        if self.threads < self.requested {
            s.push_str(&format!(" of {} asked: {}", self.requested, self.reason));
        }
        s
    }
}

/// The cost model of [`decide`]: how a run's work and messages split over threads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Honest machines.
    pub honest: usize,
    /// Byzantine machines (they compute their own honest gradient too, in a phase of their own).
    pub byzantine: usize,
    /// One stochastic gradient.
    pub gradient: Duration,
    /// One round trip to another thread (a phase's message there and its batch back).
    pub round_trip: Duration,
}

impl Workload {
    /// Gradient time per round taken off the coordinator's critical path by `threads` threads:
    /// in each phase, the machines beyond the busiest thread's share.
    pub fn saved(&self, threads: usize) -> Duration {
        let t = threads.max(1);
        let off = |n: usize| n - n.div_ceil(t);
        self.gradient * (off(self.honest) + off(self.byzantine)) as u32
    }
    /// Message time per round the extra threads add: one round trip per phase.
    pub fn cost(&self, threads: usize) -> Duration {
        if threads <= 1 {
            return Duration::ZERO;
        }
        let phases = 1 + u32::from(self.byzantine > 0);
        self.round_trip * phases
    }
}

/// How many of `requested` threads to use for `work` on a machine with `cores` cores: the
/// requested count (at most `cores`) when the gradient time it saves is at least twice the
/// messages' cost, else 1. Returns the count and the reason.
pub fn decide(requested: usize, cores: usize, work: &Workload) -> (usize, String) {
    let threads = requested.min(cores.max(1));
    if threads <= 1 {
        return (1, format!("this machine has {} core(s)", cores.max(1)));
    }
    let (saved, cost) = (work.saved(threads), work.cost(threads));
    if saved >= cost * 2 {
        let why = if threads < requested {
            format!("this machine has {cores} cores")
        } else {
            "the gradients outweigh the messages".to_string()
        };
        (threads, why)
    } else {
        (
            1,
            format!(
                "threads would save {:.1} us of gradients a round for {:.1} us of messages",
                saved.as_secs_f64() * 1e6,
                cost.as_secs_f64() * 1e6
            ),
        )
    }
}

/// The typical cost of one stochastic gradient of `problem` at `x`: the median of a few calls
/// (more for cheap gradients, at most about 20 ms in all), on the probe stream of `seed`, whose
/// draws are thrown away. `None` when the problem panics.
pub fn probe_gradient(problem: &dyn Problem, x: &Vector, seed: u64) -> Option<Duration> {
    let mut rng = stream(seed, streams::PROBE);
    let budget = Duration::from_millis(20);
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < 64 && (times.len() < 5 || started.elapsed() < budget / 10) {
        let t = Instant::now();
        let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::hint::black_box(problem.stochastic_gradient(x, 0, &mut rng));
        }));
        call.ok()?;
        times.push(t.elapsed());
        if started.elapsed() > budget {
            break;
        }
    }
    median(times)
}

/// The median of `times` (`None` when empty).
pub fn median(mut times: Vec<Duration>) -> Option<Duration> {
    times.sort();
    times.get(times.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(honest: usize, byzantine: usize, gradient_us: u64, trip_us: u64) -> Workload {
        Workload {
            honest,
            byzantine,
            gradient: Duration::from_micros(gradient_us),
            round_trip: Duration::from_micros(trip_us),
        }
    }

    #[test]
    fn threads_are_kept_when_the_gradients_outweigh_the_messages() {
        // digits_mlp: 10 honest machines, 31 us gradients; 2 threads take 5 gradients (155 us)
        // off the critical path for one 30 us round trip.
        assert_eq!(decide(2, 2, &work(10, 0, 31, 30)).0, 2);
        // The quickstart: 6 + 4 machines at 1 us: 3 + 2 us saved against two round trips.
        let (t, why) = decide(2, 2, &work(6, 4, 1, 30));
        assert_eq!(t, 1);
        assert!(
            why.contains("5.0 us of gradients") && why.contains("60.0 us"),
            "{why}"
        );
        // Never more threads than cores, and one core means one thread.
        assert_eq!(decide(8, 2, &work(1000, 0, 60, 30)).0, 2);
        assert_eq!(decide(8, 1, &work(1000, 0, 60, 30)).0, 1);
        // The margin: exactly twice the cost pays, less does not.
        assert_eq!(decide(2, 2, &work(4, 0, 30, 30)).0, 2);
        assert_eq!(decide(2, 2, &work(4, 0, 29, 30)).0, 1);
    }

    #[test]
    fn the_busiest_thread_sets_the_saving() {
        // 5 machines on 2 threads: 3 + 2, so 2 gradients are saved, not 2.5.
        assert_eq!(work(5, 0, 10, 0).saved(2), Duration::from_micros(20));
        // Each phase is split on its own: 3 honest (2 + 1) and 3 Byzantine (2 + 1).
        assert_eq!(work(3, 3, 10, 0).saved(2), Duration::from_micros(20));
        assert_eq!(work(3, 3, 10, 7).cost(2), Duration::from_micros(14));
        assert_eq!(work(3, 0, 10, 7).cost(2), Duration::from_micros(7));
        assert_eq!(work(3, 3, 10, 7).cost(1), Duration::ZERO);
    }

    #[test]
    fn machines_are_dealt_round_robin() {
        let p = Placement::new(2, 2, PlacementPolicy::Spread, 5, "asked");
        assert_eq!(p.machines_per_thread, vec![3, 2]);
        assert_eq!((p.thread_of(0), p.thread_of(3)), (0, 1));
        assert_eq!(p.describe(), "2 threads (3 + 2 machines)");
        // Never more threads than machines.
        let p = Placement::new(4, 4, PlacementPolicy::Spread, 2, "asked");
        assert_eq!(p.threads, 2);
        let p = Placement::new(2, 1, PlacementPolicy::Auto, 10, "too cheap");
        assert_eq!(p.describe(), "1 thread of 2 asked: too cheap");
    }
}
