#![no_std]
#![no_main]
//! ln: gives an existing file a second name (a hard link); `ln -s target
//! path` makes `path` a symbolic link to `target` (the fs lab's kernel).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let soft = args.bytes(1) == Some(b"-s".as_slice());
    let at = usize::from(soft);
    let (Some(old), Some(new), true) =
        (args.bytes(1 + at), args.bytes(2 + at), args.len() == 3 + at)
    else {
        eprintln!("Usage: ln [-s] old new");
        return 1;
    };
    let (r, what) = if soft {
        (symlink(old, new), "symlink")
    } else {
        (link(old, new), "link")
    };
    if r < 0 {
        eprintln!("{what} {} {}: failed", Show(old), Show(new));
    }
    0
}
