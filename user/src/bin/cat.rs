#![no_std]
#![no_main]
//! cat: copies the named files (or standard input) to standard output.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        return cat(0);
    }
    for name in args.iter_bytes().skip(1) {
        let fd = open(name, O_RDONLY);
        if fd < 0 {
            eprintln!("cat: cannot open {}", Show(name));
            return 1;
        }
        let status = cat(fd);
        close(fd);
        if status != 0 {
            return status;
        }
    }
    0
}

/// Copies `fd` to standard output; returns the exit status.
fn cat(fd: i32) -> i32 {
    let mut buf = [0u8; 512];
    loop {
        let n = read(fd, &mut buf);
        if n == 0 {
            return 0;
        }
        if n < 0 {
            eprintln!("cat: read error");
            return 1;
        }
        if write(1, &buf[..n as usize]) != n {
            eprintln!("cat: write error");
            return 1;
        }
    }
}
