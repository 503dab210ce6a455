//! Open files: a system-wide table of NFILE entries that file descriptors
//! point to. A [`File`] is a counted reference to an entry (cloning it is
//! xv6's `filedup`, dropping it `fileclose`).

use crate::fs::{Dst, Inode, Src};
use crate::log;
use crate::pipe::Pipe;
use crate::spinlock::SpinLock;
use crate::vm::{Access, UserAddr};
use abi::fs::BSIZE;
use abi::param::{MAXOPBLOCKS, NDEV, NFILE};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

/// What an open file refers to.
pub enum FileKind {
    Pipe(Pipe),
    Inode(Inode),
    Device {
        ip: Inode,
        major: i16,
    },
    #[cfg(feature = "net")]
    Socket(crate::net::Socket),
}

struct Slot {
    /// Set when the entry is allocated, taken when the last reference goes.
    kind: UnsafeCell<Option<FileKind>>,
    readable: UnsafeCell<bool>,
    writable: UnsafeCell<bool>,
    /// Offset of an inode file; changed only with the inode locked.
    off: AtomicU32,
}

// SAFETY: `kind`, `readable` and `writable` change only while the entry has
// no references (under FTABLE); holders only read them.
unsafe impl Sync for Slot {}

static SLOTS: [Slot; NFILE] = [const {
    Slot {
        kind: UnsafeCell::new(None),
        readable: UnsafeCell::new(false),
        writable: UnsafeCell::new(false),
        off: AtomicU32::new(0),
    }
}; NFILE];

/// Reference counts of the entries.
static FTABLE: SpinLock<[u32; NFILE]> = SpinLock::new("ftable", [0; NFILE]);

/// A read or write routine of a device (console, statistics): `n` bytes
/// to or from the current process's memory at the address. Returns the
/// count moved, or -1.
pub type DevRw = fn(addr: UserAddr, n: usize) -> i64;

/// A driver's read and write routines (an entry of xv6's `devsw`).
pub struct Device {
    pub read: DevRw,
    pub write: DevRw,
}

#[doc(alias = "devsw")]
static DEVSW: SpinLock<[Option<&'static Device>; NDEV]> = SpinLock::new("devsw", [None; NDEV]);

/// Installs the driver of device `major`; fails if the number is out of
/// range or taken.
pub fn register_device(major: i16, dev: &'static Device) -> Result<(), ()> {
    let mut sw = DEVSW.lock();
    let slot = usize::try_from(major)
        .ok()
        .and_then(|m| sw.get_mut(m))
        .ok_or(())?;
    if slot.is_some() {
        return Err(());
    }
    *slot = Some(dev);
    Ok(())
}

fn device(major: i16) -> Option<&'static Device> {
    let m = usize::try_from(major).ok()?;
    DEVSW.lock().get(m).copied().flatten()
}

/// The most references one open file may have: every descriptor of every
/// process (NPROC * NOFILE) and then some.
pub const MAX_REFS: u32 = 1 << 16;

pub struct File {
    idx: usize,
}

impl File {
    /// A new open file, or `None` if the table is full (then `kind` is
    /// dropped, which for an inode must happen inside an operation).
    pub fn alloc(kind: FileKind, readable: bool, writable: bool) -> Option<File> {
        let mut t = FTABLE.lock();
        let idx = t.iter().position(|&r| r == 0)?;
        t[idx] = 1;
        let s = &SLOTS[idx];
        // SAFETY: the entry had no references and FTABLE is held.
        unsafe {
            *s.kind.get() = Some(kind);
            *s.readable.get() = readable;
            *s.writable.get() = writable;
        }
        s.off.store(0, Ordering::Relaxed);
        Some(File { idx })
    }

    fn slot(&self) -> &'static Slot {
        &SLOTS[self.idx]
    }

    pub fn kind(&self) -> &FileKind {
        // SAFETY: set before the first reference and unchanged while any
        // reference exists.
        unsafe {
            (*self.slot().kind.get())
                .as_ref()
                .expect("file without kind")
        }
    }

    pub fn readable(&self) -> bool {
        // SAFETY: as for `kind`.
        unsafe { *self.slot().readable.get() }
    }

    pub fn writable(&self) -> bool {
        // SAFETY: as for `kind`.
        unsafe { *self.slot().writable.get() }
    }

    /// The size in bytes of an inode file (`None` for pipes and devices).
    pub fn size(&self) -> Option<u32> {
        match self.kind() {
            FileKind::Inode(ip) => Some(ip.lock().stat().size as u32),
            _ => None,
        }
    }

    /// Reads up to `buf.len()` bytes of an inode file at `off` into `buf`,
    /// leaving the file offset alone (the mmap lab's page-in). Returns the
    /// count read (short at the end of the file).
    pub fn read_at(&self, off: u32, buf: &mut [u8]) -> Result<usize, ()> {
        let FileKind::Inode(ip) = self.kind() else {
            return Err(());
        };
        let n = buf.len();
        let mut g = ip.lock();
        g.read(Dst::Kernel(buf), off, n)
    }

    /// Writes `buf` to an inode file at `off`, inside the file's current
    /// size only (the mmap lab's write-back never grows a file), in one log
    /// operation (`buf` is at most a page). Returns the count written.
    pub fn write_at(&self, off: u32, buf: &[u8]) -> Result<usize, ()> {
        let FileKind::Inode(ip) = self.kind() else {
            return Err(());
        };
        if buf.len() > 4096 {
            return Err(());
        }
        let op = log::begin_op();
        let r = {
            let mut g = ip.lock();
            let size = g.stat().size as u32;
            let n = (size.saturating_sub(off) as usize).min(buf.len());
            if n == 0 {
                Ok(0)
            } else {
                g.write(Src::Kernel(&buf[..n]), off, n)
            }
        };
        log::end_op(op);
        r
    }

    /// Copies the file's `struct stat` to user address `addr`.
    pub fn stat(&self, addr: UserAddr) -> i64 {
        let ip = match self.kind() {
            FileKind::Inode(ip) | FileKind::Device { ip, .. } => ip,
            FileKind::Pipe(_) => return -1,
            #[cfg(feature = "net")]
            FileKind::Socket(_) => return -1,
        };
        let st = ip.lock().stat();
        match crate::syscall::copy_out(addr, &st.encode()) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    }

    /// Reads up to `n` bytes into user memory at `addr`.
    pub fn read(&self, addr: UserAddr, n: usize) -> i64 {
        if !self.readable() {
            return -1;
        }
        match self.kind() {
            FileKind::Pipe(p) => p.read(addr, n),
            #[cfg(feature = "net")]
            FileKind::Socket(s) => s.read(addr, n),
            // As in xv6, a device without a driver opens but cannot be read.
            FileKind::Device { major, .. } => match device(*major) {
                Some(d) => (d.read)(addr, n),
                None => -1,
            },
            // Each retry follows a fault-in that mapped a page, and only
            // this process changes its memory: it ends.
            FileKind::Inode(ip) => loop {
                let mut g = ip.lock();
                let off = self.slot().off.load(Ordering::Relaxed);
                match g.read(Dst::User(addr), off, n) {
                    Ok(r) => {
                        self.slot().off.store(off + r as u32, Ordering::Relaxed);
                        return r as i64;
                    }
                    Err(()) => {
                        // A page of `addr` may need a fault handler that
                        // cannot run under this inode's lock (a mapping of
                        // a file): fault in what the read fills with no
                        // lock held, and read again if that mapped a page.
                        let want = (g.stat().size as u32).saturating_sub(off) as usize;
                        drop(g);
                        if !fault_in(addr, want.min(n), Access::Write) {
                            return -1;
                        }
                    }
                }
            },
        }
    }

    /// Writes `n` bytes from user memory at `addr`.
    pub fn write(&self, addr: UserAddr, n: usize) -> i64 {
        if !self.writable() {
            return -1;
        }
        match self.kind() {
            FileKind::Pipe(p) => p.write(addr, n),
            #[cfg(feature = "net")]
            FileKind::Socket(s) => s.write(addr, n),
            FileKind::Device { major, .. } => match device(*major) {
                Some(d) => (d.write)(addr, n),
                None => -1,
            },
            FileKind::Inode(ip) => {
                // Write a few blocks per log operation so no transaction
                // outgrows the log: inode, indirect block, two bitmap
                // blocks, and the data blocks (which may be unaligned).
                let max = ((MAXOPBLOCKS - 1 - 1 - 2) / 2) * BSIZE;
                let mut done = 0;
                while done < n {
                    let chunk = (n - done).min(max);
                    let op = log::begin_op();
                    let r = {
                        let mut g = ip.lock();
                        let off = self.slot().off.load(Ordering::Relaxed);
                        let r = g.write(Src::User(addr.offset(done)), off, chunk);
                        if let Ok(w) = r {
                            self.slot().off.store(off + w as u32, Ordering::Relaxed);
                        }
                        r
                    };
                    log::end_op(op);
                    match r {
                        Ok(w) if w == chunk => done += w,
                        // A short write: the disk is full, or a page of
                        // `addr` needs a fault handler that cannot run under
                        // the inode's lock (a mapping of a file: as in
                        // `read`), or is bad. Write on only if faulting in
                        // the rest of the chunk with no lock held mapped a
                        // page.
                        Ok(w) => {
                            done += w;
                            if !fault_in(addr.offset(done), chunk - w, Access::Read) {
                                break;
                            }
                        }
                        Err(()) => break,
                    }
                }
                if done == n { n as i64 } else { -1 }
            }
        }
    }
}

/// Faults in the user pages of `len` bytes at `addr` for `access` (with no
/// lock held); whether that mapped any.
fn fault_in(addr: UserAddr, len: usize, access: Access) -> bool {
    crate::proc::with_current_memory(|m| m.fault_in(addr, len, access)) > 0
}

impl Clone for File {
    fn clone(&self) -> File {
        let mut t = FTABLE.lock();
        assert!(t[self.idx] >= 1, "filedup");
        // Far more references than descriptors exist means clones are
        // being leaked (`mem::forget`): stop, as `Rc` does, before the
        // count wraps to 0 and the entry is reused under live references.
        assert!(
            t[self.idx] < MAX_REFS,
            "file reference count overflow: {} clones of one File leaked",
            MAX_REFS
        );
        t[self.idx] += 1;
        File { idx: self.idx }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let mut t = FTABLE.lock();
        assert!(t[self.idx] >= 1, "fileclose");
        t[self.idx] -= 1;
        if t[self.idx] > 0 {
            return;
        }
        // SAFETY: the last reference is gone and FTABLE is held.
        let (kind, writable) = unsafe {
            (
                (*self.slot().kind.get()).take(),
                *self.slot().writable.get(),
            )
        };
        drop(t);
        match kind {
            Some(FileKind::Pipe(p)) => p.close(writable),
            Some(FileKind::Inode(ip)) | Some(FileKind::Device { ip, .. }) => {
                let op = log::begin_op();
                drop(ip);
                log::end_op(op);
            }
            #[cfg(feature = "net")]
            Some(FileKind::Socket(s)) => drop(s),
            None => {}
        }
    }
}
