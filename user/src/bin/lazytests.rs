#![no_std]
#![no_main]
//! lazytests (lazy lab): sbrk only grows the size, pages come on the first
//! fault, shrinking unmaps, and running out of memory in a fault kills.
//!
//! Prints `lazytests starting`, then per test `test <name>: OK` or
//! `test <name>: FAILED` (whole lines, after the test's process is gone, so
//! the kernel's reports of the processes it kills never split them), then
//! `ALL TESTS PASSED` or `SOME TESTS FAILED`. A failing test says why on a
//! line of its own first. Without lazy allocation sbrk(1 GiB) fails, and so
//! do the tests, at once.

use abi::console;
use abi::memlayout::PGSIZE;
use core::arch::asm;
use user::*;

entry!(main);

const GIB: usize = 1 << 30;

/// Ends the test's process with a reason.
fn fail(name: &str, why: &str) -> ! {
    println!("{}: {}", name, why);
    exit(1)
}

/// Loads the byte at `addr`, an address the process may not own.
fn peek(addr: usize) -> u8 {
    let v: u8;
    // SAFETY: one load outside Rust's view of memory; a fault ends the
    // process, which is what the callers test.
    unsafe {
        asm!("lbu {v}, 0({a})", a = in(reg) addr, v = out(reg) v, options(nostack, readonly))
    };
    v
}

/// Stores `v` at `addr`, an address the process may not own.
fn poke(addr: usize, v: u8) {
    // SAFETY: as for peek; no Rust object lives at `addr`.
    unsafe { asm!("sb {v}, 0({a})", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

/// The value a test stores at `addr`: different for every address, so a
/// page mapped at the wrong place or shared by mistake shows.
fn value(addr: usize) -> u64 {
    (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a
}

/// Grows the heap by 1 GiB; returns its old end.
fn grow_1g(name: &str) -> usize {
    let a = sbrk(GIB as i32);
    if sbrk_failed(a) {
        fail(name, "sbrk(1 GiB) failed");
    }
    a as usize
}

/// Writes every 64th page of 1 GiB, at an offset that moves from page to
/// page, and reads it all back; pages in between must read as zero.
fn lazy_alloc(name: &str) {
    let a = grow_1g(name);
    let slot = |i: usize| a + i * 64 * PGSIZE + (i * 8) % PGSIZE;
    let pages = GIB / PGSIZE / 64;
    for i in 0..pages {
        let p = slot(i) as *mut u64;
        // SAFETY: inside the 1 GiB just added; aligned to 8.
        unsafe { p.write_volatile(value(p as usize)) };
    }
    for i in 0..pages {
        let p = slot(i) as *const u64;
        // SAFETY: as above.
        if unsafe { p.read_volatile() } != value(p as usize) {
            fail(name, "a page lost its value");
        }
        let between = a + i * 64 * PGSIZE + 32 * PGSIZE;
        if i % 16 == 0 && peek(between) != 0 {
            fail(name, "a never-written page is not zero");
        }
    }
    if sbrk(-(GIB as i32)) as usize != a + GIB || sbrk(0) as usize != a {
        fail(name, "sbrk(-1 GiB) failed");
    }
}

/// Children give back the 1 GiB and touch a page they had: they must be
/// killed, and the parent's pages keep their values.
fn lazy_unmap(name: &str) {
    let a = grow_1g(name);
    let stride = 16 * 1024 * 1024;
    for off in (0..GIB).step_by(stride) {
        let p = (a + off) as *mut u64;
        // SAFETY: inside the 1 GiB just added; aligned to 8.
        unsafe { p.write_volatile(value(p as usize)) };
    }
    for (k, off) in (0..GIB).step_by(4 * stride).enumerate() {
        let pid = fork();
        if pid < 0 {
            fail(name, "fork failed");
        }
        if pid == 0 {
            if sbrk(-(GIB as i32)) as usize != a + GIB || sbrk(0) as usize != a {
                exit(2);
            }
            // Half the children load, half store.
            if k % 2 == 0 {
                peek(a + off);
            } else {
                poke(a + off, 1);
            }
            exit(0);
        }
        let mut status = 0;
        if wait(Some(&mut status)) != pid {
            fail(name, "wait failed");
        }
        match status {
            -1 => {}
            0 => fail(name, "a child touched memory it gave back and lived"),
            2 => fail(name, "a child's sbrk(-1 GiB) failed"),
            _ => fail(name, "a child exited oddly"),
        }
    }
    for off in (0..GIB).step_by(stride) {
        let p = (a + off) as *const u64;
        // SAFETY: still ours: only the children shrank.
        if unsafe { p.read_volatile() } != value(p as usize) {
            fail(name, "the parent's page changed");
        }
    }
}

/// A child grows and writes page after page: the kernel runs out of memory
/// in a page fault and must kill it, where an eager kernel's sbrk fails.
fn out_of_memory(name: &str) {
    let pid = fork();
    if pid < 0 {
        fail(name, "fork failed");
    }
    if pid == 0 {
        const CHUNK: usize = 1 << 20;
        loop {
            let a = sbrk(CHUNK as i32);
            if sbrk_failed(a) {
                exit(2);
            }
            for p in (a as usize..a as usize + CHUNK).step_by(PGSIZE) {
                poke(p, 1);
            }
        }
    }
    let mut status = 0;
    if wait(Some(&mut status)) != pid {
        fail(name, "wait failed");
    }
    match status {
        -1 => {}
        2 => fail(name, "sbrk failed before memory ran out: not lazy"),
        _ => fail(name, "the child was not killed"),
    }
}

/// A test: its name, and its body, which fails by exiting non-zero.
type Test = (&'static str, fn(&str));

const TESTS: [Test; 3] = [
    ("lazy alloc", lazy_alloc),
    ("lazy unmap", lazy_unmap),
    ("out of memory", out_of_memory),
];

/// Runs one test in a child process, so a crash fails only that test.
fn run(name: &str, f: fn(&str)) -> bool {
    let pid = fork();
    if pid < 0 {
        println!("lazytests: fork failed");
        exit(1);
    }
    if pid == 0 {
        f(name);
        exit(0);
    }
    let mut status = 0;
    let ok = wait(Some(&mut status)) == pid && status == 0;
    println!("{}", console::TestLine { name, ok });
    ok
}

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    println!("lazytests starting");
    let mut ok = true;
    for (name, f) in TESTS {
        ok &= run(name, f);
    }
    println!("{}", console::suite_end(ok));
    if ok { 0 } else { 1 }
}
