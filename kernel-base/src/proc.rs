//! Processes: the process table, fork/exit/wait/kill, the scheduler, and
//! sleep/wakeup.
//!
//! Locking: `Proc::inner` (xv6's `p->lock`) guards the state, wait channel,
//! killed flag and exit status. `WAIT_LOCK` guards every `parent` field and
//! is taken before any process lock. Everything in `ProcData` is private to
//! the process while it exists, so only the process itself touches it (or
//! whoever holds its lock while it is UNUSED or a ZOMBIE).

use crate::cpu::{mycpu, pop_off, push_off};
use crate::file::File;
use crate::fs::{self, Inode};
use crate::kalloc;
use crate::log;
use crate::riscv::{intr_get, intr_off, intr_on, wfi};
use crate::spinlock::{SpinLock, SpinLockGuard};
use crate::trap;
use crate::vm::{self, PTE_R, PTE_W, PTE_X, PageTable, PhysAddr, UserAddr, VirtAddr};
use abi::memlayout::{PGSIZE, TRAMPOLINE, TRAPFRAME};
use abi::param::{NOFILE, NPROC, ROOTDEV};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// Pages of each process's kernel stack (Rust frames are larger than C's).
pub const KSTACK_PAGES: usize = 4;
pub const KSTACK_SIZE: usize = KSTACK_PAGES * PGSIZE;

/// Virtual address of process slot `i`'s kernel stack: below the
/// trampoline, each followed by an unmapped guard page.
pub const fn kstack_va(i: usize) -> usize {
    TRAMPOLINE - (i + 1) * (KSTACK_PAGES + 1) * PGSIZE
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
pub struct ProcInner {
    pub state: ProcState,
    /// What a SLEEPING process waits for.
    pub chan: usize,
    pub killed: bool,
    /// Exit status for the parent's `wait`.
    pub xstate: i32,
}

/// Fields private to the process.
pub struct ProcData {
    /// Virtual address of the bottom of the kernel stack.
    pub kstack: usize,
    /// Bytes of user memory.
    pub sz: usize,
    pub pagetable: Option<PageTable>,
    /// Kernel pointer to the trapframe page (null while unused).
    pub trapframe: *mut TrapFrame,
    /// `swtch` here to run the process.
    pub context: Context,
    pub ofile: [Option<File>; NOFILE],
    pub cwd: Option<Inode>,
    /// For debugging (`^P`) and messages.
    pub name: [u8; 16],
}

pub struct Proc {
    pub inner: SpinLock<ProcInner>,
    pid: AtomicI32,
    /// Guarded by `WAIT_LOCK`.
    parent: UnsafeCell<*const Proc>,
    data: UnsafeCell<ProcData>,
    /// Slot number in the process table.
    index: usize,
}

// SAFETY: `inner` is a lock, `parent` is guarded by WAIT_LOCK and `data`
// is touched only by its owner, as the module comment explains.
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
            parent: UnsafeCell::new(ptr::null()),
            data: UnsafeCell::new(ProcData {
                kstack: 0,
                sz: 0,
                pagetable: None,
                trapframe: ptr::null_mut(),
                context: Context::ZERO,
                ofile: [const { None }; NOFILE],
                cwd: None,
                name: [0; 16],
            }),
            index,
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Slot number in the process table (0..NPROC), for per-process tables.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The process's private data. Only the process itself may call this
    /// while it runs; the scheduler, fork and wait use it while holding the
    /// process's lock in states where the process cannot run.
    #[allow(clippy::mut_from_ref)]
    pub fn data(&self) -> &mut ProcData {
        // SAFETY: see the rule above; it is what makes the access exclusive.
        unsafe { &mut *self.data.get() }
    }

    /// The process's trapframe.
    #[allow(clippy::mut_from_ref)]
    pub fn trapframe(&self) -> &mut TrapFrame {
        // SAFETY: a live process always has a trapframe page, private to it.
        unsafe { &mut *self.data().trapframe }
    }

    /// The process's name, for messages.
    pub fn name(&self) -> &str {
        let n = &self.data().name;
        let len = n.iter().position(|&c| c == 0).unwrap_or(n.len());
        core::str::from_utf8(&n[..len]).unwrap_or("?")
    }

    #[allow(clippy::mut_from_ref)]
    fn parent<'a>(&self, _wait_lock: &'a SpinLockGuard<'_, ()>) -> &'a mut *const Proc {
        // SAFETY: the caller holds WAIT_LOCK, which guards every parent field.
        unsafe { &mut *self.parent.get() }
    }

    pub fn is_killed(&self) -> bool {
        self.inner.lock().killed
    }

    pub fn set_killed(&self) {
        self.inner.lock().killed = true;
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
static WAIT_LOCK: SpinLock<()> = SpinLock::new("wait_lock", ());
static INIT_PROC: AtomicI32 = AtomicI32::new(-1);

/// The process running on this hart, if any.
pub fn myproc() -> Option<&'static Proc> {
    push_off();
    let p = mycpu().proc;
    pop_off();
    // SAFETY: `proc` is null or points into the static PROCS table.
    unsafe { p.as_ref() }
}

/// The current process; system calls and traps from user space have one.
pub fn current() -> &'static Proc {
    myproc().expect("no current process")
}

/// Allocates and maps every process's kernel stack.
pub fn init() {
    let kpt = vm::kernel_pagetable();
    for p in PROCS.iter() {
        let va = kstack_va(p.index);
        for i in 0..KSTACK_PAGES {
            let pa = kalloc::alloc().expect("procinit: out of memory");
            kpt.map(VirtAddr(va + i * PGSIZE), PGSIZE, pa, PTE_R | PTE_W)
                .expect("procinit: out of memory");
        }
        p.data().kstack = va;
    }
}

/// Finds an UNUSED slot and sets it up to run in the kernel: pid,
/// trapframe, page table, and a context that starts in `forkret`.
/// Returns it with its lock held, or `None` if the table or memory is full.
fn alloc_proc() -> Option<(&'static Proc, SpinLockGuard<'static, ProcInner>)> {
    for p in PROCS.iter() {
        let mut g = p.inner.lock();
        if g.state != ProcState::Unused {
            continue;
        }
        p.pid
            .store(NEXT_PID.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        g.state = ProcState::Used;
        g.killed = false;
        g.xstate = 0;
        let d = p.data();
        match kalloc::alloc() {
            Some(page) => d.trapframe = page.as_mut_ptr(),
            None => {
                free_proc(p, &mut g);
                return None;
            }
        }
        d.pagetable = new_user_pagetable(p);
        if d.pagetable.is_none() {
            free_proc(p, &mut g);
            return None;
        }
        d.context = Context::ZERO;
        d.context.ra = forkret as *const () as usize;
        d.context.sp = d.kstack + KSTACK_SIZE;
        return Some((p, g));
    }
    None
}

/// Frees a process's memory and marks its slot UNUSED. Its lock must be held.
fn free_proc(p: &Proc, g: &mut ProcInner) {
    let d = p.data();
    if !d.trapframe.is_null() {
        // SAFETY: the trapframe page belonged to this process alone.
        unsafe { kalloc::free(PhysAddr(d.trapframe as usize)) };
        d.trapframe = ptr::null_mut();
    }
    if let Some(pt) = d.pagetable.take() {
        proc_free_pagetable(pt, d.sz);
    }
    d.sz = 0;
    d.name = [0; 16];
    p.pid.store(0, Ordering::Relaxed);
    g.chan = 0;
    g.killed = false;
    g.xstate = 0;
    g.state = ProcState::Unused;
}

/// A user page table with only the trampoline and the trapframe mapped.
pub fn new_user_pagetable(p: &Proc) -> Option<PageTable> {
    let pt = PageTable::new()?;
    let tf = PhysAddr(p.data().trapframe as usize);
    let ok = pt
        .map(
            VirtAddr(TRAMPOLINE),
            PGSIZE,
            vm::trampoline_pa(),
            PTE_R | PTE_X,
        )
        .is_ok()
        && pt
            .map(VirtAddr(TRAPFRAME), PGSIZE, tf, PTE_R | PTE_W)
            .is_ok();
    if !ok {
        pt.unmap(VirtAddr(TRAMPOLINE), 1, false);
        pt.free_user(0);
        return None;
    }
    Some(pt)
}

/// Frees a user page table and the `sz` bytes of memory it maps.
pub fn proc_free_pagetable(pt: PageTable, sz: usize) {
    pt.unmap(VirtAddr(TRAMPOLINE), 1, false);
    pt.unmap(VirtAddr(TRAPFRAME), 1, false);
    pt.free_user(sz);
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
pub fn user_init() {
    let (p, mut g) = alloc_proc().expect("userinit: no memory");
    INIT_PROC.store(p.index as i32, Ordering::Relaxed);
    // SAFETY: the two symbols delimit the initcode bytes in .rodata.
    let code = unsafe {
        let start = ptr::addr_of!(initcode_start);
        let len = ptr::addr_of!(initcode_end) as usize - start as usize;
        core::slice::from_raw_parts(start, len)
    };
    let d = p.data();
    let pt = d.pagetable.expect("userinit: no page table");
    pt.load_first(code).expect("userinit: no memory");
    d.sz = PGSIZE;
    let tf = p.trapframe();
    tf.epc = 0;
    tf.sp = PGSIZE;
    d.name[..8].copy_from_slice(b"initcode");
    d.cwd = Some(fs::iget(ROOTDEV, abi::fs::ROOTINO));
    g.state = ProcState::Runnable;
}

/// Grows or shrinks the current process's memory by `n` bytes.
pub fn grow(n: isize) -> Result<(), ()> {
    let p = current();
    let d = p.data();
    let pt = d.pagetable.ok_or(())?;
    let sz = d.sz;
    let newsz = sz.checked_add_signed(n).ok_or(())?;
    d.sz = if n > 0 {
        pt.grow(sz, newsz, PTE_W).map_err(|_| ())?
    } else {
        pt.shrink(sz, newsz)
    };
    Ok(())
}

/// Creates a child that is a copy of the current process. Returns the
/// child's pid, or -1.
pub fn fork() -> i32 {
    let p = current();
    let Some((np, mut g)) = alloc_proc() else {
        return -1;
    };
    let (d, nd) = (p.data(), np.data());
    let (pt, npt) = (d.pagetable.expect("fork"), nd.pagetable.expect("fork"));
    if pt.copy_to(&npt, d.sz).is_err() {
        free_proc(np, &mut g);
        return -1;
    }
    nd.sz = d.sz;
    *np.trapframe() = *p.trapframe();
    // The child sees fork return 0.
    np.trapframe().a0 = 0;
    for (dst, src) in nd.ofile.iter_mut().zip(d.ofile.iter()) {
        *dst = src.clone();
    }
    nd.cwd = d.cwd.clone();
    nd.name = d.name;
    crate::hooks::proc_fork(p, np);
    let pid = np.pid();
    drop(g);

    let wl = WAIT_LOCK.lock();
    *np.parent(&wl) = p;
    drop(wl);

    np.inner.lock().state = ProcState::Runnable;
    pid
}

/// Gives `p`'s children to init. Caller holds WAIT_LOCK.
fn reparent(p: &Proc, wl: &SpinLockGuard<'_, ()>) {
    let init = &PROCS[INIT_PROC.load(Ordering::Relaxed) as usize];
    for pp in PROCS.iter() {
        let parent = pp.parent(wl);
        if ptr::eq(*parent, p) {
            *parent = init;
            wakeup(init as *const Proc as usize);
        }
    }
}

/// Ends the current process. It stays a ZOMBIE until its parent waits.
pub fn exit(status: i32) -> ! {
    let p = current();
    if p.index as i32 == INIT_PROC.load(Ordering::Relaxed) {
        // Nothing is left to run the system: stop the machine the way a
        // shutdown would, with init's status.
        crate::println!("init exited with status {}: powering off", status);
        crate::shutdown(status);
    }
    let d = p.data();
    for f in d.ofile.iter_mut() {
        drop(f.take());
    }
    log::begin_op();
    drop(d.cwd.take());
    log::end_op();

    let wl = WAIT_LOCK.lock();
    reparent(p, &wl);
    // SAFETY: a process other than init always has a parent in PROCS.
    let parent = unsafe { &**p.parent(&wl) };
    wakeup(parent as *const Proc as usize);
    let mut g = p.inner.lock();
    g.xstate = status;
    g.state = ProcState::Zombie;
    drop(wl);
    sched(&mut g);
    panic!("zombie exit");
}

/// Waits for a child to exit; copies its status to `addr` if non-zero.
/// Returns its pid, or -1 with no children, when killed, or on a bad `addr`.
pub fn wait(addr: UserAddr) -> i32 {
    let p = current();
    let mut wl = WAIT_LOCK.lock();
    loop {
        let mut have_kids = false;
        for pp in PROCS.iter() {
            if !ptr::eq(*pp.parent(&wl), p) {
                continue;
            }
            have_kids = true;
            let mut g = pp.inner.lock();
            if g.state == ProcState::Zombie {
                let pid = pp.pid();
                if addr.0 != 0 {
                    let pt = p.data().pagetable.expect("wait");
                    if pt.copy_out(addr, &g.xstate.to_le_bytes()).is_err() {
                        return -1;
                    }
                }
                free_proc(pp, &mut g);
                *pp.parent(&wl) = ptr::null();
                return pid;
            }
        }
        if !have_kids || p.is_killed() {
            return -1;
        }
        wl = sleep(p as *const Proc as usize, wl);
    }
}

/// Bit i set: hart i is idle in `wfi` and wants an IPI when work appears.
static IDLE_HARTS: AtomicU64 = AtomicU64::new(0);

/// Each hart's scheduler: runs RUNNABLE processes round-robin; with none,
/// waits for an interrupt in `wfi`.
pub fn scheduler() -> ! {
    let c = mycpu();
    let me = 1u64 << crate::cpu::cpuid();
    c.proc = ptr::null();
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
                c.proc = p;
                // SAFETY: both contexts are valid; the process's lock is
                // held across the switch and released by the process.
                unsafe { swtch(&mut c.context, &p.data().context) };
                c.proc = ptr::null();
                found = true;
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

/// Switches to this hart's scheduler. The caller holds exactly the current
/// process's lock and has changed its state from RUNNING.
fn sched(g: &mut SpinLockGuard<'_, ProcInner>) {
    let p = current();
    let c = mycpu();
    assert!(p.inner.holding(), "sched: not holding p->lock");
    assert!(c.noff == 1, "sched: locks held");
    assert!(g.state != ProcState::Running, "sched: running");
    assert!(!intr_get(), "sched: interruptible");
    let intena = c.intena;
    // SAFETY: switches to the scheduler's context on this hart; it returns
    // here when the scheduler picks this process again.
    unsafe { swtch(&mut p.data().context, &mycpu().context) };
    mycpu().intena = intena;
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
    drop(guard);
    g.chan = chan;
    g.state = ProcState::Sleeping;
    sched(&mut g);
    g.chan = 0;
    drop(g);
    lock.lock()
}

/// Wakes every process sleeping on `chan`. Call without any process lock.
pub fn wakeup(chan: usize) {
    let me = myproc();
    let mut woke = false;
    for p in PROCS.iter() {
        if me.is_some_and(|m| ptr::eq(m, p)) {
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
    let idle_here = mycpu().proc.is_null();
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

/// Copies to a user address of the current process, or to kernel memory.
pub fn either_copy_out(user_dst: bool, dst: usize, src: &[u8]) -> Result<(), vm::BadAddress> {
    if user_dst {
        let pt = current().data().pagetable.ok_or(vm::BadAddress)?;
        pt.copy_out(UserAddr(dst), src)
    } else {
        // SAFETY: kernel callers pass a buffer of at least `src.len()` bytes.
        unsafe { ptr::copy(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
}

/// Copies from a user address of the current process, or from kernel memory.
pub fn either_copy_in(dst: &mut [u8], user_src: bool, src: usize) -> Result<(), vm::BadAddress> {
    if user_src {
        let pt = current().data().pagetable.ok_or(vm::BadAddress)?;
        pt.copy_in(dst, UserAddr(src))
    } else {
        // SAFETY: kernel callers pass a buffer of at least `dst.len()` bytes.
        unsafe { ptr::copy(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }
}

/// Prints the process list (console ^P). Takes no locks, so it works on a
/// wedged machine.
pub fn dump() {
    crate::println!();
    for p in PROCS.iter() {
        // SAFETY: a racy read for debugging output only.
        let state = unsafe { p.inner.get_unchecked().state };
        if state == ProcState::Unused {
            continue;
        }
        let s = match state {
            ProcState::Unused => "unused",
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
/// initial value: state never leaks from an exited process to the next
/// one in its slot.
pub struct PerProc<T> {
    init: T,
    slots: SpinLock<[(i32, T); NPROC]>,
}

impl<T: Copy> PerProc<T> {
    pub const fn new(init: T) -> PerProc<T> {
        PerProc {
            init,
            slots: SpinLock::new("perproc", [(0, init); NPROC]),
        }
    }

    /// Runs `f` on `p`'s state (with the table's spinlock held: `f` must
    /// not sleep).
    pub fn with<R>(&self, p: &Proc, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slots = self.slots.lock();
        let slot = &mut slots[p.index];
        if slot.0 != p.pid() {
            *slot = (p.pid(), self.init);
        }
        f(&mut slot.1)
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
