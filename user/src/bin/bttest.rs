#![no_std]
#![no_main]
//! bttest (backtrace lab): calls sleep, whose kernel side prints a backtrace.

use user::*;

entry!(main);

fn main(_args: Args) -> i32 {
    user::tok_enable!();
    sleep(1);
    0
}
