//! Judging a run's console against a test's checks, and explaining a
//! failure with the lines that show it.
//!
//! Trusted lines: in a run whose disk image got a key ([`Trust`]), a line
//! counts as printed by a test program only if it ends in a valid token of
//! that key ([`abi::tok`]) for a tokened program the run's commands name,
//! and no other line has the same token. Such a line is matched without
//! its token. A check matches only trusted lines unless its test accepts
//! untrusted output (`untrusted = true` in the spec); `no_match` always
//! looks at every line.

use std::sync::LazyLock;

use abi::console;
use regex::Regex;

use crate::spec::Check;
use crate::symbols::Symbolize;

/// What a run's tokens are checked with: the tokened programs its commands
/// run, each with the key its lines are made with (the run's key bound to
/// its arguments), and the commands that ended without their program's
/// closing token.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    pub programs: Vec<(String, [u8; 16])>,
    pub unclosed: Vec<String>,
}

impl Trust {
    /// The trust of a run keyed with `key` that typed `commands`.
    pub fn new(key: &[u8; 16], commands: &[String], unclosed: Vec<String>) -> Trust {
        let mut programs: Vec<(String, [u8; 16])> = crate::qemu::command_keys(key, commands)
            .into_iter()
            .flatten()
            .map(|(name, k)| (name.to_owned(), k))
            .collect();
        programs.dedup();
        Trust { programs, unclosed }
    }
}

/// A console transcript split into lines (`\r\n` or `\n`; the last line may
/// be an unfinished prompt).
#[derive(Clone)]
pub struct Console<'a> {
    lines: Vec<&'a str>,
    /// Each line's number (from 1) in the whole console.
    numbers: Vec<usize>,
    /// Each line was printed by a trusted test program.
    trusted: Vec<bool>,
    /// The part of each line its program printed: all of it, or what its
    /// token covers when something else came first on the line (a prompt,
    /// a dot another process wrote).
    own: Vec<&'a str>,
    /// Whether tokens were checked at all (the run had a key).
    keyed: bool,
}

/// What a check found: pass or fail, and on failure the lines that say why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    /// Not passed, but the run could not tell (a speed test on a machine
    /// too busy): NEEDS CORES rather than FAIL.
    pub inconclusive: bool,
    pub context: Vec<String>,
}

impl Verdict {
    fn pass() -> Self {
        Verdict {
            passed: true,
            inconclusive: false,
            context: Vec::new(),
        }
    }

    fn fail(context: Vec<String>) -> Self {
        Verdict {
            passed: false,
            inconclusive: false,
            context,
        }
    }
}

/// How many console lines a failure shows before and after a line of interest.
const RADIUS: usize = 2;
/// How many lines a failure shows from the end of the console.
const TAIL: usize = 10;
/// How many marked lines an excerpt shows at most (a flood of unexpected
/// lines needs only its first few to be seen).
const MAX_MARKED: usize = 8;
/// How many characters of a console line a report shows.
const LINE_CHARS: usize = 160;

/// The message of a check that matched only lines without a valid token.
pub const NOT_PRODUCED: &str = "output not produced by the test program: \
     the lines that match carry no valid token of this run";

impl<'a> Console<'a> {
    /// A console whose lines are all taken as printed (no tokens checked).
    pub fn new(text: &'a str) -> Self {
        let mut lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        Console {
            numbers: (1..=lines.len()).collect(),
            trusted: vec![true; lines.len()],
            own: lines.clone(),
            lines,
            keyed: false,
        }
    }

    /// A console whose tokens are checked with `trust` (with none, every
    /// line is trusted): tokens are taken off their lines, and
    /// [`Console::trusted`] has of each trusted line only what its program
    /// printed.
    pub fn with_trust(text: &'a str, trust: Option<&Trust>) -> Self {
        let mut console = Console::new(text);
        let Some(trust) = trust else {
            // No key to check them with (a test's stand-in for QEMU): the
            // tokens are only taken off.
            for line in &mut console.lines {
                if let Some((text, _)) = abi::tok::split(line) {
                    *line = text;
                }
            }
            console.own = console.lines.clone();
            return console;
        };
        console.keyed = true;
        let mut seen: std::collections::HashMap<(&str, u64, u32), usize> = Default::default();
        let mut ids = Vec::with_capacity(console.lines.len());
        let mut own = Vec::with_capacity(console.lines.len());
        for line in &mut console.lines {
            let Some((text, token)) = abi::tok::split(line) else {
                ids.push(None);
                own.push(*line);
                continue;
            };
            // The token is taken off whether it is valid or not: a line that
            // is not the program's then reads as printed, and fails as such.
            *line = text;
            let program = own_text(text, &token, trust);
            let id = program.map(|_| (token.name, token.nonce, token.seq));
            if let Some(id) = id {
                *seen.entry(id).or_default() += 1;
            }
            ids.push(id);
            own.push(program.unwrap_or(text));
        }
        // A token seen twice was replayed: neither copy counts.
        console.trusted = ids
            .iter()
            .map(|id| id.is_some_and(|id| seen[&id] == 1))
            .collect();
        console.own = own;
        console
    }

    /// Only the trusted lines (all of them if tokens were not checked).
    pub fn trusted(&self) -> Console<'a> {
        let keep = |i: &usize| self.trusted[*i];
        let kept: Vec<usize> = (0..self.lines.len()).filter(keep).collect();
        Console {
            lines: kept.iter().map(|&i| self.own[i]).collect(),
            own: kept.iter().map(|&i| self.own[i]).collect(),
            numbers: kept.iter().map(|&i| self.numbers[i]).collect(),
            trusted: vec![true; kept.len()],
            keyed: self.keyed,
        }
    }

    /// Whether tokens were checked.
    pub fn keyed(&self) -> bool {
        self.keyed
    }

    /// Whether line `i` was printed by a trusted test program.
    pub fn is_trusted(&self, i: usize) -> bool {
        self.trusted[i]
    }

    pub fn lines(&self) -> &[&'a str] {
        &self.lines
    }

    /// Whether `re` matches line `i`, as printed or with the shell prompts
    /// at its start removed: a command's output can land on the prompt's
    /// line when something prints while the shell waits.
    pub fn line_matches(&self, re: &Regex, i: usize) -> bool {
        line_matches(re, self.lines[i])
    }

    /// The indices of the lines `re` matches.
    pub fn matching(&self, re: &Regex) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|&i| self.line_matches(re, i))
            .collect()
    }

    /// Numbered lines around each of `marked` (which are flagged with `>`),
    /// with `...` where lines are skipped.
    pub fn excerpt(&self, marked: &[usize]) -> Vec<String> {
        let marked = &marked[..marked.len().min(MAX_MARKED)];
        let mut shown: Vec<usize> = marked
            .iter()
            .flat_map(|&m| m.saturating_sub(RADIUS)..=(m + RADIUS).min(self.lines.len() - 1))
            .collect();
        shown.sort_unstable();
        shown.dedup();
        let mut out = Vec::new();
        let mut next = 0;
        for i in shown {
            if i > next {
                out.push("     ...".to_owned());
            }
            out.push(self.numbered(i, marked.contains(&i)));
            next = i + 1;
        }
        if next < self.lines.len() {
            out.push("     ...".to_owned());
        }
        out
    }

    /// The last lines of the console, numbered, under a heading.
    pub fn tail(&self) -> Vec<String> {
        if self.lines.is_empty() {
            return vec![if self.keyed {
                "no line carries a valid token of this run".to_owned()
            } else {
                "the console is empty".to_owned()
            }];
        }
        let from = self.lines.len().saturating_sub(TAIL);
        let mut out = vec![if from == 0 {
            "console:".to_owned()
        } else {
            format!("console, last {} of {} lines:", TAIL, self.lines.len())
        }];
        out.extend((from..self.lines.len()).map(|i| self.numbered(i, false)));
        out
    }

    /// Several checks' explanations as one: their messages in order, then
    /// one excerpt holding every console line any of them showed (marked if
    /// any marked it), so that a test whose checks all failed shows the
    /// console once.
    pub fn merge(&self, context: impl IntoIterator<Item = String>) -> Vec<String> {
        static NUMBERED: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^([> ]) *(\d+) \| ").unwrap());
        let mut messages = Vec::new();
        let mut heading = None;
        let mut shown: std::collections::BTreeMap<usize, bool> = Default::default();
        for line in context {
            if let Some(c) = NUMBERED.captures(&line) {
                let i: usize = c[2].parse().unwrap_or(1);
                *shown.entry(i.saturating_sub(1)).or_default() |= &c[1] == ">";
            } else if line == "     ..." {
            } else if line == "console:" || line.starts_with("console, last ") {
                heading.get_or_insert(line);
            } else {
                messages.push(line);
            }
        }
        if let Some(h) = heading {
            messages.push(h);
        }
        let mut next = 0;
        for (&i, &marked) in &shown {
            if i >= self.lines.len() {
                continue;
            }
            if i > next {
                messages.push("     ...".to_owned());
            }
            messages.push(self.numbered(i, marked));
            next = i + 1;
        }
        if !shown.is_empty() && next < self.lines.len() {
            messages.push("     ...".to_owned());
        }
        messages
    }

    /// Line `i` for a report: numbered, and with control characters (a
    /// stray escape sequence, a backspace) made harmless for a terminal.
    fn numbered(&self, i: usize, marked: bool) -> String {
        let line = self.lines[i];
        let mut text: String = line
            .chars()
            .take(LINE_CHARS)
            .map(|c| {
                if c.is_control() && c != '\t' {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect();
        let more = line.chars().count().saturating_sub(LINE_CHARS);
        if more > 0 {
            text.push_str(&format!(" ... ({more} more characters)"));
        }
        format!(
            "{}{:>4} | {text}",
            if marked { '>' } else { ' ' },
            self.numbers[i]
        )
    }
}

/// What of `text` its `token` covers, if the token is valid under `trust`
/// for one of its programs: the whole text, or its end when something
/// else was printed on the line before the program's output.
fn own_text<'l>(text: &'l str, token: &abi::tok::Token, trust: &Trust) -> Option<&'l str> {
    trust
        .programs
        .iter()
        .filter(|(name, _)| name == token.name)
        .find_map(|(_, key)| token.covered(key, text))
}

/// A failed verdict for each command of the run that ended without its
/// program's closing token.
pub fn closing(trust: Option<&Trust>) -> Vec<Verdict> {
    trust
        .into_iter()
        .flat_map(|t| &t.unclosed)
        .map(|command| {
            Verdict::fail(vec![format!(
                "`{command}` ended without its closing token: the program was \
                 killed, or its output did not come from it"
            )])
        })
        .collect()
}

/// Judges a test's checks on `console`: on its trusted lines, or on all of
/// them if `untrusted` (or the console was not keyed); `no_match` on all.
/// A check that fails on the trusted lines but would pass on all says so
/// ([`NOT_PRODUCED`]).
pub fn evaluate_all(
    checks: &[Check],
    untrusted: bool,
    console: &Console,
    symbols: &dyn Symbolize,
) -> Vec<Verdict> {
    let trusted = console.trusted();
    checks
        .iter()
        .map(|check| {
            let everything = untrusted || !console.keyed || matches!(check, Check::NoMatch(_));
            if everything {
                return evaluate(check, console, symbols);
            }
            let mut v = evaluate(check, &trusted, symbols);
            if !v.passed && evaluate(check, console, symbols).passed {
                v.context.insert(0, NOT_PRODUCED.to_owned());
            }
            v
        })
        .collect()
}

/// Whether `re` matches `line` as printed or with the shell prompts at its
/// start removed.
pub fn line_matches(re: &Regex, mut line: &str) -> bool {
    loop {
        if re.is_match(line) {
            return true;
        }
        match line.strip_prefix(console::PROMPT) {
            Some(rest) => line = rest,
            None => return false,
        }
    }
}

/// Judges one check on `console`; `symbols` resolves kernel addresses for
/// backtrace checks.
pub fn evaluate(check: &Check, console: &Console, symbols: &dyn Symbolize) -> Verdict {
    match check {
        Check::Match(regexes) => {
            let missing: Vec<String> = regexes
                .iter()
                .filter(|re| console.matching(re).is_empty())
                .map(|re| format!("missing a line matching /{re}/"))
                .collect();
            if missing.is_empty() {
                return Verdict::pass();
            }
            Verdict::fail([missing, console.tail()].concat())
        }
        Check::NoMatch(regexes) => {
            let mut context = Vec::new();
            let mut hits = Vec::new();
            for re in regexes {
                let found = console.matching(re);
                if let Some(first) = found.first() {
                    context.push(format!(
                        "unexpected line {} matching /{re}/{}",
                        first + 1,
                        plural_more(found.len() - 1)
                    ));
                    hits.extend(found);
                }
            }
            if hits.is_empty() {
                return Verdict::pass();
            }
            hits.sort_unstable();
            hits.dedup();
            context.extend(console.excerpt(&hits));
            Verdict::fail(context)
        }
        Check::Count { regexes, times } => {
            let mut context = Vec::new();
            let mut hits = Vec::new();
            for re in regexes {
                let found = console.matching(re);
                if found.len() != *times {
                    context.push(format!(
                        "/{re}/ matched {}, expected {}",
                        times_word(found.len()),
                        times_word(*times)
                    ));
                    hits.extend(found);
                }
            }
            if context.is_empty() {
                return Verdict::pass();
            }
            hits.sort_unstable();
            hits.dedup();
            if hits.is_empty() {
                context.extend(console.tail());
            } else {
                context.extend(console.excerpt(&hits));
            }
            Verdict::fail(context)
        }
        Check::Delta { regex, by } => delta(console, regex, *by),
        Check::Range { regex, min, max } => range(console, regex, *min, *max),
        Check::Ratio { regex, min, busy } => ratio(console, regex, *min, busy.as_ref()),
        Check::Usertest(name) => usertest(console, name),
        Check::Backtrace(expected) => backtrace(console, expected, symbols),
        // The console cannot show it; `grade::verdict` judges it from how
        // the run ended.
        Check::Stopped(function) => stopped(function, false, console),
        // Not the console's either: `grade::verdict` reads the peer's record.
        Check::Peer(regexes) => peer(regexes, &[]),
    }
}

/// How many of the peer's lines a failed [`Check::Peer`] shows.
const PEER_SHOWN: usize = 5;

/// The verdict of a [`Check::Peer`] on `record`, the lines of what the
/// host's peer received (`crate::netpeer::Peer::record`).
pub fn peer(regexes: &[Regex], record: &[String]) -> Verdict {
    let missing: Vec<String> = regexes
        .iter()
        .filter(|re| !record.iter().any(|l| re.is_match(l)))
        .map(|re| format!("the host's peer received no datagram matching /{re}/"))
        .collect();
    if missing.is_empty() {
        return Verdict::pass();
    }
    let mut context = missing;
    context.push(match record.len() {
        0 => "(it received nothing)".to_owned(),
        n => format!("(it received {n}; the first: {})", {
            let shown: Vec<&str> = record.iter().take(PEER_SHOWN).map(String::as_str).collect();
            shown.join(" | ")
        }),
    });
    Verdict::fail(context)
}

/// The verdict of a [`Check::Stopped`]: whether the kernel stopped at
/// `function` (gdb reported it).
pub fn stopped(function: &str, stopped: bool, console: &Console) -> Verdict {
    if stopped {
        return Verdict::pass();
    }
    let mut context = vec![format!(
        "the kernel never stopped at {function} (a breakpoint, through gdb) while the \
         commands ran: they did not make that call"
    )];
    context.extend(console.tail());
    Verdict::fail(context)
}

fn times_word(n: usize) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

fn plural_more(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (and 1 more)".to_owned(),
        n => format!(" (and {n} more)"),
    }
}

fn delta(console: &Console, regex: &Regex, by: i64) -> Verdict {
    let found = console.matching(regex);
    if found.len() != 2 {
        let mut context = vec![format!(
            "/{regex}/ matched {}, expected twice (before and after)",
            times_word(found.len())
        )];
        context.extend(if found.is_empty() {
            console.tail()
        } else {
            console.excerpt(&found)
        });
        return Verdict::fail(context);
    }
    let number = |i: usize| captured_number(console, regex, i);
    let (first, second) = (found[0], found[1]);
    let mut context = match (number(first), number(second)) {
        (Some(a), Some(b)) if b.checked_sub(a) == Some(by) => return Verdict::pass(),
        (Some(a), Some(b)) => vec![format!(
            "went from {a} (line {}) to {b} (line {}): a change of {}, expected {by}",
            first + 1,
            second + 1,
            i128::from(b) - i128::from(a)
        )],
        _ => vec![format!("/{regex}/ captured something that is not a number")],
    };
    context.extend(console.excerpt(&found));
    Verdict::fail(context)
}

/// The number group 1 of `regex` captures on line `i` (past any prompts).
fn captured_number(console: &Console, regex: &Regex, i: usize) -> Option<i64> {
    let mut line = console.lines()[i];
    loop {
        if let Some(c) = regex.captures(line) {
            return c.get(1)?.as_str().trim().parse().ok();
        }
        line = line.strip_prefix(console::PROMPT)?;
    }
}

fn range(console: &Console, regex: &Regex, min: i64, max: i64) -> Verdict {
    let found = console.matching(regex);
    let mut context = match found.as_slice() {
        [i] => match captured_number(console, regex, *i) {
            Some(n) if (min..=max).contains(&n) => return Verdict::pass(),
            Some(n) => vec![format!("line {} says {n}, expected {min} to {max}", i + 1)],
            None => vec![format!("/{regex}/ captured something that is not a number")],
        },
        _ => vec![format!(
            "/{regex}/ matched {}, expected once",
            times_word(found.len())
        )],
    };
    context.extend(if found.is_empty() {
        console.tail()
    } else {
        console.excerpt(&found)
    });
    Verdict::fail(context)
}

fn ratio(console: &Console, regex: &Regex, min: f64, busy: Option<&(Regex, i64)>) -> Verdict {
    let found = console.matching(regex);
    let number = |i: usize| captured_number(console, regex, i);
    // Rates taken while the programs waited for a core say nothing, in
    // either direction: a slow base makes anything look fast.
    let too_busy = busy.and_then(|(re, max)| {
        console
            .matching(re)
            .into_iter()
            .find(|&i| captured_number(console, re, i).is_some_and(|n| n > *max))
            .map(|i| (i, *max))
    });
    let mut context = match (found.as_slice(), too_busy) {
        ([a, b], busy) => match (number(*a), number(*b)) {
            (Some(x), Some(y)) if y as f64 >= min * x as f64 && busy.is_none() => {
                return Verdict::pass();
            }
            (Some(x), Some(y)) => vec![format!(
                "line {} says {y}, line {} says {x}: {:.2} times, expected at least {min}",
                b + 1,
                a + 1,
                y as f64 / x.max(1) as f64
            )],
            _ => vec![format!("/{regex}/ captured something that is not a number")],
        },
        _ => vec![format!(
            "/{regex}/ matched {}, expected twice (the base, then the one compared)",
            times_word(found.len())
        )],
    };
    context.extend(if found.is_empty() {
        console.tail()
    } else {
        console.excerpt(&found)
    });
    let numbers = found.len() == 2 && found.iter().all(|&i| number(i).is_some());
    match too_busy {
        Some((line, max)) if numbers => Verdict {
            passed: false,
            inconclusive: true,
            context: [
                vec![format!(
                    "too busy a machine to tell: line {} says more than {max}; grade it again \
                     when nothing else runs",
                    line + 1
                )],
                context,
            ]
            .concat(),
        },
        _ => Verdict::fail(context),
    }
}

/// A usertests verdict: a line (or the rest of the test's line) ending in
/// the word OK or FAILED.
static VERDICT: LazyLock<Regex> = LazyLock::new(|| {
    let (ok, failed) = (regex::escape(console::OK), regex::escape(console::FAILED));
    Regex::new(&format!(r"(?:^|[^A-Za-z])({ok}|{failed})$")).unwrap()
});
/// Where usertests' report of one test ends at the latest: the next
/// report, the suite's last line, or a prompt (alone on its line, or not).
static NEXT_REPORT: LazyLock<Regex> = LazyLock::new(|| {
    let prompt = console::PROMPT;
    let ends = [
        format!(r"{}\S+:", regex::escape(console::TEST)),
        regex::escape(console::ALL_PASSED),
        regex::escape(console::SOME_FAILED),
        regex::escape(console::FAILED_BECAUSE),
        regex::escape(prompt),
        format!("{}$", regex::escape(prompt.trim_end())),
    ];
    Regex::new(&format!("^(?:{})", ends.join("|"))).unwrap()
});

fn usertest(console: &Console, name: &str) -> Verdict {
    let start = Regex::new(&format!(
        r"(?:^|[^\w]){}{}:(.*)$",
        regex::escape(console::TEST),
        regex::escape(name)
    ))
    .expect("an escaped name is a valid regex");
    let lines = console.lines();
    let mut reports = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = start.captures(line).and_then(|c| c.get(1)) else {
            continue;
        };
        reports += 1;
        // The verdict is on this line or a later one, after whatever the
        // kernel printed meanwhile, but before the next test's report.
        let later = lines[i + 1..]
            .iter()
            .enumerate()
            .take_while(|(_, l)| !NEXT_REPORT.is_match(l))
            .map(|(k, l)| (i + 1 + k, l.trim()));
        let verdict = std::iter::once((i, rest.as_str().trim()))
            .chain(later)
            .find_map(|(k, text)| Some((k, VERDICT.captures(text)?.get(1)?.as_str())));
        match verdict {
            Some((_, verdict)) if verdict == console::OK => {}
            Some((k, _)) => {
                let mut context = vec![format!("usertests reported test {name}: FAILED")];
                context.extend(console.excerpt(&(i..=k).collect::<Vec<_>>()));
                return Verdict::fail(context);
            }
            None => {
                let mut context = vec![format!(
                    "usertests started test {name} but gave no OK or FAILED for it"
                )];
                context.extend(console.excerpt(&[i]));
                return Verdict::fail(context);
            }
        }
    }
    if reports == 0 {
        let mut context = vec![format!("usertests never reported test {name}")];
        context.extend(console.tail());
        return Verdict::fail(context);
    }
    Verdict::pass()
}

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^0x([0-9a-fA-F]{1,16})$").unwrap());

fn backtrace(console: &Console, expected: &[String], symbols: &dyn Symbolize) -> Verdict {
    let lines = console.lines();
    let Some(start) = lines.iter().position(|l| l.trim() == "backtrace:") else {
        let mut context = vec!["no line says `backtrace:`".to_owned()];
        context.extend(console.tail());
        return Verdict::fail(context);
    };
    let addresses: Vec<(usize, u64)> = lines[start + 1..]
        .iter()
        .map_while(|l| {
            let hex = ADDRESS.captures(l.trim())?.get(1)?.as_str();
            u64::from_str_radix(hex, 16).ok()
        })
        .enumerate()
        .map(|(k, a)| (start + 1 + k, a))
        .collect();
    let mut context = Vec::new();
    let mut ok = addresses.len() == expected.len();
    if !ok {
        context.push(format!(
            "the backtrace has {} address{}, expected {} ({})",
            addresses.len(),
            if addresses.len() == 1 { "" } else { "es" },
            expected.len(),
            expected.join(", ")
        ));
    }
    for (k, &(_, address)) in addresses.iter().enumerate() {
        // A return address can be the first byte after its function.
        let found = symbols.functions(address.saturating_sub(1));
        let want = expected.get(k);
        let (good, names) = match &found {
            Ok(names) if names.is_empty() => (false, "no function".to_owned()),
            Ok(names) => (
                want.is_some_and(|w| names.contains(w)),
                names.join(" inlined in "),
            ),
            Err(e) => (false, e.clone()),
        };
        ok &= good;
        let wanted = want.map_or_else(|| "nothing".to_owned(), |w| w.clone());
        context.push(format!(
            "{} {address:#018x} is in {names}, expected {wanted}",
            if good { "ok " } else { "BAD" }
        ));
    }
    if ok {
        return Verdict::pass();
    }
    let marked: Vec<usize> = std::iter::once(start)
        .chain(addresses.iter().map(|&(i, _)| i))
        .collect();
    context.extend(console.excerpt(&marked));
    Verdict::fail(context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::Symbolize;

    fn data(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    /// Addresses from the recorded bttest transcript, as the reference
    /// kernel's ELF symbolises them.
    struct Table;
    impl Symbolize for Table {
        fn functions(&self, address: u64) -> Result<Vec<String>, String> {
            let names: &[&str] = match address {
                0x8000_2d0f..=0x8000_2d2f => &["sys_sleep"],
                0x8000_2a00..=0x8000_2aff => &["dispatch", "syscall"],
                0x8000_2600..=0x8000_26ff => &["usertrap"],
                _ => &[],
            };
            Ok(names.iter().map(|s| s.to_string()).collect())
        }
    }

    fn judge(check: &Check, transcript: &str) -> Verdict {
        let text = data(transcript);
        evaluate(check, &Console::new(&text), &Table)
    }

    #[test]
    fn lines_keep_the_unfinished_prompt_and_drop_carriage_returns() {
        let c = Console::new("a\r\nb\n$ ");
        assert_eq!(c.lines(), &["a", "b", "$ "]);
        assert_eq!(Console::new("a\n").lines(), &["a"]);
    }

    #[test]
    fn matching_sees_past_prompts_on_the_line() {
        let c = Console::new("$ $ 4: received ping\n$ echo hello\nhello\n");
        assert_eq!(c.matching(&re(r"^\d+: received ping$")), vec![0]);
        assert_eq!(c.matching(&re("^hello$")), vec![2]);
    }

    #[test]
    fn match_passes_and_fails_on_a_shell_session() {
        let ok = Check::Match(vec![re("^hello$"), re("^x$")]);
        assert!(judge(&ok, "shell.txt").passed);
        let bad = Check::Match(vec![re("^hello$"), re("^goodbye$")]);
        let v = judge(&bad, "shell.txt");
        assert!(!v.passed);
        assert_eq!(v.context[0], "missing a line matching /^goodbye$/");
        assert!(
            v.context[1].starts_with("console, last 10 of"),
            "{:?}",
            v.context
        );
        assert!(v.context.last().unwrap().ends_with("| $ "));
    }

    #[test]
    fn no_match_points_at_the_offending_lines() {
        assert!(judge(&Check::NoMatch(vec![re("^panic: ")]), "shell.txt").passed);
        let v = judge(
            &Check::NoMatch(vec![re("^exec .* failed$")]),
            "util-broken.txt",
        );
        assert!(!v.passed);
        insta::assert_snapshot!(v.context.join("\n"));
    }

    #[test]
    fn count_wants_the_exact_number() {
        let primes: Vec<Regex> = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31]
            .iter()
            .map(|p| re(&format!("^prime {p}$")))
            .collect();
        let once = Check::Count {
            regexes: primes.clone(),
            times: 1,
        };
        assert!(judge(&once, "primes.txt").passed);
        let v = judge(&once, "primes-broken.txt");
        assert!(!v.passed);
        insta::assert_snapshot!(v.context.join("\n"));
        let twice = Check::Count {
            regexes: vec![re("^simple: ok$")],
            times: 2,
        };
        assert!(!judge(&twice, "primes.txt").passed);
    }

    #[test]
    fn delta_compares_the_two_captures() {
        let copyin = |by| Check::Delta {
            regex: re(r"^copyin: (\d+)$"),
            by,
        };
        assert!(judge(&copyin(28), "stats.txt").passed);
        let v = judge(&copyin(27), "stats.txt");
        assert!(!v.passed);
        insta::assert_snapshot!(v.context.join("\n"));
        let once = Check::Delta {
            regex: re(r"^copyinstr: (\d+)$"),
            by: 0,
        };
        let v = judge(&once, "shell.txt");
        assert_eq!(
            v.context[0],
            r"/^copyinstr: (\d+)$/ matched 0 times, expected twice (before and after)"
        );
        let text = "a: x\na: 3\n";
        let not_a_number = Check::Delta {
            regex: re(r"^a: (\w+)$"),
            by: 1,
        };
        let v = evaluate(&not_a_number, &Console::new(text), &Table);
        assert_eq!(
            v.context[0],
            r"/^a: (\w+)$/ captured something that is not a number"
        );
    }

    #[test]
    fn usertest_finds_verdicts_among_kernel_messages() {
        let t = |name: &str| judge(&Check::Usertest(name.to_owned()), "usertests.txt");
        // Reported OK after two kernel lines.
        assert!(t("copyin").passed);
        // "copyin" must not be confused with these.
        assert!(t("copyinstr1").passed);
        assert!(t("copyinstr3").passed);
        let failed = t("sbrkmuch");
        assert!(!failed.passed);
        insta::assert_snapshot!(failed.context.join("\n"));
        let silent = t("bigdir");
        assert_eq!(silent.context[0], "usertests never reported test bigdir");
        let unfinished = t("forkfork");
        assert_eq!(
            unfinished.context[0],
            "usertests started test forkfork but gave no OK or FAILED for it"
        );
        // The summary's FAILED is not a test's verdict.
        assert!(!t("textwrite").passed);
    }

    #[test]
    fn backtrace_symbolises_in_order() {
        let want = |names: &[&str]| Check::Backtrace(names.iter().map(|s| s.to_string()).collect());
        assert!(judge(&want(&["sys_sleep", "syscall", "usertrap"]), "bttest.txt").passed);
        // An inlined function's caller counts too.
        assert!(judge(&want(&["sys_sleep", "dispatch", "usertrap"]), "bttest.txt").passed);
        let v = judge(&want(&["sys_sleep", "usertrap", "syscall"]), "bttest.txt");
        assert!(!v.passed);
        insta::assert_snapshot!(v.context.join("\n"));
        let short = judge(
            &want(&["sys_sleep", "syscall", "usertrap", "main"]),
            "bttest.txt",
        );
        assert_eq!(
            short.context[0],
            "the backtrace has 3 addresses, expected 4 (sys_sleep, syscall, usertrap, main)"
        );
        let none = judge(&want(&["sys_sleep"]), "shell.txt");
        assert_eq!(none.context[0], "no line says `backtrace:`");
    }

    #[test]
    fn ratio_compares_two_numbers_and_a_busy_machine_is_unsure() {
        let check = |min, busy: Option<i64>| Check::Ratio {
            regex: re(r" (\d+) puts/second$"),
            min,
            busy: busy.map(|max| (re(r"^waited (\d+)%$"), max)),
        };
        let text = "$ ph 1\n100 puts, 1 seconds, 1000 puts/second\n$ ph 2\n\
                    100 puts, 1 seconds, 1300 puts/second\nwaited 4%\n";
        let c = Console::new(text);
        assert!(evaluate(&check(1.25, None), &c, &Table).passed);
        assert!(evaluate(&check(1.3, Some(10)), &c, &Table).passed);
        // Fast enough, but measured on a busy machine: it cannot tell.
        let v = evaluate(&check(1.3, Some(3)), &c, &Table);
        assert!(!v.passed && v.inconclusive, "{v:?}");
        let v = evaluate(&check(1.5, Some(10)), &c, &Table);
        assert!(!v.passed && !v.inconclusive);
        assert_eq!(
            v.context[0],
            "line 4 says 1300, line 2 says 1000: 1.30 times, expected at least 1.5"
        );
        // The same shortfall, while the threads waited for a core.
        let v = evaluate(&check(1.5, Some(3)), &c, &Table);
        assert!(!v.passed && v.inconclusive, "{v:?}");
        assert!(v.context[0].starts_with("too busy a machine to tell: line 5"));
        // Slower with two: the order of the lines counts.
        let slower = text.replace("1300", "900");
        let v = evaluate(&check(1.25, None), &Console::new(&slower), &Table);
        assert!(!v.passed);
        // Not two lines: a failure, however busy.
        let one = Console::new("1 puts, 1000 puts/second\nwaited 50%\n");
        let v = evaluate(&check(1.25, Some(10)), &one, &Table);
        assert!(!v.passed && !v.inconclusive);
        assert!(
            v.context[0]
                .ends_with("matched once, expected twice (the base, then the one compared)")
        );
    }

    #[test]
    fn range_wants_one_line_with_a_number_in_bounds() {
        let check = |min, max| Check::Range {
            regex: re(r"^alarm interval 3: (\d+) calls$"),
            min,
            max,
        };
        let one = Console::new("$ alarm interval 3: 12 calls\n$ ");
        assert!(evaluate(&check(10, 14), &one, &Table).passed);
        let v = evaluate(&check(13, 20), &one, &Table);
        assert_eq!(v.context[0], "line 1 says 12, expected 13 to 20");
        let two = Console::new("alarm interval 3: 12 calls\nalarm interval 3: 12 calls\n");
        let v = evaluate(&check(10, 14), &two, &Table);
        assert!(
            v.context[0].ends_with("matched 2 times, expected once"),
            "{:?}",
            v.context
        );
        let none = Console::new("alarm interval 4: 12 calls\n");
        let v = evaluate(&check(10, 14), &none, &Table);
        assert!(
            v.context[0].ends_with("matched 0 times, expected once"),
            "{:?}",
            v.context
        );
    }

    #[test]
    fn long_lines_and_many_hits_are_cut_short() {
        let text = format!("{}\n", "unexpected ".repeat(100)).repeat(50);
        let v = evaluate(
            &Check::NoMatch(vec![re("unexpected")]),
            &Console::new(&text),
            &Table,
        );
        assert!(v.context.len() < 20, "{}", v.context.len());
        assert!(v.context.iter().all(|l| l.len() < 250), "{:?}", v.context);
        assert!(
            v.context[1].ends_with("... (940 more characters)"),
            "{}",
            v.context[1]
        );
    }

    #[test]
    fn merged_explanations_show_the_console_once() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let c = Console::new(&text);
        let a = evaluate(&Check::Match(vec![re("^nope$")]), &c, &Table);
        let b = evaluate(&Check::NoMatch(vec![re("^line 3$")]), &c, &Table);
        let d = evaluate(&Check::Match(vec![re("^nor this$")]), &c, &Table);
        let merged = c.merge([a.context, b.context, d.context].concat());
        assert_eq!(
            merged[..4],
            [
                "missing a line matching /^nope$/",
                "unexpected line 3 matching /^line 3$/",
                "missing a line matching /^nor this$/",
                "console, last 10 of 30 lines:",
            ]
        );
        assert_eq!(merged[4], "    1 | line 1");
        assert_eq!(merged[6], ">   3 | line 3");
        assert_eq!(merged[9], "     ...");
        assert_eq!(merged.last().unwrap(), "   30 | line 30");
        assert_eq!(
            merged.iter().filter(|l| l.ends_with("| line 30")).count(),
            1
        );
    }

    /// A line as `name` (nonce `nonce`) prints it as line `seq` under `key`.
    fn tokened(key: &[u8; 16], name: &str, nonce: u64, seq: u32, text: &str) -> String {
        let mac = abi::tok::mac(key, name, nonce, seq, text.as_bytes());
        let token = abi::tok::Token {
            name,
            nonce,
            seq,
            mac,
        };
        format!("{text}{token}")
    }

    const KEY: [u8; 16] = *b"a run's own key!";

    fn trust() -> Trust {
        Trust {
            programs: vec![("cowtest".into(), KEY), ("randlab".into(), KEY)],
            unclosed: Vec::new(),
        }
    }

    #[test]
    fn a_line_is_trusted_only_for_the_command_line_it_was_made_for() {
        let run_key = *b"0123456789abcdef";
        let commands = vec!["cowtest".to_owned(), "randlab cow 1 2 3".to_owned()];
        let t = Trust::new(&run_key, &commands, Vec::new());
        assert_eq!(t.programs.len(), 2);
        let key =
            |args: &[&str]| abi::tok::command_key(&run_key, args.iter().map(|a| a.as_bytes()));
        let text = |k: &[u8; 16]| {
            format!(
                "{}\n",
                tokened(k, "randlab", 5, 0, "randlab cow: child sum 6")
            )
        };
        let right = text(&key(&["randlab", "cow", "1", "2", "3"]));
        let other_args = text(&key(&["randlab", "cow", "1", "2", "4"]));
        let run_key_only = text(&run_key);
        let ok = |console: &str| Console::with_trust(console, Some(&t)).is_trusted(0);
        assert!(ok(&right));
        assert!(!ok(&other_args));
        assert!(!ok(&run_key_only));
    }

    fn judge_trusted(checks: &[Check], untrusted: bool, text: &str) -> Vec<Verdict> {
        let t = trust();
        let console = Console::with_trust(text, Some(&t));
        evaluate_all(checks, untrusted, &console, &Table)
    }

    #[test]
    fn a_valid_token_makes_a_line_trusted_and_is_taken_off() {
        let text = format!(
            "xv6 kernel is booting\n$ cowtest\n{}\n$ {}\n",
            tokened(&KEY, "cowtest", 7, 0, "simple: ok"),
            tokened(&KEY, "cowtest", 7, 1, "three: ok"),
        );
        let t = trust();
        let c = Console::with_trust(&text, Some(&t));
        assert_eq!(c.lines()[2], "simple: ok");
        // The prompt before it is not the program's: the token still holds.
        assert_eq!(c.lines()[3], "$ three: ok");
        assert_eq!(c.trusted().lines(), ["simple: ok", "three: ok"]);
        assert_eq!(
            (0..4).map(|i| c.is_trusted(i)).collect::<Vec<_>>(),
            [false, false, true, true]
        );
        let v = judge_trusted(
            &[Check::Match(vec![re("^simple: ok$"), re("^three: ok$")])],
            false,
            &text,
        );
        assert!(v[0].passed, "{:?}", v[0]);
    }

    #[test]
    fn lines_without_a_valid_token_do_not_pass() {
        let good = tokened(&KEY, "cowtest", 7, 0, "simple: ok");
        let other_key = tokened(b"another run key!", "cowtest", 7, 0, "simple: ok");
        let altered = good.replacen("simple: ok", "simple: OK", 1);
        let wrong_program = tokened(&KEY, "usertests", 7, 0, "simple: ok");
        let check = [Check::Match(vec![re("^simple: (ok|OK)$")])];
        for line in [
            "simple: ok".to_owned(),
            other_key,
            altered,
            wrong_program,
            // The same token twice: a replay; neither copy counts.
            format!("{good}\n{good}"),
        ] {
            let v = judge_trusted(&check, false, &format!("{line}\n"));
            assert!(!v[0].passed, "{line}");
            assert_eq!(v[0].context[0], NOT_PRODUCED, "{line}");
        }
        // A plain line that does not even match says only that.
        let v = judge_trusted(&check, false, "nothing\n");
        assert_eq!(
            v[0].context[0],
            "missing a line matching /^simple: (ok|OK)$/"
        );
    }

    #[test]
    fn counts_and_usertests_see_only_trusted_lines() {
        let text = format!(
            "{}\nthree: ok\n{}\ntest copyin: OK\n",
            tokened(&KEY, "cowtest", 1, 0, "three: ok"),
            tokened(&KEY, "cowtest", 2, 0, "three: ok"),
        );
        let twice = Check::Count {
            regexes: vec![re("^three: ok$")],
            times: 2,
        };
        assert!(judge_trusted(&[twice], false, &text)[0].passed);
        let v = judge_trusted(&[Check::Usertest("copyin".into())], false, &text);
        assert!(!v[0].passed);
        assert_eq!(v[0].context[0], NOT_PRODUCED);
    }

    #[test]
    fn untrusted_tests_and_no_match_see_every_line() {
        let text = "3: syscall read -> 1023\nFAILED\n";
        let syscall = Check::Match(vec![re(r"^3: syscall read -> 1023$")]);
        assert!(!judge_trusted(std::slice::from_ref(&syscall), false, text)[0].passed);
        assert!(judge_trusted(&[syscall], true, text)[0].passed);
        // An untokened failure line still fails a no_match.
        assert!(!judge_trusted(&[Check::NoMatch(vec![re("FAILED")])], false, text)[0].passed);
    }

    #[test]
    fn report_lines_keep_their_console_numbers() {
        let text = format!(
            "a\nb\n{}\nc\n",
            tokened(&KEY, "randlab", 3, 0, "randlab cow: child sum 1")
        );
        let v = judge_trusted(
            &[Check::Count {
                regexes: vec![re("^randlab cow: child sum")],
                times: 2,
            }],
            false,
            &text,
        );
        assert!(
            v[0].context
                .iter()
                .any(|l| l == ">   3 | randlab cow: child sum 1"),
            "{:?}",
            v[0].context
        );
    }

    #[test]
    fn an_unclosed_command_fails_its_runs_tests() {
        let mut t = trust();
        assert!(closing(Some(&t)).is_empty());
        assert!(closing(None).is_empty());
        t.unclosed.push("cowtest".into());
        let v = closing(Some(&t));
        assert_eq!(v.len(), 1);
        assert!(!v[0].passed);
        assert!(v[0].context[0].starts_with("`cowtest` ended without its closing token"));
    }

    #[test]
    fn partial_output_rules() {
        assert!(Check::Match(vec![]).holds_on_partial_output());
        assert!(Check::Usertest("x".into()).holds_on_partial_output());
        assert!(!Check::NoMatch(vec![]).holds_on_partial_output());
        assert!(
            !Check::Count {
                regexes: vec![],
                times: 1
            }
            .holds_on_partial_output()
        );
    }
}
