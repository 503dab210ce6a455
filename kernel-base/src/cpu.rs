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
