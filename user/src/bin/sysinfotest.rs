#![no_std]
#![no_main]
//! sysinfotest (sysinfo lab): checks the sysinfo system call's free memory
//! and process counts, and that a bad pointer is refused.

use abi::memlayout::PGSIZE;
use user::*;

entry!(main);

fn sinfo(info: &mut SysInfo) {
    if sysinfo(info) < 0 {
        println!("FAIL: sysinfo failed");
        exit(1);
    }
}

/// Grows the heap until sbrk fails, checks that sysinfo then reports no
/// free memory, gives the memory back and returns how many bytes it got.
fn countfree() -> u64 {
    let start = sbrk(0) as usize;
    let mut n: u64 = 0;
    while !sbrk_failed(sbrk(PGSIZE as i32)) {
        n += PGSIZE as u64;
    }
    let mut info = SysInfo::default();
    sinfo(&mut info);
    if info.freemem != 0 {
        println!(
            "FAIL: there is no free mem, but sysinfo.freemem={}",
            info.freemem
        );
        exit(1);
    }
    sbrk(-((sbrk(0) as usize - start) as i32));
    n
}

fn testmem() {
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
    let mut status = 0;
    wait(Some(&mut status));
    if status != 0 {
        exit(1);
    }
}

fn main(_args: Args) -> i32 {
    println!("sysinfotest: start");
    testcall();
    testmem();
    testproc();
    println!("sysinfotest: OK");
    0
}
