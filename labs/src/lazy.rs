//! Lab lazy: `sbrk(n)` with n > 0 only moves the end of memory; the pages
//! come one at a time, on the first access, from a page fault. Shrinking,
//! fork, exit and the kernel's copies to and from user memory all work on
//! pages that were never touched.
//!
//! Hooks used: `grow` (xv6's `growproc` from `sys_sbrk`) and `user_fault`
//! (page faults from user mode, and copyin/copyout meeting a page that is
//! not there: xv6's `walkaddr`). The kernel already skips pages that are
//! not mapped when it copies (fork), shrinks or frees memory.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use kernel_base::hooks::{Fault, Lab};
use kernel_base::vm::{Access, OutOfMemory, UserMemory};
// BEGIN SOLUTION
use kernel_base::vm::{Frame, PTE_R, PTE_W};
// END SOLUTION

pub struct Lazy;

impl Lab for Lazy {
    fn name(&self) -> &'static str {
        "lazy"
    }

    /// `sbrk` grows memory to `newsz`: only the size changes.
    fn grow(&self, mem: &mut UserMemory<'_>, newsz: usize) -> Option<Result<(), OutOfMemory>> {
        // BEGIN SOLUTION
        Some(mem.set_size(newsz))
        // END SOLUTION
        // STARTER: let _ = (mem, newsz);
        // STARTER: None
    }

    /// The user page at `va` does not allow `access`: if it is a heap page
    /// never touched, give it a zeroed frame now.
    fn user_fault(&self, mem: &mut UserMemory<'_>, va: usize, access: Access) -> Fault {
        // BEGIN SOLUTION
        // Ours: a load or store below the end of memory where nothing is
        // mapped. A page that is there (the stack guard page, a read-only
        // page, a copy-on-write page) is not a lazy page: someone else
        // decides, and by default the process is killed.
        if access == Access::Execute || va >= mem.size() || mem.pte(va).is_some() {
            return Fault::NotMine;
        }
        let Some(frame) = Frame::alloc() else {
            return Fault::Failed;
        };
        match mem.map_frame(va, frame, PTE_R | PTE_W) {
            Ok(()) => Fault::Resolved,
            // Out of memory for a page-table page: the frame went back.
            Err(_) => Fault::Failed,
        }
        // END SOLUTION
        // STARTER: let _ = (mem, va, access);
        // STARTER: Fault::NotMine
    }
}
