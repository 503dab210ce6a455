//! Sv39 page tables: the kernel's, each process's, and copying between
//! user and kernel memory.
//!
//! Three address types keep them apart: [`PhysAddr`] (RAM and devices; the
//! kernel maps RAM at the same addresses, so it can use them directly),
//! [`VirtAddr`] (an address translated by some page table) and [`UserAddr`]
//! (an address a user program handed to a system call: untrusted until a
//! user page table has translated it).

use crate::kalloc;
use crate::riscv::{make_satp, sfence_vma, w_satp};
use abi::memlayout::{
    CLINT, FINISHER, KERNBASE, MAXVA, PGSIZE, PHYSTOP, PLIC, TRAMPOLINE, UART0, VIRTIO0,
};
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

/// PTE permission and status bits.
pub const PTE_V: u64 = 1 << 0;
pub const PTE_R: u64 = 1 << 1;
pub const PTE_W: u64 = 1 << 2;
pub const PTE_X: u64 = 1 << 3;
pub const PTE_U: u64 = 1 << 4;
/// The low ten bits hold flags (including the two free for software).
const PTE_FLAG_MASK: u64 = 0x3ff;

/// One page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Pte(pub u64);

impl Pte {
    pub fn new(pa: PhysAddr, flags: u64) -> Pte {
        Pte((((pa.0 >> 12) as u64) << 10) | flags)
    }
    pub fn is_valid(self) -> bool {
        self.0 & PTE_V != 0
    }
    /// A valid PTE with any of R/W/X is a leaf; otherwise it points to the
    /// next level.
    pub fn is_leaf(self) -> bool {
        self.0 & (PTE_R | PTE_W | PTE_X) != 0
    }
    pub fn pa(self) -> PhysAddr {
        PhysAddr(((self.0 >> 10) << 12) as usize)
    }
    pub fn flags(self) -> u64 {
        self.0 & PTE_FLAG_MASK
    }
}

/// Index into the level-`level` table for `va`.
fn px(level: usize, va: VirtAddr) -> usize {
    (va.0 >> (12 + 9 * level)) & 0x1ff
}

/// A page table, by the physical address of its root page. A plain handle:
/// whoever created it frees it (`free_user` for user tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable(pub PhysAddr);

/// Error from mapping memory: out of physical pages.
#[derive(Debug)]
pub struct OutOfMemory;

impl PageTable {
    /// A new, empty page table.
    pub fn new() -> Option<PageTable> {
        kalloc::alloc().map(PageTable)
    }

    /// The 512 entries of the table page at `pa`.
    ///
    /// # Safety
    /// `pa` must be a page-table page that nothing else is changing.
    #[allow(clippy::mut_from_ref)]
    unsafe fn entries<'a>(pa: PhysAddr) -> &'a mut [Pte; 512] {
        // SAFETY: a page-table page is 4096 bytes of 512 PTEs, identity-mapped.
        unsafe { &mut *pa.as_mut_ptr::<[Pte; 512]>() }
    }

    /// The level-0 PTE for `va`, creating the intermediate tables if
    /// `alloc`. `None` if `va` is out of range, a table is missing and
    /// `alloc` is false, or memory ran out.
    // The page table is a handle to memory the caller serialises access to.
    #[allow(clippy::mut_from_ref)]
    pub fn walk(&self, va: VirtAddr, alloc: bool) -> Option<&mut Pte> {
        if va.0 >= MAXVA {
            return None;
        }
        let mut table = self.0;
        for level in [2, 1] {
            // SAFETY: `table` is this page table's root or a page it points
            // to; the caller serialises changes to a page table.
            let pte = unsafe { &mut Self::entries(table)[px(level, va)] };
            if pte.is_valid() {
                table = pte.pa();
            } else {
                if !alloc {
                    return None;
                }
                let page = kalloc::alloc()?;
                *pte = Pte::new(page, PTE_V);
                table = page;
            }
        }
        // SAFETY: as above, for the level-0 table.
        Some(unsafe { &mut Self::entries(table)[px(0, va)] })
    }

    /// The physical page a user program can access at page `va`, if mapped.
    pub fn user_page(&self, va: VirtAddr) -> Option<PhysAddr> {
        let pte = *self.walk(va, false)?;
        if !pte.is_valid() || pte.0 & PTE_U == 0 {
            return None;
        }
        Some(pte.pa())
    }

    /// Maps `size` bytes at `va` to `pa` with permissions `perm`. Both
    /// addresses must be page-aligned; mapping over a valid PTE is a bug.
    pub fn map(
        &self,
        va: VirtAddr,
        size: usize,
        pa: PhysAddr,
        perm: u64,
    ) -> Result<(), OutOfMemory> {
        assert!(
            va.0.is_multiple_of(PGSIZE) && size.is_multiple_of(PGSIZE) && size > 0,
            "map: unaligned"
        );
        let mut off = 0;
        while off < size {
            let pte = self.walk(VirtAddr(va.0 + off), true).ok_or(OutOfMemory)?;
            assert!(!pte.is_valid(), "map: remap at {:#x}", va.0 + off);
            *pte = Pte::new(PhysAddr(pa.0 + off), perm | PTE_V);
            off += PGSIZE;
        }
        Ok(())
    }

    /// Removes `npages` mappings starting at `va`, freeing the pages if
    /// `free`. Pages that are not mapped are skipped.
    pub fn unmap(&self, va: VirtAddr, npages: usize, free: bool) {
        assert!(va.0.is_multiple_of(PGSIZE), "unmap: unaligned");
        for i in 0..npages {
            let a = VirtAddr(va.0 + i * PGSIZE);
            let Some(pte) = self.walk(a, false) else {
                continue;
            };
            if !pte.is_valid() {
                continue;
            }
            assert!(pte.is_leaf(), "unmap: not a leaf at {:#x}", a.0);
            let pa = pte.pa();
            *pte = Pte(0);
            if free {
                // SAFETY: the page was mapped only here (user pages are
                // never shared in the base kernel) and is now unmapped.
                unsafe { kalloc::free(pa) };
            }
        }
    }

    /// Frees the page-table pages themselves. Every leaf must be unmapped.
    fn free_tables(table: PhysAddr) {
        // SAFETY: `table` is a page-table page no longer in use by any hart.
        let entries = unsafe { Self::entries(table) };
        for pte in entries.iter_mut() {
            if pte.is_valid() {
                assert!(!pte.is_leaf(), "freewalk: leaf");
                Self::free_tables(pte.pa());
                *pte = Pte(0);
            }
        }
        // SAFETY: the table page is empty and unreferenced.
        unsafe { kalloc::free(table) };
    }

    // ---- user page tables ----

    /// Loads the first process's code at address 0.
    pub fn load_first(&self, code: &[u8]) -> Result<(), OutOfMemory> {
        assert!(code.len() < PGSIZE, "load_first: more than a page");
        let page = kalloc::alloc().ok_or(OutOfMemory)?;
        self.map(VirtAddr(0), PGSIZE, page, PTE_W | PTE_R | PTE_X | PTE_U)?;
        // SAFETY: `page` is a fresh page of PGSIZE bytes.
        unsafe { ptr::copy_nonoverlapping(code.as_ptr(), page.as_mut_ptr(), code.len()) };
        Ok(())
    }

    /// Grows a process's memory from `oldsz` to `newsz` with zeroed pages
    /// readable by the user plus `xperm`. On failure nothing changes.
    pub fn grow(&self, oldsz: usize, newsz: usize, xperm: u64) -> Result<usize, OutOfMemory> {
        if newsz < oldsz {
            return Ok(oldsz);
        }
        if newsz > TRAPFRAME_LIMIT {
            return Err(OutOfMemory);
        }
        let mut a = pg_round_up(oldsz);
        while a < newsz {
            // Page-table pages first, so that when memory runs out no data
            // page has been taken and given back: a failed grow leaves no
            // free page behind (sysinfotest checks freemem is then 0).
            let page = match self.walk(VirtAddr(a), true) {
                Some(_) => kalloc::alloc(),
                None => None,
            };
            let Some(page) = page else {
                self.shrink(a, oldsz);
                return Err(OutOfMemory);
            };
            self.map(VirtAddr(a), PGSIZE, page, PTE_R | PTE_U | xperm)
                .expect("grow: page table vanished");
            a += PGSIZE;
        }
        Ok(newsz)
    }

    /// Shrinks a process's memory from `oldsz` to `newsz`, freeing pages.
    pub fn shrink(&self, oldsz: usize, newsz: usize) -> usize {
        if newsz >= oldsz {
            return oldsz;
        }
        let (from, to) = (pg_round_up(newsz), pg_round_up(oldsz));
        if from < to {
            self.unmap(VirtAddr(from), (to - from) / PGSIZE, true);
        }
        newsz
    }

    /// Frees a user page table: its `sz` bytes of memory, then the tables.
    /// The trampoline and trapframe must already be unmapped.
    pub fn free_user(self, sz: usize) {
        if sz > 0 {
            self.unmap(VirtAddr(0), pg_round_up(sz) / PGSIZE, true);
        }
        Self::free_tables(self.0);
    }

    /// Copies a parent's `sz` bytes of memory into `child`, page contents
    /// and permissions. On failure `child` gets nothing.
    pub fn copy_to(&self, child: &PageTable, sz: usize) -> Result<(), OutOfMemory> {
        let mut va = 0;
        while va < sz {
            if let Some(pte) = self
                .walk(VirtAddr(va), false)
                .copied()
                .filter(|p| p.is_valid())
            {
                let ok = match kalloc::alloc() {
                    Some(page) => {
                        // SAFETY: both are distinct whole pages.
                        unsafe {
                            ptr::copy_nonoverlapping(
                                pte.pa().as_mut_ptr::<u8>(),
                                page.as_mut_ptr::<u8>(),
                                PGSIZE,
                            )
                        };
                        let r = child.map(VirtAddr(va), PGSIZE, page, pte.flags() & !PTE_V);
                        if r.is_err() {
                            // SAFETY: never mapped.
                            unsafe { kalloc::free(page) };
                        }
                        r.is_ok()
                    }
                    None => false,
                };
                if !ok {
                    child.unmap(VirtAddr(0), va / PGSIZE, true);
                    return Err(OutOfMemory);
                }
            }
            va += PGSIZE;
        }
        Ok(())
    }

    /// Makes a page inaccessible to the user (the stack guard page).
    pub fn clear_user(&self, va: VirtAddr) {
        if let Some(pte) = self.walk(va, false) {
            pte.0 &= !PTE_U;
        }
    }

    // ---- copying between user and kernel ----

    /// Walks the user range of `len` bytes at `start` a page at a time,
    /// calling `f` with each piece of that memory and its offset in the
    /// range; `f` returns false to stop early. Fails on a page the user may
    /// not access (or, with `write`, not write).
    fn for_each_user_piece(
        &self,
        start: UserAddr,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut [u8], usize) -> bool,
    ) -> Result<(), BadAddress> {
        let mut done = 0;
        while done < len {
            let va = start.0.checked_add(done).ok_or(BadAddress)?;
            let va0 = pg_round_down(va);
            let pte = self.walk(VirtAddr(va0), false).copied().ok_or(BadAddress)?;
            let needed = PTE_V | PTE_U | if write { PTE_W } else { 0 };
            if pte.0 & needed != needed {
                return Err(BadAddress);
            }
            let off = va - va0;
            let n = (PGSIZE - off).min(len - done);
            // SAFETY: the page is mapped for the user in this table, and the
            // piece lies inside it; the kernel reaches RAM at its address.
            let piece =
                unsafe { core::slice::from_raw_parts_mut(pte.pa().as_mut_ptr::<u8>().add(off), n) };
            if !f(piece, done) {
                break;
            }
            done += n;
        }
        Ok(())
    }

    /// Copies `src` to user address `dst`. Fails on any page the user may
    /// not write.
    pub fn copy_out(&self, dst: UserAddr, src: &[u8]) -> Result<(), BadAddress> {
        self.for_each_user_piece(dst, src.len(), true, |mem, done| {
            mem.copy_from_slice(&src[done..done + mem.len()]);
            true
        })
    }

    /// Copies from user address `src` into `dst`.
    pub fn copy_in(&self, dst: &mut [u8], src: UserAddr) -> Result<(), BadAddress> {
        self.for_each_user_piece(src, dst.len(), false, |mem, done| {
            dst[done..done + mem.len()].copy_from_slice(mem);
            true
        })
    }

    /// Copies a NUL-terminated string from user address `src` into `dst`,
    /// NUL included. Returns its length without the NUL; fails if there is
    /// no NUL within `dst.len()` bytes.
    pub fn copy_in_str(&self, dst: &mut [u8], src: UserAddr) -> Result<usize, BadAddress> {
        let mut len = None;
        self.for_each_user_piece(src, dst.len(), false, |mem, done| {
            let end = mem.iter().position(|&c| c == 0);
            let n = end.map_or(mem.len(), |i| i + 1);
            dst[done..done + n].copy_from_slice(&mem[..n]);
            len = end.map(|i| done + i);
            end.is_none()
        })?;
        len.ok_or(BadAddress)
    }
}

/// A user address that is unmapped, not user-accessible or out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress;

/// User memory must end below the trapframe.
pub const TRAPFRAME_LIMIT: usize = abi::memlayout::TRAPFRAME;

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

/// The kernel page table (valid after [`kvm_init`]).
pub fn kernel_pagetable() -> PageTable {
    let satp = KERNEL_SATP.load(Ordering::Acquire);
    PageTable(PhysAddr((satp & ((1 << 44) - 1)) << 12))
}

/// The `satp` value of the kernel page table.
pub fn kernel_satp() -> usize {
    KERNEL_SATP.load(Ordering::Acquire)
}

/// Builds the kernel's page table: devices, kernel text and data, all RAM
/// identity-mapped, and the trampoline at the top.
pub fn kvm_init() {
    let kpt = PageTable::new().expect("kvminit: out of memory");
    let map = |va: usize, pa: usize, size: usize, perm: u64| {
        kpt.map(VirtAddr(va), size, PhysAddr(pa), perm)
            .expect("kvminit: out of memory");
    };
    let text_end = ptr::addr_of!(etext) as usize;
    map(FINISHER, FINISHER, PGSIZE, PTE_R | PTE_W);
    map(CLINT, CLINT, PGSIZE, PTE_R | PTE_W);
    map(UART0, UART0, PGSIZE, PTE_R | PTE_W);
    map(VIRTIO0, VIRTIO0, PGSIZE, PTE_R | PTE_W);
    map(PLIC, PLIC, 0x40_0000, PTE_R | PTE_W);
    map(KERNBASE, KERNBASE, text_end - KERNBASE, PTE_R | PTE_X);
    map(text_end, text_end, PHYSTOP - text_end, PTE_R | PTE_W);
    map(TRAMPOLINE, trampoline_pa().0, PGSIZE, PTE_R | PTE_X);
    KERNEL_SATP.store(make_satp(kpt.0.0), Ordering::Release);
}

/// Switches this hart to the kernel page table and turns paging on.
pub fn kvm_init_hart() {
    sfence_vma();
    // SAFETY: the kernel page table maps everything the kernel touches at
    // the same address as before paging.
    unsafe { w_satp(kernel_satp()) };
    sfence_vma();
}
