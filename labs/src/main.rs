//! The kernel binary: the base kernel plus the code of the enabled labs.
//!
//! Each lab is a cargo feature and a module of this crate (`trace.rs`,
//! `alarm.rs`, …); the student's work for a lab is in that one file. This
//! file only wires the enabled labs into the base kernel's hooks.
#![no_std]
#![no_main]

#[cfg(feature = "alarm")]
mod alarm;
#[cfg(feature = "backtrace")]
mod backtrace;
#[cfg(feature = "sysinfo")]
mod sysinfo;
#[cfg(feature = "trace")]
mod trace;

use kernel_base::hooks::Hooks;

static HOOKS: Hooks = Hooks {
    #[cfg(any(feature = "trace", feature = "sysinfo", feature = "alarm"))]
    syscall: lab_syscall,
    #[cfg(feature = "trace")]
    syscall_return: trace::syscall_return,
    #[cfg(feature = "trace")]
    proc_fork: trace::fork,
    #[cfg(feature = "alarm")]
    user_timer_tick: alarm::timer_tick,
    #[cfg(feature = "backtrace")]
    backtrace: backtrace::backtrace,
};

/// The system calls the enabled labs add.
#[cfg(any(feature = "trace", feature = "sysinfo", feature = "alarm"))]
fn lab_syscall(num: usize) -> Option<kernel_base::syscall::SysFn> {
    use abi::syscall::nr;
    match num {
        #[cfg(feature = "trace")]
        nr::trace => Some(trace::sys_trace),
        #[cfg(feature = "sysinfo")]
        nr::sysinfo => Some(sysinfo::sys_sysinfo),
        #[cfg(feature = "alarm")]
        nr::sigalarm => Some(alarm::sys_sigalarm),
        #[cfg(feature = "alarm")]
        nr::sigreturn => Some(alarm::sys_sigreturn),
        _ => None,
    }
}

/// Machine-mode boot (`kernel_base::start`) drops to supervisor mode here.
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    kernel_base::main(&HOOKS)
}
