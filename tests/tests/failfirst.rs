//! Issue 22's "each defect above has a test that fails before the fix":
//! every defect the issue lists, the commit that fixed it, and the test
//! that fails on the defective code. Tests here are those no other file
//! had; each was seen failing with its fix reverted (old program sources,
//! old base.toml, old checks), as were specs.rs's. Not re-run that way
//! (slow, or a feature added rather than a check fixed): starters.rs's
//! slow test, util.rs, grader/tests/cli.rs, documented.rs, bench.rs, batch.rs,
//! hostile.rs, instructor.rs, memlabs.rs.
//!
//! | Defect (issue 22) | Fix | Test that fails on it |
//! |---|---|---|
//! | starters score 0 only by panicking; a neutral stub earns points | 2deb840, 85c2196 | starters.rs `check_starters_quick` (seen failing on a sysinfo test that a neutral stub passes: "its neutral stub ... scores 1/15"), `check_starters_every_lab` (slow: every neutral stub 0/, trace's stub > 0 with `--no-requires`); check_starters.rs `a_spec_that_passes_the_starter_is_caught` |
//! | usertests parts left out of the zero check; an unchanged kernel keeps them | 2deb840, 85c2196 | `every_usertests_run_scores_only_after_the_labs_own_tests` (here: the specs); xtask check_starters.rs `starters_are_graded_on_every_part_usertests_included` (check-starters); grader/tests/cli.rs `a_test_that_requires_another_scores_only_when_that_one_passed`; starters.rs `check_starters_every_lab` (slow) |
//! | util: print-only programs earn 50 of 90 | 5abfe3c, 2510fef, util spec; pingpong's pipe: the gdb test "pingpong, reads a pipe" it requires | util.rs `print_only_util_programs_score_nothing` (slow; its forking pingpong without a pipe gets pingpong's lines right: without the pipe test it would score 30, not 10) |
//! | memfault `cow_oom` prints ok when fork fails | a07c1cb | `test_programs_fail_when_their_check_cannot_run` (here, slow: fork fails in a once-large process) |
//! | memfault `lazy_oom` accepts both outcomes | a07c1cb | `test_programs_fail_when_their_check_cannot_run` (here, slow: sbrk fails at 8 MB) |
//! | base `kill` test passes without `sleep`, kill.rs ignores kill's result | a07c1cb, ea3b83b | specs.rs `kill_passes_only_when_the_sleep_was_there_and_died` (consoles); `test_programs_fail_when_their_check_cannot_run` (here, slow: the real base spec on an image without `sleep`) |
//! | alarmtest test2 and sysinfotest start `status` at 0: a failed wait passes | a07c1cb | `test_programs_fail_when_their_check_cannot_run` (here, slow: their wait fails) |
//! | wc and grep accept any positive counts | a07c1cb | specs.rs `wc_and_grep_expect_the_counts_of_the_readme_on_the_image` |
//! | grind passes "OK after 0 iterations" | d246141 | `grind_must_report_enough_iterations` (here; fs.rs's grind test uses the same check) |
//! | ci.rs `list()` ignores the test binary's exit status | b582886 | xtask ci.rs `a_test_binary_that_cannot_list_its_tests_fails_the_tier` |
//! | batch.rs / instructor.rs pass when grep itself fails | d246141 | `a_leak_check_whose_grep_fails_does_not_pass` (here; both tests use its check) |
//! | instructor.rs needs `unzip`, which .ci/run does not install | a6dcec6 | `the_tests_start_only_programs_ci_installs` (here) |
//! | listing.rs asserts the marker value it just set | b582886 | none: an assertion that cannot fail was removed; the test's remaining checks (sorted, demangled, marker present) are the ones that can fail |
//! | documented but untested features | 6049595, 200c74c, dfd90b6 | documented.rs (`qemu --lab`, gdb, unchanged build, fsck, shell `cd`/`>>`, backtrace, two harts, setup, `grade --all`), bench.rs `the_threshold_sets_how_much_slower_is_a_regression`, batch.rs cold worker (`.diff`, `--build-only`, symlink and 1 MiB refusals, panics), hostile.rs (floods), instructor.rs (`setup.sh`), memlabs.rs (memtests on pgtbl); README "Not tested end to end" names what is left |
//! | alarmtest's `elapsed < 19` against lost ticks | a07c1cb (now 15) | `test_programs_fail_when_their_check_cannot_run` (here, slow: alarmtest with an uptime losing 3 ticks in 20 passes test1, and with an alarm every tick fails it) |
//! | randlab alarm's lower bound under lost ticks | a07c1cb | `test_programs_fail_when_their_check_cannot_run` (here, slow: randlab away most of the time stays within lab-alarm's bounds; the wall-time loop fell below them) |
//! | batch's cold first build per worker against `--build-timeout` | 200c74c | batch.rs `a_cold_worker_builds_in_a_small_timeout_and_grades_diffs_refusing_links_and_big_files` (slow) |

use std::collections::BTreeSet;
use std::path::Path;

use tests::root;

/// The leak check batch.rs and instructor.rs run: it passes on a clean
/// tree only, not when it finds the text, and not when grep itself fails
/// (a missing tree read as "nothing found" before d246141).
#[test]
fn a_leak_check_whose_grep_fails_does_not_pass() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("lab.rs"), "fn main() {}\n").unwrap();
    std::fs::write(tree.join("notes.md"), concat!("EXTRA_", "REFS\n")).unwrap();
    assert_eq!(
        tests::no_file_contains(&[&tree], &["*.rs"], &[concat!("EXTRA_", "REFS")]),
        Ok(())
    );
    let found = tests::no_file_contains(&[&tree], &[], &[concat!("EXTRA_", "REFS")]).unwrap_err();
    assert!(found.contains("notes.md"), "{found}");
    let missing = dir.path().join("no-such-tree");
    let failed =
        tests::no_file_contains(&[&tree, &missing], &["*.rs"], &[concat!("EXTRA_", "REFS")])
            .expect_err("a grep that cannot read a tree passed");
    assert!(
        failed.contains("grep failed") && failed.contains("no-such-tree"),
        "{failed}"
    );
}

/// fs.rs's grind check: "OK" after too few iterations (0 passed before
/// d246141) fails, as does no verdict; enough passes, token or not.
#[test]
fn grind_must_report_enough_iterations() {
    let console = |n: u64| format!("$ grind 60 7\ngrind: OK after {n} iterations\n$ ");
    assert!(tests::grind_iterations(&console(0)).is_err());
    assert!(tests::grind_iterations(&console(tests::GRIND_AT_LEAST - 1)).is_err());
    assert!(tests::grind_iterations("$ grind 60 7\ngrind: FAILED\n$ ").is_err());
    assert_eq!(tests::grind_iterations(&console(4321)), Ok(4321));
    let tokened = format!(
        "grind: OK after 4321 iterations{}grind.0000000000000001.3.0123456789abcdef",
        abi::tok::TOKEN_START
    );
    assert!(abi::tok::split(&tokened).is_some(), "{tokened}");
    assert_eq!(tests::grind_iterations(&tokened), Ok(4321));
}

/// Programs any machine the README supports has (Debian's base, git, the
/// Rust toolchain): the rest must be ones .ci/run installs.
const EVERYWHERE: [&str; 12] = [
    "apt-get", "bash", "cargo", "cp", "diff", "git", "grep", "kill", "rustc", "rustup", "sh",
    "sudo",
];

/// The programs the tests, xtask and the grader start by name
/// (a literal name given to `Command::new`) are on a fresh CI machine: .ci/run installs
/// what Debian lacks. instructor.rs once ran `unzip`, which it does not.
#[test]
fn the_tests_start_only_programs_ci_installs() {
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let installed: BTreeSet<&str> = ci
        .split("command -v ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(installed.contains("qemu-system-riscv64"), "{installed:?}");
    let mut started = Vec::new();
    for dir in ["tests", "xtask/src", "grader/src", "grader/tests"] {
        sources(&root().join(dir), &mut started);
    }
    let missing: Vec<String> = started
        .iter()
        .filter(|(_, program)| {
            let name = program.rsplit('/').next().unwrap_or(program);
            !installed.contains(name) && !EVERYWHERE.contains(&name)
        })
        .map(|(file, program)| format!("{file}: {program}"))
        .collect();
    assert!(
        missing.is_empty(),
        "programs CI does not install (add them to .ci/run, or do without):\n{}",
        missing.join("\n")
    );
    // The scan finds what it looks for.
    assert!(started.iter().any(|(_, p)| p == "grep"), "{started:?}");
}

/// (file, program) for each literal program name given to `Command::new` in the Rust files
/// under `dir`.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    const CALL: &str = concat!("Command::new", "(\"");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for rest in text.split(CALL).skip(1) {
                if let Some((program, _)) = rest.split_once('"') {
                    out.push((path.display().to_string(), program.to_owned()));
                }
            }
        }
    }
}

/// An unchanged kernel passes usertests, so a lab's usertests points must
/// wait for its own tests: every test of every lab spec that is scored on
/// a usertests run requires tests that are not (issue 22: 176 of the 417
/// lab points went to an untouched starter).
#[test]
fn every_usertests_run_scores_only_after_the_labs_own_tests() {
    let registry = tests::registry();
    let mut checked = 0;
    for lab in &registry.labs {
        let spec = grader::spec::load(&root(), &lab.spec(), 1)
            .unwrap_or_else(|e| panic!("{}: {e}", lab.spec()));
        let usertests = |run: usize| {
            spec.runs[run]
                .commands
                .iter()
                .any(|c| c.split_whitespace().next() == Some("usertests"))
        };
        for test in &spec.tests {
            if !usertests(test.run) {
                continue;
            }
            checked += 1;
            let own: Vec<&str> = spec
                .tests
                .iter()
                .flat_map(|t| std::iter::once(t).chain(&t.parts))
                .filter(|t| test.requires.contains(&t.id) && !usertests(t.run))
                .map(|t| t.name.as_str())
                .collect();
            assert!(
                !own.is_empty(),
                "{}: test `{}` runs usertests but requires none of the lab's own tests \
                 (add `requires = [...]`)",
                lab.spec(),
                test.name
            );
        }
    }
    // pgtbl, alarm, lazy and cow have usertests parts.
    assert!(checked >= 4, "only {checked} usertests tests found");
}

/// A workspace of copies of `abi` and `user` under the target directory
/// (kept between runs, files rewritten only when they differ, so cargo
/// rebuilds only what changed), with `extra` added as user programs.
fn user_scratch(extra: &[(String, String)]) -> std::path::PathBuf {
    let dir = tests::target_dir().join("failfirst/user");
    for krate in ["abi", "user"] {
        copy_dir(&root().join(krate), &dir.join(krate));
    }
    for file in ["Cargo.lock", "rust-toolchain.toml", ".cargo/config.toml"] {
        write_if_changed(&dir.join(file), &std::fs::read(root().join(file)).unwrap());
    }
    let manifest: String = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| {
            if l.starts_with("members") {
                r#"members = ["abi", "user"]"#
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    write_if_changed(&dir.join("Cargo.toml"), manifest.as_bytes());
    for (name, text) in extra {
        write_if_changed(
            &dir.join("user/src/bin").join(format!("{name}.rs")),
            text.as_bytes(),
        );
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            write_if_changed(&dest, &std::fs::read(&path).unwrap());
        }
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Test program `program` (user/src/bin) with `replacement` added: items
/// there shadow the user library's of the same name (the program imports
/// it with `use user::*`), so its own calls get the misbehaviour.
fn variant(program: &str, replacement: &str) -> String {
    let text =
        std::fs::read_to_string(root().join("user/src/bin").join(format!("{program}.rs"))).unwrap();
    assert!(
        text.contains("use user::*;"),
        "{program}.rs no longer imports the user library with a glob"
    );
    format!("{text}\n// The misbehaviour this variant is for.\n{replacement}")
}

/// A wait that, asked for the status, reaps the child but returns -1 and
/// stores none, as a kernel's does whose copy of the status out fails.
/// (Reaped, the child leaves no orphan printing into the next program.)
const FAILING_WAIT: &str = "
fn wait(status: Option<&mut i32>) -> i32 {
    let pid = user::wait(None);
    match status {
        Some(_) => -1,
        None => pid,
    }
}
";

/// A fork that fails in a process that once had more than 64 MB, however
/// much memory is free now: the eager path of `cow_oom` (fork failing for
/// want of memory) with a fork that does not come back.
const FORK_FAILS_ONCE_LARGE: &str = "
static ONCE_LARGE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn sbrk(n: i32) -> *mut u8 {
    let old = user::sbrk(n);
    if !sbrk_failed(old) && (old as usize).wrapping_add(n as isize as usize) > 64 << 20 {
        ONCE_LARGE.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    old
}

fn fork() -> i32 {
    if ONCE_LARGE.load(core::sync::atomic::Ordering::Relaxed) {
        return -1;
    }
    user::fork()
}
";

/// An sbrk that fails past 8 MB: out of memory long before memory is.
const SBRK_FAILS_EARLY: &str = "
fn sbrk(n: i32) -> *mut u8 {
    if n > 0 && (user::sbrk(0) as usize).saturating_add(n as usize) > 8 << 20 {
        return usize::MAX as *mut u8;
    }
    user::sbrk(n)
}
";

/// An alarm every tick where the program asks for one every 2: what
/// alarmtest's bound on the ticks ten alarms take is there to catch.
const ALARM_EVERY_TICK: &str = "
fn sigalarm(ticks: i32, handler: usize) -> i32 {
    user::sigalarm(if ticks == 2 { 1 } else { ticks }, handler)
}
";

/// An uptime that counts 17 of every 20 ticks, as hart 0's does while QEMU
/// deschedules it on a busy host: a correct kernel's ten alarms every 2
/// ticks then take about 17 (the bound was 19 before a07c1cb).
const UPTIME_LOSES_TICKS: &str = "
fn uptime() -> i32 {
    user::uptime() * 17 / 20
}
";

/// A program away (asleep) about three and a half ticks after each two and
/// a half it computes, as a vCPU descheduled by a busy host is: randlab's
/// alarm once counted wall time, so its alarm calls fell below the spec's
/// lower bound. (Computing a whole number of ticks, on one hart, it would
/// go to sleep just as the tick it woke for is followed by the next.)
const AWAY_MOST_OF_THE_TIME: &str = "
static NEXT_AWAY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn time() -> u64 {
    use core::sync::atomic::Ordering::Relaxed;
    let now = user::time();
    let next = NEXT_AWAY.load(Relaxed);
    if next == 0 || now >= next {
        if next != 0 {
            sleep(4);
        }
        NEXT_AWAY.store(user::time() + TIMER_INTERVAL * 5 / 2, Relaxed);
    }
    user::time()
}
";

/// The variants: (name on the image, at most 14 bytes; program; what it
/// gets instead of the library's calls).
const VARIANTS: [(&str, &str, &str); 7] = [
    ("randlab_away", "randlab", AWAY_MOST_OF_THE_TIME),
    ("alarm_wait", "alarmtest", FAILING_WAIT),
    ("alarm_tick", "alarmtest", ALARM_EVERY_TICK),
    ("alarm_lost", "alarmtest", UPTIME_LOSES_TICKS),
    ("sysinfo_wait", "sysinfotest", FAILING_WAIT),
    ("memf_fork", "memfault", FORK_FAILS_ONCE_LARGE),
    ("memf_sbrk", "memfault", SBRK_FAILS_EARLY),
];

const VARIANT_SPEC: &str = r#"
name = "failfirst"
# Tests of the test programs, not grades: the variants are not tokened.
untrusted = true
timeout = "300s"
# One hart: uptime then counts the ticks of the hart alarmtest runs on, so
# its elapsed ticks are what the variants make them, not what the host's
# scheduling of other harts adds or takes away.
cpus = 1

[[run]]
id = "variants"
commands = [
    "sysinfo_wait",
    "memf_fork",
    "memf_sbrk",
    "alarm_tick",
    "alarm_lost",
    "alarm_wait",
    "randlab_away alarm 2 40",
    "echo still here",
]

[[test]]
name = "alarmtest test2 fails when its wait fails"
points = 1
run = "variants"
match = '^test2 failed: wait returned -1, not child [0-9]+$'

[[test]]
name = "alarmtest test1 fails when the alarm comes every tick"
points = 1
run = "variants"
match = '^test1 failed: handler called every 1 ticks, not every 2$'

[[test]]
name = "alarmtest test1 passes when uptime loses ticks"
points = 1
run = "variants"
count = { regex = '^test1 passed$', times = 2 }

# lab-alarm.toml's bounds for interval 2 and 40 ticks: 40 / 2 / 2 and 40 / 2 + 1.
[[test]]
name = "randlab alarm counts only the time it ran"
points = 1
run = "variants"
range = { regex = '^randlab alarm: interval 2, (\d+) calls in 40 ticks$', min = 10, max = 21 }

[[test]]
name = "sysinfotest fails when its wait fails"
points = 1
run = "variants"
match = '^sysinfotest: FAIL wait returned -1, not child [0-9]+$'
no_match = '^sysinfotest: OK$'

[[test]]
name = "cow_oom fails when fork fails with memory free"
points = 1
run = "variants"
match = '^memfault: out of memory in copy-on-write faults FAILED \(exit status 8, wanted 42\)$'

[[test]]
name = "lazy_oom fails when sbrk fails early"
points = 1
run = "variants"
match = '^memfault: out of memory in lazy faults FAILED \(exit status 7, wanted 42\)$'

[[test]]
name = "the kernel survives"
points = 1
run = "variants"
match = '^still here$'
no_match = '^panic: '
"#;

/// The test programs' checks run on the paths where they once did not:
/// alarmtest's and sysinfotest's when `wait` fails (their status started at
/// 0, so a failed wait passed), memfault's `cow_oom` when fork fails with
/// memory free (it printed ok whenever fork failed) and `lazy_oom` when
/// sbrk fails long before memory runs out (it accepted any outcome);
/// alarmtest's test1 passes with an uptime that loses ticks (its bound
/// failed a correct kernel on a busy host) and still fails an alarm that
/// comes every tick; randlab's alarm, away most of the time, stays within
/// lab-alarm's bounds (counting wall time, it fell below them). Each
/// program is itself, built from its source with one library call
/// replaced, on the kernel with every lab. On the same image, without
/// `sleep`, base's real `kill` test fails (it passed without `sleep`).
#[test]
#[ignore = "slow: builds seven test-program variants and boots twice"]
fn test_programs_fail_when_their_check_cannot_run() {
    let extra: Vec<(String, String)> = VARIANTS
        .iter()
        .map(|(name, program, with)| (name.to_string(), variant(program, with)))
        .collect();
    let dir = user_scratch(&extra);
    let mut build = tests::cargo(&["build", "-q", "-p", "user", "--profile", "user"]);
    build
        .args(["--target", tests::TARGET])
        .args(VARIANTS.iter().flat_map(|(name, _, _)| ["--bin", name]))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"));
    let (out, stdout, stderr) = tests::run(build);
    assert!(
        out.status.success(),
        "the variants do not build:\n{stdout}{stderr}"
    );

    // The image of the kernel with every lab, without sleep, with the variants.
    let all = tests::build("all");
    let bytes = std::fs::read(&all.fs_img).unwrap();
    let image = mkfs::Image::open(&bytes).unwrap();
    // That kernel's inode layout (the fs lab's doubly-indirect one).
    let layout = image.layout();
    let mut files: Vec<(String, Vec<u8>)> = image
        .root_names()
        .unwrap()
        .into_iter()
        .filter(|n| n != "." && n != ".." && n != "sleep")
        .map(|n| {
            let data = image.read_file(&n).unwrap();
            (n, data)
        })
        .collect();
    assert!(
        files.iter().any(|(n, _)| n == "kill"),
        "no kill on the image"
    );
    let elves = dir.join("target").join(tests::TARGET).join("user");
    for (name, _, _) in VARIANTS {
        files.push((name.to_owned(), std::fs::read(elves.join(name)).unwrap()));
    }
    let scratch = tempfile::tempdir().unwrap();
    let fs_img = scratch.path().join("fs.img");
    std::fs::write(
        &fs_img,
        mkfs::make_image_with(abi::param::FSSIZE, layout, &files).unwrap(),
    )
    .unwrap();
    let config = tests::Config {
        kernel: all.kernel.clone(),
        fs_img,
    };

    let s = tests::Scenario::with_text("failfirst", VARIANT_SPEC);
    let (out, stdout, stderr) = s.grade(&config, &[]);
    assert!(
        out.status.success(),
        "a variant passed, or did not fail as it should:\n{stdout}{stderr}\n{}",
        s.log("variants")
    );

    // base's kill test, as graded, on the image without sleep.
    let mut grade = std::process::Command::new(tests::grader_bin());
    grade
        .arg("--root")
        .arg(root())
        .arg("--kernel")
        .arg(&config.kernel)
        .arg("--fs")
        .arg(&config.fs_img)
        .args(["base", "kill"])
        .env("CARGO_TARGET_DIR", scratch.path().join("out"))
        .env("NO_COLOR", "1");
    let (out, stdout, stderr) = tests::run(grade);
    let log = std::fs::read_to_string(scratch.path().join("out/grade/base/kill.log"))
        .unwrap_or_else(|e| format!("(no kill log: {e})"));
    assert!(
        !out.status.success() && stdout.contains("kill: FAIL"),
        "base's kill test passed without sleep:\n{stdout}{stderr}\n{log}"
    );
    assert!(
        log.contains("kill: 4: no such process") && log.contains("after kill"),
        "the kill run did not go as expected:\n{log}"
    );
}
