//! The physical page allocator: a free list of 4096-byte pages covering the
//! RAM after the kernel image.

use crate::spinlock::SpinLock;
use crate::vm::PhysAddr;
use abi::memlayout::{PGSIZE, PHYSTOP};
use core::ptr;

struct FreeList {
    /// First free page; each free page holds the address of the next.
    head: usize,
}

static KMEM: SpinLock<FreeList> = SpinLock::new("kmem", FreeList { head: 0 });

unsafe extern "C" {
    /// First address after the kernel image (from the linker script).
    static end: u8;
}

/// First page after the kernel image.
pub fn heap_start() -> usize {
    (ptr::addr_of!(end) as usize).next_multiple_of(PGSIZE)
}

pub(crate) fn init() {
    let mut pa = heap_start();
    while pa + PGSIZE <= PHYSTOP {
        // SAFETY: every page from the end of the kernel to PHYSTOP is unused
        // RAM that nothing else refers to yet.
        unsafe { free(PhysAddr(pa)) };
        pa += PGSIZE;
    }
}

/// Returns a page to the free list.
///
/// # Safety
/// `pa` must be a page from [`alloc`] (or RAM after the kernel) that no one
/// will use again.
#[doc(alias = "kfree")]
pub unsafe fn free(pa: PhysAddr) {
    let a = pa.0;
    if !a.is_multiple_of(PGSIZE) || a < heap_start() || a >= PHYSTOP {
        panic!("kfree: bad page {:#x}", a);
    }
    let mut k = KMEM.lock();
    // SAFETY: the page is ours now and page-aligned; its first word links it.
    unsafe { ptr::write(a as *mut usize, k.head) };
    k.head = a;
}

/// A zeroed page, or `None` when memory is exhausted.
#[doc(alias = "kalloc")]
pub fn alloc() -> Option<PhysAddr> {
    let a = {
        let mut k = KMEM.lock();
        let a = k.head;
        if a == 0 {
            return None;
        }
        // SAFETY: `a` is a free page whose first word links the next one.
        k.head = unsafe { ptr::read(a as *const usize) };
        a
    };
    // SAFETY: the page was just taken off the free list; it is ours alone.
    unsafe { ptr::write_bytes(a as *mut u8, 0, PGSIZE) };
    Some(PhysAddr(a))
}

/// Calls `f` with every page on the free list (holding the allocator's
/// lock, so `f` must not allocate).
pub fn for_each_free_page(mut f: impl FnMut(PhysAddr)) {
    let k = KMEM.lock();
    let mut a = k.head;
    while a != 0 {
        f(PhysAddr(a));
        // SAFETY: free pages hold the address of the next one in their
        // first word; the lock keeps the list still.
        a = unsafe { ptr::read(a as *const usize) };
    }
}
