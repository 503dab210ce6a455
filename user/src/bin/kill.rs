#![no_std]
#![no_main]
//! kill: kills the processes with the given pids.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: kill pid...");
        return 1;
    }
    for pid in args.iter_bytes().skip(1) {
        kill(atoi(pid));
    }
    0
}
