//! Crash-safe file system updates: a redo log.
//!
//! A system call wraps its writes in `begin_op()`/`end_op(op)`. Blocks it
//! changes are recorded with `log_write()` and stay pinned in the cache.
//! When no operation is outstanding, the commit copies every changed block
//! into the log area, writes the header (the commit point), installs the
//! blocks at their home locations, and clears the header. Recovery at boot
//! replays a committed log.

use crate::bio::{self, Buf, bread};
use crate::proc;
use crate::spinlock::SpinLock;
use abi::fs::{LogHeader, SuperBlock};
use abi::param::{LOGSIZE, MAXOPBLOCKS, NBUF};

struct Log {
    start: u32,
    size: u32,
    dev: u32,
    /// System calls between begin_op and end_op.
    outstanding: u32,
    committing: bool,
    lh: LogHeader,
}

static LOG: SpinLock<Log> = SpinLock::new(
    "log",
    Log {
        start: 0,
        size: 0,
        dev: 0,
        outstanding: 0,
        committing: false,
        lh: EMPTY,
    },
);

/// A header logging nothing.
const EMPTY: LogHeader = LogHeader {
    n: 0,
    blocks: [0; LOGSIZE],
};

fn chan() -> usize {
    &LOG as *const _ as usize
}

pub(crate) fn init(dev: u32, sb: &SuperBlock) {
    {
        let mut l = LOG.lock();
        l.start = sb.logstart;
        l.size = sb.nlog;
        l.dev = dev;
    }
    recover();
}

fn read_head(dev: u32, start: u32) -> LogHeader {
    LogHeader::decode(bread(dev, start).data())
}

fn write_head(dev: u32, start: u32, lh: &LogHeader) {
    let mut b = bread(dev, start);
    lh.encode(b.data_mut());
    b.write();
}

/// Blocks a commit writes at once: each is a buffer held until then, and
/// the `n` blocks of the transaction are pinned in the cache already.
fn chunk_len(n: usize) -> usize {
    NBUF.saturating_sub(n).clamp(1, CHUNK)
}

const CHUNK: usize = 8;

/// Copies block `from(i)` into a buffer for block `to(i)`, for each `i`
/// below `n`, and writes those buffers, a chunk at a time in one round
/// trip to the disk. `unpin`: the written blocks were pinned by the log,
/// which is done with them.
fn copy_blocks(
    dev: u32,
    n: usize,
    from: impl Fn(usize) -> u32,
    to: impl Fn(usize) -> u32,
    unpin: bool,
) {
    let chunk = chunk_len(n);
    let mut held: [Option<Buf>; CHUNK] = Default::default();
    for base in (0..n).step_by(chunk) {
        for (slot, i) in held.iter_mut().zip(base..(base + chunk).min(n)) {
            let src = bread(dev, from(i));
            let mut dst = bread(dev, to(i));
            dst.data_mut().copy_from_slice(src.data());
            *slot = Some(dst);
        }
        bio::write_all(held.iter().flatten());
        for b in held.iter_mut().filter_map(Option::take) {
            if unpin {
                b.unpin();
            }
        }
    }
}

/// Copies committed blocks from the log to their home locations.
fn install(dev: u32, start: u32, lh: &LogHeader, recovering: bool) {
    let homes = &lh.blocks[..lh.n as usize];
    copy_blocks(
        dev,
        homes.len(),
        |i| start + 1 + i as u32,
        |i| homes[i],
        !recovering,
    );
}

fn recover() {
    let (dev, start) = {
        let l = LOG.lock();
        (l.dev, l.start)
    };
    let lh = read_head(dev, start);
    install(dev, start, &lh, true);
    write_head(dev, start, &EMPTY);
}

/// An operation under way: what `begin_op` returns and `end_op` takes, so
/// that every end has its begin (an unmatched `end_op` would end someone
/// else's operation and commit their half-done changes). Dropping it ends
/// the operation too.
#[must_use = "the operation ends when this is dropped"]
pub struct LogOp {
    /// Only `begin_op` makes one.
    _private: (),
}

/// Starts a file system operation, waiting until the log has room for it.
pub fn begin_op() -> LogOp {
    let mut l = LOG.lock();
    loop {
        let reserved = (l.outstanding as usize + 1) * MAXOPBLOCKS;
        if l.committing || l.lh.n as usize + reserved > LOGSIZE {
            l = proc::sleep(chan(), l);
        } else {
            l.outstanding += 1;
            return LogOp { _private: () };
        }
    }
}

/// Ends an operation; the last one out commits.
pub fn end_op(op: LogOp) {
    drop(op);
}

impl Drop for LogOp {
    fn drop(&mut self) {
        let mut l = LOG.lock();
        // A `LogOp` exists only between a begin and its end.
        l.outstanding -= 1;
        assert!(!l.committing, "end_op: committing");
        if l.outstanding > 0 {
            // Space reserved by this operation may let a waiter in.
            drop(l);
            proc::wakeup(chan());
            return;
        }
        l.committing = true;
        let (dev, start, lh) = (l.dev, l.start, l.lh);
        drop(l);
        // No lock held: commit sleeps on disk I/O, and no one else touches
        // the header while `committing` is set.
        commit(dev, start, &lh);
        let mut l = LOG.lock();
        l.lh.n = 0;
        l.committing = false;
        drop(l);
        proc::wakeup(chan());
    }
}

fn commit(dev: u32, start: u32, lh: &LogHeader) {
    if lh.n == 0 {
        return;
    }
    // Cached (modified) blocks into the log area.
    let homes = &lh.blocks[..lh.n as usize];
    copy_blocks(
        dev,
        homes.len(),
        |i| homes[i],
        |i| start + 1 + i as u32,
        false,
    );
    // The commit point.
    write_head(dev, start, lh);
    install(dev, start, lh, false);
    write_head(dev, start, &EMPTY);
}

/// Records that `b` was modified in this operation; the commit writes it.
/// Replaces `b.write()` inside operations.
pub fn log_write(b: &Buf) {
    let mut l = LOG.lock();
    let n = l.lh.n as usize;
    assert!(
        n < LOGSIZE && n + 1 < l.size as usize,
        "too big a transaction"
    );
    assert!(l.outstanding >= 1, "log_write outside of trans");
    let blockno = b.blockno();
    if !l.lh.blocks[..n].contains(&blockno) {
        l.lh.blocks[n] = blockno;
        l.lh.n += 1;
        b.pin();
    }
}
