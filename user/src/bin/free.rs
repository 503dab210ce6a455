#![no_std]
#![no_main]
//! free: how many pages of memory a process can get, found by growing the
//! heap one page at a time and touching each page, until sbrk fails or,
//! with lazy allocation (where sbrk does not fail), the process is killed
//! in the fault that finds no memory. A child does the growing and reports
//! its count through a pipe; the memory comes back when it is gone.

use user::*;

entry!(main);

const PAGE: i32 = 4096;

fn main(_args: Args) -> i32 {
    let mut fds = [0i32; 2];
    if pipe(&mut fds) < 0 {
        eprintln!("free: pipe failed");
        return 1;
    }
    let pid = fork();
    if pid < 0 {
        eprintln!("free: fork failed");
        return 1;
    }
    if pid == 0 {
        close(fds[0]);
        let mut pages: u64 = 0;
        loop {
            let p = sbrk(PAGE);
            if sbrk_failed(p) {
                exit(0);
            }
            // SAFETY: sbrk just made these PAGE bytes part of our memory.
            unsafe { p.write_volatile(1) };
            pages += 1;
            write(fds[1], &pages.to_le_bytes());
        }
    }
    close(fds[1]);
    let mut pages = 0u64;
    let mut b = [0u8; 8];
    while read(fds[0], &mut b) == 8 {
        pages = u64::from_le_bytes(b);
    }
    wait(None);
    println!("free: {} pages ({} KiB)", pages, pages * 4);
    0
}
