//! The call sites where labs plug into the base kernel.
//!
//! Each hook is an ordinary function here. Without lab features they do
//! nothing and compile away; the labs fill them in (see `labs/`).

use crate::proc::Proc;
use crate::syscall::SysFn;

/// A system call number the base kernel does not know.
#[inline(always)]
pub fn lab_syscall(_num: usize) -> Option<SysFn> {
    None
}

/// After every system call, with its result.
#[inline(always)]
pub fn syscall_return(_p: &Proc, _num: usize, _ret: i64) {}

/// A user-mode exception the base kernel would kill the process for (page
/// faults among them). Returns true if a lab handled it.
#[inline(always)]
pub fn user_fault(_p: &Proc, _scause: usize, _stval: usize) -> bool {
    false
}

/// A timer interrupt arrived while `p` ran in user mode.
#[inline(always)]
pub fn user_timer_tick(_p: &Proc) {}

/// `sleep` was called (before it sleeps).
#[inline(always)]
pub fn sleep_syscall() {}

/// The kernel panicked (after the message is printed).
#[inline(always)]
pub fn on_panic() {}
