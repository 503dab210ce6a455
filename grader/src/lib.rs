//! The autograder: boots the kernel in QEMU, types commands at the shell,
//! checks the console against a TOML spec and reports scores.

pub mod qemu;
pub mod cli;
