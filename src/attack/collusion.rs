//! State shared by colluding Byzantine machines, computed once per round.
//!
//! Colluders must send consistent vectors. Three ways keep them consistent, each used by a
//! built-in attack:
//! 1. a deterministic function of the shared [`super::RoundView`] (ALIE, IPM): every colluder
//!    computes the same vector, at `O(h d)` each;
//! 2. a [`Collusion`] state, updated once per round by whichever colluder is asked first, from
//!    the view alone (mimic's learned direction, the search attacks, the saddle trap, the
//!    honest windowed sums of the white-box attacks): the round's cost is paid once, not once
//!    per colluder, and randomness comes from one stream ([`crate::rng::streams::COLLUSION`])
//!    drawn in round order;
//! 3. one actor for all the ids ([`super::Adversaries::actors`]).
//!
//! With way 2, the result does not depend on which colluder comes first (nor on the thread
//! count), because the update reads only the view, which is the same for all of them.

use std::sync::{Arc, Mutex, MutexGuard};

/// A state shared by the colluding machines of one attack, updated at most once per round.
#[derive(Debug)]
pub struct Collusion<S> {
    inner: Arc<Mutex<Slot<S>>>,
}

#[derive(Debug)]
struct Slot<S> {
    /// The last round the state was updated for (0: never).
    round: u64,
    state: S,
}

impl<S> Clone for Collusion<S> {
    fn clone(&self) -> Self {
        Collusion {
            inner: self.inner.clone(),
        }
    }
}

impl<S> Collusion<S> {
    /// A shared state starting at `state`.
    pub fn new(state: S) -> Self {
        Collusion {
            inner: Arc::new(Mutex::new(Slot { round: 0, state })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot<S>> {
        // A colluder that panicked while holding the lock leaves a consistent state (updates are
        // whole-round): keep going with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `update` on the state once for round `round` (the first colluder to call this in
    /// that round runs it; `update` must depend only on what every colluder sees alike, i.e.
    /// the round's view), then return `read` of the state. Rounds must not go backwards: a call
    /// for an older round only reads.
    pub fn round<R>(
        &self,
        round: u64,
        update: impl FnOnce(&mut S),
        read: impl FnOnce(&S) -> R,
    ) -> R {
        let mut slot = self.lock();
        if round > slot.round {
            update(&mut slot.state);
            slot.round = round;
        }
        read(&slot.state)
    }

    /// Run `f` on the state now, whatever the round (for a colluder's own contribution, which
    /// only it knows: the order between colluders must not matter).
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.lock().state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_once_per_round_whoever_asks() {
        let a = Collusion::new(0u32);
        let b = a.clone();
        assert_eq!(a.round(1, |s| *s += 1, |s| *s), 1);
        assert_eq!(b.round(1, |s| *s += 1, |s| *s), 1);
        assert_eq!(b.round(2, |s| *s += 10, |s| *s), 11);
        assert_eq!(a.round(2, |s| *s += 10, |s| *s), 11);
        // An older round only reads.
        assert_eq!(a.round(1, |s| *s += 100, |s| *s), 11);
    }
}
