//! Lab trace: a `trace(mask)` system call. Every system call whose bit is
//! set in the calling process's mask prints `<pid>: syscall <name> -> <ret>`
//! when it returns; children inherit the mask.
//!
//! Hooks used: `syscalls` (SYS_trace), `syscall_return` and `fork`.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::hooks::Lab;
use kernel_base::proc::Proc;
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use kernel_base::println;
use kernel_base::proc::{PerProc, current};
use kernel_base::syscall::arg_int;
// END SOLUTION

pub struct Trace;

// BEGIN SOLUTION
/// Each process's trace mask: bit n traces system call n. A new process
/// starts with 0 (`PerProc` gives every process the initial value).
static MASK: PerProc<u32> = PerProc::new(|| 0);
// END SOLUTION

/// `trace(mask)`: sets the calling process's mask. Returns 0.
fn sys_trace() -> i64 {
    // BEGIN SOLUTION
    let mask = arg_int(0) as u32;
    MASK.with(current(), |m| *m = mask);
    0
    // END SOLUTION
    // STARTER: todo!("trace: remember the mask in the calling process")
    // NEUTRAL: 0
}

impl Lab for Trace {
    fn name(&self) -> &'static str {
        "trace"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(nr::trace, sys_trace)]
    }

    /// After system call `num` returned `ret` in process `p`.
    fn syscall_return(&self, p: &Proc, num: usize, ret: i64) {
        // BEGIN SOLUTION
        // A mask bit exists only for numbers below 32.
        let traced = num < 32 && MASK.with(p, |m| *m & (1 << num) != 0);
        if traced {
            let name = abi::syscall::name(num).unwrap_or("?");
            println!("{}: syscall {} -> {}", p.pid(), name, ret);
        }
        // END SOLUTION
        // STARTER: let _ = (p, num, ret);
    }

    /// `fork` made `child` from `parent`: the child inherits the mask.
    fn fork(&self, parent: &Proc, child: &Proc) {
        // BEGIN SOLUTION
        let mask = MASK.with(parent, |m| *m);
        MASK.with(child, |m| *m = mask);
        // END SOLUTION
        // STARTER: let _ = (parent, child);
    }
}
