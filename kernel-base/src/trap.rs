//! Traps: from user space through the trampoline, from the kernel through
//! `kernelvec`, and device interrupts.

use crate::cpu::cpuid;
use crate::hooks;
use crate::proc::{
    self, KSTACK_SIZE, KSTACK_SLOT_SHIFT, KSTACKS_BASE, current, current_trapframe, kstack_slot,
    kstack_va, myproc,
};
use crate::riscv::{
    SSTATUS_SPIE, SSTATUS_SPP, intr_get, intr_off, intr_on, r_satp, r_scause, r_sepc, r_sip,
    r_sstatus, r_stval, r_time, r_tp, sfence_vma, w_satp, w_sepc, w_sip, w_sstatus, w_stimecmp,
    w_stvec,
};
use crate::spinlock::SpinLock;
use crate::vm::Access;
use crate::{plic, syscall, uart, virtio_disk};
use abi::memlayout::{
    KERNBASE, PHYSTOP, TIMER_INTERVAL, TRAMPOLINE, TRAPFRAME, UART0_IRQ, VIRTIO0_IRQ,
};
use abi::param::{NCPU, NPROC};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Timer ticks since boot (hart 0 counts them).
pub static TICKS: SpinLock<u64> = SpinLock::new("time", 0);

/// The channel `sleep` waits on for ticks.
pub fn ticks_chan() -> usize {
    &TICKS as *const SpinLock<u64> as usize
}

const SCAUSE_INTERRUPT: usize = 1 << 63;
const SCAUSE_SOFTWARE: usize = SCAUSE_INTERRUPT | 1;
const SCAUSE_TIMER: usize = SCAUSE_INTERRUPT | 5;
const SCAUSE_EXTERNAL: usize = SCAUSE_INTERRUPT | 9;
const SCAUSE_ECALL_U: usize = 8;
pub const SCAUSE_FETCH_PAGE_FAULT: usize = 12;
pub const SCAUSE_LOAD_PAGE_FAULT: usize = 13;
pub const SCAUSE_STORE_PAGE_FAULT: usize = 15;
const SIP_SSIP: usize = 1 << 1;

/// What `devintr` recognised.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Intr {
    Timer,
    Other,
    NotDevice,
}

core::arch::global_asm!(
    r#"
    .section trampsec, "ax"
    .balign 4096
    .globl trampoline, uservec, uservec_asid, userret
# The trampoline page is mapped at the same virtual address in the kernel
# and every user page table, so this code keeps running when satp changes.
#
# From user mode: sscratch holds nothing of ours, so borrow it to free a0,
# save every user register into the trapframe, then load the kernel stack,
# hart id, handler and page table from it and switch. `flush` drops the
# old table's cached translations (each sfence.vma costs QEMU a whole TLB
# flush); with ASIDs the user's translations are tagged apart from the
# kernel's and none is needed (see `usertrapret`).
.macro uservec_body flush
    csrw sscratch, a0
    li a0, {tf}
    sd ra, 40(a0)
    sd sp, 48(a0)
    sd gp, 56(a0)
    sd tp, 64(a0)
    sd t0, 72(a0)
    sd t1, 80(a0)
    sd t2, 88(a0)
    sd s0, 96(a0)
    sd s1, 104(a0)
    sd a1, 120(a0)
    sd a2, 128(a0)
    sd a3, 136(a0)
    sd a4, 144(a0)
    sd a5, 152(a0)
    sd a6, 160(a0)
    sd a7, 168(a0)
    sd s2, 176(a0)
    sd s3, 184(a0)
    sd s4, 192(a0)
    sd s5, 200(a0)
    sd s6, 208(a0)
    sd s7, 216(a0)
    sd s8, 224(a0)
    sd s9, 232(a0)
    sd s10, 240(a0)
    sd s11, 248(a0)
    sd t3, 256(a0)
    sd t4, 264(a0)
    sd t5, 272(a0)
    sd t6, 280(a0)
    csrr t0, sscratch
    sd t0, 112(a0)
    ld sp, 8(a0)
    ld tp, 32(a0)
    ld t0, 16(a0)
    ld t1, 0(a0)
    csrw satp, t1
.if \flush
    sfence.vma zero, zero
.endif
    jr t0
.endm

trampoline:
uservec:
    uservec_body 1
    .balign 4
uservec_asid:
    uservec_body 0

# userret(satp, flush): switch to the user page table (flushing the TLB
# unless `flush` is 0), restore the user's registers from the trapframe
# and return to user mode.
userret:
    csrw satp, a0
    beqz a1, 1f
    sfence.vma zero, zero
1:  li a0, {tf}
    ld ra, 40(a0)
    ld sp, 48(a0)
    ld gp, 56(a0)
    ld tp, 64(a0)
    ld t0, 72(a0)
    ld t1, 80(a0)
    ld t2, 88(a0)
    ld s0, 96(a0)
    ld s1, 104(a0)
    ld a1, 120(a0)
    ld a2, 128(a0)
    ld a3, 136(a0)
    ld a4, 144(a0)
    ld a5, 152(a0)
    ld a6, 160(a0)
    ld a7, 168(a0)
    ld s2, 176(a0)
    ld s3, 184(a0)
    ld s4, 192(a0)
    ld s5, 200(a0)
    ld s6, 208(a0)
    ld s7, 216(a0)
    ld s8, 224(a0)
    ld s9, 232(a0)
    ld s10, 240(a0)
    ld s11, 248(a0)
    ld t3, 256(a0)
    ld t4, 264(a0)
    ld t5, 272(a0)
    ld t6, 280(a0)
    ld a0, 112(a0)
    sret
    "#,
    tf = const TRAPFRAME,
);

/// Bytes of each hart's trap stack, where a kernel stack overflow is
/// reported from (the overflowed stack cannot take another frame).
const TRAP_STACK_SIZE: usize = 16 * 1024;
/// Bytes `kernelvec` pushes: a trap must find at least this much room
/// left on a process's kernel stack.
const KERNELVEC_FRAME: usize = 256;
const _: () = assert!(KSTACK_SIZE.is_multiple_of(KERNELVEC_FRAME) && KERNELVEC_FRAME == 1 << 8);

#[repr(C, align(16))]
struct TrapStacks([u8; TRAP_STACK_SIZE * NCPU]);

#[unsafe(no_mangle)]
static mut TRAP_STACKS: TrapStacks = TrapStacks([0; TRAP_STACK_SIZE * NCPU]);

core::arch::global_asm!(
    r#"
    .section .text
    .balign 4
    .globl kernelvec
# Traps in supervisor mode land here, on the current kernel stack. Save
# the registers a Rust call may clobber, handle, restore, return.
#
# First, whether that stack can take the frame: sp must lie in RAM (the
# boot and trap stacks) or in a process slot's kernel stack with room for
# the frame. Anything else is a stack overflow: report it from this hart's
# trap stack. Only t0 is free here (saved in sscratch, which the kernel
# does not otherwise use); u = sp - 1 - KSTACKS_BASE.
kernelvec:
    csrw sscratch, t0
    li t0, {kstacks_base} + 1
    bltu sp, t0, 2f
    sub t0, sp, t0
    srli t0, t0, {slot_shift}
    sltiu t0, t0, {nproc}
    beqz t0, 9f
    # Room below sp in its slot's stack, less one: (~u mod SLOT) counts the
    # bytes in use; in whole frames it must leave one frame free.
    li t0, {kstacks_base} + 1
    sub t0, sp, t0
    not t0, t0
    slli t0, t0, 64 - {slot_shift}
    srli t0, t0, 64 - {slot_shift} + 8
    sltiu t0, t0, ({kstack_size} - {frame}) >> 8
    beqz t0, 9f
    j 3f
2:  li t0, {kernbase}
    bltu sp, t0, 9f
    li t0, {phystop}
    bgtu sp, t0, 9f
3:  csrr t0, sscratch
    addi sp, sp, -{frame}
    sd ra, 0(sp)
    sd gp, 16(sp)
    sd t0, 32(sp)
    sd t1, 40(sp)
    sd t2, 48(sp)
    sd a0, 72(sp)
    sd a1, 80(sp)
    sd a2, 88(sp)
    sd a3, 96(sp)
    sd a4, 104(sp)
    sd a5, 112(sp)
    sd a6, 120(sp)
    sd a7, 128(sp)
    sd t3, 216(sp)
    sd t4, 224(sp)
    sd t5, 232(sp)
    sd t6, 240(sp)
    call kerneltrap
    ld ra, 0(sp)
    ld gp, 16(sp)
    ld t0, 32(sp)
    ld t1, 40(sp)
    ld t2, 48(sp)
    ld a0, 72(sp)
    ld a1, 80(sp)
    ld a2, 88(sp)
    ld a3, 96(sp)
    ld a4, 104(sp)
    ld a5, 112(sp)
    ld a6, 120(sp)
    ld a7, 128(sp)
    ld t3, 216(sp)
    ld t4, 224(sp)
    ld t5, 232(sp)
    ld t6, 240(sp)
    addi sp, sp, {frame}
    sret
    # Overflow: never returns. tp is this hart's id in the kernel.
9:  mv a0, sp
    li t0, {ncpu}
    bgeu tp, t0, 8f
    la sp, TRAP_STACKS
    addi t0, tp, 1
    slli t0, t0, {trap_stack_shift}
    add sp, sp, t0
    call kernel_stack_overflow
8:  wfi
    j 8b
    "#,
    kstacks_base = const KSTACKS_BASE,
    slot_shift = const KSTACK_SLOT_SHIFT,
    nproc = const NPROC,
    kstack_size = const KSTACK_SIZE,
    frame = const KERNELVEC_FRAME,
    kernbase = const KERNBASE,
    phystop = const PHYSTOP,
    ncpu = const NCPU,
    trap_stack_shift = const TRAP_STACK_SIZE.trailing_zeros(),
);

unsafe extern "C" {
    static trampoline: u8;
    static uservec: u8;
    static uservec_asid: u8;
    static userret: u8;
    fn kernelvec();
}

/// Address of a trampoline symbol in the trampoline page's mapping.
fn trampoline_va(sym: *const u8) -> usize {
    TRAMPOLINE + (sym as usize - ptr::addr_of!(trampoline) as usize)
}

/// Sends this hart's traps to `kernelvec` while in the kernel.
pub(crate) fn init_hart() {
    // SAFETY: kernelvec saves and restores everything it touches.
    unsafe { w_stvec(kernelvec as *const () as usize) };
}

/// Handles a trap from user space: a system call, a device interrupt or
/// an exception. Called from `uservec` on the process's kernel stack.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn usertrap() -> ! {
    assert!(
        r_sstatus() & SSTATUS_SPP == 0,
        "usertrap: not from user mode"
    );
    // Traps from now on are kernel traps.
    init_hart();
    let p = current();
    current_trapframe().epc = r_sepc();
    let scause = r_scause();
    let mut intr = Intr::NotDevice;
    if scause == SCAUSE_ECALL_U {
        if p.is_killed() {
            proc::exit(-1);
        }
        // Return to the instruction after the ecall.
        current_trapframe().epc += 4;
        // sepc, scause and sstatus are saved; interrupts are fine now.
        intr_on();
        syscall::syscall();
    } else {
        intr = devintr(scause);
        if intr == Intr::NotDevice && !page_fault_resolved(scause, r_stval()) {
            crate::println!(
                "usertrap(): unexpected scause {:#x} pid={}\n            sepc={:#x} stval={:#x}",
                scause,
                p.pid(),
                r_sepc(),
                r_stval()
            );
            p.set_killed();
        }
    }
    if p.is_killed() {
        proc::exit(-1);
    }
    if intr == Intr::Timer {
        hooks::user_timer_tick(p, &mut current_trapframe());
        proc::yield_cpu();
    }
    usertrapret()
}

/// Whether a page fault at `va` was one a lab's fault handler resolved
/// (lazy allocation, copy-on-write).
fn page_fault_resolved(scause: usize, va: usize) -> bool {
    let access = match scause {
        SCAUSE_FETCH_PAGE_FAULT => Access::Execute,
        SCAUSE_LOAD_PAGE_FAULT => Access::Read,
        SCAUSE_STORE_PAGE_FAULT => Access::Write,
        _ => return false,
    };
    proc::with_current_memory(|m| m.resolve(va, access).is_ok())
}

/// Returns to user space from the current process's kernel stack.
pub(crate) fn usertrapret() -> ! {
    let p = current();
    // Until sret, a trap would go to uservec with kernel state: none may come.
    intr_off();
    let hart = cpuid();
    let asids = asids_work(hart);
    let entry = if asids {
        ptr::addr_of!(uservec_asid)
    } else {
        ptr::addr_of!(uservec)
    };
    // SAFETY: uservec's mapped address handles user traps from here on.
    unsafe { w_stvec(trampoline_va(entry)) };
    let epc = {
        let mut tf = current_trapframe();
        tf.kernel_satp = r_satp();
        tf.kernel_sp = p.kstack().end;
        tf.kernel_trap = usertrap as *const () as usize;
        tf.kernel_hartid = r_tp();
        tf.epc
    };
    // sret goes to user mode with interrupts enabled, at the saved pc.
    // (After a system call sstatus is mostly right already: a CSR write
    // ends QEMU's translated block, so write only a change.)
    let old = r_sstatus();
    let sstatus = (old & !SSTATUS_SPP) | SSTATUS_SPIE;
    // SAFETY: these take effect only at the sret in userret.
    unsafe {
        if sstatus != old {
            w_sstatus(sstatus);
        }
        w_sepc(epc);
    }
    let satp = p.space().satp()
        | if asids {
            USER_ASID << SATP_ASID_SHIFT
        } else {
            0
        };
    let flush = !asids || user_tlb_stale(hart, satp);
    let va = trampoline_va(ptr::addr_of!(userret));
    // SAFETY: `va` is userret in the trampoline mapping, which stays mapped
    // across the page-table switch it performs.
    let userret_fn: extern "C" fn(usize, usize) -> ! = unsafe { core::mem::transmute(va) };
    userret_fn(satp, flush as usize)
}

// ---- TLB flushes on the user trap path ----
//
// Under QEMU each flush (a satp write, an sfence.vma) empties the whole
// TLB and jump cache, and a system call used to take four. With ASIDs the
// kernel's page tables use ASID 0 and every user page table USER_ASID, so
// the user's cached translations never serve the kernel: entering the
// kernel needs no flush. Returning to user space needs one only if this
// hart may hold translations of another user table, or of this one before
// a change: a different satp than it last flushed for, or page tables
// written (PT_EPOCH) since then.

/// The ASID of every user page table.
const USER_ASID: usize = 1;
const SATP_ASID_SHIFT: usize = 44;

const ASIDS_UNKNOWN: u8 = 0;
const ASIDS_YES: u8 = 1;
const ASIDS_NO: u8 = 2;
/// Per hart: whether its satp keeps USER_ASID (probed on first use).
static ASIDS: [AtomicU8; NCPU] = [const { AtomicU8::new(ASIDS_UNKNOWN) }; NCPU];
/// Per hart: PT_EPOCH when it last flushed on the way to user space, and
/// the user satp it then loaded.
static FLUSHED_EPOCH: [AtomicU64; NCPU] = [const { AtomicU64::new(u64::MAX) }; NCPU];
static FLUSHED_SATP: [AtomicUsize; NCPU] = [const { AtomicUsize::new(0) }; NCPU];

/// Whether this hart tags translations with ASIDs. Interrupts are off.
fn asids_work(hart: usize) -> bool {
    match ASIDS[hart].load(Ordering::Relaxed) {
        ASIDS_YES => true,
        ASIDS_NO => false,
        _ => {
            let satp = r_satp();
            // SAFETY: the same page table under another ASID, then back;
            // the flush drops whatever the probe cached.
            let kept = unsafe {
                w_satp(satp | USER_ASID << SATP_ASID_SHIFT);
                let kept = r_satp() >> SATP_ASID_SHIFT & 0xffff == USER_ASID;
                w_satp(satp);
                kept
            };
            sfence_vma();
            ASIDS[hart].store(if kept { ASIDS_YES } else { ASIDS_NO }, Ordering::Relaxed);
            kept
        }
    }
}

/// Whether this hart must flush its TLB before running user code on
/// `satp`; if so, notes that it will. Interrupts are off.
fn user_tlb_stale(hart: usize, satp: usize) -> bool {
    let epoch = crate::vm::PT_EPOCH.load(Ordering::Acquire);
    if FLUSHED_EPOCH[hart].load(Ordering::Relaxed) == epoch
        && FLUSHED_SATP[hart].load(Ordering::Relaxed) == satp
    {
        return false;
    }
    FLUSHED_EPOCH[hart].store(epoch, Ordering::Relaxed);
    FLUSHED_SATP[hart].store(satp, Ordering::Relaxed);
    true
}

/// Handles interrupts and exceptions in supervisor mode, on whatever
/// kernel stack was in use.
#[unsafe(no_mangle)]
extern "C" fn kerneltrap() {
    let sepc = r_sepc();
    let sstatus = r_sstatus();
    let scause = r_scause();
    assert!(
        sstatus & SSTATUS_SPP != 0,
        "kerneltrap: not from supervisor mode"
    );
    assert!(!intr_get(), "kerneltrap: interrupts enabled");
    let intr = devintr(scause);
    let mut resume = sepc;
    if intr == Intr::NotDevice {
        // A load that faulted in the direct copy from user memory (pgtbl)
        // makes that copy fail instead.
        match crate::vm::direct_copy_fixup(scause, sepc) {
            Some(fixup) => resume = fixup,
            None => panic!(
                "kerneltrap: scause {:#x} sepc {:#x} stval {:#x}",
                scause,
                sepc,
                r_stval()
            ),
        }
    }
    if intr == Intr::Timer && myproc().is_some() {
        proc::yield_cpu();
    }
    // yield may have taken other traps: restore what sret needs.
    // SAFETY: the values saved on entry to this trap (or the fixup of the
    // instruction that faulted, which returns an error to its caller).
    unsafe {
        w_sepc(resume);
        w_sstatus(sstatus);
    }
}

fn clock_intr() {
    if cpuid() == 0 {
        let mut t = TICKS.lock();
        *t += 1;
        drop(t);
        proc::wakeup(ticks_chan());
    }
    // SAFETY: schedules this hart's next timer interrupt.
    unsafe { w_stimecmp(r_time() + TIMER_INTERVAL as usize) };
}

/// Handles a device interrupt if `scause` is one.
fn devintr(scause: usize) -> Intr {
    match scause {
        SCAUSE_EXTERNAL => {
            let irq = plic::claim();
            match irq {
                UART0_IRQ => uart::intr(),
                VIRTIO0_IRQ => virtio_disk::intr(),
                #[cfg(feature = "net")]
                crate::net::E1000_IRQ => crate::net::intr(),
                0 => {}
                _ => crate::println!("unexpected interrupt irq={}", irq),
            }
            if irq != 0 {
                plic::complete(irq);
            }
            Intr::Other
        }
        SCAUSE_TIMER => {
            clock_intr();
            Intr::Timer
        }
        SCAUSE_SOFTWARE => {
            // Another hart's wakeup kicked this idle hart; the scheduler
            // loop rescans once this returns.
            // SAFETY: clears only the software-interrupt pending bit.
            unsafe { w_sip(r_sip() & !SIP_SSIP) };
            Intr::Other
        }
        _ => Intr::NotDevice,
    }
}

/// Reports a kernel stack overflow that `kernelvec` caught: `sp` is where
/// the stack pointer was, past the end of its stack. Runs on this hart's
/// trap stack with interrupts off.
#[unsafe(no_mangle)]
extern "C" fn kernel_stack_overflow(sp: usize) -> ! {
    let slot = sp.wrapping_sub(KSTACKS_BASE) >> KSTACK_SLOT_SHIFT;
    let p = myproc();
    let who = match p {
        Some(p) => Who(Some((p.pid(), p.name())), activity(p.index())),
        None => Who(None, Activity::default()),
    };
    if slot < NPROC {
        let lo = kstack_va(slot);
        panic!(
            "kernel stack overflow: {who}: sp {sp:#x} is below its {} KiB stack \
             {lo:#x}..{:#x} (sepc {:#x}, stval {:#x}); recursion too deep or a \
             local variable too large",
            KSTACK_SIZE / 1024,
            lo + KSTACK_SIZE,
            r_sepc(),
            r_stval()
        );
    }
    panic!(
        "kernel stack overflow: {who}: sp {sp:#x} is outside every kernel stack \
         (sepc {:#x}, stval {:#x})",
        r_sepc(),
        r_stval()
    );
}

/// The process a report is about, and what it was doing.
struct Who(Option<(i32, proc::ProcName)>, Activity);

impl core::fmt::Display for Who {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Who(p, what) = self;
        match p {
            Some((pid, name)) => write!(f, "pid {pid} ({name})")?,
            None => write!(f, "no process")?,
        }
        match what.syscall {
            Some(n) => match abi::syscall::name(n) {
                Some(s) => write!(f, " in system call {s}")?,
                None => write!(f, " in system call {n}")?,
            },
            None if p.is_some() => write!(f, " outside a system call")?,
            None => {}
        }
        if let Some(h) = what.hook {
            write!(f, ", in the labs' {h} hook")?;
        }
        Ok(())
    }
}

/// What a process's kernel thread was doing, for stack overflow reports.
#[derive(Clone, Copy, Default)]
struct Activity {
    syscall: Option<usize>,
    hook: Option<&'static str>,
}

const NO_SYSCALL: usize = usize::MAX;
/// Per process slot: the system call in progress, or [`NO_SYSCALL`].
static SYSCALL_NOW: [AtomicUsize; NPROC] = [const { AtomicUsize::new(NO_SYSCALL) }; NPROC];
/// Per process slot: the hook in progress, or null.
static HOOK_NOW: [AtomicPtr<&'static str>; NPROC] =
    [const { AtomicPtr::new(ptr::null_mut()) }; NPROC];

fn activity(slot: usize) -> Activity {
    let n = SYSCALL_NOW[slot].load(Ordering::Relaxed);
    let h = HOOK_NOW[slot].load(Ordering::Relaxed);
    Activity {
        syscall: (n != NO_SYSCALL).then_some(n),
        // SAFETY: non-null values are `&'static &'static str`s (hook_running).
        hook: unsafe { h.as_ref() }.copied(),
    }
}

/// Notes that the process on slot `slot` runs system call `num` until
/// [`syscall_done`].
#[inline(always)]
pub(crate) fn syscall_running(slot: usize, num: usize) {
    SYSCALL_NOW[slot].store(num, Ordering::Relaxed);
}

#[inline(always)]
pub(crate) fn syscall_done(slot: usize) {
    SYSCALL_NOW[slot].store(NO_SYSCALL, Ordering::Relaxed);
}

/// While it lives, notes that the current process runs the labs' hook
/// `name` (nothing when not on a process's kernel stack).
pub(crate) struct HookRunning(Option<(usize, *mut &'static str)>);

#[inline(always)]
pub(crate) fn hook_running(name: &'static &'static str) -> HookRunning {
    HookRunning(kstack_slot(crate::riscv::r_sp()).map(|i| {
        let new = name as *const &'static str as *mut &'static str;
        (i, HOOK_NOW[i].swap(new, Ordering::Relaxed))
    }))
}

impl Drop for HookRunning {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some((i, prev)) = self.0 {
            HOOK_NOW[i].store(prev, Ordering::Relaxed);
        }
    }
}
