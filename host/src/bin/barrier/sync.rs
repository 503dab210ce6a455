//! The barrier `barrier` tests (thread lab): the student's part of
//! `barrier`. Each of `nthread` threads calls `wait` once per round; none
//! returns from it until all have called it, and then the round is over:
//! `round` counts the rounds over.

// BEGIN SOLUTION
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// What the threads share, under the barrier's lock.
struct State {
    /// Threads that have called `wait` in this round.
    arrived: usize,
    /// Rounds over.
    round: u64,
}
// END SOLUTION

pub struct Barrier {
    nthread: usize,
    // BEGIN SOLUTION
    state: Mutex<State>,
    /// Signalled when a round is over.
    next_round: Condvar,
    // END SOLUTION
}

impl Barrier {
    pub fn new(nthread: usize) -> Barrier {
        // BEGIN SOLUTION
        Barrier {
            nthread,
            state: Mutex::new(State {
                arrived: 0,
                round: 0,
            }),
            next_round: Condvar::new(),
        }
        // END SOLUTION
        // STARTER: Barrier { nthread }
    }

    // BEGIN SOLUTION
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
    // END SOLUTION

    /// Blocks until all `nthread` threads have called `wait`, then ends the
    /// round.
    pub fn wait(&self) {
        // BEGIN SOLUTION
        let mut s = self.lock();
        s.arrived += 1;
        if s.arrived == self.nthread {
            // The last to arrive ends the round and wakes the others.
            s.arrived = 0;
            s.round += 1;
            self.next_round.notify_all();
            return;
        }
        // Until the round changes: a wakeup may come for no reason, and
        // the round's number (not `arrived`, which the next round resets
        // and raises again) says whether this one is over.
        let round = s.round;
        while s.round == round {
            s = self
                .next_round
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // END SOLUTION
        // STARTER: // YOUR CODE HERE: block until all threads have called
        // STARTER: // wait(), then count the round as over.
        // STARTER: let _ = self.nthread;
    }

    /// How many rounds are over.
    pub fn round(&self) -> u64 {
        // BEGIN SOLUTION
        self.lock().round
        // END SOLUTION
        // STARTER: 0
    }
}
