//! The solution markers of lab files: reading them ([`parse`]) and
//! cutting a file to its starter or neutral stub ([`cut`]).

pub(super) const BEGIN: &str = "// BEGIN SOLUTION";
pub(super) const END: &str = "// END SOLUTION";
pub(super) const STARTER: &str = "// STARTER:";
pub(super) const NEUTRAL: &str = "// NEUTRAL:";
pub(super) const FILE: &str = "// SOLUTION FILE";

/// Which tree [`write_tree`] cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// What students get.
    Starter,
    /// The starter with every hook and system call returning its neutral
    /// value instead of panicking, and util's programs doing nothing.
    Neutral,
}

/// A neutral stub's program for a util solution file.
pub(super) const NEUTRAL_PROGRAM: &str = "\
#![no_std]
#![no_main]
//! Does nothing: a neutral stub, for check-starters.

use user::*;

entry!(main);

fn main(_: Args) -> i32 {
    0
}
";

#[derive(Debug, PartialEq)]
pub(super) enum Marker {
    Begin,
    End,
    /// The replacement line, indented like the marker.
    Starter(String),
    /// The neutral stub's line, indented like the marker.
    Neutral(String),
    File,
}

/// The marker on `line`, if it is one.
pub(super) fn marker(line: &str) -> Option<Marker> {
    let text = line.trim();
    let indent = &line[..line.len() - line.trim_start().len()];
    match text {
        BEGIN => Some(Marker::Begin),
        END => Some(Marker::End),
        FILE => Some(Marker::File),
        _ => {
            let (neutral, rest) = match text.strip_prefix(STARTER) {
                Some(rest) => (false, rest),
                None => (true, text.strip_prefix(NEUTRAL)?),
            };
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let line = if rest.is_empty() {
                String::new()
            } else {
                format!("{indent}{rest}")
            };
            Some(if neutral {
                Marker::Neutral(line)
            } else {
                Marker::Starter(line)
            })
        }
    }
}

/// A comment that starts like a marker without being one
/// (`//BEGIN SOLUTION`, `// end solution.`): a reader takes it for a
/// marker, the cutter would not, and the solution would stay in the starter.
pub(super) fn near_miss(line: &str) -> bool {
    let text = line.trim();
    let Some(body) = text.strip_prefix("//") else {
        return false;
    };
    if body.starts_with('/') || body.starts_with('!') {
        return false;
    }
    let body = body.trim_start().to_uppercase();
    [
        "BEGIN SOLUTION",
        "END SOLUTION",
        "SOLUTION FILE",
        "STARTER:",
        "NEUTRAL:",
    ]
    .iter()
    .any(|m| body.starts_with(m))
}

/// One solution region, by line index (0-based) into its file.
#[derive(Debug)]
pub(super) struct Region {
    pub(super) begin: usize,
    pub(super) end: usize,
    pub(super) starter: Vec<String>,
    pub(super) neutral: Vec<String>,
}

impl Region {
    /// The region's last line: its last STARTER or NEUTRAL marker.
    fn last(&self) -> usize {
        self.end + self.starter.len() + self.neutral.len()
    }
}

/// The markers of a file.
#[derive(Debug, Default)]
pub(super) struct Marked {
    /// The line of `// SOLUTION FILE`.
    pub(super) whole_file: Option<usize>,
    pub(super) regions: Vec<Region>,
    /// Indices of every marker line.
    pub(super) marker_lines: Vec<usize>,
}

impl Marked {
    pub(super) fn is_marked(&self) -> bool {
        self.whole_file.is_some() || !self.regions.is_empty()
    }

    /// Whether line `i` is inside a region (markers included).
    pub(super) fn in_region(&self, i: usize) -> bool {
        self.whole_file.is_some()
            || self
                .regions
                .iter()
                .any(|r| (r.begin..=r.last()).contains(&i))
    }

    /// Whether line `i` is solution code: between a region's markers, or
    /// anywhere in a solution file.
    pub(super) fn is_solution(&self, i: usize) -> bool {
        self.whole_file.is_some() || self.regions.iter().any(|r| r.begin < i && i < r.end)
    }
}

/// Reads the markers of `text`, the file `path`. Markers are Rust
/// comments: other files (docs showing them) have none.
pub(super) fn parse(path: &str, text: &str) -> Result<Marked, String> {
    let mut marked = Marked::default();
    if !path.ends_with(".rs") {
        return Ok(marked);
    }
    let mut open: Option<usize> = None;
    // The region the next `STARTER:` line may extend.
    let mut last_closed: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let at = |what: &str| format!("{path}:{}: {what}", i + 1);
        let Some(m) = marker(line) else {
            if near_miss(line) {
                return Err(at(&format!(
                    "this comment looks like a solution marker but is not one \
                     (markers are `{BEGIN}`, `{END}`, `{STARTER} <line>` and `{FILE}`, alone on their line)"
                )));
            }
            last_closed = None;
            continue;
        };
        marked.marker_lines.push(i);
        match m {
            Marker::Begin => {
                if let Some(b) = open {
                    return Err(at(&format!(
                        "`{BEGIN}` inside the region begun at line {}",
                        b + 1
                    )));
                }
                open = Some(i);
                last_closed = None;
            }
            Marker::End => {
                let Some(begin) = open.take() else {
                    return Err(at(&format!("`{END}` without a `{BEGIN}`")));
                };
                marked.regions.push(Region {
                    begin,
                    end: i,
                    starter: Vec::new(),
                    neutral: Vec::new(),
                });
                last_closed = Some(marked.regions.len() - 1);
            }
            Marker::Starter(line) => match last_closed {
                Some(r) if open.is_none() && marked.regions[r].neutral.is_empty() => {
                    marked.regions[r].starter.push(line)
                }
                _ => {
                    return Err(at(&format!(
                        "`{STARTER}` lines must follow `{END}` or another `{STARTER}` line"
                    )));
                }
            },
            Marker::Neutral(line) => match last_closed {
                Some(r) if open.is_none() => marked.regions[r].neutral.push(line),
                _ => {
                    return Err(at(&format!(
                        "`{NEUTRAL}` lines must follow a region's `{STARTER}` lines (or its `{END}`)"
                    )));
                }
            },
            Marker::File => {
                if marked.whole_file.is_some() {
                    return Err(at(&format!("a second `{FILE}`")));
                }
                marked.whole_file = Some(i);
                last_closed = None;
            }
        }
    }
    if let Some(b) = open {
        return Err(format!("{path}:{}: `{BEGIN}` is never ended", b + 1));
    }
    // A starter that panics proves nothing about what the tests need.
    if let Some(r) = marked.regions.iter().find(|r| {
        r.neutral.is_empty()
            && r.starter.iter().any(|l| {
                ["todo!", "unimplemented!", "panic!"]
                    .iter()
                    .any(|m| l.contains(m))
            })
    }) {
        return Err(format!(
            "{path}:{}: this region's starter panics, so it needs `{NEUTRAL} <line>`s after its              `{STARTER}` lines: what it returns when it does nothing (check-starters grades that too)",
            r.end + 1
        ));
    }
    if let Some(f) = marked.whole_file
        && !marked.regions.is_empty()
    {
        return Err(format!(
            "{path}:{}: a `{FILE}` cannot also have solution regions",
            f + 1
        ));
    }
    Ok(marked)
}

/// The starter of a marked text: each region replaced by its STARTER
/// lines. Line endings are kept as they were; a region that goes without a
/// trace between blank lines takes one of them along.
pub(super) fn cut(text: &str, marked: &Marked, kind: Cut) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let blank = |l: &str| l.trim().is_empty();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut regions = marked.regions.iter().peekable();
    // A region vanished after a blank line (or at the top): the next
    // blank line would make two.
    let mut skip_blank = false;
    let mut i = 0;
    while i < lines.len() {
        if let Some(r) = regions.next_if(|r| r.begin == i) {
            let last = r.last();
            let line = lines[last];
            let ending = match &line[line.trim_end_matches(['\n', '\r']).len()..] {
                "" => "\n",
                e => e,
            };
            let with = match kind {
                Cut::Neutral if !r.neutral.is_empty() => &r.neutral,
                _ => &r.starter,
            };
            out.extend(with.iter().map(|s| format!("{s}{ending}")));
            skip_blank = with.is_empty() && out.last().is_none_or(|l| blank(l));
            i = last + 1;
            continue;
        }
        if !(skip_blank && blank(lines[i])) {
            out.push(lines[i].to_string());
        }
        skip_blank = false;
        i += 1;
    }
    if skip_blank && out.last().is_some_and(|l| blank(l)) {
        out.pop();
    }
    out.concat()
}

/// Whether a line says enough to identify solution code: `}` or `0` do not.
pub(super) fn significant(line: &str) -> bool {
    line.chars().filter(|c| c.is_alphanumeric()).count() >= 3
}
