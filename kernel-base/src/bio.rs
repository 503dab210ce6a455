//! The buffer cache: NBUF in-memory copies of disk blocks.
//!
//! A block is cached in at most one buffer, and a buffer is used by one
//! process at a time (its sleep lock). `bread` returns a locked [`Buf`];
//! dropping it releases the buffer. Recycling picks the least recently
//! released unused buffer.

use crate::proc;
use crate::sleeplock::{SleepLock, SleepLockGuard};
use crate::spinlock::SpinLock;
use crate::virtio_disk;
use abi::fs::BSIZE;
use abi::param::NBUF;
use core::mem::ManuallyDrop;

#[derive(Clone, Copy)]
struct Meta {
    dev: u32,
    blockno: u32,
    /// Holders of this buffer, plus log pins.
    refcnt: u32,
    /// Of those, the log's pins: `unpin` can undo a pin, never a holder's
    /// reference (which would let the buffer be recycled while held).
    pins: u32,
    /// Whether the data has been read from disk.
    valid: bool,
    /// When the buffer was last released, for LRU recycling.
    stamp: u64,
}

struct Cache {
    meta: [Meta; NBUF],
    clock: u64,
    /// Processes waiting for a buffer to become free.
    waiters: u32,
}

static CACHE: SpinLock<Cache> = SpinLock::new(
    "bcache",
    Cache {
        meta: [Meta {
            dev: 0,
            blockno: 0,
            refcnt: 0,
            pins: 0,
            valid: false,
            stamp: 0,
        }; NBUF],
        clock: 0,
        waiters: 0,
    },
);

/// Block contents; page alignment is not needed, but the device writes
/// the whole array, so keep it in its own cache lines.
///
/// The field is private and nothing makes a `BlockData` outside this
/// module: every one is in `DATA`, a static, which the kernel maps at its
/// physical address. So the disk driver can hand its address to the
/// device ([`Self::phys_addr`]), which a buffer on a kernel stack (mapped
/// elsewhere) would not allow.
#[repr(C, align(64))]
pub struct BlockData([u8; BSIZE]);

impl BlockData {
    /// The physical address of the bytes, for the device's DMA.
    pub(crate) fn phys_addr(&self) -> u64 {
        // Kernel data is identity-mapped (vm::map_kernel).
        self.0.as_ptr() as u64
    }
}

static DATA: [SleepLock<BlockData>; NBUF] =
    [const { SleepLock::new("buffer", BlockData([0; BSIZE])) }; NBUF];

fn free_chan() -> usize {
    &CACHE as *const _ as usize
}

/// A locked buffer holding one disk block.
pub struct Buf {
    idx: usize,
    blockno: u32,
    data: ManuallyDrop<SleepLockGuard<'static, BlockData>>,
}

impl Buf {
    pub fn blockno(&self) -> u32 {
        self.blockno
    }

    pub fn data(&self) -> &[u8; BSIZE] {
        &self.data.0
    }

    pub fn data_mut(&mut self) -> &mut [u8; BSIZE] {
        &mut self.data.0
    }

    /// Writes the buffer to disk now (the log decides when that is right:
    /// outside it, use `log_write`).
    pub(crate) fn write(&mut self) {
        virtio_disk::rw(&mut self.data, self.blockno, true);
    }

    /// Keeps the buffer cached after release (the log holds its blocks).
    pub(crate) fn pin(&self) {
        let mut c = CACHE.lock();
        let m = &mut c.meta[self.idx];
        // The log pins a block once per transaction: at most LOGSIZE.
        m.pins = m.pins.checked_add(1).expect("bpin: pin count overflow");
        m.refcnt += 1;
    }

    /// Undoes one `pin`.
    pub(crate) fn unpin(&self) {
        let mut c = CACHE.lock();
        let m = &mut c.meta[self.idx];
        m.pins = m.pins.checked_sub(1).expect("bunpin: buffer not pinned");
        m.refcnt -= 1;
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here.
        unsafe { ManuallyDrop::drop(&mut self.data) };
        let mut c = CACHE.lock();
        c.clock += 1;
        let stamp = c.clock;
        let m = &mut c.meta[self.idx];
        m.refcnt -= 1;
        if m.refcnt == 0 {
            m.stamp = stamp;
            if c.waiters > 0 {
                drop(c);
                proc::wakeup(free_chan());
            }
        }
    }
}

/// Writes every buffer of `bufs` to disk, several at once (see
/// [`virtio_disk::write_all`]).
pub(crate) fn write_all<'a>(bufs: impl IntoIterator<Item = &'a Buf>) {
    virtio_disk::write_all(bufs.into_iter().map(|b| (&**b.data, b.blockno)));
}

/// Finds or recycles the buffer for a block, taking a reference.
/// Returns its index and whether it holds valid data.
fn get(dev: u32, blockno: u32) -> usize {
    let mut c = CACHE.lock();
    loop {
        if let Some(i) = c
            .meta
            .iter()
            .position(|m| m.dev == dev && m.blockno == blockno && (m.refcnt > 0 || m.valid))
        {
            c.meta[i].refcnt += 1;
            return i;
        }
        let victim = c
            .meta
            .iter()
            .enumerate()
            .filter(|(_, m)| m.refcnt == 0)
            .min_by_key(|(_, m)| m.stamp)
            .map(|(i, _)| i);
        if let Some(i) = victim {
            c.meta[i] = Meta {
                dev,
                blockno,
                refcnt: 1,
                pins: 0,
                valid: false,
                stamp: 0,
            };
            return i;
        }
        // Every buffer is in use: wait for a release rather than fail.
        c.waiters += 1;
        c = proc::sleep(free_chan(), c);
        c.waiters -= 1;
    }
}

/// A locked buffer with the contents of block `blockno`.
pub fn bread(dev: u32, blockno: u32) -> Buf {
    let idx = get(dev, blockno);
    let mut b = Buf {
        idx,
        blockno,
        data: ManuallyDrop::new(DATA[idx].lock()),
    };
    // Only the sleep-lock holder fills a buffer, so this cannot race.
    if !CACHE.lock().meta[idx].valid {
        virtio_disk::rw(&mut b.data, blockno, false);
        CACHE.lock().meta[idx].valid = true;
    }
    b
}
