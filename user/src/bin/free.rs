#![no_std]
#![no_main]
//! free: how many pages of memory a process can get, found by growing the
//! heap one page at a time until sbrk fails (the memory is returned at exit).

use user::*;

entry!(main);

const PAGE: i32 = 4096;

fn main(_args: Args) -> i32 {
    let mut pages: u64 = 0;
    loop {
        let p = sbrk(PAGE);
        if sbrk_failed(p) {
            break;
        }
        // Touch the page so a lazily allocating kernel really provides it.
        // SAFETY: sbrk just made these PAGE bytes part of our memory.
        unsafe { p.write_volatile(1) };
        pages += 1;
    }
    println!("free: {} pages ({} KiB)", pages, pages * 4);
    0
}
