//! Long-term locks for things held across disk I/O (buffers, inodes): a
//! waiter sleeps instead of spinning.

use crate::proc::{self, Proc, myproc};
use crate::spinlock::SpinLock;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;

/// Whether the current process may wait for a file's locks now without
/// risking waiting for itself: this hart holds no spinlock, and the process
/// holds no sleep lock. A page fault taken while the kernel copies to or
/// from user memory may come with an inode's or a buffer's lock held (a
/// `read` into a mapping of the same file); a fault handler that reads a
/// file (the mmap lab's page-in) asks this first and, if not, fails the
/// access: the base kernel then faults the pages in with no lock held and
/// copies again.
pub fn may_acquire() -> bool {
    crate::cpu::noff() == 0
        && myproc().is_none_or(|p| p.sleep_locks_held.load(Ordering::Relaxed) == 0)
}

struct State {
    locked: bool,
    /// Processes sleeping until it is free (release wakes them only then).
    waiters: u32,
    /// Holder's pid, for debugging.
    pid: i32,
}

pub struct SleepLock<T> {
    state: SpinLock<State>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises access to `data`.
unsafe impl<T: Send> Sync for SleepLock<T> {}

impl<T> SleepLock<T> {
    pub const fn new(name: &'static str, data: T) -> SleepLock<T> {
        SleepLock {
            state: SpinLock::new(
                name,
                State {
                    locked: false,
                    waiters: 0,
                    pid: 0,
                },
            ),
            data: UnsafeCell::new(data),
        }
    }

    fn chan(&self) -> usize {
        self as *const Self as usize
    }

    /// Sleeps until the lock is free, then takes it. Needs a process context.
    pub fn lock(&self) -> SleepLockGuard<'_, T> {
        let mut s = self.state.lock();
        while s.locked {
            s.waiters += 1;
            s = proc::sleep(self.chan(), s);
            s.waiters -= 1;
        }
        s.locked = true;
        let holder = myproc();
        s.pid = holder.map_or(0, |p| p.pid());
        if let Some(p) = holder {
            p.sleep_locks_held.fetch_add(1, Ordering::Relaxed);
        }
        SleepLockGuard {
            lock: self,
            holder,
            _shares: PhantomData,
        }
    }

    /// Whether the current process holds the lock.
    pub fn holding(&self) -> bool {
        let s = self.state.lock();
        s.locked && s.pid == myproc().map_or(0, |p| p.pid())
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

pub struct SleepLockGuard<'a, T> {
    lock: &'a SleepLock<T>,
    /// The process that took it (its count of sleep locks held).
    holder: Option<&'static Proc>,
    /// A shared guard hands out `&T`: sharing it between harts needs
    /// `T: Sync`, as for std's `MutexGuard` (the lock alone asks `T: Send`).
    _shares: PhantomData<&'a mut T>,
}

impl<T> Deref for SleepLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SleepLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SleepLockGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(p) = self.holder {
            p.sleep_locks_held.fetch_sub(1, Ordering::Relaxed);
        }
        let mut s = self.lock.state.lock();
        s.locked = false;
        s.pid = 0;
        let waiters = s.waiters;
        drop(s);
        if waiters > 0 {
            proc::wakeup(self.lock.chan());
        }
    }
}
