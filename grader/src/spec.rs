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
//! `match`, `no_match`, `count`, `delta`, `range`, `usertest`, `backtrace`.
//! `delta = { regex = '^copyin: (\d+)$', by = 28 }` (one capture group,
//! around the number) and `count` may also be lists of such tables.
//! `range = { regex = '^alarms: (\d+)$', min = 5, max = "{{n + 1}}" }`:
//! exactly one line matches, and its number is within [min, max].
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
    /// usertests reported this test, and reported it OK.
    Usertest(String),
    /// The first backtrace's addresses symbolise, in order, to these
    /// functions (last path component of the demangled name).
    Backtrace(Vec<String>),
}

impl Check {
    /// Whether the check only looks for things that appeared, so that its
    /// pass stays a pass on a console that was cut short (timeout, panic).
    pub fn holds_on_partial_output(&self) -> bool {
        matches!(
            self,
            Check::Match(_) | Check::Usertest(_) | Check::Backtrace(_)
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

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Spanned<String>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    /// `"all"` (every kernel lab of the registry) or a registry group: the
    /// specs of its labs, in the registry's order, as `include`.
    #[serde(rename = "include-labs")]
    include_labs: Option<Spanned<String>>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
    /// Required unless the spec is a group.
    timeout: Option<Spanned<String>>,
    cpus: Option<Spanned<u32>>,
    /// Every test is `untrusted` (a spec for kernel tests, not for grades).
    untrusted: Option<bool>,
    #[serde(default)]
    random: BTreeMap<String, Spanned<RawRandom>>,
    #[serde(default)]
    run: Vec<RawRun>,
    #[serde(default)]
    test: Vec<RawTest>,
}

/// `{ min, max }` (an integer) or `{ bits = { name = bit, ... } }` (a
/// non-empty subset of the named bits).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRandom {
    min: Option<i64>,
    max: Option<i64>,
    bits: Option<BTreeMap<String, u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    id: Spanned<String>,
    commands: Vec<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    host: Option<bool>,
    cores: Option<Spanned<u32>>,
}

/// A test or a part: the same keys, with the ones a part cannot have
/// (`run`, `timeout`, `part`) rejected when compiling.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Spanned<String>,
    points: Option<Spanned<u32>>,
    run: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    visibility: Option<Visibility>,
    untrusted: Option<bool>,
    requires: Option<Spanned<Vec<String>>>,
    #[serde(rename = "match")]
    match_: Option<Spanned<Patterns>>,
    no_match: Option<Spanned<Patterns>>,
    count: Option<OneOrMany<RawCount>>,
    delta: Option<OneOrMany<RawDelta>>,
    range: Option<RawRangeCheck>,
    usertest: Option<Spanned<String>>,
    backtrace: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    part: Vec<RawTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCount {
    regex: Spanned<Patterns>,
    times: Spanned<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelta {
    regex: Spanned<String>,
    by: Spanned<Number>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRangeCheck {
    regex: Spanned<String>,
    min: Spanned<Number>,
    max: Spanned<Number>,
}

/// A number as written: an integer, or a `"{{expression}}"` of random values.
enum Number {
    Int(i64),
    Template(String),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a \"{{expression}}\" string")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Number, E> {
                Ok(Number::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Number, E> {
                i64::try_from(n)
                    .map(Number::Int)
                    .map_err(|_| E::custom("the number is too large"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Number, E> {
                Ok(Number::Template(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One regex or a list of them; list items keep their own place.
enum Patterns {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Patterns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a regex or a list of regexes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Patterns, E> {
                Ok(Patterns::One(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element()? {
                    all.push(item);
                }
                Ok(Patterns::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// One table or a list of them (`delta = { … }` or `delta = [{ … }, { … }]`).
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table or a list of tables")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element()? {
                    all.push(item);
                }
                Ok(OneOrMany(all))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

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
            });
        }

        if raw.test.is_empty() {
            return Err(self.err(None, "the spec has no [[test]]"));
        }
        let mut tests = Vec::new();
        let mut names = HashMap::new();
        for t in &raw.test {
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

    /// Draws each random value from `seed`, the spec's name and the value's
    /// own name, so that adding a value changes no other.
    fn draw(
        &self,
        spec: &str,
        raw: &BTreeMap<String, Spanned<RawRandom>>,
        seed: u64,
    ) -> Result<(BTreeMap<String, i64>, Values), SpecError> {
        let mut drawn = BTreeMap::new();
        let mut values = Values::new();
        for (name, r) in raw {
            let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(self.at(
                    r,
                    format!(
                        "random value \"{name}\": a name is a letter, then letters, digits or '_'"
                    ),
                ));
            }
            let mut rng =
                SplitMix64(seed ^ crate::hash::fnv1a(format!("{spec}\0{name}").as_bytes()));
            let value = match r.get_ref() {
                RawRandom {
                    min: Some(min),
                    max: Some(max),
                    bits: None,
                } => {
                    if min > max {
                        return Err(self.at(r, format!("random {name}: min is above max")));
                    }
                    let width = max.abs_diff(*min).saturating_add(1);
                    let offset = if width == 0 {
                        rng.next()
                    } else {
                        rng.next() % width
                    };
                    min.wrapping_add_unsigned(offset)
                }
                RawRandom {
                    min: None,
                    max: None,
                    bits: Some(bits),
                } => {
                    if bits.is_empty() || bits.len() > 62 {
                        return Err(self.at(r, format!("random {name}: bits names 1 to 62 bits")));
                    }
                    let mut seen = HashSet::new();
                    for (bit_name, &bit) in bits {
                        if bit > 62 || !seen.insert(bit) {
                            return Err(self.at(
                                r,
                                format!(
                                    "random {name}: bit {bit} of {bit_name} is above 62 or given twice"
                                ),
                            ));
                        }
                    }
                    // A non-empty subset: the k-th name is in it if bit k of
                    // the pick is set.
                    let subsets = (1u64 << bits.len()) - 1;
                    let pick = rng.next() % subsets + 1;
                    let mut mask = 0i64;
                    for (k, (bit_name, &bit)) in bits.iter().enumerate() {
                        let chosen = (pick >> k & 1) as i64;
                        values.insert(format!("{name}.{bit_name}"), chosen);
                        mask |= chosen << bit;
                    }
                    mask
                }
                _ => {
                    return Err(self.at(
                        r,
                        format!(
                            "random {name}: write {{ min = 1, max = 9 }} or {{ bits = {{ a = 0, b = 3 }} }}"
                        ),
                    ));
                }
            };
            drawn.insert(name.clone(), value);
            values.insert(name.clone(), value);
        }
        Ok((drawn, values))
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
        let checks = self.checks(t, values)?;
        let untrusted = t
            .untrusted
            .or(parent.map(|(_, _, _, u, _)| u))
            .unwrap_or(false);

        if t.part.is_empty() {
            if checks.is_empty() {
                return Err(self.at(
                    &t.name,
                    format!(
                        "test \"{name}\" checks nothing: give it match, no_match, count, delta, range, usertest or backtrace"
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

/// The value of expression `text`: integers, names of `values`, `+ - * / %`,
/// unary minus and parentheses; an error says what is wrong.
fn eval(text: &str, values: &Values) -> Result<i64, String> {
    let mut p = Expr {
        src: text,
        at: 0,
        values,
    };
    let v = p.sum()?;
    if p.peek().is_some() {
        return Err(format!("{{{{{text}}}}}: unexpected \"{}\"", &text[p.at..]));
    }
    Ok(v)
}

/// A recursive-descent reader of one `{{...}}` expression.
struct Expr<'a> {
    src: &'a str,
    at: usize,
    values: &'a Values,
}

impl Expr<'_> {
    fn peek(&mut self) -> Option<char> {
        while self.src[self.at..].starts_with(' ') {
            self.at += 1;
        }
        self.src[self.at..].chars().next()
    }

    fn overflow(&self) -> String {
        format!("{{{{{}}}}} overflows", self.src)
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.at += 1;
            let r = self.product()?;
            v = if op == '+' {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<i64, String> {
        let mut v = self.atom()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.at += 1;
            let r = self.atom()?;
            if op != '*' && r == 0 {
                return Err(format!("{{{{{}}}}} divides by zero", self.src));
            }
            v = match op {
                '*' => v.checked_mul(r),
                '/' => v.checked_div(r),
                _ => v.checked_rem(r),
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<i64, String> {
        match self.peek() {
            Some('(') => {
                self.at += 1;
                let v = self.sum()?;
                if self.peek() != Some(')') {
                    return Err(format!("{{{{{}}}}}: a \"(\" is not closed", self.src));
                }
                self.at += 1;
                Ok(v)
            }
            Some('-') => {
                self.at += 1;
                self.atom()?.checked_neg().ok_or_else(|| self.overflow())
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let rest = &self.src[self.at..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                self.at += len;
                if c.is_ascii_digit() {
                    return word
                        .parse()
                        .map_err(|_| format!("{{{{{}}}}}: bad number \"{word}\"", self.src));
                }
                self.values
                    .get(word)
                    .copied()
                    .ok_or_else(|| format!("{{{{{word}}}}} names no [random] value"))
            }
            _ => Err(format!(
                "{{{{{}}}}}: expected a number, a [random] value or \"(\"",
                self.src
            )),
        }
    }
}

/// A small, well-mixed generator: the draws only need to be reproducible
/// from a seed, not cryptographic.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
timeout = "30s"

[random]
n = { min = 10, max = 20 }

[[run]]
id = "echo"
commands = ["echo {{n}}"]
timeout = "5s"

[[test]]
name = "echo"
points = 5
run = "echo"
match = '^{{n}}$'

[[test]]
name = "suite"
run = "echo"
timeout = "60s"
visibility = "hidden"

[[test.part]]
name = "one"
points = 2
usertest = "one"

[[test.part]]
name = "two"
points = 3
count = { regex = ['^a$', '^b$'], times = 1 }
no_match = 'x'
"#;

    /// Writes specs into a fresh `labs/` and returns the root.
    fn labs_dir(specs: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("labs")).unwrap();
        for (name, text) in specs {
            std::fs::write(root.path().join(format!("labs/{name}.toml")), text).unwrap();
        }
        root
    }

    #[test]
    fn host_runs_and_what_they_may_not_have() {
        let host = |run: &str| {
            GOOD.replace(
                "id = \"echo\"",
                &format!("id = \"echo\"\nhost = true\n{run}"),
            )
        };
        let spec = parse(&host("cores = 2"), "labs/demo.toml", 1).unwrap();
        let run = spec.runs.iter().find(|r| r.host).unwrap();
        assert_eq!(run.cores, 2);
        assert_eq!(run.host_programs().collect::<Vec<_>>(), ["echo"]);
        let plain = parse(GOOD, "labs/demo.toml", 1).unwrap();
        assert!(plain.runs.iter().all(|r| !r.host && r.cores == 1));
        assert_eq!(plain.runs[0].host_programs().count(), 0);
        let err = |text: &str| parse(text, "labs/demo.toml", 1).unwrap_err().to_string();
        assert!(err(&host("cores = 0")).contains("`cores` is at least 1"));
        assert!(err(&host("until = 'x'")).contains("has no `until`"));
        let qemu_cores = GOOD.replace("id = \"echo\"", "id = \"echo\"\ncores = 2");
        assert!(err(&qemu_cores).contains("`cores` is for host runs"));
        let path = host("").replace(
            "commands = [\"echo {{n}}\"]",
            "commands = [\"/bin/sh -c x\"]",
        );
        assert!(
            err(&path).contains("a program of the tree's, not \"/bin/sh\""),
            "{}",
            err(&path)
        );
    }

    #[test]
    fn include_labs_takes_the_registrys_labs_in_its_order() {
        let spec = |name: &str| {
            GOOD.replace("name = \"demo\"", &format!("name = \"lab-{name}\""))
                .replace(
                    "name = \"echo\"\npoints",
                    &format!("name = \"echo-{name}\"\npoints"),
                )
                .replace("name = \"suite\"", &format!("name = \"suite-{name}\""))
        };
        let (z, a, u) = (spec("z"), spec("a"), spec("u"));
        let root = labs_dir(&[
            ("lab-z", &z),
            ("lab-a", &a),
            ("lab-u", &u),
            ("every", "name = \"every\"\ninclude-labs = \"all\"\n"),
            ("pair", "name = \"pair\"\ninclude-labs = \"g\"\n"),
            ("nogroup", "name = \"nogroup\"\ninclude-labs = \"h\"\n"),
            (
                "both",
                "name = \"both\"\ninclude = [\"lab-a\"]\ninclude-labs = \"g\"\n",
            ),
        ]);
        // Without a registry, there is nothing to include.
        let e = load(root.path(), "every", 1).unwrap_err().to_string();
        assert!(
            e.starts_with("labs/every.toml:2: `include-labs` needs the registry"),
            "{e}"
        );
        std::fs::write(
            root.path().join(registry::FILE),
            "[[lab]]\nname = \"u\"\nuser = [\"p\"]\npoints = 1\neditions = []\n\
             [[lab]]\nname = \"z\"\nkernel = \"Z\"\npoints = 1\neditions = []\n\
             [[lab]]\nname = \"a\"\nkernel = \"A\"\npoints = 1\neditions = []\n\
             [[group]]\nname = \"g\"\nlabs = [\"a\", \"u\"]\n",
        )
        .unwrap();
        // "all" is the kernel labs, in the registry's order, not the alphabet's.
        assert_eq!(
            load(root.path(), "every", 1).unwrap().includes,
            ["lab-z", "lab-a"]
        );
        assert_eq!(
            load(root.path(), "pair", 1).unwrap().includes,
            ["lab-a", "lab-u"]
        );
        let e = load(root.path(), "nogroup", 1).unwrap_err().to_string();
        assert!(
            e.contains("takes \"all\" or a group of labs/registry.toml (g)"),
            "{e}"
        );
        let e = load(root.path(), "both", 1).unwrap_err().to_string();
        assert!(e.contains("`include` or `include-labs`, not both"), "{e}");
    }

    #[test]
    fn group_merges_included_specs() {
        // Random values are drawn per spec: a shared boot types no random value.
        let demo = GOOD.replace("echo {{n}}", "echo shared");
        let other = demo
            .replace("name = \"demo\"", "name = \"other\"\nfeatures = [\"cow\"]")
            .replace("name = \"echo\"\npoints", "name = \"echo2\"\npoints")
            .replace("name = \"suite\"", "name = \"suite2\"")
            .replace("timeout = \"5s\"\n", "");
        let root = labs_dir(&[
            ("demo", &demo),
            ("other", &other),
            ("both", "name = \"both\"\ninclude = [\"demo\", \"other\"]\n"),
        ]);
        let g = load(root.path(), "both", 3).unwrap();
        assert_eq!(g.includes, ["demo", "other"]);
        assert_eq!(g.features, ["cow"]);
        // Both type the same commands on the same kernel: one boot, with
        // the longer timeout (other's run has its spec's default, 30 s).
        let ids: Vec<&str> = g.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["demo.echo"]);
        assert_eq!(g.runs[0].timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            g.points(),
            2 * load(root.path(), "demo", 3).unwrap().points()
        );
        let echo2 = g.tests.iter().find(|t| t.name == "echo2").unwrap();
        assert_eq!(echo2.run, 0);
        assert!(
            g.tests
                .iter()
                .filter(|t| t.name == "suite2")
                .all(|t| t.parts.iter().all(|p| p.run == 0))
        );
    }

    #[test]
    fn group_keeps_different_runs_and_names_same_named_tests_by_lab() {
        let other = GOOD
            .replace("name = \"demo\"", "name = \"other\"")
            .replace("echo {{n}}", "echo other");
        let root = labs_dir(&[
            ("demo", GOOD),
            ("other", &other),
            ("both", "name = \"both\"\ninclude = [\"demo\", \"other\"]\n"),
        ]);
        let g = load(root.path(), "both", 3).unwrap();
        let ids: Vec<&str> = g.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["demo.echo", "other.echo"]);
        let names: Vec<&str> = g.tests.iter().map(|t| t.name.as_str()).collect();
        assert!(
            names.contains(&"demo: echo") && names.contains(&"other: echo"),
            "{names:?}"
        );
        let suite = g.tests.iter().find(|t| t.name == "other: suite").unwrap();
        assert!(
            suite
                .parts
                .iter()
                .all(|p| p.name.starts_with("other: suite: "))
        );
        assert!(suite.parts.iter().all(|p| p.run == 1));
    }

    #[test]
    fn group_errors_name_the_place() {
        let root = labs_dir(&[
            ("demo", GOOD),
            ("dup", "name = \"dup\"\ninclude = [\"demo\", \"demo\"]\n"),
            ("missing", "name = \"missing\"\ninclude = [\"nope\"]\n"),
            ("looped", "name = \"looped\"\ninclude = [\"looped\"]\n"),
            (
                "mixed",
                &GOOD.replace("name = \"demo\"", "name = \"mixed\"\ninclude = [\"demo\"]"),
            ),
        ]);
        let err = |lab| load(root.path(), lab, 0).unwrap_err().to_string();
        assert!(
            err("dup").starts_with("labs/dup.toml:2: demo is included twice"),
            "{}",
            err("dup")
        );
        assert!(
            err("missing").contains("no spec named nope"),
            "{}",
            err("missing")
        );
        assert!(err("looped").contains("would loop"), "{}", err("looped"));
        assert!(
            err("mixed").contains("takes its runs, tests"),
            "{}",
            err("mixed")
        );
        let text = "name = \"g\"\ninclude = [\"demo\"]\n";
        assert!(
            parse(text, "labs/g.toml", 0)
                .unwrap_err()
                .to_string()
                .contains("cannot include demo")
        );
    }

    #[test]
    fn delta_takes_one_table_or_a_list() {
        let one = GOOD.replace(
            "match = '^{{n}}$'",
            "delta = { regex = 'a: (\\d+)', by = 2 }",
        );
        let spec = parse(&one, "labs/demo.toml", 1).unwrap();
        let deltas = |s: &Spec| {
            s.tests[0]
                .checks
                .iter()
                .filter(|c| matches!(c, Check::Delta { .. }))
                .count()
        };
        assert_eq!(deltas(&spec), 1);
        let two = GOOD.replace(
            "match = '^{{n}}$'",
            "delta = [{ regex = 'a: (\\d+)', by = 2 }, { regex = 'b: (\\d+)', by = 0 }]",
        );
        assert_eq!(deltas(&parse(&two, "labs/demo.toml", 1).unwrap()), 2);
        let bad = GOOD.replace("match = '^{{n}}$'", "delta = [{ regex = 'a: (\\d+)' }]");
        assert!(
            parse_err(&bad).contains("missing field `by`"),
            "{}",
            parse_err(&bad)
        );
    }

    fn parse_err(text: &str) -> String {
        parse(text, "labs/demo.toml", 1).unwrap_err().to_string()
    }

    #[test]
    fn compiles_a_good_spec() {
        let spec = parse(GOOD, "labs/demo.toml", 7).unwrap();
        assert_eq!(spec.name, "demo");
        assert_eq!(spec.cpus, 3);
        assert_eq!(spec.timeout, Duration::from_secs(30));
        assert_eq!(spec.points(), 10);
        let n = spec.random["n"];
        assert!((10..=20).contains(&n));
        assert_eq!(spec.runs[0].commands, vec![format!("echo {n}")]);
        assert_eq!(spec.runs[0].timeout, Some(Duration::from_secs(5)));
        let Check::Match(re) = &spec.tests[0].checks[0] else {
            panic!("expected a match check")
        };
        assert_eq!(re[0].as_str(), format!("^{n}$"));
        let suite = &spec.tests[1];
        assert_eq!(suite.points, 5);
        assert_eq!(suite.parts[0].name, "suite: one");
        assert_eq!(suite.parts[1].visibility, Visibility::Hidden);
        assert_eq!(suite.parts[1].checks.len(), 2);
        assert_eq!(suite.parts[1].run, 0);
    }

    #[test]
    fn untrusted_is_off_unless_asked_and_parts_inherit_it() {
        let spec = parse(GOOD, "labs/demo.toml", 7).unwrap();
        assert!(spec.tests.iter().all(|t| !t.untrusted));
        let text = GOOD.replacen(
            "[[test]]\nname = \"suite\"",
            "[[test]]\nname = \"suite\"\nuntrusted = true",
            1,
        );
        assert_ne!(text, GOOD);
        let spec = parse(&text, "labs/demo.toml", 7).unwrap();
        assert!(!spec.tests[0].untrusted);
        assert!(spec.tests[1].parts.iter().all(|p| p.untrusted));
        let all = GOOD.replacen(
            "name = \"demo\"\n",
            "name = \"demo\"\nuntrusted = true\n",
            1,
        );
        assert_ne!(all, GOOD);
        let spec = parse(&all, "labs/demo.toml", 7).unwrap();
        assert!(
            spec.tests
                .iter()
                .all(|t| t.untrusted && t.parts.iter().all(|p| p.untrusted))
        );
    }

    #[test]
    fn the_seed_decides_the_draw() {
        let draw = |seed| parse(GOOD, "labs/demo.toml", seed).unwrap().random["n"];
        assert_eq!(draw(42), draw(42));
        let seen: HashSet<i64> = (0..50).map(draw).collect();
        assert!(seen.len() > 5, "draws should vary with the seed: {seen:?}");
        assert!(seen.iter().all(|n| (10..=20).contains(n)));
    }

    #[test]
    fn unknown_key_names_its_line() {
        let text = GOOD.replace("timeout = \"5s\"", "timeout = \"5s\"\ntimout = \"1s\"");
        let e = parse_err(&text);
        assert!(
            e.starts_with("labs/demo.toml:12: unknown field `timout`"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn bad_regex_names_its_line() {
        let e = parse_err(&GOOD.replace("'^{{n}}$'", "'^({{n}}$'"));
        assert!(e.starts_with("labs/demo.toml:17: bad regex '^("), "{e}");
        assert!(e.ends_with("unclosed group"), "{e}");
        let e = parse_err(&GOOD.replace("'^b$'", "'^b[$'"));
        assert!(e.starts_with("labs/demo.toml:33: bad regex '^b[$'"), "{e}");
    }

    #[test]
    fn missing_field_names_its_line() {
        let e = parse_err(&GOOD.replace("points = 5\n", ""));
        assert_eq!(e, "labs/demo.toml:14: test \"echo\" needs `points`");
        let e = parse_err(&GOOD.replace("id = \"echo\"\n", ""));
        assert!(e.starts_with("labs/demo.toml:8: missing field `id`"), "{e}");
        let e = parse_err(&GOOD.replace("timeout = \"30s\"\n", ""));
        assert!(e.starts_with("labs/demo.toml:"), "{e}");
        assert!(e.contains("missing field `timeout`"), "{e}");
    }

    #[test]
    fn semantic_mistakes_are_located() {
        let cases = [
            (
                GOOD.replace("run = \"echo\"\nmatch", "run = \"ehco\"\nmatch"),
                "labs/demo.toml:16: no [[run]] has id \"ehco\" (runs: echo)",
            ),
            (
                GOOD.replace("echo {{n}}", "echo {{m}}"),
                "labs/demo.toml:10: {{m}} names no [random] value",
            ),
            (
                GOOD.replace("\"5s\"", "\"5 fortnights\""),
                "labs/demo.toml:11: bad duration \"5 fortnights\": unknown time unit \"fortnights\", \
                 supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years \
                 (and few variations); write it like \"30s\", \"500ms\" or \"2m\"",
            ),
            (
                GOOD.replace("name = \"demo\"", "name = \"other\""),
                "labs/demo.toml:2: name is \"other\" but the file is labs/demo.toml: they must agree",
            ),
            (
                GOOD.replace("name = \"two\"", "name = \"one\""),
                "labs/demo.toml:31: two tests are named \"suite: one\"",
            ),
            (
                GOOD.replace(
                    "visibility = \"hidden\"",
                    "visibility = \"hidden\"\npoints = 5",
                ),
                "labs/demo.toml:24: a test with parts scores its parts' points: move `points` into the parts",
            ),
            (
                GOOD.replace("usertest = \"one\"", "usertest = \"one\"\nrun = \"echo\""),
                "labs/demo.toml:29: a part takes its run from its test: remove `run`",
            ),
            (
                GOOD.replace(
                    "match = '^{{n}}$'",
                    "delta = { regex = 'copyin: \\d+', by = 2 }",
                ),
                "labs/demo.toml:17: a delta regex needs exactly one capture group, around the number",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_err(&text), want);
        }
    }

    #[test]
    fn a_test_must_check_something_and_a_run_must_be_used() {
        let e = parse_err(&GOOD.replace("match = '^{{n}}$'", ""));
        assert!(e.contains("checks nothing"), "{e}");
        let extra = format!("{GOOD}\n[[run]]\nid = \"idle\"\ncommands = []\n");
        let e = parse_err(&extra);
        assert!(e.ends_with("no test uses run \"idle\""), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        for (bad, why) in [
            ("30", "time unit needed"),
            ("s", "expected number"),
            ("0s", "more than zero"),
            ("-1s", "expected number"),
            ("3 fortnights", "unknown time unit"),
            ("", "value was empty"),
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    const RANDOM: &str = r#"
name = "demo"
timeout = "30s"

[random]
n = { min = 100, max = 999 }
mask = { bits = { read = 5, write = 16, close = 21 } }

[[run]]
id = "r"
commands = ["trace {{mask}} calls {{n}}"]

[[test]]
name = "calls"
points = 5
run = "r"
count = [
    { regex = '^read -> {{n}}$', times = "{{mask.read}}" },
    { regex = '^write -> {{n * 2 + 1}}$', times = "{{ mask.write }}" },
    { regex = '^close$', times = 0 },
]
range = { regex = '^calls: (\d+)$', min = "{{n / 10}}", max = "{{(n + 1) * 3 - n % 7}}" }
delta = { regex = '^k: (\d+)$', by = "{{-n}}" }
"#;

    #[test]
    fn bits_draw_a_non_empty_subset_and_expressions_compute() {
        let mut masks = HashSet::new();
        for seed in 0..64 {
            let spec = parse(RANDOM, "labs/demo.toml", seed).unwrap();
            let (n, mask) = (spec.random["n"], spec.random["mask"]);
            assert!(
                mask != 0 && mask & !(1 << 5 | 1 << 16 | 1 << 21) == 0,
                "{mask:#x}"
            );
            masks.insert(mask);
            assert_eq!(spec.runs[0].commands, [format!("trace {mask} calls {n}")]);
            let checks = &spec.tests[0].checks;
            let Check::Count { regexes, times } = &checks[0] else {
                panic!("count first")
            };
            assert_eq!(regexes[0].as_str(), format!("^read -> {n}$"));
            assert_eq!(*times, (mask >> 5 & 1) as usize);
            let Check::Count { regexes, times } = &checks[1] else {
                panic!("a second count")
            };
            assert_eq!(regexes[0].as_str(), format!("^write -> {}$", n * 2 + 1));
            assert_eq!(*times, (mask >> 16 & 1) as usize);
            assert!(matches!(&checks[2], Check::Count { times: 0, .. }));
            let Check::Delta { by, .. } = &checks[3] else {
                panic!("delta after count")
            };
            assert_eq!(*by, -n);
            let Check::Range { min, max, .. } = &checks[4] else {
                panic!("range last")
            };
            assert_eq!((*min, *max), (n / 10, (n + 1) * 3 - n % 7));
        }
        // Every non-empty subset of three bits turns up.
        assert_eq!(masks.len(), 7, "{masks:?}");
        // Only the random part of the report: no mask.read entries.
        let spec = parse(RANDOM, "labs/demo.toml", 1).unwrap();
        assert_eq!(spec.random.keys().collect::<Vec<_>>(), ["mask", "n"]);
    }

    #[test]
    fn draws_depend_on_the_seed_the_spec_and_the_name() {
        let draw = |text: &str, file: &str, seed| parse(text, file, seed).unwrap().random["n"];
        let other = RANDOM.replace("name = \"demo\"", "name = \"other\"");
        let differ = (0..20)
            .filter(|&s| draw(RANDOM, "labs/demo.toml", s) != draw(&other, "labs/other.toml", s))
            .count();
        assert!(differ > 15, "two specs draw alike: {differ} of 20 differ");
        // Adding a value leaves the others as they were.
        let more = RANDOM.replace("[random]\n", "[random]\naaa = { min = 1, max = 9 }\n");
        for seed in 0..20 {
            assert_eq!(
                draw(RANDOM, "labs/demo.toml", seed),
                draw(&more, "labs/demo.toml", seed)
            );
        }
    }

    #[test]
    fn bad_random_values_and_expressions_are_located() {
        let cases = [
            (
                RANDOM.replace("{{mask.read}}", "{{mask.raed}}"),
                "labs/demo.toml:18: {{mask.raed}} names no [random] value",
            ),
            (
                RANDOM.replace("{{n * 2 + 1}}", "{{n * (2 + 1}}"),
                "labs/demo.toml:19: {{n * (2 + 1}}: a \"(\" is not closed",
            ),
            (
                RANDOM.replace("{{n / 10}}", "{{n / (n - n)}}"),
                "labs/demo.toml:22: {{n / (n - n)}} divides by zero",
            ),
            (
                RANDOM.replace("{{n / 10}}", "{{n 10}}"),
                "labs/demo.toml:22: {{n 10}}: unexpected \"10\"",
            ),
            (
                RANDOM.replace("times = 0", "times = \"{{0 - 1}}\""),
                "labs/demo.toml:20: times is -1: it cannot be negative",
            ),
            (
                RANDOM.replace("times = 0", "times = \"zero\""),
                "labs/demo.toml:20: \"zero\" is not a number: write a number or \"{{n + 1}}\"",
            ),
            (
                RANDOM.replace("write = 16", "write = 5"),
                "labs/demo.toml:7: random mask: bit 5 of write is above 62 or given twice",
            ),
            (
                RANDOM.replace("{ min = 100, max = 999 }", "{ min = 100 }"),
                "labs/demo.toml:6: random n: write { min = 1, max = 9 } or { bits = { a = 0, b = 3 } }",
            ),
            (
                RANDOM.replace("min = \"{{n / 10}}\"", "min = 5000"),
                "labs/demo.toml:22: the range is empty: min 5000 is above max",
            ),
            (
                RANDOM.replace("'^calls: (\\d+)$'", "'^calls: \\d+$'"),
                "labs/demo.toml:22: a range regex needs exactly one capture group, around the number",
            ),
        ];
        for (text, want) in cases {
            let got = parse_err(&text);
            assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn features_must_be_the_registrys_kernel_labs() {
        let root = labs_dir(&[(
            "demo",
            &GOOD.replace(
                "timeout = \"30s\"",
                "timeout = \"30s\"\nfeatures = [\"cow\", \"nosuch\"]",
            ),
        )]);
        // Without a registry, nothing to check against.
        assert!(load(root.path(), "demo", 1).is_ok());
        let lab = |n: &str, k: &str| {
            format!("[[lab]]\nname = \"{n}\"\nkernel = \"{k}\"\npoints = 1\neditions = []\n")
        };
        std::fs::write(
            root.path().join(registry::FILE),
            format!("{}{}", lab("trace", "T"), lab("cow", "C")),
        )
        .unwrap();
        assert_eq!(known_features(root.path()).unwrap(), ["cow", "trace"]);
        let e = load(root.path(), "demo", 1).unwrap_err().to_string();
        assert_eq!(
            e,
            "labs/demo.toml:4: no lab feature \"nosuch\" (the features are cow, trace)"
        );
    }

    #[test]
    fn a_spec_loads_from_a_path_with_includes_from_labs() {
        let root = labs_dir(&[("demo", GOOD)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wip.toml");
        std::fs::write(&path, GOOD.replace("\"demo\"", "\"wip\"")).unwrap();
        let spec = load_file(root.path(), &path, "x/wip.toml", 2).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.file.as_str()),
            ("wip", "x/wip.toml")
        );
        std::fs::write(&path, "name = \"wip\"\ninclude = [\"demo\"]\n").unwrap();
        assert_eq!(
            load_file(root.path(), &path, "x/wip.toml", 2)
                .unwrap()
                .includes,
            ["demo"]
        );
        std::fs::write(&path, GOOD).unwrap();
        let e = load_file(root.path(), &path, "x/wip.toml", 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x/wip.toml:2: name is \"demo\" but the file is x/wip.toml"),
            "{e}"
        );
    }

    #[test]
    fn the_shipped_specs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let labs = known_labs(&root);
        assert!(labs.contains(&"base".to_owned()) && labs.contains(&"lab-util".to_owned()));
        for lab in labs {
            let spec = load(&root, &lab, 0).unwrap_or_else(|e| panic!("{e}"));
            assert!(spec.points() > 0, "{lab}");
        }
    }
}
