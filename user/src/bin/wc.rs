#![no_std]
#![no_main]
//! wc: counts the lines, words and bytes of files (or standard input).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        return wc(0, b"");
    }
    for name in args.iter_bytes().skip(1) {
        let fd = open(name, O_RDONLY);
        if fd < 0 {
            println!("wc: cannot open {}", Show(name));
            return 1;
        }
        let status = wc(fd, name);
        close(fd);
        if status != 0 {
            return status;
        }
    }
    0
}

/// Prints `lines words bytes name` for `fd`; returns the exit status.
fn wc(fd: i32, name: &[u8]) -> i32 {
    let (mut lines, mut words, mut bytes) = (0, 0, 0);
    let mut in_word = false;
    let mut buf = [0u8; 512];
    loop {
        let n = read(fd, &mut buf);
        if n < 0 {
            println!("wc: read error");
            return 1;
        }
        if n == 0 {
            break;
        }
        for &c in &buf[..n as usize] {
            bytes += 1;
            if c == b'\n' {
                lines += 1;
            }
            // xv6 counts NUL as a separator too (its strchr finds the terminator).
            if b" \r\t\n\x0b\0".contains(&c) {
                in_word = false;
            } else if !in_word {
                words += 1;
                in_word = true;
            }
        }
    }
    println!("{} {} {} {}", lines, words, bytes, Show(name));
    0
}
