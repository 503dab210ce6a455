//! Process-related system calls.

use crate::proc::{self, current};
use crate::syscall::{arg_addr, arg_int};
use crate::trap::{TICKS, ticks_chan};

pub fn sys_exit() -> i64 {
    proc::exit(arg_int(0))
}

pub fn sys_getpid() -> i64 {
    current().pid() as i64
}

pub fn sys_fork() -> i64 {
    proc::fork() as i64
}

pub fn sys_wait() -> i64 {
    proc::wait(arg_addr(0)) as i64
}

/// Grows memory by n bytes; returns the old end of memory.
#[doc(alias = "growproc")]
pub fn sys_sbrk() -> i64 {
    let n = arg_int(0);
    let addr = crate::proc::with_current_memory(|m| m.size());
    match proc::grow(n as isize) {
        Ok(()) => addr as i64,
        Err(()) => -1,
    }
}

#[inline(never)]
pub fn sys_sleep() -> i64 {
    let n = arg_int(0).max(0) as u64;
    crate::hooks::sleep_syscall();
    let mut t = TICKS.lock();
    let start = *t;
    while *t - start < n {
        if current().is_killed() {
            return -1;
        }
        t = proc::sleep(ticks_chan(), t);
    }
    0
}

pub fn sys_kill() -> i64 {
    proc::kill(arg_int(0)) as i64
}

/// Ticks since boot.
pub fn sys_uptime() -> i64 {
    *TICKS.lock() as i64
}
