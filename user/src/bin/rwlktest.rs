#![no_std]
#![no_main]
//! rwlktest (lock lab, 2025 edition): the kernel's reader-writer spin lock
//! (the lab's policy) on every hart. NCPU children (default 3, the
//! grader's harts) call the `rwlktest` system call at once; the kernel
//! side checks mutual exclusion over ROUNDS reads and writes each (default
//! 20000), then writer priority against a stream of readers. Prints
//! `rwlktest: ROUNDS rounds`, a line for each fault seen, and
//! `rwlktest: K/NCPU CPUs succeeded`.
//!
//! `rwlktest [NCPU [ROUNDS]]`

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let mut numbers: Vec<i32> = Vec::new();
    for a in args.iter().skip(1) {
        match a.parse::<i32>() {
            Ok(n) if n > 0 && numbers.len() < 2 => numbers.push(n),
            _ => {
                eprintln!("usage: rwlktest [NCPU [ROUNDS]]");
                return 1;
            }
        }
    }
    let ncpu = numbers.first().copied().unwrap_or(3);
    let rounds = numbers.get(1).copied().unwrap_or(20_000);
    if ncpu as usize > abi::param::NCPU {
        eprintln!("rwlktest: at most {} CPUs", abi::param::NCPU);
        return 1;
    }
    println!("rwlktest: {} rounds", rounds);
    for _ in 0..ncpu {
        let pid = fork();
        if pid < 0 {
            println!("rwlktest: FAIL: fork failed");
            return 1;
        }
        if pid == 0 {
            let r = rwlktest(ncpu, rounds);
            match r {
                0 => {}
                1 => println!("rwlktest: FAIL: a writer was in beside a reader or a writer"),
                2 => println!(
                    "rwlktest: FAIL: a waiting writer was kept out by a stream of readers \
                     (readers must wait while a writer waits)"
                ),
                3 => println!("rwlktest: FAIL: timed out waiting for the other CPUs"),
                _ => println!("rwlktest: FAIL: the rwlktest system call failed ({})", r),
            }
            exit(if r == 0 { 0 } else { 1 });
        }
    }
    let mut ok = 0;
    for _ in 0..ncpu {
        let mut status = 0;
        if wait(Some(&mut status)) > 0 && status == 0 {
            ok += 1;
        }
    }
    println!("rwlktest: {}/{} CPUs succeeded", ok, ncpu);
    if ok == ncpu { 0 } else { 1 }
}
