#![no_std]
#![no_main]
//! echo: prints its arguments separated by spaces.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate().skip(1) {
        if i > 1 {
            out.push(b' ');
        }
        out.extend_from_slice(a.as_bytes());
    }
    out.push(b'\n');
    write(1, &out);
    0
}
