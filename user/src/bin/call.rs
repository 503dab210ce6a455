#![no_std]
#![no_main]
//! call: the traps lab's RISC-V assembly exercise (MIT's `call.c`). Nothing
//! here is graded: read its disassembly, `cargo xtask asm call`, and answer
//! the questions in handouts/lab-backtrace.md. It prints `12 13`, then a
//! line whose text depends on the machine's byte order.

use user::*;

entry!(main);

fn g(x: i32) -> i32 {
    x + 3
}

fn f(x: i32) -> i32 {
    g(x)
}

/// Kept a real call, with a name of its own, so that main's call shows
/// which registers carry arguments. (`no_mangle` keeps the compiler from
/// seeing every caller: it would otherwise fold the constants into it.)
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn show(a: i32, b: i32) {
    println!("{} {}", a, b);
}

fn main(_args: Args) -> i32 {
    show(f(8) + 1, 13);
    // The bytes of `i` as memory holds them, shown as text.
    let i: u32 = 0x0064_6c72;
    let bytes = i.to_ne_bytes();
    println!("H{:x} Wo{}", 57616, Show(&bytes[..3]));
    0
}
