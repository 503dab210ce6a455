#![no_std]
#![no_main]
//! randlab: the randomised half of the lab tests. The grader draws the
//! numbers from its seed and types them here; each result goes through the
//! lab's kernel code, so no fixed output (a recorded console, a kernel that
//! prints what the tests expect) gets them right for another seed.
//!
//! - `randlab trace N` (run under `trace MASK`): pipe, write N bytes, read
//!   them, dup, getpid, close, and nothing else, so the kernel traces
//!   exactly the calls MASK selects. Prints nothing when all went well.
//! - `randlab sysinfo PAGES PROCS`: how much sysinfo's freemem falls when
//!   PAGES heap pages are written, and how much nproc rises with PROCS
//!   more processes: `randlab sysinfo: 37 pages, 4 processes`.
//! - `randlab pgtbl WRITES OPENS`: how much the statistics device's counts
//!   rise over WRITES small pipe writes (a copyin each) and OPENS opens of
//!   a missing file (a copyinstr each): `randlab pgtbl: copyin +W, copyinstr +O`.
//! - `randlab alarm INTERVAL TICKS`: how often an alarm of INTERVAL ticks
//!   calls its handler while the program computes for TICKS ticks of time
//!   on its hart (time it was away, descheduled, does not count):
//!   `randlab alarm: interval 3, 11 calls in 36 ticks`.
//! - `randlab lazy BASE PAGES`: sbrk(1 GiB), writes BASE + i to PAGES pages
//!   spread over it, reads them back: `randlab lazy: PAGES pages, sum S`.
//! - `randlab cow BASE PAGES WRITES`: writes BASE + i to PAGES pages (2/3
//!   of memory), forks; the child adds 1 to WRITES of them, and each sums
//!   all: `randlab cow: child sum S+WRITES`, then `randlab cow: parent sum S`.
//!
//! On an error it prints `randlab <test>: <what failed>` and exits 1.

use abi::memlayout::{PGSIZE, TIMER_INTERVAL};
use core::hint::black_box;
use core::sync::atomic::{AtomicI32, Ordering};
use user::*;

entry!(main);

fn fail(test: &str, why: &str) -> ! {
    println!("randlab {}: {}", test, why);
    exit(1)
}

/// Argument `i` as a positive number, or the usage message.
fn number(args: &Args, i: usize) -> u64 {
    let n = args.bytes(i).map_or(0, atoi);
    if n <= 0 {
        usage()
    }
    n as u64
}

fn usage() -> ! {
    eprintln!(
        "usage: randlab trace N | sysinfo PAGES PROCS | pgtbl WRITES OPENS | \
         alarm INTERVAL TICKS | lazy BASE PAGES | cow BASE PAGES WRITES"
    );
    exit(1)
}

/// Only the calls the trace test counts: no printing, no heap.
fn trace(n: usize) {
    let mut buf = [0x5au8; 511];
    if n > buf.len() {
        fail("trace", "N must fit in a pipe (at most 511)");
    }
    let mut fds = [0i32; 2];
    if pipe(&mut fds) != 0 {
        fail("trace", "pipe failed");
    }
    if write(fds[1], &buf[..n]) != n as i32 {
        fail("trace", "write failed");
    }
    if read(fds[0], &mut buf[..n]) != n as i32 {
        fail("trace", "read failed");
    }
    // 0, 1, 2 are the console and 3, 4 the pipe: dup gives 5.
    let fd = dup(fds[0]);
    if fd != 5 {
        fail("trace", "dup did not give 5");
    }
    getpid();
    if close(fd) != 0 {
        fail("trace", "close failed");
    }
}

fn info() -> SysInfo {
    let mut info = SysInfo::default();
    if sysinfo(&mut info) < 0 {
        fail("sysinfo", "sysinfo failed");
    }
    info
}

fn sysinfo_test(pages: u64, procs: u64) {
    let before = info().freemem;
    let p = sbrk((pages as usize * PGSIZE) as i32);
    if sbrk_failed(p) {
        fail("sysinfo", "sbrk failed");
    }
    // Written, so that a lazy kernel allocates them too.
    for i in 0..pages as usize {
        // SAFETY: inside the memory sbrk just gave this process.
        unsafe { p.add(i * PGSIZE).write_volatile(1) };
    }
    let used = before.saturating_sub(info().freemem);
    sbrk(-((pages as usize * PGSIZE) as i32));
    // Children that wait on a pipe until all of them are counted.
    let mut fds = [0i32; 2];
    if pipe(&mut fds) != 0 {
        fail("sysinfo", "pipe failed");
    }
    let nproc = info().nproc;
    for _ in 0..procs {
        let pid = fork();
        if pid < 0 {
            fail("sysinfo", "fork failed");
        }
        if pid == 0 {
            close(fds[1]);
            let mut b = [0u8];
            read(fds[0], &mut b);
            exit(0);
        }
    }
    let more = info().nproc.saturating_sub(nproc);
    close(fds[1]);
    for _ in 0..procs {
        wait(None);
    }
    if !used.is_multiple_of(PGSIZE as u64) {
        fail(
            "sysinfo",
            "freemem fell by a number of bytes that is not whole pages",
        );
    }
    println!(
        "randlab sysinfo: {} pages, {} processes",
        used / PGSIZE as u64,
        more
    );
}

/// The statistics device's counts: (copyin, copyinstr), read to its end.
fn stats(fd: i32) -> (u64, u64) {
    // Room for the lock lab's text too, which follows in a kernel with
    // both: on the heap, as the stack is one page.
    let mut text = vec![0u8; 8192];
    let mut len = 0;
    loop {
        let n = read(fd, &mut text[len..]);
        // -1 after the last byte (xv6's protocol); -1 at once: no device.
        if n < 0 && len == 0 {
            fail("pgtbl", "cannot read the statistics device");
        }
        if n <= 0 {
            break;
        }
        len += n as usize;
        if len == text.len() {
            fail("pgtbl", "the statistics device says too much");
        }
    }
    let count = |name: &[u8]| -> u64 {
        text[..len]
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(name))
            .map_or(u64::MAX, |n| atoi(n) as u64)
    };
    let (copyin, copyinstr) = (count(b"copyin: "), count(b"copyinstr: "));
    if copyin == u64::MAX || copyinstr == u64::MAX {
        fail("pgtbl", "the statistics device lacks a count");
    }
    (copyin, copyinstr)
}

fn pgtbl(writes: u64, opens: u64) {
    let fd = open("statistics", O_RDONLY);
    if fd < 0 {
        fail("pgtbl", "no statistics device");
    }
    let mut fds = [0i32; 2];
    if pipe(&mut fds) != 0 {
        fail("pgtbl", "pipe failed");
    }
    let before = stats(fd);
    // 8 bytes divide the pipe's 512: no write wraps around its buffer,
    // so each is one copy from user memory.
    let mut buf = [7u8; 8];
    for _ in 0..writes {
        if write(fds[1], &buf) != 8 || read(fds[0], &mut buf) != 8 {
            fail("pgtbl", "pipe write or read failed");
        }
    }
    for _ in 0..opens {
        if open("randlab-no-such-file", O_RDONLY) >= 0 {
            fail("pgtbl", "a missing file opened");
        }
    }
    let after = stats(fd);
    println!(
        "randlab pgtbl: copyin +{}, copyinstr +{}",
        after.0 - before.0,
        after.1 - before.1
    );
}

static CALLS: AtomicI32 = AtomicI32::new(0);

/// Entered by the kernel, left through sigreturn.
extern "C" fn count_call() -> ! {
    CALLS.fetch_add(1, Ordering::SeqCst);
    sigreturn();
    fail("alarm", "sigreturn returned to the handler")
}

fn alarm(interval: u64, ticks: u64) {
    if sigalarm(interval as i32, count_call as *const () as usize) < 0 {
        fail("alarm", "sigalarm failed");
    }
    // TICKS ticks of time on the hart, read from the time CSR: no system
    // calls, so the program is in user mode at (nearly) every tick, where
    // the alarm counts them. A gap of more than half a tick between two
    // reads is time the program was away (QEMU's vCPU descheduled by a
    // busy host, the kernel running another process): the tick due in it
    // comes late, and the next one is set a whole interval after that, so
    // that time does not count, or lost ticks would lower the count below
    // what a correct kernel gives. Wall time is capped, for a hart that is
    // hardly ever there.
    let budget = ticks * TIMER_INTERVAL;
    let deadline = time() + 20 * budget;
    let mut present = 0;
    let mut last = time();
    while present < budget && last < deadline {
        let mut i = 0u32;
        while i < 10_000 {
            i = black_box(i + 1);
        }
        let now = time();
        if now - last <= TIMER_INTERVAL / 2 {
            present += now - last;
        }
        last = now;
    }
    sigalarm(0, 0);
    println!(
        "randlab alarm: interval {}, {} calls in {} ticks",
        interval,
        CALLS.load(Ordering::SeqCst),
        ticks
    );
}

const GIB: usize = 1 << 30;

fn lazy(base: u64, pages: u64) {
    let a = sbrk(GIB as i32);
    if sbrk_failed(a) {
        fail("lazy", "sbrk(1 GiB) failed");
    }
    let stride = GIB / PGSIZE / pages as usize * PGSIZE;
    let slot = |i: usize| (a as usize + i * stride + (i * 8) % PGSIZE) as *mut u64;
    for i in 0..pages as usize {
        // SAFETY: inside the 1 GiB just added, 8-aligned.
        unsafe { slot(i).write_volatile(base + i as u64) };
    }
    let mut sum = 0u64;
    for i in 0..pages as usize {
        // SAFETY: as above.
        sum = sum.wrapping_add(unsafe { slot(i).read_volatile() });
    }
    sbrk(-(GIB as i32));
    println!("randlab lazy: {} pages, sum {}", pages, sum);
}

fn cow(base: u64, pages: u64, writes: u64) {
    let n = pages as usize;
    let p = sbrk((n * PGSIZE) as i32);
    if sbrk_failed(p) {
        fail("cow", "sbrk failed");
    }
    let page = |i: usize| (p as usize + i * PGSIZE) as *mut u64;
    for i in 0..n {
        // SAFETY: page i of the memory sbrk just gave this process.
        unsafe { page(i).write_volatile(base + i as u64) };
    }
    let sum = || {
        (0..n).fold(0u64, |s, i| {
            // SAFETY: as above.
            s.wrapping_add(unsafe { page(i).read_volatile() })
        })
    };
    let pid = fork();
    if pid < 0 {
        fail("cow", "fork failed");
    }
    if pid == 0 {
        for i in 0..(writes as usize).min(n) {
            // SAFETY: as above; the write copies a shared page.
            unsafe { page(i).write_volatile(page(i).read_volatile() + 1) };
        }
        println!("randlab cow: child sum {}", sum());
        exit(0);
    }
    let mut status = 0;
    if wait(Some(&mut status)) != pid || status != 0 {
        fail("cow", "the child failed");
    }
    println!("randlab cow: parent sum {}", sum());
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    match args.get(1) {
        Some("trace") if args.len() == 3 => trace(number(&args, 2) as usize),
        Some("sysinfo") if args.len() == 4 => sysinfo_test(number(&args, 2), number(&args, 3)),
        Some("pgtbl") if args.len() == 4 => pgtbl(number(&args, 2), number(&args, 3)),
        Some("alarm") if args.len() == 4 => alarm(number(&args, 2), number(&args, 3)),
        Some("lazy") if args.len() == 4 => lazy(number(&args, 2), number(&args, 3)),
        Some("cow") if args.len() == 5 => cow(number(&args, 2), number(&args, 3), number(&args, 4)),
        _ => usage(),
    }
    0
}
