#![no_std]
#![no_main]
//! statread: shows what reads of the `statistics` device return, 8 bytes
//! at a time, over two passes: for each pass, `statread: pass N: reads
//! 8 8 ... then R` (R is what ended it: -1 after the last byte as in xv6,
//! 0, or `too many` after 64 reads), then the text the pass read. The
//! text of pass 1 is printed before pass 2 starts, so a fresh snapshot in
//! pass 2 shows larger copyin counts (printing copies in).

use user::*;

entry!(main);

const PIECE: usize = 8;

fn main(_args: Args) -> i32 {
    let fd = open("statistics", O_RDONLY);
    if fd < 0 {
        println!("statread: open failed");
        return 1;
    }
    for pass in 1..=2 {
        let mut text = [0u8; 512];
        let mut len = 0;
        let mut reads = [0i32; 64];
        let mut nreads = 0;
        let end = loop {
            if nreads == reads.len() {
                break None;
            }
            let room = (text.len() - len).min(PIECE);
            let n = read(fd, &mut text[len..len + room]);
            if n <= 0 {
                break Some(n);
            }
            reads[nreads] = n;
            nreads += 1;
            len += n as usize;
        };
        print!("statread: pass {}: reads", pass);
        for n in &reads[..nreads] {
            print!(" {}", n);
        }
        match end {
            Some(n) => println!(" then {}", n),
            None => println!(" then too many"),
        }
        write(1, &text[..len]);
    }
    close(fd);
    0
}
