//! Lab alarm: `sigalarm(n, handler)` makes the process run `handler` after
//! every n ticks of CPU time; the handler ends with `sigreturn()`, which
//! resumes the interrupted code with all registers as they were.
//!
//! Hooks used: `syscalls` (SYS_sigalarm, SYS_sigreturn) and
//! `user_timer_tick`. A new process (a `fork` child too) has no alarm:
//! `PerProc` starts every process from the initial value.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::hooks::Lab;
use kernel_base::proc::{Proc, TrapFrame};
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use kernel_base::proc::{PerProc, current, current_trapframe};
use kernel_base::syscall::{arg_int, arg_raw};
// END SOLUTION

pub struct Alarm;

// BEGIN SOLUTION
#[derive(Clone, Copy)]
struct State {
    /// Ticks between calls; 0 means no alarm.
    interval: i32,
    handler: usize,
    /// Ticks since the handler last ran.
    ticks: i32,
    /// The handler is running (it is not re-entered).
    in_handler: bool,
    /// User registers at the moment the handler was called.
    saved: TrapFrame,
}

static ALARM: PerProc<State> = PerProc::new(|| State {
    interval: 0,
    handler: 0,
    ticks: 0,
    in_handler: false,
    saved: TrapFrame::ZERO,
});
// END SOLUTION

impl Lab for Alarm {
    fn name(&self) -> &'static str {
        "alarm"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(nr::sigalarm, sys_sigalarm), (nr::sigreturn, sys_sigreturn)]
    }

    /// A timer tick while `p` ran in user mode; `tf` holds its registers.
    fn user_timer_tick(&self, p: &Proc, tf: &mut TrapFrame) {
        // BEGIN SOLUTION
        ALARM.with(p, |a| {
            if a.interval == 0 || a.in_handler {
                return;
            }
            a.ticks += 1;
            if a.ticks >= a.interval {
                a.ticks = 0;
                a.in_handler = true;
                a.saved = *tf;
                // usertrapret returns to the handler instead.
                tf.epc = a.handler;
            }
        });
        // END SOLUTION
        // STARTER: let _ = (p, tf);
    }
}

/// `sigalarm(ticks, handler)`; `sigalarm(0, 0)` turns the alarm off.
/// Negative ticks are an error.
fn sys_sigalarm() -> i64 {
    // BEGIN SOLUTION
    let interval = arg_int(0);
    if interval < 0 {
        return -1;
    }
    let handler = arg_raw(1);
    ALARM.with(current(), |a| {
        a.interval = interval;
        a.handler = handler;
        a.ticks = 0;
    });
    0
    // END SOLUTION
    // STARTER: todo!("alarm: remember the interval and the handler")
    // NEUTRAL: 0
}

/// `sigreturn()`: back from the handler to the interrupted code. Returns
/// the interrupted a0, so that the system call's return leaves a0 intact.
fn sys_sigreturn() -> i64 {
    // BEGIN SOLUTION
    let saved = ALARM.with(current(), |a| {
        let was = a.in_handler;
        a.in_handler = false;
        was.then_some(a.saved)
    });
    match saved {
        Some(tf) => {
            *current_trapframe() = tf;
            tf.a0 as i64
        }
        // Not in a handler: nothing to return to.
        None => -1,
    }
    // END SOLUTION
    // STARTER: todo!("alarm: restore the registers saved when the handler was called")
    // NEUTRAL: 0
}
