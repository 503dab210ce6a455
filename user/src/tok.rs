//! Tokened output for the trusted test programs (the format is in
//! [`abi::tok`]). A test program calls [`enable!`](crate::tok_enable) at the
//! start of `main`; from then on every line it and its forked children
//! print on standard output or error ends with a token the grader checks,
//! and when its first process exits through this library it prints a
//! closing line. Run by hand (the image holds no key), nothing changes.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::tok::{EMPTY_SLOT, KeySlot, LineMac, Token, closing_text};

/// The grader writes the run's key after the marker in the disk image.
#[used]
static SLOT: KeySlot = EMPTY_SLOT;

/// How much of a line is held back so that it is written in one piece,
/// with its token; a longer line goes out in parts (its MAC covers them all).
const HELD: usize = 256;
/// Room after a held line for its token and newline.
const TOKEN_ROOM: usize = 96;

struct Line {
    len: usize,
    buf: [u8; HELD + TOKEN_ROOM],
    /// The line's MAC so far and its sequence number; `None` between lines.
    mac: Option<(LineMac, u32)>,
}

impl Line {
    const EMPTY: Line = Line {
        len: 0,
        buf: [0; HELD + TOKEN_ROOM],
        mac: None,
    };
}

struct State {
    on: bool,
    /// This is the program's first process (not a forked child): it prints
    /// the closing line.
    main: bool,
    name: &'static str,
    /// The program's arguments, recorded at its start.
    args: Option<crate::Args>,
    /// The run's key bound to those arguments.
    key: [u8; 16],
    nonce: u64,
    /// Forks so far: a child's nonce comes from its parent's and this.
    forks: u64,
    /// The next line's number.
    seq: u32,
    /// Standard output's and standard error's unfinished lines.
    lines: [Line; 2],
}

struct Shared {
    busy: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: a user process has one thread. The only code that can run in the
// middle of another is an alarm handler, and `busy` keeps it from taking a
// second reference to `state` (its output then goes out untokened).
unsafe impl Sync for Shared {}

static SHARED: Shared = Shared {
    busy: AtomicBool::new(false),
    state: UnsafeCell::new(State {
        on: false,
        main: false,
        name: "",
        args: None,
        key: [0; 16],
        nonce: 0,
        forks: 0,
        seq: 0,
        lines: [Line::EMPTY, Line::EMPTY],
    }),
};

/// Runs `f` on the state, or returns `None` if it is in use (an alarm
/// handler interrupted a print).
fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    if SHARED.busy.swap(true, Ordering::Acquire) {
        return None;
    }
    // SAFETY: `busy` was clear and is now set by us, so no other reference
    // to the state exists until we clear it.
    let r = f(unsafe { &mut *SHARED.state.get() });
    SHARED.busy.store(false, Ordering::Release);
    Some(r)
}

/// Records the program's arguments (the library's entry does, before
/// `main`): its lines' key is bound to them.
pub(crate) fn started(args: crate::Args) {
    with(|s| s.args = Some(args));
}

/// Turns tokens on for the program `name` (use [`tok_enable!`](crate::tok_enable),
/// which passes the program's own name). Does nothing when the image holds
/// no key (the program was not started by the grader).
pub fn enable(name: &'static str) {
    // SAFETY: `SLOT.key` is a valid, aligned array; reading it volatile
    // keeps the compiler from using the zeros it was built with instead of
    // what the grader wrote into the file.
    let key = unsafe { core::ptr::read_volatile(&SLOT.key) };
    if key == [0; 16] {
        return;
    }
    with(|s| {
        s.on = true;
        s.main = true;
        s.name = name;
        s.key = match s.args {
            Some(args) => abi::tok::command_key(&key, args.iter_bytes()),
            None => abi::tok::command_key(&key, core::iter::empty()),
        };
        // No system call: a traced test program's calls are graded.
        s.nonce = abi::tok::nonce(&key, 0, 0, crate::time());
        s.forks = 0;
        s.seq = 0;
        s.lines = [Line::EMPTY, Line::EMPTY];
    });
}

/// Turns tokens off for this process: for a child whose output its parent
/// reads and tokens itself (`tok`), so that no line carries two tokens.
pub fn disable() {
    with(|s| s.on = false);
}

/// Whether this process's lines get tokens.
pub fn enabled() -> bool {
    with(|s| s.on).unwrap_or(false)
}

/// After `fork` (`child` in the child): the child gets a nonce of its own
/// (from its parent's and the parent's count of forks, which no other child
/// of that parent shares), numbers from 0, and drops the parent's
/// unfinished lines.
pub(crate) fn forked(child: bool) {
    with(|s| {
        if !s.on {
            return;
        }
        s.forks += 1;
        if child {
            s.nonce = abi::tok::nonce(&s.key, s.nonce, s.forks, crate::time());
            s.forks = 0;
            s.seq = 0;
            s.main = false;
            s.lines = [Line::EMPTY, Line::EMPTY];
        }
    });
}

/// Before the process exits: ends its unfinished lines, and the first
/// process prints the closing line.
pub(crate) fn exiting() {
    with(|s| {
        if !s.on {
            return;
        }
        for fd in 1..=2 {
            if s.lines[fd - 1].mac.is_some() {
                write_line_end(s, fd as i32);
            }
        }
        if s.main {
            let seq = s.seq;
            let text = closing_text(seq);
            let mut out = Cursor::new();
            let _ = core::fmt::write(&mut out, format_args!("{text}"));
            let mac = abi::tok::mac(&s.key, s.name, s.nonce, seq, out.bytes());
            let token = Token {
                name: s.name,
                nonce: s.nonce,
                seq,
                mac,
            };
            let _ = core::fmt::write(&mut out, format_args!("{token}\n"));
            crate::write(1, out.bytes());
            s.seq += 1;
            s.on = false;
        }
    });
}

/// Writes `bytes` to `fd` with tokens if they are on and `fd` is standard
/// output or error; returns false (nothing written) otherwise.
pub(crate) fn write(fd: i32, bytes: &[u8]) -> bool {
    if fd != 1 && fd != 2 {
        return false;
    }
    with(|s| {
        if !s.on {
            return false;
        }
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (text, newline) = match piece.split_last() {
                Some((b'\n', text)) => (text, true),
                _ => (piece, false),
            };
            hold(s, fd, text);
            if newline {
                write_line_end(s, fd);
            }
        }
        true
    })
    .unwrap_or(false)
}

/// Adds `text` to `fd`'s unfinished line, writing out what does not fit.
fn hold(s: &mut State, fd: i32, mut text: &[u8]) {
    let (key, name, nonce) = (s.key, s.name, s.nonce);
    let seq = &mut s.seq;
    let line = &mut s.lines[fd as usize - 1];
    let mac = &mut line
        .mac
        .get_or_insert_with(|| {
            let n = *seq;
            *seq += 1;
            (LineMac::new(&key, name, nonce, n), n)
        })
        .0;
    while !text.is_empty() {
        if line.len == HELD {
            crate::write(fd, &line.buf[..HELD]);
            line.len = 0;
        }
        let n = text.len().min(HELD - line.len);
        line.buf[line.len..line.len + n].copy_from_slice(&text[..n]);
        mac.update(&text[..n]);
        line.len += n;
        text = &text[n..];
    }
}

/// Ends `fd`'s line: writes what is held, its token and a newline at once.
fn write_line_end(s: &mut State, fd: i32) {
    if s.lines[fd as usize - 1].mac.is_none() {
        // An empty line: it still gets a number and a token.
        hold(s, fd, b"");
    }
    let (name, nonce) = (s.name, s.nonce);
    let line = &mut s.lines[fd as usize - 1];
    let Some((mac, seq)) = line.mac.take() else {
        return;
    };
    let token = Token {
        name,
        nonce,
        seq,
        mac: mac.finish(),
    };
    let mut out = Cursor::new();
    let _ = core::fmt::write(&mut out, format_args!("{token}\n"));
    let tail = out.bytes();
    let end = line.len + tail.len();
    line.buf[line.len..end].copy_from_slice(tail);
    crate::write(fd, &line.buf[..end]);
    line.len = 0;
}

/// A small formatting buffer (a token, a closing line).
struct Cursor {
    len: usize,
    buf: [u8; 128],
}

impl Cursor {
    fn new() -> Cursor {
        Cursor {
            len: 0,
            buf: [0; 128],
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for Cursor {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Turns tokens on for this program, under its own name (see [`enable`]).
#[macro_export]
macro_rules! tok_enable {
    () => {
        $crate::tok::enable(env!("CARGO_BIN_NAME"))
    };
}
