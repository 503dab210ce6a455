//! The kernel binary: the base kernel plus the code of the enabled labs.
//!
//! Each lab is a cargo feature and a module of this crate (`trace.rs`,
//! `cow.rs`, …) defining a type that implements `kernel_base::hooks::Lab`;
//! the student's work for a lab is in that one file. The list of enabled
//! labs, in the canonical order the hooks consult them, comes from
//! `labs/registry.toml` (see build.rs).
#![no_std]
#![no_main]
// A kernel stack is 16 KiB with an unmapped gap of almost 8 MiB below it:
// a frame or array that large has no place in a lab (see clippy.toml for
// the sizes). Overflows the build lets through panic as "kernel stack
// overflow" at run time.
#![deny(clippy::large_stack_frames, clippy::large_stack_arrays)]

// `mod <lab>;` for each enabled lab and `LABS`, the enabled labs in the
// registry's order: written by build.rs from labs/registry.toml.
include!(concat!(env!("OUT_DIR"), "/labs.rs"));

// The lab files named above are this tree's: build.rs's output from another
// place (a copied target directory) would compile that tree's lab files.
const _: () = assert!(
    abi::str_eq(LABS_WRITTEN_FOR, env!("CARGO_MANIFEST_DIR")),
    "labs/build.rs's output is another tree's: `touch labs/build.rs` and build again"
);

/// Machine-mode boot (`kernel_base::start`) drops to supervisor mode here.
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    // SAFETY: machine-mode start jumps here once per hart, at boot.
    unsafe { kernel_base::main(&LABS) }
}
