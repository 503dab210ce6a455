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

fn judged(spec: &Spec, name: &str, console: &str) -> Outcome {
    let leaf = spec
        .tests
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .find(|t| t.name == name)
        .unwrap();
    verdict(
        leaf,
        console,
        &End::Finished,
        Duration::from_secs(1),
        &NoSymbols,
        None,
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
    spec.tests
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .find(|t| t.name == name)
        .map(|t| format!("{:?}", t.checks))
        .unwrap()
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
        for (name, checks, _) in leaves(&at_seed, lab) {
            let random = checks != leaves_checks(&at_recording, &name);
            let line = format!("{name}: {}", if random { "FAIL" } else { "OK" });
            assert!(
                report.contains(&line),
                "{lab} seed {seed}: no `{line}` in\n{report}"
            );
        }
        assert!(report.contains("replay: grader --root "), "{report}");
    }
}
