//! The 16550 UART: polled output, interrupt-driven input.
//!
//! Output is polled rather than interrupt-driven: QEMU's UART accepts a
//! byte as soon as it is written, so waiting costs nothing and keeps the
//! console code small.

use abi::memlayout::UART0;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::Ordering;

const RHR: usize = 0; // receive holding register
const THR: usize = 0; // transmit holding register
const IER: usize = 1; // interrupt enable
const FCR: usize = 2; // FIFO control
const LCR: usize = 3; // line control
const LSR: usize = 5; // line status

const IER_RX_ENABLE: u8 = 1;
const FCR_FIFO_ENABLE_CLEAR: u8 = 0x07;
const LCR_EIGHT_BITS: u8 = 3;
const LCR_BAUD_LATCH: u8 = 0x80;
const LSR_RX_READY: u8 = 0x01;
const LSR_TX_IDLE: u8 = 0x20;

fn reg(r: usize) -> *mut u8 {
    (UART0 + r) as *mut u8
}

fn read_reg(r: usize) -> u8 {
    // SAFETY: UART0 is the 16550's MMIO window, mapped in every kernel
    // page table (and identity-mapped before paging is on).
    unsafe { read_volatile(reg(r)) }
}

fn write_reg(r: usize, v: u8) {
    // SAFETY: as for `read_reg`.
    unsafe { write_volatile(reg(r), v) }
}

pub(crate) fn init() {
    write_reg(IER, 0);
    write_reg(LCR, LCR_BAUD_LATCH);
    // 38.4K baud (divisor 3): irrelevant under QEMU, but a real 16550 wants it.
    write_reg(0, 3);
    write_reg(1, 0);
    write_reg(LCR, LCR_EIGHT_BITS);
    write_reg(FCR, FCR_FIFO_ENABLE_CLEAR);
    write_reg(IER, IER_RX_ENABLE);
}

/// Writes one byte, waiting until the transmitter takes it. After a panic
/// other harts stop here, so the panic message is the last thing printed.
pub fn putc_sync(c: u8) {
    while crate::printf::PANICKED.load(Ordering::Relaxed) && !crate::printf::panicking_here() {
        core::hint::spin_loop();
    }
    while read_reg(LSR) & LSR_TX_IDLE == 0 {
        core::hint::spin_loop();
    }
    write_reg(THR, c);
}

/// Handles a UART interrupt: passes every received byte to the console.
pub(crate) fn intr() {
    while read_reg(LSR) & LSR_RX_READY != 0 {
        crate::console::intr(read_reg(RHR));
    }
}
