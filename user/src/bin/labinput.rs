#![no_std]
#![no_main]
//! labinput: the lab system calls given bad input get an error or kill the
//! caller, never crash the kernel. Works with any set of labs enabled: a
//! missing lab's calls must simply fail.
//!
//! Prints `labinput: <case> ok` per case and `labinput: ALL OK` at the end,
//! or `labinput: <case> FAILED (<why>)` and exits 1.

use abi::memlayout::{KERNBASE, MAXVA};
use user::*;

entry!(main);

fn fail(case: &str, why: &str) -> ! {
    println!("labinput: {} FAILED ({})", case, why);
    exit(1)
}

/// Runs `f` in a child and returns its exit status (-1 if it was killed).
fn in_child(case: &str, f: fn()) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(case, "fork failed");
    }
    if pid == 0 {
        f();
        exit(0);
    }
    let mut status = 0;
    if wait(Some(&mut status)) != pid {
        fail(case, "wait failed");
    }
    status
}

fn has_trace() -> bool {
    trace(0) == 0
}

fn has_alarm() -> bool {
    sigalarm(0, 0) == 0
}

fn trace_masks() {
    let present = has_trace();
    for mask in [-1, i32::MIN, 1 << 30, 0x7fff_ffff] {
        let r = trace(mask);
        if present && r != 0 {
            fail("trace masks", "a mask was refused");
        }
        // Trace every call, including ones with no name, then stop.
        // SAFETY: number 99 is unknown to the kernel; no pointers.
        unsafe { user::sys::syscall(99, [0; 6]) };
        trace(0);
    }
    println!("labinput: trace masks ok");
}

fn sysinfo_pointers() {
    for bad in [
        0usize,
        KERNBASE,
        MAXVA - 8,
        MAXVA,
        usize::MAX - 7,
        0xeaeb_0b5b_0000_2f5e,
    ] {
        // SAFETY: the kernel must refuse these without writing anywhere.
        let r = unsafe { user::sys::sysinfo(bad as *mut SysInfo) };
        if r != -1 {
            fail("sysinfo pointers", "a bad pointer was accepted");
        }
    }
    println!("labinput: sysinfo pointers ok");
}

fn alarm_arguments() {
    let present = has_alarm();
    if sigalarm(-1, 0) != -1 || sigalarm(i32::MIN, 0) != -1 {
        fail("sigalarm arguments", "negative ticks were accepted");
    }
    // No handler is running: there is nothing to return to.
    if sigreturn() != -1 {
        fail(
            "sigalarm arguments",
            "sigreturn outside a handler did not fail",
        );
    }
    if present && sigalarm(0, 0) != 0 {
        fail("sigalarm arguments", "sigalarm(0, 0) failed");
    }
    println!("labinput: sigalarm arguments ok");
}

/// Spins long enough for several alarm ticks.
fn spin() {
    let mut i: u64 = 0;
    while i < 400_000_000 {
        i = core::hint::black_box(i + 1);
    }
}

fn alarm_bad_handlers() {
    let present = has_alarm();
    for handler in [KERNBASE, MAXVA, usize::MAX & !3, 0x1234_5678_0000] {
        HANDLER.store(handler, core::sync::atomic::Ordering::SeqCst);
        let status = in_child("sigalarm bad handler", || {
            let h = HANDLER.load(core::sync::atomic::Ordering::SeqCst);
            if sigalarm(1, h) != 0 {
                // The lab is missing: nothing more to try.
                exit(0);
            }
            spin();
            exit(2)
        });
        // With the lab, jumping to the handler faults and kills the child.
        let ok = if present { status == -1 } else { status == 0 };
        if !ok {
            fail(
                "sigalarm bad handler",
                "the child was not killed at the bad handler",
            );
        }
    }
    println!("labinput: sigalarm bad handler ok");
}

static HANDLER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn main(_args: Args) -> i32 {
    trace_masks();
    sysinfo_pointers();
    alarm_arguments();
    alarm_bad_handlers();
    println!("labinput: ALL OK");
    0
}
