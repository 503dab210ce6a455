#![no_std]
#![no_main]
//! tok [-t TICKS] [-p] [-primes N] [-uthread N] CMD [ARG...]: runs CMD with its
//! standard output and error through a pipe and prints each line it printed again,
//! tokened, then `tok: exit <status>`. For grading programs that have no
//! tokens of their own (the util lab's, which students write): their lines
//! then reach the grader as lines the kernel did not make up.
//!
//! The options check what a line cannot show, so that a program that only
//! prints the expected text does not pass:
//! - `-t TICKS`: at the end, `tok: slept` if at least TICKS ticks of
//!   `uptime` passed between the fork and the wait, else
//!   `tok: only E of TICKS ticks passed`.
//! - `-p`: a line starting `<pid>:` is printed with the pid replaced by who
//!   it is: `parent` for CMD's own process, `child` for a later one (pids
//!   grow), `other` for any other number.
//! - `-primes N`: at the end, `tok: primes to N` if CMD printed exactly
//!   `prime P` for each prime P up to N in order and nothing else, else
//!   `tok: not the primes to N (<what>)`.
//! - `-uthread N`: at the end, `tok: uthread order for N rounds` if CMD
//!   printed exactly the thread lab's `uthread N` lines in their order and
//!   nothing else, else `tok: not uthread's order for N rounds (<what>)`.
//!
//! So that CMD cannot print tok's verdicts itself, a line of CMD's that
//! starts like one of them (`tok:`, `parent:`, `child:`, `other:`) is
//! printed after `> `.

use user::*;

entry!(main);

/// What the options ask to check.
#[derive(Default)]
struct Checks {
    ticks: Option<i32>,
    pids: bool,
    primes: Option<u32>,
    uthread: Option<u32>,
}

/// The state of the `-primes` check: the next prime expected, or why it
/// failed.
struct Primes {
    bound: u32,
    next: Option<u32>,
    wrong: Option<&'static str>,
}

impl Primes {
    fn new(bound: u32) -> Self {
        Primes {
            bound,
            next: next_prime(1, bound),
            wrong: None,
        }
    }

    fn line(&mut self, line: &[u8]) {
        if self.wrong.is_some() {
            return;
        }
        let n = line
            .strip_prefix(b"prime ")
            .filter(|d| !d.is_empty() && d.len() < 10 && d.iter().all(u8::is_ascii_digit))
            .map(|d| atoi(d) as u32);
        match (n, self.next) {
            (None, _) => self.wrong = Some("a line that is not `prime P`"),
            (Some(_), None) => self.wrong = Some("a number past the last prime"),
            (Some(p), Some(want)) if p != want => self.wrong = Some("a number out of place"),
            (Some(p), Some(_)) => self.next = next_prime(p, self.bound),
        }
    }

    fn verdict(&self) {
        match (self.wrong, self.next) {
            (Some(why), _) => println!("tok: not the primes to {} ({why})", self.bound),
            (None, Some(_)) => println!("tok: not the primes to {} (some missing)", self.bound),
            (None, None) => println!("tok: primes to {}", self.bound),
        }
    }
}

/// The state of the `-uthread` check: how many lines matched, or the
/// first that did not.
struct Uthread {
    rounds: u32,
    seen: u32,
    wrong: Option<String>,
}

impl Uthread {
    /// The lines `uthread ROUNDS` prints: each thread's start, then each
    /// round in the scheduler's order (c first: it is the last to start
    /// and the first to find the others started), each thread's exit in
    /// the same order, and the scheduler's last word.
    fn expected(&self, i: u32) -> Option<String> {
        let rounds = self.rounds;
        let turn = ['c', 'a', 'b'];
        let body = 3 * rounds;
        Some(match i {
            0..3 => format!("thread_{} started", ['a', 'b', 'c'][i as usize]),
            _ if i - 3 < body => format!("thread_{} {}", turn[((i - 3) % 3) as usize], (i - 3) / 3),
            _ if i - 3 - body < 3 => {
                format!(
                    "thread_{}: exit after {rounds}",
                    turn[(i - 3 - body) as usize]
                )
            }
            _ if i - 3 - body == 3 => "thread_schedule: no runnable threads".into(),
            _ => return None,
        })
    }

    fn line(&mut self, line: &[u8]) {
        if self.wrong.is_some() {
            return;
        }
        match self.expected(self.seen) {
            Some(want) if want.as_bytes() == line => self.seen += 1,
            Some(want) => {
                self.wrong = Some(format!(
                    "line {} is `{}`, expected `{want}`",
                    self.seen + 1,
                    Show(line)
                ))
            }
            None => self.wrong = Some(format!("a line after the last: `{}`", Show(line))),
        }
    }

    fn verdict(&self) {
        let rounds = self.rounds;
        match (&self.wrong, self.expected(self.seen)) {
            (Some(why), _) => println!("tok: not uthread's order for {rounds} rounds ({why})"),
            (None, Some(want)) => println!(
                "tok: not uthread's order for {rounds} rounds (it ended after {} lines, before `{want}`)",
                self.seen
            ),
            (None, None) => println!("tok: uthread order for {rounds} rounds"),
        }
    }
}

/// The first prime above `after`, if it is at most `bound`.
fn next_prime(after: u32, bound: u32) -> Option<u32> {
    (after + 1..=bound).find(|&n| n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0))
}

/// A decimal number option's value.
fn number(arg: Option<&[u8]>) -> Option<i32> {
    arg.filter(|a| !a.is_empty() && a.len() < 10 && a.iter().all(u8::is_ascii_digit))
        .map(atoi)
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let mut argv: Vec<&[u8]> = args.iter_bytes().skip(1).collect();
    let mut checks = Checks::default();
    let mut skip = 0;
    while let Some(&opt) = argv.get(skip) {
        let value = argv.get(skip + 1).copied();
        match opt {
            b"-t" => checks.ticks = number(value),
            b"-primes" => checks.primes = number(value).map(|n| n as u32),
            b"-uthread" => checks.uthread = number(value).map(|n| n as u32),
            b"-p" => {
                checks.pids = true;
                skip += 1;
                continue;
            }
            _ if opt.starts_with(b"-") => {
                eprintln!("tok: unknown option {}", Show(opt));
                return 1;
            }
            _ => break,
        }
        if number(value).is_none() {
            eprintln!("tok: {} needs a number", Show(opt));
            return 1;
        }
        skip += 2;
    }
    argv.drain(..skip);
    let Some(&cmd) = argv.first() else {
        eprintln!("usage: tok [-t TICKS] [-p] [-primes N] [-uthread N] CMD [ARG...]");
        return 1;
    };
    let mut fds = [0i32; 2];
    if pipe(&mut fds) != 0 {
        eprintln!("tok: pipe failed");
        return 1;
    }
    let start = uptime();
    let pid = fork();
    if pid < 0 {
        eprintln!("tok: fork failed");
        return 1;
    }
    if pid == 0 {
        // The parent tokens what comes through the pipe.
        user::tok::disable();
        close(1);
        dup(fds[1]);
        close(2);
        dup(fds[1]);
        close(fds[0]);
        close(fds[1]);
        exec(cmd, &argv);
        eprintln!("tok: exec {} failed", Show(cmd));
        exit(1);
    }
    close(fds[1]);
    let mut primes = checks.primes.map(Primes::new);
    let mut uthread = checks.uthread.map(|rounds| Uthread {
        rounds,
        seen: 0,
        wrong: None,
    });
    let mut print = |line: &[u8]| {
        if let Some(p) = primes.as_mut() {
            p.line(line);
        }
        if let Some(u) = uthread.as_mut() {
            u.line(line);
        }
        print_line(line, checks.pids.then_some(pid));
    };
    // A line at a time, as the program wrote it; a last line without its
    // newline is printed too.
    let mut line: Vec<u8> = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = read(fds[0], &mut buf);
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b == b'\n' {
                print(&line);
                line.clear();
            } else {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        print(&line);
    }
    close(fds[0]);
    let mut status = 0;
    // Not the wait's result alone: a grandchild holding the pipe open
    // would otherwise end the read loop late, not the wait early.
    let waited = wait(Some(&mut status));
    let elapsed = uptime() - start;
    if waited != pid {
        println!("tok: wait failed");
        return 1;
    }
    println!("tok: exit {status}");
    if let Some(ticks) = checks.ticks {
        if elapsed >= ticks {
            println!("tok: slept");
        } else {
            println!("tok: only {elapsed} of {ticks} ticks passed");
        }
    }
    if let Some(p) = primes {
        p.verdict();
    }
    if let Some(u) = uthread {
        u.verdict();
    }
    0
}

/// Prints one line of CMD's; with `parent`, a leading `<pid>:` names who
/// printed it.
fn print_line(line: &[u8], parent: Option<i32>) {
    if let Some(parent) = parent {
        let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && digits < 10 && line.get(digits) == Some(&b':') {
            let who = match atoi(&line[..digits]) {
                p if p == parent => "parent",
                p if p > parent => "child",
                _ => "other",
            };
            println!("{who}{}", Show(&line[digits..]));
            return;
        }
    }
    let own = [&b"tok:"[..], b"parent:", b"child:", b"other:"];
    if own.iter().any(|o| line.starts_with(o)) {
        println!("> {}", Show(line));
    } else {
        println!("{}", Show(line));
    }
}
