#![no_std]
#![no_main]
//! kill: kills the processes with the given pids. Exits 1, after saying
//! which, if any pid named no process it could kill.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: kill pid...");
        return 1;
    }
    let mut status = 0;
    for pid in args.iter_bytes().skip(1) {
        if kill(atoi(pid)) < 0 {
            eprintln!("kill: {}: no such process", Show(pid));
            status = 1;
        }
    }
    status
}
