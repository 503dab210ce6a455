#![no_std]
#![no_main]
//! sysinfotest (sysinfo lab): checks the sysinfo system call's free memory
//! and process counts, and that a bad pointer is refused. Works with lazy
//! allocation too (all labs in one kernel), where sbrk alone takes no page.

use abi::memlayout::PGSIZE;
use user::*;

entry!(main);

fn sinfo(info: &mut SysInfo) {
    if sysinfo(info) < 0 {
        println!("FAIL: sysinfo failed");
        exit(1);
    }
}

fn freemem() -> u64 {
    let mut info = SysInfo::default();
    sinfo(&mut info);
    info.freemem
}

/// Whether sbrk only reserves memory (the lazy lab): growing by a page
/// leaves free memory as it was.
fn sbrk_is_lazy() -> bool {
    let before = freemem();
    if sbrk_failed(sbrk(PGSIZE as i32)) {
        println!("sbrk failed");
        exit(1);
    }
    let after = freemem();
    sbrk(-(PGSIZE as i32));
    before == after
}

/// Grows the heap until sbrk fails, checks that sysinfo then reports no
/// free memory, gives the memory back and returns how many bytes it got.
fn countfree() -> u64 {
    let start = sbrk(0) as usize;
    let mut n: u64 = 0;
    while !sbrk_failed(sbrk(PGSIZE as i32)) {
        n += PGSIZE as u64;
    }
    let free = freemem();
    if free != 0 {
        println!("FAIL: there is no free mem, but sysinfo.freemem={}", free);
        exit(1);
    }
    sbrk(-((sbrk(0) as usize - start) as i32));
    n
}

/// With lazy allocation sbrk never runs out: a child grows and touches
/// page after page instead, reporting sysinfo's freemem before each, until
/// memory is gone (it stops, or is killed in the fault that finds none).
/// Checks that it did run memory down to what one more page needs (the
/// page and at most two page-table pages), and that every page came back.
fn exhaust_lazily() {
    let before = freemem();
    let mut fds = [0i32; 2];
    if pipe(&mut fds) < 0 {
        println!("FAIL: pipe failed");
        exit(1);
    }
    let pid = fork();
    if pid < 0 {
        println!("FAIL: fork failed");
        exit(1);
    }
    if pid == 0 {
        close(fds[0]);
        // sysinfo counts the free list, a page at a time: ask only near the
        // end, when the list is short (page-table pages make the estimate
        // high, by a page per 2 MiB or two).
        let mut left = before;
        loop {
            left = left.saturating_sub(PGSIZE as u64);
            if left < 1024 * PGSIZE as u64 {
                let free = freemem();
                write(fds[1], &free.to_le_bytes());
                if free == 0 {
                    exit(0);
                }
            }
            let p = sbrk(PGSIZE as i32);
            if sbrk_failed(p) {
                exit(0);
            }
            // SAFETY: p is the page sbrk just added to this process.
            unsafe { p.write_volatile(1) };
        }
    }
    close(fds[1]);
    let mut last = u64::MAX;
    let mut b = [0u8; 8];
    while read(fds[0], &mut b) == 8 {
        last = u64::from_le_bytes(b);
    }
    close(fds[0]);
    wait(None);
    if last >= 3 * PGSIZE as u64 {
        println!("FAIL: the child stopped with {} bytes still free", last);
        exit(1);
    }
    let after = freemem();
    if after != before {
        println!("FAIL: free mem {} (bytes) instead of {}", after, before);
        exit(1);
    }
}

fn testmem() {
    if sbrk_is_lazy() {
        return testmem_lazy();
    }
    let n = countfree();
    let mut info = SysInfo::default();
    sinfo(&mut info);
    if info.freemem != n {
        println!("FAIL: free mem {} (bytes) instead of {}", info.freemem, n);
        exit(1);
    }
    if sbrk_failed(sbrk(PGSIZE as i32)) {
        println!("sbrk failed");
        exit(1);
    }
    sinfo(&mut info);
    if info.freemem != n - PGSIZE as u64 {
        println!(
            "FAIL: free mem {} (bytes) instead of {}",
            info.freemem,
            n - PGSIZE as u64
        );
        exit(1);
    }
    if sbrk_failed(sbrk(-(PGSIZE as i32))) {
        println!("sbrk failed");
        exit(1);
    }
    sinfo(&mut info);
    if info.freemem != n {
        println!("FAIL: free mem {} (bytes) instead of {}", info.freemem, n);
        exit(1);
    }
}

/// testmem for lazy allocation: a page costs nothing until touched, and
/// exactly a page then (the heap's first page shares its page-table page
/// with the stack just below it).
fn testmem_lazy() {
    exhaust_lazily();
    let n = freemem();
    let p = sbrk(PGSIZE as i32);
    if sbrk_failed(p) {
        println!("sbrk failed");
        exit(1);
    }
    if freemem() != n {
        println!("FAIL: free mem {} (bytes) instead of {}", freemem(), n);
        exit(1);
    }
    // SAFETY: p is the page sbrk just added.
    unsafe { p.write_volatile(1) };
    if freemem() != n - PGSIZE as u64 {
        println!(
            "FAIL: free mem {} (bytes) instead of {}",
            freemem(),
            n - PGSIZE as u64
        );
        exit(1);
    }
    sbrk(-(PGSIZE as i32));
    if freemem() != n {
        println!("FAIL: free mem {} (bytes) instead of {}", freemem(), n);
        exit(1);
    }
}

fn testcall() {
    let mut info = SysInfo::default();
    if sysinfo(&mut info) < 0 {
        println!("FAIL: sysinfo failed");
        exit(1);
    }
    for bad in [0xeaeb_0b5b_0000_2f5e_usize, abi::memlayout::KERNBASE, 0] {
        // SAFETY: the kernel must refuse these addresses without writing.
        if unsafe { user::sys::sysinfo(bad as *mut SysInfo) } != -1 {
            println!("FAIL: sysinfo succeeded with bad argument {:#x}", bad);
            exit(1);
        }
    }
}

fn testproc() {
    let mut info = SysInfo::default();
    sinfo(&mut info);
    let nproc = info.nproc;
    let pid = fork();
    if pid < 0 {
        println!("sysinfotest: fork failed");
        exit(1);
    }
    if pid == 0 {
        sinfo(&mut info);
        if info.nproc != nproc + 1 {
            println!(
                "sysinfotest: FAIL nproc is {} instead of {}",
                info.nproc,
                nproc + 1
            );
            exit(1);
        }
        exit(0);
    }
    // A sentinel no child exits with, so a failed wait cannot pass.
    let mut status = i32::MIN;
    let waited = wait(Some(&mut status));
    if waited != pid {
        println!("sysinfotest: FAIL wait returned {waited}, not child {pid}");
        exit(1);
    }
    if status != 0 {
        exit(1);
    }
}

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    println!("sysinfotest: start");
    testcall();
    testmem();
    testproc();
    println!("sysinfotest: OK");
    0
}
