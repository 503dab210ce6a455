//! `cargo xtask ci [--quick]`: what CI runs, in order, stopping at the first
//! failing step.
//!
//! Two tiers. `--quick` (a few minutes; what a developer runs before every
//! commit): rustfmt, clippy for the host crates, for the base kernel and the
//! kernel with every lab, and for the user programs, the host unit tests,
//! and the end-to-end tests that are not `#[ignore]`d. Without `--quick`
//! (CI; about half an hour): all of that, plus clippy for each lab's kernel
//! alone and the slow end-to-end tests, the `#[ignore]`d ones (usertests,
//! grind, crash trials). The end-to-end tests run one process each, a few
//! at once, with a line as each starts and ends, so a long stretch always
//! says what it is waiting for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::labs::LabSet;
use crate::run::{Ctx, Env, KERNEL_PACKAGE, USER_PACKAGE};
use crate::setup;

/// The package of the end-to-end tests.
const E2E_PACKAGE: &str = "tests";
/// The host crates whose unit tests run as one cargo call.
const UNIT_PACKAGES: [&str; 5] = ["abi", "mkfs", "grader", "xtask", "host"];
/// How often a test that is still running is mentioned.
const STILL_RUNNING: Duration = Duration::from_secs(60);
/// Seconds each end-to-end test took in a full CI run, by `binary::test`
/// (in the repository): the order to start them in, longest first, so that
/// the lanes end together. Each run writes its own figures to
/// [`LAST_TIMES`], which the next run prefers; copy it here when tests
/// change much.
const TIMES: &str = "tests/e2e-times.json";
/// The figures of the last run (in the target directory).
const LAST_TIMES: &str = "ci/e2e-times.json";

/// One step of CI.
pub enum Step {
    /// A command that must succeed.
    Run(Command),
    /// The end-to-end tests of a tier: the quick ones, or the slow ones.
    EndToEnd { slow: bool },
}

/// The steps of a tier, in order.
pub fn steps(ctx: &Ctx, quick: bool) -> Vec<Step> {
    let mut steps = vec![
        Step::Run(ctx.cargo(Env::Host, ["fmt", "--all", "--", "--check"])),
        Step::Run(ctx.cargo(
            Env::Host,
            ["clippy", "--all-targets", "--", "-D", "warnings"],
        )),
    ];
    let deny = ["--", "-D", "warnings"];
    let configs = LabSet::lint_configs();
    let (first, rest): (Vec<LabSet>, Vec<LabSet>) = configs
        .into_iter()
        .partition(|l| *l == LabSet::BASE || *l == LabSet::all());
    let lint = |labs: LabSet| {
        let mut args: Vec<String> = ["clippy"]
            .iter()
            .chain(&KERNEL_PACKAGE)
            .map(|a| a.to_string())
            .collect();
        if let Some(features) = labs.features() {
            args.extend(["--features".to_string(), features]);
        }
        args.extend(deny.map(String::from));
        Step::Run(ctx.cargo(Env::Target, args))
    };
    steps.extend(first.into_iter().map(lint));
    steps.push(Step::Run(ctx.cargo(
        Env::Target,
        ["clippy"].iter().chain(&USER_PACKAGE).chain(&deny),
    )));
    let mut unit = vec!["test"];
    for p in UNIT_PACKAGES {
        unit.extend(["-p", p]);
    }
    steps.push(Step::Run(ctx.cargo(Env::Host, unit)));
    steps.push(Step::EndToEnd { slow: false });
    if !quick {
        steps.extend(rest.into_iter().map(lint));
        steps.push(Step::EndToEnd { slow: true });
    }
    steps
}

pub fn run(ctx: &Ctx, quick: bool) -> Result<(), String> {
    // The end-to-end tests boot QEMU and build abitest: set those up first.
    setup::setup(ctx)?;
    let start = Instant::now();
    for step in steps(ctx, quick) {
        match step {
            Step::Run(mut command) => ctx.run(&mut command)?,
            Step::EndToEnd { slow } => end_to_end(ctx, slow)?,
        }
    }
    eprintln!(
        "ci: all {} checks passed in {}",
        if quick { "quick" } else { "quick and slow" },
        minutes(start.elapsed())
    );
    Ok(())
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

/// A test binary of the end-to-end package.
struct Binary {
    /// The target's name: `grading` for tests/tests/grading.rs.
    name: String,
    path: PathBuf,
}

/// Builds the end-to-end test binaries and returns them.
fn binaries(ctx: &Ctx) -> Result<Vec<Binary>, String> {
    let mut cmd = ctx.cargo(
        Env::Host,
        [
            "test",
            "-p",
            E2E_PACKAGE,
            "--no-run",
            "--message-format=json-render-diagnostics",
        ],
    );
    eprintln!("$ {}", ctx.display(&cmd));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("building the end-to-end tests failed (cargo's errors are above)".into());
    }
    Ok(parse_artifacts(&String::from_utf8_lossy(&out.stdout)))
}

/// The test executables in cargo's JSON messages.
fn parse_artifacts(messages: &str) -> Vec<Binary> {
    let mut found: Vec<Binary> = messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| {
            Some(Binary {
                name: m["target"]["name"].as_str()?.to_owned(),
                path: PathBuf::from(m["executable"].as_str()?),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The names of a binary's tests (`--list`), all or only the ignored ones.
fn list(binary: &Binary, ignored: bool) -> Result<Vec<String>, String> {
    let mut cmd = Command::new(&binary.path);
    cmd.args(["--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.path.display()))?;
    // A binary that cannot list its tests would otherwise add none and the
    // tier would still pass.
    if !out.status.success() {
        return Err(format!(
            "{} --list failed ({}): {}",
            binary.path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}

/// One end-to-end test to run.
struct Job {
    binary: usize,
    test: String,
}

/// Runs the quick or the slow end-to-end tests, each in a process of its
/// own, as many at once as there are cores, saying which run and how far
/// along the tier is. Runs them all, then fails if any failed, with the
/// output of each that did.
fn end_to_end(ctx: &Ctx, slow: bool) -> Result<(), String> {
    let tier = if slow { "slow" } else { "quick" };
    let bins = binaries(ctx)?;
    let mut jobs = Vec::new();
    for (b, bin) in bins.iter().enumerate() {
        let ignored = list(bin, true)?;
        let tests = if slow {
            ignored
        } else {
            list(bin, false)?
                .into_iter()
                .filter(|t| !ignored.contains(t))
                .collect()
        };
        jobs.extend(tests.into_iter().map(|test| Job { binary: b, test }));
    }
    let label = |j: &Job| format!("{}::{}", bins[j.binary].name, j.test);
    let last_times = ctx.target_dir.join(LAST_TIMES);
    let mut times = read_times(&ctx.root.join(TIMES));
    times.extend(read_times(&last_times));
    longest_first(&mut jobs, |j| times.get(&label(j)).copied());
    let total = jobs.len();
    let workers = grader::args::default_jobs().min(total.max(1));
    eprintln!(
        "ci: {total} {tier} end-to-end tests, {workers} at a time, longest first \
         (by the times in {TIMES} and {})",
        last_times.display()
    );
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, Result<String, String>, Duration)>();
    let mut queue = jobs.iter().enumerate();
    let mut running: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut done = 0;
    let mut failed: Vec<(usize, String)> = Vec::new();
    let label = |j: usize| label(&jobs[j]);
    let mut took_each: Vec<(String, f64)> = Vec::new();
    std::thread::scope(|scope| {
        loop {
            while running.len() < workers {
                let Some((j, job)) = queue.next() else { break };
                running.insert(j, Instant::now());
                eprintln!("ci: start {} ({} of {total})", label(j), j + 1);
                let tx = tx.clone();
                let mut cmd = test_command(ctx, &bins[job.binary], &job.test);
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = match cmd.output() {
                        Ok(out) => {
                            let text = format!(
                                "{}{}",
                                String::from_utf8_lossy(&out.stdout),
                                String::from_utf8_lossy(&out.stderr)
                            );
                            if out.status.success() {
                                Ok(text)
                            } else {
                                Err(text)
                            }
                        }
                        Err(e) => Err(format!("cannot start the test: {e}")),
                    };
                    let _ = tx.send((j, result, started.elapsed()));
                });
            }
            if running.is_empty() {
                break;
            }
            match rx.recv_timeout(STILL_RUNNING) {
                Ok((j, result, took)) => {
                    running.remove(&j);
                    done += 1;
                    let verdict = if result.is_ok() { "ok" } else { "FAILED" };
                    eprintln!(
                        "ci: {verdict} {} ({:.0}s; {done} of {total} done, {tier} tier {} so far)",
                        label(j),
                        took.as_secs_f64(),
                        minutes(start.elapsed())
                    );
                    took_each.push((label(j), took.as_secs_f64().round()));
                    if let Err(output) = result {
                        failed.push((j, output));
                    }
                }
                Err(_) => {
                    for (&j, since) in &running {
                        eprintln!(
                            "ci: ... still running {} ({})",
                            label(j),
                            minutes(since.elapsed())
                        );
                    }
                }
            }
        }
    });
    let mut last = read_times(&last_times);
    last.extend(took_each);
    if let Err(e) = write_times(&last_times, &last) {
        eprintln!("ci: cannot keep the tests' times: {e}");
    }
    if failed.is_empty() {
        eprintln!(
            "ci: {total} {tier} end-to-end tests passed in {}",
            minutes(start.elapsed())
        );
        return Ok(());
    }
    for (j, output) in &failed {
        eprintln!("\n---- {} ----\n{}", label(*j), output.trim_end());
    }
    let (j, _) = &failed[0];
    Err(format!(
        "{} of {total} {tier} end-to-end tests failed (their output is above); \
         to run one again: cargo test -p {E2E_PACKAGE} --test {} -- --exact {} --include-ignored",
        failed.len(),
        bins[jobs[*j].binary].name,
        jobs[*j].test
    ))
}

/// Seconds by test, from a JSON object; none if there is no such file or it
/// is not one (the order is then the binaries').
fn read_times(path: &std::path::Path) -> BTreeMap<String, f64> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_times(path: &std::path::Path, times: &BTreeMap<String, f64>) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(times).map_err(|e| e.to_string())? + "\n";
    crate::fsutil::AtomicFile::new(path)?.write(text.as_bytes())
}

/// Sorts `jobs` longest first (a test with no time first of all: it may be
/// long), keeping the order of equals: with as many lanes as cores, each
/// taking the next when it is free, the lanes then end close together.
fn longest_first<T>(jobs: &mut [T], seconds: impl Fn(&T) -> Option<f64>) {
    jobs.sort_by(|a, b| {
        let key = |j: &T| seconds(j).unwrap_or(f64::INFINITY);
        key(b).total_cmp(&key(a))
    });
}

/// The command that runs one test of `binary`, as `cargo test` would: from
/// the package's directory, with the environment cargo calls get.
fn test_command(ctx: &Ctx, binary: &Binary, test: &str) -> Command {
    // Ctx::cargo's environment, for a program that is not cargo.
    let template = ctx.cargo(Env::Host, Vec::<String>::new());
    let mut cmd = Command::new(&binary.path);
    for (name, value) in template.get_envs() {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.current_dir(ctx.root.join(E2E_PACKAGE))
        .args(["--exact", test, "--include-ignored", "--test-threads", "1"])
        .stdin(Stdio::null());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::TARGET;
    use std::path::Path;

    fn lines(quick: bool) -> Vec<String> {
        let ctx = Ctx::for_tests(Path::new("/repo"));
        steps(&ctx, quick)
            .iter()
            .map(|s| match s {
                Step::Run(c) => ctx.display(c),
                Step::EndToEnd { slow } => format!("end-to-end slow={slow}"),
            })
            .collect()
    }

    #[test]
    fn the_quick_tier_lints_two_kernels_and_runs_the_quick_tests() {
        let lines = lines(true);
        assert_eq!(lines[0], "cargo fmt --all -- --check");
        assert_eq!(lines[1], "cargo clippy --all-targets -- -D warnings");
        assert_eq!(
            lines[2],
            format!(
                "cargo clippy -p labs --bin kernel --profile kernel --target {TARGET} -- -D warnings"
            )
        );
        assert!(lines[3].contains(
            "--features trace,sysinfo,pgtbl,backtrace,alarm,lazy,cow,lock -- -D warnings"
        ));
        assert!(lines[4].starts_with("cargo clippy -p user --profile user"));
        assert_eq!(
            lines[5],
            "cargo test -p abi -p mkfs -p grader -p xtask -p host"
        );
        assert_eq!(lines[6], "end-to-end slow=false");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn the_full_tier_adds_every_lab_alone_and_the_slow_tests() {
        let lines = lines(false);
        assert_eq!(lines[..7], self::lines(true)[..]);
        assert!(lines[7].contains("--features trace -- -D warnings"));
        assert!(lines[13].contains("--features cow -- -D warnings"));
        assert!(lines[14].contains("--features lock -- -D warnings"));
        assert_eq!(lines.last().unwrap(), "end-to-end slow=true");
        assert_eq!(lines.len(), 16);
    }

    /// A stand-in test binary: a shell script printing `listing` and
    /// exiting with `status`.
    fn fake_binary(dir: &Path, listing: &str, status: i32) -> Binary {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("fake-test-{status}"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\nprintf '{listing}'\necho 'cannot list' >&2\nexit {status}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Binary {
            name: "fake".into(),
            path,
        }
    }

    /// Issue 22: a binary that cannot list its tests contributed none, and
    /// the tier still passed. Its failure is an error now, with what it said.
    #[test]
    fn a_test_binary_that_cannot_list_its_tests_fails_the_tier() {
        let dir = tempfile::tempdir().unwrap();
        let good = fake_binary(dir.path(), "a: test\\nb: test\\nnot a test\\n", 0);
        assert_eq!(list(&good, false).unwrap(), ["a", "b"]);
        let bad = fake_binary(dir.path(), "a: test\\n", 101);
        let err = list(&bad, true).unwrap_err();
        assert!(
            err.contains("--list failed") && err.contains("cannot list"),
            "{err}"
        );
    }

    #[test]
    fn tests_start_longest_first_and_unknown_ones_before_all() {
        let mut jobs = vec![
            ("a", Some(10.0)),
            ("b", None),
            ("c", Some(300.0)),
            ("d", Some(10.0)),
        ];
        longest_first(&mut jobs, |j| j.1);
        let order: Vec<&str> = jobs.iter().map(|j| j.0).collect();
        assert_eq!(order, ["b", "c", "a", "d"]);
    }

    #[test]
    fn times_are_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci/times.json");
        assert!(read_times(&path).is_empty());
        let times = BTreeMap::from([("fs::a".to_string(), 60.0), ("x::b".to_string(), 2.0)]);
        write_times(&path, &times).unwrap();
        assert_eq!(read_times(&path), times);
        std::fs::write(&path, "not json").unwrap();
        assert!(read_times(&path).is_empty());
    }

    #[test]
    fn finds_test_executables_in_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"grading","kind":["test"]},"profile":{"test":true},"executable":"/t/grading-1"}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"tests","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"fs","kind":["test"]},"profile":{"test":true},"executable":"/t/fs-2"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        let found = parse_artifacts(&messages);
        let names: Vec<(&str, &Path)> = found
            .iter()
            .map(|b| (b.name.as_str(), b.path.as_path()))
            .collect();
        assert_eq!(
            names,
            [
                ("fs", Path::new("/t/fs-2")),
                ("grading", Path::new("/t/grading-1"))
            ]
        );
    }
}
