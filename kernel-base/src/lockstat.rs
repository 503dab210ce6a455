//! Lock statistics (the `lockstat` feature, which the lock lab turns on):
//! per spinlock, its name, how often it was acquired and how many
//! test-and-set attempts failed while it was held by another hart, in the
//! text of MIT's lock lab ([`report`]).
//!
//! The counts live in a fixed table, not in the locks: a lock claims a row
//! on its first acquire and keeps the row's number. So the table holds no
//! pointer to a lock, and a lock that moves, is overwritten or goes away
//! (safe code can do all three to a lock inside another lock's data)
//! leaves a row behind, never a dangling pointer. Locks beyond the table's
//! rows are not counted.

use abi::lockstat::{HEADER, TOP, TOT};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Rows in the table (MIT's NLOCK).
const NLOCK: usize = 500;

/// A lock's row number plus one: 0 before its first acquire, FULL when the
/// table had no row left.
pub(crate) struct Row(AtomicU32);

const FULL: u32 = u32::MAX;

struct Counts {
    /// The lock's name, written once (length first) when the row is claimed.
    name: AtomicPtr<u8>,
    name_len: AtomicUsize,
    acquires: AtomicU64,
    spins: AtomicU64,
}

static TABLE: [Counts; NLOCK] = [const {
    Counts {
        name: AtomicPtr::new(core::ptr::null_mut()),
        name_len: AtomicUsize::new(0),
        acquires: AtomicU64::new(0),
        spins: AtomicU64::new(0),
    }
}; NLOCK];

/// Rows claimed so far (may pass NLOCK: those claims failed).
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

impl Row {
    pub(crate) const fn new() -> Row {
        Row(AtomicU32::new(0))
    }

    /// Counts one acquire of the lock named `name` after `spins` failed
    /// attempts. Called holding the lock, so one hart at a time per row.
    #[inline]
    pub(crate) fn record(&self, name: &'static str, spins: u64) {
        let mut r = self.0.load(Ordering::Relaxed);
        if r == 0 {
            r = claim(name);
            self.0.store(r, Ordering::Relaxed);
        }
        if let Some(c) = TABLE.get((r as usize).wrapping_sub(1)) {
            c.acquires.fetch_add(1, Ordering::Relaxed);
            if spins > 0 {
                c.spins.fetch_add(spins, Ordering::Relaxed);
            }
        }
    }
}

fn claim(name: &'static str) -> u32 {
    let i = CLAIMED.fetch_add(1, Ordering::Relaxed);
    let Some(c) = TABLE.get(i) else {
        return FULL;
    };
    c.name_len.store(name.len(), Ordering::Relaxed);
    c.name.store(name.as_ptr().cast_mut(), Ordering::Release);
    i as u32 + 1
}

/// One lock's counts.
#[derive(Clone, Copy)]
pub struct LockCounts {
    pub name: &'static str,
    pub acquires: u64,
    /// Failed test-and-set attempts.
    pub spins: u64,
}

/// Every counted lock, in the order of their first acquires.
pub fn locks() -> impl Iterator<Item = LockCounts> {
    TABLE[..CLAIMED.load(Ordering::Relaxed).min(NLOCK)]
        .iter()
        .filter_map(|c| {
            let ptr = c.name.load(Ordering::Acquire);
            if ptr.is_null() {
                return None; // being claimed
            }
            let len = c.name_len.load(Ordering::Relaxed);
            // SAFETY: `claim` stored the pointer and length of a
            // `&'static str` (the length first; the Acquire above sees it),
            // and rows are written once.
            let name =
                unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(ptr, len)) };
            Some(LockCounts {
                name,
                acquires: c.acquires.load(Ordering::Relaxed),
                spins: c.spins.load(Ordering::Relaxed),
            })
        })
}

/// Whether the lock lab counts the lock: its name starts with `kmem` or
/// `bcache`.
pub use abi::lockstat::is_lab_lock;

fn line(w: &mut dyn Write, l: &LockCounts) -> fmt::Result {
    writeln!(
        w,
        "lock: {}: #test-and-set {} #acquire() {}",
        l.name, l.spins, l.acquires
    )
}

/// MIT's statistics text: the kmem and bcache locks, the five most
/// contended locks, and `tot=` the failed attempts on kmem and bcache
/// locks.
#[doc(alias = "statslock")]
pub fn report(w: &mut dyn Write) -> fmt::Result {
    writeln!(w, "{HEADER}")?;
    let mut tot = 0;
    for l in locks().filter(|l| is_lab_lock(l.name)) {
        tot += l.spins;
        line(w, &l)?;
    }
    writeln!(w, "{TOP}")?;
    // The first five by failed attempts, earlier locks first among equals.
    let mut top: [Option<LockCounts>; 5] = [None; 5];
    for l in locks() {
        if let Some(at) = top.iter().position(|t| t.is_none_or(|t| l.spins > t.spins)) {
            top[at..].rotate_right(1);
            top[at] = Some(l);
        }
    }
    for l in top.iter().flatten() {
        line(w, l)?;
    }
    writeln!(w, "{TOT}{tot}")
}

/// Writes [`report`] into `buf` (cut at its end); returns the bytes written.
pub fn write(buf: &mut [u8]) -> usize {
    struct Cut<'a> {
        buf: &'a mut [u8],
        len: usize,
    }
    impl Write for Cut<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
    let mut w = Cut { buf, len: 0 };
    let _ = report(&mut w);
    w.len
}
