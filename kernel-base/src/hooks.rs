//! The call sites where labs plug into the base kernel.
//!
//! The kernel binary (the `labs` crate) passes a [`Hooks`] table to
//! [`crate::main`]. A field exists only when a lab that needs it is enabled,
//! so the base kernel without features carries no lab code at all, and the
//! wrappers below compile to nothing.

#[cfg(any(feature = "trace", feature = "alarm"))]
use crate::proc::Proc;
#[cfg(any(feature = "trace", feature = "sysinfo", feature = "alarm"))]
use crate::syscall::SysFn;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The labs' code, one function per hook.
pub struct Hooks {
    /// Handler for a system call number the base kernel does not know.
    #[cfg(any(feature = "trace", feature = "sysinfo", feature = "alarm"))]
    pub syscall: fn(num: usize) -> Option<SysFn>,
    /// After every system call, with its number and result.
    #[cfg(feature = "trace")]
    pub syscall_return: fn(p: &Proc, num: usize, ret: i64),
    /// `fork` made `child` from `parent` (copy inherited lab state).
    #[cfg(feature = "trace")]
    pub proc_fork: fn(parent: &Proc, child: &Proc),
    /// A timer interrupt arrived while `p` ran in user mode.
    #[cfg(feature = "alarm")]
    pub user_timer_tick: fn(p: &Proc),
    /// Prints the kernel call stack (from `sleep` and `panic`).
    #[cfg(feature = "backtrace")]
    pub backtrace: fn(),
}

static HOOKS: AtomicPtr<Hooks> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the table; `main` does this before any other hart or process runs.
pub(crate) fn install(hooks: &'static Hooks) {
    HOOKS.store(hooks as *const Hooks as *mut Hooks, Ordering::Release);
}

#[allow(dead_code)]
#[inline(always)]
fn hooks() -> &'static Hooks {
    let p = HOOKS.load(Ordering::Acquire);
    assert!(
        !p.is_null(),
        "lab hook called before main installed the table"
    );
    // SAFETY: the pointer came from a `&'static Hooks` in `install`.
    unsafe { &*p }
}

/// A system call number the base kernel does not know.
#[inline(always)]
pub fn lab_syscall(_num: usize) -> Option<crate::syscall::SysFn> {
    #[cfg(any(feature = "trace", feature = "sysinfo", feature = "alarm"))]
    return (hooks().syscall)(_num);
    #[cfg(not(any(feature = "trace", feature = "sysinfo", feature = "alarm")))]
    None
}

/// After every system call, with its result.
#[inline(always)]
pub fn syscall_return(_p: &crate::proc::Proc, _num: usize, _ret: i64) {
    #[cfg(feature = "trace")]
    (hooks().syscall_return)(_p, _num, _ret);
}

/// `fork` made `child` from `parent`.
#[inline(always)]
pub fn proc_fork(_parent: &crate::proc::Proc, _child: &crate::proc::Proc) {
    #[cfg(feature = "trace")]
    (hooks().proc_fork)(_parent, _child);
}

/// A user-mode exception the base kernel would kill the process for (page
/// faults among them). Returns true if a lab handled it.
#[inline(always)]
pub fn user_fault(_p: &crate::proc::Proc, _scause: usize, _stval: usize) -> bool {
    false
}

/// A timer interrupt arrived while `p` ran in user mode.
#[inline(always)]
pub fn user_timer_tick(_p: &crate::proc::Proc) {
    #[cfg(feature = "alarm")]
    (hooks().user_timer_tick)(_p);
}

/// `sleep` was called (before it sleeps). Inlined so that a backtrace taken
/// here starts in `sys_sleep`.
#[inline(always)]
pub fn sleep_syscall() {
    #[cfg(feature = "backtrace")]
    (hooks().backtrace)();
}

/// The kernel panicked (after the message is printed).
#[inline(always)]
pub fn on_panic() {
    #[cfg(feature = "backtrace")]
    if !HOOKS.load(Ordering::Acquire).is_null() {
        (hooks().backtrace)();
    }
}
