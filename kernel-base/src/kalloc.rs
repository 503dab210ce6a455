//! The physical page allocator: the 4096-byte pages of RAM after the kernel
//! image, kept free by a [`PagePolicy`].
//!
//! The policy decides where free pages wait (the base kernel: one list
//! under one lock, `kmem`; the lock lab: a list per hart that steals from
//! the others) and is chosen once at boot by [`Lab::page_policy`]. It works
//! on two building blocks that own what they hold: a [`Page`] is one free
//! page, which only this module makes (from RAM at boot and from a freed
//! frame) and only this module turns back into an address (zeroed); a
//! [`FreePages`] list owns its pages. So a policy written in safe code can
//! move pages between lists but cannot make one from an address or hand
//! out one page twice.
//!
//! [`Lab::page_policy`]: crate::hooks::Lab::page_policy

use crate::hooks::Chosen;
use crate::spinlock::SpinLock;
use crate::vm::PhysAddr;
use abi::memlayout::{PGSIZE, PHYSTOP};
use core::ptr::{self, NonNull};

/// Where free pages are kept: the allocator calls `alloc` for each page it
/// hands out and `free` for each page given back (and for every page of RAM
/// at boot). The methods run with interrupts in any state, on several harts
/// at once, and may take spinlocks (not sleep locks): they must not sleep
/// or allocate.
pub trait PagePolicy: Sync {
    /// A free page, or `None` when no page is free anywhere (only then:
    /// a `None` while another list holds pages fails an allocation that
    /// could have succeeded).
    #[doc(alias = "kalloc")]
    fn alloc(&self) -> Option<Page>;

    /// Keeps a freed page for a later `alloc`.
    #[doc(alias = "kfree")]
    fn free(&self, page: Page);

    /// Calls `f` with each of the policy's lists, locked while `f` runs
    /// (so `f` must not allocate), to count or list the free pages.
    fn for_each_list(&self, f: &mut dyn FnMut(&FreePages));

    /// How many pages are free (the sum over the lists).
    fn free_pages(&self) -> usize {
        let mut n = 0;
        self.for_each_list(&mut |l| n += l.len());
        n
    }
}

/// One free physical page, owned: not `Clone`, and made only by this
/// module, so holding a `Page` means no one else uses that memory. A free
/// page must end on a [`FreePages`] list or go back to the allocator:
/// dropping one is a bug that loses the page, and panics.
pub struct Page(NonNull<Link>);

/// The first word of a page on a list: the next page.
struct Link {
    next: Option<Page>,
}

// SAFETY: a Page is the only reference to its memory; moving it to another
// hart moves that ownership.
unsafe impl Send for Page {}

impl Page {
    /// # Safety
    /// `pa` must be a page-aligned page of RAM after the kernel that
    /// nothing refers to any more.
    unsafe fn from_free(pa: PhysAddr) -> Page {
        debug_assert!(pa.0.is_multiple_of(PGSIZE) && pa.0 >= heap_start() && pa.0 < PHYSTOP);
        // SAFETY: RAM after the kernel starts above address 0.
        Page(unsafe { NonNull::new_unchecked(pa.as_mut_ptr()) })
    }

    /// The page's physical address (for messages and policies that place
    /// pages by address; it gives no access to the page).
    pub fn addr(&self) -> PhysAddr {
        PhysAddr(self.0.as_ptr() as usize)
    }

    /// Ends the page's life as a free page: zeroed, it becomes the
    /// caller's memory.
    fn into_zeroed(self) -> PhysAddr {
        let pa = self.addr();
        core::mem::forget(self);
        // SAFETY: the Page owned this whole page, and nothing else does.
        unsafe { ptr::write_bytes(pa.as_mut_ptr::<u8>(), 0, PGSIZE) };
        pa
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        panic!(
            "kalloc: free page {:#x} dropped (lost): push it on a FreePages list",
            self.addr().0
        );
    }
}

/// A list of free pages that owns them; the link lives in each free page,
/// so a list needs no memory of its own. Dropping a list that still holds
/// pages loses them, and panics.
pub struct FreePages {
    head: Option<Page>,
    len: usize,
}

impl Default for FreePages {
    fn default() -> Self {
        Self::new()
    }
}

impl FreePages {
    pub const fn new() -> FreePages {
        FreePages { head: None, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, page: Page) {
        let link = Link {
            next: self.head.take(),
        };
        // SAFETY: the Page owns its memory, page-aligned: its first word
        // is ours to write.
        unsafe { page.0.as_ptr().write(link) };
        self.head = Some(page);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<Page> {
        let page = self.head.take()?;
        // SAFETY: every page on the list holds its link (written by
        // `push`); reading it moves the rest of the list back here.
        self.head = unsafe { page.0.as_ptr().read() }.next;
        self.len -= 1;
        Some(page)
    }

    /// Takes up to `n` pages off this list, as a list of their own (to
    /// give another hart's list some of them).
    pub fn split_off(&mut self, n: usize) -> FreePages {
        let mut taken = FreePages::new();
        while taken.len < n {
            match self.pop() {
                Some(p) => taken.push(p),
                None => break,
            }
        }
        taken
    }

    /// Moves every page of `other` to this list.
    pub fn append(&mut self, other: &mut FreePages) {
        while let Some(p) = other.pop() {
            self.push(p);
        }
    }

    /// Calls `f` with the address of each page on the list.
    pub fn for_each_addr(&self, f: &mut dyn FnMut(PhysAddr)) {
        let mut next = self.head.as_ref();
        while let Some(page) = next {
            f(page.addr());
            // SAFETY: the page is on the list, so its first word is its
            // link; `&self` keeps the list still.
            next = unsafe { (*page.0.as_ptr()).next.as_ref() };
        }
    }
}

impl Drop for FreePages {
    fn drop(&mut self) {
        if self.len > 0 {
            panic!(
                "kalloc: a FreePages list of {} pages dropped (lost): append it to another",
                self.len
            );
        }
    }
}

/// The base kernel's policy: one list under one lock.
impl PagePolicy for SpinLock<FreePages> {
    fn alloc(&self) -> Option<Page> {
        self.lock().pop()
    }

    fn free(&self, page: Page) {
        self.lock().push(page);
    }

    fn for_each_list(&self, f: &mut dyn FnMut(&FreePages)) {
        f(&self.lock());
    }

    fn free_pages(&self) -> usize {
        self.lock().len()
    }
}

static KMEM: SpinLock<FreePages> = SpinLock::new("kmem", FreePages::new());

/// The policy a lab chose at boot, if one did.
static POLICY: Chosen<dyn PagePolicy> = Chosen::none();

#[inline]
fn policy() -> &'static dyn PagePolicy {
    POLICY.get().unwrap_or(&KMEM)
}

/// Installs a lab's policy.
///
/// # Safety
/// As [`Chosen::set`]: on the boot hart, before [`init`] and before any
/// other hart runs.
pub(crate) unsafe fn set_policy(p: &'static dyn PagePolicy) {
    // SAFETY: the caller's contract.
    unsafe { POLICY.set(p) };
}

unsafe extern "C" {
    /// First address after the kernel image (from the linker script).
    static end: u8;
}

/// First page after the kernel image.
pub fn heap_start() -> usize {
    (ptr::addr_of!(end) as usize).next_multiple_of(PGSIZE)
}

pub(crate) fn init() {
    let policy = policy();
    let mut pa = heap_start();
    while pa + PGSIZE <= PHYSTOP {
        // SAFETY: every page from the end of the kernel to PHYSTOP is unused
        // RAM that nothing else refers to yet.
        policy.free(unsafe { Page::from_free(PhysAddr(pa)) });
        pa += PGSIZE;
    }
}

/// Returns a page to the allocator.
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
    // SAFETY: checked to be a page of RAM after the kernel; the caller
    // promises no one uses it any more.
    let page = unsafe { Page::from_free(pa) };
    // The base kernel's policy called directly, so that it inlines.
    match POLICY.get() {
        Some(p) => p.free(page),
        None => KMEM.lock().push(page),
    }
}

/// A zeroed page, or `None` when memory is exhausted.
#[doc(alias = "kalloc")]
pub fn alloc() -> Option<PhysAddr> {
    let page = match POLICY.get() {
        Some(p) => p.alloc(),
        None => KMEM.lock().pop(),
    };
    page.map(Page::into_zeroed)
}

/// How many pages are free (sysinfo's `freemem` is this times PGSIZE).
pub fn free_pages() -> usize {
    policy().free_pages()
}

/// Calls `f` with every free page (holding the allocator's locks, so `f`
/// must not allocate).
pub fn for_each_free_page(mut f: impl FnMut(PhysAddr)) {
    policy().for_each_list(&mut |l| l.for_each_addr(&mut f));
}
