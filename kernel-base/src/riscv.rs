//! RISC-V privileged registers and instructions the kernel uses.

use core::arch::asm;

macro_rules! csr_read {
    ($(#[$m:meta])* $name:ident, $csr:literal) => {
        $(#[$m])*
        #[inline(always)]
        pub fn $name() -> usize {
            let x: usize;
            // SAFETY: reading a CSR has no side effects on memory.
            unsafe { asm!(concat!("csrr {}, ", $csr), out(reg) x, options(nomem, nostack)) };
            x
        }
    };
}

macro_rules! csr_write {
    ($(#[$m:meta])* $name:ident, $csr:literal) => {
        $(#[$m])*
        ///
        /// # Safety
        /// Changes how the hart traps, translates or is interrupted.
        #[inline(always)]
        pub unsafe fn $name(x: usize) {
            // SAFETY: the caller takes responsibility for the new setting.
            unsafe { asm!(concat!("csrw ", $csr, ", {}"), in(reg) x, options(nostack)) };
        }
    };
}

csr_read!(
    /// Which hart this is (M-mode only).
    r_mhartid, "mhartid"
);
csr_read!(r_mstatus, "mstatus");
csr_write!(w_mstatus, "mstatus");
csr_write!(w_mepc, "mepc");
csr_read!(r_sstatus, "sstatus");
csr_write!(w_sstatus, "sstatus");
csr_read!(r_sip, "sip");
csr_write!(w_sip, "sip");
csr_read!(r_sie, "sie");
csr_write!(w_sie, "sie");
csr_read!(r_mie, "mie");
csr_write!(w_mie, "mie");
csr_write!(w_medeleg, "medeleg");
csr_write!(w_mideleg, "mideleg");
csr_write!(w_mtvec, "mtvec");
csr_write!(w_mscratch, "mscratch");
csr_read!(r_stvec, "stvec");
csr_write!(w_stvec, "stvec");
csr_write!(w_pmpcfg0, "pmpcfg0");
csr_write!(w_pmpaddr0, "pmpaddr0");
csr_read!(r_satp, "satp");
csr_write!(w_satp, "satp");
csr_read!(r_scause, "scause");
csr_read!(r_stval, "stval");
csr_read!(r_sepc, "sepc");
csr_write!(w_sepc, "sepc");
csr_read!(r_mcounteren, "mcounteren");
csr_write!(w_mcounteren, "mcounteren");
csr_write!(w_scounteren, "scounteren");
csr_read!(r_menvcfg, "menvcfg");
csr_write!(w_menvcfg, "menvcfg");
csr_read!(
    /// The 10 MHz wall clock.
    r_time, "time"
);
csr_write!(
    /// Sstc: the supervisor timer interrupt fires when `time` reaches this.
    w_stimecmp, "stimecmp"
);

/// mstatus: previous privilege mode field.
pub const MSTATUS_MPP_MASK: usize = 3 << 11;
pub const MSTATUS_MPP_S: usize = 1 << 11;
/// sstatus bits.
pub const SSTATUS_SPP: usize = 1 << 8;
pub const SSTATUS_SPIE: usize = 1 << 5;
pub const SSTATUS_SIE: usize = 1 << 1;
/// Interrupt-enable / pending bits (sie/sip, mie/mip).
pub const IE_SSIE: usize = 1 << 1;
pub const IE_MSIE: usize = 1 << 3;
pub const IE_STIE: usize = 1 << 5;
pub const IE_SEIE: usize = 1 << 9;
/// menvcfg: let S-mode use stimecmp.
pub const MENVCFG_STCE: usize = 1 << 63;
/// mcounteren/scounteren: let the next mode down read `time`.
pub const MCOUNTEREN_TM: usize = 1 << 1;
pub const SCOUNTEREN_TM: usize = 1 << 1;

/// Sv39 in satp's MODE field.
pub const SATP_SV39: usize = 8 << 60;

/// The `satp` value that selects the page table rooted at `root_pa`.
pub const fn make_satp(root_pa: usize) -> usize {
    SATP_SV39 | (root_pa >> 12)
}

/// The hart id, kept in `tp` by `start` and the trap paths.
#[inline(always)]
pub fn r_tp() -> usize {
    let x: usize;
    // SAFETY: reads a register only.
    unsafe { asm!("mv {}, tp", out(reg) x, options(nomem, nostack)) };
    x
}

/// Stores the hart id in `tp`.
///
/// # Safety
/// `tp` must hold this hart's id whenever `cpuid()` is called.
#[inline(always)]
pub unsafe fn w_tp(x: usize) {
    // SAFETY: the caller passes this hart's id.
    unsafe { asm!("mv tp, {}", in(reg) x, options(nomem, nostack)) };
}

/// The frame pointer (s0) of the function this is written in (it is
/// always inlined).
#[inline(always)]
pub fn r_fp() -> usize {
    let x: usize;
    // SAFETY: reads a register only.
    unsafe { asm!("mv {}, s0", out(reg) x, options(nomem, nostack)) };
    x
}

/// The stack pointer where this is written (it is always inlined).
#[inline(always)]
pub fn r_sp() -> usize {
    let x: usize;
    // SAFETY: reads a register only.
    unsafe { asm!("mv {}, sp", out(reg) x, options(nomem, nostack)) };
    x
}

/// Enables device interrupts on this hart.
#[inline(always)]
pub fn intr_on() {
    // SAFETY: sets one bit of sstatus; the kernel is ready for interrupts
    // whenever it calls this.
    unsafe { asm!("csrs sstatus, {}", in(reg) SSTATUS_SIE, options(nostack)) };
}

/// Disables device interrupts on this hart.
#[inline(always)]
pub fn intr_off() {
    // SAFETY: masking interrupts is always safe.
    unsafe { asm!("csrc sstatus, {}", in(reg) SSTATUS_SIE, options(nostack)) };
}

/// Whether device interrupts are enabled.
#[inline(always)]
pub fn intr_get() -> bool {
    r_sstatus() & SSTATUS_SIE != 0
}

/// Flushes all TLB entries of this hart.
#[inline(always)]
pub fn sfence_vma() {
    // SAFETY: a TLB flush only makes translation more up to date.
    unsafe { asm!("sfence.vma zero, zero", options(nostack)) };
}

/// Flushes this hart's TLB entries for the page holding `va`.
#[inline(always)]
pub fn sfence_vma_page(va: usize) {
    // SAFETY: a TLB flush only makes translation more up to date.
    unsafe { asm!("sfence.vma {}, zero", in(reg) va, options(nostack)) };
}

/// Waits for an interrupt to become pending (it need not be enabled).
#[inline(always)]
pub fn wfi() {
    // SAFETY: wfi only pauses the hart.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}
