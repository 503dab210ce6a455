//! The hash table `ph` fills from several threads (thread lab): the
//! student's part of `ph`. NBUCKET buckets, each an array of entries and a
//! count of those in use.
//!
//! Without locking it loses keys when threads put at once: a put reads its
//! bucket's count, looks through that many entries for its key, and
//! writes its entry after them; a put to the same bucket meanwhile writes
//! the same place, and one of the two keys is lost. The lab: make
//! concurrent puts safe, and keep them fast (two threads must put faster
//! than one).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
// BEGIN SOLUTION
use std::sync::{Mutex, PoisonError};
// END SOLUTION

/// How many buckets (MIT's NBUCKET).
pub const NBUCKET: usize = 5;

/// One bucket. Atomics so that threads can share the table in safe Rust;
/// on their own they do not make a put atomic.
struct Bucket {
    keys: Vec<AtomicU64>,
    values: Vec<AtomicU64>,
    /// How many of the entries are in use.
    len: AtomicUsize,
}

pub struct Table {
    buckets: [Bucket; NBUCKET],
    // BEGIN SOLUTION
    /// One lock per bucket: puts to different buckets run in parallel.
    locks: [Mutex<()>; NBUCKET],
    // END SOLUTION
}

impl Table {
    /// A table with room for `capacity` keys.
    pub fn new(capacity: usize) -> Table {
        let zeros = || (0..capacity).map(|_| AtomicU64::new(0)).collect();
        Table {
            buckets: std::array::from_fn(|_| Bucket {
                keys: zeros(),
                values: zeros(),
                len: AtomicUsize::new(0),
            }),
            // BEGIN SOLUTION
            locks: std::array::from_fn(|_| Mutex::new(())),
            // END SOLUTION
        }
    }

    fn bucket(key: u64) -> usize {
        (key % NBUCKET as u64) as usize
    }

    /// Sets `key`'s value: updates its entry, or adds one.
    pub fn put(&self, key: u64, value: u64) {
        let i = Self::bucket(key);
        // BEGIN SOLUTION
        // Held from reading the count to writing it: no other put to this
        // bucket can come in between.
        let _held = self.locks[i].lock().unwrap_or_else(PoisonError::into_inner);
        // END SOLUTION
        let b = &self.buckets[i];
        let n = b.len.load(Ordering::Acquire);
        if let Some(e) = b.keys[..n]
            .iter()
            .position(|k| k.load(Ordering::Relaxed) == key)
        {
            b.values[e].store(value, Ordering::Relaxed);
            return;
        }
        if n == b.keys.len() {
            panic!("ph: the table is full ({n} keys in a bucket)");
        }
        b.keys[n].store(key, Ordering::Relaxed);
        b.values[n].store(value, Ordering::Relaxed);
        b.len.store(n + 1, Ordering::Release);
    }

    /// `key`'s value, if it has one.
    pub fn get(&self, key: u64) -> Option<u64> {
        let b = &self.buckets[Self::bucket(key)];
        let n = b.len.load(Ordering::Acquire);
        let e = b.keys[..n]
            .iter()
            .position(|k| k.load(Ordering::Relaxed) == key)?;
        Some(b.values[e].load(Ordering::Relaxed))
    }
}
