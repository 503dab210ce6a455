//! The file system's inode layer: blocks, inodes, directories, path names.
//!
//! The on-disk format is in `abi::fs`. In memory, a table of NINODE slots
//! caches inodes. An [`Inode`] is a counted reference to a slot (`iget`
//! takes one; dropping it is xv6's `iput`, so drop inodes inside a log
//! operation). [`Inode::lock`] returns an [`InodeGuard`], which loads the
//! inode from disk if needed and gives access to its fields and contents.

use crate::bio::{Buf, bread};
use crate::hooks::Chosen;
use crate::log::{self, log_write};
use crate::proc::current;
use crate::sleeplock::{SleepLock, SleepLockGuard};
use crate::spinlock::SpinLock;
use crate::vm::{BadAddress, UserAddr};
use abi::Stat;
use abi::filetype::T_DIR;
use abi::fs::{
    BPB, BSIZE, DIRSIZ, Dirent, DiskInode, FSMAGIC, Layout, NDINDIRECT, NDIRECT, NINDIRECT,
    ROOTINO, SuperBlock,
};
use abi::param::{NINODE, ROOTDEV};
use core::ops::Range;

static SB: SpinLock<SuperBlock> = SpinLock::new(
    "sb",
    SuperBlock {
        magic: 0,
        size: 0,
        nblocks: 0,
        ninodes: 0,
        nlog: 0,
        logstart: 0,
        inodestart: 0,
        bmapstart: 0,
    },
);

fn sb() -> SuperBlock {
    *SB.lock()
}

/// The blocks of a file past its direct and singly-indirect ones: a
/// doubly-indirect block whose entries are singly-indirect blocks (the fs
/// lab). With one, the inode has `NDIRECT - 1` direct addresses, then the
/// singly-indirect block, then this one's root ([`Layout::Doubly`]).
///
/// The methods run inside a file system operation with the inode locked;
/// they reach the disk only through [`Blocks`].
pub trait BlockMap: Sync {
    /// The disk block holding block `bn` (`< NDINDIRECT`) of this part of
    /// the file, allocating it and the indirect blocks on the way when
    /// missing (`*root` is the doubly-indirect block's address, 0 for
    /// none yet). 0 when the disk is full.
    fn bmap(&self, disk: &mut Blocks, root: &mut u32, bn: usize) -> u32;

    /// Frees this part's blocks `keep..` and every indirect block left
    /// with none below it (the root too when `keep` is 0, setting `*root`
    /// to 0). Truncation passes 0; a write the disk cut short passes the
    /// blocks the file still has.
    #[doc(alias = "itrunc")]
    fn free(&self, disk: &mut Blocks, root: &mut u32, keep: usize);
}

static BLOCK_MAP: Chosen<dyn BlockMap> = Chosen::none();

/// Installs a lab's block map.
///
/// # Safety
/// As [`Chosen::set`]: on the boot hart, before [`init`] and before any
/// other hart runs.
pub(crate) unsafe fn set_block_map(p: &'static dyn BlockMap) {
    // SAFETY: the caller's contract.
    unsafe { BLOCK_MAP.set(p) };
}

/// The inode layout this kernel uses.
pub fn layout() -> Layout {
    if BLOCK_MAP.get().is_some() {
        Layout::Doubly
    } else {
        Layout::Xv6
    }
}

/// A [`BlockMap`]'s access to the disk: allocating and freeing blocks and
/// reading and writing the entries of indirect blocks, logged. Block
/// numbers outside the data blocks and entry numbers past `NINDIRECT` read
/// as 0 and are never written, so a wrong one cannot reach the log,
/// the inodes or the bitmap.
pub struct Blocks {
    dev: u32,
    data: Range<u32>,
}

impl Blocks {
    fn new(dev: u32) -> Blocks {
        let sb = sb();
        Blocks {
            dev,
            data: sb.data_start()..sb.size,
        }
    }

    fn ok(&self, block: u32, i: usize) -> bool {
        self.data.contains(&block) && i < NINDIRECT
    }

    /// A new zeroed block, or `None` when the disk is full.
    #[doc(alias = "balloc")]
    pub fn alloc(&mut self) -> Option<u32> {
        Some(balloc(self.dev)).filter(|&b| b != 0)
    }

    /// Frees `block` (it must be one of this file's, not yet freed).
    #[doc(alias = "bfree")]
    pub fn free(&mut self, block: u32) {
        if self.data.contains(&block) {
            bfree(self.dev, block);
        }
    }

    /// Entry `i` of indirect block `block`.
    pub fn entry(&mut self, block: u32, i: usize) -> u32 {
        if !self.ok(block, i) {
            return 0;
        }
        u32::from_le_bytes(abi::fs::take(bread(self.dev, block).data(), i * 4))
    }

    /// Sets entry `i` of indirect block `block` to `addr` (logged).
    pub fn set_entry(&mut self, block: u32, i: usize, addr: u32) {
        if !self.ok(block, i) {
            return;
        }
        let mut b = bread(self.dev, block);
        b.data_mut()[i * 4..i * 4 + 4].copy_from_slice(&addr.to_le_bytes());
        log_write(&b);
    }
}

/// Reads the superblock and recovers the log. Runs in the first process.
pub(crate) fn init(dev: u32) {
    let block = bread(dev, 1);
    let sb = SuperBlock::decode(block.data());
    let disk = Layout::of_superblock(block.data());
    drop(block);
    if sb.magic != FSMAGIC {
        panic!("invalid file system (bad superblock magic)");
    }
    if disk != layout() {
        panic!(
            "fs.img has the {} inode layout but this kernel uses {}: build the image with the kernel (cargo xtask build --lab ...)",
            disk.name(),
            layout().name()
        );
    }
    *SB.lock() = sb;
    log::init(dev, &sb);
    free_unlinked(dev, &sb);
}

/// Frees every allocated inode without links. Only a file that was open
/// when its last link went, and then the machine stopped, is left so, and
/// at boot no process holds one.
fn free_unlinked(dev: u32, sb: &SuperBlock) {
    for inum in 1..sb.ninodes {
        let di = {
            let b = bread(dev, sb.inode_block(inum));
            let off = DiskInode::offset_in_block(inum);
            DiskInode::decode(&b.data()[off..off + DiskInode::SIZE])
        };
        if di.typ != 0 && di.nlink == 0 {
            let op = log::begin_op();
            // Loading it (lock) and dropping the only reference frees it.
            if let Some(ip) = try_iget(dev, inum) {
                drop(ip.lock());
            }
            log::end_op(op);
            crate::println!("fs: freed inode {inum}, unlinked and still open at the last stop");
        }
    }
}

// ---- blocks ----

/// Zeroes block `bno` (inside an operation).
fn bzero(dev: u32, bno: u32) {
    let mut b = bread(dev, bno);
    b.data_mut().fill(0);
    log_write(&b);
}

/// Allocates a zeroed disk block, or returns 0 when the disk is full.
fn balloc(dev: u32) -> u32 {
    let sb = sb();
    let mut base = 0;
    while base < sb.size {
        let mut b = bread(dev, sb.bitmap_block(base));
        let mut bi = 0;
        while bi < BPB && base + bi < sb.size {
            let (byte, mask) = ((bi / 8) as usize, 1u8 << (bi % 8));
            if b.data()[byte] & mask == 0 {
                b.data_mut()[byte] |= mask;
                log_write(&b);
                drop(b);
                bzero(dev, base + bi);
                return base + bi;
            }
            bi += 1;
        }
        base += BPB;
    }
    crate::println!("balloc: out of blocks");
    0
}

fn bfree(dev: u32, bno: u32) {
    let sb = sb();
    let mut b = bread(dev, sb.bitmap_block(bno));
    let bi = bno % BPB;
    let (byte, mask) = ((bi / 8) as usize, 1u8 << (bi % 8));
    assert!(b.data()[byte] & mask != 0, "freeing free block {}", bno);
    b.data_mut()[byte] &= !mask;
    log_write(&b);
}

// ---- inodes ----

#[derive(Clone, Copy)]
struct Meta {
    dev: u32,
    inum: u32,
    refcnt: u32,
}

static ITABLE: SpinLock<[Meta; NINODE]> = SpinLock::new(
    "itable",
    [Meta {
        dev: 0,
        inum: 0,
        refcnt: 0,
    }; NINODE],
);

/// An inode in memory, guarded by its sleep lock: the on-disk fields, and
/// whether they have been read yet.
struct InodeData {
    valid: bool,
    disk: DiskInode,
}

static INODES: [SleepLock<InodeData>; NINODE] = [const {
    SleepLock::new(
        "inode",
        InodeData {
            valid: false,
            disk: DiskInode {
                typ: 0,
                major: 0,
                minor: 0,
                nlink: 0,
                size: 0,
                addrs: [0; NDIRECT + 1],
            },
        },
    )
}; NINODE];

/// The inode table is full.
#[derive(Debug)]
pub struct NoInode;

/// A counted reference to an in-memory inode.
pub struct Inode {
    idx: usize,
    // Private: the slot is the inode `(dev, inum)` names, so changing either
    // would make a lock read or write another inode's block.
    dev: u32,
    inum: u32,
}

/// The in-memory inode for `(dev, inum)`, without reading the disk.
/// `None` if the inode table is full.
pub fn try_iget(dev: u32, inum: u32) -> Option<Inode> {
    let mut t = ITABLE.lock();
    if let Some(i) = t
        .iter()
        .position(|m| m.refcnt > 0 && m.dev == dev && m.inum == inum)
    {
        t[i].refcnt = add_ref(t[i].refcnt);
        return Some(Inode { idx: i, dev, inum });
    }
    let i = t.iter().position(|m| m.refcnt == 0)?;
    t[i] = Meta {
        dev,
        inum,
        refcnt: 1,
    };
    // SAFETY: refcnt was 0, so no one holds or waits for this slot's lock.
    unsafe { INODES[i].get_unchecked().valid = false };
    Some(Inode { idx: i, dev, inum })
}

/// Like [`try_iget`], for boot-time callers that cannot run out.
pub fn iget(dev: u32, inum: u32) -> Inode {
    try_iget(dev, inum).expect("iget: no inodes")
}

/// Allocates a free on-disk inode of type `typ`. `None` when none is left
/// on disk or in the inode table.
pub fn ialloc(dev: u32, typ: i16) -> Option<Inode> {
    let sb = sb();
    for inum in 1..sb.ninodes {
        let mut b = bread(dev, sb.inode_block(inum));
        let off = DiskInode::offset_in_block(inum);
        let di = DiskInode::decode(&b.data()[off..off + DiskInode::SIZE]);
        if di.typ == 0 {
            // The table slot first: when the table is full, the disk is
            // left as it was. Holding the buffer keeps others off `inum`.
            let ip = try_iget(dev, inum)?;
            let fresh = DiskInode {
                typ,
                ..Default::default()
            };
            fresh.encode(&mut b.data_mut()[off..off + DiskInode::SIZE]);
            log_write(&b);
            return Some(ip);
        }
    }
    crate::println!("ialloc: no inodes");
    None
}

/// One more reference to a slot counted `n`. More references than could
/// ever be live (files, working directories and system calls in flight
/// are far fewer) means clones are being leaked (`mem::forget`); stop
/// there, as `Rc` does, before the count can wrap to 0 and free the slot
/// under live references.
fn add_ref(n: u32) -> u32 {
    assert!(
        n < MAX_REFS,
        "inode reference count overflow: {} clones of one Inode leaked",
        MAX_REFS
    );
    n + 1
}

/// The most references one in-memory inode may have.
pub const MAX_REFS: u32 = 1 << 16;

impl Inode {
    /// The device the inode is on.
    pub fn dev(&self) -> u32 {
        self.dev
    }

    /// The inode's number on its device.
    pub fn inum(&self) -> u32 {
        self.inum
    }

    /// Locks the inode, reading it from disk the first time.
    pub fn lock(&self) -> InodeGuard<'_> {
        let mut g = INODES[self.idx].lock();
        if !g.valid {
            let sb = sb();
            let b = bread(self.dev, sb.inode_block(self.inum));
            let off = DiskInode::offset_in_block(self.inum);
            g.disk = DiskInode::decode(&b.data()[off..off + DiskInode::SIZE]);
            g.valid = true;
            assert!(g.disk.typ != 0, "ilock: inode {} has no type", self.inum);
        }
        InodeGuard { ip: self, g }
    }
}

impl Clone for Inode {
    /// Another reference to the same inode (xv6's `idup`).
    fn clone(&self) -> Inode {
        let mut t = ITABLE.lock();
        t[self.idx].refcnt = add_ref(t[self.idx].refcnt);
        Inode {
            idx: self.idx,
            dev: self.dev,
            inum: self.inum,
        }
    }
}

impl Drop for Inode {
    /// Drops a reference; the last reference to an inode with no links
    /// frees it on disk. Must happen inside a log operation.
    fn drop(&mut self) {
        let mut t = ITABLE.lock();
        // Once the inode is free on disk, `ialloc` may hand its number out
        // again, in this slot, before our reference goes: the new inode's
        // references may then all come and go (even unlinking it) while
        // ours keeps the count above 1. So look again after freeing: the
        // last reference is still ours if the count is 1.
        while t[self.idx].refcnt == 1 {
            // SAFETY: ours is the only reference, so no one else holds or
            // waits for the sleep lock; reading two fields is safe.
            let (valid, nlink) = unsafe {
                let d = INODES[self.idx].get_unchecked();
                (d.valid, d.disk.nlink)
            };
            if !valid || nlink != 0 {
                break;
            }
            // The lock cannot block: we hold the only reference.
            drop(t);
            {
                let mut g = self.lock();
                g.truncate();
                g.typ = 0;
                g.update();
                g.g.valid = false;
            }
            t = ITABLE.lock();
        }
        t[self.idx].refcnt -= 1;
    }
}

/// A locked inode.
pub struct InodeGuard<'a> {
    ip: &'a Inode,
    g: SleepLockGuard<'static, InodeData>,
}

/// A locked inode's fields are its on-disk fields (`typ`, `nlink`, `size`…);
/// `update` writes them back.
impl core::ops::Deref for InodeGuard<'_> {
    type Target = DiskInode;
    fn deref(&self) -> &DiskInode {
        &self.g.disk
    }
}

impl core::ops::DerefMut for InodeGuard<'_> {
    fn deref_mut(&mut self) -> &mut DiskInode {
        &mut self.g.disk
    }
}

/// Where `readi` copies to.
pub enum Dst<'a> {
    /// The current process's memory.
    User(UserAddr),
    /// A kernel buffer (at most its length is read).
    Kernel(&'a mut [u8]),
}

impl Dst<'_> {
    /// Copies `src` to offset `at` of the destination.
    fn put(&mut self, at: usize, src: &[u8]) -> Result<(), BadAddress> {
        match self {
            Dst::User(a) => crate::syscall::copy_out(a.offset(at), src),
            Dst::Kernel(buf) => {
                buf.get_mut(at..at + src.len())
                    .ok_or(BadAddress)?
                    .copy_from_slice(src);
                Ok(())
            }
        }
    }
}

/// Where `writei` copies from.
pub enum Src<'a> {
    /// The current process's memory.
    User(UserAddr),
    /// A kernel buffer (at most its length is written).
    Kernel(&'a [u8]),
}

impl Src<'_> {
    /// Fills `dst` from offset `at` of the source.
    fn get(&self, at: usize, dst: &mut [u8]) -> Result<(), BadAddress> {
        match self {
            Src::User(a) => crate::syscall::copy_in(dst, a.offset(at)),
            Src::Kernel(buf) => {
                dst.copy_from_slice(buf.get(at..at + dst.len()).ok_or(BadAddress)?);
                Ok(())
            }
        }
    }
}

impl InodeGuard<'_> {
    pub fn inode(&self) -> &Inode {
        self.ip
    }

    /// Writes the in-memory fields to disk (inside an operation).
    pub fn update(&self) {
        let sb = sb();
        let mut b = bread(self.ip.dev, sb.inode_block(self.ip.inum));
        let off = DiskInode::offset_in_block(self.ip.inum);
        self.g
            .disk
            .encode(&mut b.data_mut()[off..off + DiskInode::SIZE]);
        log_write(&b);
    }

    /// The disk block holding block `bn` of the file, allocated if missing.
    /// 0 if the disk is full or `bn` is past the largest file.
    fn bmap(&mut self, bn: usize) -> u32 {
        let dev = self.ip.dev;
        let nd = layout().ndirect();
        if bn < nd {
            if self.addrs[bn] == 0 {
                self.addrs[bn] = balloc(dev);
            }
            return self.addrs[bn];
        }
        let bn = bn - nd;
        if bn >= NINDIRECT {
            let bn = bn - NINDIRECT;
            return match BLOCK_MAP.get() {
                Some(map) if bn < NDINDIRECT => {
                    map.bmap(&mut Blocks::new(dev), &mut self.addrs[NDIRECT], bn)
                }
                _ => 0,
            };
        }
        if self.addrs[nd] == 0 {
            self.addrs[nd] = balloc(dev);
            if self.addrs[nd] == 0 {
                return 0;
            }
        }
        let mut b = bread(dev, self.addrs[nd]);
        let off = bn * 4;
        let mut addr = u32::from_le_bytes(abi::fs::take(b.data(), off));
        if addr == 0 {
            addr = balloc(dev);
            if addr != 0 {
                b.data_mut()[off..off + 4].copy_from_slice(&addr.to_le_bytes());
                log_write(&b);
            }
        }
        addr
    }

    /// Frees the file's blocks `keep..` and indirect blocks left empty
    /// (inside an operation).
    fn free_from(&mut self, keep: usize) {
        let dev = self.ip.dev;
        let nd = layout().ndirect();
        for i in keep.min(nd)..nd {
            if self.addrs[i] != 0 {
                bfree(dev, self.addrs[i]);
                self.addrs[i] = 0;
            }
        }
        if self.addrs[nd] != 0 && keep < nd + NINDIRECT {
            let mut b = bread(dev, self.addrs[nd]);
            let mut changed = false;
            for j in keep.saturating_sub(nd)..NINDIRECT {
                let a = u32::from_le_bytes(abi::fs::take(b.data(), j * 4));
                if a != 0 {
                    bfree(dev, a);
                    b.data_mut()[j * 4..j * 4 + 4].fill(0);
                    changed = true;
                }
            }
            if keep <= nd {
                drop(b);
                bfree(dev, self.addrs[nd]);
                self.addrs[nd] = 0;
            } else if changed {
                log_write(&b);
            }
        }
        if let Some(map) = BLOCK_MAP.get()
            && self.addrs[NDIRECT] != 0
        {
            let keep = keep.saturating_sub(nd + NINDIRECT);
            map.free(&mut Blocks::new(dev), &mut self.addrs[NDIRECT], keep);
        }
    }

    /// Frees the blocks past the end of the file (inside an operation): a
    /// short write can leave one, or an indirect block with nothing in it.
    fn free_past_end(&mut self) {
        self.free_from((self.size as usize).div_ceil(BSIZE));
    }

    /// Frees every data block (inside an operation).
    #[doc(alias = "itrunc")]
    pub fn truncate(&mut self) {
        self.free_from(0);
        self.size = 0;
        self.update();
    }

    pub fn stat(&self) -> Stat {
        Stat {
            dev: self.ip.dev as i32,
            ino: self.ip.inum,
            typ: self.typ,
            nlink: self.nlink,
            size: self.size as u64,
        }
    }

    /// Visits the file's bytes `off..off + n` a block at a time (allocating
    /// missing blocks): `f` gets the block's buffer, the range of bytes in
    /// it, and how far into the transfer they are; it returns false to
    /// stop. Returns the bytes of the blocks `f` accepted; it stops early
    /// if the disk is full.
    fn for_each_block(
        &mut self,
        off: usize,
        n: usize,
        mut f: impl FnMut(&mut Buf, Range<usize>, usize) -> bool,
    ) -> usize {
        let mut done = 0;
        while done < n {
            let pos = off + done;
            let addr = self.bmap(pos / BSIZE);
            if addr == 0 {
                break;
            }
            let mut b = bread(self.ip.dev, addr);
            let start = pos % BSIZE;
            let m = (n - done).min(BSIZE - start);
            if !f(&mut b, start..start + m, done) {
                break;
            }
            done += m;
        }
        done
    }

    /// Reads up to `n` bytes at `off` into `dst`. Returns the count read,
    /// or `Err` if copying to `dst` failed.
    #[doc(alias = "readi")]
    pub fn read(&mut self, mut dst: Dst<'_>, off: u32, n: usize) -> Result<usize, ()> {
        let size = self.size as usize;
        let off = off as usize;
        if off > size || off.checked_add(n).is_none() {
            return Ok(0);
        }
        let n = n.min(size - off);
        let mut failed = false;
        let done = self.for_each_block(off, n, |b, range, done| {
            failed = dst.put(done, &b.data()[range]).is_err();
            !failed
        });
        if failed { Err(()) } else { Ok(done) }
    }

    /// Writes `n` bytes from `src` at `off` (inside an operation), growing
    /// the file. Returns the count written, short if the disk filled up or
    /// copying from `src` failed; `Err` for an offset past the end or a
    /// write past the largest file.
    #[doc(alias = "writei")]
    pub fn write(&mut self, src: Src<'_>, off: u32, n: usize) -> Result<usize, ()> {
        let off = off as usize;
        let end = off.checked_add(n).ok_or(())?;
        if off > self.size as usize || end > layout().maxfile() * BSIZE {
            return Err(());
        }
        let done = self.for_each_block(off, n, |b, range, done| {
            let ok = src.get(done, &mut b.data_mut()[range]).is_ok();
            if ok {
                log_write(b);
            }
            ok
        });
        if off + done > self.size as usize {
            self.size = (off + done) as u32;
        }
        if done < n {
            // bmap may have allocated a block that nothing was written to.
            self.free_past_end();
        }
        self.update();
        Ok(done)
    }

    /// The first entry (used or free) of this directory for which `stop`,
    /// given the entry and its offset, is true. Reads a block at a time.
    fn dir_scan(&mut self, mut stop: impl FnMut(&Dirent, usize) -> bool) -> Option<Dirent> {
        let mut found = None;
        self.for_each_block(0, self.size as usize, |b, range, done| {
            for (i, raw) in b.data()[range].chunks_exact(Dirent::SIZE).enumerate() {
                let de = Dirent::decode(raw);
                if stop(&de, done + i * Dirent::SIZE) {
                    found = Some(de);
                    return false;
                }
            }
            true
        });
        found
    }

    /// The inode number and offset of the entry `name`.
    fn dir_find(&mut self, name: &[u8]) -> Option<(u32, usize)> {
        let mut at = 0;
        let de = self.dir_scan(|de, off| {
            at = off;
            de.inum != 0 && de.name_is(name)
        })?;
        Some((de.inum as u32, at))
    }

    /// Looks `name` up in this directory: the inode and the entry's
    /// offset, `None` if there is no such entry, or `Err` if the inode
    /// table is full.
    pub fn dir_lookup(&mut self, name: &[u8]) -> Result<Option<(Inode, usize)>, NoInode> {
        assert!(self.typ == T_DIR, "dirlookup not DIR");
        match self.dir_find(name) {
            Some((inum, off)) => try_iget(self.ip.dev, inum)
                .map(|ip| Some((ip, off)))
                .ok_or(NoInode),
            None => Ok(None),
        }
    }

    /// Adds entry `name` → `inum` (inside an operation). Fails if the name
    /// exists, the directory was unlinked, or it cannot grow.
    pub fn dir_link(&mut self, name: &[u8], inum: u32) -> Result<(), ()> {
        if self.nlink < 1 {
            return Err(());
        }
        let mut free = None;
        let exists = self.dir_scan(|de, off| {
            if de.inum == 0 {
                free = free.or(Some(off));
            }
            de.inum != 0 && de.name_is(name)
        });
        if exists.is_some() {
            return Err(());
        }
        let off = free.unwrap_or(self.size as usize);
        let de = Dirent::new(inum as u16, name).encode();
        match self.write(Src::Kernel(&de), off as u32, Dirent::SIZE) {
            Ok(n) if n == Dirent::SIZE => Ok(()),
            _ => Err(()),
        }
    }

    /// Clears the entry at `off` (inside an operation).
    pub fn dir_unlink_at(&mut self, off: usize) {
        let de = [0u8; Dirent::SIZE];
        let n = self.write(Src::Kernel(&de), off as u32, Dirent::SIZE);
        assert!(n == Ok(Dirent::SIZE), "unlink: writei");
    }

    /// Whether a directory holds nothing but `.` and `..`.
    pub fn dir_is_empty(&mut self) -> bool {
        self.dir_scan(|de, off| off >= 2 * Dirent::SIZE && de.inum != 0)
            .is_none()
    }
}

// ---- symbolic links (the fs lab) ----

pub use crate::sysfile::create_new;

// ---- path names ----

/// Splits the first element off `path`: `("a", "bb/c")` for `"/a//bb/c"`.
/// `None` when no element is left.
fn skip_elem(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = path.iter().position(|&c| c != b'/')?;
    let path = &path[start..];
    let len = path.iter().position(|&c| c == b'/').unwrap_or(path.len());
    let (elem, rest) = path.split_at(len);
    let skip = rest.iter().position(|&c| c != b'/').unwrap_or(rest.len());
    Some((elem, &rest[skip..]))
}

/// Walks `path`. With `parent`, stops one element early and copies the
/// last element into `name`.
fn namex(path: &[u8], parent: bool, name: &mut [u8; DIRSIZ]) -> Option<Inode> {
    let mut ip = if path.first() == Some(&b'/') {
        try_iget(ROOTDEV, ROOTINO)?
    } else {
        current().files().cwd.clone()?
    };
    let mut rest = path;
    while let Some((elem, next)) = skip_elem(rest) {
        name.fill(0);
        let n = elem.len().min(DIRSIZ);
        name[..n].copy_from_slice(&elem[..n]);
        let mut g = ip.lock();
        if g.typ != T_DIR {
            return None;
        }
        if parent && next.is_empty() {
            drop(g);
            return Some(ip);
        }
        let Ok(Some((child, _))) = g.dir_lookup(elem) else {
            return None;
        };
        drop(g);
        ip = child;
        rest = next;
    }
    if parent {
        return None;
    }
    Some(ip)
}

/// The inode at `path`.
pub fn namei(path: &[u8]) -> Option<Inode> {
    let mut name = [0u8; DIRSIZ];
    namex(path, false, &mut name)
}

/// The directory that holds `path`'s last element, which goes into `name`.
pub fn nameiparent(path: &[u8], name: &mut [u8; DIRSIZ]) -> Option<Inode> {
    namex(path, true, name)
}

/// The name in a `DIRSIZ` buffer, without NUL padding.
pub fn name_of(name: &[u8; DIRSIZ]) -> &[u8] {
    let n = name.iter().position(|&c| c == 0).unwrap_or(DIRSIZ);
    &name[..n]
}
