#![no_std]
#![no_main]
//! exhaust: memory exhaustion and fork storms must give everything back,
//! on every kernel (base, pgtbl, lazy, cow and their combinations).
//!
//! - `exhaust oom [cow] [ROUNDS]` (4 rounds unless told): a round's process forks a child that
//!   grows its heap by 1 GiB and touches it page by page until the kernel
//!   kills it (an eager kernel refuses the sbrk: the child then takes every
//!   page with small sbrks and writes a page it shares copy-on-write with
//!   its parent, which kills it on a cow kernel, `cow`; elsewhere it exits
//!   7). The round's `wait` must return that child with status -1 (or 7),
//!   the status written into a page shared copy-on-write with others, or
//!   onto the stack. Afterwards heap and stack still work, in this process
//!   and in a child, and the free pages are what they were.
//! - `exhaust storm`: hundreds of children that fork grandchildren and exit
//!   at once (the grandchildren go to init), then two children that each
//!   fork and wait for 1,000 children. No fork may fail, `wait` returns
//!   exactly our own children, and the free pages are what they were.
//! - `exhaust all [cow] [ROUNDS]`: both, counting the free pages once
//!   before and once after (counting is the slow part).
//!
//! Prints `exhaust: <case> ok` or `exhaust: <case> FAILED (<why>)`, and
//! last `exhaust: ALL OK` (exit 0) or `exhaust: FAILED` (exit 1).

use abi::memlayout::PGSIZE;
use user::*;

entry!(main);

/// The exit status of an eager kernel's memory eater that was not killed.
const SURVIVED: i32 = 7;
/// Of a child whose every check passed.
const PASSED: i32 = 42;

fn set(addr: usize, v: u8) {
    // SAFETY: callers pass addresses of heap pages this process owns.
    unsafe { (addr as *mut u8).write_volatile(v) }
}

fn get(addr: usize) -> u8 {
    // SAFETY: as for `set`.
    unsafe { (addr as *const u8).read_volatile() }
}

/// The memory eater: never returns.
fn eat(shared: usize) -> ! {
    let gib = 1 << 30;
    let base = sbrk(gib) as usize;
    if !sbrk_failed(base as *mut u8) {
        // Lazy: every page comes at its first touch, until none is left.
        let mut a = base;
        while a < base + gib as usize {
            set(a, 1);
            a += PGSIZE;
        }
        exit(3);
    }
    for step in [64 * PGSIZE, PGSIZE] {
        loop {
            let p = sbrk(step as i32);
            if sbrk_failed(p) {
                break;
            }
            let mut a = p as usize;
            while a < p as usize + step {
                set(a, 1);
                a += PGSIZE;
            }
        }
    }
    // Shared copy-on-write with the parents: a cow kernel needs a page.
    set(shared + 8, 1);
    exit(SURVIVED)
}

/// One round: the memory eater, then `wait`, with the status going to the
/// stack or to `shared` (a heap page this process shares copy-on-write
/// with its parent and the eater). Exits PASSED or 1.
fn oom_round(shared: usize, on_stack: bool, cow: bool) -> ! {
    let pid = fork();
    if pid < 0 {
        println!("exhaust: oom FAILED (fork failed)");
        exit(1);
    }
    if pid == 0 {
        eat(shared);
    }
    let mut status = 12345;
    let waited = if on_stack {
        wait(Some(&mut status))
    } else {
        // SAFETY: `shared` is a heap page of ours, 8-aligned here.
        // Not written here first: it stays shared until `wait` writes it.
        let slot = unsafe { &mut *(shared as *mut i32) };
        let w = wait(Some(&mut *slot));
        status = *slot;
        w
    };
    if waited != pid {
        println!(
            "exhaust: oom FAILED (wait returned {} for child {}, status {})",
            waited, pid, status
        );
        exit(1);
    }
    let ok = status == -1 || (!cow && status == SURVIVED);
    if !ok {
        println!("exhaust: oom FAILED (child {} exited with {})", pid, status);
        exit(1);
    }
    exit(PASSED)
}

/// Heap and stack work: grow, write, read back, shrink; recurse.
fn heap_and_stack() -> bool {
    let n = 256 * PGSIZE;
    let p = sbrk(n as i32);
    if sbrk_failed(p) {
        println!("exhaust: heap FAILED (sbrk of 1 MiB failed)");
        return false;
    }
    let base = p as usize;
    for i in 0..256 {
        set(base + i * PGSIZE + i, i as u8);
    }
    let good = (0..256).all(|i| get(base + i * PGSIZE + i) == i as u8);
    if sbrk_failed(sbrk(-(n as i32))) || !good {
        println!("exhaust: heap FAILED (pages lost their contents)");
        return false;
    }
    // About 2 KiB of the one-page stack.
    if depth(24, 0) != (0..24).sum::<u64>() {
        println!("exhaust: stack FAILED");
        return false;
    }
    true
}

/// Recursion with a small array per frame, so the stack is really used.
#[inline(never)]
fn depth(n: u64, acc: u64) -> u64 {
    let mut a = [0u8; 32];
    a[(n % 32) as usize] = n as u8;
    if n == 0 {
        return acc + a[0] as u64;
    }
    core::hint::black_box(&mut a);
    depth(n - 1, acc + n - 1) + a[(n % 32) as usize] as u64 - (n as u8) as u64
}

fn oom(cow: bool, rounds: usize) -> bool {
    // A page shared copy-on-write by this process, each round's process
    // and its memory eater (this process wrote it before forking).
    let shared = sbrk(PGSIZE as i32) as usize;
    if sbrk_failed(shared as *mut u8) {
        println!("exhaust: oom FAILED (no page to share)");
        return false;
    }
    set(shared, 1);
    for round in 0..rounds {
        let pid = fork();
        if pid < 0 {
            println!("exhaust: oom FAILED (fork failed)");
            return false;
        }
        if pid == 0 {
            oom_round(shared, round % 2 == 1, cow);
        }
        let mut status = 0;
        if wait(Some(&mut status)) != pid || status != PASSED {
            println!("exhaust: oom FAILED (round {})", round + 1);
            return false;
        }
    }
    if !heap_and_stack() {
        return false;
    }
    let pid = fork();
    if pid == 0 {
        exit(if heap_and_stack() { PASSED } else { 1 });
    }
    let mut status = 0;
    if pid < 0 || wait(Some(&mut status)) != pid || status != PASSED {
        println!("exhaust: oom FAILED (heap and stack in a child)");
        return false;
    }
    if sbrk_failed(sbrk(-(PGSIZE as i32))) {
        println!("exhaust: oom FAILED (cannot shrink)");
        return false;
    }
    println!("exhaust: oom ok ({} rounds)", rounds);
    true
}

/// Children that fork grandchildren and exit at once: the grandchildren
/// are re-parented to init. `wait` must give back exactly each child; a
/// fork that fails anywhere sends a byte through `report`.
fn reparent(report: i32) -> bool {
    for i in 0..300 {
        let pid = fork();
        if pid < 0 {
            println!("exhaust: reparent FAILED (fork failed at child {})", i);
            return false;
        }
        if pid == 0 {
            // Three grandchildren: two of ours, one of the first's.
            let a = fork();
            let b = fork();
            if a < 0 || b < 0 {
                write(report, b"f");
            }
            exit(0);
        }
        let mut status = 1;
        let waited = wait(Some(&mut status));
        if waited != pid || status != 0 {
            println!(
                "exhaust: reparent FAILED (wait gave {} status {}, not child {})",
                waited, status, pid
            );
            return false;
        }
    }
    // The grandchildren were orphaned: none became ours.
    let extra = wait(None);
    if extra != -1 {
        println!(
            "exhaust: reparent FAILED (wait gave {}: not our child)",
            extra
        );
        return false;
    }
    true
}

/// Two children that each fork and wait for 1,000 children.
fn pairs() -> bool {
    let mut kids = [0; 2];
    for k in kids.iter_mut() {
        *k = fork();
        if *k < 0 {
            println!("exhaust: pairs FAILED (fork failed)");
            return false;
        }
        if *k == 0 {
            for _ in 0..1000 {
                let pid = fork();
                if pid < 0 {
                    println!("exhaust: pairs FAILED (fork failed in a child)");
                    exit(1);
                }
                if pid == 0 {
                    exit(PASSED);
                }
                let mut status = 0;
                if wait(Some(&mut status)) != pid || status != PASSED {
                    println!("exhaust: pairs FAILED (wait in a child)");
                    exit(1);
                }
            }
            exit(PASSED);
        }
    }
    let mut ok = true;
    for _ in kids {
        let mut status = 0;
        let pid = wait(Some(&mut status));
        ok &= kids.contains(&pid) && status == PASSED;
    }
    if !ok {
        println!("exhaust: pairs FAILED");
    }
    ok
}

fn storm() -> bool {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        println!("exhaust: storm FAILED (pipe failed)");
        return false;
    }
    let mut ok = reparent(fds[1]);
    close(fds[1]);
    // End of file once every grandchild has exited.
    let mut buf = [0u8; 64];
    loop {
        let n = read(fds[0], &mut buf);
        if n <= 0 {
            break;
        }
        println!("exhaust: reparent FAILED (a grandchild's fork failed)");
        ok = false;
    }
    close(fds[0]);
    if ok {
        println!("exhaust: reparent ok");
    }
    if pairs() {
        println!("exhaust: pairs ok");
    } else {
        ok = false;
    }
    ok
}

/// Runs `f`, then checks that the free pages are what they were.
fn counted(f: impl FnOnce() -> bool) -> bool {
    let Some(before) = countfree() else {
        println!("exhaust: free pages FAILED (cannot count them)");
        return false;
    };
    let ok = f();
    match countfree() {
        Some(after) if after == before => {
            println!("exhaust: free pages ok ({})", before);
            ok
        }
        after => {
            println!(
                "exhaust: free pages FAILED ({} before, {:?} after)",
                before, after
            );
            false
        }
    }
}

fn main(args: Args) -> i32 {
    let cow = args.iter().skip(2).any(|a| a == "cow");
    let rounds = args
        .iter()
        .skip(2)
        .find(|a| a.bytes().all(|c| c.is_ascii_digit()))
        .map_or(4, |a| atoi(a) as usize);
    let ok = match args.get(1) {
        Some("oom") => counted(|| oom(cow, rounds)),
        Some("storm") => counted(storm),
        // Both, with one count of the free pages before and one after.
        Some("all") => counted(|| oom(cow, rounds) & storm()),
        _ => {
            eprintln!("usage: exhaust oom|storm|all [cow] [ROUNDS]");
            return 2;
        }
    };
    if ok {
        println!("exhaust: ALL OK");
        0
    } else {
        println!("exhaust: FAILED");
        1
    }
}
