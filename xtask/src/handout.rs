//! `cargo xtask handout`: student trees cut from this repository, and the
//! cutting itself ([`write_student_tree`]) for other xtask code:
//! `check-starters`, and batch grading, which builds each submission in a
//! starter tree with the student's lab files on top.
//!
//! Solution markers, each alone on its line (indentation is free):
//! - `// BEGIN SOLUTION` … `// END SOLUTION`: the reference solution. The
//!   starter has neither these lines nor the ones between.
//! - `// STARTER: <text>`, right after an `END SOLUTION` (several in a
//!   row): the starter has `<text>` there instead, at the marker's
//!   indentation. Imports only solution code needs go in a region too,
//!   so that the starter has no unused import.
//! - `// NEUTRAL: <text>`, after a region's STARTER lines: what the
//!   *neutral stub* has there instead of them, where the starter would
//!   panic (`todo!()`): the value that does nothing (`0`). `check-starters`
//!   grades the neutral stubs too: a spec must give them 0 as well, so no
//!   test passes merely because the kernel did not panic. Students never
//!   see these lines.
//! - `// SOLUTION FILE`: the whole file is the solution, and the starter
//!   does not have it (the util lab's programs, which students write). Its
//!   neutral stub is a program that does nothing and exits 0.
//!
//! Markers may only be in a lab's files ([`lab_files`]), and each lab file
//! has some: a file without them would hand out its solution.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::fsutil;
use crate::labs::{self, LabSet};
use crate::run::Ctx;

/// A set of the registry's labs (indices into it), for starters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Starters(BTreeSet<usize>);

impl Starters {
    pub const NONE: Starters = Starters(BTreeSet::new());

    /// Every lab of the course.
    pub fn all() -> Starters {
        Starters((0..labs::registry().labs.len()).collect())
    }

    /// A lab (`cow`, `lab-cow`), a group of the registry (MIT's `syscall`),
    /// `all`, or a comma-separated list of them.
    pub fn parse(spec: &str) -> Result<Starters, String> {
        let r = labs::registry();
        spec.split(',').try_fold(Starters::NONE, |set, word| {
            let word = word.trim();
            if word.strip_prefix("lab-").unwrap_or(word) == "all" {
                return Ok(Starters::all());
            }
            match r.members(word) {
                Some(members) => Ok(members.iter().fold(set, |s, m| s.with(&m.name))),
                None => Err(format!(
                    "unknown lab `{word}`: the labs are {}, or all",
                    r.names()
                )),
            }
        })
    }

    fn with(mut self, lab: &str) -> Starters {
        if let Some(i) = labs::registry().labs.iter().position(|l| l.name == lab) {
            self.0.insert(i);
        }
        self
    }

    pub fn contains(&self, lab: &str) -> bool {
        self.names().any(|l| l == lab)
    }

    pub fn union(mut self, other: Starters) -> Starters {
        self.0.extend(other.0);
        self
    }

    /// Adds `other`'s labs.
    pub fn extend(&mut self, other: Starters) {
        self.0.extend(other.0);
    }

    pub fn minus(&self, other: &Starters) -> Starters {
        Starters(self.0.difference(&other.0).copied().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labs in course order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let all = &labs::registry().labs;
        self.0.iter().map(move |&i| all[i].name.as_str())
    }
}

/// The kernel configuration a lab is graded on: util's is the base kernel.
pub fn lab_config(lab: &str) -> LabSet {
    LabSet::parse(lab).unwrap_or(LabSet::BASE)
}

/// The files of `lab` a student works in (paths relative to the root):
/// what a starter changes and what batch grading takes from a submission.
pub fn lab_files(lab: &str) -> Vec<String> {
    labs::lab(lab).map(|l| l.files()).unwrap_or_default()
}

/// The lab whose file `path` is.
fn lab_of_file(path: &str) -> Option<&'static str> {
    labs::registry().lab_of_file(path).map(|l| l.name.as_str())
}

const BEGIN: &str = "// BEGIN SOLUTION";
const END: &str = "// END SOLUTION";
const STARTER: &str = "// STARTER:";
const NEUTRAL: &str = "// NEUTRAL:";
const FILE: &str = "// SOLUTION FILE";

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
const NEUTRAL_PROGRAM: &str = "\
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
enum Marker {
    Begin,
    End,
    /// The replacement line, indented like the marker.
    Starter(String),
    /// The neutral stub's line, indented like the marker.
    Neutral(String),
    File,
}

/// The marker on `line`, if it is one.
fn marker(line: &str) -> Option<Marker> {
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
fn near_miss(line: &str) -> bool {
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
struct Region {
    begin: usize,
    end: usize,
    starter: Vec<String>,
    neutral: Vec<String>,
}

impl Region {
    /// The region's last line: its last STARTER or NEUTRAL marker.
    fn last(&self) -> usize {
        self.end + self.starter.len() + self.neutral.len()
    }
}

/// The markers of a file.
#[derive(Debug, Default)]
struct Marked {
    /// The line of `// SOLUTION FILE`.
    whole_file: Option<usize>,
    regions: Vec<Region>,
    /// Indices of every marker line.
    marker_lines: Vec<usize>,
}

impl Marked {
    fn is_marked(&self) -> bool {
        self.whole_file.is_some() || !self.regions.is_empty()
    }

    /// Whether line `i` is inside a region (markers included).
    fn in_region(&self, i: usize) -> bool {
        self.whole_file.is_some()
            || self
                .regions
                .iter()
                .any(|r| (r.begin..=r.last()).contains(&i))
    }

    /// Whether line `i` is solution code: between a region's markers, or
    /// anywhere in a solution file.
    fn is_solution(&self, i: usize) -> bool {
        self.whole_file.is_some() || self.regions.iter().any(|r| r.begin < i && i < r.end)
    }
}

/// Reads the markers of `text`, the file `path`. Markers are Rust
/// comments: other files (docs showing them) have none.
fn parse(path: &str, text: &str) -> Result<Marked, String> {
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
fn cut(text: &str, marked: &Marked, kind: Cut) -> String {
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
fn significant(line: &str) -> bool {
    line.chars().filter(|c| c.is_alphanumeric()).count() >= 3
}

/// What [`write_student_tree`] wrote.
#[derive(Debug, Default)]
pub struct Report {
    /// Files in the tree.
    pub files: usize,
    /// Files written or rewritten (all of them in a new tree).
    pub written: usize,
    /// Files of an earlier tree removed because they are no longer in it.
    pub removed: Vec<String>,
    /// Solution regions replaced by their starter text.
    pub regions: usize,
    /// Solution files left out of the tree.
    pub solution_files: Vec<String>,
    /// Labs whose reference solution the tree keeps.
    pub kept: Vec<&'static str>,
    /// Distinct solution lines checked absent from every file written.
    pub lines_checked: usize,
}

/// Where a tree written by [`write_student_tree`] lists its files, so that
/// a later call can update it in place (build output there stays valid:
/// files are rewritten only when they change). Under `target/`: never
/// committed, packed or handed in.
const RECORD: &str = "target/handout-files.txt";

/// Writes a student tree of the repository at `root` into `out`: every
/// file git tracks there (working-tree contents, no `.git`), with the
/// solutions of the labs in `starters` cut out; other labs keep theirs.
/// Then reads every file written back and fails if a line of a cut
/// solution is in any of them (handouts and docs included), if a marker
/// of a cut lab is left, or if a solution file is there.
///
/// `out` must be missing, empty, or a tree this function wrote earlier,
/// which is then updated in place: only changed files are rewritten, and
/// files it wrote before that are no longer in the tree are removed
/// (nothing else is: `target/`, `.git/` and the student's files stay).
pub fn write_student_tree(root: &Path, starters: &Starters, out: &Path) -> Result<Report, String> {
    write_tree(root, starters, out, Cut::Starter)
}

/// [`write_student_tree`], of the starters or of the neutral stubs.
pub fn write_tree(
    root: &Path,
    starters: &Starters,
    out: &Path,
    kind: Cut,
) -> Result<Report, String> {
    let files = tracked_files(root)?;
    let record = out.join(RECORD);
    let previous = previous_tree(out, &record)?;

    // Read and parse everything before writing anything.
    struct Source {
        path: String,
        bytes: Vec<u8>,
        executable: bool,
        marked: Marked,
    }
    let mut sources = Vec::new();
    for path in files {
        let full = root.join(&path);
        let bytes = match std::fs::read(&full) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(format!(
                    "{path} is tracked by git but missing from the working tree: restore it or `git rm` it"
                ));
            }
            Err(e) => return Err(format!("cannot read {}: {e}", full.display())),
        };
        let executable = is_executable(&full);
        let marked = match std::str::from_utf8(&bytes) {
            Ok(text) => parse(&path, text)?,
            Err(_) => Marked::default(),
        };
        let lab = lab_of_file(&path);
        match (lab, marked.is_marked()) {
            (None, true) => {
                let line = marked.marker_lines[0] + 1;
                return Err(format!(
                    "{path}:{line}: a solution marker in a file that is no lab's \
                     (lab files: labs/src/<lab>.rs and util's user programs; see xtask/src/handout.rs)"
                ));
            }
            (Some(lab), false) => {
                return Err(format!(
                    "{path} has no solution markers: the starter of lab {lab} would be its solution \
                     (mark it with `{BEGIN}` … `{END}`, or `{FILE}`)"
                ));
            }
            _ => {}
        }
        sources.push(Source {
            path,
            bytes,
            executable,
            marked,
        });
    }
    for lab in labs::course_labs() {
        if let Some(f) = lab_files(lab)
            .into_iter()
            .find(|f| !sources.iter().any(|s| &s.path == f))
        {
            return Err(format!(
                "{f}, a file of lab {lab}, is not tracked by git: `git add` it"
            ));
        }
    }

    let mut report = Report {
        kept: labs::course_labs()
            .into_iter()
            .filter(|l| !starters.contains(l))
            .collect(),
        ..Report::default()
    };
    // The cut solution's lines (with where they come from), and the lines
    // of code that legitimately stay: a solution line found among those is
    // ordinary code (`let _ = p;`), not something to look for.
    let mut solution: HashMap<String, String> = HashMap::new();
    let mut staying: BTreeSet<String> = BTreeSet::new();
    // (path, contents, executable) of the tree.
    let mut tree: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for s in sources {
        let cut_here = lab_of_file(&s.path).is_some_and(|lab| starters.contains(lab));
        let Ok(text) = std::str::from_utf8(&s.bytes) else {
            tree.push((s.path, s.bytes, s.executable));
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if cut_here && s.marked.is_solution(i) {
                if significant(t) {
                    solution
                        .entry(t.to_string())
                        .or_insert_with(|| format!("{}:{}", s.path, i + 1));
                }
            } else if s.path.ends_with(".rs") && !(cut_here && s.marked.in_region(i)) {
                staying.insert(t.to_string());
            }
        }
        if !cut_here {
            tree.push((s.path, s.bytes, s.executable));
        } else if s.marked.whole_file.is_some() {
            if kind == Cut::Neutral {
                tree.push((s.path, NEUTRAL_PROGRAM.as_bytes().to_vec(), s.executable));
            } else {
                report.solution_files.push(s.path);
            }
        } else {
            report.regions += s.marked.regions.len();
            let starter = cut(text, &s.marked, kind);
            tree.push((s.path, starter.into_bytes(), s.executable));
        }
    }
    solution.retain(|line, _| !staying.contains(line));
    report.files = tree.len();
    report.lines_checked = solution.len();

    // Write.
    let fresh = previous.is_none();
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let names: BTreeSet<&str> = tree.iter().map(|(p, _, _)| p.as_str()).collect();
    if let Some(dir) = record.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Recorded before writing, old names and new: a write cut short (^C, a
    // full disk) leaves a tree the next run recognises and finishes.
    let pending: BTreeSet<&str> = names
        .iter()
        .copied()
        .chain(previous.iter().flatten().map(String::as_str))
        .collect();
    let list =
        |names: &BTreeSet<&str>| -> String { names.iter().map(|n| format!("{n}\n")).collect() };
    fsutil::write_if_changed(&record, list(&pending).as_bytes())?;
    for old in previous.iter().flatten() {
        if !names.contains(old.as_str()) {
            remove_file_and_empty_parents(out, old)?;
            report.removed.push(old.clone());
        }
    }
    for (path, bytes, executable) in &tree {
        let dst = out.join(path);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        if std::fs::read(&dst).ok().as_deref() != Some(bytes) {
            fsutil::AtomicFile::new(&dst).write(bytes)?;
            report.written += 1;
        }
        set_executable(&dst, *executable)?;
    }
    fsutil::write_if_changed(&record, list(&names).as_bytes())?;

    // Check what is on disk now, not what was meant to be written.
    let problems = check_tree(out, &names, &solution, starters, &report.solution_files);
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(12).map(String::as_str).collect();
        let more = problems.len().saturating_sub(shown.len());
        if fresh {
            let _ = std::fs::remove_dir_all(out);
        }
        return Err(format!(
            "the starter tree still holds solution code{}:\n  {}{}\n\
             fix the STARTER lines or the files named, then run again",
            if fresh { " (the tree was removed)" } else { "" },
            shown.join("\n  "),
            if more > 0 {
                format!("\n  … and {more} more")
            } else {
                String::new()
            }
        ));
    }
    Ok(report)
}

/// Every way the written tree could still hold a cut solution.
fn check_tree(
    out: &Path,
    names: &BTreeSet<&str>,
    solution: &HashMap<String, String>,
    starters: &Starters,
    solution_files: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    for f in solution_files {
        if out.join(f).exists() {
            problems.push(format!("{f}: a solution file, in the tree"));
        }
    }
    for name in names {
        let bytes = match std::fs::read(out.join(name)) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{name}: cannot read it back: {e}"));
                continue;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let kept = lab_of_file(name).is_some_and(|lab| !starters.contains(lab));
        let rust = name.ends_with(".rs");
        for (i, line) in text.lines().enumerate() {
            if rust && !kept && marker(line).is_some() {
                problems.push(format!("{name}:{}: a solution marker is left", i + 1));
            }
            if let Some(from) = solution.get(line.trim()) {
                problems.push(format!(
                    "{name}:{}: `{}` is solution code (from {from})",
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    problems
}

/// The files `git ls-files` lists at `root`.
fn tracked_files(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| {
            format!("cannot run git: {e}; a student tree is made of the files git tracks")
        })?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a git work tree (git: {}); a student tree is made of the files git tracks",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut files = Vec::new();
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| "a tracked file's name is not UTF-8".to_string())?;
        files.push(name);
    }
    Ok(files)
}

/// The files of the tree `out` held before, or `None` for a new tree;
/// an error for a directory that is neither empty nor such a tree.
fn previous_tree(out: &Path, record: &Path) -> Result<Option<Vec<String>>, String> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", out.display())),
    };
    if entries.next().is_none() {
        return Ok(None);
    }
    match std::fs::read_to_string(record) {
        Ok(list) => Ok(Some(list.lines().map(str::to_string).collect())),
        Err(_) => Err(format!(
            "{} is not empty and not a tree handout wrote: choose a new directory",
            out.display()
        )),
    }
}

fn remove_file_and_empty_parents(out: &Path, rel: &str) -> Result<(), String> {
    let path = out.join(rel);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == out || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    let want = if executable {
        mode | (mode & 0o444) >> 2
    } else {
        mode & !0o111
    };
    if want != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path, _: bool) -> Result<(), String> {
    Ok(())
}

/// The short commit of `root`'s HEAD, with `+` when the work tree differs.
fn describe_source(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{commit}+") } else { commit }
}

/// Makes `dir` a git repository holding its files in one commit. The
/// commit is the course's, so it has an identity of its own rather than
/// whoever runs handout.
pub fn init_repository(dir: &Path, message: &str) -> Result<(), String> {
    let git = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=xv6 handout",
                "-c",
                "user.email=handout@xv6.invalid",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`git {}` failed in {}: {}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", message])
}

pub const USAGE: &str = "\
usage: cargo xtask handout (LAB... | --all) --out DIR [--solved LABS] [--no-git]

Writes a student tree to DIR: the files git tracks here, without history,
with the labs' solutions replaced by their starters, then checks that no
line of a solution is left anywhere in it. A student tree carries no
reference solution: every lab is a starter, the ones named and the others
alike (the LABs name what the tree is for, in its commit message).
--solved LABS keeps those labs' reference solutions (comma-separated): for
a course that releases past labs' solutions, or an instructor's tree.
DIR becomes a git repository with one commit unless --no-git. DIR must be
new or empty, or a tree handout wrote before, which is then updated.

LAB: {labs} (the last are MIT's labs that are several of ours), or
lab-<name>.";

/// `cargo xtask handout …`.
pub fn command(ctx: &Ctx, args: &[OsString]) -> Result<ExitCode, String> {
    use lexopt::prelude::*;

    let usage = |message: String| {
        eprintln!("handout: {message}");
        eprintln!("`cargo xtask handout --help` shows how to call it");
        Ok(ExitCode::from(2))
    };
    let mut p = lexopt::Parser::from_args(args.iter().cloned());
    let (mut named, mut solved) = (Starters::NONE, Starters::NONE);
    let (mut all, mut git, mut out) = (false, true, None::<PathBuf>);
    loop {
        let arg = match p.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => return usage(e.to_string()),
        };
        let parsed: Result<(), String> = match arg {
            Short('h') | Long("help") => {
                println!("{}", labs::fill(USAGE));
                return Ok(ExitCode::SUCCESS);
            }
            Long("all") => {
                all = true;
                Ok(())
            }
            Long("no-git") => {
                git = false;
                Ok(())
            }
            Long("out") | Short('o') => p
                .value()
                .map(|v| out = Some(v.into()))
                .map_err(|e| e.to_string()),
            Long("solved") => p
                .value()
                .map_err(|e| e.to_string())
                .and_then(|v| Starters::parse(&v.to_string_lossy()))
                .map(|s| solved.extend(s)),
            Value(v) => Starters::parse(&v.to_string_lossy()).map(|s| named.extend(s)),
            other => Err(other.unexpected().to_string()),
        };
        if let Err(e) = parsed {
            return usage(e);
        }
    }
    let Some(out) = out else {
        return usage("say where the tree goes: --out DIR".into());
    };
    if all {
        named = Starters::all().minus(&solved);
    }
    if named.is_empty() {
        return usage("name the labs the tree is for, or --all".into());
    }
    if let Some(both) = named.names().find(|l| solved.contains(l)) {
        return usage(format!("lab {both} cannot be both a starter and --solved"));
    }
    let out = std::env::current_dir()
        .map(|cwd| cwd.join(&out))
        .unwrap_or(out);
    let starters = Starters::all().minus(&solved);
    // An unusable --out is the caller's to fix, like a bad option.
    if let Err(e) = previous_tree(&out, &out.join(RECORD)) {
        return usage(e);
    }
    let had_git = out.join(".git").exists();
    let report = write_student_tree(&ctx.root, &starters, &out)?;
    let shown = ctx.show(&out).into_owned();
    let what = if named == Starters::all() {
        "every lab".to_string()
    } else {
        format!("lab {}", named.names().collect::<Vec<_>>().join(", lab "))
    };
    eprintln!(
        "handout: {shown}: {} files ({} written, {} removed), starters for {}; \
         {} solution regions and {} solution files cut; {} solution lines checked absent",
        report.files,
        report.written,
        report.removed.len(),
        starters.names().collect::<Vec<_>>().join(" "),
        report.regions,
        report.solution_files.len(),
        report.lines_checked,
    );
    if !report.kept.is_empty() {
        eprintln!(
            "handout: reference solutions kept (--solved): {}",
            report.kept.join(" ")
        );
    }
    write_classroom_workflow(&ctx.root, &out, named)?;
    if git && !had_git {
        let message = format!(
            "Starter for {what}\n\nCut by `cargo xtask handout` from {}.",
            describe_source(&ctx.root)
        );
        init_repository(&out, &message)?;
        eprintln!("handout: {shown} is a git repository with one commit: \"Starter for {what}\"");
    } else if had_git {
        eprintln!("handout: {shown}/.git left as it was: commit the update there if you want it");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a student tree keeps its GitHub Actions workflow.
pub const CLASSROOM_WORKFLOW: &str = ".github/workflows/grade.yml";

/// The GitHub Classroom workflow (xtask/templates/classroom.yml), grading
/// the first lab the tree is for on every push, and the record of the
/// files a grade depends on that it checks first ([`crate::verify`]).
fn write_classroom_workflow(root: &Path, out: &Path, named: Starters) -> Result<(), String> {
    let template = root.join("xtask/templates/classroom.yml");
    let text = std::fs::read_to_string(&template)
        .map_err(|e| format!("cannot read {}: {e}", template.display()))?;
    let first = labs::course_labs()[0];
    let lab = named.names().next().unwrap_or(first);
    let path = out.join(CLASSROOM_WORKFLOW);
    std::fs::create_dir_all(path.parent().expect("a file has a parent"))
        .and_then(|()| std::fs::write(&path, text.replace("{{LAB}}", &format!("lab-{lab}"))))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    crate::verify::write_manifest(out).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_files_come_from_the_registry() {
        for lab in labs::course_labs() {
            let files = lab_files(lab);
            assert_eq!(files, labs::lab(lab).unwrap().files());
            for f in &files {
                assert_eq!(lab_of_file(f), Some(lab));
            }
        }
        assert!(lab_files("nosuchlab").is_empty());
    }

    #[test]
    fn parses_labs_groups_and_all() {
        let s = Starters::parse("cow,lab-util,traps").unwrap();
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            ["util", "backtrace", "alarm", "cow"]
        );
        assert_eq!(Starters::parse("all").unwrap(), Starters::all());
        assert_eq!(Starters::all().names().count(), labs::registry().labs.len());
        let e = Starters::parse("cow,fs").unwrap_err();
        assert!(e.starts_with("unknown lab `fs`"), "{e}");
        assert_eq!(
            Starters::all().minus(&Starters::parse("syscall").unwrap()),
            Starters::parse("util,pgtbl,backtrace,alarm,lazy,cow,thread").unwrap()
        );
    }

    /// Marker lines are built here so that this file holds none itself.
    fn m(marker: &str) -> String {
        format!("    {marker}")
    }

    fn lines(parts: &[&str]) -> String {
        parts.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn cuts_regions_and_puts_starter_lines_in_place() {
        let text = lines(&[
            "fn f(x: u32) -> u32 {",
            &m(BEGIN),
            "    let y = x * 2;",
            "    y + 1",
            &m(END),
            &m("// STARTER: let _ = x;"),
            &m("// STARTER: todo!()"),
            &m("// NEUTRAL: 0"),
            "}",
            &m(BEGIN),
            "fn helper() {}",
            &m(END),
            "// end",
        ]);
        let marked = parse("labs/src/x.rs", &text).unwrap();
        assert_eq!(
            cut(&text, &marked, Cut::Neutral),
            lines(&["fn f(x: u32) -> u32 {", "    0", "}", "// end"])
        );
        assert_eq!(marked.regions.len(), 2);
        assert_eq!(
            cut(&text, &marked, Cut::Starter),
            lines(&[
                "fn f(x: u32) -> u32 {",
                "    let _ = x;",
                "    todo!()",
                "}",
                "// end"
            ])
        );
        assert!(marked.is_solution(2) && !marked.is_solution(1) && !marked.is_solution(5));
        assert!(marked.in_region(5) && marked.in_region(7) && !marked.in_region(8));
    }

    #[test]
    fn a_vanished_region_leaves_no_double_blank_line() {
        let text = lines(&[
            "a",
            "",
            &m(BEGIN),
            "x",
            &m(END),
            "",
            "b",
            "",
            &m(BEGIN),
            &m(END),
        ]);
        assert_eq!(
            cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
            "a\n\nb\n"
        );
        let text = lines(&[&m(BEGIN), &m(END), "", "b"]);
        assert_eq!(
            cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
            "b\n"
        );
        // Replaced regions keep their surroundings.
        let text = lines(&["a", "", &m(BEGIN), &m(END), &m("// STARTER: c"), "", "b"]);
        assert_eq!(
            cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
            "a\n\n    c\n\nb\n"
        );
    }

    #[test]
    fn keeps_crlf_and_a_last_line_without_newline() {
        let text = format!(
            "a\r\n{}\r\nsecret\r\n{}\r\n{}",
            m(BEGIN),
            m(END),
            m(STARTER)
        );
        let marked = parse("x.rs", &text).unwrap();
        assert_eq!(cut(&text, &marked, Cut::Starter), "a\r\n\n");
        let text = format!("a\n{}\nsecret\n{}", m(BEGIN), m(END));
        assert_eq!(
            cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
            "a\n"
        );
    }

    #[test]
    fn bad_markers_are_errors_with_a_line() {
        for (text, want) in [
            (
                lines(&[&m(BEGIN), "x"]),
                "x.rs:1: `// BEGIN SOLUTION` is never ended",
            ),
            (lines(&["x", &m(END)]), "x.rs:2: `// END SOLUTION` without"),
            (
                lines(&[&m(BEGIN), &m(BEGIN)]),
                "x.rs:2: `// BEGIN SOLUTION` inside",
            ),
            (
                lines(&[&m(BEGIN), &m(END), "x", &m("// STARTER: y")]),
                "x.rs:4: `// STARTER:` lines must follow",
            ),
            (
                lines(&["    //BEGIN SOLUTION"]),
                "x.rs:1: this comment looks like",
            ),
            (
                lines(&["    // END SOLUTION."]),
                "x.rs:1: this comment looks like",
            ),
            (
                lines(&[&m(FILE), &m(BEGIN), &m(END)]),
                "x.rs:1: a `// SOLUTION FILE` cannot",
            ),
            (
                lines(&[&m(BEGIN), &m(END), &m("// STARTER: todo!()")]),
                "x.rs:2: this region's starter panics, so it needs `// NEUTRAL:",
            ),
            (
                lines(&[&m(BEGIN), &m(END), &m("// NEUTRAL: 0"), &m("// STARTER: 1")]),
                "x.rs:4: `// STARTER:` lines must follow",
            ),
            (
                lines(&["x", &m("// NEUTRAL: 0")]),
                "x.rs:2: `// NEUTRAL:` lines must follow",
            ),
        ] {
            let e = parse("x.rs", &text).unwrap_err();
            assert!(e.starts_with(want), "{text:?} gave {e:?}");
            assert!(!e.contains('\n'), "{e}");
        }
        // Docs may name the markers.
        assert!(parse("x.rs", "//! write `// BEGIN SOLUTION` lines\n").is_ok());
        let doc = parse("notes.md", &lines(&["    //BEGIN SOLUTION", &m(BEGIN)])).unwrap();
        assert!(!doc.is_marked());
        assert!(parse("x.rs", "// the next `STARTER:` line\n").is_ok());
    }

    #[test]
    fn lab_files_are_known() {
        assert_eq!(lab_files("cow"), ["labs/src/cow.rs"]);
        assert_eq!(lab_files("util").len(), 5);
        assert_eq!(lab_of_file("user/src/bin/find.rs"), Some("util"));
        assert_eq!(lab_of_file("labs/src/main.rs"), None);
        assert_eq!(lab_config("util"), LabSet::BASE);
        assert_eq!(lab_config("cow").config_name(), "cow");
    }

    /// A scratch git repository holding `files`.
    struct Repo(PathBuf);

    impl Repo {
        fn new(name: &str, files: &[(&str, String)]) -> Repo {
            let dir =
                std::env::temp_dir().join(format!("xtask-handout-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in files {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            let ok = Command::new("git")
                .arg("-C")
                .arg(&dir)
                .args(["init", "-q"])
                .status()
                .unwrap()
                .success()
                && Command::new("git")
                    .arg("-C")
                    .arg(&dir)
                    .args(["add", "-A"])
                    .status()
                    .unwrap()
                    .success();
            assert!(ok, "git init/add in {}", dir.display());
            Repo(dir)
        }
    }

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A repository with every lab file marked, `cow.rs` being `cow`.
    fn course(name: &str, cow: String, extra: &[(&str, String)]) -> Repo {
        let region = |body: &str| lines(&["pub fn f() {", &m(BEGIN), body, &m(END), "}"]);
        let mut files: Vec<(String, String)> = Vec::new();
        let registry = labs::registry();
        for lab in registry
            .kernel_labs()
            .map(|l| &l.name)
            .filter(|l| *l != "cow")
        {
            files.push((
                format!("labs/src/{lab}.rs"),
                region(&format!("    solve_{lab}();")),
            ));
        }
        files.push(("labs/src/cow.rs".into(), cow));
        for f in registry.labs.iter().flat_map(|l| l.user.iter()) {
            let f = format!("user/src/bin/{f}.rs");
            files.push((f, lines(&[&m(FILE), "fn main() { util_solution(); }"])));
        }
        for f in registry.labs.iter().flat_map(|l| l.host.iter()) {
            files.push((f.clone(), region("    solve_host();")));
        }
        files.push(("README.md".into(), "read me\n".into()));
        files.extend(extra.iter().map(|(p, t)| (p.to_string(), t.clone())));
        let refs: Vec<(&str, String)> =
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        Repo::new(name, &refs)
    }

    fn cow_ok() -> String {
        lines(&[
            "pub fn fork() -> bool {",
            &m(BEGIN),
            "    share_pages_copy_on_write()",
            &m(END),
            &m("// STARTER: false"),
            "}",
        ])
    }

    #[test]
    fn writes_a_tree_without_solutions_and_updates_it() {
        let repo = course("ok", cow_ok(), &[]);
        let out = repo.0.join("out");
        let report = write_student_tree(&repo.0, &Starters::all(), &out).unwrap();
        let r = labs::registry();
        let kernel = r.kernel_labs().count();
        let user: usize = r.labs.iter().map(|l| l.user.len()).sum();
        let host: usize = r.labs.iter().map(|l| l.host.len()).sum();
        assert_eq!(report.regions, kernel + host);
        assert_eq!(report.solution_files.len(), user);
        assert_eq!(report.files, kernel + host + 1);
        assert!(report.lines_checked >= 8, "{report:?}");
        let cow = std::fs::read_to_string(out.join("labs/src/cow.rs")).unwrap();
        assert_eq!(cow, "pub fn fork() -> bool {\n    false\n}\n");
        assert!(!out.join("user/src/bin/find.rs").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("README.md")).unwrap(),
            "read me\n"
        );

        // Kept labs stay as they are; the solution files come back.
        let report = write_student_tree(&repo.0, &Starters::parse("cow").unwrap(), &out).unwrap();
        assert_eq!(report.kept.len(), r.labs.len() - 1);
        assert!(out.join("user/src/bin/find.rs").exists());
        let trace = std::fs::read_to_string(out.join("labs/src/trace.rs")).unwrap();
        assert!(trace.contains("solve_trace()"));
        // And go again, without touching what did not change.
        let report = write_student_tree(&repo.0, &Starters::all(), &out).unwrap();
        assert_eq!(report.removed.len(), user);
        assert_eq!(report.written, kernel - 1 + host, "{report:?}");
        assert!(!out.join("user/src/bin").exists());
    }

    #[test]
    fn refuses_a_starter_that_repeats_its_solution() {
        let cow = lines(&[
            "pub fn fork() -> bool {",
            &m(BEGIN),
            "    share_pages_copy_on_write()",
            &m(END),
            &m("// STARTER: share_pages_copy_on_write()"),
            "}",
        ]);
        let repo = course("leak", cow, &[]);
        let out = repo.0.join("out");
        let e = write_student_tree(&repo.0, &Starters::all(), &out).unwrap_err();
        assert!(
            e.contains("labs/src/cow.rs:2: `share_pages_copy_on_write()` is solution code (from labs/src/cow.rs:3)"),
            "{e}"
        );
        assert!(!out.exists(), "a failed new tree is removed");
    }

    #[test]
    fn refuses_a_handout_that_shows_the_solution() {
        let doc = "Hint:\n\n    share_pages_copy_on_write()\n".to_string();
        let repo = course("doc", cow_ok(), &[("handouts/lab-cow.md", doc)]);
        let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
        assert!(e.contains("handouts/lab-cow.md:3:"), "{e}");
        // With cow's solution kept, that is no leak.
        let kept = Starters::all().minus(&Starters::parse("cow").unwrap());
        write_student_tree(&repo.0, &kept, &repo.0.join("out2")).unwrap();
    }

    #[test]
    fn markers_outside_lab_files_and_unmarked_lab_files_are_errors() {
        let stray = lines(&["fn x() {", &m(BEGIN), &m(END), "}"]);
        let repo = course("stray", cow_ok(), &[("kernel-base/src/x.rs", stray)]);
        let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
        assert!(
            e.starts_with("kernel-base/src/x.rs:2: a solution marker in a file that is no lab's"),
            "{e}"
        );

        let repo = course("unmarked", "pub fn fork() {}\n".into(), &[]);
        let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
        assert!(
            e.starts_with("labs/src/cow.rs has no solution markers"),
            "{e}"
        );
    }

    #[test]
    fn refuses_a_directory_it_did_not_write() {
        let repo = course("busy", cow_ok(), &[]);
        let out = repo.0.join("busy");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("mine.txt"), "x").unwrap();
        let e = write_student_tree(&repo.0, &Starters::all(), &out).unwrap_err();
        assert!(e.contains("not empty and not a tree handout wrote"), "{e}");
        assert!(out.join("mine.txt").exists());
    }
}
