#![no_std]
#![no_main]
//! grep: prints the lines that match a pattern, with xv6's tiny regular
//! expressions: `c` (itself), `.` (any character), `c*` (zero or more),
//! `^` (start of line) and `$` (end of line).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let Some(pattern) = args.bytes(1) else {
        eprintln!("usage: grep pattern [file ...]");
        return 1;
    };
    if args.len() < 3 {
        grep(pattern, 0);
        return 0;
    }
    for name in args.iter_bytes().skip(2) {
        let fd = open(name, O_RDONLY);
        if fd < 0 {
            println!("grep: cannot open {}", Show(name));
            return 1;
        }
        grep(pattern, fd);
        close(fd);
    }
    0
}

/// Prints the matching lines of `fd`. The reads are exactly xv6's (the
/// trace lab checks their sizes): fill the 1024-byte buffer after the
/// partial line kept from the last read, leaving one byte spare.
fn grep(pattern: &[u8], fd: i32) {
    let mut buf = [0u8; 1024];
    let mut m = 0;
    loop {
        let end = buf.len() - 1;
        let n = read(fd, &mut buf[m..end]);
        if n <= 0 {
            return;
        }
        m += n as usize;
        let mut start = 0;
        while let Some(nl) = buf[start..m].iter().position(|&c| c == b'\n') {
            let line_end = start + nl;
            if matches(pattern, &buf[start..line_end]) {
                write(1, &buf[start..=line_end]);
            }
            start = line_end + 1;
        }
        buf.copy_within(start..m, 0);
        m -= start;
    }
}

/// Whether `re` matches anywhere in `text`.
fn matches(re: &[u8], text: &[u8]) -> bool {
    if let Some(re) = re.strip_prefix(b"^") {
        return match_here(re, text);
    }
    // Try every starting point, the empty end of the line included.
    (0..=text.len()).any(|i| match_here(re, &text[i..]))
}

/// Whether `re` matches at the start of `text`.
fn match_here(re: &[u8], text: &[u8]) -> bool {
    match re {
        [] => true,
        [c, b'*', rest @ ..] => match_star(*c, rest, text),
        [b'$'] => text.is_empty(),
        [c, rest @ ..] => match text.split_first() {
            Some((t, text)) if *c == b'.' || c == t => match_here(rest, text),
            _ => false,
        },
    }
}

/// Whether `c*` followed by `re` matches at the start of `text`.
fn match_star(c: u8, re: &[u8], mut text: &[u8]) -> bool {
    loop {
        if match_here(re, text) {
            return true;
        }
        match text.split_first() {
            Some((&t, rest)) if t == c || c == b'.' => text = rest,
            _ => return false,
        }
    }
}
