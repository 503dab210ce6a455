#![no_std]
#![no_main]
//! alarmtest (alarm lab): tests sigalarm/sigreturn.
//! test0: the handler is called at all; test1: it is called repeatedly, at
//! the requested period, and the interrupted code resumes correctly; test2:
//! it is not re-entered while it runs; test3: sigreturn restores a0.

use core::hint::black_box;
use core::sync::atomic::{AtomicI32, Ordering};
use user::*;

entry!(main);

static COUNT: AtomicI32 = AtomicI32::new(0);

fn count() -> i32 {
    COUNT.load(Ordering::SeqCst)
}

/// Handlers are entered by the kernel, not called: they have no return
/// address, and leave only through sigreturn.
extern "C" fn periodic() -> ! {
    COUNT.fetch_add(1, Ordering::SeqCst);
    println!("alarm!");
    sigreturn();
    unreachable_after_sigreturn()
}

fn unreachable_after_sigreturn() -> ! {
    println!("alarmtest: sigreturn returned to the handler");
    exit(1)
}

/// Computes, printing a dot now and then, until the handler has been
/// called or a long time has passed.
fn spin_until_called() {
    let mut i: u64 = 0;
    while i < 1000 * 500_000 {
        if i.is_multiple_of(1_000_000) {
            write(2, b".");
        }
        if count() > 0 {
            break;
        }
        i = black_box(i + 1);
    }
}

fn test0() {
    println!("test0 start");
    COUNT.store(0, Ordering::SeqCst);
    if sigalarm(2, periodic as *const () as usize) < 0 {
        println!("test0 failed: sigalarm failed");
        return;
    }
    spin_until_called();
    sigalarm(0, 0);
    if count() > 0 {
        println!("test0 passed");
    } else {
        println!("\ntest0 failed: the kernel never called the alarm handler");
    }
}

#[inline(never)]
fn foo(i: u64, j: &mut u64) {
    if i.is_multiple_of(2_500_000) {
        write(2, b".");
    }
    *j = black_box(*j + 1);
}

fn test1() {
    println!("test1 start");
    COUNT.store(0, Ordering::SeqCst);
    let mut j: u64 = 0;
    let start = uptime();
    if sigalarm(2, periodic as *const () as usize) < 0 {
        println!("test1 failed: sigalarm failed");
        return;
    }
    let mut i: u64 = 0;
    while i < 500_000_000 {
        if count() >= 10 {
            break;
        }
        foo(i, &mut j);
        i = black_box(i + 1);
    }
    sigalarm(0, 0);
    let elapsed = uptime() - start;
    if count() < 10 {
        println!("\ntest1 failed: too few calls to the handler");
    } else if i != j {
        println!("\ntest1 failed: foo() executed fewer times than it was called");
    } else if elapsed < 15 {
        // Ten alarms every 2 ticks are 20 ticks of the harts the process
        // ran on, but uptime counts hart 0's, which loses ticks while QEMU
        // deschedules it, and a move to another hart can bring the next
        // tick early: a correct kernel can show fewer than 20. A handler
        // called every tick shows about 10.
        println!(
            "\ntest1 failed: handler called every {} ticks, not every 2",
            elapsed / 10
        );
    } else {
        println!("test1 passed");
    }
}

extern "C" fn slow_handler() -> ! {
    let c = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    println!("alarm!");
    if c > 1 {
        println!("test2 failed: alarm handler called more than once");
        exit(1);
    }
    let mut i: u64 = 0;
    while i < 1000 * 500_000 / 4 {
        i = black_box(i + 1);
    }
    sigalarm(0, 0);
    sigreturn();
    unreachable_after_sigreturn()
}

fn test2() {
    println!("test2 start");
    let pid = fork();
    if pid < 0 {
        println!("test2: fork failed");
        exit(1);
    }
    if pid == 0 {
        COUNT.store(0, Ordering::SeqCst);
        if sigalarm(2, slow_handler as *const () as usize) < 0 {
            println!("test2 failed: sigalarm failed");
            exit(1);
        }
        spin_until_called();
        if count() == 0 {
            println!("\ntest2 failed: alarm not called");
            exit(1);
        }
        exit(0);
    }
    // A sentinel no child exits with: a wait that fails leaves it, and
    // test2 then fails rather than reading as the child's 0.
    let mut status = i32::MIN;
    let waited = wait(Some(&mut status));
    if waited != pid {
        println!("test2 failed: wait returned {waited}, not child {pid}");
    } else if status == 0 {
        println!("test2 passed");
    } else {
        println!("test2 failed: child exited {status}");
    }
}

static HANDLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn dummy_handler() -> ! {
    sigalarm(0, 0);
    HANDLED.store(1, Ordering::SeqCst);
    sigreturn();
    unreachable_after_sigreturn()
}

fn test3() {
    println!("test3 start");
    HANDLED.store(0, Ordering::SeqCst);
    if sigalarm(1, dummy_handler as *const () as usize) < 0 {
        println!("test3 failed: sigalarm failed");
        return;
    }
    let a0: usize;
    // Put a known value in a0, then spin (touching no other state that
    // compiled code could spill a0 for) until the handler has run.
    // SAFETY: only registers named here change; the flag is an atomic i32.
    unsafe {
        core::arch::asm!(
            "li a0, 0xac",
            "1: lw {t}, 0({flag})",
            "beqz {t}, 1b",
            "mv {out}, a0",
            flag = in(reg) HANDLED.as_ptr(),
            t = out(reg) _,
            out = lateout(reg) a0,
            out("a0") _,
        );
    }
    if a0 != 0xac {
        println!("test3 failed: register a0 changed");
    } else {
        println!("test3 passed");
    }
}

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    test0();
    test1();
    test2();
    test3();
    0
}
