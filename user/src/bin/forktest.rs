#![no_std]
#![no_main]
//! forktest: forks until the process table is full, then checks that wait
//! reaps exactly the children it made. Prints with `print!` and no heap, so it
//! works even when the kernel has little memory to give.

use user::*;

entry!(main);

const N: usize = 1000;

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    print!("fork test\n");
    let mut n = 0;
    while n < N {
        let pid = fork();
        if pid < 0 {
            break;
        }
        if pid == 0 {
            exit(0);
        }
        n += 1;
    }
    if n == N {
        print!("fork claimed to work N times!\n");
        return 1;
    }
    for _ in 0..n {
        if wait(None) < 0 {
            print!("wait stopped early\n");
            return 1;
        }
    }
    if wait(None) != -1 {
        print!("wait got too many\n");
        return 1;
    }
    print!("fork test OK\n");
    0
}
