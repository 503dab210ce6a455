//! The autograder: boots the kernel in QEMU, types commands at the shell,
//! checks the console against a TOML spec and reports scores.
//!
//! `registry` reads `labs/registry.toml`, what the labs are; `spec` reads
//! `labs/<lab>.toml`; `qemu` starts and drives QEMU, and
//! `calibrate` measures how fast it runs here; `host` runs host programs
//! for specs' host runs; `check`
//! judges a console; `symbols` names kernel addresses for backtraces;
//! `grade` schedules runs and judges tests; `report` formats results;
//! `args` defines the grader's options (the `grader` binary's and
//! `cargo xtask grade`'s); `cli` runs a grade from them;
//! `atomic` writes files whole or not at all.

pub mod args;
pub mod atomic;
pub mod calibrate;
pub mod check;
pub mod cli;
pub mod gdb;
pub mod grade;
pub mod hash;
pub mod host;
pub mod qemu;
pub mod registry;
pub mod report;
pub mod spec;
pub mod symbols;
