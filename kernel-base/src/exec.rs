//! `exec`: replaces the current process's memory with a program loaded
//! from an ELF file.
//!
//! The new image is built in a fresh page table while the old one stays
//! intact, so any failure (bad file, out of memory, arguments too big)
//! returns -1 to a process that can carry on.

use crate::fs::{Dst, InodeGuard, namei};
use crate::hooks;
use crate::log;
use crate::proc::{self, current, current_trapframe};
use crate::syscall;
use crate::vm::{AddressSpace, Frame, PTE_W, PTE_X, UserAddr, pg_round_up};
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
#[doc(alias = "loadseg")]
fn load_segment(
    space: &mut AddressSpace,
    va: usize,
    ip: &mut InodeGuard,
    off: u64,
    filesz: u64,
) -> Result<(), ()> {
    let mut i = 0;
    while i < filesz {
        let page = space.page_bytes_mut(va + i as usize).ok_or(())?;
        let n = (filesz - i).min(PGSIZE as u64) as usize;
        let file_off = u32::try_from(off + i).map_err(|_| ())?;
        if ip.read(Dst::Kernel(&mut page[..n]), file_off, n) != Ok(n) {
            return Err(());
        }
        i += PGSIZE as u64;
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `off`.
fn read_exact(ip: &mut InodeGuard, off: u64, buf: &mut [u8]) -> Result<(), ()> {
    let off = u32::try_from(off).map_err(|_| ())?;
    let n = buf.len();
    match ip.read(Dst::Kernel(buf), off, n) {
        Ok(m) if m == n => Ok(()),
        _ => Err(()),
    }
}

/// Maps the program's segments into `space`. Returns the entry point.
fn load_program(path: &[u8], space: &mut AddressSpace) -> Result<usize, ()> {
    let op = log::begin_op();
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
            space
                .user()
                .grow(end, flags_to_perm(ph.flags))
                .map_err(|_| ())?;
            load_segment(space, ph.vaddr as usize, &mut g, ph.offset, ph.filesz)?;
        }
        Ok(eh.entry as usize)
    })();
    log::end_op(op);
    result
}

/// The argument strings, copied out of the caller's memory before anything
/// else (so a bad pointer fails exec at once) and packed, NUL-terminated,
/// into one page: they must fit the one-page stack anyway.
struct ArgStrings {
    page: Frame,
    /// Offset and length (with the NUL) of each string in the page.
    spans: [(usize, usize); MAXARG],
    count: usize,
}

impl ArgStrings {
    fn gather(argv: &[UserAddr]) -> Result<ArgStrings, ()> {
        let mut args = ArgStrings {
            page: Frame::alloc().ok_or(())?,
            spans: [(0, 0); MAXARG],
            count: 0,
        };
        let mut used = 0;
        for (i, &a) in argv.iter().enumerate() {
            let rest = &mut args.page.bytes_mut()[used..];
            let len = syscall::copy_in_str(rest, a).map_err(|_| ())? + 1;
            args.spans[i] = (used, len);
            args.count = i + 1;
            used += len;
        }
        Ok(args)
    }

    fn get(&self, i: usize) -> &[u8] {
        let (off, len) = self.spans[i];
        &self.page.bytes()[off..off + len]
    }
}

/// Pushes the argument strings, then the argv array, onto the new stack
/// ending at `sp`. Returns the new sp (where argv starts).
fn push_args(
    space: &mut AddressSpace,
    args: &ArgStrings,
    mut sp: usize,
    stackbase: usize,
) -> Result<usize, ()> {
    let mut mem = space.user();
    let mut ustack = [0usize; MAXARG + 1];
    for (i, slot) in ustack.iter_mut().enumerate().take(args.count) {
        let s = args.get(i);
        sp = sp.checked_sub(s.len()).ok_or(())?;
        sp -= sp % 16;
        if sp < stackbase {
            return Err(());
        }
        mem.copy_out(UserAddr(sp), s).map_err(|_| ())?;
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
    mem.copy_out(UserAddr(sp), &bytes[..words * 8])
        .map_err(|_| ())?;
    Ok(sp)
}

/// Builds the new program's address space: segments, guard page, stack
/// with the arguments. Returns it with the entry point and stack pointer.
fn build(path: &[u8], args: &ArgStrings) -> Result<(AddressSpace, usize, usize), ()> {
    let mut space = AddressSpace::new(current().trapframe_pa()).ok_or(())?;
    let entry = load_program(path, &mut space)?;
    // A guard page, then the stack.
    let mut mem = space.user();
    let base = pg_round_up(mem.size());
    mem.grow(base + (USERSTACK + 1) * PGSIZE, PTE_W)
        .map_err(|_| ())?;
    let sz = mem.size();
    mem.clear_user(sz - (USERSTACK + 1) * PGSIZE);
    let sp = push_args(&mut space, args, sz, sz - USERSTACK * PGSIZE)?;
    Ok((space, entry, sp))
}

/// Runs the program at `path` with the arguments at user addresses `argv`.
/// Returns argc (it lands in a0, with argv in a1), or -1 with the process
/// unchanged.
pub fn exec(path: &[u8], argv: &[UserAddr]) -> i64 {
    let p = current();
    let Ok(args) = ArgStrings::gather(argv) else {
        return -1;
    };
    // On failure the half-built space is dropped, freeing what it holds.
    let Ok((mut new, entry, sp)) = build(path, &args) else {
        return -1;
    };
    #[cfg(not(feature = "pgtbl"))]
    let _ = &mut new;

    let mut space = p.space();
    // The kernel page table (pgtbl) moves to the new memory, and its mirror
    // is redone before the old memory's frames are released.
    #[cfg(feature = "pgtbl")]
    if let Some(kt) = space.take_kernel_table() {
        let oldsz = space.user().size();
        let newsz = new.user().size();
        if new.set_kernel_table(kt, oldsz).is_err() {
            let kt = new.take_kernel_table().expect("just set");
            // Every table the old mirror used is still there, so this
            // allocates nothing.
            space
                .set_kernel_table(kt, newsz)
                .expect("exec: restoring the mirror");
            return -1;
        }
    }
    let mut old = core::mem::replace(&mut *space, new);
    drop(space);

    // The last path element names the process.
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    proc::set_name(p, name);
    {
        let mut tf = current_trapframe();
        tf.epc = entry;
        tf.sp = sp;
        tf.a1 = sp;
    }
    hooks::exec(p, &p.space().user());
    // A lab's state for the old image goes with it (mmap writes back).
    hooks::memory_ending(&mut old.user());
    drop(old);
    argv.len() as i64
}
