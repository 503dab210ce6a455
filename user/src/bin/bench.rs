#![no_std]
#![no_main]
//! bench: in-guest timings for a host harness, read from the `time` CSR.
//!
//! `bench [figure]...`, all figures without arguments. One line per number,
//! `bench <name>: <number> <unit>`, or `bench <name>: failed`:
//! - `fork64`: fork of a process that has written 64 MiB of heap, as seen by
//!   the parent (`us`, mean of 5); `fork<N>` takes N MiB instead;
//! - `forkexec`: 100 fork + exec + wait of `echo` with no arguments
//!   (`ms`, total);
//! - `pipe`: 4 MiB through a pipe between two processes in 4 KiB writes
//!   (`MB/s`, 10^6 bytes);
//! - `file`: prints `file-write` and `file-read`, a 200 KiB file written
//!   and read back in 4 KiB calls (`ms` each);
//! - `sbrk1g`: prints `sbrk1g-grow` and `sbrk1g-shrink`, sbrk of 1 GiB and
//!   back (`us` each); `bench sbrk1g: failed` when the kernel refuses;
//! - `null`: a system call that does nothing (getpid), the mean of 10,000
//!   (`us`);
//! - `bigfile` (fs lab kernels only): prints `bigfile-write` and
//!   `bigfile-read`, a file of the most blocks the inode takes (65,803 with
//!   the fs lab) written and read back a block at a time (`ms` each);
//!   `failed` on another layout;
//! - `forktest`: what `forktest` does: fork until fork fails (at most
//!   1,000), then wait for every child (`ms`).
//! - `kmem`, `bcache` (not in the default list: they need the statistics
//!   of the lock lab's kernel): the kmem locks' failed test-and-sets while
//!   two children each sbrk a page and back 100,000 times (kalloctest's
//!   test1), and the bcache locks' while three children read a 6-block
//!   file of their own a byte at a time, 16 times (bcachetest's test0) (`tas`, a
//!   count; `failed` without statistics).

use abi::memlayout::PGSIZE;
use core::fmt;
use core::ptr::null;
use user::*;

entry!(main);

const FIGURES: [&str; 7] = [
    "null", "forktest", "fork64", "forkexec", "pipe", "file", "sbrk1g",
];
const MIB: usize = 1 << 20;

/// A tick count shown in a unit with one decimal.
struct Time {
    ticks: u64,
    per_unit: u64,
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.ticks * 10 / self.per_unit;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

fn us(ticks: u64) -> Time {
    Time {
        ticks,
        per_unit: TIME_HZ / 1_000_000,
    }
}

fn ms(ticks: u64) -> Time {
    Time {
        ticks,
        per_unit: TIME_HZ / 1_000,
    }
}

fn failed(name: &str) {
    println!("bench {}: failed", name);
}

/// fork of a process holding `mib` MiB it has written.
fn fork_big(name: &str, mib: usize) {
    const ROUNDS: u64 = 5;
    let bytes = mib * MIB;
    let Ok(n) = i32::try_from(bytes) else {
        return failed(name);
    };
    let a = sbrk(n);
    if sbrk_failed(a) {
        return failed(name);
    }
    for p in (a as usize..a as usize + bytes).step_by(PGSIZE) {
        // SAFETY: inside the memory sbrk just gave.
        unsafe { (p as *mut u8).write_volatile(1) };
    }
    let mut total = 0;
    for _ in 0..ROUNDS {
        let t0 = time();
        let pid = fork();
        if pid == 0 {
            exit(0);
        }
        total += time() - t0;
        if pid < 0 {
            sbrk(-n);
            return failed(name);
        }
        wait(None);
    }
    sbrk(-n);
    println!("bench {}: {} us", name, us(total / ROUNDS));
}

fn null_syscall(name: &str) {
    const ROUNDS: u64 = 10_000;
    let t0 = time();
    for _ in 0..ROUNDS {
        getpid();
    }
    let tenths = (time() - t0) * 10 / (TIME_HZ / 1_000_000) / ROUNDS;
    println!("bench {}: {}.{} us", name, tenths / 10, tenths % 10);
}

fn forktest(name: &str) {
    const MAX: usize = 1000;
    let t0 = time();
    let mut n = 0;
    while n < MAX {
        let pid = fork();
        if pid < 0 {
            break;
        }
        if pid == 0 {
            exit(0);
        }
        n += 1;
    }
    for _ in 0..n {
        if wait(None) < 0 {
            return failed(name);
        }
    }
    if n == MAX {
        // A kernel with room for 1,000 processes: not what forktest expects.
        return failed(name);
    }
    println!("bench {}: {} ms", name, ms(time() - t0));
}

fn forkexec(name: &str) {
    const ROUNDS: usize = 100;
    let argv = [c"echo".as_ptr().cast::<u8>(), null()];
    let t0 = time();
    for _ in 0..ROUNDS {
        let pid = fork();
        if pid == 0 {
            // SAFETY: NUL-terminated path, null-ended argv of static strings.
            unsafe { sys::exec(c"/echo".as_ptr().cast(), argv.as_ptr()) };
            exit(1);
        }
        let mut status = 0;
        if pid < 0 || wait(Some(&mut status)) != pid || status != 0 {
            return failed(name);
        }
    }
    println!("bench {}: {} ms", name, ms(time() - t0));
}

fn pipe_throughput(name: &str) {
    const TOTAL: usize = 4 * MIB;
    const CHUNK: usize = 4096;
    let mut buf = vec![0x5au8; CHUNK];
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        return failed(name);
    }
    let pid = fork();
    if pid == 0 {
        close(fds[0]);
        for _ in 0..TOTAL / CHUNK {
            if write(fds[1], &buf) != CHUNK as i32 {
                exit(1);
            }
        }
        exit(0);
    }
    close(fds[1]);
    if pid < 0 {
        close(fds[0]);
        return failed(name);
    }
    let t0 = time();
    let mut got = 0;
    while got < TOTAL {
        let n = read(fds[0], &mut buf);
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    let ticks = (time() - t0).max(1);
    close(fds[0]);
    let mut status = 0;
    wait(Some(&mut status));
    if got != TOTAL || status != 0 {
        return failed(name);
    }
    // Bytes per second, shown in MB/s with two decimals.
    let rate = TOTAL as u64 * TIME_HZ / ticks;
    println!(
        "bench {}: {}.{:02} MB/s",
        name,
        rate / 1_000_000,
        rate % 1_000_000 / 10_000
    );
}

fn file(name: &str) {
    const PATH: &str = "bench.tmp";
    const TOTAL: usize = 200 * 1024;
    const CHUNK: usize = 4096;
    let mut buf = vec![0xa5u8; CHUNK];
    unlink(PATH);
    let t0 = time();
    let fd = open(PATH, O_CREATE | O_WRONLY);
    let mut ok = fd >= 0;
    for _ in 0..TOTAL / CHUNK {
        ok = ok && write(fd, &buf) == CHUNK as i32;
    }
    close(fd);
    let t1 = time();
    let fd = open(PATH, O_RDONLY);
    let mut got = 0;
    loop {
        // A failed open reads as -1: the count stays short.
        let n = read(fd, &mut buf);
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    close(fd);
    let t2 = time();
    unlink(PATH);
    if !ok || got != TOTAL {
        return failed(name);
    }
    println!("bench {}-write: {} ms", name, ms(t1 - t0));
    println!("bench {}-read: {} ms", name, ms(t2 - t1));
}

fn bigfile(name: &str) {
    const PATH: &str = "bench.big";
    let blocks = abi::fs::Layout::Doubly.maxfile();
    let mut buf = vec![0x5au8; abi::fs::BSIZE];
    unlink(PATH);
    let t0 = time();
    let fd = open(PATH, O_CREATE | O_WRONLY);
    let mut written = 0;
    while fd >= 0 && write(fd, &buf) == buf.len() as i32 {
        written += 1;
    }
    close(fd);
    let t1 = time();
    let fd = open(PATH, O_RDONLY);
    let mut read_back = 0;
    while fd >= 0 && read(fd, &mut buf) == buf.len() as i32 {
        read_back += 1;
    }
    close(fd);
    let t2 = time();
    unlink(PATH);
    if written != blocks || read_back != blocks {
        return failed(name);
    }
    println!("bench {}-write: {} ms", name, ms(t1 - t0));
    println!("bench {}-read: {} ms", name, ms(t2 - t1));
}

fn sbrk1g(name: &str) {
    const GIB: i32 = 1 << 30;
    let t0 = time();
    let a = sbrk(GIB);
    let t1 = time();
    if sbrk_failed(a) {
        return failed(name);
    }
    let b = sbrk(-GIB);
    let t2 = time();
    if sbrk_failed(b) {
        return failed(name);
    }
    println!("bench {}-grow: {} us", name, us(t1 - t0));
    println!("bench {}-shrink: {} us", name, us(t2 - t1));
}

/// The kmem and bcache locks' failed test-and-sets so far.
fn lock_spins() -> Option<(u64, u64)> {
    let (_, t) = user::lockstat::read_totals().ok()?;
    Some((t.kmem_spins, t.bcache_spins))
}

/// Runs `work` in `n` children at once and waits for them; whether all
/// exited with 0.
fn in_children(n: usize, work: impl Fn(usize) -> bool) -> bool {
    for i in 0..n {
        let pid = fork();
        if pid < 0 {
            return false;
        }
        if pid == 0 {
            exit(if work(i) { 0 } else { 1 });
        }
    }
    let mut ok = true;
    for _ in 0..n {
        let mut status = 0;
        ok &= wait(Some(&mut status)) > 0 && status == 0;
    }
    ok
}

fn kmem(name: &str) {
    let Some((before, _)) = lock_spins() else {
        return failed(name);
    };
    let ok = in_children(2, |_| {
        (0..100_000).all(|_| {
            let a = sbrk(PGSIZE as i32);
            if sbrk_failed(a) {
                return false;
            }
            // SAFETY: sbrk just gave this process the page at `a`.
            unsafe { a.write_volatile(1) };
            !sbrk_failed(sbrk(-(PGSIZE as i32)))
        })
    });
    match lock_spins() {
        Some((after, _)) if ok => println!("bench {}: {} tas", name, after - before),
        _ => failed(name),
    }
}

fn bcache(name: &str) {
    const BLOCKS: usize = 6;
    let names = ["bench-b0", "bench-b1", "bench-b2"];
    let block = [0x5au8; abi::fs::BSIZE];
    for n in names {
        let fd = open(n, O_CREATE | O_RDWR);
        let written = (0..BLOCKS).all(|_| write(fd, &block) == block.len() as i32);
        close(fd);
        if fd < 0 || !written {
            return failed(name);
        }
    }
    let Some((_, before)) = lock_spins() else {
        return failed(name);
    };
    // bcachetest's sixteen passes over the file.
    let ok = in_children(3, |i| {
        (0..16).all(|_| {
            let fd = open(names[i], O_RDONLY);
            let mut c = [0u8; 1];
            let ok = fd >= 0 && (0..BLOCKS * block.len()).all(|_| read(fd, &mut c) == 1);
            close(fd);
            ok
        })
    });
    let after = lock_spins();
    for n in names {
        unlink(n);
    }
    match after {
        Some((_, after)) if ok => println!("bench {}: {} tas", name, after - before),
        _ => failed(name),
    }
}

/// Runs one figure; false if there is no such figure.
fn figure(name: &str) -> bool {
    match name {
        "null" => null_syscall(name),
        "forktest" => forktest(name),
        "forkexec" => forkexec(name),
        "pipe" => pipe_throughput(name),
        "file" => file(name),
        "sbrk1g" => sbrk1g(name),
        "kmem" => kmem(name),
        "bcache" => bcache(name),
        "bigfile" => bigfile(name),
        _ => match name.strip_prefix("fork").map(|n| n.parse::<usize>()) {
            Some(Ok(mib)) if mib > 0 => fork_big(name, mib),
            _ => return false,
        },
    }
    true
}

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        for name in FIGURES {
            figure(name);
        }
        return 0;
    }
    for name in args.iter().skip(1) {
        if !figure(name) {
            eprintln!(
                "usage: bench [null|forktest|fork64|fork<MiB>|forkexec|pipe|file|sbrk1g|kmem|bcache|bigfile]..."
            );
            return 1;
        }
    }
    0
}
