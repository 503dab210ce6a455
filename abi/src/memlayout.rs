//! The QEMU `virt` machine's memory map and the Sv39 address-space layout.

/// Bytes in a page.
pub const PGSIZE: usize = 4096;
/// log2(PGSIZE).
pub const PGSHIFT: usize = 12;

/// Where RAM starts and the kernel is linked.
pub const KERNBASE: usize = 0x8000_0000;
/// End of the RAM the kernel uses (128 MiB).
pub const PHYSTOP: usize = KERNBASE + 128 * 1024 * 1024;

/// SiFive test finisher: write [`FINISHER_PASS`] to power off.
pub const FINISHER: usize = 0x0010_0000;
pub const FINISHER_PASS: u32 = 0x5555;
pub const FINISHER_FAIL: u32 = 0x3333;
/// Core-local interruptor (timer and software interrupts).
pub const CLINT: usize = 0x0200_0000;
/// Platform-level interrupt controller. The pgtbl lab mirrors user memory
/// below it in each process's kernel page table, so user memory there may
/// not go higher, and the kernel maps nothing else below it.
pub const PLIC: usize = 0x0c00_0000;
/// 16550 UART.
pub const UART0: usize = 0x1000_0000;
pub const UART0_IRQ: u32 = 10;
/// virtio-mmio block device.
pub const VIRTIO0: usize = 0x1000_1000;
pub const VIRTIO0_IRQ: u32 = 1;

/// One past the highest virtual address: one bit less than Sv39 allows,
/// so that no address needs sign extension.
pub const MAXVA: usize = 1 << (9 + 9 + 9 + 12 - 1);
/// The trampoline page, mapped at the top of every address space.
pub const TRAMPOLINE: usize = MAXVA - PGSIZE;
/// Each process's trapframe, just below the trampoline.
pub const TRAPFRAME: usize = TRAMPOLINE - PGSIZE;

/// Where the kernel maps the test finisher and the CLINT page it uses
/// (each hart's software-interrupt register): just above RAM, because
/// their physical addresses lie below PLIC, where the pgtbl lab puts user
/// memory in the kernel's address space.
pub const FINISHER_KVA: usize = PHYSTOP;
pub const CLINT_KVA: usize = PHYSTOP + PGSIZE;
const _: () = assert!(FINISHER_KVA >= PLIC && CLINT_KVA >= PLIC);

/// Ticks of the 10 MHz `time` CSR between timer interrupts (about 10 Hz).
pub const TIMER_INTERVAL: u64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_xv6() {
        assert_eq!(MAXVA, 0x40_0000_0000);
        assert_eq!(TRAMPOLINE, 0x3f_ffff_f000);
        assert_eq!(TRAPFRAME, 0x3f_ffff_e000);
        assert_eq!(PHYSTOP, 0x8800_0000);
        assert_eq!(1 << PGSHIFT, PGSIZE);
    }
}
