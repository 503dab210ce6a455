//! The call sites where labs plug into the base kernel.
//!
//! A lab is a value of a type that implements [`Lab`]: one method per call
//! site, each doing nothing unless the lab overrides it. The kernel binary
//! (the `labs` crate) hands the enabled labs to [`crate::main`] in the
//! canonical order: trace, sysinfo, pgtbl, backtrace, alarm, lazy, cow, lock,
//! fs.
//! Without labs every hook is a loop over an empty list.
//!
//! How several labs combine at one call site is fixed here, once:
//!
//! | hook | called from | several labs |
//! | --- | --- | --- |
//! | `syscalls` | system call dispatch, for numbers the base kernel lacks | a number belongs to one lab; two claiming one is a boot panic |
//! | `syscall_return`, `fork`, `exec`, `memory_ending`, `proc_free`, `user_timer_tick`, `sleep_syscall`, `panic` | their call sites | every lab, in order |
//! | `fork_memory`, `grow`, `copy_in`, `copy_in_str`, `kernel_pagetable` | fork, sbrk, copyin, allocproc | the first lab that answers `Some` does the work; none: the base kernel does |
//! | `reserved` | sbrk, before it grows | the range is taken if any lab says so (sbrk fails) |
//! | `follow_symlink` | `open` of a symbolic link without `O_NOFOLLOW` | the first lab that answers `Some`; none: the open fails |
//! | `user_fault` | a page fault from user mode, or copyin/copyout meeting a page it may not use | labs in order until one answers other than `NotMine` |
//! | `user_frame_released` | every unmapping of a user page | the frame is freed only if every lab answers `Free` |
//! | `user_mappings_changed` | every change of user mappings | every lab, in order, until one fails |
//! | `devices` | boot | every lab's devices are registered; two for one major is a boot panic |
//! | `statistics` | a read of the `statistics` device | every lab's text, in order (then, with the `lockstat` feature, the lock statistics) |
//! | `page_policy`, `buf_policy`, `block_map` | boot, before the allocator, the buffer cache and the file system start | at most one lab may replace each; two is a boot panic (a configuration bug) |
//!
//! So lazy and cow together: a fault on a missing page below the size is
//! lazy's (cow answers `NotMine`), a write to a present copy-on-write page
//! is cow's (lazy answers `NotMine`); fork is cow's, and cow skips the pages
//! lazy never allocated.

use crate::bio::BufPolicy;
use crate::file::Device;
use crate::fs::{BlockMap, Inode};
use crate::kalloc::PagePolicy;
use crate::proc::{Proc, TrapFrame};
use crate::syscall::SysFn;
use crate::vm::{Access, BadAddress, OutOfMemory, PhysAddr, UserMemory};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, Ordering};

#[cfg(feature = "pgtbl")]
use crate::vm::{KernelPageTable, KernelStack, Mirror};

/// What a lab's fault handler did with a user page fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not this lab's kind of fault: ask the next one.
    NotMine,
    /// The page now allows the access: retry it.
    Resolved,
    /// This lab's kind of fault, but it cannot be resolved (out of memory):
    /// the access fails (the process is killed, or copyin returns -1).
    Failed,
}

/// What a lab says when a mapping of a user frame goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// As far as this lab knows, that was the frame's last mapping.
    Free,
    /// The lab counts other mappings of the frame: keep it.
    Keep,
}

/// A lab's code, one method per call site. Every method has a default
/// that does nothing (or answers "not mine"), so a lab overrides only the
/// hooks it uses. Unless a method says otherwise, it runs in the context
/// of the process concerned, with interrupts on and no spinlock held, and
/// may print and sleep.
pub trait Lab: Sync {
    /// The lab's name, for messages.
    fn name(&self) -> &'static str;

    /// The system calls this lab adds: (number, handler). A handler reads
    /// its arguments with `syscall::arg_*` and returns the value for a0.
    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[]
    }

    /// After every system call of `p`, with its number and result (what
    /// goes to a0).
    fn syscall_return(&self, _p: &Proc, _num: usize, _ret: i64) {}

    /// `fork` made `child` from `parent` (copy inherited lab state). Runs in
    /// the parent with the child's lock held (interrupts off): no sleeping,
    /// and the child cannot run yet.
    fn fork(&self, _parent: &Proc, _child: &Proc) {}

    /// `exec` replaced `p`'s memory with a new program (`mem`).
    fn exec(&self, _p: &Proc, _mem: &UserMemory<'_>) {}

    /// Process slot `p` is being freed (its process has exited and been
    /// waited for, or fork failed): release lab state that owns anything.
    /// Runs with `p`'s lock held (interrupts off), often in the parent,
    /// and for an orphan in the scheduler (no current process).
    fn proc_free(&self, _p: &Proc) {}

    /// A timer interrupt came while `p` ran in user mode; `tf` holds its
    /// user registers. Interrupts are off.
    fn user_timer_tick(&self, _p: &Proc, _tf: &mut TrapFrame) {}

    /// `sleep` was called, before it sleeps.
    fn sleep_syscall(&self) {}

    /// The kernel panicked (after the message was printed). Interrupts are
    /// off and any lock may be held: print only.
    fn panic(&self) {}

    /// `fork` copies `parent`'s memory into `child` (which has the size
    /// set but nothing mapped yet). Return `None` to let the kernel copy
    /// every page. Runs with the child's lock held: no sleeping.
    #[doc(alias = "uvmcopy")]
    fn fork_memory(
        &self,
        _parent: &mut UserMemory<'_>,
        _child: &mut UserMemory<'_>,
    ) -> Option<Result<(), OutOfMemory>> {
        None
    }

    /// The current process's user memory `mem` is about to go, still whole:
    /// the process is exiting, or `exec` has replaced it (after the `exec`
    /// hook; `mem` is then the old image). The mmap lab writes shared pages
    /// back here. No locks held: may sleep. Every lab, in order.
    fn memory_ending(&self, _mem: &mut UserMemory<'_>) {}

    /// `sbrk` grows `mem` to `newsz` bytes. Return `None` to let the kernel
    /// allocate and map the pages now.
    #[doc(alias = "growproc")]
    fn grow(&self, _mem: &mut UserMemory<'_>, _newsz: usize) -> Option<Result<(), OutOfMemory>> {
        None
    }

    /// Whether this lab keeps any of the current process's user addresses
    /// in `range` (above its size) for mappings of its own (the mmap lab's
    /// areas). `sbrk` asks before it grows memory over `range` and fails if
    /// a lab does: a lazy `grow` only moves the size, and would otherwise
    /// put the heap over a mapping. Runs with the process's memory
    /// borrowed: no sleeping.
    fn reserved(&self, _range: core::ops::Range<usize>) -> bool {
        false
    }

    /// The user page at `va` (page-aligned, below USER_TOP) does not allow
    /// `access`: from a page fault in user mode, or from the kernel copying
    /// to or from user memory. May run with spinlocks held (a pipe's, the
    /// process table's) or a file's sleep locks (a `read` into user
    /// memory): allocate, never sleep, unless `sleeplock::may_acquire()`
    /// says so (then reading a file is fine; the kernel's file `read` and
    /// `write` fault their pages in again with no lock held when a copy
    /// under their locks fails).
    fn user_fault(&self, _mem: &mut UserMemory<'_>, _va: usize, _access: Access) -> Fault {
        Fault::NotMine
    }

    /// One mapping of user frame `pa` was removed. Runs with any locks held
    /// and on several harts at once for the same frame: no sleeping.
    fn user_frame_released(&self, _pa: PhysAddr) -> Release {
        Release::Free
    }

    /// Copying from the current process's memory (every copyin the kernel
    /// does for it). Return `None` for the kernel's own copy. May run with
    /// spinlocks held: no sleeping.
    #[doc(alias = "copyin_new")]
    fn copy_in(
        &self,
        _mem: &mut UserMemory<'_>,
        _dst: &mut [u8],
        _src: crate::vm::UserAddr,
    ) -> Option<Result<(), BadAddress>> {
        None
    }

    /// As `copy_in`, for a NUL-terminated string (the length without the
    /// NUL).
    #[doc(alias = "copyinstr_new")]
    fn copy_in_str(
        &self,
        _mem: &mut UserMemory<'_>,
        _dst: &mut [u8],
        _src: crate::vm::UserAddr,
    ) -> Option<Result<usize, BadAddress>> {
        None
    }

    /// The page allocator's policy (where free pages wait), if this lab
    /// replaces the base kernel's single `kmem` list. Asked once at boot,
    /// before any page is free; see [`crate::kalloc`].
    fn page_policy(&self) -> Option<&'static dyn PagePolicy> {
        None
    }

    /// The buffer cache's lookup and recycling policy, if this lab
    /// replaces the base kernel's single LRU list. Asked once at boot,
    /// before any block is read; see [`crate::bio`].
    fn buf_policy(&self) -> Option<&'static dyn BufPolicy> {
        None
    }

    /// The inode's doubly-indirect block, if this lab gives files one (11
    /// direct addresses, a singly- and a doubly-indirect block instead of
    /// xv6's 12 and one). Asked once at boot, before the file system starts;
    /// see [`crate::fs::BlockMap`].
    fn block_map(&self) -> Option<&'static dyn BlockMap> {
        None
    }

    /// `open` met the symbolic link `link` and was not given `O_NOFOLLOW`:
    /// the inode the link leads to, following links in turn, or `None` to
    /// fail the open. Runs inside the open's file system operation with no
    /// inode locked. The kernel opens what this returns unless it is still
    /// a link (then the open fails).
    fn follow_symlink(&self, _link: &Inode) -> Option<Inode> {
        None
    }

    /// The devices this lab adds: (major number, driver). Registered at
    /// boot.
    fn devices(&self) -> &'static [(i16, &'static Device)] {
        &[]
    }

    /// This lab's part of the `statistics` device's text (major
    /// `abi::dev::STATISTICS`, which the kernel serves when some lab has a
    /// part or the `lockstat` feature is on): a function that writes it.
    /// It runs with a spinlock held: no sleeping. See
    /// [`crate::statistics`].
    #[doc(alias = "statsread")]
    fn statistics(&self) -> Option<StatsFn> {
        None
    }

    /// A kernel page table for the new process `p`, whose kernel stack is
    /// `kstack` (map it). The scheduler switches to it while `p` runs.
    /// Return `None` to run `p` on the kernel's page table. Runs with `p`'s
    /// lock held: no sleeping.
    #[cfg(feature = "pgtbl")]
    #[doc(alias = "ukvminit")]
    fn kernel_pagetable(
        &self,
        _p: &Proc,
        _kstack: &KernelStack,
    ) -> Option<Result<KernelPageTable, OutOfMemory>> {
        None
    }

    /// The e1000 driver's transmit and receive (the net lab), if this lab
    /// has them. Asked when a packet goes out or comes in.
    #[cfg(feature = "net")]
    fn net_driver(&self) -> Option<&'static dyn crate::net::Driver> {
        None
    }

    /// The user mappings in `range` (page-aligned, below the mirror's
    /// limit, PLIC) changed (mapped, unmapped, remapped or new flags) in an
    /// address space with a kernel page table: bring the mirror up to date
    /// for those pages. May run with spinlocks held: no
    /// sleeping. A frame unmapped from user memory stays allocated until
    /// this returns Ok. Afterwards the kernel itself removes every entry in
    /// `range` that does not show what the user table maps there, and
    /// flushes the TLB: a wrong update costs speed (copyin falls back to
    /// walking the user page table), never another process's data.
    #[cfg(feature = "pgtbl")]
    fn user_mappings_changed(
        &self,
        _mirror: &mut Mirror<'_>,
        _range: core::ops::Range<usize>,
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
}

/// Writes a lab's part of the statistics text.
pub type StatsFn = fn(&mut dyn core::fmt::Write) -> core::fmt::Result;

type LabList = &'static [&'static dyn Lab];

static LABS: AtomicPtr<LabList> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the labs (`main` does this before any other hart or process
/// runs, and before the allocator starts), installs the policies they
/// choose and registers their devices.
pub(crate) fn install(labs: &'static LabList) {
    LABS.store(labs as *const LabList as *mut LabList, Ordering::Release);
    if let Some(p) = choose(labs, "page allocator's policy", |l| l.page_policy()) {
        // SAFETY: boot, on hart 0 before the allocator starts and before
        // any other hart runs.
        unsafe { crate::kalloc::set_policy(p) };
    }
    if let Some(p) = choose(labs, "buffer cache's policy", |l| l.buf_policy()) {
        // SAFETY: as for the page policy, before the buffer cache starts.
        unsafe { crate::bio::set_policy(p) };
    }
    if let Some(p) = choose(labs, "inode's block map", |l| l.block_map()) {
        // SAFETY: as for the page policy, before the file system starts.
        unsafe { crate::fs::set_block_map(p) };
    }
    for (i, a) in labs.iter().enumerate() {
        for b in &labs[..i] {
            for (num, _) in a.syscalls() {
                assert!(
                    b.syscalls().iter().all(|(n, _)| n != num),
                    "labs {} and {} both define system call {}",
                    b.name(),
                    a.name(),
                    num
                );
            }
        }
        for &(major, dev) in a.devices() {
            crate::file::register_device(major, dev)
                .unwrap_or_else(|()| panic!("lab {}: device {} is taken", a.name(), major));
        }
    }
    if cfg!(feature = "lockstat") || labs.iter().any(|l| l.statistics().is_some()) {
        crate::statistics::register()
            .unwrap_or_else(|()| panic!("the statistics device's major is taken by a lab"));
    }
}

/// Every lab's part of the statistics text, in order.
pub(crate) fn statistics(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    for f in labs().iter().filter_map(|l| l.statistics()) {
        f(w)?;
    }
    Ok(())
}

/// The one lab's answer to `pick`; two labs answering is a boot panic.
fn choose<P: ?Sized>(
    labs: LabList,
    what: &str,
    pick: impl Fn(&dyn Lab) -> Option<&'static P>,
) -> Option<&'static P> {
    let mut chosen: Option<(&str, &'static P)> = None;
    for l in labs {
        if let Some(p) = pick(*l) {
            if let Some((first, _)) = chosen {
                panic!(
                    "labs {} and {} both replace the {}: at most one lab may; enable one of them",
                    first,
                    l.name(),
                    what
                );
            }
            chosen = Some((l.name(), p));
        }
    }
    chosen.map(|(_, p)| p)
}

/// A replacement a lab chose at boot (a subsystem's policy): set once on
/// the boot hart, read everywhere after.
pub(crate) struct Chosen<P: ?Sized + 'static> {
    chosen: UnsafeCell<Option<&'static P>>,
}

// SAFETY: written only by `set`, whose contract excludes any concurrent
// access; afterwards only read, and a `&'static P` may be shared as `P`
// is `Sync`.
unsafe impl<P: ?Sized + Sync> Sync for Chosen<P> {}

impl<P: ?Sized> Chosen<P> {
    pub(crate) const fn none() -> Chosen<P> {
        Chosen {
            chosen: UnsafeCell::new(None),
        }
    }

    /// # Safety
    /// Only on the boot hart, before any other hart runs (`main` releases
    /// them afterwards, which publishes the write) and before the
    /// subsystem is used.
    pub(crate) unsafe fn set(&self, p: &'static P) {
        // SAFETY: the caller guarantees no other access.
        unsafe { *self.chosen.get() = Some(p) };
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&'static P> {
        // SAFETY: after boot the cell is only read (see `set`).
        unsafe { *self.chosen.get() }
    }
}

/// The enabled labs, in order (none before `install`).
#[inline(always)]
fn labs() -> LabList {
    let p = LABS.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: the pointer came from a `&'static LabList` in `install`.
    unsafe { *p }
}

/// The handler of system call `num`, if a lab defines it.
pub(crate) fn syscall(num: usize) -> Option<SysFn> {
    labs()
        .iter()
        .flat_map(|l| l.syscalls())
        .find(|(n, _)| *n == num)
        .map(|(_, f)| *f)
}

#[inline(always)]
pub(crate) fn syscall_return(p: &Proc, num: usize, ret: i64) {
    let _running = crate::trap::hook_running(&"syscall_return");
    for l in labs() {
        l.syscall_return(p, num, ret);
    }
}

#[inline(always)]
pub(crate) fn fork(parent: &Proc, child: &Proc) {
    let _running = crate::trap::hook_running(&"fork");
    for l in labs() {
        l.fork(parent, child);
    }
}

#[inline(always)]
pub(crate) fn exec(p: &Proc, mem: &UserMemory<'_>) {
    let _running = crate::trap::hook_running(&"exec");
    for l in labs() {
        l.exec(p, mem);
    }
}

#[inline(always)]
pub(crate) fn proc_free(p: &Proc) {
    let _running = crate::trap::hook_running(&"proc_free");
    for l in labs() {
        l.proc_free(p);
    }
}

#[inline(always)]
pub(crate) fn user_timer_tick(p: &Proc, tf: &mut TrapFrame) {
    let _running = crate::trap::hook_running(&"user_timer_tick");
    for l in labs() {
        l.user_timer_tick(p, tf);
    }
}

/// Inlined so that a backtrace taken in the hook starts in `sys_sleep`.
#[inline(always)]
pub(crate) fn sleep_syscall() {
    let _running = crate::trap::hook_running(&"sleep_syscall");
    for l in labs() {
        l.sleep_syscall();
    }
}

#[inline(always)]
pub(crate) fn panic() {
    for l in labs() {
        l.panic();
    }
}

pub(crate) fn fork_memory(
    parent: &mut UserMemory<'_>,
    child: &mut UserMemory<'_>,
) -> Option<Result<(), OutOfMemory>> {
    let _running = crate::trap::hook_running(&"fork_memory");
    labs().iter().find_map(|l| l.fork_memory(parent, child))
}

pub(crate) fn memory_ending(mem: &mut UserMemory<'_>) {
    let _running = crate::trap::hook_running(&"memory_ending");
    for l in labs().iter() {
        l.memory_ending(mem);
    }
}

pub(crate) fn grow(mem: &mut UserMemory<'_>, newsz: usize) -> Option<Result<(), OutOfMemory>> {
    let _running = crate::trap::hook_running(&"grow");
    labs().iter().find_map(|l| l.grow(mem, newsz))
}

pub(crate) fn reserved(range: core::ops::Range<usize>) -> bool {
    let _running = crate::trap::hook_running(&"reserved");
    labs().iter().any(|l| l.reserved(range.clone()))
}

pub(crate) fn follow_symlink(link: &Inode) -> Option<Inode> {
    let _running = crate::trap::hook_running(&"follow_symlink");
    labs().iter().find_map(|l| l.follow_symlink(link))
}

pub(crate) fn user_fault(mem: &mut UserMemory<'_>, va: usize, access: Access) -> Fault {
    let _running = crate::trap::hook_running(&"user_fault");
    labs()
        .iter()
        .map(|l| l.user_fault(mem, va, access))
        .find(|f| *f != Fault::NotMine)
        .unwrap_or(Fault::NotMine)
}

/// Whether frame `pa` should be freed now that one mapping of it went.
#[inline(always)]
pub(crate) fn user_frame_released(pa: PhysAddr) -> bool {
    let _running = crate::trap::hook_running(&"user_frame_released");
    // Every lab hears of it (each may count), and any may keep the frame.
    labs().iter().fold(true, |free, l| {
        (l.user_frame_released(pa) == Release::Free) & free
    })
}

pub(crate) fn copy_in(
    mem: &mut UserMemory<'_>,
    dst: &mut [u8],
    src: crate::vm::UserAddr,
) -> Option<Result<(), BadAddress>> {
    let _running = crate::trap::hook_running(&"copy_in");
    labs().iter().find_map(|l| l.copy_in(mem, dst, src))
}

pub(crate) fn copy_in_str(
    mem: &mut UserMemory<'_>,
    dst: &mut [u8],
    src: crate::vm::UserAddr,
) -> Option<Result<usize, BadAddress>> {
    let _running = crate::trap::hook_running(&"copy_in_str");
    labs().iter().find_map(|l| l.copy_in_str(mem, dst, src))
}

#[cfg(feature = "pgtbl")]
pub(crate) fn kernel_pagetable(
    p: &Proc,
    kstack: &KernelStack,
) -> Option<Result<KernelPageTable, OutOfMemory>> {
    let _running = crate::trap::hook_running(&"kernel_pagetable");
    labs().iter().find_map(|l| l.kernel_pagetable(p, kstack))
}

#[cfg(feature = "pgtbl")]
pub(crate) fn user_mappings_changed(
    mirror: &mut Mirror<'_>,
    range: core::ops::Range<usize>,
) -> Result<(), OutOfMemory> {
    let _running = crate::trap::hook_running(&"user_mappings_changed");
    labs()
        .iter()
        .try_for_each(|l| l.user_mappings_changed(mirror, range.clone()))
}

#[cfg(feature = "net")]
pub(crate) fn net_driver() -> Option<&'static dyn crate::net::Driver> {
    labs().iter().find_map(|l| l.net_driver())
}
