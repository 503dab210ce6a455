//! The heap: a first-fit free list grown with `sbrk` (the classic K&R
//! allocator xv6's `umalloc.c` also uses), behind `malloc`/`free` and Rust's
//! global allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, null_mut};

/// Block header; allocation happens in units of its size (16 bytes), which
/// is also the alignment every block gets.
#[repr(C, align(16))]
struct Header {
    next: *mut Header,
    units: usize,
}

const UNIT: usize = core::mem::size_of::<Header>();

struct FreeList {
    base: Header,
    freep: *mut Header,
}

/// User programs are single-threaded, so the list needs no lock.
struct Heap(UnsafeCell<FreeList>);

// SAFETY: a user process has a single thread; nothing shares the heap.
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap(UnsafeCell::new(FreeList {
    base: Header {
        next: null_mut(),
        units: 0,
    },
    freep: null_mut(),
}));

/// Allocates `nbytes` bytes aligned to 16; null when memory runs out.
pub fn malloc(nbytes: usize) -> *mut u8 {
    let Some(units) = nbytes.checked_add(2 * UNIT - 1).map(|n| n / UNIT) else {
        return null_mut();
    };
    // SAFETY: single-threaded; the list only links blocks this allocator
    // obtained from sbrk, each starting with a valid header.
    unsafe {
        let h = &mut *HEAP.0.get();
        if h.freep.is_null() {
            h.base.next = &mut h.base;
            h.base.units = 0;
            h.freep = &mut h.base;
        }
        let mut prevp = h.freep;
        let mut p = (*prevp).next;
        loop {
            if (*p).units >= units {
                if (*p).units == units {
                    (*prevp).next = (*p).next;
                } else {
                    (*p).units -= units;
                    p = p.add((*p).units);
                    (*p).units = units;
                }
                h.freep = prevp;
                return p.add(1).cast();
            }
            if p == h.freep {
                p = more_core(units);
                if p.is_null() {
                    return null_mut();
                }
            }
            prevp = p;
            p = (*p).next;
        }
    }
}

/// Gets at least `units` more units from the kernel and frees them into the
/// list; returns the list pointer to continue the search from.
unsafe fn more_core(units: usize) -> *mut Header {
    let units = units.max(4096);
    let Some(bytes) = units.checked_mul(UNIT).filter(|&b| b <= i32::MAX as usize) else {
        return null_mut();
    };
    let p = crate::sbrk(bytes as i32);
    if crate::sbrk_failed(p) {
        return null_mut();
    }
    let hp = p.cast::<Header>();
    // SAFETY: sbrk returned `bytes` fresh bytes at `p`. The break is not
    // 16-aligned if the program called sbrk itself, so round up and give
    // away the bytes skipped.
    unsafe {
        let aligned = (hp as usize).next_multiple_of(UNIT) as *mut Header;
        let lost = (aligned as usize - hp as usize).div_ceil(UNIT);
        (*aligned).units = units - lost;
        free(aligned.add(1).cast());
        (*HEAP.0.get()).freep
    }
}

/// Returns a block from [`malloc`] to the free list. Null is ignored.
pub fn free(ap: *mut u8) {
    if ap.is_null() {
        return;
    }
    // SAFETY: `ap` came from malloc, so a header precedes it; the list is
    // circular and sorted by address, which the loop below relies on.
    unsafe {
        let h = &mut *HEAP.0.get();
        let bp = ap.cast::<Header>().sub(1);
        let mut p = h.freep;
        while !(bp > p && bp < (*p).next) {
            if p >= (*p).next && (bp > p || bp < (*p).next) {
                break;
            }
            p = (*p).next;
        }
        if bp.add((*bp).units) == (*p).next {
            (*bp).units += (*(*p).next).units;
            (*bp).next = (*(*p).next).next;
        } else {
            (*bp).next = (*p).next;
        }
        if p.add((*p).units) == bp {
            (*p).units += (*bp).units;
            (*p).next = (*bp).next;
        } else {
            (*p).next = bp;
        }
        h.freep = p;
    }
}

struct Global;

// SAFETY: malloc returns blocks of at least the requested size, 16-aligned;
// larger alignments are served by over-allocating and remembering the
// original block just below the aligned pointer.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= UNIT {
            return malloc(layout.size());
        }
        let Some(total) = layout.size().checked_add(layout.align() + UNIT) else {
            return null_mut();
        };
        let raw = malloc(total);
        if raw.is_null() {
            return raw;
        }
        let aligned = (raw as usize + UNIT).next_multiple_of(layout.align()) as *mut u8;
        // SAFETY: `aligned - 8` lies inside the block, after `raw`.
        unsafe { ptr::write(aligned.cast::<usize>().sub(1), raw as usize) };
        aligned
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if layout.align() <= UNIT {
            free(p);
        } else {
            // SAFETY: alloc stored the original block address there.
            free(unsafe { ptr::read(p.cast::<usize>().sub(1)) } as *mut u8);
        }
    }
}

#[global_allocator]
static GLOBAL: Global = Global;
