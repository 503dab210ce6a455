#![no_std]
#![no_main]
//! memfault: wild memory accesses, memory exhaustion in page faults, and
//! system calls on never-touched heap pages, for every kernel configuration
//! (base, lazy, cow, pgtbl, all): the kernel must kill the offending
//! process, or do the call, and keep running.
//!
//! Each case runs in a child process and prints `memfault: <case> ok` or
//! `memfault: <case> FAILED (<why>)`. The last line is `memfault: ALL OK`,
//! or `memfault: <n> of <m> cases FAILED` (exit status 1). Expect the
//! kernel's `usertrap(): ...` report of each process it kills in between.

use abi::memlayout::{KERNBASE, MAXVA, PGSIZE, TRAMPOLINE, TRAPFRAME};
use core::arch::asm;
use core::ptr::null;
use user::*;

entry!(main);

/// How a child that did everything its case asked and saw the right
/// results exits: not 0, which a wrongly started program may return.
const PASSED: i32 = 42;
/// How memfault exits when exec'd with no arguments at all.
const NO_ARGS: i32 = 33;
const TMP: &str = "memfault.tmp";

#[derive(Clone, Copy)]
enum Access {
    Load,
    Store,
    Fetch,
}

impl Access {
    fn name(self) -> &'static str {
        match self {
            Access::Load => "load",
            Access::Store => "store",
            Access::Fetch => "fetch",
        }
    }

    /// Makes the access; returns only if the kernel allowed it.
    fn at(self, addr: usize) {
        // SAFETY: a single access outside Rust's view of memory, to an
        // address no Rust object lives at; the kernel is expected to end
        // the process on it. A jump that returned would be a kernel bug,
        // and the child then dies anyway without touching its memory.
        unsafe {
            match self {
                Access::Load => {
                    asm!("lbu {v}, 0({a})", a = in(reg) addr, v = out(reg) _, options(nostack, readonly))
                }
                Access::Store => {
                    asm!("sb zero, 0({a})", a = in(reg) addr, options(nostack))
                }
                Access::Fetch => asm!("jr {a}", a = in(reg) addr, options(noreturn)),
            }
        }
    }
}

fn sp() -> usize {
    let sp: usize;
    // SAFETY: only copies the stack pointer.
    unsafe { asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

fn brk() -> usize {
    sbrk(0) as usize
}

/// Grows the heap to a page boundary; returns the break.
fn align_brk() -> usize {
    let b = brk();
    if !b.is_multiple_of(PGSIZE) {
        sbrk((PGSIZE - b % PGSIZE) as i32);
    }
    brk()
}

fn poke(addr: usize, v: u8) {
    // SAFETY: callers pass addresses of heap memory they own.
    unsafe { (addr as *mut u8).write_volatile(v) };
}

fn peek(addr: usize) -> u8 {
    // SAFETY: as for poke.
    unsafe { (addr as *const u8).read_volatile() }
}

/// A target's name, and where it is.
type Target = (&'static str, fn() -> usize);

/// Addresses a process must not touch; computed in the child, since some
/// depend on its own heap and stack.
const TARGETS: [Target; 11] = [
    ("kernel", || KERNBASE),
    ("MAXVA", || MAXVA),
    ("top page", || 0xffff_ffff_ffff_f000),
    ("u64::MAX", || usize::MAX),
    ("trampoline", || TRAMPOLINE),
    ("trapframe", || TRAPFRAME),
    ("far above the heap", || MAXVA / 2),
    // The last word of the guard page, just below the stack's page.
    ("stack guard", || (sp() & !(PGSIZE - 1)) - 8),
    ("end of the heap", end_of_heap),
    ("shrunk page", shrunk_page),
    ("shrunk top", shrunk_top),
];

/// One byte past memory just grown (and touched up to its last byte).
fn end_of_heap() -> usize {
    align_brk();
    let p = sbrk(PGSIZE as i32) as usize;
    poke(p + PGSIZE - 1, 1);
    p + PGSIZE
}

/// Grows four pages, touches them, gives two back; returns the old end.
fn shrink_two() -> usize {
    let a = align_brk();
    sbrk(4 * PGSIZE as i32);
    for p in (a..a + 4 * PGSIZE).step_by(PGSIZE) {
        poke(p, 1);
    }
    sbrk(-2 * PGSIZE as i32);
    a + 4 * PGSIZE
}

/// The first page given back by a shrink.
fn shrunk_page() -> usize {
    shrink_two() - 2 * PGSIZE
}

/// The last byte given back by a shrink.
fn shrunk_top() -> usize {
    shrink_two() - 1
}

/// Runs `f` in a child; returns its exit status (-1: killed).
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    let pid = fork();
    if pid < 0 {
        return i32::MIN;
    }
    if pid == 0 {
        exit(f());
    }
    let mut status = 0;
    if wait(Some(&mut status)) != pid {
        return i32::MIN + 1;
    }
    status
}

/// Prints a case's verdict; true if it passed.
fn report(case: &dyn core::fmt::Display, status: i32, ok: bool, want: &str) -> bool {
    if ok {
        println!("memfault: {} ok", case);
    } else if status == i32::MIN {
        println!("memfault: {} FAILED (fork failed)", case);
    } else {
        println!(
            "memfault: {} FAILED (exit status {}, wanted {})",
            case, status, want
        );
    }
    ok
}

struct Named(Access, &'static str);

impl core::fmt::Display for Named {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {}", self.0.name(), self.1)
    }
}

/// Every access of every target must get the child killed.
fn wild_accesses() -> (usize, usize) {
    let (mut cases, mut failed) = (0, 0);
    for (target, addr) in TARGETS {
        for access in [Access::Load, Access::Store, Access::Fetch] {
            let status = in_child(|| {
                access.at(addr());
                0
            });
            cases += 1;
            if !report(&Named(access, target), status, status == -1, "-1") {
                failed += 1;
            }
        }
    }
    (cases, failed)
}

/// Megabytes a process must get before memory runs out: the machine has
/// 128, and little else is running.
const MOST_MB: usize = 64;

/// A grandchild grows a megabyte at a time and writes every page, telling
/// this process through a pipe each megabyte it has: a lazy kernel runs out
/// of memory in a fault and kills it (-1); an eager one's sbrk fails, and it
/// reads back what it wrote and exits 0. Either way it must first have got
/// most of memory: a kernel that kills it early, or whose sbrk fails early,
/// fails, as does one that hands out pages that do not hold their data.
fn lazy_oom() -> i32 {
    const CHUNK: usize = 1 << 20;
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        return 1;
    }
    let pid = fork();
    if pid < 0 {
        return 2;
    }
    if pid == 0 {
        close(fds[0]);
        let start = align_brk();
        loop {
            let a = sbrk(CHUNK as i32);
            if sbrk_failed(a) {
                let mut p = start;
                while p < brk() {
                    if peek(p) != (p / PGSIZE) as u8 {
                        exit(3);
                    }
                    p += PGSIZE;
                }
                exit(0);
            }
            for p in (a as usize..a as usize + CHUNK).step_by(PGSIZE) {
                poke(p, (p / PGSIZE) as u8);
            }
            if write(fds[1], b"m") != 1 {
                exit(4);
            }
        }
    }
    close(fds[1]);
    let mut mb = 0;
    let mut buf = [0u8; 64];
    loop {
        let n = read(fds[0], &mut buf);
        if n <= 0 {
            break;
        }
        mb += n as usize;
    }
    close(fds[0]);
    let mut status = i32::MIN;
    if wait(Some(&mut status)) != pid {
        return 5;
    }
    if status != 0 && status != -1 {
        return 6;
    }
    if mb < MOST_MB {
        return 7;
    }
    PASSED
}

/// Most of memory, written, then forked, and the child writes all of it:
/// a copy-on-write child runs out of memory and is killed; an eager fork
/// fails, and then, once this process has given the memory back, a fork
/// must succeed. The parent's memory must come through either way.
fn cow_oom() -> i32 {
    const BYTES: usize = 80 << 20;
    const CHILD_OK: i32 = 7;
    let a = align_brk();
    if sbrk_failed(sbrk(BYTES as i32)) {
        return 1;
    }
    let stamp = |p: usize, v: usize| unsafe_set(p, p ^ v);
    for p in (a..a + BYTES).step_by(PGSIZE) {
        stamp(p, 0x1234);
    }
    let pid = fork();
    if pid == 0 {
        for p in (a..a + BYTES).step_by(PGSIZE) {
            stamp(p, 0x5678);
        }
        exit(0);
    }
    // Copy the stack page now, while memory is still there: the child is
    // about to take it all, and a failed copy would kill this process. The
    // sentinel is no exit status, so a failed wait cannot pass.
    let mut status = i32::MIN;
    // SAFETY: a write to a local variable.
    unsafe { core::ptr::write_volatile(&mut status, i32::MIN + 1) };
    if pid > 0 {
        if wait(Some(&mut status)) != pid {
            return 5;
        }
        // The machine has 128 MB: the child cannot have written 80 MB of
        // copies.
        if status != -1 {
            return 2;
        }
    }
    for p in (a..a + BYTES).step_by(PGSIZE) {
        if unsafe_get(p) != p ^ 0x1234 {
            return 3;
        }
        stamp(p, 0x9abc);
        if unsafe_get(p) != p ^ 0x9abc {
            return 4;
        }
    }
    if pid < 0 {
        // The eager path: the fork failed for want of memory, which must
        // come back.
        if sbrk_failed(sbrk(-(BYTES as i32))) {
            return 6;
        }
        let again = fork();
        if again == 0 {
            exit(CHILD_OK);
        }
        if again < 0 {
            return 8;
        }
        if wait(Some(&mut status)) != again || status != CHILD_OK {
            return 9;
        }
    }
    PASSED
}

fn unsafe_set(addr: usize, v: usize) {
    // SAFETY: callers pass aligned addresses inside their heap.
    unsafe { (addr as *mut usize).write_volatile(v) };
}

fn unsafe_get(addr: usize) -> usize {
    // SAFETY: as for unsafe_set.
    unsafe { (addr as *const usize).read_volatile() }
}

/// A child that can get 64 MB and write it: memory came back after the
/// exhaustion before.
fn memory_back() -> i32 {
    const BYTES: usize = 64 << 20;
    let a = sbrk(BYTES as i32);
    if sbrk_failed(a) {
        return 1;
    }
    for p in (a as usize..a as usize + BYTES).step_by(PGSIZE) {
        poke(p, 1);
    }
    PASSED
}

/// `n` never-touched heap pages; returns the first.
fn fresh_pages(n: usize) -> usize {
    let a = align_brk();
    if sbrk_failed(sbrk((n * PGSIZE) as i32)) {
        exit(1);
    }
    a
}

/// A file holding bytes 1, 2, 3, ...; returns it open for reading.
fn text_file(len: usize) -> i32 {
    let fd = open(TMP, O_CREATE | O_WRONLY | O_TRUNC);
    let mut b = [0u8; 256];
    for (i, c) in b.iter_mut().enumerate() {
        *c = i as u8 + 1;
    }
    write(fd, &b[..len]);
    close(fd);
    let fd = open(TMP, O_RDONLY);
    unlink(TMP);
    fd
}

/// read() into two never-touched pages, across their boundary.
fn read_into_fresh() -> i32 {
    let at = fresh_pages(2) + PGSIZE - 100;
    let fd = text_file(200);
    // SAFETY: the 200 bytes at `at` are heap memory.
    if unsafe { sys::read(fd, at as *mut u8, 200) } != 200 {
        return 1;
    }
    if (0..200).any(|i| peek(at + i) != i as u8 + 1) {
        return 2;
    }
    PASSED
}

/// write() from two never-touched pages: zeros arrive.
fn write_from_fresh() -> i32 {
    let a = fresh_pages(2);
    let mut p = [0; 2];
    if pipe(&mut p) != 0 {
        return 1;
    }
    let at = a + PGSIZE - 100;
    // SAFETY: the heap's bytes, only read.
    if unsafe { sys::write(p[1], at as *const u8, 200) } != 200 {
        return 2;
    }
    let mut b = [7u8; 200];
    if read(p[0], &mut b) != 200 || b.iter().any(|&c| c != 0) {
        return 3;
    }
    PASSED
}

/// pipe() storing its descriptors into a never-touched page.
fn pipe_into_fresh() -> i32 {
    let fds = (fresh_pages(1) + PGSIZE - 8) as *mut i32;
    // SAFETY: two ints at the end of a heap page.
    if unsafe { sys::pipe(fds) } != 0 {
        return 1;
    }
    // SAFETY: the kernel just wrote them.
    let (r, w) = unsafe { (fds.read(), fds.add(1).read()) };
    let mut b = [0u8];
    if write(w, b"z") != 1 || read(r, &mut b) != 1 || b[0] != b'z' {
        return 2;
    }
    PASSED
}

/// wait() storing the status into a never-touched page.
fn wait_into_fresh() -> i32 {
    let status = (fresh_pages(1) + 100) as *mut i32;
    let pid = fork();
    if pid == 0 {
        exit(5);
    }
    // SAFETY: an int inside a heap page.
    if pid < 0 || unsafe { sys::wait(status) } != pid as isize {
        return 1;
    }
    // SAFETY: as above.
    if unsafe { status.read() } != 5 {
        return 2;
    }
    PASSED
}

/// fstat() into a never-touched page.
fn fstat_into_fresh() -> i32 {
    let st = (fresh_pages(1) + 64) as *mut Stat;
    let fd = text_file(100);
    // SAFETY: a stat inside a heap page.
    if unsafe { sys::fstat(fd, st) } != 0 {
        return 1;
    }
    // SAFETY: the kernel just wrote it.
    let st = unsafe { st.read() };
    if st.typ != T_FILE || st.size != 100 {
        return 2;
    }
    PASSED
}

/// exec() with its argv array in a never-touched page: it holds a null
/// first pointer, so the program starts with no arguments.
fn exec_argv_fresh() -> i32 {
    let argv = fresh_pages(1) as *const *const u8;
    // SAFETY: the path is NUL-terminated; argv is a heap page of zeros.
    unsafe { sys::exec(c"/memfault".as_ptr().cast(), argv) };
    1
}

/// exec() with an argument string in a never-touched page (so empty).
fn exec_string_fresh() -> i32 {
    let s = fresh_pages(1) as *const u8;
    let argv = [
        c"memfault".as_ptr().cast::<u8>(),
        c"-empty".as_ptr().cast(),
        s,
        null(),
    ];
    // SAFETY: NUL-terminated strings and a null-ended array.
    unsafe { sys::exec(c"/memfault".as_ptr().cast(), argv.as_ptr()) };
    1
}

/// read() and write() running past the end of memory must not map what
/// lies beyond it: a load there afterwards still kills.
fn io_past_end() -> i32 {
    let end = fresh_pages(1) + PGSIZE;
    let fd = text_file(64);
    // SAFETY: the kernel must refuse the bytes past `end`.
    if unsafe { sys::read(fd, (end - 16) as *mut u8, 64) } == 64 {
        return 3;
    }
    close(fd);
    let mut p = [0; 2];
    pipe(&mut p);
    // SAFETY: as above, reading.
    if unsafe { sys::write(p[1], (end - 16) as *const u8, 64) } == 64 {
        return 4;
    }
    Access::Load.at(end);
    0
}

/// A case that is not a wild access: its name, its body, and the exit
/// statuses that pass.
struct Case {
    name: &'static str,
    body: fn() -> i32,
    ok: fn(i32) -> bool,
    want: &'static str,
}

const fn passes(name: &'static str, body: fn() -> i32) -> Case {
    Case {
        name,
        body,
        ok: |s| s == PASSED,
        want: "42",
    }
}

const CASES: [Case; 12] = [
    passes("out of memory in lazy faults", lazy_oom),
    passes("memory back after lazy faults", memory_back),
    passes("out of memory in copy-on-write faults", cow_oom),
    passes("memory back after copy-on-write faults", memory_back),
    passes("read into untouched pages", read_into_fresh),
    passes("write from untouched pages", write_from_fresh),
    passes("pipe into an untouched page", pipe_into_fresh),
    passes("wait into an untouched page", wait_into_fresh),
    passes("fstat into an untouched page", fstat_into_fresh),
    Case {
        name: "exec argv in an untouched page",
        body: exec_argv_fresh,
        ok: |s| s == NO_ARGS,
        want: "33",
    },
    Case {
        name: "exec string in an untouched page",
        body: exec_string_fresh,
        ok: |s| s == PASSED,
        want: "42",
    },
    Case {
        name: "read and write past the end",
        body: io_past_end,
        ok: |s| s == -1,
        want: "-1",
    },
];

/// The free pages ([`user::countfree`]), 0 if they could not be counted;
/// this process never grows, so every count starts from the same state.
fn countfree() -> usize {
    user::countfree().unwrap_or(0)
}

fn main(args: Args) -> i32 {
    // The probes the exec cases start.
    if args.is_empty() {
        return NO_ARGS;
    }
    if args.get(1) == Some("-empty") {
        return if args.len() == 3 && args.get(2) == Some("") {
            PASSED
        } else {
            1
        };
    }
    let before = countfree();
    let (mut cases, mut failed) = wild_accesses();
    for case in &CASES {
        let status = in_child(case.body);
        cases += 1;
        if !report(&case.name, status, (case.ok)(status), case.want) {
            failed += 1;
        }
    }
    let after = countfree();
    cases += 1;
    if after == before && after > 0 {
        println!("memfault: free pages ok");
    } else {
        println!(
            "memfault: free pages FAILED ({} before, {} after)",
            before, after
        );
        failed += 1;
    }
    if failed > 0 {
        println!("memfault: {} of {} cases FAILED", failed, cases);
        return 1;
    }
    println!("memfault: ALL OK");
    0
}
