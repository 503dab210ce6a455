#![no_std]
#![no_main]
//! memtests: what fork, sbrk, exec and the kernel's copies of user memory
//! must do whatever the kernel's memory tricks (none, lazy allocation,
//! copy-on-write, or both): every correct kernel passes these.
//!
//! Prints `memtests starting`, then `test <name>: OK` or `test <name>:
//! FAILED` per test (a whole line, once the test's processes are gone),
//! `test free pages: OK` when the free pages counted before and after the
//! tests are the same, and last `ALL TESTS PASSED` or `SOME TESTS FAILED`.
//! A failing test prints `<name>: <why>` before its line.
//!
//! Pages are checked after a "churn" (another process filling a few MB
//! with garbage), so that a page freed while still in use shows.

use abi::console;
use abi::memlayout::PGSIZE;
use core::arch::asm;
use core::cell::UnsafeCell;
use core::ptr::null;
use user::*;

entry!(main);

/// What memtests exits with when exec'd as a probe whose arguments arrived
/// right.
const ARGS_OK: i32 = 77;

fn fail(name: &str, why: &str) -> ! {
    println!("{}: {}", name, why);
    exit(1)
}

fn peek(addr: usize) -> u8 {
    let v: u8;
    // SAFETY: one load from memory the test owns, outside Rust's view.
    unsafe {
        asm!("lbu {v}, 0({a})", a = in(reg) addr, v = out(reg) v, options(nostack, readonly))
    };
    v
}

fn get(addr: usize) -> u64 {
    // SAFETY: callers pass 8-aligned addresses of memory they own.
    unsafe { (addr as *const u64).read_volatile() }
}

fn set(addr: usize, v: u64) {
    // SAFETY: as for get.
    unsafe { (addr as *mut u64).write_volatile(v) }
}

/// Two words of the page at `page`: its first, and one that moves from
/// page to page, so that pages mapped at the wrong address show.
fn words(page: usize) -> [usize; 2] {
    [page, page + (page / PGSIZE * 8) % PGSIZE]
}

fn value(addr: usize, seed: u64) -> u64 {
    (addr as u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// Writes the values of `seed` into pages `from`..`to`.
fn fill(from: usize, to: usize, seed: u64) {
    for page in (from..to).step_by(PGSIZE) {
        for w in words(page) {
            set(w, value(w, seed));
        }
    }
}

/// Whether pages `from`..`to` hold the values of `seed` (0: zeros).
fn holds(from: usize, to: usize, seed: u64) -> bool {
    (from..to).step_by(PGSIZE).all(|page| {
        words(page)
            .iter()
            .all(|&w| get(w) == if seed == 0 { 0 } else { value(w, seed) })
    })
}

fn check(name: &str, from: usize, to: usize, seed: u64, what: &str) {
    if !holds(from, to, seed) {
        fail(name, what);
    }
}

fn grow(name: &str, bytes: usize) -> usize {
    let p = sbrk(bytes as i32);
    if sbrk_failed(p) {
        fail(name, "sbrk failed");
    }
    p as usize
}

fn fork_or_fail(name: &str) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(name, "fork failed");
    }
    pid
}

/// Waits for a child; its exit status.
fn wait_child(name: &str) -> i32 {
    let mut status = 0;
    if wait(Some(&mut status)) < 0 {
        fail(name, "wait failed");
    }
    status
}

/// A child fills 8 MB with garbage and exits: freshly freed pages go to it
/// first, so a page freed too early gets overwritten.
fn churn(name: &str) {
    const BYTES: usize = 8 << 20;
    if fork_or_fail(name) == 0 {
        let p = sbrk(BYTES as i32);
        if sbrk_failed(p) {
            exit(0);
        }
        for w in (p as usize..p as usize + BYTES).step_by(8) {
            set(w, 0xdead_beef_dead_beef);
        }
        exit(0);
    }
    wait_child(name);
}

/// The heap's end, made page-aligned, so that tests' regions start pages.
fn align_brk(name: &str) -> usize {
    let b = sbrk(0) as usize;
    if !b.is_multiple_of(PGSIZE) {
        grow(name, PGSIZE - b % PGSIZE);
    }
    sbrk(0) as usize
}

/// Pages shared by fork and touched by neither side while both live.
fn shared_untouched(name: &str) {
    let a = align_brk(name);
    let end = grow(name, 16 * PGSIZE) + 16 * PGSIZE;
    fill(a, end, 1);
    if fork_or_fail(name) == 0 {
        exit(0);
    }
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    churn(name);
    check(name, a, end, 1, "the parent's pages changed");
    fill(a, end, 2);
    check(name, a, end, 2, "the parent's writes did not stick");
}

/// Heap pages grown but never touched before fork, touched first in the
/// child: it sees zeros, and its writes stay its own.
fn untouched_heap(name: &str) {
    let a = align_brk(name);
    let end = grow(name, 16 * PGSIZE) + 16 * PGSIZE;
    if fork_or_fail(name) == 0 {
        check(name, a, end, 0, "new heap pages are not zero in the child");
        fill(a, end, 3);
        check(name, a, end, 3, "the child's writes did not stick");
        exit(0);
    }
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    churn(name);
    check(name, a, end, 0, "the child's writes reached the parent");
    fill(a, end, 4);
    check(name, a, end, 4, "the parent's writes did not stick");
}

/// One side gives back pages it shares with the other: the other keeps its
/// data, and memory grown again is zero.
fn shrink_shared(name: &str) {
    const BYTES: usize = 8 * PGSIZE;
    let a = align_brk(name);
    let end = grow(name, BYTES) + BYTES;
    fill(a, end, 5);
    let regrow = |name: &str| {
        if sbrk_failed(sbrk(-(BYTES as i32))) || sbrk(0) as usize != a {
            fail(name, "sbrk(-n) failed");
        }
        if grow(name, BYTES) != a {
            fail(name, "sbrk returned the wrong address");
        }
        check(name, a, end, 0, "memory grown again is not zero");
    };

    // The child shrinks while the parent holds the pages.
    if fork_or_fail(name) == 0 {
        regrow(name);
        fill(a, end, 6);
        exit(0);
    }
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    churn(name);
    check(
        name,
        a,
        end,
        5,
        "the child's shrink changed the parent's pages",
    );

    // The parent shrinks while the child holds them.
    let mut go = [0; 2];
    if pipe(&mut go) < 0 {
        fail(name, "pipe failed");
    }
    if fork_or_fail(name) == 0 {
        close(go[1]);
        let mut b = [0u8];
        if read(go[0], &mut b) != 1 {
            fail(name, "read failed");
        }
        check(
            name,
            a,
            end,
            5,
            "the parent's shrink changed the child's pages",
        );
        exit(0);
    }
    close(go[0]);
    regrow(name);
    churn(name);
    write(go[1], b"g");
    close(go[1]);
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
}

/// Two page-aligned pages of static memory (zeros in .bss): SCRATCH for
/// results read back, SHARED and LEVEL for pages fork shares.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 2 * PGSIZE]>);

// SAFETY: one thread per process; accessed only through raw pointers.
unsafe impl Sync for Page {}

static SCRATCH: Page = Page(UnsafeCell::new([0; 2 * PGSIZE]));
static SHARED: Page = Page(UnsafeCell::new([0; 2 * PGSIZE]));

fn scratch() -> usize {
    SCRATCH.0.get() as usize
}

const TMP: &str = "memtests.tmp";

/// The kernel reads from and writes to heap pages that neither the parent
/// nor the child ever touched: write() sends zeros, read() lands, and
/// pipe(), wait(), fstat() and exec() take them as arguments.
fn syscalls_untouched(name: &str) {
    const PAGES: usize = 8;
    let a = align_brk(name);
    let end = grow(name, PAGES * PGSIZE) + PAGES * PGSIZE;
    let page = |i: usize| a + i * PGSIZE;
    if fork_or_fail(name) == 0 {
        syscalls_in_child(name, page);
        exit(0);
    }
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    check(
        name,
        a,
        end,
        0,
        "the child's system calls changed the parent's pages",
    );
}

fn syscalls_in_child(name: &str, page: impl Fn(usize) -> usize) {
    let s = scratch();
    // write() from two untouched pages to a file; read back: zeros.
    let fd = open(TMP, O_CREATE | O_RDWR | O_TRUNC);
    if fd < 0 {
        fail(name, "cannot create a file");
    }
    // SAFETY: the two pages belong to the heap; the kernel only reads them.
    if unsafe { sys::write(fd, page(0) as *const u8, 2 * PGSIZE as i32) } != 2 * PGSIZE as isize {
        fail(name, "write() from untouched pages failed");
    }
    close(fd);
    let fd = open(TMP, O_RDONLY);
    // SAFETY: SCRATCH has room for two pages.
    let n = unsafe { sys::read(fd, s as *mut u8, 2 * PGSIZE as i32) };
    if n != 2 * PGSIZE as isize || (0..2 * PGSIZE).any(|i| peek(s + i) != 0) {
        fail(name, "write() from untouched pages did not write zeros");
    }

    // fstat() into an untouched page.
    // SAFETY: a stat fits in the page.
    if unsafe { sys::fstat(fd, page(2) as *mut Stat) } != 0 {
        fail(name, "fstat() into an untouched page failed");
    }
    // SAFETY: the kernel just filled it.
    let st = unsafe { (page(2) as *const Stat).read() };
    if st.typ != T_FILE || st.size != 2 * PGSIZE as u64 {
        fail(name, "fstat() into an untouched page gave wrong values");
    }
    close(fd);

    // read() into untouched pages, across the boundary of two.
    let fd = open(TMP, O_CREATE | O_RDWR | O_TRUNC);
    let text: [u8; 200] = core::array::from_fn(|i| i as u8 + 1);
    write(fd, &text);
    close(fd);
    let fd = open(TMP, O_RDONLY);
    let at = page(4) - 100;
    // SAFETY: the 200 bytes at `at` are in the heap.
    if unsafe { sys::read(fd, at as *mut u8, 200) } != 200 {
        fail(name, "read() into untouched pages failed");
    }
    close(fd);
    unlink(TMP);
    if (0..200).any(|i| peek(at + i) != text[i]) {
        fail(name, "read() into untouched pages got the wrong bytes");
    }

    // pipe() into an untouched page, then write() from one to it.
    let fds = page(5) as *mut i32;
    // SAFETY: two ints fit in the page.
    if unsafe { sys::pipe(fds) } != 0 {
        fail(name, "pipe() into an untouched page failed");
    }
    // SAFETY: the kernel just wrote the two descriptors.
    let (r, w) = unsafe { (fds.read(), fds.add(1).read()) };
    // SAFETY: page 6 is in the heap; 100 bytes fit in a pipe.
    if unsafe { sys::write(w, (page(6) + 50) as *const u8, 100) } != 100 {
        fail(name, "write() to a pipe from an untouched page failed");
    }
    // SAFETY: SCRATCH has room.
    if unsafe { sys::read(r, s as *mut u8, 100) } != 100 || (0..100).any(|i| peek(s + i) != 0) {
        fail(
            name,
            "a pipe passed on the wrong bytes from an untouched page",
        );
    }
    close(r);
    close(w);

    // wait() storing the status into an untouched page.
    if fork_or_fail(name) == 0 {
        exit(7);
    }
    let status = (page(7) + 12) as *mut i32;
    // SAFETY: an int fits in the page.
    if unsafe { sys::wait(status) } < 0 || unsafe { status.read() } != 7 {
        fail(name, "wait() into an untouched page failed");
    }

    // exec() of an argument string that lies in an untouched page (so it
    // is empty).
    if fork_or_fail(name) == 0 {
        let argv = [
            c"memtests".as_ptr().cast::<u8>(),
            c"-argcheck".as_ptr().cast(),
            page(3) as *const u8,
            null(),
        ];
        // SAFETY: the strings are NUL-terminated, page 3 holds zeros.
        unsafe { sys::exec(c"/memtests".as_ptr().cast(), argv.as_ptr()) };
        exit(1);
    }
    if wait_child(name) != ARGS_OK {
        fail(name, "exec() with an argument in an untouched page failed");
    }
}

fn shared_byte(i: usize) -> u8 {
    peek(SHARED.0.get() as usize + i)
}

fn fill_shared(v: u8) {
    let base = SHARED.0.get().cast::<u8>();
    for i in 0..2 * PGSIZE {
        // SAFETY: inside the buffer.
        unsafe { base.add(i).write_volatile(v) };
    }
}

/// Reads `len` bytes from `fd` into SHARED at `at`, the kernel writing into
/// a page another process shares.
fn read_shared(fd: i32, at: usize, len: usize) -> bool {
    let base = SHARED.0.get().cast::<u8>();
    let mut got = 0;
    while got < len {
        // SAFETY: `at + len` stays inside the two pages.
        let n = unsafe { sys::read(fd, base.add(at + got), (len - got) as i32) };
        if n <= 0 {
            return false;
        }
        got += n as usize;
    }
    true
}

/// read() from a pipe into a page shared by fork changes only the reader's
/// copy: the child reading, then the parent.
fn pipe_into_shared(name: &str) {
    const AT: usize = PGSIZE - 30;
    const LEN: usize = 60;
    let msg: [u8; LEN] = core::array::from_fn(|i| 200 - i as u8);
    let got_msg = || (0..LEN).all(|i| shared_byte(AT + i) == msg[i]);
    let untouched = |v: u8| (0..2 * PGSIZE).all(|i| shared_byte(i) == v);
    fill_shared(11);

    let mut p = [0; 2];
    if pipe(&mut p) < 0 {
        fail(name, "pipe failed");
    }
    if fork_or_fail(name) == 0 {
        close(p[1]);
        if !read_shared(p[0], AT, LEN) || !got_msg() {
            fail(name, "the child's read() got the wrong bytes");
        }
        exit(0);
    }
    close(p[0]);
    write(p[1], &msg);
    close(p[1]);
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    churn(name);
    if !untouched(11) {
        fail(name, "the child's read() changed the parent's page");
    }

    // Now the parent reads while the child holds the pages and checks them
    // afterwards.
    fill_shared(12);
    let (mut data, mut done) = ([0; 2], [0; 2]);
    if pipe(&mut data) < 0 || pipe(&mut done) < 0 {
        fail(name, "pipe failed");
    }
    if fork_or_fail(name) == 0 {
        close(data[0]);
        close(done[1]);
        write(data[1], &msg);
        let mut b = [0u8];
        if read(done[0], &mut b) != 1 {
            exit(1);
        }
        exit(if untouched(12) { 0 } else { 2 });
    }
    close(data[1]);
    close(done[0]);
    let ok = read_shared(data[0], AT, LEN) && got_msg();
    write(done[1], b"d");
    close(done[1]);
    close(data[0]);
    let status = wait_child(name);
    if !ok {
        fail(name, "the parent's read() got the wrong bytes");
    }
    if status != 0 {
        fail(name, "the parent's read() changed the child's page");
    }
}

static LEVEL: Page = Page(UnsafeCell::new([0; 2 * PGSIZE]));

fn level_word() -> usize {
    LEVEL.0.get() as usize
}

/// Three generations of forks, each writing its own copy of the heap and
/// of a static page before it forks the next, then checking it after.
fn fork_chain(name: &str) {
    let a = align_brk(name);
    let end = grow(name, 8 * PGSIZE) + 8 * PGSIZE;
    if !chain(name, a, end, 0) {
        exit(1);
    }
}

fn chain(name: &str, a: usize, end: usize, level: u64) -> bool {
    const DEPTH: u64 = 3;
    fill(a, end, 10 + level);
    set(level_word(), level);
    if level == DEPTH {
        return true;
    }
    let pid = fork_or_fail(name);
    if pid == 0 {
        if !holds(a, end, 10 + level) || get(level_word()) != level {
            fail(name, "a child did not start with its parent's memory");
        }
        exit(if chain(name, a, end, level + 1) { 0 } else { 1 });
    }
    let status = wait_child(name);
    churn(name);
    if !holds(a, end, 10 + level) || get(level_word()) != level {
        fail(name, "a child's writes reached its parent");
    }
    status == 0
}

/// A child execs (giving up the memory it shares) while the parent keeps
/// using it.
fn exec_after_fork(name: &str) {
    let a = align_brk(name);
    let end = grow(name, 8 * PGSIZE) + 8 * PGSIZE;
    fill(a, end, 20);
    if fork_or_fail(name) == 0 {
        exec("/memtests", &["memtests", "-argcheck", ""]);
        exit(1);
    }
    if wait_child(name) != ARGS_OK {
        fail(name, "exec in the child failed");
    }
    churn(name);
    check(
        name,
        a,
        end,
        20,
        "the child's exec changed the parent's pages",
    );
}

/// A big heap with a few pages touched, forked: the child sees the
/// touched pages' values and zeros elsewhere, and its writes stay its own.
fn sparse_fork(name: &str) {
    const BYTES: usize = 16 << 20;
    const STRIDE: usize = 64 * PGSIZE;
    let a = align_brk(name);
    grow(name, BYTES);
    let touched = |seed: u64| {
        (a..a + BYTES)
            .step_by(STRIDE)
            .all(|p| holds(p, p + PGSIZE, seed))
    };
    let others = |seed: u64| {
        (a + STRIDE / 2..a + BYTES)
            .step_by(STRIDE)
            .all(|p| holds(p, p + PGSIZE, seed))
    };
    for p in (a..a + BYTES).step_by(STRIDE) {
        fill(p, p + PGSIZE, 30);
    }
    if fork_or_fail(name) == 0 {
        if !touched(30) || !others(0) {
            fail(name, "the child did not get the parent's memory");
        }
        for p in (a..a + BYTES).step_by(STRIDE / 2) {
            fill(p, p + PGSIZE, 31);
        }
        exit(if touched(31) && others(31) { 0 } else { 1 });
    }
    if wait_child(name) != 0 {
        fail(name, "the child failed");
    }
    churn(name);
    if !touched(30) || !others(0) {
        fail(name, "the child's writes reached the parent");
    }
    if sbrk_failed(sbrk(-(BYTES as i32))) {
        fail(name, "sbrk(-16 MB) failed");
    }
}

/// A test: its name, and its body, which fails by exiting non-zero.
type Test = (&'static str, fn(&str));

const TESTS: [Test; 8] = [
    ("shared untouched", shared_untouched),
    ("untouched heap", untouched_heap),
    ("shrink shared", shrink_shared),
    ("syscalls untouched", syscalls_untouched),
    ("pipe into shared", pipe_into_shared),
    ("fork chain", fork_chain),
    ("exec after fork", exec_after_fork),
    ("sparse fork", sparse_fork),
];

fn run(name: &str, f: fn(&str)) -> bool {
    let pid = fork();
    if pid < 0 {
        println!("memtests: fork failed");
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

/// The free pages ([`user::countfree`]); this process never grows, so
/// every count starts from the same state.
fn countfree() -> usize {
    user::countfree().unwrap_or_else(|| {
        println!("memtests: countfree failed");
        exit(1)
    })
}

fn main(args: Args) -> i32 {
    // The probe exec'd by the exec tests: its last argument is empty.
    if args.get(1) == Some("-argcheck") {
        return if args.len() == 3 && args.get(2) == Some("") {
            ARGS_OK
        } else {
            1
        };
    }
    println!("memtests starting");
    let before = countfree();
    let mut ok = true;
    for (name, f) in TESTS {
        ok &= run(name, f);
    }
    let after = countfree();
    let kept = after == before;
    if !kept {
        println!("free pages: {} before the tests, {} after", before, after);
    }
    println!(
        "{}",
        console::TestLine {
            name: "free pages",
            ok: kept
        }
    );
    ok &= kept;
    println!("{}", console::suite_end(ok));
    if ok { 0 } else { 1 }
}
