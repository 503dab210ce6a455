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
use crate::vm::{PTE_W, PTE_X, PageTable, UserAddr, VirtAddr, pg_round_up};
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

/// Copies the argument strings from the old address space (`old`, at the
/// user addresses in `argv`) onto the new stack ending at `sp`, then the
/// argv array. Returns the new sp (where argv starts).
fn push_args(
    old: &PageTable,
    new: &PageTable,
    argv: &[UserAddr],
    mut sp: usize,
    stackbase: usize,
) -> Result<usize, ()> {
    let page = kalloc::alloc().ok_or(())?;
    // SAFETY: a fresh page, ours until freed below.
    let buf = unsafe { core::slice::from_raw_parts_mut(page.as_mut_ptr::<u8>(), PGSIZE) };
    let result = (|| {
        let mut ustack = [0usize; MAXARG + 1];
        for (i, &a) in argv.iter().enumerate() {
            let len = old.copy_in_str(buf, a).map_err(|_| ())?;
            sp = sp.checked_sub(len + 1).ok_or(())?;
            sp -= sp % 16;
            if sp < stackbase {
                return Err(());
            }
            new.copy_out(UserAddr(sp), &buf[..=len]).map_err(|_| ())?;
            ustack[i] = sp;
        }
        let words = argv.len() + 1;
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
    })();
    // SAFETY: the page is no longer used.
    unsafe { kalloc::free(page) };
    result
}

/// Runs the program at `path` with the arguments at user addresses `argv`.
/// Returns argc (it lands in a0, with argv in a1), or -1 with the process
/// unchanged.
pub fn exec(path: &[u8], argv: &[UserAddr]) -> i64 {
    let p = current();
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
    let d = p.data();
    let old = d.pagetable.expect("exec: no page table");
    let Ok(sp) = push_args(&old, &pt, argv, sz, stackbase) else {
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
