#![no_std]
#![no_main]
//! uthread [-b] [ROUNDS]: user-level threads (thread lab). Three threads, a, b
//! and c, share this process and take turns: each runs until it calls
//! `thread_yield`, and `thread_schedule` then switches to the next runnable
//! one. Each prints `thread_x started`, waits for the other two, then
//! prints `thread_x 0` … `thread_x ROUNDS-1` (default 100), yielding after
//! each, and `thread_x: exit after ROUNDS`. When no thread is left,
//! `thread_schedule: no runnable threads`.
//!
//! `uthread -b ROUNDS` is the same run without the rounds' lines, for
//! `cargo xtask bench`: at the end it prints the mean time of a switch
//! between threads, `bench uthread-switch: <ns> ns`.
//!
//! The switch itself, `thread_switch`, is assembly: it saves the registers
//! a function call must keep (ra, sp, s0–s11) into the old thread's
//! `Context` and loads the new thread's. The other registers are the
//! caller's to save, and the compiler saves them around the call. (User
//! programs run with the floating-point unit off, so there are no fs
//! registers to keep.)
use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use user::*;

entry!(main);

/// Slot 0 is `main`'s own thread; three more for a, b and c.
const MAX_THREAD: usize = 4;
/// Bytes of stack each thread gets.
const STACK_SIZE: usize = 8192;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum State {
    #[default]
    Free,
    Running,
    Runnable,
}

/// What `thread_switch` keeps of a thread that is not running: its
/// layout is the assembly's (offsets in bytes: ra 0, sp 8, s0 16 …).
#[repr(C)]
#[derive(Default)]
struct Context {
    ra: usize,
    sp: usize,
    /// s0 to s11.
    s: [usize; 12],
}

#[derive(Default)]
struct Thread {
    context: Context,
    state: State,
    /// The top of its stack (stacks grow down), 0 until it has one.
    stack_top: usize,
}

struct Threads {
    all: Vec<Thread>,
    current: usize,
}

/// The thread table. Borrowed only between switches, never across one:
/// each thread that resumes takes its own borrow.
struct Table(RefCell<Threads>);

// SAFETY: the process has one kernel thread, so the table is never
// touched by two at once; user-level threads switch only inside
// `thread_schedule`, after it has given back its borrow.
unsafe impl Sync for Table {}

static THREADS: Table = Table(RefCell::new(Threads {
    all: Vec::new(),
    current: 0,
}));

core::arch::global_asm!(
    ".globl thread_switch",
    "thread_switch:",
    // BEGIN SOLUTION
    // a0 = the old thread's Context, a1 = the new one's.
    "sd ra, 0(a0)",
    "sd sp, 8(a0)",
    "sd s0, 16(a0)",
    "sd s1, 24(a0)",
    "sd s2, 32(a0)",
    "sd s3, 40(a0)",
    "sd s4, 48(a0)",
    "sd s5, 56(a0)",
    "sd s6, 64(a0)",
    "sd s7, 72(a0)",
    "sd s8, 80(a0)",
    "sd s9, 88(a0)",
    "sd s10, 96(a0)",
    "sd s11, 104(a0)",
    "ld ra, 0(a1)",
    "ld sp, 8(a1)",
    "ld s0, 16(a1)",
    "ld s1, 24(a1)",
    "ld s2, 32(a1)",
    "ld s3, 40(a1)",
    "ld s4, 48(a1)",
    "ld s5, 56(a1)",
    "ld s6, 64(a1)",
    "ld s7, 72(a1)",
    "ld s8, 80(a1)",
    "ld s9, 88(a1)",
    "ld s10, 96(a1)",
    "ld s11, 104(a1)",
    // END SOLUTION
    // STARTER: // YOUR CODE HERE: save the old thread's registers, load the new one's.
    // Returns to the new thread's ra, on its stack.
    "ret",
);

unsafe extern "C" {
    /// Saves the running thread's registers in `old` and continues the
    /// thread `new` describes; returns when something switches back to
    /// `old`.
    ///
    /// # Safety
    /// `old` is valid for writes and `new` for reads, for a whole
    /// `Context`; `new` holds a stopped thread's registers (saved by
    /// `thread_switch`, or set by `thread_create`: ra a function that never
    /// returns, sp the top of a stack nothing else uses).
    fn thread_switch(old: *mut Context, new: *const Context);
}

/// Makes `main`'s own thread slot 0, the running one.
fn thread_init() {
    let mut t = THREADS.0.borrow_mut();
    t.all = (0..MAX_THREAD).map(|_| Thread::default()).collect();
    t.current = 0;
    t.all[0].state = State::Running;
}

/// Picks the next runnable thread after the current one (round robin) and
/// switches to it. With none, the program is over.
fn thread_schedule() {
    let switch = {
        let mut t = THREADS.0.borrow_mut();
        let current = t.current;
        let Some(next) = (1..=MAX_THREAD)
            .map(|i| (current + i) % MAX_THREAD)
            .find(|&i| t.all[i].state == State::Runnable)
        else {
            drop(t);
            if QUIET.load(Relaxed) {
                let switches = SWITCHES.load(Relaxed).max(1);
                let ticks = time() - FIRST_SWITCH.load(Relaxed);
                let ns = ticks * 1_000_000_000 / TIME_HZ / switches;
                println!("bench uthread-switch: {ns} ns");
            }
            println!("thread_schedule: no runnable threads");
            exit(-1);
        };
        if next == current {
            return;
        }
        if SWITCHES.fetch_add(1, Relaxed) == 0 {
            FIRST_SWITCH.store(time(), Relaxed);
        }
        t.all[next].state = State::Running;
        t.current = next;
        // Taken now, used at once, with no borrow of the table in between.
        let old: *mut Context = &raw mut t.all[current].context;
        let new: *const Context = &raw const t.all[next].context;
        (old, new)
    };
    // BEGIN SOLUTION
    let (old, new) = switch;
    // SAFETY: both point into the table's vector, which is never resized
    // after thread_init, and no borrow of it is held now; `new` is a
    // thread that is not running, whose context the last switch away from
    // it saved or thread_create set (a thread function, its own stack).
    unsafe { thread_switch(old, new) };
    // END SOLUTION
    // STARTER: // YOUR CODE HERE: switch from the old thread to the new one.
    // STARTER: let _ = (switch, thread_switch);
}

/// Makes a thread that starts at `func`, runnable.
fn thread_create(func: extern "C" fn() -> !) {
    let mut t = THREADS.0.borrow_mut();
    let Some(i) = t.all.iter().position(|th| th.state == State::Free) else {
        drop(t);
        println!("thread_create: no free thread");
        exit(1);
    };
    let th = &mut t.all[i];
    if th.stack_top == 0 {
        // A stack for the slot, kept for the program's life (a thread
        // that is over may still be running on it as it switches away).
        let stack: &'static mut [u128] = Box::leak(vec![0u128; STACK_SIZE / 16].into_boxed_slice());
        th.stack_top = stack.as_mut_ptr_range().end as usize;
    }
    th.state = State::Runnable;
    // BEGIN SOLUTION
    // The first switch to it "returns" into func, on its own stack.
    th.context.ra = func as usize;
    th.context.sp = th.stack_top;
    // END SOLUTION
    // STARTER: // YOUR CODE HERE: where the new thread starts, and its stack.
    // STARTER: let _ = func;
}

fn thread_yield() {
    let mut t = THREADS.0.borrow_mut();
    let current = t.current;
    t.all[current].state = State::Runnable;
    drop(t);
    thread_schedule();
}

/// Ends the calling thread.
fn thread_exit() -> ! {
    let mut t = THREADS.0.borrow_mut();
    let current = t.current;
    t.all[current].state = State::Free;
    drop(t);
    thread_schedule();
    // Nothing switches back to a free thread.
    println!("thread_exit: a finished thread ran again");
    exit(1);
}

static STARTED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
static ROUNDS: AtomicU32 = AtomicU32::new(100);
/// `-b`: rounds without their lines, and the switches timed.
static QUIET: AtomicBool = AtomicBool::new(false);
/// Switches from one thread to another, and the `time` CSR at the first.
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static FIRST_SWITCH: AtomicU64 = AtomicU64::new(0);

/// Thread `me` (0 for a, 1 for b, 2 for c): waits for the others to start,
/// then counts to ROUNDS, yielding after each number.
fn body(me: usize) -> ! {
    let name = [b'a', b'b', b'c'][me] as char;
    println!("thread_{name} started");
    STARTED[me].store(true, Relaxed);
    while !STARTED.iter().all(|s| s.load(Relaxed)) {
        thread_yield();
    }
    let rounds = ROUNDS.load(Relaxed);
    let mut n = 0;
    let quiet = QUIET.load(Relaxed);
    for i in 0..rounds {
        if !quiet {
            println!("thread_{name} {i}");
        }
        n += 1;
        thread_yield();
    }
    println!("thread_{name}: exit after {n}");
    thread_exit()
}

extern "C" fn thread_a() -> ! {
    body(0)
}

extern "C" fn thread_b() -> ! {
    body(1)
}

extern "C" fn thread_c() -> ! {
    body(2)
}

fn main(args: Args) -> i32 {
    let mut arg = 1;
    if args.bytes(1) == Some(b"-b".as_slice()) {
        QUIET.store(true, Relaxed);
        arg = 2;
    }
    match args.bytes(arg) {
        None => {}
        Some(n) if !n.is_empty() && n.len() < 7 && n.iter().all(u8::is_ascii_digit) => {
            ROUNDS.store(atoi(n) as u32, Relaxed)
        }
        Some(_) => {
            eprintln!("usage: uthread [-b] [ROUNDS]");
            return 1;
        }
    }
    thread_init();
    thread_create(thread_a);
    thread_create(thread_b);
    thread_create(thread_c);
    thread_schedule();
    0
}
