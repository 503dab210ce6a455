#![no_std]
#![no_main]
//! bigfile (fs lab): writes a file a block at a time until the kernel
//! refuses a write, checks that it took 65,803 blocks (11 direct, 256
//! singly-indirect, 65,536 doubly-indirect), reads every block back, and
//! removes the file.
//!
//! Prints `writing big.SEED`, `wrote N blocks`, `reading bigfile`, then `bigfile done; ok`; on
//! a failure, `bigfile: <what failed>` and exits with status 1.
//!
//! `bigfile [SEED]`: the seed (default 1) names the file (`big.SEED`) and
//! varies every block's bytes, so the grader's run differs each time.

use abi::fs::{BSIZE, Layout};
use user::*;

entry!(main);

fn fail(what: &str) -> ! {
    println!("bigfile: {what}");
    exit(1)
}

/// Block `i`'s bytes: its number, the seed, then a pattern of both.
fn fill(buf: &mut [u8; BSIZE], i: u32, seed: u32) {
    for (j, chunk) in buf.chunks_exact_mut(4).enumerate() {
        let v = match j {
            0 => i,
            1 => seed,
            _ => (i ^ seed)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(j as u32),
        };
        chunk.copy_from_slice(&v.to_le_bytes());
    }
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let seed = match args.get(1) {
        None => 1,
        Some(s) => s
            .parse::<u32>()
            .unwrap_or_else(|_| fail("usage: bigfile [SEED] (SEED a number)")),
    };
    let name = format!("big.{seed}");
    unlink(&name);
    let fd = open(&name, O_CREATE | O_WRONLY);
    if fd < 0 {
        fail(&format!("cannot create {name}"));
    }
    println!("writing {name}");
    let mut buf = [0u8; BSIZE];
    let mut blocks = 0u32;
    loop {
        fill(&mut buf, blocks, seed);
        if write(fd, &buf) != BSIZE as i32 {
            break;
        }
        blocks += 1;
    }
    close(fd);
    println!("wrote {blocks} blocks");
    let want = Layout::Doubly.maxfile() as u32;
    if blocks != want {
        unlink(&name);
        fail(&format!("file is too small ({blocks} blocks, not {want})"));
    }
    println!("reading bigfile");
    let fd = open(&name, O_RDONLY);
    if fd < 0 {
        fail(&format!("cannot open {name}"));
    }
    let mut want_buf = [0u8; BSIZE];
    for i in 0..blocks {
        if read(fd, &mut buf) != BSIZE as i32 {
            fail(&format!("read of block {i} failed"));
        }
        fill(&mut want_buf, i, seed);
        if buf != want_buf {
            fail(&format!("block {i} read back wrong"));
        }
    }
    if read(fd, &mut buf) != 0 {
        fail("read past the end returned data");
    }
    close(fd);
    if unlink(&name) < 0 {
        fail(&format!("cannot unlink {name}"));
    }
    println!("bigfile done; ok");
    0
}
