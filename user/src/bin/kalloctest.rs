#![no_std]
#![no_main]
//! kalloctest (lock lab): the page allocator under contention, in the
//! output of MIT's program.
//!
//! - test1: two children, on different harts when there are several, each
//!   grow and shrink the heap by a page ROUNDS times (default 100,000,
//!   MIT's), touching the page. The kmem locks' failed test-and-set total
//!   (the statistics device's `tot=` minus the bcache locks') must grow by
//!   less than 10: `test1 OK`. And the kmem locks must have done the work:
//!   acquired at least once per page allocated and freed, so that an
//!   allocator whose locks are named otherwise (whose contention the
//!   statistics do not show) fails rather than passes.
//! - test2: the free-page count is the same 50 times in a row (no page
//!   lost, none stranded): `test2 OK`.
//!
//! A statistics text that is missing or malformed is a FAIL (MIT's program
//! passes with none). Before test1's verdict it prints
//! `test1: 2 children x ROUNDS rounds` (the grader types a random ROUNDS).
//!
//! `kalloctest [ROUNDS] [test1|test2]...` runs the tests named (default
//! both).

use abi::memlayout::{KERNBASE, PGSIZE, PHYSTOP};
use user::*;

entry!(main);

const NCHILD: u64 = 2;
const PAGE: i32 = 4096;

fn test1(rounds: u64) -> bool {
    println!("start test1");
    let Some(before) = user::lockstat::stats("test1 FAIL", false) else {
        return false;
    };
    for _ in 0..NCHILD {
        let pid = fork();
        if pid < 0 {
            println!("test1 FAIL: fork failed");
            return false;
        }
        if pid == 0 {
            for _ in 0..rounds {
                let a = sbrk(PAGE);
                if sbrk_failed(a) {
                    println!("test1 FAIL: sbrk failed");
                    exit(1);
                }
                // SAFETY: sbrk just gave this process the page at `a`.
                unsafe { a.add(4).cast::<i32>().write_volatile(1) };
                let end = sbrk(-PAGE);
                if end as usize != a as usize + PAGE as usize {
                    println!("test1 FAIL: wrong sbrk");
                    exit(1);
                }
            }
            exit(0);
        }
    }
    let mut ok = true;
    for _ in 0..NCHILD {
        let mut status = 0;
        wait(Some(&mut status));
        ok &= status == 0;
    }
    println!("test1 results:");
    let Some(after) = user::lockstat::stats("test1 FAIL", true) else {
        return false;
    };
    println!("test1: {} children x {} rounds", NCHILD, rounds);
    if !ok {
        println!("test1 FAIL: a child failed");
        return false;
    }
    let spins = after.kmem_spins.saturating_sub(before.kmem_spins);
    let acquires = after.kmem_acquires.saturating_sub(before.kmem_acquires);
    // A page allocated and freed per round and child.
    let needed = 2 * NCHILD * rounds;
    if acquires < needed {
        println!(
            "test1 FAIL: the kmem locks were acquired {} times for {} page allocations and frees: \
             name the allocator's locks kmem...",
            acquires, needed
        );
        return false;
    }
    if spins >= 10 {
        println!(
            "test1 FAIL: {} failed test-and-sets on the kmem locks (want < 10)",
            spins
        );
        return false;
    }
    println!("test1 OK");
    true
}

/// The free pages, as `countfree` counts them, but in chunks: a child
/// grows its heap CHUNK pages at a time (halving the chunk when sbrk
/// fails, down to one page, so the count is exact), touching each page (so
/// that a lazy kernel allocates it), and reports each chunk through a
/// pipe. Fifty counts a page at a time would take minutes. With lazy
/// allocation (sbrk does not fail; the fault that finds no memory kills the
/// child) the count stops at the last whole chunk, the same each time
/// while no page is lost. `None` if the pipe, the fork or the child failed.
fn count_free() -> Option<usize> {
    const CHUNK: usize = 64;
    let mut fds = [0i32; 2];
    if pipe(&mut fds) < 0 {
        return None;
    }
    let pid = fork();
    if pid < 0 {
        close(fds[0]);
        close(fds[1]);
        return None;
    }
    if pid == 0 {
        close(fds[0]);
        // Copy the stack page now, while memory is plentiful: on a cow
        // kernel the parent's then needs no copy when none is left.
        let mut mine = 0u8;
        // SAFETY: a write to a local.
        unsafe { (&raw mut mine).write_volatile(1) };
        let mut chunk = CHUNK;
        while chunk > 0 {
            let a = sbrk((chunk * PGSIZE) as i32);
            if sbrk_failed(a) {
                chunk /= 2;
                continue;
            }
            for i in 0..chunk {
                // SAFETY: sbrk just gave this process these pages.
                unsafe { a.add(i * PGSIZE).write_volatile(1) };
            }
            if write(fds[1], &(chunk as u64).to_le_bytes()) != 8 {
                exit(1);
            }
        }
        exit(0);
    }
    close(fds[1]);
    let mut pages = 0;
    let mut n = [0u8; 8];
    while read(fds[0], &mut n) == 8 {
        pages += u64::from_le_bytes(n) as usize;
    }
    close(fds[0]);
    let mut status = 0;
    // Killed (-1) on a lazy kernel, 0 when sbrk failed for one page.
    (wait(Some(&mut status)) == pid && (status == 0 || status == -1)).then_some(pages)
}

fn test2() -> bool {
    println!("start test2");
    let Some(free0) = count_free() else {
        println!("test2 FAIL: cannot count the free pages");
        return false;
    };
    println!(
        "total free number of pages: {} (out of {})",
        free0,
        (PHYSTOP - KERNBASE) / PGSIZE
    );
    for _ in 0..50 {
        let n = count_free();
        if n != Some(free0) {
            println!("test2 FAIL: {:?} free pages, not {}: pages lost", n, free0);
            return false;
        }
    }
    println!("test2 OK");
    true
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let mut rounds = 100_000;
    let mut named: Vec<&str> = Vec::new();
    for a in args.iter().skip(1) {
        match a.parse::<u64>() {
            Ok(n) if n > 0 => rounds = n,
            _ if a == "test1" || a == "test2" => named.push(a),
            _ => {
                eprintln!("usage: kalloctest [ROUNDS] [test1|test2]...");
                return 1;
            }
        }
    }
    let run = |t: &str| named.is_empty() || named.contains(&t);
    let mut ok = true;
    if run("test1") {
        ok &= test1(rounds);
    }
    if run("test2") {
        ok &= test2();
    }
    if ok { 0 } else { 1 }
}
