//! The grader's command line, shared by the `grader` binary and
//! `cargo xtask grade`, which differ only in how a kernel gets built.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lexopt::prelude::*;

use crate::grade::{self, Lab, Settings};
use crate::qemu;
use crate::report;
use crate::spec::{self, Spec};

/// A built kernel configuration.
#[derive(Clone, Debug)]
pub struct Built {
    /// The kernel ELF (also used to symbolise backtraces).
    pub kernel: PathBuf,
    /// The file system image (QEMU runs it with `-snapshot`).
    pub fs_img: PathBuf,
}

/// Builds the kernel and image for a set of lab features.
pub trait Builder {
    /// `features` are lab feature names (`"cow"`, `"trace"` …), empty for
    /// the base kernel.
    fn build(&mut self, features: &[String]) -> Result<Built, String>;
}

pub const HELP: &str = "\
Grades labs: boots the kernel in QEMU, types each spec's commands at the
shell, checks the console and prints a score (specs: labs/<lab>.toml).

Usage: grader [OPTIONS] <LAB>... [TEST]...
       grader [OPTIONS] --all [TEST]...
       grader --list [LAB]...

Words that name no lab select tests: only tests whose name contains one of
them (ignoring case) are graded, and only the runs they need are booted.

Options:
  --all                  grade every lab
  --list                 list the labs and their points (with LABs: their tests)
  -j, --jobs N           QEMU runs at once [default: the number of cores]
  --timeout-scale F      multiply every timeout by F (slow machines)
  --cpus N               harts per QEMU, instead of each spec's (default 3)
  --features LIST        build with these lab features (comma-separated,
                         possibly empty) instead of each spec's: grade a
                         kernel with several labs, or prove a lab's tests fail
                         without its code
  --seed N               seed of the specs' random parameters (a report that
                         used some prints its seed)
  --json [FILE]          JSON report to FILE (one ending in .json, or - for
                         stdout; the text report then goes to stderr)
  --junit FILE           JUnit XML report
  --gradescope FILE      Gradescope results.json
  -h, --help             this help

Console logs: <target>/grade/<lab>/<run>.log, <target> being
$CARGO_TARGET_DIR or target/. Exit status: 0 full marks, 1 below, 2 a usage
or spec error.";

/// Runs the grader with command-line `args` (without the program name),
/// specs found under `root/labs/`. Returns the process exit status:
/// 0 full marks, 1 below full marks, 2 usage or spec error.
pub fn run(root: &Path, args: &[OsString], builder: &mut dyn Builder) -> i32 {
    match grade_labs(root, args, builder) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("grader: {message}");
            2
        }
    }
}

#[derive(Default)]
struct Options {
    words: Vec<String>,
    all: bool,
    list: bool,
    jobs: Option<usize>,
    timeout_scale: Option<f64>,
    cpus: Option<u32>,
    features: Option<Vec<String>>,
    seed: Option<u64>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    gradescope: Option<PathBuf>,
}

/// The options, or `None` for `--help`.
fn parse_args(args: &[OsString]) -> Result<Option<Options>, lexopt::Error> {
    let mut o = Options::default();
    let mut p = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("all") => o.all = true,
            Long("list") => o.list = true,
            Short('j') | Long("jobs") => o.jobs = Some(p.value()?.parse()?),
            Long("timeout-scale") => o.timeout_scale = Some(p.value()?.parse()?),
            Long("cpus") => o.cpus = Some(p.value()?.parse()?),
            Long("seed") => o.seed = Some(p.value()?.parse()?),
            Long("features") => {
                let list = p.value()?.string()?;
                o.features = Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            Long("json") => {
                let file = match p.optional_value() {
                    Some(v) => Some(v),
                    // A following word is the file only if it looks like one,
                    // so `--json lab-util` still names a lab.
                    None => p.raw_args()?.next_if(|a| {
                        let a = a.to_string_lossy();
                        a == "-" || a.ends_with(".json")
                    }),
                };
                o.json = Some(file.map_or_else(|| PathBuf::from("-"), PathBuf::from));
            }
            Long("junit") => o.junit = Some(p.value()?.into()),
            Long("gradescope") => o.gradescope = Some(p.value()?.into()),
            Value(word) => o.words.push(word.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(o))
}

fn grade_labs(root: &Path, args: &[OsString], builder: &mut dyn Builder) -> Result<i32, String> {
    let Some(o) = parse_args(args).map_err(|e| format!("{e} (see --help)"))? else {
        println!("{HELP}");
        return Ok(0);
    };
    if o.jobs == Some(0) {
        return Err("--jobs must be at least 1".into());
    }
    if o.timeout_scale.is_some_and(|f| !(f > 0.0 && f.is_finite())) {
        return Err("--timeout-scale must be a positive number".into());
    }
    if o.cpus.is_some_and(|c| !(1..=8).contains(&c)) {
        return Err("--cpus must be between 1 and 8".into());
    }
    let known = spec::known_labs(root);
    if known.is_empty() {
        return Err(format!("no lab specs in {}", root.join("labs").display()));
    }
    let (mut names, filters): (Vec<String>, Vec<String>) =
        o.words.iter().cloned().partition(|w| known.contains(w));
    if o.all {
        names = known.clone();
    } else if names.is_empty() && !o.list {
        return Err(match o.words.first() {
            Some(word) => format!("unknown lab \"{word}\"; known labs: {}", known.join(", ")),
            None => format!(
                "name a lab to grade (known labs: {}), or use --all or --list",
                known.join(", ")
            ),
        });
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    let seed = o.seed.unwrap_or_else(random_seed);
    let listing_all = o.list && names.is_empty();
    let specs = if listing_all { &known } else { &names }
        .iter()
        .map(|lab| spec::load(root, lab, seed).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Spec>, String>>()?;
    if o.list {
        print!("{}", listing(&specs, !listing_all));
        return Ok(0);
    }

    // A group spec grades labs that --all grades one by one anyway.
    let specs = if o.all {
        specs
            .into_iter()
            .filter(|s| s.includes.is_empty())
            .collect()
    } else {
        specs
    };
    let mut specs = select(specs, &filters)?;
    if let Some(features) = &o.features {
        for spec in &mut specs {
            spec.features = features.clone();
        }
    }
    if std::env::var_os("GRADER_QEMU").is_none() {
        qemu::check()?;
    }
    let labs = build(specs, seed, builder);
    if let Err(e) = qemu::install_interrupt_handler() {
        eprintln!("grader: {e}");
    }

    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let json_to_stdout = o.json.as_deref() == Some(Path::new("-"));
    let settings = Settings {
        qemu: qemu::qemu_binary(),
        jobs: o
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        timeout_scale: o.timeout_scale.unwrap_or(1.0),
        cpus: o.cpus,
        logs: target.join("grade"),
        root: root.to_owned(),
        progress: std::io::stderr().is_terminal(),
    };
    let mut out: Box<dyn Write> = if json_to_stdout {
        Box::new(anstream::stderr())
    } else {
        Box::new(anstream::stdout())
    };
    let graded = grade::grade(&labs, &settings, &mut out)
        .map_err(|e| format!("cannot write the report: {e}"))?;
    if graded.labs.len() > 1 {
        report::write_total(&mut out, &graded.labs)
            .map_err(|e| format!("cannot write the report: {e}"))?;
    }

    let outputs = [
        (o.json.as_ref(), report::json(&graded.labs)),
        (o.junit.as_ref(), report::junit(&graded.labs)),
        (
            o.gradescope.as_ref(),
            report::gradescope(&graded.labs, graded.elapsed.as_secs_f64()),
        ),
    ];
    for (path, contents) in outputs {
        match path {
            None => {}
            Some(p) if p == Path::new("-") => print!("{contents}"),
            Some(p) => grade::write_atomically(p, contents.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        }
    }
    if let Some(e) = graded.qemu_error {
        return Err(e);
    }
    let (score, max) = report::totals(&graded.labs);
    Ok(if score == max { 0 } else { 1 })
}

/// A seed short enough to type back with `--seed`.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) ^ u64::from(std::process::id()) << 20) % 1_000_000
}

/// Keeps the tests (and parts) whose names contain a filter; each filter
/// must select something.
fn select(mut specs: Vec<Spec>, filters: &[String]) -> Result<Vec<Spec>, String> {
    if filters.is_empty() {
        return Ok(specs);
    }
    let lower: Vec<String> = filters.iter().map(|f| f.to_lowercase()).collect();
    let mut used = vec![false; filters.len()];
    let mut hit = |name: &str| {
        let name = name.to_lowercase();
        let mut any = false;
        for (f, used) in lower.iter().zip(used.iter_mut()) {
            if name.contains(f.as_str()) {
                *used = true;
                any = true;
            }
        }
        any
    };
    for spec in &mut specs {
        spec.tests.retain_mut(|test| {
            if hit(&test.name) {
                return true;
            }
            test.parts.retain(|part| hit(&part.name));
            test.points = test.parts.iter().map(|p| p.points).sum();
            !test.parts.is_empty()
        });
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let labs: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "no test of {} matches \"{}\" (`grader --list {}` lists them)",
            labs.join(", "),
            filters[i],
            labs.join(" ")
        ));
    }
    specs.retain(|s| !s.tests.is_empty());
    Ok(specs)
}

/// Builds each distinct feature set once.
fn build(specs: Vec<Spec>, seed: u64, builder: &mut dyn Builder) -> Vec<Lab> {
    let mut done: Vec<(Vec<String>, Result<Built, String>)> = Vec::new();
    specs
        .into_iter()
        .map(|spec| {
            let mut features = spec.features.clone();
            features.sort();
            let built = match done.iter().find(|(f, _)| *f == features) {
                Some((_, built)) => built.clone(),
                None => {
                    let built = builder.build(&features);
                    if let Err(e) = &built {
                        eprintln!("grader: {}: {e}", spec.name);
                    }
                    done.push((features, built.clone()));
                    built
                }
            };
            Lab { spec, seed, built }
        })
        .collect()
}

/// `--list`: the labs and their points, or with `tests`, their tests too.
fn listing(specs: &[Spec], tests: bool) -> String {
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for spec in specs {
        out.push_str(&format!(
            "{:width$}  {:>3} points  {:>2} tests\n",
            spec.name,
            spec.points(),
            spec.tests.len()
        ));
        if !tests {
            continue;
        }
        for test in &spec.tests {
            out.push_str(&format!(
                "    {:>3}  {}  (run {})\n",
                test.points, test.name, spec.runs[test.run].id
            ));
            for part in &test.parts {
                out.push_str(&format!("    {:>3}    {}\n", part.points, part.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_takes_a_file_only_when_it_looks_like_one() {
        let o = parse_args(&os(&["--json", "lab-util"])).unwrap().unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
        assert_eq!(o.words, vec!["lab-util"]);
        let o = parse_args(&os(&["--json", "out.json", "base"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.json, Some(PathBuf::from("out.json")));
        let o = parse_args(&os(&["--json=x", "base"])).unwrap().unwrap();
        assert_eq!(o.json, Some(PathBuf::from("x")));
        let o = parse_args(&os(&["base", "--json"])).unwrap().unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
    }

    #[test]
    fn bad_options_are_errors() {
        let e = parse_args(&os(&["--jobs", "x"])).err().unwrap().to_string();
        assert!(e.contains("x"), "{e}");
        assert!(parse_args(&os(&["--frobnicate"])).is_err());
        assert!(parse_args(&os(&["-h"])).unwrap().is_none());
    }

    fn demo() -> Spec {
        let text = r#"
name = "demo"
timeout = "1s"
[[run]]
id = "r"
commands = ["usertests"]
[[test]]
name = "boot"
points = 1
run = "r"
match = "x"
[[test]]
name = "usertests"
run = "r"
[[test.part]]
name = "copyin"
points = 2
usertest = "copyin"
[[test.part]]
name = "copyout"
points = 3
usertest = "copyout"
"#;
        spec::parse(text, "labs/demo.toml", 0).unwrap()
    }

    #[test]
    fn filters_select_tests_and_parts() {
        let names = |specs: &[Spec]| -> Vec<String> {
            specs[0]
                .tests
                .iter()
                .flat_map(|t| {
                    std::iter::once(t.name.clone()).chain(t.parts.iter().map(|p| p.name.clone()))
                })
                .collect()
        };
        let all = select(vec![demo()], &[]).unwrap();
        assert_eq!(all[0].points(), 6);
        let some = select(vec![demo()], &["COPYOUT".to_owned()]).unwrap();
        assert_eq!(names(&some), vec!["usertests", "usertests: copyout"]);
        assert_eq!(some[0].points(), 3);
        let parent = select(vec![demo()], &["usertests".to_owned()]).unwrap();
        assert_eq!(parent[0].points(), 5);
        let e = select(vec![demo()], &["boot".to_owned(), "nope".to_owned()]).unwrap_err();
        assert_eq!(
            e,
            "no test of demo matches \"nope\" (`grader --list demo` lists them)"
        );
    }

    #[test]
    fn listing_shows_points() {
        insta::assert_snapshot!(listing(&[demo()], true));
    }
}
