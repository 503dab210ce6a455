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
//! - test2 (2024 edition): four children each create 50 files of BLOCKS
//!   blocks in a directory of their own (ten at a time: the file system
//!   holds 200 inodes), read them back, checking every byte, and unlink
//!   them; the directory must then be empty and removable:
//!   `test2 OK`, after `test2: 4 x 50 files of BLOCKS blocks`.
//! - test3 (2024 edition): five children write files of BIG/4 blocks at
//!   once, then read them back and check them: `test3 OK`, after
//!   `test3: 5 writers x N blocks`.
//!
//! Each file's bytes depend on SEED (default 1) and on which file it is,
//! so that a buffer cached under the wrong block, or data read from
//! another child's file, reads wrong.
//!
//! A statistics text that is missing or malformed is a FAIL (MIT's program
//! passes with none).
//!
//! `bcachetest [BLOCKS [BIG [SEED]]] [test0|test1|test2|test3]...` runs
//! the tests named (default all four).

use abi::fs::BSIZE;
use user::*;

entry!(main);

/// The byte at `off` of a file: differs from block to block and within
/// one, so a wrong block or offset reads wrong.
/// `salt` picks the file: 0 is test0's and test1's.
fn salted(off: usize, salt: u32) -> u8 {
    let mix = salt.wrapping_mul(0x9e37_79b9).rotate_left(13) as usize;
    (off / BSIZE * 7 + off % BSIZE * 13 + off / (BSIZE * 251) + mix + (mix >> 8) * off / BSIZE)
        as u8
}

fn createfile(test: &str, name: &str, blocks: usize) -> bool {
    createfile_salted(test, name.as_bytes(), blocks, 0)
}

fn createfile_salted(test: &str, name: &[u8], blocks: usize, salt: u32) -> bool {
    unlink(name);
    let fd = open(name, O_CREATE | O_RDWR);
    if fd < 0 {
        println!("{}: FAIL: cannot create a file", test);
        return false;
    }
    let mut buf = [0u8; BSIZE];
    for b in 0..blocks {
        for (i, c) in buf.iter_mut().enumerate() {
            *c = salted(b * BSIZE + i, salt);
        }
        if write(fd, &buf) != BSIZE as i32 {
            println!("{}: FAIL: cannot write a file", test);
            close(fd);
            return false;
        }
    }
    close(fd);
    true
}

/// Reads `bytes` bytes of the file, `inc` at a time, checking each.
fn readfile(name: &str, bytes: usize, inc: usize) -> Result<(), &'static str> {
    readfile_salted(name.as_bytes(), bytes, inc, 0)
}

fn readfile_salted(name: &[u8], bytes: usize, inc: usize, salt: u32) -> Result<(), &'static str> {
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
            .any(|(i, &c)| c != salted(off + i, salt))
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

/// A name `<tag><child><two digits>`, NUL-free (open takes bytes).
fn name(tag: u8, child: usize, file: usize) -> [u8; 4] {
    [
        tag,
        b'0' + child as u8,
        b'0' + (file / 10) as u8,
        b'0' + (file % 10) as u8,
    ]
}

/// Forks `n` children running `f(i)` (its exit status); whether all
/// exited with 0.
fn in_children(test: &str, n: usize, f: impl Fn(usize) -> i32) -> bool {
    for i in 0..n {
        let pid = fork();
        if pid < 0 {
            println!("{}: FAIL: fork failed", test);
            return false;
        }
        if pid == 0 {
            exit(f(i));
        }
    }
    wait_all(n)
}

fn test2(blocks: usize, seed: u32) -> bool {
    const NCHILD: usize = 4;
    const NFILE: usize = 50;
    const BATCH: usize = 10;
    println!("start test2");
    let ok = in_children("test2", NCHILD, |i| {
        let dir = [b'd', b'0' + i as u8];
        mkdir(&dir);
        if chdir(&dir) < 0 {
            println!("test2: FAIL: chdir failed");
            return 1;
        }
        let salt = |f: usize| seed.wrapping_add((i * NFILE + f) as u32 + 1);
        // In batches: the file system has inodes and blocks for about a
        // fifth of the 200 files at once.
        for batch in (0..NFILE).step_by(BATCH) {
            let files = batch..batch + BATCH;
            for f in files.clone() {
                if !createfile_salted("test2", &name(b'f', i, f), blocks, salt(f)) {
                    return 1;
                }
            }
            for f in files.clone() {
                let n = name(b'f', i, f);
                if let Err(why) = readfile_salted(&n, blocks * BSIZE, BSIZE, salt(f)) {
                    println!("test2: FAIL: {}", why);
                    return 1;
                }
            }
            for f in files.clone() {
                if unlink(&name(b'f', i, f)) < 0 {
                    println!("test2: FAIL: unlink failed");
                    return 1;
                }
            }
            for f in files {
                let fd = open(&name(b'f', i, f), O_RDONLY);
                if fd >= 0 {
                    close(fd);
                    println!("test2: FAIL: a file is still there after its unlink");
                    return 1;
                }
            }
        }
        chdir("..");
        if unlink(&dir) < 0 {
            println!("test2: FAIL: the emptied directory cannot be removed");
            return 1;
        }
        0
    });
    println!("test2: {} x {} files of {} blocks", NCHILD, NFILE, blocks);
    if !ok {
        println!("test2: FAIL: a child failed");
        return false;
    }
    println!("test2 OK");
    true
}

fn test3(big: usize, seed: u32) -> bool {
    const NCHILD: usize = 5;
    let blocks = (big / 4).max(1);
    println!("start test3");
    let ok = in_children("test3", NCHILD, |i| {
        let file = name(b'w', i, 0);
        let salt = seed.wrapping_mul(31).wrapping_add(i as u32 + 1000);
        if !createfile_salted("test3", &file, blocks, salt) {
            return 1;
        }
        let r = readfile_salted(&file, blocks * BSIZE, BSIZE, salt);
        unlink(&file);
        if let Err(why) = r {
            println!("test3: FAIL: {}", why);
            return 1;
        }
        0
    });
    println!("test3: {} writers x {} blocks", NCHILD, blocks);
    if !ok {
        println!("test3: FAIL: a child failed");
        return false;
    }
    println!("test3 OK");
    true
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let mut sizes: Vec<usize> = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    for a in args.iter().skip(1) {
        match a.parse::<usize>() {
            Ok(n) if n > 0 && sizes.len() < 3 => sizes.push(n),
            _ if ["test0", "test1", "test2", "test3"].contains(&a) => named.push(a),
            _ => {
                eprintln!("usage: bcachetest [BLOCKS [BIG [SEED]]] [test0|test1|test2|test3]...");
                return 1;
            }
        }
    }
    let blocks = sizes.first().copied().unwrap_or(6);
    let big = sizes.get(1).copied().unwrap_or(100);
    let seed = sizes.get(2).copied().unwrap_or(1) as u32;
    let run = |t: &str| named.is_empty() || named.contains(&t);
    let mut ok = true;
    if run("test0") {
        ok &= test0(blocks);
    }
    if run("test1") {
        ok &= test1(big);
    }
    if run("test2") {
        ok &= test2(blocks, seed);
    }
    if run("test3") {
        ok &= test3(big, seed);
    }
    if ok { 0 } else { 1 }
}
