#![no_std]
#![no_main]
//! rm: removes files (and empty directories).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        eprintln!("Usage: rm files...");
        return 1;
    }
    for path in args.iter_bytes().skip(1) {
        if unlink(path) < 0 {
            eprintln!("rm: {} failed to delete", Show(path));
            break;
        }
    }
    0
}
