// SOLUTION FILE
#![no_std]
#![no_main]
//! pingpong: the parent sends a byte to its child over one pipe; the child
//! answers over another (util lab).

use user::*;

entry!(main);

fn main(_args: Args) -> i32 {
    let mut to_child = [0; 2];
    let mut to_parent = [0; 2];
    if pipe(&mut to_child) < 0 || pipe(&mut to_parent) < 0 {
        eprintln!("pingpong: pipe failed");
        return 1;
    }
    let mut byte = [0u8];
    match fork() {
        0 => {
            close(to_child[1]);
            close(to_parent[0]);
            if read(to_child[0], &mut byte) != 1 {
                eprintln!("pingpong: child read failed");
                return 1;
            }
            println!("{}: received ping", getpid());
            write(to_parent[1], &byte);
            0
        }
        pid if pid < 0 => {
            eprintln!("pingpong: fork failed");
            1
        }
        _ => {
            close(to_child[0]);
            close(to_parent[1]);
            write(to_child[1], b"x");
            let status = if read(to_parent[0], &mut byte) == 1 {
                println!("{}: received pong", getpid());
                0
            } else {
                eprintln!("pingpong: parent read failed");
                1
            };
            wait(None);
            status
        }
    }
}
