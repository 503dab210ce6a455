#![no_std]
#![no_main]
//! ln: gives an existing file a second name (a hard link).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let (Some(old), Some(new), 3) = (args.bytes(1), args.bytes(2), args.len()) else {
        eprintln!("Usage: ln old new");
        return 1;
    };
    if link(old, new) < 0 {
        eprintln!("link {} {}: failed", Show(old), Show(new));
    }
    0
}
