//! The QEMU driver against a fake QEMU (tests/fake-qemu) that replays a
//! recorded console: finishing, timeouts, panics, QEMU exiting, and the
//! whole process group gone afterwards. Time bounds are loose, for a loaded
//! 2-core machine: each is far below the timeout a stuck driver would wait
//! for, and far above what a working one needs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grader::qemu::{self, End, Session, Transcript};

fn fake() -> OsString {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fake-qemu")
        .into()
}

struct Boot {
    _dir: tempfile::TempDir,
    kernel: PathBuf,
    /// The fake's "disk image": it writes its pids there.
    disk: PathBuf,
}

/// A fake kernel that prints `session`.
fn kernel(session: &str) -> Boot {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("kernel");
    let disk = dir.path().join("fs.img");
    std::fs::write(&kernel, session).unwrap();
    std::fs::write(&disk, "").unwrap();
    Boot {
        _dir: dir,
        kernel,
        disk,
    }
}

fn run(boot: &Boot, commands: &[&str], timeout: Duration) -> (Transcript, Vec<u32>) {
    let commands: Vec<String> = commands.iter().map(|s| s.to_string()).collect();
    let args = qemu::graded_args(&boot.kernel, &boot.disk, 3);
    let qemu = fake();
    let session = Session {
        qemu: &qemu,
        args: &args,
        commands: &commands,
        until: None,
        timeout,
    };
    let transcript = qemu::run_session(&session, &mut |_| {}).unwrap();
    let pids = std::fs::read_to_string(&boot.disk)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    (transcript, pids)
}

/// Whether `pid` is still a live process (a zombie waiting for a reaper
/// that is not us counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z")
        }
        Err(_) => false,
    }
}

fn assert_all_gone(pids: &[u32]) {
    assert_eq!(pids.len(), 2, "the fake and its child: {pids:?}");
    // SIGKILL is delivered at once, but give the kernel a moment to tear down.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "left running: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(t: &Transcript) -> String {
    String::from_utf8_lossy(&t.output).into_owned()
}

const SESSION: &str = "xv6 kernel is booting\n\ninit: starting sh\n$ echo hello | cat\nhello\n$ ls\nREADME         2 2 2305\n$ ";

#[test]
fn a_finished_run_ends_at_the_last_prompt() {
    let boot = kernel(SESSION);
    let start = Instant::now();
    let (t, pids) = run(&boot, &["echo hello | cat", "ls"], Duration::from_secs(10));
    assert_eq!(t.end, End::Finished);
    assert_eq!(
        text(&t),
        "xv6 kernel is booting\n\ninit: starting sh\n$ echo hello | cat\nhello\n$ ls\nREADME         2 2 2305\n$ "
    );
    // Not the 10 s timeout.
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_all_gone(&pids);
}

#[test]
fn an_unknown_command_is_still_driven_to_the_end() {
    let boot = kernel(SESSION);
    let (t, pids) = run(&boot, &["nosuch", "ls"], Duration::from_secs(10));
    assert_eq!(t.end, End::Finished);
    assert!(text(&t).contains("$ nosuch\nexec nosuch failed\n$ ls\nREADME"));
    assert_all_gone(&pids);
}

#[test]
fn a_hang_is_a_timeout_soon_after_the_deadline() {
    let boot = kernel("xv6 kernel is booting\ninit: starting sh\n$ primes\nprime 2\n@@ hang\n");
    let start = Instant::now();
    let (t, pids) = run(&boot, &["primes", "ls"], Duration::from_secs(2));
    let took = start.elapsed();
    assert_eq!(
        t.end,
        End::Timeout {
            waiting_for: "the prompt after `primes` (command 1 of 2)".into()
        }
    );
    assert!(text(&t).ends_with("prime 2\n"));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_all_gone(&pids);
}

#[test]
fn a_boot_that_never_reaches_the_shell_times_out() {
    let boot = kernel("xv6 kernel is booting\n@@ hang\n");
    let (t, pids) = run(&boot, &["ls"], Duration::from_millis(500));
    assert_eq!(
        t.end,
        End::Timeout {
            waiting_for: "the shell's first prompt".into()
        }
    );
    assert_all_gone(&pids);
}

#[test]
fn a_panic_ends_the_run_at_once_with_what_follows_it() {
    let boot = kernel(
        "xv6 kernel is booting\ninit: starting sh\n$ cowtest\nsimple: ok\n\
         panic: kerneltrap (hart 2)\nbacktrace:\n0x0000000080002d20\n@@ hang\n",
    );
    let start = Instant::now();
    let (t, pids) = run(&boot, &["cowtest"], Duration::from_secs(30));
    let took = start.elapsed();
    assert_eq!(
        t.end,
        End::Panic {
            line: "panic: kerneltrap (hart 2)".into()
        }
    );
    assert!(
        text(&t).ends_with("backtrace:\n0x0000000080002d20\n"),
        "{}",
        text(&t)
    );
    // Not the 30 s timeout.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_all_gone(&pids);
}

#[test]
fn qemu_exiting_early_is_reported_with_its_error() {
    let boot = kernel(
        "@@ stderr qemu-system-riscv64: -drive file=fs.img: Could not open 'fs.img'\n@@ exit 1\n",
    );
    let start = Instant::now();
    let (t, pids) = run(&boot, &["ls"], Duration::from_secs(30));
    assert_eq!(
        t.end,
        End::Exited {
            status: "exit status: 1".into(),
            stderr: "qemu-system-riscv64: -drive file=fs.img: Could not open 'fs.img'".into()
        }
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // QEMU's own children, if any, go with it.
    assert_all_gone(&pids);
}

#[test]
fn a_panic_line_that_arrives_slowly_is_reported_whole() {
    let boot = kernel(
        "xv6 kernel is booting\ninit: starting sh\n$ sleep 1\n@@ part panic: \n@@ sleep 0.5\n\
         @@ part kerneltrap: scause 0x3\n@@ sleep 0.3\n (hart 1 at trap.rs:9)\nbacktrace:\n@@ hang\n",
    );
    let (t, pids) = run(&boot, &["sleep 1"], Duration::from_secs(30));
    assert_eq!(
        t.end,
        End::Panic {
            line: "panic: kerneltrap: scause 0x3 (hart 1 at trap.rs:9)".into()
        }
    );
    assert!(text(&t).ends_with("backtrace:\n"), "{}", text(&t));
    assert_all_gone(&pids);
}

#[test]
fn a_flood_ends_at_the_output_limit_keeping_head_and_tail() {
    let boot = kernel("xv6 kernel is booting\ninit: starting sh\n$ flood\n@@ flood\n");
    let start = Instant::now();
    let (t, pids) = run(&boot, &["flood"], Duration::from_secs(60));
    assert!(
        matches!(t.end, End::OutputLimit { printed } if printed > qemu::OUTPUT_LIMIT),
        "{:?}",
        t.end
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(
        t.output.len() < qemu::KEEP_HEAD + 2 * qemu::KEEP_TAIL + 100,
        "{}",
        t.output.len()
    );
    let console = text(&t);
    assert!(console.starts_with("xv6 kernel is booting\n"));
    assert!(console.contains("bytes of console output not kept here]\n"));
    assert!(console.contains("a kernel that prints and prints and prints\n"));
    assert_all_gone(&pids);
}

#[test]
fn slow_output_is_waited_for() {
    let boot = kernel("boot\n@@ sleep 0.3\ninit: starting sh\n$ ls\n@@ sleep 0.3\nREADME\n$ ");
    let (t, pids) = run(&boot, &["ls"], Duration::from_secs(5));
    assert_eq!(t.end, End::Finished);
    assert!(t.elapsed >= Duration::from_millis(600));
    assert!(text(&t).ends_with("$ ls\nREADME\n$ "));
    assert_all_gone(&pids);
}

#[test]
fn a_missing_qemu_is_an_error() {
    let boot = kernel(SESSION);
    let args = qemu::graded_args(&boot.kernel, &boot.disk, 3);
    let session = Session {
        qemu: std::ffi::OsStr::new("/nonexistent/qemu"),
        args: &args,
        commands: &[],
        until: None,
        timeout: Duration::from_secs(1),
    };
    assert!(qemu::run_session(&session, &mut |_| {}).is_err());
}
