//! The platform-level interrupt controller: routes the UART and disk
//! interrupts to hart 0's supervisor mode. (xv6 routes them to every
//! hart: then each interrupt wakes every idle hart, all but one of which
//! find nothing to claim, and under QEMU those wakeups cost more than the
//! disk request itself.)

use crate::cpu::cpuid;
use abi::memlayout::{PLIC, UART0_IRQ, VIRTIO0_IRQ};
use core::ptr::{read_volatile, write_volatile};

fn reg(off: usize) -> *mut u32 {
    (PLIC + off) as *mut u32
}

fn write(off: usize, v: u32) {
    // SAFETY: the PLIC's MMIO window is mapped in the kernel page table.
    unsafe { write_volatile(reg(off), v) }
}

fn read(off: usize) -> u32 {
    // SAFETY: as for `write`.
    unsafe { read_volatile(reg(off)) }
}

fn senable(hart: usize) -> usize {
    0x2080 + hart * 0x100
}

fn spriority(hart: usize) -> usize {
    0x20_1000 + hart * 0x2000
}

fn sclaim(hart: usize) -> usize {
    0x20_1004 + hart * 0x2000
}

/// Gives both devices a non-zero priority (zero means disabled).
pub(crate) fn init() {
    write(UART0_IRQ as usize * 4, 1);
    write(VIRTIO0_IRQ as usize * 4, 1);
    #[cfg(feature = "net")]
    write(crate::net::E1000_IRQ as usize * 4, 1);
}

/// Enables both devices for hart 0's S-mode, at any priority; none for
/// the others.
pub(crate) fn init_hart() {
    let hart = cpuid();
    let devices = (1 << UART0_IRQ) | (1 << VIRTIO0_IRQ);
    write(senable(hart), if hart == 0 { devices } else { 0 });
    // The e1000's interrupt (33) is in the second enable word.
    #[cfg(feature = "net")]
    write(
        senable(hart) + 4,
        if hart == 0 {
            1 << (crate::net::E1000_IRQ - 32)
        } else {
            0
        },
    );
    write(spriority(hart), 0);
}

/// The interrupt to handle, or 0.
pub(crate) fn claim() -> u32 {
    read(sclaim(cpuid()))
}

/// Tells the PLIC this hart is done with `irq`.
pub(crate) fn complete(irq: u32) {
    write(sclaim(cpuid()), irq);
}
