//! The pgtbl lab's part of the virtual memory code: reading user memory
//! through a kernel page table (direct copies), and per-process kernel
//! page tables with their kernel stacks and their mirror of user pages.

use super::*;

// ---- reading user memory through a kernel page table (pgtbl) ----

core::arch::global_asm!(
    r#"
    .section .text
    .balign 4
    .globl direct_copy, direct_copy_end, direct_copy_fault
# direct_copy(dst, src, len, stop_at_nul): copies len bytes from src, a
# virtual address of the page table in use, to dst; with stop_at_nul, up to
# and including a NUL. Returns the bytes copied, or -1 if a load from src
# faulted: kerneltrap resumes a faulting load here at direct_copy_fault.
direct_copy:
    mv t1, zero
1:  beq t1, a2, 2f
    add t2, a1, t1
    lbu t0, 0(t2)
    add t2, a0, t1
    sb t0, 0(t2)
    addi t1, t1, 1
    beqz a3, 1b
    bnez t0, 1b
2:  mv a0, t1
    ret
direct_copy_fault:
    li a0, -1
    ret
direct_copy_end:
    "#
);

unsafe extern "C" {
    fn direct_copy(dst: *mut u8, src: usize, len: usize, stop_at_nul: usize) -> isize;
    static direct_copy_end: u8;
    static direct_copy_fault: u8;
}

/// Where a kernel trap at `sepc` resumes if it is a load page fault in
/// `direct_copy`: its fault return. `None` for any other trap.
pub(crate) fn direct_copy_fixup(scause: usize, sepc: usize) -> Option<usize> {
    let start = direct_copy as *const () as usize;
    let end = ptr::addr_of!(direct_copy_end) as usize;
    (scause == crate::trap::SCAUSE_LOAD_PAGE_FAULT && (start..end).contains(&sepc))
        .then_some(ptr::addr_of!(direct_copy_fault) as usize)
}

/// Copies `dst.len()` bytes (or, with `stop_at_nul`, up to a NUL) from
/// `src`, read at that address in the page table this hart runs on, below
/// `limit`. A page that is not mapped there is an error, not a panic.
pub(super) fn copy_direct(
    dst: &mut [u8],
    src: usize,
    limit: usize,
    stop_at_nul: bool,
) -> Result<usize, BadAddress> {
    if src.checked_add(dst.len()).is_none_or(|end| end > limit) {
        return Err(BadAddress);
    }
    // SAFETY: the writes go to `dst`, ours; the reads are loads from
    // virtual addresses below `limit`, where the kernel maps nothing of
    // its own (at most user pages, mirrored) so no device register is
    // read; a load that faults ends the copy with -1 (direct_copy_fixup).
    // What is read is plain bytes, whatever the mapping shows.
    let n = unsafe { direct_copy(dst.as_mut_ptr(), src, dst.len(), stop_at_nul as usize) };
    usize::try_from(n).map_err(|_| BadAddress)
}

// ---- the pgtbl lab's per-process kernel page tables ----

/// Flushes this hart's TLB entries for the pages of `range` (all of them
/// for a large range), after mirror changes: a cached translation would
/// let a direct copy read a frame the mirror no longer shows.
pub(super) fn flush(range: Range<usize>) {
    if range.len() > 16 * PGSIZE {
        sfence_vma();
    } else {
        for va in range.step_by(PGSIZE) {
            crate::riscv::sfence_vma_page(va);
        }
    }
}

/// A kernel stack: pages the kernel owns, mapped at a fixed address per
/// process slot. With pgtbl, each process has its own, made with it.
pub struct KernelStack {
    va: usize,
    pages: [PhysAddr; crate::proc::KSTACK_PAGES],
}

impl KernelStack {
    /// A new stack at `va`, mapped in the kernel page table too (so a
    /// process can run without a kernel page table of its own).
    pub(crate) fn new(va: usize) -> Option<KernelStack> {
        let mut pages = [PhysAddr(0); crate::proc::KSTACK_PAGES];
        for i in 0..pages.len() {
            match kalloc::alloc() {
                Some(pa) => pages[i] = pa,
                None => {
                    for pa in &pages[..i] {
                        // SAFETY: just allocated, mapped nowhere.
                        unsafe { kalloc::free(*pa) };
                    }
                    return None;
                }
            }
        }
        // SAFETY: the pages are ours; each slot's stack range is its own
        // and its tables were made at boot.
        unsafe { kernel_map_stack(va, &pages) };
        Some(KernelStack { va, pages })
    }

    /// The lowest address of the stack.
    pub fn va(&self) -> usize {
        self.va
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        kernel_unmap_stack(self.va, self.pages.len());
        for pa in self.pages {
            // SAFETY: the stack's process is gone and the mapping removed;
            // a hart that still caches it flushes before it runs on this
            // slot's stack again (see the scheduler).
            unsafe { kalloc::free(pa) };
        }
    }
}

/// A kernel page table of one process (the pgtbl lab): the kernel's
/// mappings, shared with the kernel page table where they are the same for
/// everyone, plus the process's kernel stack and a mirror of its user
/// pages below PLIC. It owns its own table pages only, never a leaf.
pub struct KernelPageTable {
    pub(super) pt: PageTable,
}

/// Level-1 entries of the first gigabyte below this index are the mirror's
/// (user memory below PLIC); the rest (PLIC, UART, virtio) are shared.
const MIRROR_L1: usize = PLIC / (1 << 21);
/// Root entries this table makes for itself: the first gigabyte (the
/// mirror) and the last (trampoline and this process's kernel stack).
const OWN_ROOTS: [usize; 2] = [0, (TRAMPOLINE >> 30) & 0x1ff];

impl KernelPageTable {
    /// A kernel page table with every mapping of the kernel's except the
    /// kernel stacks: map this process's with [`Self::map_kernel_stack`].
    #[doc(alias = "ukvminit")]
    pub fn new() -> Result<KernelPageTable, OutOfMemory> {
        let kt = KernelPageTable {
            pt: PageTable::new().ok_or(OutOfMemory)?,
        };
        let global = kernel_root();
        for i in 0..512 {
            let pte = PageTable::read(PageTable::slot(global, i));
            if !pte.is_valid() || OWN_ROOTS.contains(&i) {
                continue;
            }
            PageTable::write(PageTable::slot(kt.pt.root, i), pte);
        }
        // The first gigabyte: a level-1 table of our own whose device
        // entries point to the kernel's level-0 tables.
        let l1 = kalloc::alloc().ok_or(OutOfMemory)?;
        PageTable::write(PageTable::slot(kt.pt.root, 0), Pte::new(l1, PTE_V));
        let gl1 = PageTable::read(PageTable::slot(global, 0)).pa();
        for i in MIRROR_L1..512 {
            PageTable::write(
                PageTable::slot(l1, i),
                PageTable::read(PageTable::slot(gl1, i)),
            );
        }
        // SAFETY: the trampoline is kernel code every table maps R|X.
        unsafe {
            kt.pt
                .map(TRAMPOLINE, PGSIZE, trampoline_pa().0, PTE_R | PTE_X)?
        };
        Ok(kt)
    }

    /// Maps a process's kernel stack at its address.
    pub fn map_kernel_stack(&mut self, ks: &KernelStack) -> Result<(), OutOfMemory> {
        for (i, pa) in ks.pages.iter().enumerate() {
            // SAFETY: the stack's pages are kernel RAM; the kernel stack
            // outlives the table (the kernel frees the table first).
            unsafe {
                self.pt
                    .map(ks.va + i * PGSIZE, PGSIZE, pa.0, PTE_R | PTE_W)?
            };
        }
        Ok(())
    }

    /// Whether every page of `ks` is mapped here, to its own frame.
    pub(crate) fn maps_stack(&self, ks: &KernelStack) -> bool {
        ks.pages.iter().enumerate().all(|(i, pa)| {
            self.pt
                .lookup(ks.va + i * PGSIZE)
                .is_some_and(|pte| pte.pa() == *pa && pte.flags() & (PTE_R | PTE_W) != 0)
        })
    }

    /// A read-only look at the root table.
    pub fn page_table(&self) -> TableView<'_> {
        TableView {
            table: self.pt.root,
            _owner: PhantomData,
        }
    }
}

impl Drop for KernelPageTable {
    fn drop(&mut self) {
        // Shared: every root entry but ours, and the device entries of our
        // first-gigabyte table.
        let shared = |level: usize, i: usize| match level {
            2 => !OWN_ROOTS.contains(&i),
            _ => false,
        };
        let l1 = PageTable::read(PageTable::slot(self.pt.root, 0));
        if l1.is_valid() {
            for i in MIRROR_L1..512 {
                PageTable::write(PageTable::slot(l1.pa(), i), Pte(0));
            }
        }
        // SAFETY: the kernel drops a process's kernel page table only when
        // no hart runs on it (the process is gone, or never ran).
        unsafe { self.pt.free_tables(&shared) };
    }
}

/// The pgtbl lab's view of a process's kernel page table while the
/// process's user mappings change: it maps user pages (below PLIC) at the
/// same addresses, for the kernel to read them directly.
pub struct Mirror<'a> {
    pub(super) kernel: &'a mut KernelPageTable,
    pub(super) user: &'a PageTable,
}

impl Mirror<'_> {
    /// Where the mirror ends: user pages at or above it are not mirrored.
    pub const LIMIT: usize = PLIC;

    /// The user page table's leaf for `va` (valid entries only).
    pub fn user_pte(&self, va: usize) -> Option<Pte> {
        self.user.lookup(user_page(va).ok()?)
    }

    /// The kernel page table's leaf for `va` in the mirror.
    pub fn kernel_pte(&self, va: usize) -> Option<Pte> {
        if va >= Self::LIMIT {
            return None;
        }
        self.kernel.pt.lookup(pg_round_down(va))
    }

    /// Maps, at `va` in the kernel page table, the frame the user page
    /// table maps there, with `flags` (which must not include U: the kernel
    /// cannot use user pages; nor more of R, W and X than the user has).
    pub fn map(&mut self, va: usize, flags: u64) -> Result<(), MapError> {
        if va >= Self::LIMIT {
            return Err(MapError::NotUser);
        }
        let va = pg_round_down(va);
        // Only pages the user may use: never the stack guard page.
        let user = self
            .user_pte(va)
            .filter(|p| p.flags() & PTE_U != 0)
            .ok_or(MapError::NotMapped)?;
        if flags & !(PTE_R | PTE_W | PTE_X | PTE_A | PTE_D) != 0
            || flags & PTE_R == 0
            || flags & (PTE_R | PTE_W | PTE_X) & !user.flags() != 0
        {
            return Err(MapError::BadFlags);
        }
        let slot = self.kernel.pt.walk(va, true).ok_or(MapError::OutOfMemory)?;
        PageTable::write(slot, Pte::new(user.pa(), flags | PTE_V));
        Ok(())
    }

    /// Removes every mirror entry in `range` that is not what the user
    /// table maps at its address: another frame, a page the user may not
    /// use, or more permissions than the user has.
    pub(super) fn drop_stale(&mut self, range: Range<usize>) {
        let kpt = &self.kernel.pt;
        let rwx = PTE_R | PTE_W | PTE_X;
        for (va, k) in kpt.leaves(range) {
            let same = self.user.lookup(va).is_some_and(|u| {
                u.flags() & PTE_U != 0
                    && u.pa() == k.pa()
                    && k.flags() & PTE_U == 0
                    && k.flags() & rwx & !u.flags() == 0
            });
            if !same && let Some(slot) = kpt.walk(va, false) {
                PageTable::write(slot, Pte(0));
            }
        }
    }

    /// Removes the mirror's mapping at `va`, if any.
    pub fn unmap(&mut self, va: usize) {
        if va >= Self::LIMIT {
            return;
        }
        if let Some(slot) = self.kernel.pt.walk(pg_round_down(va), false) {
            PageTable::write(slot, Pte(0));
        }
    }
}
