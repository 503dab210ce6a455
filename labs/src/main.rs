//! The kernel binary: the base kernel plus the code of the enabled labs.
#![no_std]
#![no_main]

// Pulls in the base kernel (boot code, trap vectors, panic handler).
use kernel_base as _;

/// Machine-mode boot (`kernel_base::start`) drops to supervisor mode here.
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    kernel_base::main()
}
