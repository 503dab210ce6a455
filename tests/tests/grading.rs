//! `cargo xtask grade` on the real labs, and the grader's handling of
//! failures, hangs and panics with the real kernel.

use std::time::{Duration, Instant};
use tests::{
    Scenario, assert_full_marks, build, kernel_with_trap_in, qemus_mentioning, run, xtask,
};

/// `cargo xtask grade <args>`, asserting full marks.
fn grade_full_marks(args: &[&str]) -> String {
    let (out, stdout, stderr) = run(xtask(&[&["grade"], args].concat()));
    assert_full_marks(&out, &stdout, &stderr);
    stdout
}

#[test]
fn util_lab_full_marks() {
    let out = grade_full_marks(&["lab-util"]);
    assert!(out.contains("Score: 90/90"), "{out}");
}

#[test]
#[ignore = "slow: runs usertests -q"]
fn base_kernel_full_marks() {
    let out = grade_full_marks(&["base"]);
    assert!(out.contains("Score: 100/100"), "{out}");
}

#[test]
fn syscall_and_backtrace_labs_full_marks() {
    // The grouped spec and the per-lab ones are the same tests.
    let out = grade_full_marks(&["lab-syscall", "lab-backtrace"]);
    assert!(
        out.contains("Score: 34/34") && out.contains("Score: 10/10"),
        "{out}"
    );
    let out = grade_full_marks(&["lab-trace", "lab-sysinfo"]);
    assert!(
        out.contains("Score: 20/20") && out.contains("Score: 14/14"),
        "{out}"
    );
}

#[test]
#[ignore = "slow: runs usertests -q"]
fn alarm_lab_full_marks() {
    let out = grade_full_marks(&["lab-traps"]);
    assert!(out.contains("Score: 89/89"), "{out}");
}

#[test]
#[ignore = "slow: runs usertests -q"]
fn memory_labs_full_marks() {
    let out = grade_full_marks(&["lab-pgtbl", "lab-lazy", "lab-cow"]);
    for score in ["Score: 60/60", "Score: 124/124", "Score: 110/110"] {
        assert!(out.contains(score), "no {score} in:\n{out}");
    }
}

#[test]
#[ignore = "slow: every lab's tests on one kernel"]
fn every_lab_in_one_kernel_full_marks() {
    let out = grade_full_marks(&["lab-all"]);
    assert!(out.contains("Score: 417/417"), "{out}");
}

#[test]
fn memory_labs_without_their_code_score_zero() {
    // The labs' own test programs on the base kernel: no vmprint lines, no
    // statistics, lazytests cannot sbrk 1 GiB, cowtest cannot fork 2/3 of
    // memory. (Their usertests parts pass on the base kernel; cow's test
    // names would select some of lazy's usertests, hence two grades.)
    let grade = |args: &[&str], scores: &[&str]| {
        let (out, stdout, stderr) = run(xtask(&[&["grade"], args].concat()));
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        for score in scores {
            assert!(stdout.contains(score), "no {score} in:\n{stdout}");
        }
    };
    grade(
        &[
            "lab-pgtbl",
            "lab-lazy",
            "--features",
            "",
            "pte printout",
            "count copyin",
            "lazy:",
        ],
        &["Score: 0/15", "Score: 0/41", "Total: 0/56"],
    );
    grade(
        &[
            "lab-cow",
            "--features",
            "",
            "simple",
            "three",
            "file",
            "all cow",
        ],
        &["Score: 0/81"],
    );
}

#[test]
fn labs_without_their_code_score_zero() {
    // The base kernel, graded on each lab's own tests (not usertests, which
    // the base kernel passes).
    let (out, stdout, stderr) = run(xtask(&[
        "grade",
        "lab-trace",
        "lab-sysinfo",
        "lab-backtrace",
        "lab-alarm",
        "--features",
        "",
        "trace",
        "sysinfotest",
        "backtrace",
        "alarmtest",
    ]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for score in [
        "Score: 0/20",
        "Score: 0/14",
        "Score: 0/10",
        "Score: 0/60",
        "Total: 0/104",
    ] {
        assert!(stdout.contains(score), "no {score} in:\n{stdout}");
    }
}

#[test]
fn a_wrong_expectation_fails_and_shows_what_was_missed() {
    let (out, stdout, _) = Scenario::new("wrong").grade(&build(""), &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("right: OK"), "{stdout}");
    assert!(stdout.contains("wrong: FAIL"), "{stdout}");
    assert!(
        stdout.contains("^goodbye$"),
        "the missing pattern is not named:\n{stdout}"
    );
    assert!(stdout.contains("hello"), "no console context:\n{stdout}");
    assert!(stdout.contains("Score: 3/5"), "{stdout}");
}

#[test]
fn a_hang_is_a_timeout_and_leaves_no_qemu() {
    let s = Scenario::new("hang");
    let fs = s.dir.path().join("hang.img");
    let base = build("");
    std::fs::copy(&base.fs_img, &fs).unwrap();
    let config = tests::Config {
        kernel: base.kernel.clone(),
        fs_img: fs.clone(),
    };
    let start = Instant::now();
    let (out, stdout, _) = s.grade(&config, &[]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("TIMEOUT"), "{stdout}");
    // The spec's timeout is 3 s; boot and reporting get 2 s more.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let left = qemus_mentioning(&fs.to_string_lossy());
    assert!(left.is_empty(), "QEMU still running: {left:?}");
}

#[test]
fn a_kernel_panic_ends_the_run_at_once() {
    let s = Scenario::new("panic");
    let base = build("");
    let config = tests::Config {
        kernel: kernel_with_trap_in(&base.kernel, "sys_sleep", s.dir.path()),
        fs_img: base.fs_img.clone(),
    };
    let start = Instant::now();
    let (out, stdout, _) = s.grade(&config, &[]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("PANIC"), "{stdout}");
    assert!(
        stdout.contains("panic: kerneltrap"),
        "the panic message is not shown:\n{stdout}"
    );
    // The run's timeout is 60 s: a panic must end it right away.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let left = qemus_mentioning(&config.kernel.to_string_lossy());
    assert!(left.is_empty(), "QEMU still running: {left:?}");
}
