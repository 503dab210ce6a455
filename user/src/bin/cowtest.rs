#![no_std]
#![no_main]
//! cowtest (cow lab): fork shares memory copy-on-write.
//!
//! Prints `simple: ok` twice (fork of a process holding 2/3 of the RAM: only
//! sharing makes it fit; the second run proves the first gave its memory
//! back), `three: ok` three times (three processes writing parts of shared
//! memory see only their own writes), `file: ok` (a pipe's read() into a
//! shared page changes only the reader's copy), then `ALL COW TESTS PASSED`.
//! On the first failure it prints `<test>: <what failed>` (for instance
//! `simple: fork() failed`) and exits with status 1.
//!
//! `cowtest simple|three|file...` runs only the tests named, each once.

use abi::memlayout::{KERNBASE, PGSIZE, PHYSTOP};
use core::cell::UnsafeCell;
use user::*;

entry!(main);

const RAM: usize = PHYSTOP - KERNBASE;

fn fail(test: &str, why: &str) -> ! {
    println!("{}: {}", test, why);
    exit(1)
}

/// The word at the start of the page at `page`.
fn get(page: usize) -> u32 {
    // SAFETY: callers pass page addresses inside memory sbrk gave them.
    unsafe { (page as *const u32).read_volatile() }
}

fn set(page: usize, v: u32) {
    // SAFETY: as for get.
    unsafe { (page as *mut u32).write_volatile(v) }
}

fn grow(test: &str, bytes: usize) -> usize {
    let p = sbrk(bytes as i32);
    if sbrk_failed(p) {
        println!("{}: sbrk({}) failed", test, bytes);
        exit(1);
    }
    p as usize
}

fn shrink(test: &str, bytes: usize) {
    if sbrk_failed(sbrk(-(bytes as i32))) {
        println!("{}: sbrk(-{}) failed", test, bytes);
        exit(1);
    }
}

fn fork_or_fail(test: &str) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(test, "fork() failed");
    }
    pid
}

/// Waits for a child and returns its exit status.
fn wait_child(test: &str) -> i32 {
    let mut status = 0;
    if wait(Some(&mut status)) < 0 {
        fail(test, "wait() failed");
    }
    status
}

/// Writes every page of 2/3 of the RAM, forks, and lets the child (which
/// only reads) exit: an eager fork has no room for the copy.
fn simple() {
    let sz = RAM / 3 * 2;
    let p = grow("simple", sz);
    let me = getpid() as u32;
    for q in (p..p + sz).step_by(PGSIZE) {
        set(q, me);
    }
    if fork_or_fail("simple") == 0 {
        for q in (p..p + sz).step_by(PGSIZE) {
            if get(q) != me {
                exit(1);
            }
        }
        exit(0);
    }
    if wait_child("simple") != 0 {
        fail("simple", "the child saw the wrong content");
    }
    shrink("simple", sz);
    println!("simple: ok");
}

/// A quarter of the RAM shared by a parent, a child and a grandchild, which
/// write different parts of it at the same time and check what they see.
fn three() {
    let sz = RAM / 4;
    let p = grow("three", sz);
    let end = p + sz;
    let half = p + sz / 2;
    // Pages are written from their start: a region ends on a page boundary.
    let four_fifths = p + (sz / 5 * 4).next_multiple_of(PGSIZE);
    const SHARED: u32 = 1111;
    for q in (p..end).step_by(PGSIZE) {
        set(q, SHARED);
    }
    // Every page from `from` to `to` holds `v`, or the process exits 1.
    let check = |from: usize, to: usize, v: u32| {
        for q in (from..to).step_by(PGSIZE) {
            if get(q) != v {
                println!("three: wrong content");
                exit(1);
            }
        }
    };
    if fork_or_fail("three") == 0 {
        if fork_or_fail("three") == 0 {
            let me = getpid() as u32;
            check(p, end, SHARED);
            for q in (p..four_fifths).step_by(PGSIZE) {
                set(q, me);
            }
            check(p, four_fifths, me);
            check(four_fifths, end, SHARED);
            exit(0);
        }
        for q in (p..half).step_by(PGSIZE) {
            set(q, 9999);
        }
        let grandchild = wait_child("three");
        check(p, half, 9999);
        check(half, end, SHARED);
        exit(if grandchild == 0 { 0 } else { 1 });
    }
    let me = getpid() as u32;
    for q in (half..end).step_by(PGSIZE) {
        set(q, me);
    }
    if wait_child("three") != 0 {
        fail("three", "a child saw the wrong content");
    }
    check(p, half, SHARED);
    check(half, end, me);
    shrink("three", sz);
    println!("three: ok");
}

/// Two pages of static data, page-aligned, for reads that straddle them.
#[repr(C, align(4096))]
struct Buf(UnsafeCell<[u8; 2 * PGSIZE]>);

// SAFETY: a process has one thread; the buffer is only touched through raw
// pointers, one access at a time.
unsafe impl Sync for Buf {}

static BUF: Buf = Buf(UnsafeCell::new([0; 2 * PGSIZE]));

const CHILDREN: usize = 4;
/// Where each child's read lands: across the boundary of the two pages.
const AT: usize = PGSIZE - 40;
const LEN: usize = 80;

fn buf_byte(i: usize) -> u8 {
    // SAFETY: callers keep `i` below the buffer's length.
    unsafe { BUF.0.get().cast::<u8>().add(i).read_volatile() }
}

/// Children read() from a pipe into a page they share with the parent:
/// the kernel's copyout must copy the page first.
fn file() {
    let base = BUF.0.get().cast::<u8>();
    for i in 0..2 * PGSIZE {
        // SAFETY: inside the buffer.
        unsafe { base.add(i).write_volatile(99) };
    }
    let mut writers = [0i32; CHILDREN];
    for c in 0..CHILDREN {
        let mut fds = [0; 2];
        if pipe(&mut fds) != 0 {
            fail("file", "pipe() failed");
        }
        if fork_or_fail("file") == 0 {
            close(fds[1]);
            // The earlier children's write ends: only the parent keeps them.
            for &other in &writers[..c] {
                close(other);
            }
            let mut got = 0;
            while got < LEN {
                // SAFETY: the kernel writes into the buffer at AT + got, at
                // most LEN - got bytes, inside its two pages.
                let n = unsafe { sys::read(fds[0], base.add(AT + got), (LEN - got) as i32) };
                if n <= 0 {
                    println!("file: error: read failed");
                    exit(1);
                }
                got += n as usize;
            }
            for i in 0..LEN {
                if buf_byte(AT + i) != c as u8 + i as u8 {
                    println!("file: error: read the wrong value");
                    exit(1);
                }
            }
            if buf_byte(AT - 1) != 99 || buf_byte(AT + LEN) != 99 {
                println!("file: error: read wrote outside its buffer");
                exit(1);
            }
            exit(0);
        }
        close(fds[0]);
        writers[c] = fds[1];
    }
    // All children hold the pages shared when their reads happen.
    for (c, &w) in writers.iter().enumerate() {
        let mut msg = [0u8; LEN];
        for (i, b) in msg.iter_mut().enumerate() {
            *b = c as u8 + i as u8;
        }
        if write(w, &msg) != LEN as i32 {
            fail("file", "error: write failed");
        }
        close(w);
    }
    for _ in 0..CHILDREN {
        if wait_child("file") != 0 {
            exit(1);
        }
    }
    if (0..2 * PGSIZE).any(|i| buf_byte(i) != 99) {
        fail("file", "error: child overwrote parent");
    }
    println!("file: ok");
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    if args.len() > 1 {
        for name in args.iter().skip(1) {
            match name {
                "simple" => simple(),
                "three" => three(),
                "file" => file(),
                _ => {
                    eprintln!("usage: cowtest [simple|three|file]...");
                    return 1;
                }
            }
        }
        return 0;
    }
    simple();
    simple();
    three();
    three();
    three();
    file();
    println!("ALL COW TESTS PASSED");
    0
}
