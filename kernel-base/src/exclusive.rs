//! A cell for state that one party uses at a time, checked at run time.
//!
//! A process's memory, trapframe and open files are used by the process
//! itself, and by the kernel while the process cannot run (fork filling in
//! a child, wait freeing a zombie). Those uses never overlap in a correct
//! kernel; [`ExclusiveCell`] turns an overlap (two borrows at once, from a
//! kernel or lab bug) into a panic instead of two `&mut` to the same data.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct ExclusiveCell<T> {
    busy: AtomicBool,
    /// What the cell holds, for the panic message.
    what: &'static str,
    value: UnsafeCell<T>,
}

// SAFETY: `busy` admits one borrower at a time, from whichever hart, so the
// value moves between harts but is never shared.
unsafe impl<T: Send> Sync for ExclusiveCell<T> {}

impl<T> ExclusiveCell<T> {
    pub(crate) const fn new(what: &'static str, value: T) -> ExclusiveCell<T> {
        ExclusiveCell {
            busy: AtomicBool::new(false),
            what,
            value: UnsafeCell::new(value),
        }
    }

    /// Borrows the value; panics if it is borrowed already.
    #[track_caller]
    pub(crate) fn borrow(&self) -> Exclusive<'_, T> {
        if self.busy.swap(true, Ordering::Acquire) {
            panic!("{} used twice at once", self.what);
        }
        Exclusive {
            cell: self,
            _shares: PhantomData,
        }
    }
}

pub(crate) struct Exclusive<'a, T> {
    cell: &'a ExclusiveCell<T>,
    /// A shared guard hands out `&T`: sharing it between harts needs
    /// `T: Sync`, as for std's `MutexGuard` (the lock alone asks `T: Send`).
    _shares: PhantomData<&'a mut T>,
}

impl<T> Deref for Exclusive<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard is the only borrower (see `borrow`).
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> DerefMut for Exclusive<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` keeps it unique.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for Exclusive<'_, T> {
    fn drop(&mut self) {
        self.cell.busy.store(false, Ordering::Release);
    }
}
