#![no_std]
#![no_main]
//! trace (trace lab): `trace <mask> <command> [args...]` runs the command
//! with system call tracing on for the calls whose bits are set in mask.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let mask_ok = args
        .bytes(1)
        .is_some_and(|m| m.first().is_some_and(u8::is_ascii_digit));
    if args.len() < 3 || !mask_ok {
        eprintln!("Usage: {} mask command", args.get(0).unwrap_or("trace"));
        return 1;
    }
    if trace(atoi(args.bytes(1).unwrap_or(b""))) < 0 {
        eprintln!("{}: trace failed", args.get(0).unwrap_or("trace"));
        return 1;
    }
    // Exec straight from our own argv so that tracing sees no extra calls.
    args.exec_from(2);
    eprintln!("trace: exec {} failed", args.get(2).unwrap_or("?"));
    1
}
