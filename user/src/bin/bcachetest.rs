#![no_std]
#![no_main]
//! bcachetest (lock lab): the buffer cache under contention, in the
//! output of MIT's program.
//!
//! - test0: three children, each in a directory of its own, read a file of
//!   BLOCKS blocks (default 6) one byte at a time, checking every byte,
//!   PASSES (16) times. MIT's reads 10-block files once, but counts every
//!   spin, where our spinlock counts only races lost (see kernel-base's
//!   spinlock), so one pass on a busy host may show the base kernel's one
//!   lock under 500; and three files of at most 8 blocks, with their
//!   directories and inodes, fit in the cache's 30 buffers, so that the
//!   passes read cached blocks (recycling is test1's). The bcache locks' failed test-and-set total must grow by less
//!   than 500: `test0: OK`. And the bcache locks must have done the work:
//!   acquired at least once per byte read, so that a cache whose locks are
//!   named otherwise (whose contention the statistics do not show) fails
//!   rather than passes. Before the verdict:
//!   `test0: 3 files of BLOCKS blocks read`.
//! - test1: one child reads a file of BIG blocks (default 100, more than
//!   the cache holds, so buffers are recycled all the time) 100 times a
//!   block at a time, another a one-block file a byte at a time 2000
//!   times, both checking what they read: `test1 OK` (MIT's: no panic, no
//!   hang, and here also the right data).
//!
//! A statistics text that is missing or malformed is a FAIL (MIT's program
//! passes with none).
//!
//! `bcachetest [BLOCKS [BIG]] [test0|test1]...` runs the tests named
//! (default both).

use abi::fs::BSIZE;
use user::*;

entry!(main);

/// The byte at `off` of a file: differs from block to block and within
/// one, so a wrong block or offset reads wrong.
fn byte_at(off: usize) -> u8 {
    (off / BSIZE * 7 + off % BSIZE * 13 + off / (BSIZE * 251)) as u8
}

fn createfile(test: &str, name: &str, blocks: usize) -> bool {
    unlink(name);
    let fd = open(name, O_CREATE | O_RDWR);
    if fd < 0 {
        println!("{}: FAIL: cannot create {}", test, name);
        return false;
    }
    let mut buf = [0u8; BSIZE];
    for b in 0..blocks {
        for (i, c) in buf.iter_mut().enumerate() {
            *c = byte_at(b * BSIZE + i);
        }
        if write(fd, &buf) != BSIZE as i32 {
            println!("{}: FAIL: cannot write {}", test, name);
            close(fd);
            return false;
        }
    }
    close(fd);
    true
}

/// Reads `bytes` bytes of the file, `inc` at a time, checking each.
fn readfile(name: &str, bytes: usize, inc: usize) -> Result<(), &'static str> {
    let fd = open(name, O_RDONLY);
    if fd < 0 {
        return Err("cannot open the file");
    }
    let mut buf = [0u8; BSIZE];
    let mut off = 0;
    while off < bytes {
        let n = read(fd, &mut buf[..inc]);
        if n != inc as i32 {
            close(fd);
            return Err("short read");
        }
        if buf[..inc]
            .iter()
            .enumerate()
            .any(|(i, &c)| c != byte_at(off + i))
        {
            close(fd);
            return Err("read the wrong data");
        }
        off += inc;
    }
    close(fd);
    Ok(())
}

/// Waits for `n` children; whether all exited with 0.
fn wait_all(n: usize) -> bool {
    let mut ok = true;
    for _ in 0..n {
        let mut status = 0;
        if wait(Some(&mut status)) < 0 {
            return false;
        }
        ok &= status == 0;
    }
    ok
}

/// How many times each of test0's children reads its file.
const PASSES: usize = 16;

fn test0(blocks: usize) -> bool {
    const NCHILD: usize = 3;
    println!("start test0");
    for i in 0..NCHILD {
        let dir = [b'0' + i as u8];
        mkdir(&dir);
        if chdir(&dir) < 0 {
            println!("test0: FAIL: chdir failed");
            return false;
        }
        let made = createfile("test0", "B", blocks);
        chdir("..");
        if !made {
            return false;
        }
    }
    let Some(before) = user::lockstat::stats("test0: FAIL", false) else {
        return false;
    };
    for i in 0..NCHILD {
        let pid = fork();
        if pid < 0 {
            println!("test0: FAIL: fork failed");
            return false;
        }
        if pid == 0 {
            if chdir(&[b'0' + i as u8]) < 0 {
                println!("test0: FAIL: chdir failed");
                exit(1);
            }
            if let Err(why) = (0..PASSES).try_for_each(|_| readfile("B", blocks * BSIZE, 1)) {
                println!("test0: FAIL: {}", why);
                exit(1);
            }
            exit(0);
        }
    }
    let ok = wait_all(NCHILD);
    println!("test0 results:");
    let Some(after) = user::lockstat::stats("test0: FAIL", true) else {
        return false;
    };
    if !ok {
        println!("test0: FAIL: a child failed");
        return false;
    }
    println!("test0: {} files of {} blocks read", NCHILD, blocks);
    let spins = after.bcache_spins.saturating_sub(before.bcache_spins);
    let acquires = after.bcache_acquires.saturating_sub(before.bcache_acquires);
    let reads = (NCHILD * PASSES * blocks * BSIZE) as u64;
    if acquires < reads {
        println!(
            "test0: FAIL: the bcache locks were acquired {} times for {} reads of cached blocks: \
             name the buffer cache's locks bcache...",
            acquires, reads
        );
        return false;
    }
    if spins >= 500 {
        println!(
            "test0: FAIL: {} failed test-and-sets on the bcache locks (want < 500)",
            spins
        );
        return false;
    }
    println!("test0: OK");
    true
}

fn test1(big: usize) -> bool {
    const N: usize = 100;
    println!("start test1");
    if !createfile("test1", "B0", big) || !createfile("test1", "B1", 1) {
        return false;
    }
    for i in 0..2 {
        let pid = fork();
        if pid < 0 {
            println!("test1: FAIL: fork failed");
            return false;
        }
        if pid == 0 {
            let r = if i == 0 {
                (0..N).try_for_each(|_| readfile("B0", big * BSIZE, BSIZE))
            } else {
                (0..N * 20).try_for_each(|_| readfile("B1", 1, 1))
            };
            if let Err(why) = r {
                println!("test1: FAIL: {}", why);
                exit(1);
            }
            exit(0);
        }
    }
    let ok = wait_all(2);
    unlink("B0");
    unlink("B1");
    if !ok {
        println!("test1: FAIL: a child failed");
        return false;
    }
    println!("test1 OK");
    true
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let mut sizes: Vec<usize> = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    for a in args.iter().skip(1) {
        match a.parse::<usize>() {
            Ok(n) if n > 0 && sizes.len() < 2 => sizes.push(n),
            _ if a == "test0" || a == "test1" => named.push(a),
            _ => {
                eprintln!("usage: bcachetest [BLOCKS [BIG]] [test0|test1]...");
                return 1;
            }
        }
    }
    let blocks = sizes.first().copied().unwrap_or(6);
    let big = sizes.get(1).copied().unwrap_or(100);
    let run = |t: &str| named.is_empty() || named.contains(&t);
    let mut ok = true;
    if run("test0") {
        ok &= test0(blocks);
    }
    if run("test1") {
        ok &= test1(big);
    }
    if ok { 0 } else { 1 }
}
