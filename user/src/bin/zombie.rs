#![no_std]
#![no_main]
//! zombie: leaves a zombie for a moment: the child exits while its parent
//! sleeps without waiting for it.

use user::*;

entry!(main);

fn main(_args: Args) -> i32 {
    if fork() > 0 {
        sleep(5); // let the child exit first
    }
    0
}
