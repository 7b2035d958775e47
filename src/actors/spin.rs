//! Spin, then park: how a thread waits for the other threads' part of a round.
//!
//! An idle arbiter thread parks in the kernel, and the message that wakes it pays a thread
//! wake-up: on a virtual machine, tens of microseconds, as much as a whole gradient of a small
//! network. A round that crosses threads waits twice (the request to a remote host, its batch
//! back), so on a 0.3 ms round the wake-ups alone cost a third of what the second thread saves.
//!
//! The waits that sit between a thread's last piece of work and the next message it expects
//! therefore spin first: the waiting task yields to the thread's other tasks (its machines, its
//! mailbox) and checks again, and parks only after [`SPIN_BUDGET`]. A message that arrives within
//! the budget finds its thread awake. This is the usual spin-then-park of thread pools (rayon's
//! sleep module, crossbeam's `Backoff`); each turn of the loop also offers the core to the
//! operating system (`sched_yield`), so a spinning thread costs little to another process when
//! the machine is busy.
//!
//! Only waits for another thread spin: a run on one thread never does, and the results never
//! depend on it (replies are sorted by machine id before any arithmetic).

use actix::prelude::ArbiterHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long a wait spins before it parks. Longer than the coordinator's serial part of a round
/// on the shipped learning tasks (aggregation, step, recording: tens of microseconds), short
/// enough that a thread idle for longer (an evaluation, a slow aggregator) sleeps.
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(500);

/// One turn of a spin: let the thread's other tasks run, and offer the core to the OS.
async fn turn() {
    std::thread::yield_now();
    tokio::task::yield_now().await;
}

/// The next value of `rx`, spinning up to `budget` before waiting on it the usual way (`None`
/// when the channel is closed and empty).
pub(crate) async fn recv<T>(rx: &mut UnboundedReceiver<T>, budget: Duration) -> Option<T> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if start.elapsed() >= budget {
            return rx.recv().await;
        }
        turn().await;
    }
}

/// Keep the thread awake until `done()` or `budget` has passed (then return, so the thread can
/// park).
pub(crate) async fn until(budget: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < budget {
        turn().await;
    }
}

/// The median round trip to `arbiter`'s thread and back (16 of them), as a round pays it: a
/// message there and one back, both waits spinning as the rounds' waits do (the remote side keeps
/// spinning until the next trip arrives, like a host between two phases). The first trip wakes
/// a parked thread; the median is the steady state.
pub(crate) async fn probe_round_trip(arbiter: &ArbiterHandle) -> Option<Duration> {
    let (back, mut answers) = unbounded_channel::<()>();
    let trips = Arc::new(AtomicU64::new(0));
    let mut times = Vec::new();
    for k in 1..=16u64 {
        trips.store(k, Ordering::Relaxed);
        let (back, trips) = (back.clone(), trips.clone());
        let t = Instant::now();
        let sent = arbiter.spawn(async move {
            let _ = back.send(());
            until(SPIN_BUDGET, || trips.load(Ordering::Relaxed) != k).await;
        });
        if !sent {
            return None;
        }
        recv(&mut answers, SPIN_BUDGET).await?;
        times.push(t.elapsed());
    }
    // Let the last trip's spin end now.
    trips.store(0, Ordering::Relaxed);
    crate::placement::median(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        actix::System::new().block_on(f)
    }

    #[test]
    fn recv_returns_a_value_sent_from_another_thread_during_the_spin() {
        let (tx, mut rx) = unbounded_channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2));
            tx.send(7u32).ok();
        });
        // A budget far longer than the sender's delay: the value arrives during the spin.
        assert_eq!(block_on(recv(&mut rx, Duration::from_secs(5))), Some(7));
        t.join().ok();
    }

    #[test]
    fn recv_waits_past_the_budget_and_sees_the_close() {
        let (tx, mut rx) = unbounded_channel::<u32>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(3).ok();
            drop(tx);
        });
        // Budget zero: no spin, the usual wait.
        assert_eq!(block_on(recv(&mut rx, Duration::ZERO)), Some(3));
        assert_eq!(block_on(recv(&mut rx, Duration::from_millis(1))), None);
        t.join().ok();
    }

    #[test]
    fn until_stops_when_done_and_at_the_budget() {
        let mut calls = 0;
        block_on(until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
        assert_eq!(calls, 3);
        let start = Instant::now();
        block_on(until(Duration::from_millis(3), || false));
        assert!(start.elapsed() >= Duration::from_millis(3));
    }

    #[test]
    fn the_probe_times_trips_to_another_thread() {
        let system = actix::System::new();
        let arbiter = actix::Arbiter::new();
        let trip = system.block_on(probe_round_trip(&arbiter.handle()));
        arbiter.stop();
        arbiter.join().ok();
        // A trip is timed (its length depends on the machine: only its existence and a sane
        // bound are checked) and a stopped arbiter gives none.
        let trip = trip.expect("a trip to a live arbiter is timed");
        assert!(trip < Duration::from_secs(1), "{trip:?}");
        let dead = actix::Arbiter::new();
        let handle = dead.handle();
        dead.stop();
        dead.join().ok();
        assert_eq!(system.block_on(probe_round_trip(&handle)), None);
    }

    #[test]
    fn other_tasks_of_the_thread_run_while_it_spins() {
        // The spinning task yields: a task spawned on the same thread makes progress and its
        // value ends the spin, long before the budget.
        let out = block_on(async {
            let (tx, mut rx) = unbounded_channel();
            actix::spawn(async move {
                tx.send(42u8).ok();
            });
            recv(&mut rx, Duration::from_secs(60)).await
        });
        assert_eq!(out, Some(42));
    }
}
