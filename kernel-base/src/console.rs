//! The console device: line-buffered input from the UART with editing,
//! output to the UART.
//!
//! Input keys: Enter ends a line, Backspace/Delete erases a character,
//! ^U erases the line, ^D ends input (end of file at the start of a line),
//! ^P prints the process list.

use crate::file::{Device, register_device};
use crate::printf;
use crate::proc::{self, current};
use crate::spinlock::SpinLock;
use crate::syscall::{copy_in, copy_out};
use crate::uart;
use crate::vm::UserAddr;
use abi::dev::CONSOLE;

const INPUT_BUF: usize = 128;

const fn ctrl(c: u8) -> u8 {
    c - b'@'
}

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;

struct Input {
    buf: [u8; INPUT_BUF],
    /// Read index.
    r: usize,
    /// Write index: end of the completed lines.
    w: usize,
    /// Edit index: end of the line being typed.
    e: usize,
}

static INPUT: SpinLock<Input> = SpinLock::new(
    "cons",
    Input {
        buf: [0; INPUT_BUF],
        r: 0,
        w: 0,
        e: 0,
    },
);

fn chan() -> usize {
    &INPUT as *const _ as usize
}

/// Echoes a typed character; a backspace erases the previous one on screen.
fn echo(c: u8) {
    if c == BACKSPACE {
        printf::write_bytes(b"\x08 \x08");
    } else {
        printf::write_bytes(&[c]);
    }
}

static CONSOLE_DEV: Device = Device {
    read: console_read,
    write: console_write,
};

pub(crate) fn init() {
    uart::init();
    register_device(CONSOLE, &CONSOLE_DEV).expect("console registered twice");
}

/// Writes `n` bytes from `addr` to the console.
fn console_write(addr: UserAddr, n: usize) -> i64 {
    let mut buf = [0u8; 128];
    let mut done = 0;
    while done < n {
        let m = (n - done).min(buf.len());
        if copy_in(&mut buf[..m], addr.offset(done)).is_err() {
            break;
        }
        printf::write_bytes(&buf[..m]);
        done += m;
    }
    done as i64
}

/// Reads up to one line (at most `n` bytes) into `addr`, waiting for input.
fn console_read(addr: UserAddr, n: usize) -> i64 {
    let mut inp = INPUT.lock();
    let mut done = 0;
    while done < n {
        while inp.r == inp.w {
            if current().is_killed() {
                return -1;
            }
            inp = proc::sleep(chan(), inp);
        }
        let c = inp.buf[inp.r % INPUT_BUF];
        inp.r += 1;
        if c == ctrl(b'D') {
            if done > 0 {
                // Keep ^D for the next read, so it returns 0 (end of file).
                inp.r -= 1;
            }
            break;
        }
        if copy_out(addr.offset(done), &[c]).is_err() {
            break;
        }
        done += 1;
        if c == b'\n' {
            break;
        }
    }
    done as i64
}

/// Handles one received character (from the UART interrupt).
pub(crate) fn intr(c: u8) {
    let mut inp = INPUT.lock();
    match c {
        c if c == ctrl(b'P') => {
            drop(inp);
            proc::dump();
        }
        c if c == ctrl(b'U') => {
            while inp.e != inp.w && inp.buf[(inp.e - 1) % INPUT_BUF] != b'\n' {
                inp.e -= 1;
                echo(BACKSPACE);
            }
        }
        BACKSPACE | DELETE => {
            if inp.e != inp.w {
                inp.e -= 1;
                echo(BACKSPACE);
            }
        }
        0 => {}
        _ => {
            if inp.e - inp.r < INPUT_BUF {
                let c = if c == b'\r' { b'\n' } else { c };
                echo(c);
                let e = inp.e;
                inp.buf[e % INPUT_BUF] = c;
                inp.e += 1;
                if c == b'\n' || c == ctrl(b'D') || inp.e - inp.r == INPUT_BUF {
                    // A whole line (or end of file) is ready for readers.
                    inp.w = inp.e;
                    drop(inp);
                    proc::wakeup(chan());
                }
            }
        }
    }
}
