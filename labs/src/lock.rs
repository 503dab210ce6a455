//! Lab lock (2020 edition): take the contention out of two locks every
//! process fights over. The page allocator keeps a free list per hart,
//! each under its own `kmem` lock, and a hart whose list is empty steals
//! from the others; the buffer cache hashes blocks by number into buckets,
//! each under its own `bcache` lock, and recycles the least recently
//! released buffer.
//!
//! The 2025 edition adds a reader-writer spin lock with writer priority:
//! its policy is [`WriterFirst`] below, and the `rwlktest` system call
//! tests it on every hart.
//!
//! Hooks used: `page_policy` (xv6's `kalloc`/`kfree` and their `kmem`),
//! `buf_policy` (xv6's `bget`/`brelse` and their `bcache`) and `syscalls`
//! (`rwlktest`). The lab's
//! kernel counts every spinlock's acquires and failed test-and-set
//! attempts (the `lockstat` feature) and shows them in the `statistics`
//! device: only locks whose names start with `kmem` or `bcache` count
//! there, so the locks here keep those prefixes.
// Safe Rust only: the seams (kalloc's `Page` and `FreePages`, bio's
// `Bucket`, `Entry` and `Held`) keep a policy from losing or doubling a
// page or a buffer, and this lab needs no `unsafe`.
#![forbid(unsafe_code)]

use kernel_base::bio::BufPolicy;
use kernel_base::hooks::Lab;
use kernel_base::kalloc::PagePolicy;
use kernel_base::rwlock::{RwPolicy, RwSpinLock, RwState};
use kernel_base::syscall::{SysFn, arg_int};
// BEGIN SOLUTION
use abi::param::NCPU;
use kernel_base::bio::{Bucket, Held};
use kernel_base::cpu::PerCpu;
use kernel_base::kalloc::{FreePages, Page};
use kernel_base::spinlock::SpinLock;
use core::hint::spin_loop;
use core::sync::atomic::Ordering;
// END SOLUTION

pub struct Lock;

impl Lab for Lock {
    fn name(&self) -> &'static str {
        "lock"
    }

    /// The allocator's policy: a free list per hart.
    fn page_policy(&self) -> Option<&'static dyn PagePolicy> {
        // BEGIN SOLUTION
        Some(&KMEM)
        // END SOLUTION
        // STARTER: None
    }

    /// The buffer cache's policy: buckets by block number.
    fn buf_policy(&self) -> Option<&'static dyn BufPolicy> {
        // BEGIN SOLUTION
        Some(&BCACHE)
        // END SOLUTION
        // STARTER: None
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(abi::syscall::nr::rwlktest, sys_rwlktest)]
    }
}

/// `rwlktest(n, rounds)`: one of `n` processes testing [`RWLOCK`].
fn sys_rwlktest() -> i64 {
    kernel_base::rwlock::rwlktest(&RWLOCK, arg_int(0), arg_int(1))
}

static RWLOCK: RwSpinLock = RwSpinLock::new("rwlk", &WriterFirst);

/// A reader-writer lock's policy with writer priority: readers share the
/// lock, a writer holds it alone, and a reader that comes while a writer
/// waits lets the writer go first (so that a stream of readers cannot
/// keep writers out for ever).
struct WriterFirst;

// BEGIN SOLUTION
/// In `word`: a writer is in.
const WRITER: u32 = 1 << 31;
// END SOLUTION

impl RwPolicy for WriterFirst {
    fn read_acquire(&self, s: &RwState) {
        // BEGIN SOLUTION
        loop {
            // `word` counts the readers in, below the writer bit;
            // `waiting` the writers waiting.
            if s.waiting.load(Ordering::Acquire) == 0 {
                let w = s.word.load(Ordering::Relaxed);
                if w & WRITER == 0
                    && s.word
                        .compare_exchange_weak(w, w + 1, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return;
                }
            }
            spin_loop();
        }
        // END SOLUTION
        // STARTER: let _ = s;
    }

    fn read_release(&self, s: &RwState) {
        // BEGIN SOLUTION
        s.word.fetch_sub(1, Ordering::Release);
        // END SOLUTION
        // STARTER: let _ = s;
    }

    fn write_acquire(&self, s: &RwState) {
        // BEGIN SOLUTION
        s.waiting.fetch_add(1, Ordering::AcqRel);
        while s
            .word
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        s.waiting.fetch_sub(1, Ordering::AcqRel);
        // END SOLUTION
        // STARTER: let _ = s;
    }

    fn write_release(&self, s: &RwState) {
        // BEGIN SOLUTION
        s.word.fetch_and(!WRITER, Ordering::Release);
        // END SOLUTION
        // STARTER: let _ = s;
    }
}

// BEGIN SOLUTION

/// How many pages a hart takes from another's list when its own is empty:
/// enough that it rarely comes back, few enough that the other hart's lock
/// is held only briefly.
const STEAL: usize = 32;

#[doc(alias = "kmem")]
struct PerCpuLists {
    lists: PerCpu<SpinLock<FreePages>>,
}

const fn list(name: &'static str) -> SpinLock<FreePages> {
    SpinLock::new(name, FreePages::new())
}

/// One list per hart, its lock named after the hart (`&'static str`, so
/// spelled out: NCPU of them).
static KMEM: PerCpuLists = PerCpuLists {
    lists: PerCpu::new([
        list("kmem0"),
        list("kmem1"),
        list("kmem2"),
        list("kmem3"),
        list("kmem4"),
        list("kmem5"),
        list("kmem6"),
        list("kmem7"),
    ]),
};
const _: () = assert!(NCPU == 8, "a kmem list for each hart: one name per hart above");

impl PagePolicy for PerCpuLists {
    fn alloc(&self) -> Option<Page> {
        // Interrupts stay off while `mine` lives: this code stays on its
        // hart, so the list it fills is the one it will take from next.
        let mine = self.lists.mine();
        if let Some(p) = mine.lock().pop() {
            return Some(p);
        }
        // Never hold two list locks at once: two harts stealing from each
        // other would each wait for the other's.
        for (hart, other) in self.lists.iter().enumerate() {
            if hart == mine.hart() {
                continue;
            }
            let mut stolen = other.lock().split_off(STEAL);
            if let Some(p) = stolen.pop() {
                mine.lock().append(&mut stolen);
                return Some(p);
            }
        }
        None
    }

    fn free(&self, page: Page) {
        self.lists.mine().lock().push(page);
    }

    fn for_each_list(&self, f: &mut dyn FnMut(&FreePages)) {
        for l in self.lists.iter() {
            f(&l.lock());
        }
    }
}

/// Buckets of the buffer cache: a prime, so that block numbers in a
/// stride spread over them; more than MIT's 13, as harts meet in a bucket
/// about 1/NBUCKET as often as at one lock.
const NBUCKET: usize = 61;

const fn bucket(name: &'static str) -> SpinLock<Bucket> {
    SpinLock::new(name, Bucket::new())
}

#[doc(alias = "bcache")]
struct Hashed {
    buckets: [SpinLock<Bucket>; NBUCKET],
    /// Taken to recycle a buffer: one hart at a time moves buffers between
    /// buckets, so it alone ever holds two bucket locks (no deadlock), and
    /// no block gets cached twice (only recycling caches a block).
    evict: SpinLock<()>,
}

static BCACHE: Hashed = Hashed {
    buckets: [
        bucket("bcache0"),
        bucket("bcache1"),
        bucket("bcache2"),
        bucket("bcache3"),
        bucket("bcache4"),
        bucket("bcache5"),
        bucket("bcache6"),
        bucket("bcache7"),
        bucket("bcache8"),
        bucket("bcache9"),
        bucket("bcache10"),
        bucket("bcache11"),
        bucket("bcache12"),
        bucket("bcache13"),
        bucket("bcache14"),
        bucket("bcache15"),
        bucket("bcache16"),
        bucket("bcache17"),
        bucket("bcache18"),
        bucket("bcache19"),
        bucket("bcache20"),
        bucket("bcache21"),
        bucket("bcache22"),
        bucket("bcache23"),
        bucket("bcache24"),
        bucket("bcache25"),
        bucket("bcache26"),
        bucket("bcache27"),
        bucket("bcache28"),
        bucket("bcache29"),
        bucket("bcache30"),
        bucket("bcache31"),
        bucket("bcache32"),
        bucket("bcache33"),
        bucket("bcache34"),
        bucket("bcache35"),
        bucket("bcache36"),
        bucket("bcache37"),
        bucket("bcache38"),
        bucket("bcache39"),
        bucket("bcache40"),
        bucket("bcache41"),
        bucket("bcache42"),
        bucket("bcache43"),
        bucket("bcache44"),
        bucket("bcache45"),
        bucket("bcache46"),
        bucket("bcache47"),
        bucket("bcache48"),
        bucket("bcache49"),
        bucket("bcache50"),
        bucket("bcache51"),
        bucket("bcache52"),
        bucket("bcache53"),
        bucket("bcache54"),
        bucket("bcache55"),
        bucket("bcache56"),
        bucket("bcache57"),
        bucket("bcache58"),
        bucket("bcache59"),
        bucket("bcache60"),
    ],
    evict: SpinLock::new("bcache.evict", ()),
};

impl BufPolicy for Hashed {
    fn buckets(&self) -> &[SpinLock<Bucket>] {
        &self.buckets
    }

    fn bucket_of(&self, dev: u32, blockno: u32) -> usize {
        // Mixed (murmur3's finalizer), not `blockno % NBUCKET`: processes
        // reading, in step, files laid out so that their k-th blocks share
        // a bucket would otherwise meet there at every block.
        let mut h = blockno ^ dev.rotate_left(16);
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
        h as usize % NBUCKET
    }

    fn get(&self, dev: u32, blockno: u32) -> Option<Held> {
        let home = self.bucket_of(dev, blockno);
        if let Some(h) = self.buckets[home].lock().lookup(dev, blockno) {
            return Some(h);
        }
        let _evict = self.evict.lock();
        // A recycling before ours may have cached the block meanwhile.
        if let Some(h) = self.buckets[home].lock().lookup(dev, blockno) {
            return Some(h);
        }
        loop {
            // The free buffer released longest ago, over all buckets.
            let mut best: Option<(usize, usize, u64)> = None;
            for (i, b) in self.buckets.iter().enumerate() {
                let b = b.lock();
                if let Some(pos) = b.least_recent_free() {
                    let stamp = b.entry(pos).map_or(u64::MAX, |e| e.stamp());
                    if best.is_none_or(|(_, _, s)| stamp < s) {
                        best = Some((i, pos, stamp));
                    }
                }
            }
            let (from, pos, _) = best?;
            if from == home {
                if let Some(h) = self.buckets[home].lock().recycle(pos, dev, blockno) {
                    return Some(h);
                }
                continue; // taken meanwhile: look again
            }
            let mut src = self.buckets[from].lock();
            if !src.entry(pos).is_some_and(|e| e.is_free()) {
                continue;
            }
            let mut dst = self.buckets[home].lock();
            let at = src.move_to(pos, &mut dst)?;
            drop(src);
            return dst.recycle(at, dev, blockno);
        }
    }
}
// END SOLUTION
