//! A grade from the parsed options ([`crate::args::GradeArgs`]), shared by
//! the `grader` binary and `cargo xtask grade`, which differ only in how a
//! kernel gets built.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::args::{GradeArgs, is_spec_path};
use crate::calibrate;
use crate::grade::{self, Lab, Settings, shell_quote};
use crate::qemu;
use crate::report;
use crate::spec::{self, Spec};

pub use crate::grade::Built;

/// Builds the kernel and image for a set of lab features.
pub trait Builder {
    /// `features` are lab feature names (`"cow"`, `"trace"` …), empty for
    /// the base kernel.
    fn build(&mut self, features: &[String]) -> Result<Built, String>;

    /// Builds the host programs a spec's host runs start (each a binary of
    /// the tree) and returns the directory they are in.
    fn build_host(&mut self, programs: &[String]) -> Result<PathBuf, String> {
        Err(format!(
            "this lab runs host programs ({}): this front end cannot build them",
            programs.join(", ")
        ))
    }

    /// Writes xv6's names for the kernel's functions beside `built`'s
    /// kernel ([`crate::gdb::NAMES_FILE`]), for a spec whose runs stop at a
    /// breakpoint (`stop_at`). Without them gdb knows the Rust names only.
    fn gdb_names(&mut self, _built: &Built) -> Result<(), String> {
        Ok(())
    }

    /// How a person runs this grader, for the commands reports suggest
    /// (`cargo xtask grade`, or `grader --kernel K --fs F`).
    fn command(&self) -> String {
        "grader".to_owned()
    }
}

/// Runs the grader with the options `args`,
/// specs found under `root/labs/`. Returns the process exit status:
/// 0 full marks, 1 below full marks, 2 usage or spec error.
pub fn run(root: &Path, args: &GradeArgs, builder: &mut dyn Builder) -> i32 {
    match grade_labs(root, args, builder) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("grader: {message}");
            2
        }
    }
}

/// A lab named on the command line: by name from `labs/`, or by path.
fn load_lab(root: &Path, word: &str, seed: u64) -> Result<Spec, String> {
    if !is_spec_path(word) {
        return spec::load(root, word, seed).map_err(|e| e.to_string());
    }
    let path = Path::new(word);
    if !path.is_file() {
        return Err(format!("{word}: no such spec file"));
    }
    spec::load_file(root, path, word, seed).map_err(|e| e.to_string())
}

fn grade_labs(root: &Path, args: &GradeArgs, builder: &mut dyn Builder) -> Result<i32, String> {
    let mut o = args.clone();
    if o.calibrate {
        return calibrate_now();
    }
    let known = spec::known_labs(root);
    o.resolve_json(|w| known.iter().any(|k| k == w));
    if known.is_empty() && !o.words.iter().any(|w| is_spec_path(w)) {
        return Err(format!("no lab specs in {}", root.join("labs").display()));
    }
    let (mut names, filters): (Vec<String>, Vec<String>) = o
        .words
        .iter()
        .cloned()
        .partition(|w| known.contains(w) || is_spec_path(w));
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
    let features = o.feature_list();
    if let Some(features) = &features
        && let Some(all) = spec::known_features(root)
        && let Some(bad) = features.iter().find(|f| !all.contains(f))
    {
        return Err(format!(
            "--features: no lab feature \"{bad}\" (the features are {})",
            all.join(", ")
        ));
    }
    let seed = o.seed.unwrap_or_else(random_seed);

    // A broken spec stops only itself: the others are still listed or graded.
    let listing_all = o.list && names.is_empty();
    let mut broken = Vec::new();
    let mut specs = Vec::new();
    for word in if listing_all { &known } else { &names } {
        match load_lab(root, word, seed) {
            Ok(spec) => specs.push((word.clone(), spec)),
            Err(e) if o.list || o.all => broken.push(e),
            Err(e) => return Err(e),
        }
    }
    for e in &broken {
        eprintln!("grader: {e}");
    }
    let spec_status = if broken.is_empty() { None } else { Some(2) };
    if o.list {
        let specs: Vec<Spec> = specs.into_iter().map(|(_, s)| s).collect();
        print!("{}", listing(&specs, !listing_all));
        return Ok(spec_status.unwrap_or(0));
    }

    // A group spec grades labs that --all grades one by one anyway.
    if o.all {
        specs.retain(|(_, s)| s.includes.is_empty());
    }
    if o.no_requires {
        specs.iter_mut().for_each(|(_, s)| s.drop_requires());
    }
    let mut specs = select(specs, &filters, &builder.command())?;
    if let Some(features) = &features {
        for (_, spec) in &mut specs {
            spec.features = features.clone();
        }
    }
    if std::env::var_os("GRADER_QEMU").is_none() {
        qemu::check()?;
    } else if !qemu::qemu_binary_exists() {
        return Err(format!(
            "GRADER_QEMU={} is not a program: set it to a QEMU, or unset it",
            qemu::qemu_binary().to_string_lossy()
        ));
    }
    let timeout_scale = match o.timeout_scale {
        Some(f) => f,
        None => machine_scale()?,
    };
    let labs = build(specs, seed, builder);
    if let Err(e) = qemu::install_interrupt_handler() {
        eprintln!("grader: {e}");
    }

    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let grade_dir = target.join("grade");
    let logs = grade::logs_dir(&grade_dir).map_err(|e| {
        format!(
            "cannot make a log directory in {}: {e}",
            grade_dir.display()
        )
    })?;
    let replay_options: String = o
        .kernel_options()
        .iter()
        .map(|a| format!(" {}", shell_quote(a)))
        .collect();
    let json_to_stdout = o.json.as_deref() == Some(Path::new("-"));
    let settings = Settings {
        qemu: qemu::qemu_binary(),
        jobs: o.jobs(),
        timeout_scale,
        boot_timeout: grade::BOOT_TIMEOUT.mul_f64(timeout_scale),
        cpus: o.cpus,
        logs,
        latest: Some(grade_dir),
        replay: builder.command(),
        replay_options,
        root: root.to_owned(),
        progress: std::io::stderr().is_terminal(),
        // GRADER_EARLY=1: as on a terminal (for tests of what it shows).
        early: std::io::stderr().is_terminal()
            || std::env::var_os("GRADER_EARLY").is_some_and(|v| v == "1"),
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
            report::gradescope(&graded.labs, graded.elapsed.as_secs_f64()).to_json(),
        ),
    ];
    for (path, contents) in outputs {
        match path {
            None => {}
            Some(p) if p == Path::new("-") => print!("{contents}"),
            Some(p) => crate::atomic::write_atomically(p, contents.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        }
    }
    if let Some(e) = graded.qemu_error {
        return Err(e);
    }
    if let Some(status) = spec_status {
        eprintln!("grader: some specs could not be read (above): they were not graded");
        return Ok(status);
    }
    let (score, max) = report::totals(&graded.labs);
    Ok(if score == max { 0 } else { 1 })
}

/// The timeout scale this machine needs: measured once and cached. A
/// stand-in QEMU (`GRADER_QEMU`) is never measured: it gets the cached
/// scale, or 1.
pub fn machine_scale() -> Result<f64, String> {
    if let Some(speed) = calibrate::cached() {
        return Ok(speed.scale);
    }
    if std::env::var_os("GRADER_QEMU").is_some() {
        return Ok(1.0);
    }
    eprintln!("grader: measuring how fast QEMU runs on this machine (once; a few seconds)");
    let speed = calibrate::measure(&qemu::qemu_binary())?;
    eprintln!("grader: {}", describe(&speed));
    Ok(speed.scale)
}

/// `--calibrate`: measure again and say what it gives.
fn calibrate_now() -> Result<i32, String> {
    if std::env::var_os("GRADER_QEMU").is_none() {
        qemu::check()?;
    }
    let speed = calibrate::measure(&qemu::qemu_binary())?;
    println!("{}", describe(&speed));
    Ok(0)
}

fn describe(speed: &calibrate::Speed) -> String {
    let kept = match &speed.file {
        Some(f) => format!("kept in {}", f.display()),
        None => "not kept: no cache directory".to_owned(),
    };
    format!(
        "the reference guest took {:.2}s here ({:.2}s on the reference machine): \
         timeouts ×{:.1} ({kept}; --timeout-scale overrides)",
        speed.seconds,
        calibrate::REFERENCE_SECONDS,
        speed.scale
    )
}

/// A seed short enough to type back with `--seed`.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) ^ u64::from(std::process::id()) << 20) % 1_000_000
}

/// Keeps the tests (and parts) whose names contain a filter; each filter
/// must select something. `command` is how the user runs the grader.
fn select(
    mut specs: Vec<(String, Spec)>,
    filters: &[String],
    command: &str,
) -> Result<Vec<(String, Spec)>, String> {
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
    for (_, spec) in &mut specs {
        // The selected ids, and what they require, until nothing is added.
        let mut keep = HashSet::new();
        for test in &spec.tests {
            if hit(&test.name) {
                keep.insert(test.id);
            }
            keep.extend(test.parts.iter().filter(|p| hit(&p.name)).map(|p| p.id));
        }
        loop {
            let before = keep.len();
            for test in &spec.tests {
                if keep.contains(&test.id) {
                    keep.extend(test.parts.iter().map(|p| p.id));
                }
                for t in std::iter::once(test).chain(&test.parts) {
                    if keep.contains(&t.id) {
                        keep.extend(t.requires.iter().copied());
                    }
                }
            }
            if keep.len() == before {
                break;
            }
        }
        spec.tests.retain_mut(|test| {
            test.parts.retain(|part| keep.contains(&part.id));
            if !test.parts.is_empty() {
                test.points = test.parts.iter().map(|p| p.points).sum();
            }
            keep.contains(&test.id) || !test.parts.is_empty()
        });
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let labs: Vec<&str> = specs.iter().map(|(w, _)| w.as_str()).collect();
        let names: Vec<&str> = specs.iter().map(|(_, s)| s.name.as_str()).collect();
        return Err(format!(
            "no test of {} matches \"{}\" (`{command} --list {}` lists them)",
            names.join(", "),
            filters[i],
            labs.join(" ")
        ));
    }
    specs.retain(|(_, s)| !s.tests.is_empty());
    Ok(specs)
}

/// Builds each distinct feature set once.
fn build(specs: Vec<(String, Spec)>, seed: u64, builder: &mut dyn Builder) -> Vec<Lab> {
    let mut done: Vec<(Vec<String>, Result<Built, String>)> = Vec::new();
    specs
        .into_iter()
        .map(|(arg, spec)| {
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
            if let Ok(b) = &built
                && spec.runs.iter().any(|r| r.stop_at.is_some())
                && let Err(e) = builder.gdb_names(b)
            {
                eprintln!("grader: {}: gdb knows the Rust names only: {e}", spec.name);
            }
            let programs = spec.host_programs();
            let built = match built {
                Ok(mut b) if !programs.is_empty() => match builder.build_host(&programs) {
                    Ok(dir) => {
                        b.host = Some(dir);
                        Ok(b)
                    }
                    Err(e) => {
                        eprintln!("grader: {}: {e}", spec.name);
                        Err(e)
                    }
                },
                other => other,
            };
            Lab {
                spec,
                arg,
                seed,
                built,
            }
        })
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `--list`: the labs and their points, or with `tests`, their tests too.
fn listing(specs: &[Spec], tests: bool) -> String {
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for spec in specs {
        out.push_str(&format!(
            "{:width$}  {:>10}  {:>8}\n",
            spec.name,
            plural(spec.points() as usize, "point", "points"),
            plural(spec.tests.len(), "test", "tests"),
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
        let sel = |filters: &[&str]| {
            let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
            select(
                vec![("demo".to_owned(), demo())],
                &filters,
                "cargo xtask grade",
            )
            .map(|v| v.into_iter().map(|(_, s)| s).collect::<Vec<Spec>>())
        };
        let all = sel(&[]).unwrap();
        assert_eq!(all[0].points(), 6);
        let some = sel(&["COPYOUT"]).unwrap();
        assert_eq!(names(&some), vec!["usertests", "usertests: copyout"]);
        assert_eq!(some[0].points(), 3);
        let parent = sel(&["usertests"]).unwrap();
        assert_eq!(parent[0].points(), 5);
        let e = sel(&["boot", "nope"]).unwrap_err();
        assert_eq!(
            e,
            "no test of demo matches \"nope\" (`cargo xtask grade --list demo` lists them)"
        );
    }

    #[test]
    fn listing_shows_points() {
        insta::assert_snapshot!(listing(&[demo()], true));
    }
}
