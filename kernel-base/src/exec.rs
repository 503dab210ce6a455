//! `exec`: replaces the current process's memory with a program loaded
//! from an ELF file.
//!
//! The new image is built in a fresh page table while the old one stays
//! intact, so any failure (bad file, out of memory, arguments too big)
//! returns -1 to a process that can carry on.

use crate::fs::{Addr, InodeGuard, namei};
use crate::kalloc;
use crate::log;
use crate::proc::{self, current};
use crate::vm::{PTE_W, PTE_X, PageTable, PhysAddr, UserAddr, VirtAddr, pg_round_up};
use abi::elf::{ElfHeader, PF_W, PF_X, PT_LOAD, ProgramHeader};
use abi::memlayout::{MAXVA, PGSIZE};
use abi::param::MAXARG;

/// Pages of user stack (below it: one guard page).
const USERSTACK: usize = 1;

fn flags_to_perm(flags: u32) -> u64 {
    let mut perm = 0;
    if flags & PF_X != 0 {
        perm |= PTE_X;
    }
    if flags & PF_W != 0 {
        perm |= PTE_W;
    }
    perm
}

/// Loads `filesz` bytes at file offset `off` into the already-mapped pages
/// at `va` (page-aligned).
fn load_segment(
    pt: &PageTable,
    va: usize,
    ip: &mut InodeGuard,
    off: u64,
    filesz: u64,
) -> Result<(), ()> {
    let mut i = 0;
    while i < filesz {
        let pa = pt.user_page(VirtAddr(va + i as usize)).ok_or(())?;
        let n = (filesz - i).min(PGSIZE as u64) as usize;
        let file_off = u32::try_from(off + i).map_err(|_| ())?;
        if ip.read(Addr::Kernel(pa.0), file_off, n) != Ok(n) {
            return Err(());
        }
        i += PGSIZE as u64;
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `off`.
fn read_exact(ip: &mut InodeGuard, off: u64, buf: &mut [u8]) -> Result<(), ()> {
    let off = u32::try_from(off).map_err(|_| ())?;
    match ip.read(Addr::Kernel(buf.as_mut_ptr() as usize), off, buf.len()) {
        Ok(n) if n == buf.len() => Ok(()),
        _ => Err(()),
    }
}

/// Maps the program's segments into `pt`, keeping `sz` at the extent of
/// what is mapped (also on failure, for freeing). Returns the entry point.
fn load_program(path: &[u8], pt: &PageTable, sz: &mut usize) -> Result<usize, ()> {
    log::begin_op();
    let result = (|| {
        let ip = namei(path).ok_or(())?;
        let mut g = ip.lock();
        let mut hbuf = [0u8; ElfHeader::SIZE];
        read_exact(&mut g, 0, &mut hbuf)?;
        let eh = ElfHeader::parse(&hbuf).map_err(|_| ())?;
        for i in 0..eh.phnum {
            let mut pbuf = [0u8; ProgramHeader::SIZE];
            read_exact(&mut g, eh.ph_offset(i).ok_or(())?, &mut pbuf)?;
            let ph = ProgramHeader::parse(&pbuf).map_err(|_| ())?;
            if ph.typ != PT_LOAD {
                continue;
            }
            let end = ph.check_load(MAXVA as u64, PGSIZE as u64).map_err(|_| ())? as usize;
            *sz = pt.grow(*sz, end, flags_to_perm(ph.flags)).map_err(|_| ())?;
            load_segment(pt, ph.vaddr as usize, &mut g, ph.offset, ph.filesz)?;
        }
        Ok(eh.entry as usize)
    })();
    log::end_op();
    result
}

/// The argument strings, copied out of the caller's memory before anything
/// else (so a bad pointer fails exec at once) and packed, NUL-terminated,
/// into one page: they must fit the one-page stack anyway.
struct ArgStrings {
    page: PhysAddr,
    /// Offset and length (with the NUL) of each string in the page.
    spans: [(usize, usize); MAXARG],
    count: usize,
}

impl ArgStrings {
    fn gather(pt: &PageTable, argv: &[UserAddr]) -> Result<ArgStrings, ()> {
        let page = kalloc::alloc().ok_or(())?;
        let mut args = ArgStrings {
            page,
            spans: [(0, 0); MAXARG],
            count: 0,
        };
        let mut used = 0;
        for (i, &a) in argv.iter().enumerate() {
            // SAFETY: the page is ours (freed when `args` drops); `used`
            // stays within it.
            let rest = unsafe {
                core::slice::from_raw_parts_mut(page.as_mut_ptr::<u8>().add(used), PGSIZE - used)
            };
            let len = pt.copy_in_str(rest, a).map_err(|_| ())? + 1;
            args.spans[i] = (used, len);
            args.count = i + 1;
            used += len;
        }
        Ok(args)
    }

    fn get(&self, i: usize) -> &[u8] {
        let (off, len) = self.spans[i];
        // SAFETY: gather wrote this string at this place in our page.
        unsafe { core::slice::from_raw_parts(self.page.as_mut_ptr::<u8>().add(off), len) }
    }
}

impl Drop for ArgStrings {
    fn drop(&mut self) {
        // SAFETY: the page was allocated by gather and is used only here.
        unsafe { kalloc::free(self.page) };
    }
}

/// Pushes the argument strings, then the argv array, onto the new stack
/// ending at `sp`. Returns the new sp (where argv starts).
fn push_args(
    new: &PageTable,
    args: &ArgStrings,
    mut sp: usize,
    stackbase: usize,
) -> Result<usize, ()> {
    let mut ustack = [0usize; MAXARG + 1];
    for (i, slot) in ustack.iter_mut().enumerate().take(args.count) {
        let s = args.get(i);
        sp = sp.checked_sub(s.len()).ok_or(())?;
        sp -= sp % 16;
        if sp < stackbase {
            return Err(());
        }
        new.copy_out(UserAddr(sp), s).map_err(|_| ())?;
        *slot = sp;
    }
    let words = args.count + 1;
    sp = sp.checked_sub(words * 8).ok_or(())?;
    sp -= sp % 16;
    if sp < stackbase {
        return Err(());
    }
    let mut bytes = [0u8; (MAXARG + 1) * 8];
    for (i, w) in ustack[..words].iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    new.copy_out(UserAddr(sp), &bytes[..words * 8])
        .map_err(|_| ())?;
    Ok(sp)
}

/// Runs the program at `path` with the arguments at user addresses `argv`.
/// Returns argc (it lands in a0, with argv in a1), or -1 with the process
/// unchanged.
pub fn exec(path: &[u8], argv: &[UserAddr]) -> i64 {
    let p = current();
    let d = p.data();
    let old = d.pagetable.expect("exec: no page table");
    let Ok(args) = ArgStrings::gather(&old, argv) else {
        return -1;
    };
    let Some(pt) = proc::new_user_pagetable(p) else {
        return -1;
    };
    let fail = |sz: usize| {
        proc::proc_free_pagetable(pt, sz);
        -1
    };
    let mut sz = 0;
    let Ok(entry) = load_program(path, &pt, &mut sz) else {
        return fail(sz);
    };
    // A guard page, then the stack.
    let base = pg_round_up(sz);
    let Ok(sz) = pt.grow(base, base + (USERSTACK + 1) * PGSIZE, PTE_W) else {
        return fail(base);
    };
    pt.clear_user(VirtAddr(sz - (USERSTACK + 1) * PGSIZE));
    let stackbase = sz - USERSTACK * PGSIZE;
    let Ok(sp) = push_args(&pt, &args, sz, stackbase) else {
        return fail(sz);
    };

    // The last path element names the process.
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    d.name = [0; 16];
    let n = name.len().min(15);
    d.name[..n].copy_from_slice(&name[..n]);

    let oldsz = d.sz;
    d.pagetable = Some(pt);
    d.sz = sz;
    let tf = p.trapframe();
    tf.epc = entry;
    tf.sp = sp;
    tf.a1 = sp;
    proc::proc_free_pagetable(old, oldsz);
    argv.len() as i64
}
