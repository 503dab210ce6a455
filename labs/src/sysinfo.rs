//! Lab sysinfo: a `sysinfo(struct sysinfo *)` system call reporting the
//! bytes of free memory and the number of processes in use.
//!
//! Hook used: `syscalls` (SYS_sysinfo). The kernel pieces to read:
//! `kalloc::for_each_free_page` and the process table `proc::PROCS`.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::hooks::Lab;
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use abi::SysInfo;
use abi::memlayout::PGSIZE;
use kernel_base::kalloc;
use kernel_base::proc::{PROCS, ProcState};
use kernel_base::syscall::{arg_addr, copy_out};
// END SOLUTION

pub struct Sysinfo;

impl Lab for Sysinfo {
    fn name(&self) -> &'static str {
        "sysinfo"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(nr::sysinfo, sys_sysinfo)]
    }
}

/// `sysinfo(info)`: fills the user's `struct sysinfo`; -1 on a bad pointer.
fn sys_sysinfo() -> i64 {
    // BEGIN SOLUTION
    let info = SysInfo {
        freemem: free_memory(),
        nproc: process_count(),
    };
    match copy_out(arg_addr(0), &info.encode()) {
        Ok(()) => 0,
        Err(_) => -1,
    }
    // END SOLUTION
    // STARTER: todo!("sysinfo: fill in a SysInfo and copy it out")
    // NEUTRAL: 0
}

// BEGIN SOLUTION
/// Bytes on the allocator's free list.
fn free_memory() -> u64 {
    let mut pages = 0u64;
    kalloc::for_each_free_page(|_| pages += 1);
    pages * PGSIZE as u64
}

/// Processes whose state is not UNUSED.
fn process_count() -> u64 {
    PROCS
        .iter()
        .filter(|p| p.state() != ProcState::Unused)
        .count() as u64
}
// END SOLUTION
