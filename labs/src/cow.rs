//! Lab cow: fork shares the parent's pages with the child instead of
//! copying them. Shared writable pages become read-only in both, marked
//! copy-on-write with a software PTE bit; the first write to one (from the
//! process, or from the kernel copying out to it) faults, and the faulting
//! process gets its own copy, or, holding the last reference, just gets
//! write access back. Each physical page carries a count of its extra
//! references, and is freed when its last mapping goes.
//!
//! Hooks used: `fork_memory` (xv6's `uvmcopy`), `user_fault` (page faults
//! and `copyout`), `user_frame_released` (xv6's `kfree` on a user page).

use kernel_base::hooks::{Fault, Lab, Release};
use kernel_base::vm::{Access, OutOfMemory, PhysAddr, UserMemory};
// BEGIN SOLUTION
use abi::memlayout::{KERNBASE, PGSIZE, PHYSTOP};
use core::sync::atomic::{AtomicU8, Ordering};
use kernel_base::vm::{Frame, PTE_RSW0, PTE_U, PTE_W};
// END SOLUTION

pub struct Cow;

// BEGIN SOLUTION
/// The PTE bit marking a page shared copy-on-write (one of the two bits
/// the hardware leaves to software).
const PTE_COW: u64 = PTE_RSW0;

/// For each physical page, how many mappings it has besides one. Atomic:
/// processes sharing a page exit and fault on several harts at once.
/// (64 processes can share a page at most, so a byte is enough.)
static EXTRA_REFS: [AtomicU8; (PHYSTOP - KERNBASE) / PGSIZE] =
    [const { AtomicU8::new(0) }; (PHYSTOP - KERNBASE) / PGSIZE];

fn extra_refs(pa: PhysAddr) -> &'static AtomicU8 {
    &EXTRA_REFS[(pa.0 - KERNBASE) / PGSIZE]
}

/// Shares every page of `parent` with `child`, writable ones copy-on-write.
fn share(parent: &mut UserMemory<'_>, child: &mut UserMemory<'_>) -> Result<(), OutOfMemory> {
    // Pages lazy allocation never made are simply not there.
    let mut from = 0;
    while let Some((va, pte)) = parent.next_mapped(from) {
        from = va + PGSIZE;
        let mut flags = pte.flags();
        if flags & PTE_U == 0 {
            // The stack guard page: nobody may write it anyway.
            flags &= !PTE_W;
        } else if flags & PTE_W != 0 {
            flags = flags & !PTE_W | PTE_COW;
        }
        // SAFETY: W is clear in both mappings from here on, and the extra
        // reference is counted right after, before fork can release either.
        unsafe { parent.share_with(child, va, flags) }.map_err(|_| OutOfMemory)?;
        extra_refs(pte.pa()).fetch_add(1, Ordering::AcqRel);
    }
    Ok(())
}

/// A write to the copy-on-write page at `va`: copy it, or, holding the
/// last reference, take it back as it is.
fn break_cow(mem: &mut UserMemory<'_>, va: usize) -> Fault {
    let Some(pte) = mem.pte(va) else {
        return Fault::NotMine;
    };
    if pte.flags() & PTE_COW == 0 {
        return Fault::NotMine;
    }
    let flags = pte.flags() & !PTE_COW | PTE_W;
    // With no other reference nobody can add one (only a fork of this
    // process could, and this process is here).
    if extra_refs(pte.pa()).load(Ordering::Acquire) == 0 {
        return match mem.set_flags(va, flags) {
            Ok(()) => Fault::Resolved,
            Err(_) => Fault::Failed,
        };
    }
    let Some(mut frame) = Frame::alloc() else {
        return Fault::Failed;
    };
    if mem.copy_page(va, &mut frame).is_err() {
        return Fault::Failed;
    }
    match mem.replace_frame(va, frame, flags) {
        Ok(()) => Fault::Resolved,
        Err(_) => Fault::Failed,
    }
}
// END SOLUTION

impl Lab for Cow {
    fn name(&self) -> &'static str {
        "cow"
    }

    /// fork: share the parent's pages with the child.
    fn fork_memory(
        &self,
        parent: &mut UserMemory<'_>,
        child: &mut UserMemory<'_>,
    ) -> Option<Result<(), OutOfMemory>> {
        // BEGIN SOLUTION
        Some(share(parent, child))
        // END SOLUTION
        // STARTER: let _ = (parent, child);
        // STARTER: None
    }

    /// A page fault, or the kernel writing to a user page it may not write.
    fn user_fault(&self, mem: &mut UserMemory<'_>, va: usize, access: Access) -> Fault {
        // BEGIN SOLUTION
        if access != Access::Write {
            return Fault::NotMine;
        }
        break_cow(mem, va)
        // END SOLUTION
        // STARTER: let _ = (mem, va, access);
        // STARTER: Fault::NotMine
    }

    /// One mapping of `pa` went away: free the page with the last one.
    fn user_frame_released(&self, pa: PhysAddr) -> Release {
        // BEGIN SOLUTION
        let refs = extra_refs(pa);
        match refs.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)) {
            Ok(_) => Release::Keep,
            Err(_) => Release::Free,
        }
        // END SOLUTION
        // STARTER: let _ = pa;
        // STARTER: Release::Free
    }
}
