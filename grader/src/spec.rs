//! Grading specs: `labs/<lab>.toml`, read, checked and compiled at load
//! time so that every mistake in a spec is reported before QEMU starts, as
//! `labs/<lab>.toml:<line>: <what>`.
//!
//! The format, by example:
//! ```toml
//! name = "lab-util"          # must match the file name
//! features = []              # cargo features of the kernel
//! timeout = "30s"            # default run timeout ("500ms", "30s", "2m", "1m 30s": humantime)
//! cpus = 3                   # optional, default 3
//!
//! [random]                   # optional: values drawn from --seed (and
//!                            # the spec's and the value's names),
//! n = { min = 10, max = 99 } # an integer, written {{n}} in commands,
//!                            # regexes and numbers: {{n}}, {{n * 2 + 1}}
//! mask = { bits = { read = 5, write = 16 } }
//!                            # a non-empty random subset: {{mask}} is its
//!                            # mask (32, 65536 or 65568), {{mask.read}}
//!                            # 1 if read was drawn, else 0
//!
//! [[run]]                    # one boot of QEMU
//! id = "primes"              # names the console log: primes.log
//! commands = ["primes"]      # typed at successive `$ ` prompts
//! timeout = "60s"            # optional
//! until = '^DONE$'           # optional: end at this line, not at the last prompt
//!
//! [[run]]                    # a run on the host, not in QEMU
//! id = "ph"
//! host = true                # each command is a program built from the
//! commands = ["ph 2"]        # tree (`cargo build --release --bin ph`) and
//! cores = 2                  # its arguments; optional: the host cores it
//!                            # needs (default 1): with more than one it runs
//!                            # alone, and where the host has fewer its
//!                            # tests are NEEDS CORES, not FAIL
//!
//! [[run]]                    # the kernel under gdb: the run ends when
//! id = "sleep-syscall"       # it reaches this function (xv6's name, as
//! commands = ["sleep 10"]    # `b` takes it in `cargo xtask gdb`); where
//! stop_at = "sys_sleep"      # gdb-multiarch is missing its tests are
//!                            # SKIPPED, not FAIL
//!
//! [[test]]
//! name = "sleep, makes syscall"
//! points = 10
//! run = "sleep-syscall"
//! stopped = true             # the kernel stopped at stop_at (gdb says so,
//!                            # not the console)
//!
//! [[test]]
//! name = "primes"
//! points = 20
//! run = "primes"
//! count = { regex = ['^prime 2$', '^prime 3$'], times = 1 }
//!
//! [[test]]                   # a parent: its parts score separately
//! name = "usertests"
//! run = "usertests"
//! [[test.part]]
//! name = "copyin"            # reported as "usertests: copyin"
//! points = 5
//! usertest = "copyin"
//! ```
//! A group spec grades several labs at once (MIT's `lab-syscall` is
//! `lab-trace` plus `lab-sysinfo`): it has `include` instead of runs and
//! tests, and gets the union of their features, runs and tests.
//! ```toml
//! name = "lab-syscall"
//! include = ["lab-trace", "lab-sysinfo"]
//! ```
//! or `include-labs = "syscall"`: the specs of a group of the registry
//! (`labs/registry.toml`), or with `"all"` of every kernel lab there, so that
//! a new lab needs no edit here.
//!
//! A test (or part) holds one or more checks, all of which must pass:
//! `match`, `no_match`, `count`, `delta`, `range`, `ratio`, `usertest`,
//! `backtrace`, `stopped`, `peer`.
//! `peer = '^datagram: txone$'` (or a list): on a network lab's run, each
//! regex matches a line of what the host's UDP peer recorded receiving
//! (`crate::netpeer::Peer::record`), not of the console: a fact of the
//! host's side, which nothing the guest prints can make.
//! `delta = { regex = '^copyin: (\d+)$', by = 28 }` (one capture group,
//! around the number) and `count` may also be lists of such tables.
//! `range = { regex = '^alarms: (\d+)$', min = 5, max = "{{n + 1}}" }`:
//! exactly one line matches, and its number is within [min, max].
//! `ratio = { regex = ' (\d+) puts/second$', min = 1.25 }`: exactly two
//! lines match, and the second's number is at least `min` times the
//! first's; with `busy = { regex = '^waited (\d+)%$', max = 10 }`, the
//! test is NEEDS CORES (too busy a machine to tell) where a `busy` line
//! says more than `max`, whatever the numbers.
//! `count`'s `times`, `delta`'s `by` and `range`'s bounds take a number or
//! a `"{{expression}}"` of random values (`+ - * / %`, parentheses).
//!
//! `features` must be kernel labs of the registry (`labs/registry.toml`).
//! A spec elsewhere than in `labs/` is graded by its path
//! (`cargo xtask grade path/to/lab-x.toml`); its `include`s come from `labs/`.
//!
//! - A regex is tried on each console line as printed and with the shell
//!   prompts at its start removed. The console echoes each command after
//!   its prompt, so a regex should not match the command's own text.
//! - A test's `timeout` raises its run's timeout while the test is selected.
//! - `requires = ["simple", "usertests: copyin"]`: the test (and its parts)
//!   scores only when each named test, defined earlier in the spec, passed;
//!   otherwise it is SKIPPED with 0 points, and its run is not booted when
//!   every test of the run is so. The lab specs give their usertests parts
//!   the lab's own tests this way; `--no-requires` scores every test on its
//!   own, as MIT's graders do. Selecting a test (`-t`) selects what it
//!   requires.
//! - A check matches only lines a trusted test program printed, with a
//!   valid token of the run (see `crate::check`), unless its test has
//!   `untrusted = true` (parts inherit it): for lines the kernel prints
//!   itself, or programs without tokens print. `no_match` looks at every line.
//!   `untrusted = true` at the top of a spec makes every test so (for specs
//!   that test the kernel rather than grade a student).
//! - `visibility` is Gradescope's: `visible` (default), `hidden`,
//!   `after_due_date`, `after_published`; parts inherit their test's.
//! - A run cut short (timeout, panic, QEMU exit, output limit) still
//!   credits the tests whose checks only look for output that appeared
//!   (`match`, `usertest`, `backtrace`); the others get the run's outcome.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::registry::{self, Registry};

/// A spec mistake, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// The spec's path as the user should see it (`labs/base.toml`).
    pub file: String,
    /// 1-based line, when the mistake has a place.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Who may see a test's result on Gradescope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Visible,
    Hidden,
    AfterDueDate,
    AfterPublished,
}

/// One boot of QEMU: commands typed at successive shell prompts.
#[derive(Debug)]
pub struct Run {
    pub id: String,
    pub commands: Vec<String>,
    /// The run's own timeout; `None` takes the spec's.
    pub timeout: Option<Duration>,
    /// Ends the run at the first line matching it after the last command,
    /// for commands that print prompts of their own (`sh < script`).
    pub until: Option<Regex>,
    /// Runs its commands on the host, as programs built from the tree,
    /// instead of typing them at xv6's shell.
    pub host: bool,
    /// The host cores it needs (host runs): more than one, and it runs
    /// with no other run beside it.
    pub cores: u32,
    /// The kernel function the run stops at, through gdb (`stop_at`):
    /// the run ends when the kernel reaches it.
    pub stop_at: Option<String>,
}

impl Run {
    /// The host programs its commands run (a host run's first words).
    pub fn host_programs(&self) -> impl Iterator<Item = &str> {
        self.commands
            .iter()
            .filter(|_| self.host)
            .filter_map(|c| c.split_whitespace().next())
    }
}

/// What a test looks for in its run's console.
#[derive(Debug)]
pub enum Check {
    /// Every regex matches some line.
    Match(Vec<Regex>),
    /// No regex matches any line.
    NoMatch(Vec<Regex>),
    /// Every regex matches exactly `times` lines.
    Count { regexes: Vec<Regex>, times: usize },
    /// Exactly two lines match; the number captured in the second is the
    /// first's plus `by`.
    Delta { regex: Regex, by: i64 },
    /// Exactly one line matches, and the number it captures is within
    /// `min..=max`.
    Range { regex: Regex, min: i64, max: i64 },
    /// Exactly two lines match; the number captured in the second is at
    /// least `min` times the first's. A line of `busy` whose number is
    /// above its bound makes the check inconclusive (the machine was too
    /// busy to tell), pass or fail.
    Ratio {
        regex: Regex,
        min: f64,
        busy: Option<(Regex, i64)>,
    },
    /// usertests reported this test, and reported it OK.
    Usertest(String),
    /// The first backtrace's addresses symbolise, in order, to these
    /// functions (last path component of the demangled name).
    Backtrace(Vec<String>),
    /// The kernel stopped at the run's breakpoint, this function (its
    /// `stop_at`), as gdb reported: judged from how the run ended, not
    /// from the console.
    Stopped(String),
    /// Every regex matches a line of the host peer's record of the run
    /// (what it received), not of the console.
    Peer(Vec<Regex>),
}

impl Check {
    /// Whether the check only looks for things that appeared, so that its
    /// pass stays a pass on a console that was cut short (timeout, panic).
    pub fn holds_on_partial_output(&self) -> bool {
        matches!(
            self,
            Check::Match(_) | Check::Usertest(_) | Check::Backtrace(_) | Check::Peer(_)
        )
    }
}

/// A scored test. A parent has `parts` and no checks of its own; its points
/// are its parts' points.
#[derive(Debug)]
pub struct Test {
    /// Unique in its spec (a group's included tests are renumbered), in the
    /// order tests and parts are written: what `requires` refers to.
    pub id: usize,
    /// Full name; a part's is `<parent>: <part>`.
    pub name: String,
    /// The ids of the tests that must pass for this one to score (a part's
    /// include its parent's); all are earlier in the spec.
    pub requires: Vec<usize>,
    pub points: u32,
    /// Index into [`Spec::runs`].
    pub run: usize,
    /// Raises the run's timeout when this test is selected.
    pub timeout: Option<Duration>,
    pub visibility: Visibility,
    /// The checks may match lines no trusted test program printed (the
    /// kernel's own, or an untokened program's); see [`crate::check`].
    pub untrusted: bool,
    pub checks: Vec<Check>,
    pub parts: Vec<Test>,
}

/// A loaded spec, with its random parameters drawn and substituted.
#[derive(Debug)]
pub struct Spec {
    pub name: String,
    /// As shown to the user, e.g. `labs/base.toml`.
    pub file: String,
    pub features: Vec<String>,
    pub timeout: Duration,
    pub cpus: u32,
    /// The drawn value of each random parameter.
    pub random: BTreeMap<String, i64>,
    pub runs: Vec<Run>,
    pub tests: Vec<Test>,
    /// For a group spec, the specs it includes.
    pub includes: Vec<String>,
}

impl Spec {
    pub fn points(&self) -> u32 {
        self.tests.iter().map(|t| t.points).sum()
    }

    /// The test or part with this id.
    pub fn test(&self, id: usize) -> Option<&Test> {
        self.tests
            .iter()
            .flat_map(|t| std::iter::once(t).chain(&t.parts))
            .find(|t| t.id == id)
    }

    /// The host programs its host runs start, each once, sorted.
    pub fn host_programs(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .runs
            .iter()
            .flat_map(Run::host_programs)
            .map(String::from)
            .collect();
        p.sort();
        p.dedup();
        p
    }

    /// Scores every test on its own, as MIT's graders do.
    pub fn drop_requires(&mut self) {
        for t in &mut self.tests {
            t.requires.clear();
            t.parts.iter_mut().for_each(|p| p.requires.clear());
        }
    }
}

/// The labs that have a spec: the stems of `root/labs/*.toml` but the labs
/// crate's `Cargo.toml` and the registry, sorted.
pub fn known_labs(root: &Path) -> Vec<String> {
    let mut labs: Vec<String> = std::fs::read_dir(root.join("labs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let stem = path.file_stem()?.to_str()?;
            (path.extension()? == "toml" && stem != "Cargo" && stem != "registry")
                .then(|| stem.to_owned())
        })
        .collect();
    labs.sort();
    labs
}

/// Points a test (and its parts) at the group's runs: `index[i]` is where
/// its spec's run `i` went; and renumbers it (and what it requires) by
/// `offset`, after the tests of the labs included before its own.
fn remap_runs(test: &mut Test, index: &[usize], offset: usize) {
    test.run = index[test.run];
    test.id += offset;
    test.requires.iter_mut().for_each(|r| *r += offset);
    for part in &mut test.parts {
        remap_runs(part, index, offset);
    }
}

/// One past the largest id of `tests` and their parts.
fn next_id(tests: &[Test]) -> usize {
    tests
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .map(|t| t.id + 1)
        .max()
        .unwrap_or(0)
}

/// Prefixes a test's name (and its parts') with the lab it came from, once.
fn rename(test: &mut Test, lab: &str) {
    let prefix = format!("{lab}: ");
    if !test.name.starts_with(&prefix) {
        test.name.insert_str(0, &prefix);
        for part in &mut test.parts {
            rename(part, lab);
        }
    }
}

/// The path of a lab's spec.
pub fn spec_path(root: &Path, lab: &str) -> PathBuf {
    root.join("labs").join(format!("{lab}.toml"))
}

/// The kernel's lab features (one per kernel lab of the registry), sorted;
/// `None` when the tree has no registry, as one that only holds specs.
pub fn known_features(root: &Path) -> Option<Vec<String>> {
    Registry::load(root).ok().map(|r| r.features())
}

/// Reads and compiles `root/labs/<lab>.toml`, drawing random parameters
/// from `seed`.
pub fn load(root: &Path, lab: &str, seed: u64) -> Result<Spec, SpecError> {
    let file = format!("labs/{lab}.toml");
    load_nested(root, &spec_path(root, lab), &file, seed, &mut Vec::new())
}

/// Reads and compiles the spec at `path` (one being written, outside
/// `labs/`), shown as `shown` in errors; its includes come from `root/labs/`.
pub fn load_file(root: &Path, path: &Path, shown: &str, seed: u64) -> Result<Spec, SpecError> {
    load_nested(root, path, shown, seed, &mut Vec::new())
}

/// `load`, tracking the chain of group specs being loaded to refuse cycles.
fn load_nested(
    root: &Path,
    path: &Path,
    file: &str,
    seed: u64,
    chain: &mut Vec<String>,
) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: file.to_owned(),
        line: None,
        message: format!("cannot read it: {e}"),
    })?;
    let lab = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    chain.push(lab);
    let registry = Registry::load(root).ok();
    let features = registry.as_ref().map(Registry::features);
    let cx = Cx {
        text: &text,
        file,
        features: features.as_deref(),
        registry: registry.as_ref(),
    };
    let spec = cx.parse(seed, &mut |name| {
        if chain.iter().any(|c| c == name) {
            return Err(format!("including {name} again would loop"));
        }
        let path = spec_path(root, name);
        if !path.is_file() {
            return Err(format!("no spec named {name} (labs/{name}.toml)"));
        }
        load_nested(root, &path, &format!("labs/{name}.toml"), seed, chain)
            .map_err(|e| e.to_string())
    });
    chain.pop();
    spec
}

/// Compiles spec `text`; `file` names it in errors and must end in
/// `<name>.toml`. Features are not checked, and a group spec's includes
/// cannot be resolved without the labs directory: use [`load`] for those.
pub fn parse(text: &str, file: &str, seed: u64) -> Result<Spec, SpecError> {
    let cx = Cx {
        text,
        file,
        features: None,
        registry: None,
    };
    cx.parse(seed, &mut |name| {
        Err(format!(
            "cannot include {name} here: groups are loaded from labs/"
        ))
    })
}

/// What resolves a group's `include` names to loaded specs.
type Resolve<'a> = dyn FnMut(&str) -> Result<Spec, String> + 'a;

// The file as written is in spec/raw.rs; the expression evaluator in
// spec/expr.rs; drawing random values in spec/random.rs.
mod expr;
mod random;
mod raw;
use expr::eval;
use raw::*;

// ---- compiling ----

struct Cx<'a> {
    text: &'a str,
    file: &'a str,
    /// The features a spec may name, when known.
    features: Option<&'a [String]>,
    /// What `include-labs` names, when known.
    registry: Option<&'a Registry>,
}

/// What `{{...}}` can name: each random value, and for a `bits` value
/// `name.bit` (0 or 1) for each of its bits.
type Values = BTreeMap<String, i64>;

impl Cx<'_> {
    fn parse(&self, seed: u64, resolve: &mut Resolve<'_>) -> Result<Spec, SpecError> {
        let mut raw: RawSpec =
            toml::from_str(self.text).map_err(|e| self.err(e.span(), e.message()))?;
        if let Some(which) = raw.include_labs.take() {
            if !raw.include.is_empty() {
                return Err(self.at(&which, "a spec has `include` or `include-labs`, not both"));
            }
            raw.include = self.registry_specs(&which)?;
        }
        if raw.include.is_empty() {
            self.compile(raw, seed)
        } else {
            self.group(raw, resolve)
        }
    }

    /// The specs `include-labs = "<which>"` names, spanned as the key.
    fn registry_specs(&self, which: &Spanned<String>) -> Result<Vec<Spanned<String>>, SpecError> {
        let Some(registry) = self.registry else {
            return Err(self.at(
                which,
                format!("`include-labs` needs the registry ({})", registry::FILE),
            ));
        };
        let labs: Vec<&registry::Lab> = if which.get_ref() == "all" {
            registry.kernel_labs().collect()
        } else {
            match registry.group(which.get_ref()) {
                Some(g) => g.labs.iter().filter_map(|l| registry.lab(l)).collect(),
                None => {
                    return Err(self.at(
                        which,
                        format!(
                            "`include-labs` takes \"all\" or a group of {} ({})",
                            registry::FILE,
                            registry
                                .groups
                                .iter()
                                .map(|g| g.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        };
        Ok(labs
            .iter()
            .map(|l| Spanned::new(which.span(), l.spec()))
            .collect())
    }

    fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> SpecError {
        let line = span.map(|s| {
            let end = s.start.min(self.text.len());
            self.text[..end].matches('\n').count() + 1
        });
        // serde's messages may span lines; the user gets one.
        let message = message.into().lines().collect::<Vec<_>>().join(" ");
        SpecError {
            file: self.file.to_owned(),
            line,
            message,
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> SpecError {
        self.err(Some(spanned.span()), message)
    }

    fn check_name(&self, name: &Spanned<String>) -> Result<(), SpecError> {
        let stem = Path::new(self.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if name.get_ref() != stem {
            return Err(self.at(
                name,
                format!(
                    "name is \"{}\" but the file is {}: they must agree",
                    name.get_ref(),
                    self.file
                ),
            ));
        }
        Ok(())
    }

    /// A group spec: the included specs' runs (ids prefixed with the spec's
    /// name, timeouts made explicit) and tests, under one name.
    fn group(&self, raw: RawSpec, resolve: &mut Resolve<'_>) -> Result<Spec, SpecError> {
        self.check_name(&raw.name)?;
        if !raw.run.is_empty() || !raw.test.is_empty() || !raw.random.is_empty() {
            return Err(self.at(
                &raw.name,
                "a spec with `include` takes its runs, tests and random values from the included specs",
            ));
        }
        if !raw.features.is_empty() {
            return Err(self.at(
                &raw.name,
                "a spec with `include` takes its features from the included specs",
            ));
        }
        let mut spec = Spec {
            name: raw.name.get_ref().clone(),
            file: self.file.to_owned(),
            features: Vec::new(),
            timeout: Duration::ZERO,
            cpus: crate::args::DEFAULT_CPUS,
            random: BTreeMap::new(),
            runs: Vec::new(),
            tests: Vec::new(),
            includes: Vec::new(),
        };
        // Which included lab each test came from, to tell apart tests of
        // the same name (several labs grade `usertests`).
        let mut origin: Vec<String> = Vec::new();
        for (i, inc) in raw.include.iter().enumerate() {
            let part = resolve(inc.get_ref()).map_err(|e| self.at(inc, e))?;
            if spec.includes.contains(&part.name) {
                return Err(self.at(inc, format!("{} is included twice", part.name)));
            }
            if i == 0 {
                spec.cpus = part.cpus;
                spec.timeout = part.timeout;
            }
            for f in part.features {
                if !spec.features.contains(&f) {
                    spec.features.push(f);
                }
            }
            for (k, v) in part.random {
                spec.random.entry(k).or_insert(v);
            }
            // The labs of a group run on one kernel, so runs that type the
            // same commands are the same boot: keep one.
            let mut index = Vec::new();
            let offset = next_id(&spec.tests);
            for mut run in part.runs {
                let timeout = run.timeout.unwrap_or(part.timeout);
                let same = spec.runs.iter().position(|r| {
                    r.commands == run.commands
                        && r.host == run.host
                        && r.stop_at == run.stop_at
                        && r.until.as_ref().map(Regex::as_str)
                            == run.until.as_ref().map(Regex::as_str)
                });
                match same {
                    Some(j) => {
                        let r = &mut spec.runs[j];
                        r.timeout = r.timeout.max(Some(timeout));
                        index.push(j);
                    }
                    None => {
                        run.id = format!("{}.{}", part.name, run.id);
                        run.timeout = Some(timeout);
                        index.push(spec.runs.len());
                        spec.runs.push(run);
                    }
                }
            }
            for mut test in part.tests {
                remap_runs(&mut test, &index, offset);
                if let Some(j) = spec.tests.iter().position(|t| t.name == test.name) {
                    let first = origin[j].clone();
                    rename(&mut spec.tests[j], &first);
                    rename(&mut test, &part.name);
                }
                if spec.tests.iter().any(|t| t.name == test.name) {
                    return Err(self.at(
                        inc,
                        format!("two included tests are named \"{}\"", test.name),
                    ));
                }
                spec.tests.push(test);
                origin.push(part.name.clone());
            }
            spec.includes.push(part.name);
        }
        Ok(spec)
    }

    fn compile(&self, raw: RawSpec, seed: u64) -> Result<Spec, SpecError> {
        self.check_name(&raw.name)?;
        let Some(raw_timeout) = &raw.timeout else {
            return Err(self.at(&raw.name, "missing field `timeout`"));
        };
        let timeout = self.duration(raw_timeout)?;
        let cpus = match &raw.cpus {
            Some(c) if !crate::args::CPUS.contains(c.get_ref()) => {
                let max = crate::args::MAX_CPUS;
                return Err(self.at(c, format!("cpus must be between 1 and {max}")));
            }
            Some(c) => *c.get_ref(),
            None => crate::args::DEFAULT_CPUS,
        };
        let mut features = Vec::new();
        for f in &raw.features {
            if let Some(known) = self.features
                && !known.contains(f.get_ref())
            {
                return Err(self.at(
                    f,
                    format!(
                        "no lab feature \"{}\" (the features are {})",
                        f.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            features.push(f.get_ref().clone());
        }
        let (random, values) = self.draw(raw.name.get_ref(), &raw.random, seed)?;

        let mut runs = Vec::new();
        let mut run_ids = HashSet::new();
        for r in &raw.run {
            let id = r.id.get_ref();
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !id_ok {
                return Err(self.at(
                    &r.id,
                    format!("run id \"{id}\" must be letters, digits, '-', '_' or '.' (it names the log file)"),
                ));
            }
            if !run_ids.insert(id.clone()) {
                return Err(self.at(&r.id, format!("two runs have the id \"{id}\"")));
            }
            let host = r.host == Some(true);
            let mut commands = Vec::new();
            for c in &r.commands {
                let command = self.substitute(c, &values)?;
                if command.contains(['\n', '\r']) || command.trim().is_empty() {
                    return Err(self.at(c, "a command is one non-empty line"));
                }
                let program = command.split_whitespace().next().unwrap_or_default();
                let plain = program
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
                if host && !plain {
                    return Err(self.at(
                        c,
                        format!(
                            "a host command starts with a program of the tree's, not \"{program}\""
                        ),
                    ));
                }
                commands.push(command);
            }
            if host && r.until.is_some() {
                return Err(self.at(
                    &r.id,
                    "a host run ends when its programs exit: it has no `until`",
                ));
            }
            let cores = match &r.cores {
                Some(c) if !host => {
                    return Err(self.at(c, "`cores` is for host runs (`host = true`)"));
                }
                Some(c) if *c.get_ref() == 0 => {
                    return Err(self.at(c, "`cores` is at least 1"));
                }
                Some(c) => *c.get_ref(),
                None => 1,
            };
            let stop_at = match &r.stop_at {
                Some(f) if host => {
                    return Err(self.at(f, "a host run has no kernel to stop: remove `stop_at`"));
                }
                Some(f) => {
                    let name = f.get_ref().trim();
                    let ok = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_:".contains(c));
                    if !ok {
                        return Err(self.at(
                            f,
                            format!("stop_at names a kernel function, as gdb takes it (\"sys_sleep\"), not \"{name}\""),
                        ));
                    }
                    Some(name.to_owned())
                }
                None => None,
            };
            runs.push(Run {
                id: id.clone(),
                commands,
                timeout: r.timeout.as_ref().map(|t| self.duration(t)).transpose()?,
                until: r
                    .until
                    .as_ref()
                    .map(|u| self.regex(u, &values))
                    .transpose()?,
                host,
                cores,
                stop_at,
            });
        }

        if raw.test.is_empty() {
            return Err(self.err(None, "the spec has no [[test]]"));
        }
        let mut tests = Vec::new();
        let mut names = HashMap::new();
        for t in &raw.test {
            // A peer exists only for a network lab's kernel in QEMU.
            let networked = self.registry.is_none_or(|r| r.networked(&features));
            for p in std::iter::once(t)
                .chain(&t.part)
                .filter_map(|t| t.peer.as_ref())
            {
                let host = t
                    .run
                    .as_ref()
                    .and_then(|id| raw.run.iter().find(|r| r.id.get_ref() == id.get_ref()));
                if !networked || host.is_some_and(|r| r.host == Some(true)) {
                    return Err(self.at(
                        p,
                        "`peer` needs a run of a network lab's kernel (the registry's `network`): no peer runs here",
                    ));
                }
            }
            let mut test = self.test(t, None, &raw.run, &values, &mut names)?;
            if raw.untrusted == Some(true) {
                test.untrusted = true;
                test.parts.iter_mut().for_each(|p| p.untrusted = true);
            }
            tests.push(test);
        }
        for (i, r) in raw.run.iter().enumerate() {
            if !tests.iter().any(|t| t.run == i) {
                return Err(self.at(&r.id, format!("no test uses run \"{}\"", r.id.get_ref())));
            }
        }
        Ok(Spec {
            name: raw.name.into_inner(),
            file: self.file.to_owned(),
            features,
            timeout,
            cpus,
            random,
            runs,
            tests,
            includes: Vec::new(),
        })
    }

    /// Replaces each `{{expression}}` in `s` by its value.
    fn substitute(&self, s: &Spanned<String>, values: &Values) -> Result<String, SpecError> {
        let mut out = String::new();
        let mut rest = s.get_ref().as_str();
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| self.at(s, "\"{{\" without a closing \"}}\""))?;
            let value = eval(&after[..close], values).map_err(|e| self.at(s, e))?;
            out.push_str(&value.to_string());
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A number as written: an integer, or a template that gives one.
    fn number(&self, n: &Spanned<Number>, values: &Values) -> Result<i64, SpecError> {
        match n.get_ref() {
            Number::Int(i) => Ok(*i),
            Number::Template(t) => {
                let text = self.substitute(&Spanned::new(n.span(), t.clone()), values)?;
                text.trim().parse().map_err(|_| {
                    self.at(
                        n,
                        format!("\"{t}\" is not a number: write a number or \"{{{{n + 1}}}}\""),
                    )
                })
            }
        }
    }

    fn regex(&self, s: &Spanned<String>, values: &Values) -> Result<Regex, SpecError> {
        let pattern = self.substitute(s, values)?;
        Regex::new(&pattern).map_err(|e| {
            // The regex crate draws a caret diagram; its last line says what.
            let text = e.to_string();
            let what = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.lines().last().unwrap_or_default());
            self.at(s, format!("bad regex '{pattern}': {what}"))
        })
    }

    fn patterns(&self, p: &Spanned<Patterns>, values: &Values) -> Result<Vec<Regex>, SpecError> {
        let regexes = match p.get_ref() {
            Patterns::One(s) => vec![self.regex(&Spanned::new(p.span(), s.clone()), values)?],
            Patterns::Many(all) => all
                .iter()
                .map(|s| self.regex(s, values))
                .collect::<Result<_, _>>()?,
        };
        if regexes.is_empty() {
            return Err(self.at(p, "an empty list of regexes checks nothing"));
        }
        Ok(regexes)
    }

    /// A regex with one capture group, around a number.
    fn one_number_regex(
        &self,
        s: &Spanned<String>,
        values: &Values,
        what: &str,
    ) -> Result<Regex, SpecError> {
        let regex = self.regex(s, values)?;
        // captures_len counts the whole match as group 0.
        if regex.captures_len() != 2 {
            return Err(self.at(
                s,
                format!("a {what} regex needs exactly one capture group, around the number"),
            ));
        }
        Ok(regex)
    }

    fn duration(&self, s: &Spanned<String>) -> Result<Duration, SpecError> {
        parse_duration(s.get_ref()).map_err(|why| {
            self.at(
                s,
                format!(
                    "bad duration \"{}\": {why}; write it like \"30s\", \"500ms\" or \"2m\"",
                    s.get_ref()
                ),
            )
        })
    }

    fn test(
        &self,
        t: &RawTest,
        parent: Option<(&str, usize, Visibility, bool, &[usize])>,
        raw_runs: &[RawRun],
        values: &Values,
        names: &mut HashMap<String, usize>,
    ) -> Result<Test, SpecError> {
        let short = t.name.get_ref();
        if short.trim().is_empty() {
            return Err(self.at(&t.name, "a test needs a non-empty name"));
        }
        let name = match parent {
            Some((p, ..)) => format!("{p}: {short}"),
            None => short.clone(),
        };
        if names.contains_key(&name) {
            return Err(self.at(&t.name, format!("two tests are named \"{name}\"")));
        }
        let id = names.len();
        let mut requires: Vec<usize> = parent.map(|(.., r)| r.to_vec()).unwrap_or_default();
        for (r, required) in t
            .requires
            .iter()
            .flat_map(|r| r.get_ref().iter().map(move |n| (r, n)))
        {
            if parent.is_some_and(|(p, ..)| p == required) {
                return Err(self.at(
                    r,
                    format!("a part cannot require its own test \"{required}\""),
                ));
            }
            let Some(&rid) = names.get(required) else {
                return Err(self.at(
                    r,
                    format!("\"{required}\" is no test written before \"{name}\" (a test may require only earlier tests and parts, by full name)"),
                ));
            };
            if !requires.contains(&rid) {
                requires.push(rid);
            }
        }
        names.insert(name.clone(), id);
        let run = match (parent, &t.run) {
            (Some(_), Some(r)) => {
                return Err(self.at(r, "a part takes its run from its test: remove `run`"));
            }
            (Some((_, run, ..)), None) => run,
            (None, Some(r)) => raw_runs
                .iter()
                .position(|x| x.id.get_ref() == r.get_ref())
                .ok_or_else(|| {
                    let ids: Vec<&str> = raw_runs.iter().map(|x| x.id.get_ref().as_str()).collect();
                    self.at(
                        r,
                        format!(
                            "no [[run]] has id \"{}\" (runs: {})",
                            r.get_ref(),
                            ids.join(", ")
                        ),
                    )
                })?,
            (None, None) => {
                return Err(self.at(&t.name, format!("test \"{name}\" needs `run`")));
            }
        };
        if let (Some(_), Some(timeout)) = (parent, &t.timeout) {
            return Err(self.at(timeout, "a part cannot have its own timeout"));
        }
        let timeout = t.timeout.as_ref().map(|d| self.duration(d)).transpose()?;
        let visibility = t
            .visibility
            .or(parent.map(|(_, _, v, ..)| v))
            .unwrap_or_default();
        let mut checks = self.checks(t, values)?;
        if let Some(s) = &t.stopped {
            let function = raw_runs[run].stop_at.as_ref().map(|f| f.get_ref().trim());
            match (*s.get_ref(), function) {
                (false, _) => {
                    return Err(self.at(s, "`stopped = false` checks nothing: remove it"));
                }
                (true, None) => {
                    return Err(self.at(
                        s,
                        format!(
                            "`stopped` needs a run that stops at a function: give run \"{}\" `stop_at`",
                            raw_runs[run].id.get_ref()
                        ),
                    ));
                }
                (true, Some(f)) => checks.push(Check::Stopped(f.to_owned())),
            }
        }
        let untrusted = t
            .untrusted
            .or(parent.map(|(_, _, _, u, _)| u))
            .unwrap_or(false);

        if t.part.is_empty() {
            if checks.is_empty() {
                return Err(self.at(
                    &t.name,
                    format!(
                        "test \"{name}\" checks nothing: give it match, no_match, count, delta, range, usertest, backtrace, stopped or peer"
                    ),
                ));
            }
            let points = t
                .points
                .as_ref()
                .ok_or_else(|| self.at(&t.name, format!("test \"{name}\" needs `points`")))?;
            return Ok(Test {
                id,
                name,
                requires,
                points: *points.get_ref(),
                run,
                timeout,
                visibility,
                untrusted,
                checks,
                parts: Vec::new(),
            });
        }
        if parent.is_some() {
            return Err(self.at(&t.name, "parts cannot have parts of their own"));
        }
        if !checks.is_empty() {
            return Err(self.at(
                &t.name,
                format!("test \"{name}\" has parts, so its checks belong in a part"),
            ));
        }
        if let Some(points) = &t.points {
            return Err(self.at(
                points,
                "a test with parts scores its parts' points: move `points` into the parts",
            ));
        }
        let mut parts = Vec::new();
        for p in &t.part {
            parts.push(self.test(
                p,
                Some((&name, run, visibility, untrusted, &requires)),
                raw_runs,
                values,
                names,
            )?);
        }
        Ok(Test {
            id,
            name,
            requires,
            points: parts.iter().map(|p| p.points).sum(),
            run,
            timeout,
            visibility,
            untrusted,
            checks,
            parts,
        })
    }

    fn checks(&self, t: &RawTest, values: &Values) -> Result<Vec<Check>, SpecError> {
        let mut checks = Vec::new();
        if let Some(p) = &t.match_ {
            checks.push(Check::Match(self.patterns(p, values)?));
        }
        if let Some(p) = &t.no_match {
            checks.push(Check::NoMatch(self.patterns(p, values)?));
        }
        if let Some(p) = &t.peer {
            checks.push(Check::Peer(self.patterns(p, values)?));
        }
        for c in t.count.iter().flat_map(|c| &c.0) {
            let times = self.number(&c.times, values)?;
            let times = usize::try_from(times).map_err(|_| {
                self.at(&c.times, format!("times is {times}: it cannot be negative"))
            })?;
            checks.push(Check::Count {
                regexes: self.patterns(&c.regex, values)?,
                times,
            });
        }
        for d in t.delta.iter().flat_map(|d| &d.0) {
            let regex = self.one_number_regex(&d.regex, values, "delta")?;
            let by = self.number(&d.by, values)?;
            checks.push(Check::Delta { regex, by });
        }
        if let Some(r) = &t.range {
            let regex = self.one_number_regex(&r.regex, values, "range")?;
            let (min, max) = (self.number(&r.min, values)?, self.number(&r.max, values)?);
            if min > max {
                return Err(self.at(
                    &r.min,
                    format!("the range is empty: min {min} is above max {max}"),
                ));
            }
            checks.push(Check::Range { regex, min, max });
        }
        if let Some(r) = &t.ratio {
            let regex = self.one_number_regex(&r.regex, values, "ratio")?;
            let min = *r.min.get_ref();
            if !(min.is_finite() && min > 0.0) {
                return Err(self.at(&r.min, format!("min is {min}: a ratio is above 0")));
            }
            let busy = match &r.busy {
                Some(b) => Some((
                    self.one_number_regex(&b.regex, values, "busy")?,
                    self.number(&b.max, values)?,
                )),
                None => None,
            };
            checks.push(Check::Ratio { regex, min, busy });
        }
        if let Some(u) = &t.usertest {
            let name = u.get_ref().trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(self.at(u, "usertest names one usertests test, e.g. \"copyin\""));
            }
            checks.push(Check::Usertest(name.to_owned()));
        }
        if let Some(b) = &t.backtrace {
            if b.get_ref().is_empty() {
                return Err(self.at(b, "backtrace lists the expected functions, innermost first"));
            }
            checks.push(Check::Backtrace(b.get_ref().clone()));
        }
        Ok(checks)
    }
}

/// Parses a time as humantime does (`"500ms"`, `"30s"`, `"1.5s"`, `"2m"`,
/// `"1m 30s"`); zero is refused. The error says what is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err("a time must be more than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
