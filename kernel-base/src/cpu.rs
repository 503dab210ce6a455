//! Per-hart state: the process it runs, its scheduler context, and the
//! interrupt-disable nesting that spinlocks rely on.

use crate::proc::{Context, Proc};
use crate::riscv::{intr_get, intr_off, intr_on, r_tp};
use abi::param::NCPU;
use core::cell::UnsafeCell;
use core::ptr;

pub struct Cpu {
    /// The process running on this hart, or null.
    pub proc: *const Proc,
    /// Saved registers of this hart's scheduler loop.
    pub context: Context,
    /// Depth of `push_off` nesting.
    pub noff: u32,
    /// Were interrupts enabled before the outermost `push_off`?
    pub intena: bool,
}

struct CpuCell(UnsafeCell<Cpu>);

// SAFETY: each hart only touches its own entry, with interrupts off.
unsafe impl Sync for CpuCell {}

static CPUS: [CpuCell; NCPU] = [const {
    CpuCell(UnsafeCell::new(Cpu {
        proc: ptr::null(),
        context: Context::ZERO,
        noff: 0,
        intena: false,
    }))
}; NCPU];

/// This hart's id. Interrupts must be off, or the caller could move to
/// another hart right after reading it.
#[inline]
pub fn cpuid() -> usize {
    r_tp()
}

/// This hart's `Cpu`. Call with interrupts off.
#[allow(clippy::mut_from_ref)]
#[inline]
pub fn mycpu() -> &'static mut Cpu {
    // SAFETY: the entry belongs to this hart, and with interrupts off no
    // other code on this hart runs until the reference is dropped.
    unsafe { &mut *CPUS[cpuid()].0.get() }
}

/// Disables interrupts, counting nesting so that `pop_off` restores the
/// state of the outermost call.
pub fn push_off() {
    let old = intr_get();
    intr_off();
    let c = mycpu();
    if c.noff == 0 {
        c.intena = old;
    }
    c.noff += 1;
}

/// Undoes one `push_off`.
pub fn pop_off() {
    let c = mycpu();
    if intr_get() {
        panic!("pop_off: interrupts enabled");
    }
    if c.noff < 1 {
        panic!("pop_off: not pushed");
    }
    c.noff -= 1;
    if c.noff == 0 && c.intena {
        intr_on();
    }
}
