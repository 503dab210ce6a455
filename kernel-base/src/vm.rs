//! Sv39 page tables: the kernel's, each process's, and copying between
//! user and kernel memory.
//!
//! Three address types keep them apart: [`PhysAddr`] (RAM and devices; the
//! kernel maps RAM at the same addresses, so it can use them directly),
//! [`VirtAddr`] (an address translated by some page table) and [`UserAddr`]
//! (an address a user program handed to a system call: untrusted until a
//! user page table has translated it).
//!
//! Ownership, which is what keeps this module's safe functions sound:
//! - A [`Frame`] is one physical page owned by whoever holds the value.
//! - A page table's root and inner table pages belong to the table; its
//!   pointer is private, so no safe code builds one over arbitrary memory.
//! - In an [`AddressSpace`], every leaf below [`USER_TOP`] holds one
//!   reference to a user frame; the frame is given back to the allocator
//!   when its last reference goes ([`crate::hooks`]' `user_frame_released`
//!   decides, for labs that share frames). The trampoline and trapframe
//!   leaves above it are the kernel's.
//! - Labs reach user memory through [`UserMemory`], a handle that can map,
//!   remap and copy user pages but never touches the kernel's mappings.

use crate::hooks;
use crate::kalloc;
use crate::riscv::{make_satp, sfence_vma, w_satp};
use abi::memlayout::{
    CLINT, CLINT_KVA, FINISHER, FINISHER_KVA, KERNBASE, MAXVA, PGSIZE, PHYSTOP, PLIC, TRAMPOLINE,
    TRAPFRAME, UART0, VIRTIO0,
};
use core::marker::PhantomData;
use core::ops::Range;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PhysAddr(pub usize);

/// A virtual address in some page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VirtAddr(pub usize);

/// A user-space address from a system call argument: not yet checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserAddr(pub usize);

impl PhysAddr {
    /// The kernel's pointer to this physical memory (RAM is identity-mapped).
    pub fn as_mut_ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

impl UserAddr {
    pub fn offset(self, n: usize) -> UserAddr {
        UserAddr(self.0.wrapping_add(n))
    }
}

pub const fn pg_round_up(a: usize) -> usize {
    (a + PGSIZE - 1) & !(PGSIZE - 1)
}

pub const fn pg_round_down(a: usize) -> usize {
    a & !(PGSIZE - 1)
}

/// User memory ends below the trapframe.
pub const USER_TOP: usize = TRAPFRAME;

/// Counts page-table entry writes, in every table: a hart that saw the
/// same count at its last TLB flush holds no stale translation.
pub(crate) static PT_EPOCH: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// PTE permission and status bits.
pub const PTE_V: u64 = 1 << 0;
pub const PTE_R: u64 = 1 << 1;
pub const PTE_W: u64 = 1 << 2;
pub const PTE_X: u64 = 1 << 3;
pub const PTE_U: u64 = 1 << 4;
/// Accessed and dirty: set by the hardware (QEMU) on use.
pub const PTE_A: u64 = 1 << 6;
pub const PTE_D: u64 = 1 << 7;
/// The two bits the hardware leaves to software (e.g. a COW mark).
pub const PTE_RSW0: u64 = 1 << 8;
pub const PTE_RSW1: u64 = 1 << 9;
/// The low ten bits hold flags.
const PTE_FLAG_MASK: u64 = 0x3ff;

/// One page-table entry (a copy: changing it changes no table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Pte(u64);

impl Pte {
    fn new(pa: PhysAddr, flags: u64) -> Pte {
        Pte((((pa.0 >> 12) as u64) << 10) | flags)
    }
    /// The raw 64-bit entry.
    pub fn bits(self) -> u64 {
        self.0
    }
    pub fn is_valid(self) -> bool {
        self.0 & PTE_V != 0
    }
    /// A valid PTE with any of R/W/X is a leaf; otherwise it points to the
    /// next level.
    pub fn is_leaf(self) -> bool {
        self.0 & (PTE_R | PTE_W | PTE_X) != 0
    }
    #[doc(alias = "PTE2PA")]
    pub fn pa(self) -> PhysAddr {
        PhysAddr(((self.0 >> 10) << 12) as usize)
    }
    #[doc(alias = "PTE_FLAGS")]
    pub fn flags(self) -> u64 {
        self.0 & PTE_FLAG_MASK
    }
}

/// Index into the level-`level` table for `va`.
fn px(level: usize, va: usize) -> usize {
    (va >> (12 + 9 * level)) & 0x1ff
}

/// Bytes one entry of a level-`level` table covers.
const fn level_span(level: usize) -> usize {
    PGSIZE << (9 * level)
}

/// Out of physical pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

/// A user address that is unmapped, not user-accessible or out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress;

/// Why a change to user mappings was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    /// The address is not in the user range (at or above [`USER_TOP`]).
    NotUser,
    /// No user page is mapped there.
    NotMapped,
    /// A page is already mapped there.
    AlreadyMapped,
    /// Flags other than R, W, X, the software bits (and V, U, A, D), no R
    /// or X, or W without R.
    BadFlags,
}

impl From<OutOfMemory> for MapError {
    fn from(_: OutOfMemory) -> MapError {
        MapError::OutOfMemory
    }
}

/// Flags a lab may choose for a user page; V and U are always set.
const USER_FLAGS: u64 = PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D | PTE_RSW0 | PTE_RSW1;

/// The flags of a user leaf, or `BadFlags`. Without R or X the entry would
/// be a pointer to a page table, and W without R is reserved.
fn user_leaf_flags(flags: u64) -> Result<u64, MapError> {
    let ok = flags & !USER_FLAGS == 0
        && flags & (PTE_R | PTE_X) != 0
        && (flags & PTE_W == 0 || flags & PTE_R != 0);
    if ok {
        Ok(flags | PTE_V | PTE_U)
    } else {
        Err(MapError::BadFlags)
    }
}

/// The user page containing `va`, if `va` is in the user range.
fn user_page(va: usize) -> Result<usize, MapError> {
    if va < USER_TOP {
        Ok(pg_round_down(va))
    } else {
        Err(MapError::NotUser)
    }
}

// ---- physical pages ----

/// One physical page of RAM, owned: dropping it gives it back to the
/// allocator. Not mapped anywhere while it is a `Frame`.
#[derive(Debug)]
pub struct Frame(PhysAddr);

impl Frame {
    /// A zeroed page, or `None` when memory is exhausted.
    #[doc(alias = "kalloc")]
    pub fn alloc() -> Option<Frame> {
        kalloc::alloc().map(Frame)
    }

    pub fn pa(&self) -> PhysAddr {
        self.0
    }

    pub fn bytes(&self) -> &[u8; PGSIZE] {
        // SAFETY: the frame is a whole page of RAM that only its owner uses.
        unsafe { &*self.0.as_mut_ptr::<[u8; PGSIZE]>() }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8; PGSIZE] {
        // SAFETY: as for `bytes`, and `&mut self` makes the access exclusive.
        unsafe { &mut *self.0.as_mut_ptr::<[u8; PGSIZE]>() }
    }

    /// Gives up ownership without freeing (the page now belongs to a mapping).
    fn into_pa(self) -> PhysAddr {
        let pa = self.0;
        core::mem::forget(self);
        pa
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: an owned frame is referred to by nothing else.
        unsafe { kalloc::free(self.0) };
    }
}

/// Gives back one mapping's reference to user frame `pa`: the frame is
/// freed unless a lab still counts other references to it.
fn release_user_frame(pa: PhysAddr) {
    if hooks::user_frame_released(pa) {
        // SAFETY: the mapping was the last reference (every other one is
        // counted by the lab that made it, which just said there is none).
        unsafe { kalloc::free(pa) };
    }
}

// ---- page tables ----

/// The page table rooted at a private page. It owns its table pages (not
/// the leaves); callers free it with `free_tables` (or by dropping the
/// type that wraps it).
pub(crate) struct PageTable {
    root: PhysAddr,
}

impl PageTable {
    fn new() -> Option<PageTable> {
        kalloc::alloc().map(|root| PageTable { root })
    }

    /// Entry `i` of the table page at `table`.
    fn slot(table: PhysAddr, i: usize) -> *mut Pte {
        debug_assert!(i < 512);
        // SAFETY (of later dereferences): a table page is 512 PTEs,
        // identity-mapped; whoever holds the table serialises its changes.
        table.as_mut_ptr::<Pte>().wrapping_add(i)
    }

    fn read(slot: *mut Pte) -> Pte {
        // SAFETY: `slot` points into a table page of a live page table.
        unsafe { ptr::read(slot) }
    }

    fn write(slot: *mut Pte, pte: Pte) {
        // SAFETY: as for `read`; the owner of the table serialises writes.
        unsafe { ptr::write(slot, pte) };
        // Harts flush before user code runs on a table written since
        // their last flush (trap::usertrapret).
        PT_EPOCH.fetch_add(1, Ordering::Release);
    }

    /// The level-0 entry for `va`, creating intermediate tables if `alloc`.
    /// `None` if `va` is out of range, a table is missing and `alloc` is
    /// false, or memory ran out.
    fn walk(&self, va: usize, alloc: bool) -> Option<*mut Pte> {
        if va >= MAXVA {
            return None;
        }
        let mut table = self.root;
        for level in [2, 1] {
            let slot = Self::slot(table, px(level, va));
            let pte = Self::read(slot);
            if pte.is_valid() {
                assert!(!pte.is_leaf(), "walk: superpage at {:#x}", va);
                table = pte.pa();
            } else {
                if !alloc {
                    return None;
                }
                let page = kalloc::alloc()?;
                Self::write(slot, Pte::new(page, PTE_V));
                table = page;
            }
        }
        Some(Self::slot(table, px(0, va)))
    }

    /// The valid leaf entry for `va`.
    fn lookup(&self, va: usize) -> Option<Pte> {
        let pte = Self::read(self.walk(va, false)?);
        pte.is_valid().then_some(pte)
    }

    /// Maps `size` bytes at `va` to `pa` with permissions `perm`. Both must
    /// be page-aligned; mapping over a valid PTE is a bug.
    ///
    /// # Safety
    /// `pa..pa+size` must be memory this table may expose with `perm` for
    /// as long as the mapping exists.
    #[doc(alias = "mappages")]
    unsafe fn map(&self, va: usize, size: usize, pa: usize, perm: u64) -> Result<(), OutOfMemory> {
        assert!(
            va.is_multiple_of(PGSIZE) && size.is_multiple_of(PGSIZE) && size > 0,
            "map: unaligned"
        );
        let mut off = 0;
        while off < size {
            let slot = self.walk(va + off, true).ok_or(OutOfMemory)?;
            assert!(
                !Self::read(slot).is_valid(),
                "map: remap at {:#x}",
                va + off
            );
            Self::write(slot, Pte::new(PhysAddr(pa + off), perm | PTE_V));
            off += PGSIZE;
        }
        Ok(())
    }

    /// The first valid leaf at or above `from` and below `end`, skipping
    /// missing tables whole (a 1 GiB lazy heap costs nothing here).
    fn next_leaf(&self, from: usize, end: usize) -> Option<(usize, Pte)> {
        fn search(
            table: PhysAddr,
            level: usize,
            base: usize,
            from: usize,
            end: usize,
        ) -> Option<(usize, Pte)> {
            let span = level_span(level);
            for i in from.saturating_sub(base) / span..512 {
                let va = base + i * span;
                if va >= end {
                    return None;
                }
                let pte = PageTable::read(PageTable::slot(table, i));
                if !pte.is_valid() {
                    continue;
                }
                if level == 0 {
                    return Some((va, pte));
                }
                if let Some(found) = search(pte.pa(), level - 1, va, from.max(va), end) {
                    return Some(found);
                }
            }
            None
        }
        search(self.root, 2, 0, from, end.min(MAXVA))
    }

    /// Every valid leaf in `range`, in order. Each is found afresh from the
    /// root, so the caller may change the leaves it has been given.
    fn leaves(&self, range: Range<usize>) -> impl Iterator<Item = (usize, Pte)> + '_ {
        let mut from = range.start;
        core::iter::from_fn(move || {
            let (va, pte) = self.next_leaf(from, range.end)?;
            from = va + PGSIZE;
            Some((va, pte))
        })
    }

    /// Frees every table page below the root that maps nothing (any more):
    /// what is left of a user table once its user pages are gone is the
    /// path to the trampoline and trapframe.
    fn free_empty_tables(&self) {
        /// Whether `table` maps nothing now (its empty subtables freed).
        fn prune(table: PhysAddr, level: usize) -> bool {
            let mut empty = true;
            for i in 0..512 {
                let slot = PageTable::slot(table, i);
                let pte = PageTable::read(slot);
                if !pte.is_valid() {
                    continue;
                }
                if level > 0 && !pte.is_leaf() && prune(pte.pa(), level - 1) {
                    PageTable::write(slot, Pte(0));
                    // SAFETY: the subtable maps nothing and nothing points
                    // to it any more.
                    unsafe { kalloc::free(pte.pa()) };
                } else {
                    empty = false;
                }
            }
            empty
        }
        prune(self.root, 2);
    }

    /// Frees the table pages (not the leaves), except the subtables that
    /// `shared(level, index)` says belong to another table.
    ///
    /// # Safety
    /// No hart may be using the table, and nothing may use it afterwards.
    unsafe fn free_tables(&self, shared: &dyn Fn(usize, usize) -> bool) {
        fn free(table: PhysAddr, level: usize, shared: &dyn Fn(usize, usize) -> bool) {
            if level > 0 {
                for i in 0..512 {
                    let pte = PageTable::read(PageTable::slot(table, i));
                    if pte.is_valid() && !pte.is_leaf() && !shared(level, i) {
                        free(pte.pa(), level - 1, shared);
                    }
                }
            }
            // SAFETY: the page was this table's and nothing points to it now.
            unsafe { kalloc::free(table) };
        }
        free(self.root, 2, shared);
    }
}

/// A read-only look at one page of a page table, for printing it
/// (`vmprint`). Borrowed from the table's owner, so the table cannot change
/// while it is looked at.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    table: PhysAddr,
    _owner: PhantomData<&'a ()>,
}

impl<'a> TableView<'a> {
    /// The physical address of this table page.
    pub fn pa(&self) -> PhysAddr {
        self.table
    }

    /// Entry `i` (0..512).
    pub fn entry(&self, i: usize) -> Pte {
        assert!(i < 512, "TableView::entry: index {}", i);
        PageTable::read(PageTable::slot(self.table, i))
    }

    /// The next-level table entry `i` points to, if it is valid and not a
    /// leaf.
    pub fn next(&self, i: usize) -> Option<TableView<'a>> {
        let pte = self.entry(i);
        (pte.is_valid() && !pte.is_leaf()).then_some(TableView {
            table: pte.pa(),
            _owner: PhantomData,
        })
    }
}

// ---- user address spaces ----

/// A process's user memory: its page table and size (xv6's `p->pagetable`
/// and `p->sz`). Owned by the process; dropping it frees everything it
/// maps. Labs see it through [`UserMemory`].
pub struct AddressSpace {
    pt: PageTable,
    sz: usize,
    /// With the pgtbl lab: the process's kernel page table, which mirrors
    /// the user pages below PLIC. Kept here so that every change of a user
    /// mapping reaches the mirror.
    #[cfg(feature = "pgtbl")]
    kernel: Option<KernelPageTable>,
}

impl AddressSpace {
    /// An address space with nothing but the trampoline and the process's
    /// `trapframe` page mapped.
    #[doc(alias = "proc_pagetable")]
    pub(crate) fn new(trapframe: PhysAddr) -> Option<AddressSpace> {
        let space = AddressSpace {
            pt: PageTable::new()?,
            sz: 0,
            #[cfg(feature = "pgtbl")]
            kernel: None,
        };
        // SAFETY: the trampoline is kernel code that every page table maps
        // (R|X, no U), and the trapframe page belongs to this process.
        let ok = unsafe {
            space
                .pt
                .map(TRAMPOLINE, PGSIZE, trampoline_pa().0, PTE_R | PTE_X)
                .is_ok()
                && space
                    .pt
                    .map(TRAPFRAME, PGSIZE, trapframe.0, PTE_R | PTE_W)
                    .is_ok()
        };
        ok.then_some(space)
    }

    /// Gives back every user page and the user page-table pages that held
    /// them, leaving the trampoline, the trapframe and (pgtbl) the kernel
    /// page table: an exiting process's memory comes back at once, not
    /// when its parent waits (which may need a page to copy the status
    /// out: with copy-on-write, into a page shared with this process).
    #[doc(alias = "uvmunmap")]
    pub(crate) fn release_user_pages(&mut self) {
        let mut mem = self.user();
        mem.unmap_range(0..USER_TOP);
        mem.space.sz = 0;
        // No hart translates through a user table while its process is
        // in the kernel (it runs on a kernel page table), so its table
        // pages may go now.
        self.pt.free_empty_tables();
    }

    /// The `satp` value that selects this address space.
    pub(crate) fn satp(&self) -> usize {
        make_satp(self.pt.root.0)
    }

    /// The handle through which user pages are mapped and copied.
    pub(crate) fn user(&mut self) -> UserMemory<'_> {
        UserMemory { space: self }
    }

    /// The bytes of the user page at `va`, for loading a program into an
    /// address space no process runs in yet.
    pub(crate) fn page_bytes_mut(&mut self, va: usize) -> Option<&mut [u8; PGSIZE]> {
        let pte = self.pt.lookup(user_page(va).ok()?)?;
        // SAFETY: user pages of an address space under construction are
        // mapped only here (nothing shares them yet), and `&mut self` keeps
        // every other use of the space away.
        Some(unsafe { &mut *pte.pa().as_mut_ptr::<[u8; PGSIZE]>() })
    }

    /// Takes the kernel page table (to move it to the new address space
    /// `exec` builds).
    #[cfg(feature = "pgtbl")]
    pub(crate) fn take_kernel_table(&mut self) -> Option<KernelPageTable> {
        self.kernel.take()
    }

    /// Gives the address space a kernel page table, which it keeps in sync
    /// with every user page below PLIC from now on. The mirror is brought
    /// up to date here over this memory and the first `stale` bytes (what
    /// an older address space had mirrored).
    #[cfg(feature = "pgtbl")]
    pub(crate) fn set_kernel_table(
        &mut self,
        kt: KernelPageTable,
        stale: usize,
    ) -> Result<(), OutOfMemory> {
        self.kernel = Some(kt);
        let top = pg_round_up(self.sz.max(stale).min(PLIC));
        self.user().changed(0..top)
    }

    /// The `satp` of the kernel page table, if there is one.
    #[cfg(feature = "pgtbl")]
    pub(crate) fn kernel_satp(&self) -> Option<usize> {
        self.kernel.as_ref().map(|k| make_satp(k.pt.root.0))
    }
}

impl Drop for AddressSpace {
    #[doc(alias = "uvmfree")]
    #[doc(alias = "proc_freepagetable")]
    fn drop(&mut self) {
        // The mirror goes first: it must never outlive the frames it shows.
        #[cfg(feature = "pgtbl")]
        drop(self.kernel.take());
        for (_, pte) in self.pt.leaves(0..USER_TOP) {
            release_user_frame(pte.pa());
        }
        // SAFETY: the address space is being dropped, so no hart runs on
        // it (a process's own is dropped only once it cannot run).
        unsafe { self.pt.free_tables(&|_, _| false) };
    }
}

/// What a user access was trying to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl Access {
    /// The PTE bits a page needs for this access by the user.
    fn needed(self) -> u64 {
        PTE_V
            | PTE_U
            | match self {
                Access::Read => PTE_R,
                Access::Write => PTE_W,
                Access::Execute => PTE_X,
            }
    }
}

/// A handle on a process's user memory: map, remap and copy its pages.
/// Labs get one in the hooks that work on memory; it reaches only user
/// pages (below [`USER_TOP`]), never the kernel's mappings.
pub struct UserMemory<'a> {
    space: &'a mut AddressSpace,
}

impl UserMemory<'_> {
    /// Bytes of user memory (xv6's `p->sz`).
    pub fn size(&self) -> usize {
        self.space.sz
    }

    /// Grows the size without mapping anything (pages come later, in a
    /// fault hook: the lazy lab).
    pub fn set_size(&mut self, new: usize) -> Result<(), OutOfMemory> {
        if new < self.space.sz || new > USER_TOP {
            return Err(OutOfMemory);
        }
        self.space.sz = new;
        Ok(())
    }

    /// The valid leaf entry for the user page holding `va` (including the
    /// stack guard page, which lacks U).
    pub fn pte(&self, va: usize) -> Option<Pte> {
        self.space.pt.lookup(user_page(va).ok()?)
    }

    /// The first user page mapped at or above `from` and below the size,
    /// with its entry (pages lazy allocation never made are skipped fast).
    pub fn next_mapped(&self, from: usize) -> Option<(usize, Pte)> {
        self.space.pt.next_leaf(from, self.space.sz.min(USER_TOP))
    }

    /// A read-only look at the page table's root, for printing it.
    pub fn page_table(&self) -> TableView<'_> {
        TableView {
            table: self.space.pt.root,
            _owner: PhantomData,
        }
    }

    /// Tells the kernel page table's mirror (pgtbl) that the user pages in
    /// `range` changed. Frames unmapped from the user table must be
    /// released only after this succeeds.
    fn changed(&mut self, _range: Range<usize>) -> Result<(), OutOfMemory> {
        #[cfg(feature = "pgtbl")]
        if let Some(kernel) = self.space.kernel.as_mut() {
            // Only what the mirror covers.
            let range = _range.start.._range.end.min(Mirror::LIMIT);
            if range.is_empty() {
                return Ok(());
            }
            let mut mirror = Mirror {
                kernel,
                user: &self.space.pt,
            };
            let result = hooks::user_mappings_changed(&mut mirror, range.clone());
            // The lab's update is how the mirror stays useful, not what
            // keeps it safe: whatever the lab did (or failed to do), no
            // mirror entry in the range may outlive the mapping it copies,
            // since the caller may free the old frame next.
            mirror.drop_stale(range.clone());
            if self.mirror_loaded() {
                flush(range);
            }
            return result;
        }
        Ok(())
    }

    /// Maps `frame` at the page holding `va` with `flags` (R, W, X and the
    /// software bits; V and U are added).
    pub fn map_frame(&mut self, va: usize, frame: Frame, flags: u64) -> Result<(), MapError> {
        let va = user_page(va)?;
        let flags = user_leaf_flags(flags)?;
        let slot = self.space.pt.walk(va, true).ok_or(MapError::OutOfMemory)?;
        if PageTable::read(slot).is_valid() {
            return Err(MapError::AlreadyMapped);
        }
        let pa = frame.into_pa();
        PageTable::write(slot, Pte::new(pa, flags));
        if self.changed(va..va + PGSIZE).is_err() {
            PageTable::write(slot, Pte(0));
            // The frame was ours and is mapped nowhere again.
            drop(Frame(pa));
            return Err(MapError::OutOfMemory);
        }
        Ok(())
    }

    /// Maps `frame` in place of the user page mapped at `va`, with `flags`;
    /// the old frame loses this reference.
    pub fn replace_frame(&mut self, va: usize, frame: Frame, flags: u64) -> Result<(), MapError> {
        let va = user_page(va)?;
        let flags = user_leaf_flags(flags)?;
        let slot = self.user_slot(va)?;
        let old = PageTable::read(slot);
        PageTable::write(slot, Pte::new(frame.into_pa(), flags));
        // Without the mirror's word the old frame may still be shown there:
        // keep it (a leak) rather than free it.
        if self.changed(va..va + PGSIZE).is_ok() {
            release_user_frame(old.pa());
        }
        Ok(())
    }

    /// Changes the flags of the user page mapped at `va`.
    pub fn set_flags(&mut self, va: usize, flags: u64) -> Result<(), MapError> {
        let va = user_page(va)?;
        let flags = user_leaf_flags(flags)?;
        let slot = self.user_slot(va)?;
        let pa = PageTable::read(slot).pa();
        PageTable::write(slot, Pte::new(pa, flags));
        // Only flags changed: the mirror still shows the right frame even
        // if it did not take the change.
        let _ = self.changed(va..va + PGSIZE);
        Ok(())
    }

    /// Unmaps the user page at `va` (if mapped), releasing its frame.
    #[doc(alias = "uvmunmap")]
    pub fn unmap_page(&mut self, va: usize) -> Result<(), MapError> {
        let va = user_page(va)?;
        self.unmap_range(va..va + PGSIZE);
        Ok(())
    }

    /// Copies the contents of the user page mapped at `va` into `buf`.
    pub fn read_page(&self, va: usize, buf: &mut [u8; PGSIZE]) -> Result<(), MapError> {
        let pte = self.pte(va).ok_or(MapError::NotMapped)?;
        // SAFETY: a mapped user page is a whole page of RAM; `buf` is a
        // kernel buffer, never that page.
        unsafe { ptr::copy_nonoverlapping(pte.pa().as_mut_ptr::<u8>(), buf.as_mut_ptr(), PGSIZE) };
        Ok(())
    }

    /// Copies the user page mapped at `va` into `to`.
    pub fn copy_page(&self, va: usize, to: &mut Frame) -> Result<(), MapError> {
        let pte = self.pte(va).ok_or(MapError::NotMapped)?;
        if pte.flags() & PTE_U == 0 {
            return Err(MapError::NotMapped);
        }
        // SAFETY: a mapped user page is a whole page of RAM; `to` is ours.
        unsafe {
            ptr::copy_nonoverlapping(
                pte.pa().as_mut_ptr::<u8>(),
                to.bytes_mut().as_mut_ptr(),
                PGSIZE,
            )
        };
        Ok(())
    }

    /// Maps the frame of the page at `va` into `child` too, at the same
    /// address, and gives both mappings `flags` (the U bit stays as it was:
    /// the stack guard page can be shared as it is).
    ///
    /// # Safety
    /// The frame now has one more reference: before either mapping can be
    /// released (before the fork hook returns) the caller must count it, so
    /// that `user_frame_released` keeps the frame until its last mapping
    /// goes. And while it is shared, `flags` must not include W: a store
    /// by one process must not reach the other's memory.
    pub unsafe fn share_with(
        &mut self,
        child: &mut UserMemory<'_>,
        va: usize,
        flags: u64,
    ) -> Result<(), MapError> {
        let va = user_page(va)?;
        let slot = self.space.pt.walk(va, false).ok_or(MapError::NotMapped)?;
        let old = PageTable::read(slot);
        if !old.is_valid() {
            return Err(MapError::NotMapped);
        }
        let flags = user_leaf_flags(flags)? & !PTE_U | old.flags() & PTE_U;
        let cslot = child.space.pt.walk(va, true).ok_or(MapError::OutOfMemory)?;
        if PageTable::read(cslot).is_valid() {
            return Err(MapError::AlreadyMapped);
        }
        PageTable::write(cslot, Pte::new(old.pa(), flags));
        if child.changed(va..va + PGSIZE).is_err() {
            PageTable::write(cslot, Pte(0));
            return Err(MapError::OutOfMemory);
        }
        PageTable::write(slot, Pte::new(old.pa(), flags));
        // Only flags changed here: see `set_flags`.
        let _ = self.changed(va..va + PGSIZE);
        Ok(())
    }

    /// The slot of the user page (with U) mapped at page `va`.
    fn user_slot(&self, va: usize) -> Result<*mut Pte, MapError> {
        let slot = self.space.pt.walk(va, false).ok_or(MapError::NotMapped)?;
        let pte = PageTable::read(slot);
        if pte.is_valid() && pte.flags() & PTE_U != 0 {
            Ok(slot)
        } else {
            Err(MapError::NotMapped)
        }
    }

    /// Makes the page holding `va` allow `access` by the user, asking the
    /// labs' fault handlers (lazy allocation, copy-on-write) if it does not.
    /// Returns the page's frame.
    #[doc(alias = "walkaddr")]
    pub fn resolve(&mut self, va: usize, access: Access) -> Result<PhysAddr, BadAddress> {
        let page = user_page(va).map_err(|_| BadAddress)?;
        if let Some(pa) = self.accessible(page, access) {
            return Ok(pa);
        }
        if hooks::user_fault(self, page, access) == hooks::Fault::Resolved {
            return self.accessible(page, access).ok_or(BadAddress);
        }
        Err(BadAddress)
    }

    /// Makes each page of the `len` bytes at `start` allow `access` as a
    /// copy would, asking the labs' fault handlers, and returns how many
    /// pages needed one; stops at the first page that stays inaccessible.
    /// For a copy under a file's locks that failed: a handler that reads a
    /// file refuses there (see `sleeplock::may_acquire`) and works here,
    /// with no lock held.
    pub(crate) fn fault_in(&mut self, start: UserAddr, len: usize, access: Access) -> usize {
        let Some(end) = start.0.checked_add(len) else {
            return 0;
        };
        let mut faulted = 0;
        let mut va = pg_round_down(start.0);
        while va < end {
            let Ok(page) = user_page(va) else {
                break;
            };
            if self.accessible(page, access).is_none() {
                let resolved = hooks::user_fault(self, page, access) == hooks::Fault::Resolved;
                if !resolved || self.accessible(page, access).is_none() {
                    break;
                }
                faulted += 1;
            }
            va += PGSIZE;
        }
        faulted
    }

    /// Sets the accessed and dirty bits of the user page at `va`, as the
    /// hardware does for the user's own store: a kernel copy writes through
    /// the frame's physical address, which leaves them alone (and the mmap
    /// lab writes back the dirty pages of a shared mapping).
    fn mark_dirty(&mut self, va: usize) {
        if let Ok(slot) = self.user_slot(pg_round_down(va)) {
            let pte = PageTable::read(slot);
            if pte.flags() & PTE_D == 0 {
                PageTable::write(slot, Pte::new(pte.pa(), pte.flags() | PTE_A | PTE_D));
            }
        }
    }

    fn accessible(&self, page: usize, access: Access) -> Option<PhysAddr> {
        let pte = self.space.pt.lookup(page)?;
        let needed = access.needed();
        (pte.flags() & needed == needed).then_some(pte.pa())
    }

    /// The entry for `va` in the mirror of the process's kernel page table
    /// (pgtbl): present when the kernel can read the page at `va` directly.
    #[cfg(feature = "pgtbl")]
    pub fn kernel_pte(&self, va: usize) -> Option<Pte> {
        if va >= Mirror::LIMIT {
            return None;
        }
        self.space.kernel.as_ref()?.pt.lookup(pg_round_down(va))
    }

    /// Whether this memory's kernel page table is the one this hart runs
    /// on (so its mirror is what a direct read sees).
    #[cfg(feature = "pgtbl")]
    fn mirror_loaded(&self) -> bool {
        self.space.kernel_satp() == Some(crate::riscv::r_satp())
    }

    /// Copies from user address `src` into `dst` by reading the address
    /// itself, through the mirror of user memory in the process's kernel
    /// page table (pgtbl; no walk of the user page table). Fails if a page
    /// is not mirrored, if the range reaches PLIC, or if this memory's
    /// kernel page table is not the one in use.
    #[cfg(feature = "pgtbl")]
    pub fn copy_in_direct(&self, dst: &mut [u8], src: UserAddr) -> Result<(), BadAddress> {
        if !self.mirror_loaded() {
            return Err(BadAddress);
        }
        let n = copy_direct(dst, src.0, Mirror::LIMIT, false)?;
        if n == dst.len() {
            Ok(())
        } else {
            Err(BadAddress)
        }
    }

    /// As [`Self::copy_in_direct`], for a NUL-terminated string of at most
    /// `dst.len()` bytes (NUL included). Returns its length without the NUL.
    #[cfg(feature = "pgtbl")]
    pub fn copy_in_str_direct(&self, dst: &mut [u8], src: UserAddr) -> Result<usize, BadAddress> {
        if !self.mirror_loaded() {
            return Err(BadAddress);
        }
        // Up to PLIC: a short string may sit just below it.
        let room = Mirror::LIMIT.saturating_sub(src.0).min(dst.len());
        let n = copy_direct(&mut dst[..room], src.0, Mirror::LIMIT, true)?;
        match n.checked_sub(1) {
            Some(len) if dst[len] == 0 => Ok(len),
            _ => Err(BadAddress),
        }
    }

    /// Walks the user range of `len` bytes at `start` a page at a time,
    /// calling `f` with each piece of that memory and its offset in the
    /// range; `f` returns false to stop early. Fails on a page the user may
    /// not access that way.
    fn for_each_piece(
        &mut self,
        start: UserAddr,
        len: usize,
        access: Access,
        mut f: impl FnMut(*mut u8, usize, usize) -> bool,
    ) -> Result<(), BadAddress> {
        let mut done = 0;
        while done < len {
            let va = start.0.checked_add(done).ok_or(BadAddress)?;
            let pa = self.resolve(va, access)?;
            if access == Access::Write {
                self.mark_dirty(va);
            }
            let off = va % PGSIZE;
            let n = (PGSIZE - off).min(len - done);
            if !f(pa.as_mut_ptr::<u8>().wrapping_add(off), n, done) {
                break;
            }
            done += n;
        }
        Ok(())
    }

    /// Copies `src` to user address `dst`. Fails on any page the user may
    /// not write.
    #[doc(alias = "copyout")]
    pub fn copy_out(&mut self, dst: UserAddr, src: &[u8]) -> Result<(), BadAddress> {
        self.for_each_piece(dst, src.len(), Access::Write, |mem, n, done| {
            // SAFETY: `mem..mem+n` lies in a user page this process may
            // write, which the kernel reaches at its physical address.
            unsafe { ptr::copy(src[done..done + n].as_ptr(), mem, n) };
            true
        })
    }

    /// Copies from user address `src` into `dst`.
    #[doc(alias = "copyin")]
    pub fn copy_in(&mut self, dst: &mut [u8], src: UserAddr) -> Result<(), BadAddress> {
        self.for_each_piece(src, dst.len(), Access::Read, |mem, n, done| {
            // SAFETY: `mem..mem+n` lies in a user page this process may read.
            unsafe { ptr::copy(mem, dst[done..done + n].as_mut_ptr(), n) };
            true
        })
    }

    /// Copies a NUL-terminated string from user address `src` into `dst`,
    /// NUL included. Returns its length without the NUL; fails if there is
    /// no NUL within `dst.len()` bytes.
    #[doc(alias = "copyinstr")]
    pub fn copy_in_str(&mut self, dst: &mut [u8], src: UserAddr) -> Result<usize, BadAddress> {
        let mut len = None;
        self.for_each_piece(src, dst.len(), Access::Read, |mem, n, done| {
            // SAFETY: as in `copy_in`.
            let piece = unsafe { core::slice::from_raw_parts(mem as *const u8, n) };
            let end = piece.iter().position(|&c| c == 0);
            let m = end.map_or(n, |i| i + 1);
            dst[done..done + m].copy_from_slice(&piece[..m]);
            len = end.map(|i| done + i);
            end.is_none()
        })?;
        len.ok_or(BadAddress)
    }

    /// Grows memory to `newsz` with zeroed pages readable by the user plus
    /// `xperm`. On failure nothing changes.
    #[doc(alias = "uvmalloc")]
    pub fn grow(&mut self, newsz: usize, xperm: u64) -> Result<(), OutOfMemory> {
        let oldsz = self.space.sz;
        if newsz <= oldsz {
            return Ok(());
        }
        if newsz > USER_TOP {
            return Err(OutOfMemory);
        }
        let mut a = pg_round_up(oldsz);
        while a < newsz {
            // Page-table pages first, so that when memory runs out no data
            // page has been taken and given back: a failed grow leaves no
            // free page behind (sysinfotest checks freemem is then 0).
            let mapped = match (self.space.pt.walk(a, true), Frame::alloc()) {
                (Some(_), Some(frame)) => self.map_frame(a, frame, PTE_R | xperm).is_ok(),
                _ => false,
            };
            if !mapped {
                self.space.sz = a;
                self.shrink(oldsz);
                return Err(OutOfMemory);
            }
            a += PGSIZE;
        }
        self.space.sz = newsz;
        Ok(())
    }

    /// Shrinks memory to `newsz`, releasing the pages above it.
    #[doc(alias = "uvmdealloc")]
    pub fn shrink(&mut self, newsz: usize) {
        if newsz >= self.space.sz {
            return;
        }
        let range = pg_round_up(newsz)..pg_round_up(self.space.sz);
        self.space.sz = newsz;
        self.unmap_range(range);
    }

    /// Unmaps the user pages in `range` (page-aligned), releasing their
    /// frames.
    fn unmap_range(&mut self, range: Range<usize>) {
        let pt = PageTable {
            root: self.space.pt.root,
        };
        // A second handle on the table, so that `self` can be told of each
        // change while the walk goes on (each leaf is found afresh).
        for (va, pte) in pt.leaves(range) {
            if let Some(slot) = self.space.pt.walk(va, false) {
                PageTable::write(slot, Pte(0));
            }
            // Without the mirror's word the frame may still be shown there:
            // keep it (a leak) rather than free it.
            if self.changed(va..va + PGSIZE).is_ok() {
                release_user_frame(pte.pa());
            }
        }
    }

    /// Copies every page of this memory into `child` (contents and flags)
    /// and gives `child` the same size. On failure `child` may hold part
    /// of it; the caller drops it.
    #[doc(alias = "uvmcopy")]
    pub fn copy_to(&mut self, child: &mut UserMemory<'_>) -> Result<(), OutOfMemory> {
        child.space.sz = self.space.sz;
        for (va, pte) in self.space.pt.leaves(0..self.space.sz) {
            let mut frame = Frame::alloc().ok_or(OutOfMemory)?;
            // SAFETY: a mapped user page is a whole page of RAM.
            unsafe {
                ptr::copy_nonoverlapping(
                    pte.pa().as_mut_ptr::<u8>(),
                    frame.bytes_mut().as_mut_ptr(),
                    PGSIZE,
                )
            };
            child.map_any(va, frame, pte.flags())?;
        }
        Ok(())
    }

    /// Maps `frame` at page `va` with exactly `flags` (the guard page has
    /// no U): for copying an address space in the kernel.
    fn map_any(&mut self, va: usize, frame: Frame, flags: u64) -> Result<(), OutOfMemory> {
        let slot = self.space.pt.walk(va, true).ok_or(OutOfMemory)?;
        assert!(!PageTable::read(slot).is_valid(), "map_any: remap");
        PageTable::write(slot, Pte::new(frame.into_pa(), flags | PTE_V));
        self.changed(va..va + PGSIZE)
    }

    /// Makes the page at `va` inaccessible to the user (the stack guard).
    #[doc(alias = "uvmclear")]
    pub(crate) fn clear_user(&mut self, va: usize) {
        if let Some(slot) = self.space.pt.walk(va, false) {
            let pte = PageTable::read(slot);
            PageTable::write(slot, Pte(pte.0 & !PTE_U));
            let _ = self.changed(va..va + PGSIZE);
        }
    }

    /// Loads the first process's code at address 0.
    #[doc(alias = "uvmfirst")]
    pub(crate) fn load_first(&mut self, code: &[u8]) -> Result<(), MapError> {
        assert!(code.len() < PGSIZE, "load_first: more than a page");
        let mut frame = Frame::alloc().ok_or(MapError::OutOfMemory)?;
        frame.bytes_mut()[..code.len()].copy_from_slice(code);
        self.map_frame(0, frame, PTE_R | PTE_W | PTE_X)?;
        self.space.sz = PGSIZE;
        Ok(())
    }
}

// ---- the kernel page table ----

static KERNEL_SATP: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    /// End of kernel text (linker script).
    static etext: u8;
    /// The trampoline page (trampoline.rs).
    static trampoline: u8;
}

/// Physical address of the trampoline code page.
pub fn trampoline_pa() -> PhysAddr {
    PhysAddr(ptr::addr_of!(trampoline) as usize)
}

/// The kernel page table's root (valid after [`kvm_init`]).
fn kernel_root() -> PhysAddr {
    let satp = KERNEL_SATP.load(Ordering::Acquire);
    PhysAddr((satp & ((1 << 44) - 1)) << 12)
}

/// The `satp` value of the kernel page table.
pub fn kernel_satp() -> usize {
    KERNEL_SATP.load(Ordering::Acquire)
}

/// Maps what every kernel page table has: devices, kernel text and data,
/// all RAM identity-mapped, and the trampoline at the top. The finisher
/// and the CLINT go above RAM (FINISHER_KVA, CLINT_KVA): below PLIC the
/// pgtbl lab puts user memory.
fn map_kernel(pt: &PageTable) -> Result<(), OutOfMemory> {
    let text_end = ptr::addr_of!(etext) as usize;
    let rw = PTE_R | PTE_W;
    // SAFETY: device registers, the kernel image and free RAM, each with
    // the permissions the kernel uses them with, for the kernel alone (no
    // U); the trampoline is kernel code.
    unsafe {
        pt.map(FINISHER_KVA, PGSIZE, FINISHER, rw)?;
        pt.map(CLINT_KVA, PGSIZE, CLINT, rw)?;
        pt.map(UART0, PGSIZE, UART0, rw)?;
        pt.map(VIRTIO0, PGSIZE, VIRTIO0, rw)?;
        pt.map(PLIC, 0x40_0000, PLIC, rw)?;
        #[cfg(feature = "net")]
        {
            use crate::net::{E1000_REGS, E1000_REGS_SIZE, ECAM, ECAM_SIZE};
            pt.map(ECAM, ECAM_SIZE, ECAM, rw)?;
            pt.map(E1000_REGS, E1000_REGS_SIZE, E1000_REGS, rw)?;
        }
        pt.map(KERNBASE, text_end - KERNBASE, KERNBASE, PTE_R | PTE_X)?;
        pt.map(text_end, PHYSTOP - text_end, text_end, rw)?;
        pt.map(TRAMPOLINE, PGSIZE, trampoline_pa().0, PTE_R | PTE_X)?;
    }
    Ok(())
}

/// Builds the kernel's page table.
#[doc(alias = "kvminit")]
pub(crate) fn kvm_init() {
    let kpt = PageTable::new().expect("kvminit: out of memory");
    map_kernel(&kpt).expect("kvminit: out of memory");
    KERNEL_SATP.store(make_satp(kpt.root.0), Ordering::Release);
}

/// Makes the kernel page table's tables for `npages` at `va` (the kernel
/// stacks' range), so that mapping stacks later allocates nothing and two
/// harts never add a table at the same place. Boot only.
pub(crate) fn kernel_reserve(va: usize, npages: usize) -> Result<(), OutOfMemory> {
    let kpt = PageTable {
        root: kernel_root(),
    };
    for i in 0..npages {
        kpt.walk(va + i * PGSIZE, true).ok_or(OutOfMemory)?;
    }
    Ok(())
}

/// Maps `pages` of RAM at `va` in the kernel page table, for kernel stacks.
///
/// # Safety
/// The pages must be RAM the kernel owns, `va` a range nothing else maps
/// whose tables [`kernel_reserve`] made.
pub(crate) unsafe fn kernel_map_stack(va: usize, pages: &[PhysAddr]) {
    let kpt = PageTable {
        root: kernel_root(),
    };
    for (i, pa) in pages.iter().enumerate() {
        let slot = kpt
            .walk(va + i * PGSIZE, false)
            .expect("kernel stack tables not made");
        assert!(
            !PageTable::read(slot).is_valid(),
            "kernel stack mapped twice"
        );
        PageTable::write(slot, Pte::new(*pa, PTE_R | PTE_W | PTE_V));
    }
}

/// Removes a kernel stack's mapping from the kernel page table.
#[cfg(feature = "pgtbl")]
pub(crate) fn kernel_unmap_stack(va: usize, npages: usize) {
    let kpt = PageTable {
        root: kernel_root(),
    };
    for i in 0..npages {
        if let Some(slot) = kpt.walk(va + i * PGSIZE, false) {
            PageTable::write(slot, Pte(0));
        }
    }
}

/// Switches this hart to the kernel page table and turns paging on.
#[doc(alias = "kvminithart")]
pub(crate) fn kvm_init_hart() {
    sfence_vma();
    // SAFETY: the kernel page table maps everything the kernel touches at
    // the same address as before paging.
    unsafe { w_satp(kernel_satp()) };
    sfence_vma();
}

// The pgtbl lab's part (per-process kernel page tables, their mirror of
// user memory, direct copies through them) is in vm/pgtbl.rs.
#[cfg(feature = "pgtbl")]
mod pgtbl;
#[cfg(feature = "pgtbl")]
pub use pgtbl::*;

/// Without pgtbl nothing copies directly: every kernel fault is a bug.
#[cfg(not(feature = "pgtbl"))]
pub(crate) fn direct_copy_fixup(_scause: usize, _sepc: usize) -> Option<usize> {
    None
}
