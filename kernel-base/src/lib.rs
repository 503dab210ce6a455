//! The base kernel: a complete xv6-equivalent kernel for RISC-V (QEMU
//! `virt`), written so that a student holding the xv6 book can find each
//! piece in the module of the same name.
//!
//! This crate is a library; the kernel binary (the `labs` crate) defines
//! `kmain`, where machine-mode boot code jumps, and calls [`main`].
#![no_std]
// Every failure becomes -1 at the system call boundary, so most internal
// errors carry no more information than that.
#![allow(clippy::result_unit_err)]

pub mod bio;
pub mod console;
pub mod cpu;
mod exclusive;
pub mod exec;
pub mod file;
pub mod fs;
pub mod hooks;
pub mod kalloc;
#[cfg(feature = "lockstat")]
pub mod lockstat;
pub mod log;
pub mod pipe;
pub mod plic;
pub mod printf;
pub mod proc;
pub mod riscv;
pub mod rwlock;
pub mod sleeplock;
pub mod spinlock;
pub mod start;
pub mod statistics;
pub mod syscall;
mod sysfile;
mod sysproc;
pub mod trap;
pub mod uart;
pub mod virtio_disk;
pub mod vm;

use core::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

/// Supervisor-mode start of every hart: hart 0 initialises the kernel and
/// creates the first process; the others wait for it, then set up their
/// own paging and interrupts. Every hart then runs its scheduler.
///
/// # Safety
/// Call once per hart, from the boot path (`kmain`, which machine-mode
/// `start` drops to), with nothing else of the kernel running on that
/// hart: a second call would initialise the allocator, page tables and
/// devices again under running processes.
pub unsafe fn main(labs: &'static &'static [&'static dyn hooks::Lab]) -> ! {
    if cpu::cpuid() == 0 {
        console::init();
        println!();
        println!("xv6 kernel is booting");
        println!();
        // The labs' policies first: the allocator and the buffer cache
        // start on them. Their devices need the console up.
        hooks::install(labs);
        kalloc::init();
        bio::init();
        vm::kvm_init();
        vm::kvm_init_hart();
        proc::init();
        trap::init_hart();
        plic::init();
        plic::init_hart();
        virtio_disk::init();
        proc::user_init();
        STARTED.store(true, Ordering::Release);
    } else {
        while !STARTED.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        vm::kvm_init_hart();
        trap::init_hart();
        plic::init_hart();
    }
    proc::scheduler()
}

/// Powers the machine off through QEMU's test finisher; QEMU exits with
/// `status` (0 for success).
pub fn shutdown(status: i32) -> ! {
    let code = if status == 0 {
        abi::memlayout::FINISHER_PASS
    } else {
        ((status as u32 & 0xffff) << 16) | abi::memlayout::FINISHER_FAIL
    };
    // SAFETY: the finisher is a single MMIO register (mapped by kvm_init);
    // writing it ends QEMU.
    unsafe { core::ptr::write_volatile(abi::memlayout::FINISHER_KVA as *mut u32, code) };
    loop {
        riscv::wfi();
    }
}
