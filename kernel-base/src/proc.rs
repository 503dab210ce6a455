//! Processes: the process table, fork/exit/wait/kill, the scheduler, and
//! sleep/wakeup.
//!
//! Who may touch what in a [`Proc`]:
//! - `inner` (xv6's `p->lock`) guards the state, wait channel, killed flag
//!   and exit status.
//! - [`WAIT_LOCK`] guards every process's parent, and is taken before any
//!   process lock.
//! - The memory, trapframe and open files are the process's own: it uses
//!   them while it runs; the kernel uses them while the process cannot run
//!   (fork filling in a child, wait freeing a zombie). Each sits in an
//!   [`ExclusiveCell`], so two uses at once are a panic, never two `&mut`.
//! - `context` is used only by `swtch`, with the process's lock held.

use crate::cpu::{mycpu, pop_off, push_off};
use crate::exclusive::{Exclusive, ExclusiveCell};
use crate::file::File;
use crate::fs::{self, Inode};
use crate::hooks;
use crate::log;
use crate::riscv::{intr_get, intr_off, intr_on, wfi};
use crate::spinlock::{SpinLock, SpinLockGuard};
use crate::trap;
use crate::vm::{self, AddressSpace, Frame, PTE_W, UserAddr, UserMemory};
use abi::memlayout::{MAXVA, PGSIZE, TRAPFRAME};
use abi::param::{NOFILE, NPROC, ROOTDEV};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

/// Pages of each process's kernel stack (Rust frames are larger than C's).
pub const KSTACK_PAGES: usize = 4;
pub const KSTACK_SIZE: usize = KSTACK_PAGES * PGSIZE;

/// Kernel address space given to each process slot's kernel stack: the
/// stack is its top [`KSTACK_SIZE`], the rest stays unmapped. A frame that
/// overflows the stack lands there, never in another slot's stack (the
/// labs crate denies frames anywhere near this size).
pub const KSTACK_SLOT: usize = 1 << KSTACK_SLOT_SHIFT;
pub const KSTACK_SLOT_SHIFT: usize = 23;
/// Where the slots start: the last gigabyte, which holds the trampoline
/// at its top (the pgtbl lab's per-process tables own this gigabyte).
pub const KSTACKS_BASE: usize = MAXVA - (1 << 30);
const _: () = assert!(KSTACKS_BASE + NPROC * KSTACK_SLOT <= TRAPFRAME);
const _: () = assert!(KSTACKS_BASE.is_multiple_of(KSTACK_SLOT));

/// Virtual address of process slot `i`'s kernel stack: the top of its
/// slot, below it an unmapped gap of almost 8 MiB.
pub const fn kstack_va(i: usize) -> usize {
    KSTACKS_BASE + (i + 1) * KSTACK_SLOT - KSTACK_SIZE
}

/// The process slot whose kernel stack holds `sp`, if any (the gap below
/// a stack counts as outside it).
#[inline(always)]
pub fn kstack_slot(sp: usize) -> Option<usize> {
    let i = sp.wrapping_sub(KSTACKS_BASE) >> KSTACK_SLOT_SHIFT;
    (i < NPROC && sp > kstack_va(i)).then_some(i)
}

/// Callee-saved registers, saved by `swtch`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Context {
    pub ra: usize,
    pub sp: usize,
    pub s: [usize; 12],
}

impl Context {
    pub const ZERO: Context = Context {
        ra: 0,
        sp: 0,
        s: [0; 12],
    };
}

/// Per-process page that `uservec` saves user registers into (layout is
/// part of the ABI; the trampoline uses the byte offsets).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    pub kernel_satp: usize,
    pub kernel_sp: usize,
    pub kernel_trap: usize,
    pub epc: usize,
    pub kernel_hartid: usize,
    pub ra: usize,
    pub sp: usize,
    pub gp: usize,
    pub tp: usize,
    pub t0: usize,
    pub t1: usize,
    pub t2: usize,
    pub s0: usize,
    pub s1: usize,
    pub a0: usize,
    pub a1: usize,
    pub a2: usize,
    pub a3: usize,
    pub a4: usize,
    pub a5: usize,
    pub a6: usize,
    pub a7: usize,
    pub s2: usize,
    pub s3: usize,
    pub s4: usize,
    pub s5: usize,
    pub s6: usize,
    pub s7: usize,
    pub s8: usize,
    pub s9: usize,
    pub s10: usize,
    pub s11: usize,
    pub t3: usize,
    pub t4: usize,
    pub t5: usize,
    pub t6: usize,
}

impl TrapFrame {
    // SAFETY: every field is a usize, for which zero is a valid value.
    pub const ZERO: TrapFrame = unsafe { core::mem::zeroed() };
}

const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 288);
    assert!(core::mem::offset_of!(TrapFrame, a0) == 112);
    assert!(core::mem::offset_of!(TrapFrame, s2) == 176);
    assert!(core::mem::offset_of!(TrapFrame, t6) == 280);
};

/// The page holding a process's trapframe.
pub(crate) struct TrapFramePage(Frame);

impl TrapFramePage {
    fn alloc() -> Option<TrapFramePage> {
        Frame::alloc().map(TrapFramePage)
    }

    fn pa(&self) -> vm::PhysAddr {
        self.0.pa()
    }
}

impl core::ops::Deref for TrapFramePage {
    type Target = TrapFrame;
    fn deref(&self) -> &TrapFrame {
        // SAFETY: the page is ours, page-aligned and larger than a
        // TrapFrame, whose every bit pattern is valid.
        unsafe { &*self.pa().as_mut_ptr::<TrapFrame>() }
    }
}

impl core::ops::DerefMut for TrapFramePage {
    fn deref_mut(&mut self) -> &mut TrapFrame {
        // SAFETY: as for `deref`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.pa().as_mut_ptr::<TrapFrame>() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    Unused,
    Used,
    Sleeping,
    Runnable,
    Running,
    Zombie,
}

/// The fields `Proc::inner` guards.
pub(crate) struct ProcInner {
    pub(crate) state: ProcState,
    /// What a SLEEPING process waits for.
    chan: usize,
    killed: bool,
    /// Exit status for the parent's `wait`.
    xstate: i32,
}

/// A process's open files and current directory.
pub(crate) struct Files {
    pub(crate) ofile: [Option<File>; NOFILE],
    pub(crate) cwd: Option<Inode>,
}

/// A process's name, for `^P` and messages (read without locks, so kept in
/// atomics).
struct Name([AtomicU8; 16]);

impl Name {
    fn set(&self, s: &[u8]) {
        for (i, c) in self.0.iter().enumerate() {
            c.store(
                s.get(i).copied().filter(|_| i < 15).unwrap_or(0),
                Ordering::Relaxed,
            );
        }
    }

    fn get(&self) -> ProcName {
        ProcName(core::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

/// A copy of a process's name.
#[derive(Clone, Copy)]
pub struct ProcName([u8; 16]);

impl ProcName {
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&c| c == 0).unwrap_or(16);
        core::str::from_utf8(&self.0[..len]).unwrap_or("?")
    }
}

impl core::fmt::Display for ProcName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One slot of the process table.
pub struct Proc {
    pub(crate) inner: SpinLock<ProcInner>,
    pid: AtomicI32,
    /// Slot number in the process table.
    index: usize,
    name: Name,
    memory: ExclusiveCell<Option<AddressSpace>>,
    trapframe: ExclusiveCell<Option<TrapFramePage>>,
    files: ExclusiveCell<Files>,
    /// `swtch` here to run the process; used with `inner` held.
    context: UnsafeCell<Context>,
    /// The channel it sleeps on (0: none), readable without `inner`: what
    /// lets `wakeup` pass over the other processes without taking their
    /// locks. Set before the sleeper lets go of its condition's lock.
    sleeping_on: AtomicUsize,
    /// How many sleep locks it holds (see `sleeplock::may_acquire`).
    pub(crate) sleep_locks_held: AtomicU32,
    /// With pgtbl a process has its own kernel stack (with the base kernel
    /// each slot's is made at boot).
    #[cfg(feature = "pgtbl")]
    kstack: ExclusiveCell<Option<vm::KernelStack>>,
    /// With pgtbl: the satp of the process's kernel page table, for the
    /// scheduler (0: none). The table lives in the address space.
    #[cfg(feature = "pgtbl")]
    kernel_satp: core::sync::atomic::AtomicUsize,
}

// SAFETY: `context` is used only by the scheduler and `sched`, with the
// process's lock held; every other field is an atomic, a lock or an
// ExclusiveCell.
unsafe impl Sync for Proc {}

impl Proc {
    const fn new(index: usize) -> Proc {
        Proc {
            inner: SpinLock::new(
                "proc",
                ProcInner {
                    state: ProcState::Unused,
                    chan: 0,
                    killed: false,
                    xstate: 0,
                },
            ),
            pid: AtomicI32::new(0),
            sleeping_on: AtomicUsize::new(0),
            sleep_locks_held: AtomicU32::new(0),
            index,
            name: Name([const { AtomicU8::new(0) }; 16]),
            memory: ExclusiveCell::new("a process's memory", None),
            trapframe: ExclusiveCell::new("a process's trapframe", None),
            files: ExclusiveCell::new(
                "a process's files",
                Files {
                    ofile: [const { None }; NOFILE],
                    cwd: None,
                },
            ),
            context: UnsafeCell::new(Context::ZERO),
            #[cfg(feature = "pgtbl")]
            kstack: ExclusiveCell::new("a process's kernel stack", None),
            #[cfg(feature = "pgtbl")]
            kernel_satp: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Slot number in the process table (0..NPROC), for per-process tables.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The process's name, for messages.
    pub fn name(&self) -> ProcName {
        self.name.get()
    }

    /// The process's state (taking its lock).
    pub fn state(&self) -> ProcState {
        self.inner.lock().state
    }

    /// The range of addresses of the process's kernel stack.
    pub fn kstack(&self) -> core::ops::Range<usize> {
        let va = kstack_va(self.index);
        va..va + KSTACK_SIZE
    }

    pub fn is_killed(&self) -> bool {
        self.inner.lock().killed
    }

    pub fn set_killed(&self) {
        self.inner.lock().killed = true;
    }

    /// The process's address space (panics if it has none: a kernel bug).
    pub(crate) fn space(&self) -> SpaceGuard<'_> {
        let g = self.memory.borrow();
        assert!(g.is_some(), "process {} has no memory", self.pid());
        SpaceGuard(g)
    }

    /// The process's trapframe.
    pub(crate) fn trapframe(&self) -> TrapFrameGuard<'_> {
        let g = self.trapframe.borrow();
        assert!(g.is_some(), "process {} has no trapframe", self.pid());
        TrapFrameGuard(g, core::marker::PhantomData)
    }

    /// The physical address of the trapframe page (for mapping it).
    pub(crate) fn trapframe_pa(&self) -> vm::PhysAddr {
        let g = self.trapframe.borrow();
        g.as_ref().expect("process without a trapframe").pa()
    }

    pub(crate) fn files(&self) -> Exclusive<'_, Files> {
        self.files.borrow()
    }
}

/// A borrowed address space of a live process.
pub(crate) struct SpaceGuard<'a>(Exclusive<'a, Option<AddressSpace>>);

impl core::ops::Deref for SpaceGuard<'_> {
    type Target = AddressSpace;
    fn deref(&self) -> &AddressSpace {
        self.0.as_ref().expect("checked when borrowed")
    }
}

impl core::ops::DerefMut for SpaceGuard<'_> {
    fn deref_mut(&mut self) -> &mut AddressSpace {
        self.0.as_mut().expect("checked when borrowed")
    }
}

/// A borrowed trapframe of a live process. Not `Send`: it must stay with
/// the process's own kernel thread, since on another hart the process may
/// be in user mode, where the trampoline writes the trapframe.
pub struct TrapFrameGuard<'a>(
    Exclusive<'a, Option<TrapFramePage>>,
    core::marker::PhantomData<*const ()>,
);

impl core::ops::Deref for TrapFrameGuard<'_> {
    type Target = TrapFrame;
    fn deref(&self) -> &TrapFrame {
        self.0.as_ref().expect("checked when borrowed")
    }
}

impl core::ops::DerefMut for TrapFrameGuard<'_> {
    fn deref_mut(&mut self) -> &mut TrapFrame {
        self.0.as_mut().expect("checked when borrowed")
    }
}

pub static PROCS: [Proc; NPROC] = {
    let mut a = [const { Proc::new(0) }; NPROC];
    let mut i = 0;
    while i < NPROC {
        a[i].index = i;
        i += 1;
    }
    a
};

static NEXT_PID: AtomicI32 = AtomicI32::new(1);
/// Each process's parent, by slot (xv6's `wait_lock` guards `p->parent`).
#[doc(alias = "wait_lock")]
static WAIT_LOCK: SpinLock<[Option<usize>; NPROC]> = SpinLock::new("wait_lock", [None; NPROC]);
static INIT_PROC: AtomicI32 = AtomicI32::new(-1);

/// The process running on this hart, if any.
pub fn myproc() -> Option<&'static Proc> {
    // A process's kernel stack is used by that process only: no need to
    // ask the hart (which costs two sstatus writes, slow under QEMU).
    if let Some(i) = kstack_slot(crate::riscv::r_sp()) {
        return Some(&PROCS[i]);
    }
    push_off();
    let p = mycpu().proc.get();
    pop_off();
    // SAFETY: `proc` is null or points into the static PROCS table.
    unsafe { p.as_ref() }
}

/// The current process; system calls and traps from user space have one.
pub fn current() -> &'static Proc {
    myproc().expect("no current process")
}

/// The current process's trapframe: its user registers while it is in the
/// kernel. Held by one user at a time (a second borrow at once panics).
pub fn current_trapframe() -> TrapFrameGuard<'static> {
    current().trapframe()
}

/// Runs `f` on the current process's user memory.
pub fn with_current_memory<R>(f: impl FnOnce(&mut UserMemory<'_>) -> R) -> R {
    let mut space = current().space();
    f(&mut space.user())
}

/// Allocates every process slot's kernel stack (with pgtbl, only the page
/// tables for them: each process gets its own stack then).
#[doc(alias = "procinit")]
pub(crate) fn init() {
    for p in PROCS.iter() {
        let va = kstack_va(p.index);
        vm::kernel_reserve(va, KSTACK_PAGES).expect("procinit: out of memory");
        #[cfg(not(feature = "pgtbl"))]
        {
            let mut pages = [vm::PhysAddr(0); KSTACK_PAGES];
            for page in pages.iter_mut() {
                *page = crate::kalloc::alloc().expect("procinit: out of memory");
            }
            // SAFETY: fresh pages, at this slot's own stack addresses.
            unsafe { vm::kernel_map_stack(va, &pages) };
        }
    }
}

/// Finds an UNUSED slot and sets it up to run in the kernel: pid,
/// trapframe, address space, and a context that starts in `forkret`.
/// Returns it with its lock held, or `None` if the table or memory is full.
#[doc(alias = "allocproc")]
fn alloc_proc() -> Option<(&'static Proc, SpinLockGuard<'static, ProcInner>)> {
    for p in PROCS.iter() {
        let mut g = p.inner.lock();
        if g.state != ProcState::Unused {
            continue;
        }
        p.pid
            .store(NEXT_PID.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        g.state = ProcState::Used;
        if set_up(p).is_none() {
            free_proc(p, &mut g);
            return None;
        }
        // SAFETY: the process cannot run yet and we hold its lock.
        let ctx = unsafe { &mut *p.context.get() };
        *ctx = Context::ZERO;
        ctx.ra = forkret as *const () as usize;
        ctx.sp = kstack_va(p.index) + KSTACK_SIZE;
        return Some((p, g));
    }
    None
}

/// Gives a new process its trapframe, kernel stack and address space.
fn set_up(p: &Proc) -> Option<()> {
    let tf = TrapFramePage::alloc()?;
    #[allow(unused_mut)]
    let mut space = AddressSpace::new(tf.pa())?;
    *p.trapframe.borrow() = Some(tf);
    #[cfg(feature = "pgtbl")]
    {
        let ks = vm::KernelStack::new(kstack_va(p.index))?;
        if let Some(kt) = hooks::kernel_pagetable(p, &ks) {
            let kt = kt.ok()?;
            assert!(
                kt.maps_stack(&ks),
                "the kernel page table made for process {} does not map its kernel stack",
                p.pid()
            );
            space.set_kernel_table(kt, 0).ok()?;
            p.kernel_satp
                .store(space.kernel_satp().unwrap_or(0), Ordering::Release);
        }
        *p.kstack.borrow() = Some(ks);
    }
    *p.memory.borrow() = Some(space);
    Some(())
}

/// Frees a process's memory and marks its slot UNUSED. Its lock must be
/// held, and it must not be running.
#[doc(alias = "freeproc")]
fn free_proc(p: &Proc, g: &mut ProcInner) {
    hooks::proc_free(p);
    #[cfg(feature = "pgtbl")]
    p.kernel_satp.store(0, Ordering::Release);
    // The address space (and with it a kernel page table) before the
    // trapframe it maps and the kernel stack that table maps.
    drop(p.memory.borrow().take());
    drop(p.trapframe.borrow().take());
    #[cfg(feature = "pgtbl")]
    drop(p.kstack.borrow().take());
    p.name.set(b"");
    p.pid.store(0, Ordering::Relaxed);
    g.chan = 0;
    g.killed = false;
    g.xstate = 0;
    g.state = ProcState::Unused;
}

core::arch::global_asm!(
    r#"
    .section .rodata.initcode, "a"
    .balign 16
    .globl initcode_start, initcode_end
initcode_start:
    lla a0, 1f
    lla a1, 2f
    li a7, {exec}
    ecall
3:  li a0, -1
    li a7, {exit}
    ecall
    j 3b
1:  .string "/init"
    .balign 8
2:  .dword 1b - initcode_start
    .dword 0
initcode_end:
    "#,
    exec = const abi::syscall::nr::exec,
    exit = const abi::syscall::nr::exit,
);

unsafe extern "C" {
    static initcode_start: u8;
    static initcode_end: u8;
}

/// Creates the first process: it runs a few instructions that exec `/init`.
#[doc(alias = "userinit")]
pub(crate) fn user_init() {
    let (p, mut g) = alloc_proc().expect("userinit: no memory");
    INIT_PROC.store(p.index as i32, Ordering::Relaxed);
    // SAFETY: the two symbols delimit the initcode bytes in .rodata.
    let code = unsafe {
        let start = ptr::addr_of!(initcode_start);
        let len = ptr::addr_of!(initcode_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    };
    p.space()
        .user()
        .load_first(code)
        .expect("userinit: no memory");
    let mut tf = p.trapframe();
    tf.epc = 0;
    tf.sp = PGSIZE;
    drop(tf);
    p.name.set(b"initcode");
    p.files().cwd = Some(fs::iget(ROOTDEV, abi::fs::ROOTINO));
    g.state = ProcState::Runnable;
}

/// Grows or shrinks the current process's memory by `n` bytes.
#[doc(alias = "growproc")]
pub fn grow(n: isize) -> Result<(), ()> {
    with_current_memory(|mem| {
        let newsz = mem.size().checked_add_signed(n).ok_or(())?;
        if n > 0 {
            // The heap may not grow over a lab's mapping (mmap's areas).
            if hooks::reserved(mem.size()..newsz) {
                return Err(());
            }
            hooks::grow(mem, newsz)
                .unwrap_or_else(|| mem.grow(newsz, PTE_W))
                .map_err(|_| ())
        } else {
            mem.shrink(newsz);
            Ok(())
        }
    })
}

/// Creates a child that is a copy of the current process. Returns the
/// child's pid, or -1.
pub fn fork() -> i32 {
    let p = current();
    let Some((np, mut g)) = alloc_proc() else {
        return -1;
    };
    let copied = {
        let (mut space, mut child_space) = (p.space(), np.space());
        let (mut mem, mut child) = (space.user(), child_space.user());
        child.set_size(mem.size()).and_then(|()| {
            hooks::fork_memory(&mut mem, &mut child).unwrap_or_else(|| mem.copy_to(&mut child))
        })
    };
    if copied.is_err() {
        free_proc(np, &mut g);
        return -1;
    }
    {
        let mut tf = np.trapframe();
        *tf = *p.trapframe();
        // The child sees fork return 0.
        tf.a0 = 0;
    }
    {
        let (files, mut child_files) = (p.files(), np.files());
        for (dst, src) in child_files.ofile.iter_mut().zip(files.ofile.iter()) {
            *dst = src.clone();
        }
        child_files.cwd = files.cwd.clone();
    }
    np.name.set(p.name().as_str().as_bytes());
    hooks::fork(p, np);
    let pid = np.pid();
    drop(g);

    WAIT_LOCK.lock()[np.index] = Some(p.index);

    np.inner.lock().state = ProcState::Runnable;
    pid
}

/// Orphans `p`'s children: nobody waits for them any more. One that has
/// exited already is freed here; the others are freed by the scheduler as
/// soon as they have exited (see [`reap_orphan`]). xv6 gives them to init
/// instead, whose `wait` frees them when init next runs: under a fork
/// storm, zombies then hold process slots and memory for as long as init
/// waits for a hart, and `fork` fails or not depending on timing. Caller
/// holds WAIT_LOCK.
#[doc(alias = "reparent")]
fn orphan_children(p: &Proc, parents: &mut [Option<usize>; NPROC]) {
    for (child, parent) in PROCS.iter().zip(parents.iter_mut()) {
        if *parent == Some(p.index) {
            *parent = None;
            let mut g = child.inner.lock();
            // A zombie's lock is free only once it has left its kernel
            // stack for good (see `exit`).
            if g.state == ProcState::Zombie {
                free_proc(child, &mut g);
            }
        }
    }
}

/// Frees `p` if it is a zombie without a parent: called by the scheduler
/// right after `p` switched away for the last time.
fn reap_orphan(p: &Proc) {
    let parents = WAIT_LOCK.lock();
    let mut g = p.inner.lock();
    if g.state == ProcState::Zombie && parents[p.index].is_none() {
        free_proc(p, &mut g);
    }
}

/// Ends the current process. Its memory goes at once; the rest (process
/// slot, trapframe, page-table root) stays, as a ZOMBIE, until its parent
/// waits, or, with no parent, until it has left the hart.
pub fn exit(status: i32) -> ! {
    let p = current();
    if p.index as i32 == INIT_PROC.load(Ordering::Relaxed) {
        // Nothing is left to run the system: stop the machine the way a
        // shutdown would, with init's status.
        crate::println!("init exited with status {}: powering off", status);
        crate::shutdown(status);
    }
    // Before anything that could wait for memory (the parent's `wait`
    // copying the status out may need a page, and with lazy allocation
    // this process may be exiting because none was left).
    // A lab may still need the memory (mmap writes shared pages back).
    hooks::memory_ending(&mut p.space().user());
    p.space().release_user_pages();
    let cwd = {
        let mut files = p.files();
        for f in files.ofile.iter_mut() {
            drop(f.take());
        }
        files.cwd.take()
    };
    let op = log::begin_op();
    drop(cwd);
    log::end_op(op);

    let mut parents = WAIT_LOCK.lock();
    orphan_children(p, &mut parents);
    // Without a parent (it exited first) the scheduler frees this process.
    if let Some(parent) = parents[p.index] {
        wakeup(&PROCS[parent] as *const Proc as usize);
    }
    let mut g = p.inner.lock();
    g.xstate = status;
    g.state = ProcState::Zombie;
    drop(parents);
    sched(&mut g);
    panic!("zombie exit");
}

/// Waits for a child to exit; copies its status to `addr` if non-zero.
/// Returns its pid, or -1 with no children, when killed, or on a bad `addr`.
pub fn wait(addr: UserAddr) -> i32 {
    let p = current();
    let mut parents = WAIT_LOCK.lock();
    loop {
        let mut have_kids = false;
        for pp in PROCS.iter() {
            if parents[pp.index] != Some(p.index) {
                continue;
            }
            have_kids = true;
            let mut g = pp.inner.lock();
            if g.state == ProcState::Zombie {
                let pid = pp.pid();
                if addr.0 != 0 && crate::syscall::copy_out(addr, &g.xstate.to_le_bytes()).is_err() {
                    return -1;
                }
                free_proc(pp, &mut g);
                parents[pp.index] = None;
                return pid;
            }
        }
        if !have_kids || p.is_killed() {
            return -1;
        }
        parents = sleep(p as *const Proc as usize, parents);
    }
}

/// Bit i set: hart i is idle in `wfi` and wants an IPI when work appears.
static IDLE_HARTS: AtomicU64 = AtomicU64::new(0);

/// Each hart's scheduler: runs RUNNABLE processes round-robin; with none,
/// waits for an interrupt in `wfi`.
pub(crate) fn scheduler() -> ! {
    let me = 1u64 << crate::cpu::cpuid();
    intr_off();
    mycpu().proc.set(ptr::null());
    loop {
        // Take any pending interrupt, then look for work with interrupts
        // off so a wakeup cannot slip in between the search and `wfi`.
        intr_on();
        intr_off();
        IDLE_HARTS.fetch_or(me, Ordering::SeqCst);
        let mut found = false;
        for p in PROCS.iter() {
            let mut g = p.inner.lock();
            if g.state == ProcState::Runnable {
                IDLE_HARTS.fetch_and(!me, Ordering::SeqCst);
                g.state = ProcState::Running;
                run(p);
                found = true;
                if g.state == ProcState::Zombie {
                    drop(g);
                    reap_orphan(p);
                    continue;
                }
            }
            drop(g);
        }
        if !found {
            // A pending interrupt (device, timer, or the IPI `wakeup` sends
            // when it sees this hart idle) ends the wait even though
            // interrupts are off; the loop then takes it.
            wfi();
        }
        IDLE_HARTS.fetch_and(!me, Ordering::SeqCst);
    }
}

/// Switches to `p` (RUNNING, its lock held) until it gives the hart back.
fn run(p: &Proc) {
    let c = mycpu();
    c.proc.set(p);
    #[cfg(feature = "pgtbl")]
    let satp = switch_to_kernel_table(p);
    // SAFETY: both contexts are valid; the process's lock is held across
    // the switch and released by the process (and taken again before it
    // switches back).
    unsafe { swtch(c.context.get(), p.context.get()) };
    #[cfg(feature = "pgtbl")]
    if satp {
        vm::kvm_init_hart();
    }
    mycpu().proc.set(ptr::null());
}

/// Loads `p`'s kernel page table (pgtbl), if it has one. Without one, the
/// process runs on the kernel page table, where its slot's stack may have
/// been mapped to other pages when this hart last ran there: flush those.
#[cfg(feature = "pgtbl")]
fn switch_to_kernel_table(p: &Proc) -> bool {
    let satp = p.kernel_satp.load(Ordering::Acquire);
    if satp == 0 {
        for va in p.kstack().step_by(PGSIZE) {
            crate::riscv::sfence_vma_page(va);
        }
        return false;
    }
    // SAFETY: the table maps the whole kernel and this process's stack
    // (checked when it was made), and lives until the process is freed,
    // which cannot happen while we hold its lock; we switch back before
    // releasing that.
    unsafe { crate::riscv::w_satp(satp) };
    crate::riscv::sfence_vma();
    true
}

/// Switches to this hart's scheduler. The caller holds exactly the current
/// process's lock and has changed its state from RUNNING.
fn sched(g: &mut SpinLockGuard<'_, ProcInner>) {
    let p = current();
    assert!(p.inner.holding(), "sched: not holding p->lock");
    assert!(crate::cpu::noff() == 1, "sched: locks held");
    assert!(g.state != ProcState::Running, "sched: running");
    assert!(!intr_get(), "sched: interruptible");
    let intena = mycpu().intena.get();
    // SAFETY: switches to the scheduler's context on this hart; it returns
    // here when a scheduler (maybe on another hart) picks this process.
    unsafe { swtch(p.context.get(), mycpu().context.get()) };
    mycpu().intena.set(intena);
}

/// Gives up the CPU for one scheduling round.
pub fn yield_cpu() {
    let p = current();
    let mut g = p.inner.lock();
    g.state = ProcState::Runnable;
    sched(&mut g);
}

static FIRST: AtomicBool = AtomicBool::new(true);

/// Where a new process first runs in the kernel (from the scheduler,
/// holding its lock); returns to user space.
extern "C" fn forkret() -> ! {
    // SAFETY: the scheduler took this lock for us and will not release it.
    unsafe { current().inner.force_unlock() };
    if FIRST.swap(false, Ordering::SeqCst) {
        // File system setup sleeps on disk I/O, so it runs in a process.
        fs::init(ROOTDEV);
    }
    trap::usertrapret()
}

/// Releases `guard`'s lock and sleeps on `chan`; takes the lock again
/// before returning.
pub fn sleep<'a, T>(chan: usize, guard: SpinLockGuard<'a, T>) -> SpinLockGuard<'a, T> {
    let p = current();
    let lock = guard.lock_ref();
    // Holding p's lock while dropping the condition lock means no wakeup
    // (which takes p's lock) can be missed.
    let mut g = p.inner.lock();
    // Published while the condition's lock is held: a waker changes the
    // condition under that lock, so it sees this when it looks.
    p.sleeping_on.store(chan, Ordering::SeqCst);
    drop(guard);
    g.chan = chan;
    g.state = ProcState::Sleeping;
    sched(&mut g);
    g.chan = 0;
    p.sleeping_on.store(0, Ordering::Relaxed);
    drop(g);
    lock.lock()
}

/// Wakes every process sleeping on `chan`. Call without any process lock.
pub fn wakeup(chan: usize) {
    let me = myproc();
    let mut woke = false;
    for p in PROCS.iter() {
        // Not sleeping on `chan`, or not yet: see `sleep`. Under QEMU the
        // locks skipped here were most of the time a disk request took.
        if me.is_some_and(|m| ptr::eq(m, p)) || p.sleeping_on.load(Ordering::SeqCst) != chan {
            continue;
        }
        let mut g = p.inner.lock();
        if g.state == ProcState::Sleeping && g.chan == chan {
            g.state = ProcState::Runnable;
            woke = true;
        }
    }
    if woke {
        kick_idle_hart();
    }
}

/// If a hart sleeps in the scheduler's `wfi`, interrupts it so it picks up
/// the newly runnable process now rather than at its next timer tick.
fn kick_idle_hart() {
    // An interrupt taken by an idle hart: that hart's scheduler looks for
    // work as soon as the handler returns, so nobody else needs waking.
    push_off();
    let idle_here = mycpu().proc.get().is_null();
    pop_off();
    if idle_here {
        return;
    }
    let idle = IDLE_HARTS.load(Ordering::SeqCst);
    if idle != 0 {
        crate::start::send_ipi(idle.trailing_zeros() as usize);
    }
}

/// Kills process `pid`: it exits when it next returns to user space (or
/// wakes from an interruptible sleep). Init cannot be killed.
pub fn kill(pid: i32) -> i32 {
    for p in PROCS.iter() {
        let mut g = p.inner.lock();
        if p.pid() == pid && g.state != ProcState::Unused {
            if p.index as i32 == INIT_PROC.load(Ordering::Relaxed) {
                return -1;
            }
            g.killed = true;
            if g.state == ProcState::Sleeping {
                g.state = ProcState::Runnable;
                drop(g);
                kick_idle_hart();
            }
            return 0;
        }
    }
    -1
}

/// Sets the current process's name (the last part of what it exec'd).
pub(crate) fn set_name(p: &Proc, name: &[u8]) {
    p.name.set(name);
}

/// Prints the process list (console ^P). Waits for no lock, so it works
/// on a wedged machine: a process whose lock is held (by another hart, or
/// by the code this hart interrupted) is shown as `locked`, not read.
#[doc(alias = "procdump")]
pub fn dump() {
    crate::println!();
    for p in PROCS.iter() {
        let Some(inner) = p.inner.try_lock() else {
            // (A slot being allocated or freed has no pid.)
            if p.pid() != 0 {
                crate::println!("{} locked {}", p.pid(), p.name());
            }
            continue;
        };
        let state = inner.state;
        drop(inner);
        let s = match state {
            ProcState::Unused => continue,
            ProcState::Used => "used",
            ProcState::Sleeping => "sleep ",
            ProcState::Runnable => "runble",
            ProcState::Running => "run   ",
            ProcState::Zombie => "zombie",
        };
        crate::println!("{} {} {}", p.pid(), s, p.name());
    }
}

/// Per-process state of a lab, one slot per process-table entry. Each slot
/// remembers whose it is (by pid), so a process always starts from the
/// initial value: state never leaks from an exited process to the next one
/// in its slot. State that owns something (pages, say) is dropped when the
/// slot's next process first uses it, or at once by [`PerProc::take`] from
/// the lab's `proc_free` hook.
pub struct PerProc<T> {
    init: fn() -> T,
    slots: SpinLock<[Option<(i32, T)>; NPROC]>,
}

impl<T: Send> PerProc<T> {
    /// Per-process state that starts as `init()` in every process.
    pub const fn new(init: fn() -> T) -> PerProc<T> {
        PerProc {
            init,
            slots: SpinLock::new("perproc", [const { None }; NPROC]),
        }
    }

    /// Runs `f` on `p`'s state (with the table's spinlock held: `f` must
    /// not sleep or use this table again).
    pub fn with<R>(&self, p: &Proc, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slots = self.slots.lock();
        let slot = &mut slots[p.index];
        if slot.as_ref().is_none_or(|(pid, _)| *pid != p.pid()) {
            *slot = Some((p.pid(), (self.init)()));
        }
        let (_, state) = slot.as_mut().expect("just filled");
        f(state)
    }

    /// Takes `p`'s state out (the next use starts from `init()` again).
    pub fn take(&self, p: &Proc) -> Option<T> {
        let mut slots = self.slots.lock();
        let slot = &mut slots[p.index];
        match slot {
            Some((pid, _)) if *pid == p.pid() => slot.take().map(|(_, t)| t),
            _ => None,
        }
    }
}

core::arch::global_asm!(
    r#"
    .section .text
    .globl swtch
    .balign 4
# swtch(old: *mut Context, new: *const Context): saves the callee-saved
# registers in old, loads them from new, and returns on new's stack.
swtch:
    sd ra, 0(a0)
    sd sp, 8(a0)
    sd s0, 16(a0)
    sd s1, 24(a0)
    sd s2, 32(a0)
    sd s3, 40(a0)
    sd s4, 48(a0)
    sd s5, 56(a0)
    sd s6, 64(a0)
    sd s7, 72(a0)
    sd s8, 80(a0)
    sd s9, 88(a0)
    sd s10, 96(a0)
    sd s11, 104(a0)
    ld ra, 0(a1)
    ld sp, 8(a1)
    ld s0, 16(a1)
    ld s1, 24(a1)
    ld s2, 32(a1)
    ld s3, 40(a1)
    ld s4, 48(a1)
    ld s5, 56(a1)
    ld s6, 64(a1)
    ld s7, 72(a1)
    ld s8, 80(a1)
    ld s9, 88(a1)
    ld s10, 96(a1)
    ld s11, 104(a1)
    ret
    "#
);

unsafe extern "C" {
    fn swtch(old: *mut Context, new: *const Context);
}
