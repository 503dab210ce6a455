//! Spinlocks that disable interrupts while held, so an interrupt handler on
//! the same hart can never spin on a lock its interrupted code holds.
//!
//! With the `lockstat` feature each lock also counts its acquires and its
//! failed test-and-set attempts ([`crate::lockstat`]); without it there is
//! no counter and no counting.

use crate::cpu::{cpuid, pop_off, push_off};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const NO_HART: usize = usize::MAX;

pub struct SpinLock<T> {
    locked: AtomicBool,
    #[cfg(feature = "lockstat")]
    row: crate::lockstat::Row,
    /// The hart holding the lock, for `holding` checks.
    hart: AtomicUsize,
    name: &'static str,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `data`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the data it owns.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(name: &'static str, data: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            #[cfg(feature = "lockstat")]
            row: crate::lockstat::Row::new(),
            hart: AtomicUsize::new(NO_HART),
            name,
            data: UnsafeCell::new(data),
        }
    }

    /// Spins until the lock is ours. Interrupts stay off until the guard drops.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        push_off();
        if self.holding() {
            panic!("acquire {}: already held by this hart", self.name);
        }
        // Test-and-set (amoswap), as xv6, but after a failed one wait by
        // reading until the lock looks free (test-and-test-and-set). So a
        // failed test-and-set (a spin, for lockstat) is a race lost, and
        // their count says how often harts met at the lock, not how long
        // one waited: harts are host threads, and the host may stop the
        // holder's for a whole time slice (with 3 harts on 2 host cores,
        // often), which xv6's count would show as a million spins.
        #[cfg(feature = "lockstat")]
        let mut spins = 0;
        while self.locked.swap(true, Ordering::Acquire) {
            #[cfg(feature = "lockstat")]
            {
                spins += 1;
            }
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        #[cfg(feature = "lockstat")]
        self.row.record(self.name, spins);
        self.hart.store(cpuid(), Ordering::Relaxed);
        SpinLockGuard {
            lock: self,
            _shares: PhantomData,
        }
    }

    /// The lock if it is free now, without spinning: for a debugging dump
    /// that must not wait on a wedged machine.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        push_off();
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            pop_off();
            return None;
        }
        #[cfg(feature = "lockstat")]
        self.row.record(self.name, 0);
        self.hart.store(cpuid(), Ordering::Relaxed);
        Some(SpinLockGuard {
            lock: self,
            _shares: PhantomData,
        })
    }

    /// Whether this hart holds the lock. Call with interrupts off.
    pub fn holding(&self) -> bool {
        self.locked.load(Ordering::Relaxed) && self.hart.load(Ordering::Relaxed) == cpuid()
    }

    /// Releases a lock whose guard lives on another stack: a process that
    /// starts running in `forkret` inherits the process lock the scheduler
    /// took on its behalf.
    ///
    /// # Safety
    /// This hart must hold the lock, and the guard that took it must never
    /// be dropped.
    pub unsafe fn force_unlock(&self) {
        self.release();
    }

    fn release(&self) {
        if !self.holding() {
            panic!("release {}: not held", self.name);
        }
        self.hart.store(NO_HART, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        pop_off();
    }

    /// The data, for code that has exclusive access another way.
    ///
    /// # Safety
    /// No one else may access the data for the lifetime of the reference.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_unchecked(&self) -> &mut T {
        // SAFETY: the caller guarantees exclusivity.
        unsafe { &mut *self.data.get() }
    }
}

// Statistics cost no space: without the feature there is no counter field,
// and with it the row number fits in the padding after `locked`.
const _: () = {
    #[allow(dead_code)]
    struct Bare {
        locked: AtomicBool,
        hart: AtomicUsize,
        name: &'static str,
        data: u64,
    }
    assert!(core::mem::size_of::<SpinLock<u64>>() == core::mem::size_of::<Bare>());
};

pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// A shared guard hands out `&T`: sharing it between harts needs
    /// `T: Sync`, as for std's `MutexGuard` (the lock alone asks `T: Send`).
    _shares: PhantomData<&'a mut T>,
}

impl<'a, T> SpinLockGuard<'a, T> {
    /// The lock this guard holds (to take it again after a `sleep`).
    pub fn lock_ref(&self) -> &'a SpinLock<T> {
        self.lock
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release();
    }
}
