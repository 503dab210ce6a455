//! `cargo xtask grade` on the real labs, and the grader's handling of
//! failures, hangs, panics and floods with the real kernel; what a newcomer
//! meets (usage errors, specs in the making, a missing QEMU, the disk
//! `cargo xtask qemu` keeps); replays and calibration. Wall-clock bounds
//! are loose and relative to the timeout the report states: a loaded
//! 2-core machine runs these.

use std::path::Path;
use std::time::{Duration, Instant};
use tests::{
    Scenario, assert_full_marks, build, cargo, kernel_with_trap_in, qemus_mentioning, root, run,
    target_dir, xtask,
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

// The base kernel and the memory labs at full marks: documented.rs's
// `grade --all`, which grades each on its own kernel.

#[test]
#[ignore = "slow: every lab's tests on one kernel"]
fn every_lab_in_one_kernel_full_marks() {
    let out = grade_full_marks(&["lab-all"]);
    assert!(out.contains("Score: 1143/1143"), "{out}");
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

/// The seconds in the report's `timed out after N.Ns`.
fn reported_timeout(report: &str) -> f64 {
    report
        .split("timed out after ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no timeout in the report:\n{report}"))
}

#[test]
fn a_hang_is_a_timeout_and_leaves_no_qemu_nor_a_written_image() {
    let s = Scenario::new("hang");
    let fs = s.dir.path().join("hang.img");
    let base = build("");
    std::fs::copy(&base.fs_img, &fs).unwrap();
    let before = std::fs::read(&fs).unwrap();
    let config = tests::Config {
        kernel: base.kernel.clone(),
        fs_img: fs.clone(),
    };
    let start = Instant::now();
    let (out, stdout, _) = s.grade(&config, &[]);
    let took = start.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("TIMEOUT"), "{stdout}");
    // The spec's 3 s, scaled to this machine: the run ends then, not at
    // some other limit (the grader and QEMU starting get generous room).
    let timeout = reported_timeout(&stdout);
    assert!(timeout >= 3.0, "{timeout}");
    assert!(took >= timeout && took < timeout + 20.0, "took {took}s");
    let left = qemus_mentioning(&fs.to_string_lossy());
    assert!(left.is_empty(), "QEMU still running: {left:?}");
    // -snapshot: what the run wrote (sleep's process, the shell) never
    // reached the image.
    assert!(std::fs::read(&fs).unwrap() == before, "the image changed");
}

#[test]
fn a_kernel_panic_ends_the_run_at_once_and_is_reported_whole() {
    let s = Scenario::new("panic");
    let base = build("");
    let config = tests::Config {
        kernel: kernel_with_trap_in(&base.kernel, "sys_sleep", s.dir.path()),
        fs_img: base.fs_img.clone(),
    };
    let start = Instant::now();
    let (out, stdout, _) = s.grade(&config, &["--timeout-scale", "1"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("PANIC"), "{stdout}");
    // The whole line, `panic: <what> (hart N at file:line)`, not its start.
    let summary = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("the kernel panicked: "))
        .unwrap_or_else(|| panic!("no panic summary in:\n{stdout}"));
    assert!(
        summary.starts_with("panic: kerneltrap")
            && summary.contains(" (hart ")
            && summary.ends_with(')'),
        "{summary}"
    );
    // The run's timeout is 60 s: a panic must end it long before.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let left = qemus_mentioning(&config.kernel.to_string_lossy());
    assert!(left.is_empty(), "QEMU still running: {left:?}");
}

/// The peak resident memory (VmHWM, which exec resets) of process `pid`.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_console_that_floods_ends_at_the_output_limit_in_bounded_memory() {
    let s = Scenario::new("flood");
    let base = build("");
    let mut c = std::process::Command::new(tests::grader_bin());
    c.arg("--root")
        .arg(s.dir.path())
        .arg("--kernel")
        .arg(&base.kernel)
        .arg("--fs")
        .arg(&base.fs_img)
        .arg("flood")
        .env("CARGO_TARGET_DIR", s.dir.path().join("out"))
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(s.dir.path().join("report")).unwrap());
    let start = Instant::now();
    let mut child = c.spawn().unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    let report = std::fs::read_to_string(s.dir.path().join("report")).unwrap();
    assert_eq!(status.code(), Some(1), "{report}");
    assert!(report.contains("flood: OUTPUT LIMIT"), "{report}");
    // 4 MiB of console at QEMU's UART speed, not the 120 s timeout.
    assert!(took < Duration::from_secs(90), "took {took:?}");
    assert!(
        peak > 0 && peak < 48 * 1024,
        "the grader peaked at {peak} KiB"
    );
    let log = s.log("flood");
    // The first and the last 512 KiB, and the line between them.
    assert!(
        (1 << 20..(1 << 20) + 100).contains(&log.len()),
        "a log of {} bytes",
        log.len()
    );
    assert!(
        log.contains("bytes of console output not kept here]"),
        "no drop marker"
    );
    // The tail is kept: the last lines printed, cut where QEMU stopped.
    let tail = &log[log.len() - 200..];
    assert!(
        tail.contains("of a console that never stops\nflood line "),
        "{tail}"
    );
}

/// Writes a spec for a lab in the making to a directory of its own.
fn spec_in_the_making(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab-wip.toml");
    std::fs::write(&path, text).unwrap();
    let shown = path.to_string_lossy().into_owned();
    (dir, shown)
}

const WIP: &str = r#"name = "lab-wip"
features = []
timeout = "30s"

[[run]]
id = "echo"
# Under tok: a spec matches only lines with a valid token of the run.
commands = ["tok echo in the making"]

[[test]]
name = "echo"
points = 2
run = "echo"
match = '^in the making$'
"#;

#[test]
fn a_spec_in_the_making_is_graded_by_its_path_and_a_bad_feature_is_its_error() {
    let (_dir, path) = spec_in_the_making(WIP);
    let (out, stdout, stderr) = run(xtask(&["grade", &path]));
    assert_full_marks(&out, &stdout, &stderr);
    assert!(stdout.ends_with("Score: 2/2\n"), "{stdout}");
    let (_dir, path) = spec_in_the_making(&WIP.replace("features = []", "features = [\"nosuch\"]"));
    let (out, stdout, stderr) = run(xtask(&["grade", &path]));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.ends_with(&format!(
            "grader: {path}:2: no lab feature \"nosuch\" (the features are \
             {})\n",
            tests::registry().features().join(", ")
        )),
        "{stderr}"
    );
}

/// A host run: `cargo xtask grade` builds the host program from the tree
/// (`cargo build --release --bin hostprobe`) and starts it with the spec's
/// arguments, random ones included.
#[test]
fn a_host_run_starts_the_program_built_from_the_tree() {
    let spec = root().join("tests/specs/host.toml");
    let (out, stdout, stderr) = run(xtask(&["grade", spec.to_str().unwrap(), "--seed", "7"]));
    assert_full_marks(&out, &stdout, &stderr);
    assert!(stdout.ends_with("Score: 2/2\n"), "{stdout}");
    assert!(target_dir().join("release/hostprobe").is_file());
    // Another seed, another argument: the checks follow it.
    let n = |seed: u64| {
        let text = std::fs::read_to_string(&spec).unwrap();
        grader::spec::parse(&text, "labs/host.toml", seed)
            .unwrap()
            .random["n"]
    };
    let seed = (8..).find(|&s| n(s) != n(7)).unwrap();
    let (out, stdout, stderr) = run(xtask(&[
        "grade",
        spec.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
    ]));
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
fn usage_mistakes_say_what_to_do_in_a_line() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["grade", "lab-util", "--timeout-scale", "abc"],
            "xtask: invalid value 'abc' for '--timeout-scale <F>': a positive number, such as 2.5\n\
             `cargo xtask grade --help` shows how to call it\n",
        ),
        (
            &["grade", "lab-util", "nosuchtest"],
            "grader: no test of lab-util matches \"nosuchtest\" \
             (`cargo xtask grade --list lab-util` lists them)\n",
        ),
        (
            &["grade", "lab-util", "--features", "nosuch"],
            "grader: --features: no lab feature \"nosuch\" (the features are ",
        ),
        (
            &["build", "--cpus", "2"],
            "xtask: unexpected argument '--cpus' found\n\
             `cargo xtask build --help` shows how to call it\n",
        ),
    ];
    for (args, want) in cases {
        let (out, stdout, stderr) = run(xtask(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(want),
            "{args:?}: want {want:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    for sub in ["build", "qemu", "gdb", "setup", "ci", "fsck"] {
        let (out, stdout, stderr) = run(xtask(&[sub, "--help"]));
        assert_eq!(out.status.code(), Some(0), "{sub} --help: {stderr}");
        assert!(
            stdout.contains(&format!("Usage: cargo xtask {sub}")),
            "{sub}: {stdout}"
        );
    }
    let (out, stdout, stderr) = run(xtask(&["grade", "--list"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("lab-util       100 points   9 tests\n"),
        "{stdout}"
    );
    // The first run on a fresh clone compiles xtask for a minute or two:
    // cargo's progress must show (the alias is not --quiet).
    assert!(stderr.contains("Running `"), "{stderr}");
}

#[test]
fn grade_help_lists_every_option_under_its_own_name() {
    let (out, stdout, stderr) = run(xtask(&["grade", "--help"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("Usage: cargo xtask grade [OPTIONS] <LAB>... [TEST]...\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("Usage: grader"), "{stdout}");
    assert!(
        stdout.contains("cargo xtask grade <LAB> --submissions DIR"),
        "{stdout}"
    );
    for option in [
        "--all",
        "--list",
        "--jobs",
        "--timeout-scale",
        "--calibrate",
        "--cpus",
        "--features",
        "--seed",
        "--json",
        "--junit",
        "--gradescope",
        "--help",
        "--submissions <DIR>",
        "--csv <FILE>",
        "--html <FILE>",
        "--build-timeout <T>",
        "--build-only",
        "--no-sandbox",
        "--only <NAME>",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(option)
                || l.trim_start().starts_with(&format!("-j, {option}"))
                || l.trim_start().starts_with(&format!("-h, {option}"))),
            "{option} not in:\n{stdout}"
        );
    }
    // The standalone grader's help keeps its own name and options.
    let mut grader = std::process::Command::new(tests::grader_bin());
    grader.arg("--help");
    let (out, stdout, _) = run(grader);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("Usage: grader [OPTIONS] <LAB>..."),
        "{stdout}"
    );
    assert!(stdout.contains("--kernel <FILE>") && !stdout.contains("--submissions"));
}

/// A directory for `PATH` holding only the Rust toolchain and stand-ins
/// for apt-get and sudo that record being called.
fn path_without_qemu(dir: &Path) -> String {
    for tool in ["apt-get", "sudo"] {
        let file = dir.join(tool);
        let script = format!(
            "#!/bin/sh\necho \"{tool} $*\" >> {}/installs\nexit 1\n",
            dir.display()
        );
        std::fs::write(&file, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(tests::root())
        .output()
        .unwrap();
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    format!("{}:{sysroot}/bin", dir.display())
}

#[test]
fn grading_without_qemu_installs_nothing_and_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = xtask(&["grade", "lab-util"]);
    c.env("PATH", path_without_qemu(dir.path()))
        .env_remove("GRADER_QEMU");
    let (out, stdout, stderr) = run(c);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.ends_with(
            "grader: qemu-system-riscv64 is not installed: run `cargo xtask setup` \
             (as root it installs it), or `sudo apt-get install -y qemu-system-misc`\n"
        ),
        "{stderr}"
    );
    let installs = std::fs::read_to_string(dir.path().join("installs")).unwrap_or_default();
    assert!(installs.is_empty(), "grade ran: {installs}");
}

/// Boots `cargo xtask qemu` on the base kernel, types `commands` at its
/// prompts, then quits QEMU (Ctrl-A X).
fn interactive_qemu(args: &[&str], commands: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut c = xtask(&[&["qemu", "--cpus", "1"], args].concat());
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut console = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for command in commands.iter().chain(&["\u{1}x"]) {
        // Wait for a prompt after the last thing typed.
        let seen = console.len();
        while !console[seen..].contains("$ ") {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(b) => console.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    let _ = child.kill();
                    panic!("no prompt; console:\n{console}");
                }
            }
        }
        let line = if command.starts_with('\u{1}') {
            command.to_string()
        } else {
            format!("{command}\n")
        };
        stdin.write_all(line.as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "cargo xtask qemu: {status}; console:\n{console}"
    );
    console
}

#[test]
fn the_qemu_disk_keeps_what_was_done_apart_from_the_graded_image_until_fresh() {
    let base = build("");
    let pristine = std::fs::read(&base.fs_img).unwrap();
    // A unique name: other tests may boot this configuration's disk too.
    let name = format!("dd{}", std::process::id());
    interactive_qemu(&[], &[&format!("mkdir {name}")]);
    let console = interactive_qemu(&[], &["ls"]);
    assert!(console.contains(&name), "{name} is gone:\n{console}");
    assert!(
        std::fs::read(&base.fs_img).unwrap() == pristine,
        "fs.img changed"
    );
    let console = interactive_qemu(&["--fresh-disk"], &["ls"]);
    assert!(
        !console.contains(&name),
        "{name} is still there:\n{console}"
    );
}

#[test]
fn a_failed_test_names_its_replay_and_the_replay_prints_the_same_console() {
    // sysinfotest on a kernel without the lab: a deterministic failure.
    let (out, stdout, _) = run(xtask(&["grade", "lab-sysinfo", "--features", ""]));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let replay = stdout
        .lines()
        .find_map(|l| l.strip_prefix("    replay: "))
        .unwrap_or_else(|| panic!("no replay line:\n{stdout}"));
    // Without the tokens, which each run's fresh key makes different.
    let log_of = |report: &str| {
        let path = report
            .lines()
            .find_map(|l| l.strip_prefix("    console log: "))
            .unwrap()
            .to_owned();
        let log = std::fs::read_to_string(tests::root().join(path)).unwrap();
        log.lines()
            .map(|l| abi::tok::split(l).map_or(l, |(text, _)| text))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = log_of(&stdout);
    let args = replay
        .strip_prefix("cargo xtask grade ")
        .unwrap_or_else(|| panic!("not a cargo xtask command: {replay}"));
    assert!(
        args.contains(" --seed ") && args.ends_with(" sysinfotest"),
        "{args}"
    );
    // As a shell would split it (the features are quoted: '').
    let words: Vec<String> = args
        .split(' ')
        .map(|w| w.trim_matches('\'').to_owned())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (out, again, _) = run(xtask(&[&["grade"], &words[..]].concat()));
    assert_eq!(out.status.code(), Some(1), "{again}");
    assert_eq!(log_of(&again), first);
    // The same report, but for the run's time and its log's directory.
    let lines = |r: &str| {
        r.lines()
            .filter(|l| !l.contains("console log:"))
            .map(|l| l.split(" (").next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&again), lines(&stdout));
}

#[test]
fn the_speed_of_this_machine_is_measured_once_and_kept() {
    let cache = tempfile::tempdir().unwrap();
    let mut c = cargo(&["run", "-q", "-p", "grader", "--", "--calibrate"]);
    c.env("GRADER_CACHE_DIR", cache.path());
    let (out, stdout, stderr) = run(c);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("the reference guest took "), "{stdout}");
    let kept: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = std::fs::read_to_string(kept[0].as_ref().unwrap().path()).unwrap();
    let seconds: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("seconds="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds > 0.01 && seconds < 60.0, "{seconds}");
}
