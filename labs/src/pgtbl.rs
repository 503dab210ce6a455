//! Lab pgtbl (2020 edition): print the first process's page table; give
//! each process a kernel page table of its own, which also maps its user
//! memory (below PLIC, without the U bit), so that `copyin` reads user
//! memory directly instead of walking the user page table in software; and
//! count those copies in a `statistics` device.
//!
//! Hooks used: `exec` (vmprint when init starts), `kernel_pagetable`
//! (xv6's `allocproc`: make the table, map the kernel stack; the kernel
//! switches to it in the scheduler and frees it with the process),
//! `user_mappings_changed` (every change of user mappings: xv6's fork,
//! exec, sbrk and userinit), `copy_in` and `copy_in_str` (xv6's
//! `copyin_new`, `copyinstr_new`) and `statistics` (its part of the statistics device).
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_base::hooks::{Lab, StatsFn};
use kernel_base::proc::Proc;
use kernel_base::vm::{
    BadAddress, KernelPageTable, KernelStack, Mirror, OutOfMemory, UserAddr, UserMemory,
};
// BEGIN SOLUTION
use abi::memlayout::PGSIZE;
use kernel_base::println;
use kernel_base::vm::{PTE_R, PTE_U, PTE_W, PTE_X, TableView};
// END SOLUTION

pub struct Pgtbl;

impl Lab for Pgtbl {
    fn name(&self) -> &'static str {
        "pgtbl"
    }

    /// Prints init's page table when it starts.
    fn exec(&self, p: &Proc, mem: &UserMemory<'_>) {
        // BEGIN SOLUTION
        if p.pid() == 1 {
            vmprint(mem.page_table());
        }
        // END SOLUTION
        // STARTER: let _ = (p, mem);
    }

    /// A new process's kernel page table, with its kernel stack mapped.
    fn kernel_pagetable(
        &self,
        p: &Proc,
        kstack: &KernelStack,
    ) -> Option<Result<KernelPageTable, OutOfMemory>> {
        // BEGIN SOLUTION
        let _ = p;
        Some(KernelPageTable::new().and_then(|mut kt| {
            kt.map_kernel_stack(kstack)?;
            Ok(kt)
        }))
        // END SOLUTION
        // STARTER: let _ = (p, kstack);
        // STARTER: None
    }

    /// Keeps the mirror of user memory up to date.
    fn user_mappings_changed(
        &self,
        mirror: &mut Mirror<'_>,
        range: Range<usize>,
    ) -> Result<(), OutOfMemory> {
        // BEGIN SOLUTION
        for va in range.step_by(PGSIZE) {
            match mirror.user_pte(va) {
                // The kernel may not use pages with U set: map it without.
                Some(pte) if pte.flags() & PTE_U != 0 => {
                    let flags = pte.flags() & (PTE_R | PTE_W | PTE_X);
                    mirror.map(va, flags).map_err(|_| OutOfMemory)?;
                }
                // Gone, or the stack guard page (which copyin must refuse).
                _ => mirror.unmap(va),
            }
        }
        Ok(())
        // END SOLUTION
        // STARTER: let _ = (mirror, range);
        // STARTER: Ok(())
    }

    /// copyin, reading user memory through the mirror.
    fn copy_in(
        &self,
        mem: &mut UserMemory<'_>,
        dst: &mut [u8],
        src: UserAddr,
    ) -> Option<Result<(), BadAddress>> {
        // BEGIN SOLUTION
        COPYIN.fetch_add(1, Ordering::Relaxed);
        Some(copy_in_new(mem, dst, src))
        // END SOLUTION
        // STARTER: let _ = (mem, dst, src);
        // STARTER: None
    }

    /// copyinstr, reading user memory through the mirror.
    fn copy_in_str(
        &self,
        mem: &mut UserMemory<'_>,
        dst: &mut [u8],
        src: UserAddr,
    ) -> Option<Result<usize, BadAddress>> {
        // BEGIN SOLUTION
        COPYINSTR.fetch_add(1, Ordering::Relaxed);
        Some(copy_in_str_new(mem, dst, src))
        // END SOLUTION
        // STARTER: let _ = (mem, dst, src);
        // STARTER: None
    }

    /// The counts, in the `statistics` device's text.
    fn statistics(&self) -> Option<StatsFn> {
        Some(stats)
    }
}

// BEGIN SOLUTION
/// Prints a page table: its address, then each valid entry, indented one
/// ` ..` per level, with the tables it points to below it.
fn vmprint(root: TableView<'_>) {
    println!("page table {:#018x}", root.pa().0);
    print_level(root, 1);
}

fn print_level(table: TableView<'_>, depth: usize) {
    for i in 0..512 {
        let pte = table.entry(i);
        if !pte.is_valid() {
            continue;
        }
        for _ in 0..depth {
            kernel_base::print!(" ..");
        }
        println!("{}: pte {:#018x} pa {:#018x}", i, pte.bits(), pte.pa().0);
        if let Some(next) = table.next(i) {
            print_level(next, depth + 1);
        }
    }
}

/// copyin through the mirror: read the user address itself, once it is
/// known to be inside the process's memory.
#[doc(alias = "copyin_new")]
fn copy_in_new(mem: &mut UserMemory<'_>, dst: &mut [u8], src: UserAddr) -> Result<(), BadAddress> {
    let end = src.0.checked_add(dst.len()).ok_or(BadAddress)?;
    if end > mem.size() {
        return Err(BadAddress);
    }
    // A page the mirror does not show may still be fine: one lazy
    // allocation has not made yet, or one above PLIC. The page-table walk
    // decides those (and refuses the stack guard page).
    mem.copy_in_direct(dst, src)
        .or_else(|_| mem.copy_in(dst, src))
}

/// copyinstr through the mirror, bounded by the end of memory.
#[doc(alias = "copyinstr_new")]
fn copy_in_str_new(
    mem: &mut UserMemory<'_>,
    dst: &mut [u8],
    src: UserAddr,
) -> Result<usize, BadAddress> {
    let room = mem.size().checked_sub(src.0).ok_or(BadAddress)?;
    let n = dst.len().min(room);
    mem.copy_in_str_direct(&mut dst[..n], src)
        .or_else(|_| mem.copy_in_str(&mut dst[..n], src))
}
// END SOLUTION

/// How many times the kernel copied in from user memory, and strings.
static COPYIN: AtomicU64 = AtomicU64::new(0);
static COPYINSTR: AtomicU64 = AtomicU64::new(0);

/// The `statistics` device's part of this lab: a read returns the text a
/// piece at a time, then -1 once; the next read starts over with fresh
/// counts (`kernel_base::statistics`).
#[doc(alias = "statscopyin")]
fn stats(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    write!(
        w,
        "copyin: {}\ncopyinstr: {}\n",
        COPYIN.load(Ordering::Relaxed),
        COPYINSTR.load(Ordering::Relaxed)
    )
}
