//! A reader-writer spin lock whose policy a lab writes (the lock lab's
//! 2025 edition), and the kernel side of the `rwlktest` system call.
//!
//! The lock guards no data of its own: its state is two atomic words that
//! the policy ([`RwPolicy`]) reads and changes as it likes, so a policy
//! that lets a writer in beside readers, or never lets a writer in, is a
//! wrong answer that [`rwlktest`] reports, never undefined behaviour.
//! Like a [`SpinLock`](crate::spinlock::SpinLock), a held lock keeps
//! interrupts off on its hart.

use crate::cpu::{pop_off, push_off};
use crate::riscv::r_time;
use core::hint::spin_loop;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The lock's state, for its policy to use as it likes (both start at 0):
/// for example the readers inside and a writer bit in `word`, and the
/// writers waiting in `waiting`.
pub struct RwState {
    pub word: AtomicU32,
    pub waiting: AtomicU32,
}

/// How a [`RwSpinLock`] is taken and released: each `*_acquire` returns
/// once the caller may go in (spinning until then), each `*_release` lets
/// others in. Called with interrupts off.
pub trait RwPolicy: Sync {
    /// Go in to read: any number of readers may be in at once, never with
    /// a writer; with writer priority, not while a writer waits.
    fn read_acquire(&self, s: &RwState);
    fn read_release(&self, s: &RwState);
    /// Go in to write: alone.
    fn write_acquire(&self, s: &RwState);
    fn write_release(&self, s: &RwState);
}

/// A reader-writer spin lock run by a [`RwPolicy`].
pub struct RwSpinLock {
    name: &'static str,
    state: RwState,
    policy: &'static dyn RwPolicy,
}

impl RwSpinLock {
    pub const fn new(name: &'static str, policy: &'static dyn RwPolicy) -> RwSpinLock {
        RwSpinLock {
            name,
            state: RwState {
                word: AtomicU32::new(0),
                waiting: AtomicU32::new(0),
            },
            policy,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Holds the lock to read until the guard drops.
    #[doc(alias = "read_acquire")]
    pub fn read(&self) -> ReadGuard<'_> {
        push_off();
        self.policy.read_acquire(&self.state);
        ReadGuard {
            lock: self,
            _hart: PhantomData,
        }
    }

    /// Holds the lock to write until the guard drops.
    #[doc(alias = "write_acquire")]
    pub fn write(&self) -> WriteGuard<'_> {
        push_off();
        self.policy.write_acquire(&self.state);
        WriteGuard {
            lock: self,
            _hart: PhantomData,
        }
    }
}

/// The lock held to read. Not `Send`: it must be dropped on the hart that
/// took it (interrupts are off there until then).
pub struct ReadGuard<'a> {
    lock: &'a RwSpinLock,
    _hart: PhantomData<*const ()>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.lock.policy.read_release(&self.lock.state);
        pop_off();
    }
}

/// The lock held to write (not `Send`, as [`ReadGuard`]).
pub struct WriteGuard<'a> {
    lock: &'a RwSpinLock,
    _hart: PhantomData<*const ()>,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.lock.policy.write_release(&self.lock.state);
        pop_off();
    }
}

/// Why a participant of [`rwlktest`] failed; its number is the system
/// call's return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum RwFail {
    /// A writer was in beside another writer or a reader.
    Exclusion = 1,
    /// A stream of readers kept a waiting writer out until it ran dry.
    WriterStarved = 2,
    /// The others did not come (or this process was killed).
    Timeout = 3,
}

/// QEMU virt's `time` runs at 10 MHz.
const TICKS_PER_MS: u64 = 10_000;
/// How long a participant waits for the others at a barrier.
const BARRIER_TICKS: u64 = 10_000 * TICKS_PER_MS;
/// How long a reader holding the lock waits for another to come in before
/// it lets go: the readers keep the lock held between them, so a lock that
/// lets readers in while a writer waits starves the writer.
const HANDOFF_TICKS: u64 = 50 * TICKS_PER_MS;
/// How long the readers' stream lasts at most: a writer still out then was
/// starved.
const STREAM_TICKS: u64 = 500 * TICKS_PER_MS;
/// Times the writer tries against a stream of readers.
const ATTEMPTS: u32 = 4;

const W: u32 = 1 << 31;

/// One run's shared state (one run at a time: the participants of another
/// run get no ticket until every participant of this one has left).
struct Run {
    arrived: AtomicU32,
    left: AtomicU32,
    barrier: AtomicU32,
    /// Readers in (low bits) and a writer in ([`W`]), as the test counts.
    inside: AtomicU32,
    /// Readers' entries during a writer-priority attempt.
    entries: AtomicU32,
    writer_done: AtomicBool,
    stream_over: AtomicBool,
}

static RUN: Run = Run {
    arrived: AtomicU32::new(0),
    left: AtomicU32::new(0),
    barrier: AtomicU32::new(0),
    inside: AtomicU32::new(0),
    entries: AtomicU32::new(0),
    writer_done: AtomicBool::new(false),
    stream_over: AtomicBool::new(false),
};

fn now() -> u64 {
    r_time() as u64
}

fn killed() -> bool {
    crate::proc::myproc().is_some_and(|p| p.is_killed())
}

/// Waits until all `n` participants have reached barrier number `stage`
/// (1, 2, ...).
fn barrier(n: u32, stage: u32) -> Result<(), RwFail> {
    RUN.barrier.fetch_add(1, Ordering::AcqRel);
    let deadline = now() + BARRIER_TICKS;
    while RUN.barrier.load(Ordering::Acquire) < n * stage {
        if now() > deadline || killed() {
            return Err(RwFail::Timeout);
        }
        spin_loop();
    }
    Ok(())
}

/// A short wait inside the lock, varying with `i`, so that others come
/// while it is held.
fn hold(i: u32) {
    for _ in 0..(i % 29) * 4 {
        spin_loop();
    }
}

/// Phase 1: everyone reads and writes `rounds` times, a write in eight;
/// whoever finds a writer beside it fails.
fn exclusion(lock: &RwSpinLock, ticket: u32, rounds: u32) -> Result<(), RwFail> {
    let mut ok = true;
    for i in 0..rounds {
        if (i + ticket).is_multiple_of(8) {
            let _g = lock.write();
            ok &= RUN.inside.fetch_or(W, Ordering::AcqRel) == 0;
            hold(i);
            RUN.inside.fetch_and(!W, Ordering::AcqRel);
        } else {
            let _g = lock.read();
            ok &= RUN.inside.fetch_add(1, Ordering::AcqRel) & W == 0;
            hold(i);
            RUN.inside.fetch_sub(1, Ordering::AcqRel);
        }
    }
    if ok { Ok(()) } else { Err(RwFail::Exclusion) }
}

/// Phase 2, a reader: holds the lock to read, letting go only once
/// another reader has come in after it (or after [`HANDOFF_TICKS`]), and
/// comes back at once, until the writer has been in or the stream is
/// over. The newest reader stays, so the readers hold the lock between
/// them all the time that the lock lets them in.
fn reader_stream(lock: &RwSpinLock) {
    let end = now() + STREAM_TICKS;
    while !RUN.writer_done.load(Ordering::Acquire) {
        if now() > end {
            RUN.stream_over.store(true, Ordering::Release);
            break;
        }
        let _g = lock.read();
        let mine = RUN.entries.fetch_add(1, Ordering::AcqRel);
        let give_up = now() + HANDOFF_TICKS;
        while RUN.entries.load(Ordering::Acquire) == mine + 1
            && now() < give_up
            && !RUN.writer_done.load(Ordering::Acquire)
        {
            spin_loop();
        }
    }
}

/// Phase 2, the writer: waits for the readers' stream to start, then
/// must get in before it is over.
fn writer(lock: &RwSpinLock) -> Result<(), RwFail> {
    let deadline = now() + STREAM_TICKS / 10;
    while RUN.entries.load(Ordering::Acquire) == 0 && now() < deadline {
        spin_loop();
    }
    let starved = {
        let _g = lock.write();
        let starved = RUN.stream_over.load(Ordering::Acquire);
        RUN.writer_done.store(true, Ordering::Release);
        starved
    };
    if starved {
        Err(RwFail::WriterStarved)
    } else {
        Ok(())
    }
}

fn participate(lock: &RwSpinLock, n: u32, ticket: u32, rounds: u32) -> Result<(), RwFail> {
    barrier(n, 1)?;
    let mut result = exclusion(lock, ticket, rounds);
    let mut stage = 2;
    // Writer priority means something with readers besides the writer.
    for _ in 0..if n >= 2 { ATTEMPTS } else { 0 } {
        barrier(n, stage)?;
        if ticket == 0 {
            RUN.writer_done.store(false, Ordering::Release);
            RUN.stream_over.store(false, Ordering::Release);
            RUN.entries.store(0, Ordering::Release);
        }
        barrier(n, stage + 1)?;
        stage += 2;
        if ticket == 0 {
            result = result.and(writer(lock));
        } else {
            reader_stream(lock);
        }
    }
    barrier(n, stage)?;
    result
}

/// `rwlktest(n, rounds)` for `lock`: `n` processes (one per hart) call
/// it at once. They read and write under the lock `rounds` times each,
/// checking that no writer is ever in beside anyone; then one writer
/// tries [`ATTEMPTS`] times to get in while the others keep it held to
/// read between them, and must get in before their stream runs dry
/// (writer priority). Returns 0 when this participant saw no fault, else
/// the [`RwFail`] number; -1 for bad arguments or a run already full.
#[doc(alias = "sys_rwlktest")]
pub fn rwlktest(lock: &RwSpinLock, n: i32, rounds: i32) -> i64 {
    if n < 1 || n as usize > abi::param::NCPU || rounds < 0 {
        return -1;
    }
    let n = n as u32;
    let ticket = RUN.arrived.fetch_add(1, Ordering::AcqRel);
    let r = if ticket < n {
        match participate(lock, n, ticket, rounds as u32) {
            Ok(()) => 0,
            Err(e) => e as i64,
        }
    } else {
        -1
    };
    // The last to leave resets the run for the next.
    if RUN.left.fetch_add(1, Ordering::AcqRel) + 1 == RUN.arrived.load(Ordering::Acquire) {
        RUN.barrier.store(0, Ordering::Release);
        RUN.inside.store(0, Ordering::Release);
        RUN.entries.store(0, Ordering::Release);
        RUN.left.store(0, Ordering::Release);
        RUN.arrived.store(0, Ordering::Release);
    }
    r
}
