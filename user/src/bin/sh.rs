#![no_std]
#![no_main]
//! sh: the shell. Reads a line, parses it, runs it in a child process.
//!
//! Grammar (xv6's):
//! ```text
//! line  = pipe { "&" } [ ";" line ]
//! pipe  = exec [ "|" pipe ]
//! exec  = "(" line ")" redirs  |  redirs { word redirs }
//! redir = ( "<" | ">" | ">>" ) word
//! ```
//! `>>` opens without truncating, but writes from the start of the file:
//! like xv6, the kernel has no append mode. `cd` is built in: it must
//! change the shell's own directory, not a child's.

use abi::console;
use user::*;

entry!(main);

/// Longest input line; a longer one is read as several lines.
const LINE: usize = 100;
/// Most words in one command.
const MAXARGS: usize = 10;
const WHITESPACE: &[u8] = b" \t\r\n\x0b";
const SYMBOLS: &[u8] = b"<|>&;()";

/// A parsed command line; words point into the line buffer.
enum Cmd<'a> {
    /// A program and its arguments (none: do nothing).
    Exec(Vec<&'a [u8]>),
    /// Run `cmd` with `fd` replaced by `file` opened with `mode`.
    Redir {
        cmd: Box<Cmd<'a>>,
        file: &'a [u8],
        mode: i32,
        fd: i32,
    },
    /// Left's output into right's input.
    Pipe(Box<Cmd<'a>>, Box<Cmd<'a>>),
    /// Left, then right (`;`).
    List(Box<Cmd<'a>>, Box<Cmd<'a>>),
    /// In the background, without waiting (`&`).
    Back(Box<Cmd<'a>>),
}

fn main(_args: Args) -> i32 {
    // Make sure fds 0, 1 and 2 are open, even if init did not set them up.
    loop {
        let fd = open("console", O_RDWR);
        if fd < 0 {
            break;
        }
        if fd >= 3 {
            close(fd);
            break;
        }
    }

    let mut buf = [0u8; LINE];
    loop {
        write(2, console::PROMPT.as_bytes());
        let n = gets(0, &mut buf);
        if n == 0 {
            return 0; // end of input
        }
        let line = trim(&buf[..n]);
        if line.is_empty() {
            continue;
        }
        if let Some(dir) = line.strip_prefix(b"cd ") {
            let dir = trim(dir);
            if chdir(dir) < 0 {
                eprintln!("cannot cd {}", Show(dir));
            }
            continue;
        }
        match fork() {
            0 => run_line(line),
            pid if pid < 0 => eprintln!("sh: fork failed"),
            _ => {
                wait(None);
            }
        }
    }
}

/// `s` without whitespace at either end.
fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|c| !WHITESPACE.contains(c));
    let end = s.iter().rposition(|c| !WHITESPACE.contains(c));
    match (start, end) {
        (Some(start), Some(end)) => &s[start..=end],
        _ => &[],
    }
}

/// Parses and runs one line; in a child, so that errors just end it.
fn run_line(line: &[u8]) -> ! {
    let mut parser = Parser { rest: line };
    let cmd = match parser.line() {
        Ok(cmd) => cmd,
        Err(msg) => fail(format_args!("{}", msg)),
    };
    parser.skip_whitespace();
    if !parser.rest.is_empty() {
        eprintln!("leftovers: {}", Show(parser.rest));
        fail(format_args!("syntax"));
    }
    run(&cmd)
}

/// Runs `cmd` in this process, which it ends. Where this process goes on
/// with a part of `cmd`, it loops rather than recursing, because a user
/// stack is a single page.
fn run(mut cmd: &Cmd) -> ! {
    loop {
        cmd = match cmd {
            Cmd::Exec(argv) => {
                let Some(name) = argv.first() else {
                    exit(1);
                };
                exec(*name, argv);
                fail(format_args!("exec {} failed", Show(name)))
            }
            Cmd::Redir {
                cmd,
                file,
                mode,
                fd,
            } => {
                // open takes the lowest free descriptor: the one just closed.
                close(*fd);
                if open(*file, *mode) < 0 {
                    fail(format_args!("open {} failed", Show(file)));
                }
                cmd
            }
            Cmd::List(left, right) => {
                if fork_or_exit() == 0 {
                    left
                } else {
                    wait(None);
                    right
                }
            }
            Cmd::Pipe(left, right) => {
                let mut p = [0; 2];
                if pipe(&mut p) < 0 {
                    fail(format_args!("pipe"));
                }
                if fork_or_exit() == 0 {
                    connect(p, 1);
                    left
                } else if fork_or_exit() == 0 {
                    connect(p, 0);
                    right
                } else {
                    // Close both ends here too, or the reader never sees
                    // end of file.
                    close(p[0]);
                    close(p[1]);
                    wait(None);
                    wait(None);
                    exit(0)
                }
            }
            Cmd::Back(cmd) => {
                if fork_or_exit() == 0 {
                    cmd
                } else {
                    exit(0)
                }
            }
        };
    }
}

/// Makes `fd` (0 or 1) the matching end of pipe `p` and closes `p`.
fn connect(p: [i32; 2], fd: i32) {
    close(fd);
    dup(p[fd as usize]);
    close(p[0]);
    close(p[1]);
}

fn fork_or_exit() -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(format_args!("fork"));
    }
    pid
}

/// Prints `msg` to standard error and ends this process with status 1.
#[inline(never)] // keeps the print buffer out of the callers' stack frames
fn fail(msg: core::fmt::Arguments) -> ! {
    eprintln!("{}", msg);
    exit(1)
}

enum Token<'a> {
    End,
    /// One of `SYMBOLS`.
    Symbol(u8),
    /// `>>`
    Append,
    Word(&'a [u8]),
}

/// A recursive-descent parser over the rest of the line.
struct Parser<'a> {
    rest: &'a [u8],
}

type Parsed<'a> = Result<Cmd<'a>, &'static str>;

impl<'a> Parser<'a> {
    fn skip_whitespace(&mut self) {
        while let [c, rest @ ..] = self.rest
            && WHITESPACE.contains(c)
        {
            self.rest = rest;
        }
    }

    /// Whether the next token starts with one of `symbols`.
    fn peek(&mut self, symbols: &[u8]) -> bool {
        self.skip_whitespace();
        self.rest.first().is_some_and(|c| symbols.contains(c))
    }

    fn next_token(&mut self) -> Token<'a> {
        self.skip_whitespace();
        let s = self.rest;
        let (token, len) = match s {
            [] => (Token::End, 0),
            [b'>', b'>', ..] => (Token::Append, 2),
            [c, ..] if SYMBOLS.contains(c) => (Token::Symbol(*c), 1),
            _ => {
                let len = s
                    .iter()
                    .position(|c| WHITESPACE.contains(c) || SYMBOLS.contains(c))
                    .unwrap_or(s.len());
                (Token::Word(&s[..len]), len)
            }
        };
        self.rest = &s[len..];
        token
    }

    /// A `;` list of pipelines, each maybe `&`. Parsed with loops, not
    /// recursion, to spare the one-page stack.
    fn line(&mut self) -> Parsed<'a> {
        let mut items = Vec::new();
        loop {
            let mut cmd = self.pipe()?;
            while self.peek(b"&") {
                self.next_token();
                cmd = Cmd::Back(Box::new(cmd));
            }
            items.push(cmd);
            if !self.peek(b";") {
                return Ok(join_right(items, Cmd::List));
            }
            self.next_token();
        }
    }

    fn pipe(&mut self) -> Parsed<'a> {
        let mut stages = vec![self.exec()?];
        while self.peek(b"|") {
            self.next_token();
            stages.push(self.exec()?);
        }
        Ok(join_right(stages, Cmd::Pipe))
    }

    fn exec(&mut self) -> Parsed<'a> {
        if self.peek(b"(") {
            return self.block();
        }
        let mut argv = Vec::new();
        let mut redirs = Vec::new();
        self.redirs(&mut redirs)?;
        while !self.peek(b"|)&;") {
            match self.next_token() {
                Token::End => break,
                Token::Word(w) if argv.len() < MAXARGS => argv.push(w),
                Token::Word(_) => return Err("too many args"),
                _ => return Err("syntax"),
            }
            self.redirs(&mut redirs)?;
        }
        Ok(wrap(Cmd::Exec(argv), redirs))
    }

    /// `( line )` and the redirections after it.
    fn block(&mut self) -> Parsed<'a> {
        self.next_token(); // the "(" that exec peeked at
        let cmd = self.line()?;
        if !self.peek(b")") {
            return Err("syntax - missing )");
        }
        self.next_token();
        let mut redirs = Vec::new();
        self.redirs(&mut redirs)?;
        Ok(wrap(cmd, redirs))
    }

    /// Parses redirections up to the next word, into `redirs`.
    fn redirs(&mut self, redirs: &mut Vec<(&'a [u8], i32, i32)>) -> Result<(), &'static str> {
        while self.peek(b"<>") {
            let (mode, fd) = match self.next_token() {
                Token::Symbol(b'<') => (O_RDONLY, 0),
                Token::Append => (O_WRONLY | O_CREATE, 1),
                _ => (O_WRONLY | O_CREATE | O_TRUNC, 1),
            };
            let Token::Word(file) = self.next_token() else {
                return Err("missing file for redirection");
            };
            redirs.push((file, mode, fd));
        }
        Ok(())
    }
}

/// Wraps `cmd` in `redirs`, the first parsed innermost (as xv6 does): it
/// is applied last, so of two redirections of one descriptor the first wins.
fn wrap<'a>(cmd: Cmd<'a>, redirs: Vec<(&'a [u8], i32, i32)>) -> Cmd<'a> {
    redirs
        .into_iter()
        .fold(cmd, |cmd, (file, mode, fd)| Cmd::Redir {
            cmd: Box::new(cmd),
            file,
            mode,
            fd,
        })
}

/// `[a, b, c]` → `join(a, join(b, c))`, the shape xv6's recursive parser
/// builds.
fn join_right<'a>(
    mut items: Vec<Cmd<'a>>,
    join: fn(Box<Cmd<'a>>, Box<Cmd<'a>>) -> Cmd<'a>,
) -> Cmd<'a> {
    // Callers pass at least one item; an empty command does nothing anyway.
    let mut cmd = items.pop().unwrap_or(Cmd::Exec(Vec::new()));
    while let Some(left) = items.pop() {
        cmd = join(Box::new(left), Box::new(cmd));
    }
    cmd
}
