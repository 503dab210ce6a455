#![no_std]
#![no_main]
//! grind: a stress test in the spirit of xv6's. `grind [seconds] [seed]`
//! (defaults: 60 seconds, a seed taken from `uptime`) runs several worker
//! processes that make random system calls with random and hostile
//! arguments: bad pointers and descriptors, huge sizes, strings that run off
//! the end of memory, sbrk up and down, fork/exit/wait/kill of their own
//! children, pipes, file and directory operations racing each other in the
//! scratch directory `/grindir`, and exec of programs with odd arguments or
//! of files that are no programs.
//!
//! The kernel must neither panic nor hang, and every call whose result is
//! certain must return it; a worker that sees a wrong result says so and
//! exits, and a worker that dies is restarted. When the time is up grind
//! removes `/grindir` and prints `grind: OK after <n> iterations`, or
//! `grind: FAILED ...` and exits with status 1.
//!
//! Runs with the same seed make the same choices, though the kernel's
//! scheduling still interleaves the workers differently each time.

use abi::elf::{ElfHeader, PT_LOAD, ProgramHeader};
use abi::memlayout::{KERNBASE, MAXVA, PGSIZE, PHYSTOP, TRAMPOLINE, TRAPFRAME};
use abi::param::{MAXPATH, NDEV, NOFILE};
use core::arch::asm;
use core::ffi::CStr;
use core::fmt;
use core::ptr::null;
use user::*;

entry!(main);

const WORKERS: usize = 4;
const DEFAULT_SECONDS: u64 = 60;
/// Timer ticks per second (`uptime` counts ticks).
const TICKS_PER_SECOND: u64 = 10;
const DIR: &str = "/grindir";
const ECHO: &CStr = c"/echo";
const USAGE: &str = "usage: grind [seconds] [seed]";
/// How long after the deadline the workers may take to finish.
const GRACE_TICKS: i32 = 60 * TICKS_PER_SECOND as i32;

fn main(args: Args) -> i32 {
    let Some((seconds, seed)) = parse_args(&args) else {
        eprintln!("{USAGE}");
        return 1;
    };
    println!("grind: seed {seed}");

    // Left over from a run that did not finish.
    remove_tree(DIR.as_bytes(), 0);
    if mkdir(DIR) < 0 {
        eprintln!("grind: cannot create {DIR}; remove it and try again");
        return 1;
    }

    let ticks = seconds.saturating_mul(TICKS_PER_SECOND);
    let now = uptime();
    let deadline = now.saturating_add(ticks.min(i32::MAX as u64) as i32);

    let mut slots = [Slot::IDLE; WORKERS];
    let mut failures = 0;
    for id in 0..WORKERS {
        if !start_worker(&mut slots, id, seed, deadline) {
            failures += 1;
        }
    }

    let mut watchdog = start_watchdog(deadline);
    let mut iterations: u64 = 0;
    while slots.iter().any(|s| s.pid >= 0) {
        let mut status = 0;
        let pid = wait(Some(&mut status));
        if pid < 0 {
            break;
        }
        if pid == watchdog {
            watchdog = -1;
            failures += 1;
            continue;
        }
        let Some(id) = slots.iter().position(|s| s.pid == pid) else {
            continue;
        };
        let report = read_report(slots[id].report);
        close(slots[id].report);
        slots[id].report = -1;
        slots[id].pid = -1;
        iterations += report.unwrap_or(0);
        if status == 0 && report.is_some() {
            continue;
        }
        failures += 1;
        if uptime() < deadline {
            println!("grind: worker {id} ended with status {status}; restarting it");
            slots[id].generation += 1;
            if !start_worker(&mut slots, id, seed, deadline) {
                failures += 1;
            }
        } else {
            println!("grind: worker {id} ended with status {status}");
        }
    }

    if watchdog > 0 {
        kill(watchdog);
        wait(None);
    }

    if !remove_tree(DIR.as_bytes(), 0) {
        println!("grind: cannot remove {DIR}");
        failures += 1;
    }
    if failures > 0 {
        println!("grind: FAILED after {iterations} iterations ({failures} failures)");
        return 1;
    }
    println!("grind: OK after {iterations} iterations");
    0
}

/// Forks a process that says so if the workers are still busy long after
/// the deadline: a hung kernel gives no other sign. Its pid, or -1.
fn start_watchdog(deadline: i32) -> i32 {
    let pid = fork();
    if pid == 0 {
        let wake = deadline.saturating_add(GRACE_TICKS);
        loop {
            let now = uptime();
            if now >= wake {
                break;
            }
            sleep(wake - now);
        }
        println!(
            "grind: workers still busy {} seconds after the time was up: the kernel \
             may be deadlocked (Ctrl-P lists the processes)",
            GRACE_TICKS as u64 / TICKS_PER_SECOND
        );
        exit(1);
    }
    pid
}

/// `[seconds] [seed]`, both decimal.
fn parse_args(args: &Args) -> Option<(u64, u64)> {
    if args.len() > 3 {
        return None;
    }
    let seconds = match args.bytes(1) {
        Some(s) => parse_u64(s)?,
        None => DEFAULT_SECONDS,
    };
    let seed = match args.bytes(2) {
        Some(s) => parse_u64(s)?,
        None => uptime() as u64,
    };
    Some((seconds, seed))
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add((c - b'0') as u64)
        } else {
            None
        }
    })
}

/// A worker as the main process sees it.
#[derive(Clone, Copy)]
struct Slot {
    pid: i32,
    /// Read end of the pipe the worker reports its iteration count on.
    report: i32,
    /// How many times this worker has been restarted (varies its seed).
    generation: u64,
}

impl Slot {
    const IDLE: Slot = Slot {
        pid: -1,
        report: -1,
        generation: 0,
    };
}

/// Forks worker `id`; false if that failed.
fn start_worker(slots: &mut [Slot; WORKERS], id: usize, seed: u64, deadline: i32) -> bool {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        println!("grind: cannot make a pipe for worker {id}");
        return false;
    }
    let generation = slots[id].generation;
    let pid = fork();
    if pid < 0 {
        println!("grind: cannot fork worker {id}");
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if pid == 0 {
        // The other workers' report pipes are none of this one's business.
        for s in slots.iter().filter(|s| s.report >= 0) {
            close(s.report);
        }
        close(fds[0]);
        let seed = mix(seed ^ mix(id as u64) ^ mix(generation << 32));
        Worker::new(id, seed, fds[1], deadline).run();
    }
    close(fds[1]);
    slots[id] = Slot {
        pid,
        report: fds[0],
        generation,
    };
    true
}

/// The iteration count a worker wrote before exiting, if it did.
fn read_report(fd: i32) -> Option<u64> {
    let mut b = [0u8; 8];
    (read(fd, &mut b) == 8).then(|| u64::from_le_bytes(b))
}

/// Removes `path` and, if it is a directory, everything in it. `depth`
/// bounds the recursion should a broken kernel link a directory into itself.
fn remove_tree(path: &[u8], depth: usize) -> bool {
    if unlink(path) == 0 {
        return true;
    }
    if depth > 8 {
        return false;
    }
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        return false;
    }
    let mut names = Vec::new();
    while let Some(de) = read_dirent(fd) {
        let name = de.name();
        if de.inum != 0 && name != b"." && name != b".." {
            names.push(Vec::from(name));
        }
    }
    close(fd);
    for name in names {
        let mut child = Vec::from(path);
        child.push(b'/');
        child.extend_from_slice(&name);
        remove_tree(&child, depth + 1);
    }
    unlink(path) == 0
}

/// splitmix64's finaliser: spreads a seed's bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xorshift64*: small, fast, and good enough to pick system calls.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True once in `n` times.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Paths the workers share, so their operations race: files, a
/// subdirectory, and roundabout spellings of the same names.
const NAMES: [&str; 10] = [
    "a",
    "b",
    "c",
    "d",
    "d/a",
    "d/b",
    "d/d",
    "../grindir/a",
    "./b",
    "d/../c",
];
const OPEN_FLAGS: [i32; 7] = [
    O_RDONLY,
    O_WRONLY,
    O_RDWR,
    O_CREATE | O_RDWR,
    O_CREATE | O_WRONLY | O_TRUNC,
    O_TRUNC | O_RDWR,
    O_CREATE,
];
/// Descriptor numbers no process can have open.
const BAD_FDS: [i32; 6] = [
    -1,
    i32::MIN,
    NOFILE as i32,
    NOFILE as i32 + 1,
    1000,
    i32::MAX,
];
/// Device majors no driver serves (1 is the console, 2 the statistics
/// device).
const BAD_MAJORS: [i16; 7] = [0, 7, NDEV as i16 - 1, NDEV as i16, -1, i16::MIN, i16::MAX];
/// Descriptors a worker keeps open between operations.
const MAX_FDS: usize = 6;
/// Files are not written beyond this size, to bound the disk used.
const FILE_LIMIT: u64 = 16 * 1024;
/// Bounds how long a child waiting to be killed lives if nobody kills it.
const CHILD_TICKS: i32 = 300;
/// Exit status of a child whose `exec` returned.
const EXEC_RETURNED: i32 = 100;
/// The highest page of the 64-bit address space.
const TOP_PAGE: usize = 0xffff_ffff_ffff_f000;

/// What an `exec` with odd arguments must do.
#[derive(Clone, Copy)]
enum ExecOutcome {
    Runs,
    Fails,
    /// Either is right (the limits are not exact in the ABI).
    Either,
}

struct Worker {
    id: usize,
    rng: Rng,
    /// Its end of the report pipe; no random operation touches it.
    report: i32,
    deadline: i32,
    iterations: u64,
    /// Open descriptors that operations may use and close.
    fds: Vec<i32>,
    /// Descriptors free when `fds` is empty; a change means a leak.
    free_fds: usize,
    buf: Vec<u8>,
    /// `/echo`'s bytes and the end of its last loaded segment's content.
    echo: Option<(Vec<u8>, usize)>,
    /// This worker's own names, which no other worker touches.
    dev_name: [u8; 2],
    exe_name: [u8; 2],
    dir_name: [u8; 2],
}

/// Fails the worker, saying what went wrong, unless `$ok` holds.
macro_rules! check {
    ($w:expr, $ok:expr, $($what:tt)*) => {
        if !$ok {
            $w.fail(format_args!($($what)*));
        }
    };
}

impl Worker {
    fn new(id: usize, seed: u64, report: i32, deadline: i32) -> Worker {
        let tag = b'0' + id as u8;
        Worker {
            id,
            rng: Rng::new(seed),
            report,
            deadline,
            iterations: 0,
            fds: Vec::new(),
            free_fds: 0,
            buf: vec![0; 2 * PGSIZE],
            echo: None,
            dev_name: [b'n', tag],
            exe_name: [b'e', tag],
            dir_name: [b'v', tag],
        }
    }

    /// Runs operations until the deadline, then reports and exits.
    fn run(mut self) -> ! {
        check!(self, chdir(DIR) == 0, "chdir {DIR} failed");
        self.echo = load_echo();
        self.free_fds = count_free_fds(self.report);
        while uptime() < self.deadline {
            self.step();
            self.iterations += 1;
        }
        while let Some(fd) = self.fds.pop() {
            close(fd);
        }
        self.census();
        self.finish(0)
    }

    fn finish(&self, status: i32) -> ! {
        write(self.report, &self.iterations.to_le_bytes());
        exit(status)
    }

    fn fail(&self, what: fmt::Arguments) -> ! {
        println!("grind: worker {}: {}", self.id, what);
        self.finish(1)
    }

    fn step(&mut self) {
        match self.rng.below(31) {
            0 => self.open_name(),
            1 => self.close_fd(),
            2 => self.write_fd(),
            3 => self.read_fd(),
            4 => {
                unlink(self.rng.pick(&NAMES));
            }
            5 => {
                link(self.rng.pick(&NAMES), self.rng.pick(&NAMES));
            }
            6 => {
                mkdir(self.rng.pick(&NAMES));
            }
            7 => self.chdir_away_and_back(),
            8 => self.fstat_fd(),
            9 => self.dup_fd(),
            10 => self.bad_fds(),
            11 => self.pipe_transfer(),
            12 => self.pipe_without_reader(),
            13 => self.fork_exit_wait(),
            14 => self.kill_child(),
            15 => self.kill_exiting_child(),
            16 => self.nobody_to_kill_or_wait(),
            17 => self.wait_bad_pointer(),
            18 => self.sbrk_up_down(),
            19 => self.sbrk_hostile_child(),
            20 => self.bad_pointer(),
            21 => self.strings_off_the_end(),
            22 => self.exec_pipeline(),
            23 => self.exec_odd_argv(),
            24 => self.exec_not_a_program(),
            25 => self.vanishing_cwd(),
            26 => self.fd_exhaustion(),
            27 => self.census(),
            28 => self.device_node(),
            29 => self.directory_misuse(),
            _ => self.hostile_sleep(),
        }
    }

    // ---- helpers ----

    /// Forks a child that runs `body` and exits with its result; the
    /// child's pid, or None if fork failed (the machine is busy: skip).
    fn child(&self, body: impl FnOnce() -> i32) -> Option<i32> {
        let pid = fork();
        if pid < 0 {
            return None;
        }
        if pid == 0 {
            close(self.report);
            exit(body());
        }
        Some(pid)
    }

    /// Waits for this worker's only child `pid`; its exit status.
    fn reap(&self, pid: i32) -> i32 {
        let mut status = 0;
        let got = wait(Some(&mut status));
        check!(
            self,
            got == pid,
            "wait returned {got}, expected child {pid}"
        );
        status
    }

    fn some_fd(&mut self) -> Option<i32> {
        if self.fds.is_empty() {
            None
        } else {
            Some(self.rng.pick(&self.fds))
        }
    }

    fn keep_fd(&mut self, fd: i32) {
        if self.fds.len() == MAX_FDS {
            close(self.fds.remove(0));
        }
        self.fds.push(fd);
    }

    /// An address no system call may read or write for this process.
    fn bad_address(&mut self) -> usize {
        let r = &mut self.rng;
        match r.below(7) {
            0 => KERNBASE + r.below(PHYSTOP - KERNBASE),
            1 => TRAMPOLINE + r.below(PGSIZE),
            2 => TRAPFRAME + r.below(PGSIZE),
            3 => MAXVA + r.below(1 << 20),
            4 => r.next() as usize | MAXVA,
            5 => TOP_PAGE + r.below(PGSIZE),
            _ => (sbrk(0) as usize).next_multiple_of(PGSIZE) + r.below(16 * PGSIZE),
        }
    }

    // ---- descriptors and files ----

    fn open_name(&mut self) {
        let flags = if self.rng.one_in(8) {
            self.rng.next() as i32
        } else {
            self.rng.pick(&OPEN_FLAGS)
        };
        let fd = open(self.rng.pick(&NAMES), flags);
        if fd >= 0 {
            self.keep_fd(fd);
        }
    }

    fn close_fd(&mut self) {
        if self.fds.is_empty() {
            return;
        }
        let fd = self.fds.swap_remove(self.rng.below(self.fds.len()));
        let r = close(fd);
        check!(
            self,
            r == 0,
            "close({fd}) of an open descriptor returned {r}"
        );
    }

    fn write_fd(&mut self) {
        let Some(fd) = self.some_fd() else { return };
        let mut st = Stat::default();
        if fstat(fd, &mut st) < 0 || st.size > FILE_LIMIT {
            return;
        }
        let n = self.rng.below(PGSIZE / 2 + 1);
        let r = write(fd, &self.buf[..n]);
        check!(self, r <= n as i32, "write of {n} bytes returned {r}");
    }

    fn read_fd(&mut self) {
        let Some(fd) = self.some_fd() else { return };
        let n = self.rng.below(self.buf.len() + 1);
        let r = read(fd, &mut self.buf[..n]);
        check!(self, r <= n as i32, "read of {n} bytes returned {r}");
    }

    fn chdir_away_and_back(&mut self) {
        let target = if self.rng.one_in(4) {
            "/"
        } else {
            self.rng.pick(&NAMES)
        };
        if chdir(target) == 0 && self.rng.one_in(2) {
            close(open(".", O_RDONLY));
        }
        check!(
            self,
            chdir(DIR) == 0,
            "chdir {DIR} failed after chdir {target}"
        );
    }

    fn fstat_fd(&mut self) {
        let Some(fd) = self.some_fd() else { return };
        let mut st = Stat::default();
        let r = fstat(fd, &mut st);
        check!(
            self,
            r == 0,
            "fstat({fd}) of an open descriptor returned {r}"
        );
        check!(
            self,
            st.typ == T_FILE || st.typ == T_DIR,
            "fstat({fd}) says type {}, not a file or directory",
            st.typ
        );
    }

    fn dup_fd(&mut self) {
        let Some(fd) = self.some_fd() else { return };
        let d = dup(fd);
        check!(self, d >= 0, "dup({fd}) failed with descriptors free");
        self.keep_fd(d);
    }

    /// Descriptors that cannot be open get -1 from every call.
    fn bad_fds(&mut self) {
        let fd = self.rng.pick(&BAD_FDS);
        let mut st = Stat::default();
        let results = [
            ("read", read(fd, &mut self.buf[..16])),
            ("write", write(fd, &self.buf[..16])),
            ("fstat", fstat(fd, &mut st)),
            ("dup", dup(fd)),
            ("close", close(fd)),
        ];
        for (call, r) in results {
            check!(self, r == -1, "{call}({fd}) returned {r}, want -1");
        }
    }

    /// Counts the free descriptors; they must be as many as at the start
    /// less those the worker holds.
    fn census(&mut self) {
        let free = count_free_fds(self.report);
        let want = self.free_fds - self.fds.len();
        check!(
            self,
            free == want,
            "{free} descriptors free, expected {want}: the kernel leaks or loses them"
        );
    }

    /// In a child, opens until the descriptor table is full.
    fn fd_exhaustion(&mut self) {
        let Some(pid) = self.child(|| {
            let mut n = 0;
            while open(".", O_RDONLY) >= 0 {
                n += 1;
                if n > NOFILE {
                    return 1;
                }
            }
            0
        }) else {
            return;
        };
        let status = self.reap(pid);
        check!(
            self,
            status == 0,
            "a process opened more than {NOFILE} files"
        );
    }

    // ---- pipes ----

    fn pipe_transfer(&mut self) {
        let mut p = [0; 2];
        if pipe(&mut p) < 0 {
            return;
        }
        let total = self.rng.below(4 * PGSIZE);
        let chunk = 1 + self.rng.below(PGSIZE);
        let writer = self.child(|| {
            close(p[0]);
            let mut buf = vec![0u8; chunk];
            let mut sent = 0;
            while sent < total {
                let n = chunk.min(total - sent);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern(sent + i);
                }
                if write(p[1], &buf[..n]) != n as i32 {
                    return 1;
                }
                sent += n;
            }
            0
        });
        close(p[1]);
        let Some(pid) = writer else {
            close(p[0]);
            return;
        };
        let mut got = 0;
        loop {
            let n = read(p[0], &mut self.buf);
            if n <= 0 {
                check!(self, n == 0, "read from a pipe returned {n}");
                break;
            }
            let n = n as usize;
            let bad = (0..n).find(|&i| self.buf[i] != pattern(got + i));
            check!(
                self,
                bad.is_none(),
                "wrong byte {} through a pipe",
                got + bad.unwrap_or(0)
            );
            got += n;
        }
        close(p[0]);
        let status = self.reap(pid);
        check!(self, status == 0, "pipe writer failed (status {status})");
        check!(
            self,
            got == total,
            "read {got} bytes from a pipe, {total} were written"
        );
    }

    fn pipe_without_reader(&mut self) {
        let mut p = [0; 2];
        if pipe(&mut p) < 0 {
            return;
        }
        close(p[0]);
        let r = write(p[1], b"x");
        close(p[1]);
        check!(
            self,
            r == -1,
            "write to a pipe nobody can read returned {r}"
        );
    }

    // ---- processes ----

    fn fork_exit_wait(&mut self) {
        let code = self.rng.below(256) as i32;
        let Some(pid) = self.child(|| code) else {
            return;
        };
        let status = self.reap(pid);
        check!(
            self,
            status == code,
            "child exited with {code}, wait says {status}"
        );
    }

    fn kill_child(&mut self) {
        let spin = self.rng.one_in(2);
        let Some(pid) = self.child(|| {
            let end = uptime() + CHILD_TICKS;
            while uptime() < end {
                if !spin {
                    sleep(CHILD_TICKS);
                }
            }
            0
        }) else {
            return;
        };
        sleep(self.rng.below(3) as i32);
        let r = kill(pid);
        check!(self, r == 0, "kill({pid}) of a live child returned {r}");
        let status = self.reap(pid);
        check!(
            self,
            status == -1,
            "killed child exited with status {status}, not -1"
        );
    }

    /// Kills a child that may already have exited.
    fn kill_exiting_child(&mut self) {
        let Some(pid) = self.child(|| 7) else { return };
        if self.rng.one_in(2) {
            sleep(1);
        }
        kill(pid);
        let status = self.reap(pid);
        check!(
            self,
            status == 7 || status == -1,
            "child exiting with 7 (maybe killed) has status {status}"
        );
    }

    fn nobody_to_kill_or_wait(&mut self) {
        for pid in [-1, 0, i32::MIN, i32::MAX] {
            let r = kill(pid);
            check!(self, r == -1, "kill({pid}) returned {r}, want -1");
        }
        let r = wait(None);
        check!(self, r == -1, "wait with no children returned {r}");
    }

    fn wait_bad_pointer(&mut self) {
        let addr = self.bad_address();
        let Some(pid) = self.child(|| 0) else { return };
        let r = raw_wait(addr);
        check!(self, r == -1, "wait({addr:#x}) returned {r}, want -1");
        // The child may still be a zombie; collect it either way.
        let w = wait(None);
        check!(
            self,
            w == pid || w == -1,
            "wait after a failed wait returned {w}, not child {pid}"
        );
    }

    /// Sleeps of odd lengths: a child sleeping for a negative time is
    /// killed after a tick whatever the kernel made of it.
    fn hostile_sleep(&mut self) {
        check!(self, sleep(0) == 0, "sleep(0) failed");
        let ticks = self.rng.pick(&[-1, i32::MIN, i32::MAX]);
        let Some(pid) = self.child(|| {
            sleep(ticks);
            0
        }) else {
            return;
        };
        sleep(1);
        kill(pid);
        let status = self.reap(pid);
        check!(
            self,
            status == 0 || status == -1,
            "child sleeping {ticks} ticks ended with status {status}"
        );
    }

    /// A child stores to a random address the process cannot own; the
    /// kernel must kill it.
    fn wild_store(&mut self) {
        let addr = self.bad_address();
        let Some(pid) = self.child(|| {
            // SAFETY: a single store outside any Rust object; the fault it
            // causes ends the process.
            unsafe { asm!("sd zero, 0({a})", a = in(reg) addr, options(nostack)) };
            1
        }) else {
            return;
        };
        let status = self.reap(pid);
        check!(
            self,
            status == -1,
            "a store to {addr:#x} did not kill the child (status {status})"
        );
    }

    // ---- memory ----

    /// Grows the heap, touches both ends of the new memory, gives it back.
    fn sbrk_up_down(&mut self) {
        let n = 1 + self.rng.below(16 * PGSIZE);
        let old = sbrk(0) as usize;
        let p = sbrk(n as i32);
        if sbrk_failed(p) {
            return;
        }
        let p = p as usize;
        check!(
            self,
            p == old,
            "sbrk({n}) returned {p:#x}, the break was {old:#x}"
        );
        // SAFETY: sbrk just gave us these n bytes; nothing else uses them.
        let ends = unsafe {
            let first = p as *mut u8;
            let last = (p + n - 1) as *mut u8;
            first.write_volatile(0xa5);
            last.write_volatile(0x5a);
            (first.read_volatile(), last.read_volatile())
        };
        check!(
            self,
            ends == (0xa5, 0x5a),
            "new heap memory did not keep what was stored"
        );
        let r = sbrk(-(n as i32)) as usize;
        check!(
            self,
            r == old + n,
            "sbrk(-{n}) returned {r:#x}, not {:#x}",
            old + n
        );
        let now = sbrk(0) as usize;
        check!(
            self,
            now == old,
            "the break is {now:#x} after giving back, not {old:#x}"
        );
    }

    /// A child asks for absurd changes to its memory, or frees memory it
    /// still uses (and dies of it).
    fn sbrk_hostile_child(&mut self) {
        // Rare, since the kernel reports each child it kills.
        if !self.rng.one_in(8) {
            return;
        }
        if self.rng.one_in(2) {
            return self.wild_store();
        }
        let how = self.rng.below(4);
        let cut = self.rng.below(sbrk(0) as usize) as i32;
        let Some(pid) = self.child(|| {
            match how {
                0 => raw_sbrk(i32::MAX),
                1 => raw_sbrk(i32::MIN),
                2 => raw_sbrk(-cut),
                // Everything, code included: returning from sbrk faults.
                _ => raw_sbrk(-(sbrk(0) as i32)),
            };
            0
        }) else {
            return;
        };
        self.reap(pid);
    }

    /// One system call with one bad pointer: -1, or 0 bytes transferred.
    fn bad_pointer(&mut self) {
        let addr = self.bad_address();
        let n = 1 + self.rng.below(2 * PGSIZE) as i32;
        let fd = self.some_fd();
        let name = c"a".as_ptr() as usize;
        let echo = ECHO.as_ptr() as usize;
        let argv = [echo, 0];
        let (call, r) = match self.rng.below(13) {
            0 => match fd {
                Some(fd) => ("read", raw_read(fd, addr, n)),
                None => return,
            },
            1 => match fd {
                Some(fd) => ("write", raw_write(fd, addr, n)),
                None => return,
            },
            2 => match fd {
                Some(fd) => ("fstat", raw_fstat(fd, addr)),
                None => return,
            },
            3 => ("open", raw_open(addr, self.rng.pick(&OPEN_FLAGS))),
            4 => ("exec path", raw_exec(addr, argv.as_ptr() as usize)),
            5 => ("exec argv", raw_exec(echo, addr)),
            6 => ("pipe", raw_pipe(addr)),
            7 => ("chdir", raw_path_call(PathCall::Chdir, addr)),
            8 => ("unlink", raw_path_call(PathCall::Unlink, addr)),
            9 => ("mkdir", raw_path_call(PathCall::Mkdir, addr)),
            10 => ("mknod", raw_path_call(PathCall::Mknod, addr)),
            11 => ("link", raw_link(addr, name)),
            _ => ("wait", raw_wait(addr)),
        };
        // read and write of 0 bytes (an empty file) are right too.
        let transferred_nothing = r == 0 && (call == "read" || call == "write");
        check!(
            self,
            r == -1 || transferred_nothing,
            "{call} with the bad pointer {addr:#x} returned {r}, want -1"
        );
    }

    /// Strings and argv arrays that run off the end of memory, and a path
    /// longer than the kernel accepts: every call must return -1.
    fn strings_off_the_end(&mut self) {
        let old = sbrk(0) as usize;
        let edge = old.next_multiple_of(PGSIZE) + PGSIZE;
        let grow = (edge - old) as i32;
        if sbrk_failed(sbrk(grow)) {
            return;
        }
        // Nothing below allocates, so the break stays at `edge` until it is
        // given back.
        let len = 1 + self.rng.below(MAXPATH);
        let s = edge - len;
        let echo = ECHO.as_ptr() as usize;
        // SAFETY: sbrk just gave us the page below `edge`; no Rust object
        // lives there.
        unsafe { core::ptr::write_bytes((edge - PGSIZE) as *mut u8, b'a', PGSIZE) };
        let variant = self.rng.below(7);
        let (call, r) = match variant {
            0 => ("open", raw_open(s, O_CREATE | O_RDWR)),
            1 => ("unlink", raw_path_call(PathCall::Unlink, s)),
            2 => ("mkdir", raw_path_call(PathCall::Mkdir, s)),
            3 => ("chdir", raw_path_call(PathCall::Chdir, s)),
            4 => ("exec path", raw_exec(s, [0usize].as_ptr() as usize)),
            5 => (
                "exec argv string",
                raw_exec(echo, [echo, s, 0].as_ptr() as usize),
            ),
            _ => {
                // An argv array of good strings, with no null before the end.
                let slots = (edge - 16) as *mut usize;
                // SAFETY: as above; `edge - 16` is 8-aligned.
                unsafe {
                    slots.write(echo);
                    slots.add(1).write(echo);
                }
                ("exec argv array", raw_exec(echo, slots as usize))
            }
        };
        check!(
            self,
            r == -1,
            "{call} of an unterminated {len}-byte string returned {r}"
        );

        // Terminated, but longer than MAXPATH.
        let long = edge - 2 * MAXPATH;
        // SAFETY: as above; the byte is inside the page below `edge`.
        unsafe { ((edge - 1) as *mut u8).write(0) };
        let r = raw_open(long, O_RDONLY);
        check!(
            self,
            r == -1,
            "open of a {}-byte path returned {r}",
            2 * MAXPATH - 1
        );

        let r = sbrk(-grow) as usize;
        check!(
            self,
            r == edge,
            "sbrk(-{grow}) returned {r:#x}, not {edge:#x}"
        );
    }

    // ---- exec ----

    /// `echo hi` through a pipe, by a roundabout path.
    fn exec_pipeline(&mut self) {
        let mut p = [0; 2];
        if pipe(&mut p) < 0 {
            return;
        }
        let Some(pid) = self.child(|| {
            close(1);
            dup(p[1]);
            close(p[0]);
            close(p[1]);
            exec("/grindir/../echo", &["echo", "hi"]);
            EXEC_RETURNED
        }) else {
            close(p[0]);
            close(p[1]);
            return;
        };
        close(p[1]);
        let mut out = [0u8; 8];
        let mut got = 0;
        while got < out.len() {
            let n = read(p[0], &mut out[got..]);
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        close(p[0]);
        let status = self.reap(pid);
        check!(self, status == 0, "exec of echo hi: status {status}");
        check!(
            self,
            &out[..got] == b"hi\n",
            "echo hi printed '{}'",
            Show(&out[..got])
        );
    }

    /// exec of echo with odd argument lists, its output going nowhere.
    fn exec_odd_argv(&mut self) {
        let variant = self.rng.below(8);
        let bad = self.bad_address();
        let expect = match variant {
            0 | 3 => ExecOutcome::Either,
            1 | 2 => ExecOutcome::Runs,
            _ => ExecOutcome::Fails,
        };
        let Some(status) = self.run_silenced(None, || {
            let echo = ECHO.as_ptr();
            let x = c"x".as_ptr().cast::<u8>();
            let mut big = vec![b'y'; 1000];
            big[999] = 0;
            let mut argv: Vec<*const u8> = Vec::new();
            match variant {
                // No arguments at all, not even a name.
                0 => {}
                1 => argv.extend([c"".as_ptr().cast::<u8>(); 3]),
                // The most arguments the kernel's argv buffer holds with
                // its terminating null, MAXARG - 1, and then one more.
                2 => argv.extend([x; MAXARG - 1]),
                3 => argv.extend([x; MAXARG]),
                4 => argv.extend([x; MAXARG + 8]),
                // Arguments that cannot fit the one stack page.
                5 => argv.extend([big.as_ptr(); 5]),
                6 => argv.extend([echo, bad as *const u8]),
                _ => {
                    raw_exec(echo as usize, bad);
                    return EXEC_RETURNED;
                }
            }
            argv.push(null());
            raw_exec(echo as usize, argv.as_ptr() as usize);
            EXEC_RETURNED
        }) else {
            return;
        };
        let ok = match expect {
            ExecOutcome::Runs => status == 0,
            ExecOutcome::Fails => status == EXEC_RETURNED,
            ExecOutcome::Either => status == 0 || status == EXEC_RETURNED,
        };
        check!(
            self,
            ok,
            "exec of echo with odd argv #{variant}: status {status}"
        );
    }

    /// Runs `body` in a child whose standard output and error go to a pipe
    /// nobody reads, killing it after `kill_after` ticks if given; its exit
    /// status.
    fn run_silenced(&self, kill_after: Option<i32>, body: impl FnOnce() -> i32) -> Option<i32> {
        let mut p = [0; 2];
        if pipe(&mut p) < 0 {
            return None;
        }
        close(p[0]);
        let child = self.child(|| {
            close(1);
            close(2);
            dup(p[1]);
            dup(p[1]);
            close(p[1]);
            body()
        });
        close(p[1]);
        let pid = child?;
        if let Some(ticks) = kill_after {
            sleep(ticks);
            kill(pid);
        }
        Some(self.reap(pid))
    }

    /// exec of a text file, of echo cut short, or (rarely) of echo with a
    /// few bytes of its headers changed.
    fn exec_not_a_program(&mut self) {
        let Some((image, limit)) = self.echo.take() else {
            return;
        };
        let how = self.rng.below(8);
        let contents: Vec<u8> = match how {
            0..=2 => Vec::from(&b"echo this is a shell script\n"[..]),
            3..=6 => image[..self.rng.below(limit)].to_vec(),
            _ => {
                let mut v = image.clone();
                let header_end = phdrs_end(&image).unwrap_or(ElfHeader::SIZE);
                for _ in 0..1 + self.rng.below(3) {
                    let i = self.rng.below(header_end);
                    v[i] ^= 1 << self.rng.below(8);
                }
                v
            }
        };
        self.echo = Some((image, limit));
        let name = self.exe_name;
        let fd = open(&name, O_CREATE | O_WRONLY | O_TRUNC);
        if fd < 0 {
            return;
        }
        let n = write(fd, &contents);
        close(fd);
        if n != contents.len() as i32 {
            unlink(&name);
            return;
        }
        let corrupt = how == 7;
        let fds = self.fds.clone();
        // A damaged program that runs might never stop.
        let kill_after = corrupt.then_some(2);
        let status = self.run_silenced(kill_after, || {
            // A damaged program may still run: keep our files out of reach.
            for fd in fds {
                close(fd);
            }
            exec(&name, &["x"]);
            EXEC_RETURNED
        });
        unlink(&name);
        if let Some(status) = status {
            check!(
                self,
                corrupt || status == EXEC_RETURNED,
                "exec of a file that is no program: status {status}"
            );
        }
    }

    // ---- directories ----

    /// A child makes a directory, moves into it and removes it, then
    /// creates and removes a file in the directory that no longer exists.
    fn vanishing_cwd(&mut self) {
        let name = self.dir_name;
        let Some(pid) = self.child(|| {
            mkdir(&name);
            if chdir(&name) == 0 {
                let mut up = *b"../v0";
                up[3..].copy_from_slice(&name);
                unlink(&up);
                close(open("x", O_CREATE | O_RDWR));
                unlink("x");
            }
            0
        }) else {
            return;
        };
        self.reap(pid);
        unlink(&name);
    }

    /// Directories used as files must be refused.
    fn directory_misuse(&mut self) {
        let fd = open(".", O_RDWR);
        check!(self, fd < 0, "open(., O_RDWR) returned {fd}");
        let fd = open(DIR, O_WRONLY);
        check!(self, fd < 0, "open({DIR}, O_WRONLY) returned {fd}");
        for (call, r) in [
            ("unlink(.)", unlink(".")),
            ("unlink(..)", unlink("..")),
            ("mkdir(.)", mkdir(".")),
            ("link(., l)", link(".", "l")),
        ] {
            check!(self, r == -1, "{call} returned {r}, want -1");
        }
        let fd = open(".", O_RDONLY);
        if fd < 0 {
            return;
        }
        let w = write(fd, b"x");
        let mut n = 0;
        while read_dirent(fd).is_some() {
            n += 1;
        }
        close(fd);
        check!(self, w == -1, "write to a directory returned {w}");
        check!(self, n >= 2, "{DIR} lists {n} entries, not even . and ..");
    }

    /// Device files whose major number no driver serves.
    fn device_node(&mut self) {
        let name = self.dev_name;
        let major = self.rng.pick(&BAD_MAJORS);
        let minor = self.rng.next() as i16;
        unlink(&name);
        if mknod(&name, major, minor) < 0 {
            return;
        }
        let fd = open(&name, O_RDWR);
        if fd >= 0 {
            let r = read(fd, &mut self.buf[..8]);
            let w = write(fd, &self.buf[..8]);
            close(fd);
            check!(self, r == -1, "read of device {major} returned {r}");
            check!(self, w == -1, "write of device {major} returned {w}");
        }
        let r = unlink(&name);
        check!(self, r == 0, "unlink of device file {} failed", Show(&name));
    }
}

/// The bytes a pipe carries, by position.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// How many more descriptors this process can get, probing with `dup(fd)`.
fn count_free_fds(fd: i32) -> usize {
    let mut got = Vec::new();
    loop {
        let d = dup(fd);
        if d < 0 {
            break;
        }
        got.push(d);
    }
    for &d in &got {
        close(d);
    }
    got.len()
}

/// `/echo`'s bytes and where its last loaded segment's content ends (a cut
/// before that must make exec fail).
fn load_echo() -> Option<(Vec<u8>, usize)> {
    let fd = open("/echo", O_RDONLY);
    if fd < 0 {
        return None;
    }
    let mut image = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = read(fd, &mut chunk);
        if n <= 0 {
            break;
        }
        image.extend_from_slice(&chunk[..n as usize]);
    }
    close(fd);
    let eh = ElfHeader::parse(&image).ok()?;
    let mut limit = 0;
    for i in 0..eh.phnum {
        let off = eh.ph_offset(i)? as usize;
        let ph = ProgramHeader::parse(image.get(off..)?).ok()?;
        if ph.typ == PT_LOAD && ph.filesz > 0 {
            limit = limit.max((ph.offset + ph.filesz) as usize);
        }
    }
    (limit > 0 && limit <= image.len()).then_some((image, limit))
}

/// Where the ELF header and program header table end.
fn phdrs_end(image: &[u8]) -> Option<usize> {
    let eh = ElfHeader::parse(image).ok()?;
    let end = eh.ph_offset(eh.phnum)? as usize;
    (end <= image.len()).then_some(end)
}

// The raw calls below hand the kernel addresses the process does not own
// (or does not own entirely). The kernel must check them; the process never
// touches them itself, so Rust's view of memory is not involved.

fn raw_read(fd: i32, addr: usize, n: i32) -> i32 {
    // SAFETY: see above.
    unsafe { sys::read(fd, addr as *mut u8, n) as i32 }
}

fn raw_write(fd: i32, addr: usize, n: i32) -> i32 {
    // SAFETY: see above; the kernel only reads through `addr`.
    unsafe { sys::write(fd, addr as *const u8, n) as i32 }
}

fn raw_open(path: usize, flags: i32) -> i32 {
    // SAFETY: see above.
    unsafe { sys::open(path as *const u8, flags) as i32 }
}

fn raw_exec(path: usize, argv: usize) -> i32 {
    // SAFETY: see above. Should the kernel wrongly accept, the process
    // becomes echo and the caller notices from its exit status.
    unsafe { sys::exec(path as *const u8, argv as *const *const u8) as i32 }
}

fn raw_fstat(fd: i32, addr: usize) -> i32 {
    // SAFETY: see above.
    unsafe { sys::fstat(fd, addr as *mut Stat) as i32 }
}

fn raw_pipe(addr: usize) -> i32 {
    // SAFETY: see above.
    unsafe { sys::pipe(addr as *mut i32) as i32 }
}

fn raw_wait(addr: usize) -> i32 {
    // SAFETY: see above.
    unsafe { sys::wait(addr as *mut i32) as i32 }
}

fn raw_link(old: usize, new: usize) -> i32 {
    // SAFETY: see above.
    unsafe { sys::link(old as *const u8, new as *const u8) as i32 }
}

fn raw_sbrk(n: i32) -> isize {
    // SAFETY: sbrk takes no pointer. Callers run it in children that may
    // lose memory they use: the kernel then kills them, which is allowed.
    unsafe { sys::sbrk(n) }
}

#[derive(Clone, Copy)]
enum PathCall {
    Chdir,
    Unlink,
    Mkdir,
    Mknod,
}

fn raw_path_call(call: PathCall, path: usize) -> i32 {
    let p = path as *const u8;
    // SAFETY: see above.
    let r = unsafe {
        match call {
            PathCall::Chdir => sys::chdir(p),
            PathCall::Unlink => sys::unlink(p),
            PathCall::Mkdir => sys::mkdir(p),
            PathCall::Mknod => sys::mknod(p, abi::dev::CONSOLE, 0),
        }
    };
    r as i32
}
