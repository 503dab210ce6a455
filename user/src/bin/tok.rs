#![no_std]
#![no_main]
//! tok CMD [ARG...]: runs CMD with its standard output and error through a
//! pipe and prints each line it printed again, tokened, then
//! `tok: exit <status>`. For grading programs that have no tokens of their
//! own (the util lab's, which students write): their lines then reach the
//! grader as lines the kernel did not make up.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let argv: Vec<&[u8]> = args.iter_bytes().skip(1).collect();
    let Some(&cmd) = argv.first() else {
        eprintln!("usage: tok CMD [ARG...]");
        return 1;
    };
    let mut fds = [0i32; 2];
    if pipe(&mut fds) != 0 {
        eprintln!("tok: pipe failed");
        return 1;
    }
    let pid = fork();
    if pid < 0 {
        eprintln!("tok: fork failed");
        return 1;
    }
    if pid == 0 {
        // The parent tokens what comes through the pipe.
        user::tok::disable();
        close(1);
        dup(fds[1]);
        close(2);
        dup(fds[1]);
        close(fds[0]);
        close(fds[1]);
        exec(cmd, &argv);
        eprintln!("tok: exec {} failed", Show(cmd));
        exit(1);
    }
    close(fds[1]);
    // A line at a time, as the program wrote it; a last line without its
    // newline is printed too.
    let mut line: Vec<u8> = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = read(fds[0], &mut buf);
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b == b'\n' {
                println!("{}", Show(&line));
                line.clear();
            } else {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        println!("{}", Show(&line));
    }
    close(fds[0]);
    let mut status = 0;
    wait(Some(&mut status));
    println!("tok: exit {status}");
    0
}
