#![no_std]
#![no_main]
//! usertests: the kernel's robustness suite, in the spirit of xv6's.
//!
//! Output (graded line by line): `usertests starting`, then per test
//! `test <name>: OK` or `test <name>: FAILED`, then `ALL TESTS PASSED`,
//! `SOME TESTS FAILED`, or `FAILED -- lost some free pages <n> (out of <m>)`.
//!
//! `usertests` runs everything, `-q` only the quick tests, `<name>` one test,
//! `-c` loops forever.

mod fs;
mod mem;
mod proc;

/// One test: runs in a child process and fails by exiting non-zero.
pub struct Test {
    pub name: &'static str,
    /// Gets its own name, to prefix messages with.
    pub f: fn(&str),
    /// Slow tests fill memory or disk or make huge directories; `-q` skips them.
    pub slow: bool,
}

// TODO(runner): argument parsing, running each test in a forked child,
// counting free pages before and after, and the summary lines.
user::entry!(main);

fn main(_args: user::Args) -> i32 {
    let _all = [mem::TESTS, proc::TESTS, fs::TESTS];
    0
}
