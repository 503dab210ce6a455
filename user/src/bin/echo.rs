#![no_std]
#![no_main]
//! echo: prints its arguments separated by spaces, then a newline.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        return 0;
    }
    // One write for the whole line, so concurrent echoes do not interleave.
    let mut out = Vec::new();
    for (i, arg) in args.iter_bytes().enumerate().skip(1) {
        if i > 1 {
            out.push(b' ');
        }
        out.extend_from_slice(arg);
    }
    out.push(b'\n');
    write(1, &out);
    0
}
