#![no_std]
#![no_main]
//! mkdir: creates directories.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        eprintln!("Usage: mkdir files...");
        return 1;
    }
    for path in args.iter_bytes().skip(1) {
        if mkdir(path) < 0 {
            eprintln!("mkdir: {} failed to create", Show(path));
            break;
        }
    }
    0
}
