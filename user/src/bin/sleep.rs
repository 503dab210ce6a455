// SOLUTION FILE
#![no_std]
#![no_main]
//! sleep: pauses for a number of timer ticks (util lab).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let ticks = match (args.len(), args.bytes(1)) {
        (2, Some(t)) if !t.is_empty() && t.iter().all(u8::is_ascii_digit) => atoi(t),
        _ => {
            eprintln!("Usage: sleep ticks");
            return 1;
        }
    };
    sleep(ticks);
    0
}
