//! Lab mmap: `mmap(addr, len, prot, flags, fd, off)` maps a file into
//! memory and `munmap(addr, len)` takes (part of) it away again. Pages come
//! lazily, from a page fault, read from the file; a `MAP_SHARED` mapping's
//! dirty pages go back to the file on munmap and on exit. fork copies the
//! mappings (the child faults its own pages in).
//!
//! Hooks used: `syscalls` (mmap 27, munmap 28), `user_fault`, `fork`,
//! `memory_ending` (write-back at exit and exec), `proc_free` and
//! `reserved` (sbrk may not grow the heap over a mapping).
// Safe Rust only, as every lab: the kernel's API keeps a mapping's file
// open for it (a `File` it owns) and maps only freshly allocated frames.
#![forbid(unsafe_code)]

use kernel_base::hooks::{Fault, Lab};
use kernel_base::proc::Proc;
use kernel_base::syscall::SysFn;
use kernel_base::vm::{Access, UserMemory};
// BEGIN SOLUTION
use abi::memlayout::PGSIZE;
use abi::mman::{MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE};
use kernel_base::file::File;
use kernel_base::proc::{current, with_current_memory, PerProc};
use kernel_base::sleeplock::SleepLock;
use kernel_base::syscall::{arg_file, arg_int, arg_raw};
use kernel_base::vm::{Frame, USER_TOP, PTE_D, PTE_R, PTE_W};

/// The most mappings one process may have (MIT's `NVMA`).
const NVMA: usize = 16;
/// The longest mapping: more is refused rather than tried.
const MAX_LEN: usize = 1 << 30;

/// One mapping: `len` bytes (whole pages) at `start`, file bytes from `off`.
#[derive(Clone)]
struct Vma {
    start: usize,
    len: usize,
    prot: i32,
    shared: bool,
    off: usize,
    /// The mapping's own reference: the file stays open while mapped.
    file: File,
}

impl Vma {
    fn contains(&self, va: usize) -> bool {
        (self.start..self.start + self.len).contains(&va)
    }
}

type Table = [Option<Vma>; NVMA];

static VMAS: PerProc<Table> = PerProc::new(|| [const { None }; NVMA]);

fn round_up(n: usize) -> usize {
    n.div_ceil(PGSIZE) * PGSIZE
}

fn sys_mmap() -> i64 {
    let len = arg_raw(1);
    let prot = arg_int(2);
    let flags = arg_int(3);
    let Ok(off) = usize::try_from(arg_int(5)) else {
        return -1;
    };
    if len == 0 || len > MAX_LEN || !off.is_multiple_of(PGSIZE) {
        return -1;
    }
    if prot & !(PROT_READ | PROT_WRITE) != 0 || (flags != MAP_SHARED && flags != MAP_PRIVATE) {
        return -1;
    }
    let Some(file) = arg_file(4) else {
        return -1;
    };
    let shared = flags == MAP_SHARED;
    // Only an inode can be paged in; the mapping may not do what the
    // descriptor may not (a private copy may be written, as MIT's test says).
    if file.size().is_none()
        || !file.readable()
        || (shared && prot & PROT_WRITE != 0 && !file.writable())
    {
        return -1;
    }
    let heap_end = with_current_memory(|mem| mem.size());
    let len = round_up(len);
    let r = VMAS.with(current(), |t| {
        // Below the lowest mapping (the first one just below the trapframe).
        let top = t.iter().flatten().map(|v| v.start).min().unwrap_or(USER_TOP - PGSIZE);
        let Some(slot) = t.iter_mut().find(|v| v.is_none()) else {
            return Err(file);
        };
        match top.checked_sub(len) {
            Some(start) if start > heap_end => {
                *slot = Some(Vma {
                    start,
                    len,
                    prot,
                    shared,
                    off,
                    file,
                });
                Ok(start)
            }
            _ => Err(file),
        }
    });
    // A refused file reference is dropped here, with no spinlock held
    // (closing may write the inode).
    r.map_or(-1, |start| start as i64)
}

/// The page a write-back copies through: too big for a kernel stack, and
/// taken from no allocator, so that an exit for want of memory still writes
/// back. A sleep lock, as it is held while the file is written.
static WRITE_BACK: SleepLock<[u8; PGSIZE]> = SleepLock::new("mmap write-back", [0; PGSIZE]);

/// Writes the dirty pages of `v` in `range` back (if shared) and unmaps them.
fn unmap(mem: &mut UserMemory<'_>, v: &Vma, range: core::ops::Range<usize>) {
    for va in range.step_by(PGSIZE) {
        let Some(pte) = mem.pte(va) else {
            continue;
        };
        if v.shared && pte.flags() & PTE_D != 0 {
            let mut buf = WRITE_BACK.lock();
            if mem.read_page(va, &mut buf).is_ok() {
                // Within the file's size only (write_at stops there); an
                // error (the disk) loses the page, as a failed write would.
                let _ = v.file.write_at((v.off + (va - v.start)) as u32, &buf[..]);
            }
        }
        let _ = mem.unmap_page(va);
    }
}

fn sys_munmap() -> i64 {
    let addr = arg_raw(0);
    let len = arg_raw(1);
    if !addr.is_multiple_of(PGSIZE) || len == 0 || len > MAX_LEN {
        return -1;
    }
    let end = addr + round_up(len);
    // Take the part to unmap out of the table (with a reference to the
    // file for the write-back), then write back with no spinlock held.
    let r = VMAS.with(current(), |t| {
        let slot = t.iter_mut().find(|v| v.as_ref().is_some_and(|v| v.contains(addr)))?;
        let v = slot.as_mut()?;
        let vend = v.start + v.len;
        if addr == v.start && end >= vend {
            let whole = slot.take()?;
            return Some((whole.clone(), whole.start..vend, Some(whole)));
        }
        if addr == v.start {
            let part = v.clone();
            v.start = end;
            v.len = vend - end;
            v.off += end - addr;
            return Some((part, addr..end, None));
        }
        if end == vend {
            v.len = addr - v.start;
            return Some((v.clone(), addr..end, None));
        }
        // A hole in the middle would need two mappings: refused (MIT allows).
        None
    });
    let Some((v, range, whole)) = r else {
        return -1;
    };
    with_current_memory(|mem| unmap(mem, &v, range));
    drop(whole);
    0
}
// END SOLUTION

pub struct Mmap;

impl Lab for Mmap {
    fn name(&self) -> &'static str {
        "mmap"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        // BEGIN SOLUTION
        &[
            (abi::syscall::nr::mmap, sys_mmap),
            (abi::syscall::nr::munmap, sys_munmap),
        ]
        // END SOLUTION
        // STARTER: &[]
    }

    /// sbrk asks before growing the heap over `range`: is a mapping there?
    /// (With lazy's sbrk the heap could reach one.)
    fn reserved(&self, range: core::ops::Range<usize>) -> bool {
        // BEGIN SOLUTION
        // The heap's last page is whole: a mapping in it is overlapped too.
        let end = round_up(range.end);
        VMAS.with(current(), |t| {
            t.iter()
                .flatten()
                .any(|v| v.start < end && range.start < v.start + v.len)
        })
        // END SOLUTION
        // STARTER: let _ = range;
        // STARTER: false
    }

    /// A fault inside a mapping: read the page from the file.
    fn user_fault(&self, mem: &mut UserMemory<'_>, va: usize, access: Access) -> Fault {
        // BEGIN SOLUTION
        if access == Access::Execute || mem.pte(va).is_some() {
            return Fault::NotMine;
        }
        let found = VMAS.with(current(), |t| {
            t.iter()
                .flatten()
                .find(|v| v.contains(va))
                .map(|v| (v.start, v.prot, v.off, v.file.clone()))
        });
        let Some((start, prot, off, file)) = found else {
            return Fault::NotMine;
        };
        let allowed = match access {
            Access::Write => prot & PROT_WRITE != 0,
            _ => prot & PROT_READ != 0,
        };
        // Reading the file sleeps and takes its locks: under a spinlock (a
        // pipe's copy) or a sleep lock (a read into this very mapping holds
        // the file's inode and buffer) the access fails instead, and the
        // kernel faults the page in again once it has let go of its locks.
        if !allowed || !kernel_base::sleeplock::may_acquire() {
            return Fault::Failed;
        }
        let Some(mut frame) = Frame::alloc() else {
            return Fault::Failed;
        };
        // Past the end of the file the page stays zero.
        if file.read_at((off + (va - start)) as u32, frame.bytes_mut()).is_err() {
            return Fault::Failed;
        }
        let flags = if prot & PROT_WRITE != 0 { PTE_R | PTE_W } else { PTE_R };
        match mem.map_frame(va, frame, flags) {
            Ok(()) => Fault::Resolved,
            Err(_) => Fault::Failed,
        }
        // END SOLUTION
        // STARTER: let _ = (mem, va, access);
        // STARTER: Fault::NotMine
    }

    /// The child gets the parent's mappings (and its own file references).
    fn fork(&self, parent: &Proc, child: &Proc) {
        // BEGIN SOLUTION
        let copy = VMAS.with(parent, |t| t.clone());
        VMAS.with(child, |t| *t = copy);
        // END SOLUTION
        // STARTER: let _ = (parent, child);
    }

    /// Exit or exec: every mapping is unmapped as by munmap.
    fn memory_ending(&self, mem: &mut UserMemory<'_>) {
        // BEGIN SOLUTION
        if let Some(t) = VMAS.take(current()) {
            for v in t.iter().flatten() {
                unmap(mem, v, v.start..v.start + v.len);
            }
        }
        // END SOLUTION
        // STARTER: let _ = mem;
    }

    fn proc_free(&self, p: &Proc) {
        // BEGIN SOLUTION
        drop(VMAS.take(p));
        // END SOLUTION
        // STARTER: let _freed = p;
    }
}
