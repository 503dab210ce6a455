//! The kernel binary: the base kernel plus the code of the enabled labs.
//!
//! Each lab is a cargo feature and a module of this crate (`trace.rs`,
//! `cow.rs`, …) defining a type that implements `kernel_base::hooks::Lab`;
//! the student's work for a lab is in that one file. This file only lists
//! the enabled labs, in the canonical order the hooks consult them.
#![no_std]
#![no_main]
// A kernel stack is 16 KiB with an unmapped gap of almost 8 MiB below it:
// a frame or array that large has no place in a lab (see clippy.toml for
// the sizes). Overflows the build lets through panic as "kernel stack
// overflow" at run time.
#![deny(clippy::large_stack_frames, clippy::large_stack_arrays)]

#[cfg(feature = "alarm")]
mod alarm;
#[cfg(feature = "backtrace")]
mod backtrace;
#[cfg(feature = "cow")]
mod cow;
#[cfg(feature = "lazy")]
mod lazy;
#[cfg(feature = "pgtbl")]
mod pgtbl;
#[cfg(feature = "sysinfo")]
mod sysinfo;
#[cfg(feature = "trace")]
mod trace;

use kernel_base::hooks::Lab;

static LABS: &[&dyn Lab] = &[
    #[cfg(feature = "trace")]
    &trace::Trace,
    #[cfg(feature = "sysinfo")]
    &sysinfo::Sysinfo,
    #[cfg(feature = "pgtbl")]
    &pgtbl::Pgtbl,
    #[cfg(feature = "backtrace")]
    &backtrace::Backtrace,
    #[cfg(feature = "alarm")]
    &alarm::Alarm,
    #[cfg(feature = "lazy")]
    &lazy::Lazy,
    #[cfg(feature = "cow")]
    &cow::Cow,
];

/// Machine-mode boot (`kernel_base::start`) drops to supervisor mode here.
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    // SAFETY: machine-mode start jumps here once per hart, at boot.
    unsafe { kernel_base::main(&LABS) }
}
