#![no_std]
#![no_main]
//! stressfs: five processes (a chain of four forks) each write and read
//! back their own file, `stressfs0` … `stressfs4`, at the same time, to
//! stress the file system's locking and log.

use user::*;

entry!(main);

/// Each file is this many blocks of `BLOCK` bytes.
const BLOCKS: usize = 20;
const BLOCK: usize = 512;

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    println!("stressfs starting");
    // Each parent stops forking and works on file `i`; its child goes on.
    let mut i: u8 = 0;
    while i < 4 && fork() <= 0 {
        i += 1;
    }
    println!("write {}", i);

    let mut path = *b"stressfs0";
    path[8] += i;
    let mut data = [b'a'; BLOCK];
    let fd = open(&path, O_CREATE | O_RDWR);
    for _ in 0..BLOCKS {
        write(fd, &data);
    }
    close(fd);

    println!("read");
    let fd = open(&path, O_RDONLY);
    for _ in 0..BLOCKS {
        read(fd, &mut data);
    }
    close(fd);

    wait(None);
    0
}
