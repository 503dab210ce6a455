//! Lab backtrace: print the kernel call stack by walking frame pointers.
//!
//! With frame pointers, s0 (fp) of each function points just above its
//! frame record: the return address at fp-8 and the caller's fp at fp-16.
//! The walk stops when fp leaves the current kernel stack.
//!
//! Hooks used: `sleep_syscall` (from `sys_sleep`) and `panic`.

use kernel_base::hooks::Lab;
use kernel_base::println;

pub struct Backtrace;

impl Lab for Backtrace {
    fn name(&self) -> &'static str {
        "backtrace"
    }

    /// Called from `sys_sleep`: the first address printed is in it.
    fn sleep_syscall(&self) {
        backtrace();
    }

    fn panic(&self) {
        backtrace();
    }
}

/// Prints `backtrace:` and one return address per line, innermost first.
/// Always inlined: it walks from the frame of the hook that calls it, whose
/// return address is the first one printed (in the hook's caller).
#[inline(always)]
fn backtrace() {
    println!("backtrace:");
    // BEGIN SOLUTION
    let mut fp = kernel_base::riscv::r_fp();
    let (bottom, top) = stack_bounds(fp);
    // The outermost frame (the trap handler's) starts at the top of the
    // stack; its caller is not a kernel function, so stop there.
    while fp >= bottom + 16 && fp < top {
        // SAFETY: fp-16..fp lies inside the kernel stack this function runs
        // on, where the frame records are.
        let (ra, prev) = unsafe { (*((fp - 8) as *const usize), *((fp - 16) as *const usize)) };
        println!("{:#018x}", ra);
        // Callers' frames are above; anything else is not a frame record.
        if prev <= fp {
            break;
        }
        fp = prev;
    }
    // END SOLUTION
}

// BEGIN SOLUTION
/// The bounds of the kernel stack holding `fp`: the current process's
/// kernel stack, or this hart's boot stack in the scheduler.
fn stack_bounds(fp: usize) -> (usize, usize) {
    if let Some(p) = kernel_base::proc::myproc() {
        let stack = p.kstack();
        if (stack.start..=stack.end).contains(&fp) {
            return (stack.start, stack.end);
        }
    }
    let size = kernel_base::start::BOOT_STACK_SIZE;
    let base = fp & !(size - 1);
    (base, base + size)
}
// END SOLUTION
