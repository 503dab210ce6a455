#![no_std]
#![no_main]
//! stats (pgtbl lab): copies the kernel's `statistics` device (major 2,
//! created by init) to standard output, e.g. `copyin: 12` and
//! `copyinstr: 3`: reads until a read returns -1 (the device's end of the
//! report) or 0.

use user::*;

entry!(main);

/// The device's report is a few lines; a device that never reaches end of
/// file must not keep `stats` (and a grader waiting for the prompt) forever.
const LIMIT: usize = 64 * 1024;

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    let fd = open("statistics", O_RDONLY);
    if fd < 0 {
        eprintln!("stats: open failed");
        return 1;
    }
    let mut buf = [0u8; 512];
    let mut total = 0;
    loop {
        let n = read(fd, &mut buf);
        // After the report the device says -1 (as xv6's does); a kernel
        // without the device fails the first read.
        if n < 0 && total == 0 {
            eprintln!("stats: read failed");
            return 1;
        }
        if n <= 0 {
            break;
        }
        // Through print, so that its lines get tokens when graded.
        print!("{}", Show(&buf[..n as usize]));
        total += n as usize;
        if total > LIMIT {
            eprintln!("stats: no end of file after {} bytes", LIMIT);
            return 1;
        }
    }
    close(fd);
    0
}
