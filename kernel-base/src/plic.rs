//! The platform-level interrupt controller: routes the UART and disk
//! interrupts to every hart's supervisor mode.

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
}

/// Enables both devices for this hart's S-mode, at any priority.
pub(crate) fn init_hart() {
    let hart = cpuid();
    write(senable(hart), (1 << UART0_IRQ) | (1 << VIRTIO0_IRQ));
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
