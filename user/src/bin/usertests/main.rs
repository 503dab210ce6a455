#![no_std]
#![no_main]
//! usertests: the kernel's robustness suite, in the spirit of xv6's.
//!
//! Output (graded line by line): `usertests starting`, then per test
//! `test <name>: OK` or `test <name>: FAILED`, then `ALL TESTS PASSED`,
//! `SOME TESTS FAILED`, or `FAILED -- lost some free pages <n> (out of <m>)`.
//!
//! `usertests` runs everything, `-q` only the quick tests, `<name>` one test,
//! `-c` loops forever (until a test fails), `-t` adds how long each test
//! and each free-page count took (for benchmarks, not graders).
//!
//! Each test runs in a child process. It fails by printing
//! `<name>: <what went wrong>` and exiting non-zero ([`fail!`]); returning
//! means it passed. Messages the kernel prints when it kills a misbehaving
//! child (`usertrap(): ...`) are expected in between.

use abi::console;
use abi::fs::BSIZE;
use abi::memlayout::PGSIZE;
use abi::param::MAXOPBLOCKS;
use user::{Args, close, eprintln, exit, fork, pipe, print, println, read, sbrk, sbrk_failed};
use user::{TIME_HZ, time, wait, write};

/// Prints `<test name>: <message>` and ends the test's process with status 1.
macro_rules! fail {
    ($name:expr, $($arg:tt)*) => {{
        user::println!("{}: {}", $name, format_args!($($arg)*));
        user::exit(1)
    }};
}

mod fs;
mod mem;
mod proc;

/// One test: runs in a child process and fails by exiting non-zero.
pub struct Test {
    pub name: &'static str,
    /// Gets its own name, to prefix messages with.
    pub f: fn(&str),
    /// Slow tests fill memory or disk or make huge directories; `-q` skips them.
    pub slow: bool,
}

impl Test {
    pub const fn quick(name: &'static str, f: fn(&str)) -> Test {
        Test {
            name,
            f,
            slow: false,
        }
    }

    pub const fn slow(name: &'static str, f: fn(&str)) -> Test {
        Test {
            name,
            f,
            slow: true,
        }
    }
}

/// A buffer size bigger than one file system operation may write.
pub const BUFSZ: usize = (MAXOPBLOCKS + 2) * BSIZE;

/// `fork`, failing the test `s` if it fails.
pub fn fork_or_fail(s: &str) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail!(s, "fork failed");
    }
    pid
}

/// Waits for a child; returns its pid (-1 if there is none) and exit status.
pub fn wait_status() -> (i32, i32) {
    let mut status = 0;
    let pid = wait(Some(&mut status));
    (pid, status)
}

const GROUPS: [&[Test]; 3] = [mem::TESTS, proc::TESTS, fs::TESTS];

/// The `index`th test of all groups, in order.
const fn nth_test(mut index: usize) -> Option<&'static Test> {
    let mut g = 0;
    while g < GROUPS.len() {
        if index < GROUPS[g].len() {
            return Some(&GROUPS[g][index]);
        }
        index -= GROUPS[g].len();
        g += 1;
    }
    None
}

// Graders and `usertests <name>` find a test by its name: no two alike.
const _: () = {
    let mut i = 0;
    while let Some(a) = nth_test(i) {
        let mut j = i + 1;
        while let Some(b) = nth_test(j) {
            assert!(
                !abi::str_eq(a.name, b.name),
                "two usertests have the same name"
            );
            j += 1;
        }
        i += 1;
    }
};

fn all_tests() -> impl Iterator<Item = &'static Test> {
    GROUPS.iter().flat_map(|group| group.iter())
}

#[derive(Clone, Copy)]
struct Options {
    quick: bool,
    continuous: bool,
    /// `-t`: print how long each test and each free-page count took.
    timed: bool,
    only: Option<&'static str>,
}

fn parse(args: &Args) -> Option<Options> {
    let mut opts = Options {
        quick: false,
        continuous: false,
        timed: false,
        only: None,
    };
    for arg in args.iter().skip(1) {
        match arg {
            "-q" => opts.quick = true,
            "-c" => opts.continuous = true,
            "-t" => opts.timed = true,
            _ if arg.starts_with('-') || opts.only.is_some() => return None,
            _ => opts.only = Some(arg),
        }
    }
    Some(opts)
}

/// The tests to run, quick ones first.
fn selected(opts: Options) -> impl Iterator<Item = &'static Test> {
    [false, true]
        .into_iter()
        .flat_map(|slow| all_tests().filter(move |t| t.slow == slow))
        .filter(move |t| match opts.only {
            Some(name) => t.name == name,
            None => !(opts.quick && t.slow),
        })
}

/// Milliseconds since `start` (a `time()` reading), with one decimal.
fn elapsed(start: u64) -> (u64, u64) {
    let tenths = (time() - start) * 10_000 / TIME_HZ;
    (tenths / 10, tenths % 10)
}

/// Runs one test in a child process; true if it passed.
fn run(t: &Test, timed: bool) -> bool {
    let start = time();
    print!("{}", console::TestStart(t.name));
    let pid = fork();
    if pid < 0 {
        println!("runtest: fork error");
        exit(1);
    }
    if pid == 0 {
        (t.f)(t.name);
        exit(0);
    }
    // The test's process is our only child: its own children go to init.
    let (waited, status) = wait_status();
    let ok = waited == pid && status == 0;
    let verdict = console::verdict(ok);
    if timed {
        let (ms, tenth) = elapsed(start);
        println!("{verdict} ({ms}.{tenth} ms)");
    } else {
        println!("{verdict}");
    }
    ok
}

/// `countfree`, timed with `-t`.
fn count_free(timed: bool) -> usize {
    let start = time();
    let pages = countfree();
    if timed {
        let (ms, tenth) = elapsed(start);
        println!("countfree: {pages} pages ({ms}.{tenth} ms)");
    }
    pages
}

/// Pages a child takes per sbrk while it counts on an eagerly allocating
/// kernel (then one at a time, for the last few).
const STEP: usize = 64;

/// More memory than the machine has: a kernel that lets a process grow
/// this far allocates lazily.
const LAZY_PROOF: usize = 256 << 20;

/// Counts the free physical pages: a child grows its memory until that
/// fails, and its exit status says how many pages it got. The runner
/// itself never allocates, so its own size is the same for every count.
///
/// A lazily allocating kernel (sbrk goes past what the machine has) gives
/// pages only when they are touched, and kills the child when it has no
/// more: there the same child gives its memory back, sends `L`, then
/// touches page after page, sending a byte through a pipe for each. One
/// fork either way, as in xv6, so that the tests' processes get the same
/// pids on every kernel (lab-trace's tests name them).
fn countfree() -> usize {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        println!("countfree: pipe failed");
        exit(1);
    }
    let pid = fork();
    if pid < 0 {
        println!("countfree: fork failed");
        exit(1);
    }
    if pid == 0 {
        close(fds[0]);
        count_in_child(fds[1]);
    }
    close(fds[1]);
    let mut pages = 0;
    let mut lazy = false;
    let mut chunk = [0u8; 512];
    loop {
        let n = read(fds[0], &mut chunk);
        if n < 0 {
            println!("countfree: read failed");
            exit(1);
        }
        if n == 0 {
            break;
        }
        let got = &chunk[..n as usize];
        if !lazy && got[0] == b'L' {
            lazy = true;
            pages += got.len() - 1;
        } else {
            pages += got.len();
        }
    }
    close(fds[0]);
    let status = wait_status().1;
    match (lazy, status) {
        // Killed (-1) is how a lazy kernel stops the child, 0 a refused sbrk.
        (true, -1 | 0) => pages,
        (false, n) if n >= 0 => n as usize,
        _ => {
            println!("countfree: the counting process failed");
            exit(1);
        }
    }
}

/// The counting child of [`countfree`]: `out` is the pipe to the parent.
fn count_in_child(out: i32) -> ! {
    let mut pages = 0;
    for step in [STEP, 1] {
        while !sbrk_failed(sbrk((step * PGSIZE) as i32)) {
            pages += step;
            if pages * PGSIZE > LAZY_PROOF {
                count_lazily(out, pages);
            }
        }
    }
    exit(pages as i32);
}

/// [`count_in_child`] on a lazy kernel, having grown by `pages` untouched.
fn count_lazily(out: i32, pages: usize) -> ! {
    if sbrk_failed(sbrk(-((pages * PGSIZE) as i32))) || write(out, b"L") != 1 {
        exit(2);
    }
    loop {
        let page = sbrk(PGSIZE as i32);
        if sbrk_failed(page) {
            exit(0);
        }
        // SAFETY: sbrk just added these PGSIZE bytes to our memory.
        unsafe { page.add(PGSIZE - 1).write_volatile(1) };
        if write(out, b"x") != 1 {
            exit(2);
        }
    }
}

user::entry!(main);

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let Some(opts) = parse(&args) else {
        eprintln!("Usage: usertests [-c] [-q] [-t] [testname]");
        return 1;
    };
    if let Some(name) = opts.only
        && !all_tests().any(|t| t.name == name)
    {
        eprintln!("usertests: unknown test {name}");
        return 1;
    }
    loop {
        println!("usertests starting");
        let free0 = count_free(opts.timed);
        let mut failed = false;
        for t in selected(opts) {
            if !run(t, opts.timed) {
                failed = true;
                if opts.continuous {
                    break;
                }
            }
        }
        if failed {
            println!("{}", console::SOME_FAILED);
            return 1;
        }
        let free1 = count_free(opts.timed);
        if free1 != free0 {
            println!(
                "{}lost some free pages {free1} (out of {free0})",
                console::FAILED_BECAUSE
            );
            return 1;
        }
        if !opts.continuous {
            println!("{}", console::ALL_PASSED);
            return 0;
        }
    }
}
