//! Boot: `_entry` gives each hart a stack, `start` configures machine mode
//! and drops to supervisor mode in `kmain`.
//!
//! Machine mode keeps one job after boot: forwarding inter-processor
//! interrupts (a CLINT software interrupt) to supervisor mode, because the
//! supervisor cannot raise one on another hart by itself.

use crate::riscv::*;
use abi::memlayout::{CLINT, CLINT_KVA, TIMER_INTERVAL};
use abi::param::NCPU;
use core::ptr::write_volatile;

/// Bytes of boot stack per hart (the scheduler runs on it later).
pub const BOOT_STACK_SIZE: usize = 16 * 1024;
const _: () = assert!(BOOT_STACK_SIZE == core::mem::align_of::<BootStacks>());

/// Aligned to its size, so a frame pointer rounds down to its stack's base.
#[repr(C, align(16384))]
struct BootStacks([u8; BOOT_STACK_SIZE * NCPU]);

#[unsafe(no_mangle)]
static mut BOOT_STACKS: BootStacks = BootStacks([0; BOOT_STACK_SIZE * NCPU]);

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _entry
# QEMU starts every hart here, in machine mode, with paging off.
_entry:
    csrr a1, mhartid
    li a2, {ncpu}
    bgeu a1, a2, 2f
    la sp, BOOT_STACKS
    addi a1, a1, 1
    slli a1, a1, {stack_shift}
    add sp, sp, a1
    call start
2:  wfi
    j 2b

# Machine-mode trap handler: the only expected trap is the CLINT software
# interrupt another hart sends through `send_ipi`. It clears that and
# raises a supervisor software interrupt instead.
    .balign 4
    .globl machine_vec
machine_vec:
    csrrw a0, mscratch, a0
    sd a1, 0(a0)
    sd a2, 8(a0)
    csrr a1, mhartid
    slli a1, a1, 2
    li a2, {clint}
    add a1, a1, a2
    sw zero, 0(a1)
    li a1, 2
    csrs mip, a1
    ld a1, 0(a0)
    ld a2, 8(a0)
    csrrw a0, mscratch, a0
    mret
    "#,
    ncpu = const NCPU,
    stack_shift = const BOOT_STACK_SIZE.trailing_zeros(),
    clint = const CLINT,
);

unsafe extern "C" {
    fn machine_vec();
    fn kmain() -> !;
}

/// Scratch space for `machine_vec`: two saved registers per hart.
#[unsafe(no_mangle)]
static mut MACHINE_SCRATCH: [[usize; 2]; NCPU] = [[0; 2]; NCPU];

#[unsafe(no_mangle)]
extern "C" fn start() -> ! {
    let hart = r_mhartid();
    // SAFETY: machine-mode setup of this hart before anything else runs
    // on it: each write configures how this hart traps and translates.
    unsafe {
        // mret goes to supervisor mode, at kmain (defined by the kernel binary).
        w_mstatus((r_mstatus() & !MSTATUS_MPP_MASK) | MSTATUS_MPP_S);
        w_mepc(kmain as *const () as usize);
        // Paging off until the kernel page table is ready.
        w_satp(0);
        // Supervisor mode handles every exception and interrupt it can.
        w_medeleg(0xffff);
        w_mideleg(0xffff);
        w_sie(r_sie() | IE_SEIE | IE_STIE | IE_SSIE);
        // Let supervisor and user mode access all of physical memory.
        w_pmpaddr0(0x3f_ffff_ffff_ffff);
        w_pmpcfg0(0xf);
        // Timer: Sstc lets supervisor mode program its own timer.
        w_mie(r_mie() | IE_STIE | IE_MSIE);
        w_menvcfg(r_menvcfg() | MENVCFG_STCE);
        w_mcounteren(r_mcounteren() | MCOUNTEREN_TM);
        // User programs may read `time` too (benchmarks time themselves).
        w_scounteren(SCOUNTEREN_TM);
        w_stimecmp(r_time() + TIMER_INTERVAL as usize);
        // IPIs arrive in machine mode; machine_vec passes them on.
        let scratch = core::ptr::addr_of_mut!(MACHINE_SCRATCH[hart]) as usize;
        w_mscratch(scratch);
        w_mtvec(machine_vec as *const () as usize);
        // cpuid() reads tp.
        w_tp(hart);
        core::arch::asm!("mret", options(noreturn));
    }
}

/// Interrupts `hart` (it gets a supervisor software interrupt).
pub(crate) fn send_ipi(hart: usize) {
    assert!(hart < NCPU, "send_ipi: no hart {}", hart);
    // SAFETY: `hart`'s msip register in the CLINT, which kvm_init maps at
    // CLINT_KVA in every kernel page table: writing 1 raises its machine
    // software interrupt, nothing else.
    unsafe { write_volatile((CLINT_KVA + 4 * hart) as *mut u32, 1) };
}
