//! Lab backtrace: print the kernel call stack by walking frame pointers.
//!
//! With frame pointers, s0 (fp) of each function points just above its
//! frame record: the return address at fp-8 and the caller's fp at fp-16.
//! The walk stops when fp leaves the current kernel stack.
//!
//! Hook used: `backtrace` (called by `sys_sleep` and by `panic`).

use kernel_base::println;

/// Prints `backtrace:` and one return address per line, innermost first.
/// Never inlined: it must have a frame of its own, whose return address is
/// the first one printed (in its caller).
#[inline(never)]
pub fn backtrace() {
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
    use kernel_base::proc::{KSTACK_SIZE, myproc};
    if let Some(p) = myproc() {
        let base = p.data().kstack;
        if (base..=base + KSTACK_SIZE).contains(&fp) {
            return (base, base + KSTACK_SIZE);
        }
    }
    let size = kernel_base::start::BOOT_STACK_SIZE;
    let base = fp & !(size - 1);
    (base, base + size)
}
// END SOLUTION
