//! Kernel printing and the panic handler.

use crate::cpu::cpuid;
use crate::spinlock::SpinLock;
use crate::uart;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Serialises whole `print!` calls (and console writes) so lines from
/// different harts do not interleave.
pub static PRINT_LOCK: SpinLock<()> = SpinLock::new("print", ());

/// Set once a hart panics; other harts then freeze on their next output.
pub static PANICKED: AtomicBool = AtomicBool::new(false);
static PANIC_HART: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Whether this hart is the one that panicked (it keeps printing).
pub fn panicking_here() -> bool {
    PANIC_HART.load(Ordering::Relaxed) == crate::riscv::r_tp()
}

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            uart::putc_sync(b);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    if panicking_here() {
        let _ = Uart.write_fmt(args);
        return;
    }
    let _g = PRINT_LOCK.lock();
    let _ = Uart.write_fmt(args);
}

/// Writes raw bytes to the console as one unit.
pub fn write_bytes(b: &[u8]) {
    let _g = PRINT_LOCK.lock();
    for &c in b {
        uart::putc_sync(c);
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::printf::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::printf::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::riscv::intr_off();
    let hart = cpuid();
    // Only the first panic prints; a second hart panicking meanwhile freezes.
    if PANICKED.swap(true, Ordering::SeqCst) && !panicking_here() {
        loop {
            crate::riscv::wfi();
        }
    }
    PANIC_HART.store(hart, Ordering::SeqCst);
    match info.location() {
        Some(l) => print!(
            "\n{}{} (hart {} at {}:{})\n",
            abi::console::PANIC,
            info.message(),
            hart,
            l.file(),
            l.line()
        ),
        None => print!(
            "\n{}{} (hart {})\n",
            abi::console::PANIC,
            info.message(),
            hart
        ),
    }
    crate::hooks::panic();
    loop {
        crate::riscv::wfi();
    }
}
