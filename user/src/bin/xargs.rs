// SOLUTION FILE
#![no_std]
#![no_main]
//! xargs: runs a command once per line of standard input, with the line's
//! words appended to the command's arguments (util lab).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        eprintln!("Usage: xargs command [args...]");
        return 1;
    }
    let fixed: Vec<&[u8]> = args.iter_bytes().skip(1).collect();
    let mut line = Vec::new();
    loop {
        let more = read_line(&mut line);
        let words = line
            .split(|c| b" \t\r\x0b".contains(c))
            .filter(|w| !w.is_empty());
        let mut argv = fixed.clone();
        argv.extend(words);
        if argv.len() > fixed.len() {
            // A line without words runs nothing.
            // exec's argv array ends with a null pointer, which needs a slot.
            if argv.len() >= MAXARG {
                eprintln!("xargs: too many arguments");
                return 1;
            }
            if !run(&argv) {
                return 1;
            }
        }
        if !more {
            return 0;
        }
    }
}

/// Reads the next line of standard input, without its newline, into
/// `line`. Returns false at end of input.
fn read_line(line: &mut Vec<u8>) -> bool {
    line.clear();
    let mut c = [0u8];
    while read(0, &mut c) == 1 {
        if c[0] == b'\n' {
            return true;
        }
        line.push(c[0]);
    }
    false
}

/// Runs `argv` in a child and waits for it; false if it could not start.
fn run(argv: &[&[u8]]) -> bool {
    match fork() {
        0 => {
            exec(argv[0], argv);
            eprintln!("xargs: exec {} failed", Show(argv[0]));
            exit(1)
        }
        pid if pid < 0 => {
            eprintln!("xargs: fork failed");
            false
        }
        _ => {
            wait(None);
            true
        }
    }
}
