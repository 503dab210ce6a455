//! Per-hart state: the process it runs, its scheduler context, and the
//! interrupt-disable nesting that spinlocks rely on.

use crate::proc::{Context, Proc};
use crate::riscv::{intr_get, intr_off, intr_on, r_tp};
use abi::param::NCPU;
use core::cell::{Cell, UnsafeCell};
use core::ptr;

pub(crate) struct Cpu {
    /// The process running on this hart, or null.
    pub(crate) proc: Cell<*const Proc>,
    /// Saved registers of this hart's scheduler loop (used by `swtch`).
    pub(crate) context: UnsafeCell<Context>,
    /// Depth of `push_off` nesting.
    noff: Cell<u32>,
    /// Were interrupts enabled before the outermost `push_off`?
    pub(crate) intena: Cell<bool>,
}

// SAFETY: each hart touches only its own entry, and only with interrupts
// off (see `mycpu`), so no entry is ever used by two harts at once.
unsafe impl Sync for Cpu {}

static CPUS: [Cpu; NCPU] = [const {
    Cpu {
        proc: Cell::new(ptr::null()),
        context: UnsafeCell::new(Context::ZERO),
        noff: Cell::new(0),
        intena: Cell::new(false),
    }
}; NCPU];

/// This hart's id. With interrupts on, the caller may have moved to another
/// hart by the time it looks at the answer.
#[inline]
pub fn cpuid() -> usize {
    r_tp()
}

/// This hart's `Cpu`. Interrupts must be off, and the reference must not
/// be kept across anything that can switch harts (`sched`): the process
/// may resume on another hart.
#[inline]
pub(crate) fn mycpu() -> &'static Cpu {
    debug_assert!(!intr_get(), "mycpu with interrupts on");
    &CPUS[cpuid()]
}

/// Disables interrupts, counting nesting so that `pop_off` restores the
/// state of the outermost call.
pub fn push_off() {
    let old = intr_get();
    // Only a change needs the write (which ends QEMU's translated block).
    if old {
        intr_off();
    }
    let c = mycpu();
    if c.noff.get() == 0 {
        c.intena.set(old);
    }
    c.noff.set(c.noff.get() + 1);
}

/// Undoes one `push_off`.
pub fn pop_off() {
    if intr_get() {
        panic!("pop_off: interrupts enabled");
    }
    let c = mycpu();
    let n = c.noff.get();
    if n < 1 {
        panic!("pop_off: not pushed");
    }
    c.noff.set(n - 1);
    if n == 1 && c.intena.get() {
        intr_on();
    }
}

/// Depth of `push_off` nesting on this hart (interrupts off).
pub(crate) fn noff() -> u32 {
    mycpu().noff.get()
}

/// One `T` per hart (the lock lab's per-CPU free lists). A hart reaches its
/// own slot through [`PerCpu::mine`], which keeps interrupts off so that
/// the code cannot move to another hart meanwhile; when `T` is `Sync` (a
/// `SpinLock`), every slot can be reached too ([`PerCpu::iter`]), to steal
/// from another hart.
pub struct PerCpu<T> {
    slots: [T; NCPU],
}

// SAFETY: without `T: Sync`, a slot is reached only by `mine`, by the hart
// it belongs to, with interrupts off, and the guard cannot leave the hart
// (it is !Send and !Sync, and `sched` refuses to switch while it holds
// interrupts off); `iter` and `get` need `T: Sync`.
unsafe impl<T: Send> Sync for PerCpu<T> {}

impl<T> PerCpu<T> {
    pub const fn new(slots: [T; NCPU]) -> PerCpu<T> {
        PerCpu { slots }
    }

    /// This hart's slot; interrupts stay off until the guard drops.
    pub fn mine(&self) -> Mine<'_, T> {
        push_off();
        let hart = cpuid();
        Mine {
            slot: &self.slots[hart],
            hart,
            _this_hart: core::marker::PhantomData,
        }
    }
}

impl<T: Sync> PerCpu<T> {
    /// Hart `hart`'s slot.
    pub fn get(&self, hart: usize) -> Option<&T> {
        self.slots.get(hart)
    }

    /// Every hart's slot, in hart order.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.slots.iter()
    }
}

/// This hart's slot of a [`PerCpu`], with interrupts off.
pub struct Mine<'a, T> {
    slot: &'a T,
    hart: usize,
    /// Tied to this hart: neither `Send` nor `Sync`.
    _this_hart: core::marker::PhantomData<*const ()>,
}

impl<T> Mine<'_, T> {
    /// The hart this slot belongs to (the one running).
    pub fn hart(&self) -> usize {
        self.hart
    }
}

impl<T> core::ops::Deref for Mine<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.slot
    }
}

impl<T> Drop for Mine<'_, T> {
    fn drop(&mut self) {
        pop_off();
    }
}
