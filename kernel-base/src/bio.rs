//! The buffer cache: NBUF in-memory copies of disk blocks.
//!
//! A block is cached in at most one buffer, and a buffer is used by one
//! process at a time (its sleep lock). `bread` returns a locked [`Buf`];
//! dropping it releases the buffer.
//!
//! Which buffer caches which block, and which unused buffer is recycled for
//! a block not cached, is a [`BufPolicy`], chosen once at boot by
//! [`Lab::buf_policy`]: the base kernel's is one LRU list under one lock
//! (`bcache`); the lock lab's hashes blocks into buckets with a lock each.
//! A policy works on building blocks that own the buffers' bookkeeping: an
//! [`Entry`] per buffer, made only here and never handed out by value, so
//! it can move from one [`Bucket`] to another but never be copied or
//! dropped; and a [`Held`] token, made only by a bucket as it counts a
//! reference, which the policy hands to the kernel. So safe policy code
//! cannot lose a buffer, make a second one, or give out a buffer without
//! counting the reference that keeps it from being recycled.
//!
//! [`Lab::buf_policy`]: crate::hooks::Lab::buf_policy

use crate::hooks::Chosen;
use crate::proc;
use crate::sleeplock::{SleepLock, SleepLockGuard};
use crate::spinlock::SpinLock;
use crate::virtio_disk;
use abi::fs::BSIZE;
use abi::param::NBUF;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Where buffers are kept and how one is found or recycled. The methods
/// run on several harts at once, in processes, and may take spinlocks
/// (never sleep).
pub trait BufPolicy: Sync {
    /// The buckets that hold the buffers, each under its own lock.
    fn buckets(&self) -> &[SpinLock<Bucket>];

    /// Which of `buckets()` holds the buffer caching block `blockno` of
    /// `dev`, when one does: the kernel looks there to release, pin and
    /// unpin that buffer (so `get` must keep each cached block's buffer in
    /// this bucket).
    fn bucket_of(&self, dev: u32, blockno: u32) -> usize;

    /// A reference to the buffer caching the block: the one in its bucket
    /// ([`Bucket::lookup`]), or else an unused buffer recycled for it
    /// ([`Bucket::recycle`]: the least recently released, moved into the
    /// block's bucket). `None` only when every buffer is in use: the kernel
    /// waits for a release and asks again.
    #[doc(alias = "bget")]
    fn get(&self, dev: u32, blockno: u32) -> Option<Held>;

    /// At boot: every buffer, in `all`, to put in the buckets (all of them
    /// must go; the default puts them in the first bucket).
    #[doc(alias = "binit")]
    fn init(&self, all: &mut Bucket) {
        self.buckets()[0].lock().append(all);
    }
}

/// One buffer's bookkeeping. Entries exist only in buckets: a policy sees
/// them by reference, and moves them with [`Bucket::move_to`].
pub struct Entry {
    /// The buffer (index into `DATA`).
    slot: usize,
    /// The block (device, number) it caches, if any.
    block: Option<(u32, u32)>,
    /// Holders of this buffer, plus log pins.
    refcnt: u32,
    /// Of those, the log's pins: `unpin` can undo a pin, never a holder's
    /// reference (which would let the buffer be recycled while held).
    pins: u32,
    /// When the buffer was last released, for LRU recycling.
    stamp: u64,
}

impl Entry {
    /// The block (device, number) the buffer caches, if any.
    pub fn block(&self) -> Option<(u32, u32)> {
        self.block
    }

    /// Whether no one holds the buffer (nor pins it): it may be recycled.
    pub fn is_free(&self) -> bool {
        self.refcnt == 0
    }

    /// When the buffer was last released: smaller is less recent.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }
}

/// A set of buffers' entries (a hash bucket, or the base kernel's one list).
/// Dropping a bucket that still holds entries loses buffers, and panics.
pub struct Bucket {
    entries: [Option<Entry>; NBUF],
    len: usize,
}

impl Default for Bucket {
    fn default() -> Self {
        Self::new()
    }
}

impl Bucket {
    pub const fn new() -> Bucket {
        Bucket {
            entries: [const { None }; NBUF],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries with their positions (which stay put until the entry
    /// moves to another bucket).
    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
    }

    /// The entry at `pos`, if there is one.
    pub fn entry(&self, pos: usize) -> Option<&Entry> {
        self.entries.get(pos)?.as_ref()
    }

    /// A reference to this bucket's buffer for the block, if it has one.
    pub fn lookup(&mut self, dev: u32, blockno: u32) -> Option<Held> {
        let e = self
            .entries
            .iter_mut()
            .flatten()
            .find(|e| e.block == Some((dev, blockno)))?;
        Some(e.hold())
    }

    /// The position of the free entry released longest ago, if any.
    pub fn least_recent_free(&self) -> Option<usize> {
        self.entries()
            .filter(|(_, e)| e.is_free())
            .min_by_key(|(_, e)| e.stamp)
            .map(|(i, _)| i)
    }

    /// Gives the free buffer at `pos` to the block, holding one reference;
    /// `None` if there is no entry there or it is in use. The bucket must
    /// be the block's (`BufPolicy::bucket_of`), and the block cached
    /// nowhere else.
    pub fn recycle(&mut self, pos: usize, dev: u32, blockno: u32) -> Option<Held> {
        let e = self.entries.get_mut(pos)?.as_mut()?;
        if !e.is_free() {
            return None;
        }
        e.block = Some((dev, blockno));
        Some(e.hold())
    }

    /// Moves the entry at `pos` to `to`; its position there, or `None` if
    /// there is no entry at `pos`.
    pub fn move_to(&mut self, pos: usize, to: &mut Bucket) -> Option<usize> {
        let e = self.entries.get_mut(pos)?.take()?;
        self.len -= 1;
        Some(to.insert(e))
    }

    /// Moves every entry of `other` here.
    pub fn append(&mut self, other: &mut Bucket) {
        for e in other.entries.iter_mut().filter_map(Option::take) {
            self.insert(e);
        }
        other.len = 0;
    }

    fn insert(&mut self, e: Entry) -> usize {
        // There are NBUF entries in all, so every bucket has room for all.
        let pos = self
            .entries
            .iter()
            .position(Option::is_none)
            .expect("bio: more than NBUF buffer entries");
        self.entries[pos] = Some(e);
        self.len += 1;
        pos
    }

    fn entry_of(&mut self, slot: usize) -> Option<&mut Entry> {
        self.entries.iter_mut().flatten().find(|e| e.slot == slot)
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        if self.len > 0 {
            panic!(
                "bio: a bucket of {} buffers dropped (lost): move them to another",
                self.len
            );
        }
    }
}

impl Entry {
    fn hold(&mut self) -> Held {
        self.refcnt += 1;
        let (dev, blockno) = self.block.expect("bio: holding a buffer with no block");
        Held {
            slot: self.slot,
            dev,
            blockno,
        }
    }
}

/// One counted reference to a buffer, from [`Bucket::lookup`] or
/// [`Bucket::recycle`], for the policy's `get` to return. Dropping one
/// would keep the buffer from ever being recycled, and panics.
#[must_use]
pub struct Held {
    slot: usize,
    dev: u32,
    blockno: u32,
}

impl Held {
    /// The buffer, taking over the reference.
    fn into_slot(self) -> usize {
        let slot = self.slot;
        core::mem::forget(self);
        slot
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        panic!(
            "bio: a reference to the buffer of block {} dropped: return it from get",
            self.blockno
        );
    }
}

/// The base kernel's policy: one bucket, recycling by least recent use.
impl BufPolicy for SpinLock<Bucket> {
    fn buckets(&self) -> &[SpinLock<Bucket>] {
        core::slice::from_ref(self)
    }

    fn bucket_of(&self, _dev: u32, _blockno: u32) -> usize {
        0
    }

    fn get(&self, dev: u32, blockno: u32) -> Option<Held> {
        let mut b = self.lock();
        if let Some(h) = b.lookup(dev, blockno) {
            return Some(h);
        }
        let victim = b.least_recent_free()?;
        b.recycle(victim, dev, blockno)
    }
}

static BCACHE: SpinLock<Bucket> = SpinLock::new("bcache", Bucket::new());

/// The policy a lab chose at boot, if one did.
static POLICY: Chosen<dyn BufPolicy> = Chosen::none();

#[inline]
fn policy() -> &'static dyn BufPolicy {
    POLICY.get().unwrap_or(&BCACHE)
}

/// Installs a lab's policy.
///
/// # Safety
/// As [`Chosen::set`]: on the boot hart, before [`init`] and before any
/// other hart runs.
pub(crate) unsafe fn set_policy(p: &'static dyn BufPolicy) {
    // SAFETY: the caller's contract.
    unsafe { POLICY.set(p) };
}

/// Releases so far: the clock of LRU stamps.
static CLOCK: AtomicU64 = AtomicU64::new(0);

/// Processes waiting for a buffer to become free, and the lock they wait
/// under (named so that its contention counts with the cache's).
static WAITERS: AtomicU32 = AtomicU32::new(0);
static WAIT: SpinLock<()> = SpinLock::new("bcache wait", ());

fn free_chan() -> usize {
    &WAIT as *const _ as usize
}

/// Gives the policy every buffer.
pub(crate) fn init() {
    let mut all = Bucket::new();
    for slot in 0..NBUF {
        all.insert(Entry {
            slot,
            block: None,
            refcnt: 0,
            pins: 0,
            stamp: 0,
        });
    }
    policy().init(&mut all);
    assert!(
        all.is_empty(),
        "bio: the buffer policy left {} buffers out of its buckets",
        all.len()
    );
    let n = buffers_in_buckets();
    assert!(
        n == NBUF,
        "bio: {n} buffers in the policy's buckets, not {NBUF}"
    );
}

/// How many processes are waiting for a buffer to become free.
pub fn waiting() -> u32 {
    WAITERS.load(Ordering::Relaxed)
}

/// How many buffers the policy's buckets hold (each bucket counted under
/// its lock, one after another: exact when no buffer is moving).
pub fn buffers_in_buckets() -> usize {
    policy().buckets().iter().map(|b| b.lock().len()).sum()
}

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

/// A buffer's contents, under its sleep lock.
struct Cached {
    /// The block `data` holds, once read. A recycled buffer is always read
    /// by its first holder (under this lock), so comparing with the block
    /// wanted tells whether the data is valid.
    holds: Option<(u32, u32)>,
    data: BlockData,
}

static DATA: [SleepLock<Cached>; NBUF] = [const {
    SleepLock::new(
        "buffer",
        Cached {
            holds: None,
            data: BlockData([0; BSIZE]),
        },
    )
}; NBUF];

/// A locked buffer holding one disk block.
pub struct Buf {
    slot: usize,
    dev: u32,
    blockno: u32,
    data: ManuallyDrop<SleepLockGuard<'static, Cached>>,
}

impl Buf {
    pub fn blockno(&self) -> u32 {
        self.blockno
    }

    pub fn data(&self) -> &[u8; BSIZE] {
        &self.data.data.0
    }

    pub fn data_mut(&mut self) -> &mut [u8; BSIZE] {
        &mut self.data.data.0
    }

    /// Writes the buffer to disk now (the log decides when that is right:
    /// outside it, use `log_write`).
    pub(crate) fn write(&mut self) {
        virtio_disk::rw(&mut self.data.data, self.blockno, true);
    }

    /// Keeps the buffer cached after release (the log holds its blocks).
    pub(crate) fn pin(&self) {
        self.with_entry(|e| {
            // The log pins a block once per transaction: at most LOGSIZE.
            e.pins = e.pins.checked_add(1).expect("bpin: pin count overflow");
            e.refcnt += 1;
        });
    }

    /// Undoes one `pin`.
    pub(crate) fn unpin(&self) {
        self.with_entry(|e| {
            e.pins = e.pins.checked_sub(1).expect("bunpin: buffer not pinned");
            e.refcnt -= 1;
        });
    }

    /// Runs `f` on the buffer's entry, under its bucket's lock; returns
    /// whether the buffer is free afterwards.
    fn with_entry(&self, f: impl FnOnce(&mut Entry)) -> bool {
        // The base kernel's policy called directly, so that it inlines.
        match POLICY.get() {
            Some(p) => self.entry_in(p, f),
            None => self.entry_in(&BCACHE, f),
        }
    }

    fn entry_in<P: BufPolicy + ?Sized>(&self, policy: &P, f: impl FnOnce(&mut Entry)) -> bool {
        let i = policy.bucket_of(self.dev, self.blockno);
        let bucket = policy.buckets().get(i).unwrap_or_else(|| {
            panic!(
                "bio: the buffer policy puts block {} in bucket {i} of {}",
                self.blockno,
                policy.buckets().len()
            )
        });
        let mut b = bucket.lock();
        let e = b.entry_of(self.slot).unwrap_or_else(|| {
            panic!(
                "bio: the buffer of block {} is not in its bucket ({i}): the policy moved it",
                self.blockno
            )
        });
        f(e);
        e.is_free()
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here.
        unsafe { ManuallyDrop::drop(&mut self.data) };
        let free = self.with_entry(|e| {
            e.refcnt -= 1;
            if e.refcnt == 0 {
                e.stamp = CLOCK.fetch_add(1, Ordering::Relaxed);
            }
        });
        if free {
            // Pairs with the fence in `get`: either the waiter's next `get`
            // sees this release, or this sees the waiter.
            fence(Ordering::SeqCst);
            if WAITERS.load(Ordering::Relaxed) > 0 {
                let _w = WAIT.lock();
                proc::wakeup(free_chan());
            }
        }
    }
}

/// Writes every buffer of `bufs` to disk, several at once (see
/// [`virtio_disk::write_all`]).
pub(crate) fn write_all<'a>(bufs: impl IntoIterator<Item = &'a Buf>) {
    virtio_disk::write_all(bufs.into_iter().map(|b| (&b.data.data, b.blockno)));
}

/// The policy's reference to the block's buffer, waiting while every buffer
/// is in use. Returns the buffer's slot.
#[doc(alias = "bget")]
fn get(dev: u32, blockno: u32) -> usize {
    // The base kernel's policy called directly, so that it inlines.
    match POLICY.get() {
        Some(p) => get_in(p, dev, blockno),
        None => get_in(&BCACHE, dev, blockno),
    }
}

fn get_in<P: BufPolicy + ?Sized>(policy: &P, dev: u32, blockno: u32) -> usize {
    let held = match policy.get(dev, blockno) {
        Some(h) => h,
        None => {
            // Every buffer is in use: wait for a release rather than fail.
            let mut w = WAIT.lock();
            loop {
                WAITERS.fetch_add(1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                let h = policy.get(dev, blockno);
                if h.is_none() {
                    w = proc::sleep(free_chan(), w);
                }
                WAITERS.fetch_sub(1, Ordering::Relaxed);
                if let Some(h) = h {
                    break h;
                }
            }
        }
    };
    if (held.dev, held.blockno) != (dev, blockno) {
        panic!(
            "bio: the buffer policy gave block {} for block {blockno}",
            held.blockno
        );
    }
    held.into_slot()
}

/// A locked buffer with the contents of block `blockno`.
pub fn bread(dev: u32, blockno: u32) -> Buf {
    let slot = get(dev, blockno);
    let mut b = Buf {
        slot,
        dev,
        blockno,
        data: ManuallyDrop::new(DATA[slot].lock()),
    };
    // Only the sleep-lock holder fills a buffer, so this cannot race.
    if b.data.holds != Some((dev, blockno)) {
        virtio_disk::rw(&mut b.data.data, blockno, false);
        b.data.holds = Some((dev, blockno));
    }
    b
}
