//! The randomised checks against a kernel that fakes its labs: one that
//! prints, whatever is typed, what a working kernel printed once. Its
//! consoles are real ones, recorded with the reference solutions at seed
//! [`RECORDED`] (`tests/data/replay/<lab>/<run>.log`, from `cargo xtask
//! grade <lab> --seed 4242 <tests>`; record them again when those runs
//! change). At that seed the fake gets full marks; at any other, every test
//! with random values fails and the others still pass: fixed output cannot
//! pass the randomised tests. `tests/replay-qemu` plays the fake for the
//! grader binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use grader::grade::verdict;
use grader::qemu::End;
use grader::report::Outcome;
use grader::spec::{self, Spec, Test};
use grader::symbols::Symbolize;
use regex::Regex;

const RECORDED: u64 = 4242;

/// The labs with randomised checks, and the recorded runs of each.
const LABS: [&str; 6] = [
    "lab-trace",
    "lab-sysinfo",
    "lab-pgtbl",
    "lab-alarm",
    "lab-lazy",
    "lab-cow",
];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn root() -> &'static Path {
    manifest().parent().unwrap()
}

fn recorded(lab: &str) -> PathBuf {
    manifest().join("tests/data/replay").join(lab)
}

/// None of these labs checks a backtrace.
struct NoSymbols;
impl Symbolize for NoSymbols {
    fn functions(&self, _: u64) -> Result<Vec<String>, String> {
        Err("no kernel here".into())
    }
}

/// The scored leaves of a spec whose run was recorded, with their console.
fn leaves(spec: &Spec, lab: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut add = |t: &Test| {
        let run = &spec.runs[t.run].id;
        if let Ok(console) = std::fs::read_to_string(recorded(lab).join(format!("{run}.log"))) {
            out.push((t.name.clone(), format!("{:?}", t.checks), console));
        }
    };
    for test in &spec.tests {
        if test.parts.is_empty() {
            add(test);
        } else {
            test.parts.iter().for_each(&mut add);
        }
    }
    out
}

/// The test or part of `spec` called `name`.
fn named<'a>(spec: &'a Spec, name: &str) -> &'a Test {
    spec.tests
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .find(|t| t.name == name)
        .unwrap()
}

fn judged(spec: &Spec, name: &str, console: &str) -> Outcome {
    let leaf = named(spec, name);
    verdict(
        leaf,
        console,
        &End::Finished,
        Duration::from_secs(1),
        &NoSymbols,
        None,
        &[],
    )
    .0
}

#[test]
fn recorded_consoles_pass_only_at_their_own_seed() {
    for lab in LABS {
        let at_recording = spec::load(root(), lab, RECORDED).unwrap();
        let leaves = leaves(&at_recording, lab);
        assert!(!leaves.is_empty(), "{lab}: nothing recorded");
        for (name, _, console) in &leaves {
            assert_eq!(
                judged(&at_recording, name, console),
                Outcome::Pass,
                "{lab}: {name} fails on its own recording: record it again"
            );
        }
        let mut failed_somewhere = 0;
        for seed in (0..60).filter(|&s| s != RECORDED) {
            let spec = spec::load(root(), lab, seed).unwrap();
            for (name, checks_then, console) in &leaves {
                let now = leaves_checks(&spec, name);
                let outcome = judged(&spec, name, console);
                if now == *checks_then {
                    // The same draw (a few values have few choices): the
                    // recording is a right answer for this seed too.
                    assert_eq!(outcome, Outcome::Pass, "{lab} seed {seed}: {name}");
                } else {
                    assert_ne!(
                        outcome,
                        Outcome::Pass,
                        "{lab} seed {seed}: {name} passed on a console recorded at seed {RECORDED}"
                    );
                    failed_somewhere += 1;
                }
            }
        }
        assert!(
            failed_somewhere >= 50,
            "{lab}: only {failed_somewhere} randomised verdicts failed the fake"
        );
    }
}

fn leaves_checks(spec: &Spec, name: &str) -> String {
    format!("{:?}", named(spec, name).checks)
}

/// One of the lab's recorded consoles: the fake's "kernel".
fn first_log(lab: &str) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(recorded(lab))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    logs.sort();
    logs.remove(0)
}

/// Grades `lab`'s recorded runs with the grader binary and the replaying
/// fake as its QEMU.
fn grade_fake(lab: &str, seed: u64, out: &Path) -> (i32, String) {
    let spec = spec::load(root(), lab, seed).unwrap();
    // Only the tests whose runs were recorded (usertests is not).
    let names: Vec<String> = leaves(&spec, lab).into_iter().map(|l| l.0).collect();
    let mut c = Command::new(env!("CARGO_BIN_EXE_grader"));
    c.arg("--root")
        .arg(root())
        .arg("--kernel")
        .arg(first_log(lab))
        .arg("--fs")
        .arg(manifest().join("tests/data/shell.txt"))
        .args([lab, "--seed", &seed.to_string(), "--timeout-scale", "1"])
        .args(&names)
        .env("GRADER_QEMU", manifest().join("tests/replay-qemu"))
        .env("CARGO_TARGET_DIR", out)
        .env("GRADER_CACHE_DIR", out.join("cache"))
        .env("NO_COLOR", "1");
    let o = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn the_grader_fails_a_faking_kernel_on_exactly_the_randomised_tests() {
    let out = tempfile::tempdir().unwrap();
    for lab in LABS {
        let (status, report) = grade_fake(lab, RECORDED, out.path());
        assert_eq!(status, 0, "{lab} at its recorded seed:\n{report}");
        // A seed at which every random value differs from the recording's.
        let then = spec::load(root(), lab, RECORDED).unwrap().random;
        let seed = (1..)
            .find(|&s| {
                let now = spec::load(root(), lab, s).unwrap().random;
                now.iter().all(|(k, v)| then[k] != *v)
            })
            .unwrap();
        let (status, report) = grade_fake(lab, seed, out.path());
        assert_eq!(status, 1, "{lab} at seed {seed}:\n{report}");
        let at_seed = spec::load(root(), lab, seed).unwrap();
        let at_recording = spec::load(root(), lab, RECORDED).unwrap();
        // A test that requires one failing for its random values is SKIPPED.
        let mut failing = std::collections::HashSet::new();
        for (name, checks, _) in leaves(&at_seed, lab) {
            let random = checks != leaves_checks(&at_recording, &name);
            let test = named(&at_seed, &name);
            let skipped = test.requires.iter().any(|r| failing.contains(r));
            let outcome = match (random, skipped) {
                (true, _) => "FAIL",
                (false, true) => "SKIPPED",
                (false, false) => "OK",
            };
            if random || skipped {
                failing.insert(test.id);
            }
            let line = format!("{name}: {outcome}");
            assert!(
                report.contains(&line),
                "{lab} seed {seed}: no `{line}` in\n{report}"
            );
        }
        assert!(report.contains("replay: grader --root "), "{report}");
    }
}

/// Every lab, and the recordings of each (`tests/data/replay/<lab>/`,
/// with the tokens of the run that made them).
const ALL_LABS: [&str; 9] = [
    "lab-trace",
    "lab-sysinfo",
    "lab-pgtbl",
    "lab-alarm",
    "lab-lazy",
    "lab-cow",
    "lab-backtrace",
    "base",
    "lab-util",
];

/// An xv6 disk image holding every tokened program (each with a key slot),
/// as a grading run's: the grader keys a copy of it for each run.
fn keyed_disk(dir: &Path) -> PathBuf {
    let mut program = vec![0u8; 4096];
    program[1024..1040].copy_from_slice(&abi::tok::MARKER);
    let files: Vec<(String, Vec<u8>)> = abi::tok::TOKENED
        .iter()
        .map(|n| (n.to_string(), program.clone()))
        .collect();
    let path = dir.join("fs.img");
    std::fs::write(&path, mkfs::make_image(2000, &files).unwrap()).unwrap();
    path
}

/// Grades `lab`'s recorded runs at their own seed with the replaying fake
/// booting `disk`: the report and the exit status.
fn grade_fake_on(lab: &str, disk: &Path, out: &Path) -> (i32, String) {
    let spec = spec::load(root(), lab, RECORDED).unwrap();
    let names: Vec<String> = leaves(&spec, lab).into_iter().map(|l| l.0).collect();
    assert!(!names.is_empty(), "{lab}: nothing recorded");
    let mut c = Command::new(env!("CARGO_BIN_EXE_grader"));
    c.arg("--root")
        .arg(root())
        .arg("--kernel")
        .arg(first_log(lab))
        .arg("--fs")
        .arg(disk)
        .args([lab, "--seed", &RECORDED.to_string(), "--timeout-scale", "1"])
        // The fake costs nothing but the waits for closing tokens.
        .args(["-j", "16"])
        .args(&names)
        .env("GRADER_QEMU", manifest().join("tests/replay-qemu"))
        .env("CARGO_TARGET_DIR", out)
        .env("GRADER_CACHE_DIR", out.join("cache"))
        .env("NO_COLOR", "1");
    let o = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), text)
}

/// The kernel of issue 15: it prints every line a working kernel printed
/// (recorded, tokens and all, with the very seed the grader draws), but no
/// test program runs. On a keyed disk, as every grading run has, it scores
/// nothing in any lab: its tokens are another run's, and no command it
/// answers ends with its program's closing token.
#[test]
fn a_kernel_printing_every_expected_line_scores_nothing() {
    let out = tempfile::tempdir().unwrap();
    let disk = keyed_disk(out.path());
    for lab in ALL_LABS {
        let spec = spec::load(root(), lab, RECORDED).unwrap();
        let (status, report) = grade_fake_on(lab, &disk, out.path());
        assert_eq!(status, 1, "{lab}:\n{report}");
        let scored: Vec<_> = leaves(&spec, lab);
        for (name, _, _) in &scored {
            assert!(
                report.contains(&format!("{name}: FAIL"))
                    || report.contains(&format!("{name}: SKIPPED")),
                "{lab}: no `{name}: FAIL` (or SKIPPED) in\n{report}"
            );
        }
        assert!(report.contains("Score: 0/"), "{lab}:\n{report}");
        assert!(
            report.contains("ended without its closing token"),
            "{lab}:\n{report}"
        );
    }
}

const KEY: [u8; 16] = *b"the test's key!!";

/// The trust of a run of `spec`'s `run` keyed with `KEY`.
fn trust_of(spec: &Spec, run: usize) -> grader::check::Trust {
    grader::check::Trust::new(&KEY, &spec.runs[run].commands, Vec::new())
}

/// `console` as if the tokened programs of `trust` had printed it: each
/// token made again for the same program, nonce and number.
fn retokened(console: &str, trust: &grader::check::Trust) -> String {
    console
        .lines()
        .map(|line| match abi::tok::split(line) {
            Some((text, t)) => {
                let (_, key) = trust.programs.iter().find(|(n, _)| n == t.name).unwrap();
                let mac = abi::tok::mac(key, t.name, t.nonce, t.seq, text.as_bytes());
                format!("{text}{}\n", abi::tok::Token { mac, ..t })
            }
            None => format!("{line}\n"),
        })
        .collect()
}

fn judged_with_key(spec: &Spec, name: &str, console: &str) -> Outcome {
    let leaf = spec
        .tests
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .find(|t| t.name == name)
        .unwrap();
    let trust = trust_of(spec, leaf.run);
    verdict(
        leaf,
        console,
        &End::Finished,
        Duration::from_secs(1),
        &NoSymbols,
        Some(&trust),
        &[],
    )
    .0
}

/// With the run's own key the recorded lines pass; a line whose text was
/// changed under its valid token, or a token printed twice, does not.
#[test]
fn an_altered_or_repeated_tokened_line_fails() {
    let spec = spec::load(root(), "lab-cow", RECORDED).unwrap();
    let run = spec.runs.iter().position(|r| r.id == "cowtest").unwrap();
    let console = retokened(
        &std::fs::read_to_string(recorded("lab-cow").join("cowtest.log")).unwrap(),
        &trust_of(&spec, run),
    );
    for name in ["simple", "three", "file", "all cow tests"] {
        assert_eq!(
            judged_with_key(&spec, name, &console),
            Outcome::Pass,
            "{name}"
        );
    }
    // The child's sum, one more, under the token of the right sum.
    let sum = Regex::new(r"child sum (\d+) #t:").unwrap();
    let right: u64 = sum.captures(&console).unwrap()[1].parse().unwrap();
    let altered = console.replacen(
        &format!("child sum {right} #t:"),
        &format!("child sum {} #t:", right + 1),
        1,
    );
    assert_ne!(judged_with_key(&spec, "simple", &altered), Outcome::Pass);
    // `file: ok` twice: both copies are out, so the file test fails.
    let file = console.lines().find(|l| l.starts_with("file: ok")).unwrap();
    let twice = console.replacen(file, &format!("{file}\n{file}"), 1);
    assert_ne!(judged_with_key(&spec, "file", &twice), Outcome::Pass);
    // `three: ok` needs three different tokens: one of them three times is not.
    let three = console
        .lines()
        .find(|l| l.starts_with("three: ok"))
        .unwrap();
    let mut copied: Vec<&str> = console
        .lines()
        .filter(|l| !l.starts_with("three: ok"))
        .collect();
    copied.extend([three, three, three]);
    assert_ne!(
        judged_with_key(&spec, "three", &copied.join("\n")),
        Outcome::Pass
    );
}

/// A `$ ` printed while usertests runs (the fake's, 0.7 s in, in the issue)
/// does not end the command: the rest of its output is still read, and the
/// command ends, without its closing token, only after the grace.
#[test]
fn an_early_prompt_does_not_end_usertests() {
    let dir = tempfile::tempdir().unwrap();
    let disk = keyed_disk(dir.path());
    let kernel = dir.path().join("kernel");
    std::fs::write(
        &kernel,
        "init: starting sh\n$ usertests -q\nusertests starting\n@@ part $ \n@@ sleep 1\n\
         test copyin: OK\nALL TESTS PASSED\n",
    )
    .unwrap();
    let args = grader::qemu::graded_args(&kernel, &disk, 1);
    let commands = vec!["usertests -q".to_owned()];
    let qemu: std::ffi::OsString = manifest().join("tests/fake-qemu").into();
    let session = grader::qemu::Session {
        qemu: &qemu,
        args: &args,
        commands: &commands,
        until: None,
        timeout: Duration::from_secs(60),
    };
    let t = grader::qemu::run_session(&session, &mut |_| {}).unwrap();
    let text = String::from_utf8_lossy(&t.output);
    assert_eq!(t.end, End::Finished, "{text}");
    assert!(text.contains("ALL TESTS PASSED"), "{text}");
    let trust = t.trust.expect("a keyed run");
    assert_eq!(trust.unclosed, ["usertests -q"]);
    assert_eq!(trust.programs.len(), 1);
    assert_eq!(trust.programs[0].0, "usertests");
    assert!(t.elapsed >= Duration::from_secs(3), "{:?}", t.elapsed);
    // The keyed copy of the disk is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".keyed-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
