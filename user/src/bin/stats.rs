#![no_std]
#![no_main]
//! stats (pgtbl lab): copies the kernel's `statistics` device (major 2,
//! created by init) to standard output, e.g. `copyin: 12` and
//! `copyinstr: 3`.

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
        if n < 0 {
            eprintln!("stats: read failed");
            return 1;
        }
        if n == 0 {
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
