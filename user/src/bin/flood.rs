#![no_std]
#![no_main]
//! flood: prints a numbered line forever, as a runaway kernel or program
//! would; the grader must stop it (OUTPUT LIMIT) with its memory bounded.

use user::*;

entry!(main);

fn main(_args: Args) -> i32 {
    let mut n: u64 = 0;
    loop {
        println!("flood line {} of a console that never stops", n);
        n += 1;
    }
}
