//! What the README and the handouts document about the tools, end to end:
//! `cargo xtask qemu --lab` and `gdb` used as a person would (input typed
//! on a pipe, gdb-multiarch attached), `build` writing nothing when nothing
//! changed, `fsck`'s options, `setup`'s installs, the shell's `cd` and
//! `>>`, `usertests -c` and `-t`, a backtrace on a kernel panic, grading on
//! two harts, and (slow) `grade --all`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime};

use tests::{Scenario, assert_full_marks, build, run, target_dir, xtask};

/// How long a build and a boot may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(300);

/// Sends what `from` produces, piece by piece, until it ends.
fn pump(mut from: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// `cargo xtask qemu` or `gdb` on pipes, as at a terminal: the console QEMU
/// prints, what xtask says on stderr, and lines typed at the shell.
struct Terminal {
    child: Child,
    stdin: ChildStdin,
    out: Receiver<Vec<u8>>,
    err: Receiver<Vec<u8>>,
    console: String,
    said: String,
    /// Where the console's unread part starts.
    mark: usize,
}

impl Terminal {
    fn start(args: &[&str]) -> Terminal {
        let mut child = xtask(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start cargo xtask");
        let stdin = child.stdin.take().unwrap();
        let out = pump(child.stdout.take().unwrap());
        let err = pump(child.stderr.take().unwrap());
        Terminal {
            child,
            stdin,
            out,
            err,
            console: String::new(),
            said: String::new(),
            mark: 0,
        }
    }

    /// Waits until the console shows `needle` after the mark; returns where
    /// the match starts.
    fn expect(&mut self, needle: &str) -> usize {
        self.expect_any(&[needle])
    }

    /// Waits until the console shows one of `needles` after the mark;
    /// returns where the first match starts.
    fn expect_any(&mut self, needles: &[&str]) -> usize {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen = &self.console[self.mark..];
            if let Some(at) = needles.iter().filter_map(|n| seen.find(n)).min() {
                return self.mark + at;
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(wait) {
                Ok(b) => self.console.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    while let Ok(b) = self.err.try_recv() {
                        self.said.push_str(&String::from_utf8_lossy(&b));
                    }
                    panic!(
                        "none of {needles:?} on the console:\n{}\nxtask said:\n{}",
                        self.console, self.said
                    )
                }
            }
        }
    }

    /// Waits for a whole line on xtask's stderr containing `needle`.
    fn expect_said(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.said.split_inclusive('\n').find(|l| l.contains(needle))
                && line.ends_with('\n')
            {
                return line.trim_end().to_owned();
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(wait) {
                Ok(b) => self.said.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!("xtask never said {needle:?}; it said:\n{}", self.said),
            }
        }
    }

    /// Types `line` at the next prompt; returns where the prompt was.
    fn type_line(&mut self, line: &str) -> usize {
        let prompt = self.expect("$ ");
        self.mark = prompt + 2;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        prompt
    }

    /// Runs `line` at the next prompt and returns what it printed, up to the
    /// prompt after it.
    fn command(&mut self, line: &str) -> String {
        let start = self.type_line(line) + 2;
        let end = self.expect("\n$ ");
        self.mark = end + 1;
        self.console[start..end].to_owned()
    }

    /// Waits (loosely) for xtask to end.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "xtask still running:\n{}",
                self.console
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Quits QEMU with Ctrl-A X and waits for xtask to end.
    fn quit(&mut self) -> std::process::ExitStatus {
        let _ = self.stdin.write_all(b"\x01x");
        let _ = self.stdin.flush();
        self.wait()
    }
}

impl Drop for Terminal {
    /// A failed test still stops QEMU by Ctrl-A X: killing cargo would
    /// leave xtask's QEMU running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stdin.write_all(b"\x01x");
            let _ = self.stdin.flush();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
        }
    }
}

/// `cargo xtask qemu --lab trace` boots that lab's kernel (the base kernel
/// has no `trace`), and usertests' `-t` and `-c` do what usertests.rs says
/// (`-c` loops until a round fails).
/// One boot, on a fresh copy of the trace configuration's disk (no other
/// test boots it: two QEMUs cannot share a disk).
#[test]
fn qemu_boots_a_labs_kernel_where_usertests_time_and_loop() {
    build("trace");
    let mut t = Terminal::start(&["qemu", "--lab", "trace", "--cpus", "1", "--fresh-disk"]);
    let traced = t.command("trace 32 grep hello README");
    for want in ["3: syscall read -> 1023", "3: syscall read -> 0"] {
        assert!(
            traced.lines().any(|l| l.trim_end() == want),
            "no {want:?} in:\n{traced}"
        );
    }
    // -t: each test's verdict and each free-page count with its time.
    let timed = t.command("usertests -t pipe1");
    let ms = |l: &str, head: &str| {
        l.strip_prefix(head)
            .and_then(|r| r.strip_suffix(" ms)"))
            .and_then(|n| n.split_once('.'))
            .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.len() == 1)
    };
    let lines: Vec<&str> = timed.lines().map(str::trim_end).collect();
    assert!(
        lines.iter().any(|l| ms(l, "test pipe1: OK (")),
        "no timed verdict:\n{timed}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("countfree: ") && l.contains(" pages ("))
            .count(),
        2,
        "not two timed free-page counts:\n{timed}"
    );
    assert!(lines.contains(&"ALL TESTS PASSED"), "{timed}");
    // -c: round after round until one fails, in the background. Three
    // rounds pass (never "ALL TESTS PASSED"); then a file that opentest
    // expects not to exist makes a round fail: opentest's next run, or,
    // when the shell's `echo` ran during a free-page count, that count.
    // Either way usertests stop there.
    let start = t.type_line("usertests -c opentest &") + 2;
    for _ in 0..3 {
        let at = t.expect("test opentest: OK");
        t.mark = at + 1;
    }
    let looped = t.console[start..].to_owned();
    assert!(
        looped.matches("usertests starting").count() >= 3,
        "{looped}"
    );
    assert!(!looped.contains("ALL TESTS PASSED"), "{looped}");
    t.stdin.write_all(b"echo x > doesnotexist\n").unwrap();
    let failed = t.expect_any(&["SOME TESTS FAILED", "FAILED -- lost some free pages"]);
    t.mark = failed;
    // The shell's prompt for the next line may have come before the
    // failure's lines (usertests runs in the background): type at once.
    t.stdin.write_all(b"echo after\n").unwrap();
    // Its output alone on a line, or after the prompt that came first.
    t.expect_any(&["\nafter\n", "$ after\n"]);
    let tail = &t.console[failed..];
    assert!(
        !tail.contains("usertests starting") && !tail.contains("test opentest: OK"),
        "usertests -c went on after a failure:\n{tail}"
    );
    assert!(t.quit().success(), "cargo xtask qemu failed");
}

/// `cargo xtask gdb`, as MIT's `make qemu-gdb`: it writes a `.gdbinit`, and
/// gdb-multiarch started in the tree with no arguments attaches by itself.
/// xv6's names are breakpoints: `b usertrap` reports the hit as usertrap
/// (not an inlined callee), and `b sys_sleep`, hit while `sleep 1` runs,
/// has a backtrace through the system call dispatch to the user-trap
/// handler; a hook's name (`b user_fault`) stops in the lab's own
/// implementation of it.
#[test]
fn gdb_attaches_by_itself_and_stops_at_xv6_names() {
    if Command::new("gdb-multiarch")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: gdb-multiarch is not installed (Debian: apt-get install gdb-multiarch)"
        );
        return;
    }
    build("cow");
    let mut t = Terminal::start(&["gdb", "--lab", "cow", "--cpus", "1"]);
    t.expect_said("run gdb-multiarch in");
    let gdbinit = tests::root().join(".gdbinit");
    let script = std::fs::read_to_string(&gdbinit).expect("cargo xtask gdb wrote no .gdbinit");
    let socket = script
        .lines()
        .find_map(|l| l.strip_prefix("target remote "))
        .unwrap_or_else(|| panic!("no `target remote` in .gdbinit:\n{script}"));
    let deadline = Instant::now() + PATIENCE;
    while !Path::new(socket).exists() {
        assert!(Instant::now() < deadline, "no socket {socket}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let allow = format!("add-auto-load-safe-path {}", gdbinit.display());
    let mut gdb = Command::new("gdb-multiarch")
        .current_dir(tests::root())
        // -nh: not this machine's own start-up file; the tree's is read.
        .args(["-batch", "-nh", "-iex", &allow])
        .args([
            "-ex",
            "break uvmcopy",
            "-ex",
            "break kalloc",
            "-ex",
            "break walkaddr",
        ])
        .args(["-ex", "break fork", "-ex", "delete"])
        .args(["-ex", "break usertrap", "-ex", "continue", "-ex", "delete"])
        // A hook by its name stops in the lab's implementation: init's
        // fork shares its pages, and the first write to one faults.
        .args([
            "-ex",
            "break user_fault",
            "-ex",
            "continue",
            "-ex",
            "delete",
        ])
        .args([
            "-ex",
            "break sys_sleep",
            "-ex",
            "continue",
            "-ex",
            "bt",
            "-ex",
            "kill",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start gdb-multiarch");
    let gdb_out = pump(gdb.stdout.take().unwrap());
    let gdb_err = pump(gdb.stderr.take().unwrap());
    // QEMU runs only once gdb continues: then the shell starts, and sleep
    // reaches the breakpoint.
    t.type_line("sleep 1");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = gdb.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = gdb.kill();
            panic!("gdb did not stop at sys_sleep");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut said = String::new();
    while let Ok(b) = gdb_out.recv_timeout(Duration::from_secs(5)) {
        said.push_str(&String::from_utf8_lossy(&b));
    }
    while let Ok(b) = gdb_err.recv_timeout(Duration::from_secs(1)) {
        said.push_str(&String::from_utf8_lossy(&b));
    }
    // gdb's `kill` ends QEMU, and gdb may then see the connection break
    // before it hears the answer (exit status 1): a race between the two,
    // not a failed command.
    let killed = said.contains("Kill the program being debugged?")
        && said.contains("Remote communication error");
    assert!(status.success() || killed, "gdb: {status}\n{said}");
    assert!(
        !said.contains("not defined"),
        "an xv6 name is not a breakpoint:\n{said}"
    );
    // The first four, for uvmcopy, kalloc, walkaddr and fork, were set.
    for n in 1..=4 {
        assert!(
            said.lines()
                .any(|l| l.starts_with(&format!("Breakpoint {n} at 0x8"))),
            "breakpoint {n} was not set:\n{said}"
        );
    }
    let hit = |function: &str| {
        said.lines()
            .any(|l| l.starts_with("Breakpoint ") && l.contains(&format!(", {function} ()")))
    };
    assert!(
        hit("kernel_base::trap::usertrap"),
        "b usertrap did not stop as usertrap:\n{said}"
    );
    assert!(
        hit("kernel_base::sysproc::sys_sleep"),
        "b sys_sleep was not hit:\n{said}"
    );
    assert!(
        said.lines().any(|l| l.starts_with("Breakpoint ")
            && l.contains("user_fault")
            && l.contains("labs/src/cow.rs")),
        "b user_fault did not stop in the cow lab's user_fault:\n{said}"
    );
    let frames: Vec<&str> = said.lines().filter(|l| l.starts_with('#')).collect();
    let at = |f: &str| frames.iter().position(|l| l.contains(f));
    let (Some(sleep), Some(syscall), Some(trap)) = (
        at("sys_sleep"),
        at("kernel_base::syscall::syscall"),
        at("kernel_base::trap::usertrap"),
    ) else {
        panic!("bt does not go from sys_sleep through syscall to usertrap:\n{said}")
    };
    assert!(
        sleep < syscall && syscall < trap,
        "bt out of order:\n{said}"
    );
    // gdb's kill ends QEMU, and so xtask.
    t.wait();
}

/// Every file under `dir` that the build writes, with its modification
/// time.
fn mtimes(dir: &Path) -> BTreeMap<String, SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        // Not the build's: `cargo xtask qemu`'s disk and gdb socket, and
        // the xv6 names a grade with a breakpoint (running beside this
        // test) or `cargo xtask gdb` writes.
        .filter(|e| {
            !["disk.img", "gdb.sock", "xv6-names.o"].contains(&&*e.file_name().to_string_lossy())
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect()
}

/// README: "with nothing changed, `cargo xtask build` writes nothing".
#[test]
fn an_unchanged_build_writes_nothing() {
    for (labs, config) in [("", "base"), ("trace", "trace")] {
        build(labs);
        let dir = target_dir().join("xv6").join(config);
        let before = mtimes(&dir);
        for name in ["kernel", "kernel.asm", "kernel.sym", "fs.img"] {
            assert!(before.contains_key(name), "no {name} in {}", dir.display());
        }
        let mut args = vec!["build"];
        if !labs.is_empty() {
            args.extend(["--lab", labs]);
        }
        let (out, stdout, stderr) = run(xtask(&args));
        assert!(out.status.success(), "{stdout}{stderr}");
        assert_eq!(before, mtimes(&dir), "{config}: the build wrote:\n{stderr}");
    }
}

/// A copy of `fs.img` with one more file inode that no directory names:
/// `nlink` 1 is an orphan, 0 a file still open when the machine stopped.
fn image_with_unnamed_inode(fs_img: &Path, nlink: i16, to: &Path) -> u32 {
    use abi::fs::{BSIZE, DiskInode, SuperBlock};
    let mut img = std::fs::read(fs_img).unwrap();
    let sb = SuperBlock::decode(&img[BSIZE..2 * BSIZE]);
    let at = |inum: u32| sb.inode_block(inum) as usize * BSIZE + DiskInode::offset_in_block(inum);
    let inum = (1..sb.ninodes)
        .find(|&i| DiskInode::decode(&img[at(i)..]).typ == 0)
        .expect("no free inode");
    let din = DiskInode {
        typ: abi::filetype::T_FILE,
        nlink,
        ..DiskInode::default()
    };
    din.encode(&mut img[at(inum)..at(inum) + DiskInode::SIZE]);
    std::fs::write(to, img).unwrap();
    inum
}

/// `cargo xtask fsck`: without an image, the configuration `--lab` names
/// (its working disk, else its `fs.img`); a missing image is an error that
/// says so; `--crashed` makes a file open at the crash a note, not a
/// problem, while an orphan with a link stays one.
#[test]
fn fsck_checks_a_labs_image_a_crashed_disk_and_says_when_there_is_none() {
    let config = build("sysinfo");
    let dir = config.fs_img.parent().unwrap();
    let expected = if dir.join("disk.img").is_file() {
        dir.join("disk.img")
    } else {
        dir.join("fs.img")
    };
    let (out, stdout, stderr) = run(xtask(&["fsck", "--lab", "sysinfo"]));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let shown = expected
        .strip_prefix(tests::root())
        .unwrap_or(&expected)
        .to_string_lossy()
        .into_owned();
    assert!(
        stdout.starts_with(&format!("fsck {shown}: clean")),
        "not {shown}:\n{stdout}"
    );

    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("none.img");
    let (out, stdout, stderr) = run(xtask(&["fsck", &missing.to_string_lossy()]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let said: Vec<&str> = tests::own_lines(&stderr).collect();
    assert!(
        said.iter()
            .any(|l| l.contains("cannot read") && l.contains("none.img")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let crashed = scratch.path().join("crashed.img");
    let open = image_with_unnamed_inode(&config.fs_img, 0, &crashed);
    let crashed = crashed.to_string_lossy().into_owned();
    let (out, stdout, stderr) = run(xtask(&["fsck", &crashed]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("inode {open}")), "{stdout}");
    let (out, stdout, stderr) = run(xtask(&["fsck", "--crashed", &crashed]));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "inode {open}: a file with no links, open when the machine stopped"
        )),
        "{stdout}"
    );
    let orphan = scratch.path().join("orphan.img");
    let lost = image_with_unnamed_inode(&config.fs_img, 1, &orphan);
    let (out, stdout, stderr) = run(xtask(&["fsck", "--crashed", &orphan.to_string_lossy()]));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("inode {lost}")), "{stdout}");
}

/// The shell's `cd` (built in: it changes the shell's own directory) and
/// redirections: `>` truncates, `>>` opens without truncating and, as in
/// xv6 (no append mode), writes from the start of the file. As in xv6,
/// there is no search path: in a directory, programs are `/echo`.
#[test]
fn the_shell_changes_directory_and_redirects_as_xv6() {
    let spec = r#"
name = "shell"
untrusted = true
timeout = "60s"

[[run]]
id = "shell"
commands = [
    "mkdir d1",
    "cd d1",
    "echo nowhere to be found",
    "/echo junk > f",
    "/echo abcdef > f",
    "/echo xy >> f",
    "/cat f",
    "/echo new >> g",
    "cd ..",
    "cat d1/g",
    "cat f",
    "cd nowhere",
    "echo still here",
]

[[test]]
name = "cd into a directory and back"
points = 1
run = "shell"
match = ['^exec echo failed$', '^new$', '^cat: cannot open f$', '^cannot cd nowhere$', '^still here$']

[[test]]
name = "> truncates, >> overwrites from the start"
points = 1
run = "shell"
match = ['^xy$', '^def$']
no_match = ['^junk$', '^abcdef$', '^abcdefxy$']
"#;
    let (out, stdout, stderr) = Scenario::with_text("shell", spec).grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

/// The backtrace lab's hook runs on a kernel panic too (its handout: "the
/// kernel calls it from the `sleep` system call and when it panics"): a
/// kernel that traps in `sys_sleep` prints the panic, then a backtrace
/// whose addresses are the kernel's own functions.
#[test]
fn a_kernel_panic_prints_a_backtrace_with_the_backtrace_lab() {
    let s = Scenario::new("panic");
    let config = build("backtrace");
    let trapping = tests::Config {
        kernel: tests::kernel_with_trap_in(&config.kernel, "sys_sleep", s.dir.path()),
        fs_img: config.fs_img.clone(),
    };
    let (out, stdout, _) = s.grade(&trapping, &["--timeout-scale", "1"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("PANIC"), "{stdout}");
    let log = s.log("sleep");
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    let panic = lines
        .iter()
        .position(|l| l.starts_with("panic: kerneltrap"))
        .unwrap_or_else(|| panic!("no panic in:\n{log}"));
    assert_eq!(lines.get(panic + 1), Some(&"backtrace:"), "{log}");
    let addresses: Vec<u64> = lines[panic + 2..]
        .iter()
        .map_while(|l| u64::from_str_radix(l.strip_prefix("0x")?, 16).ok())
        .collect();
    assert!(addresses.len() >= 3, "a short backtrace:\n{log}");
    // Each is in a function of this kernel; the trap handler comes before
    // the user trap handler that made the system call.
    use grader::symbols::Symbolize;
    let symbols = grader::symbols::KernelSymbols::new(trapping.kernel.clone());
    let mut names = Vec::new();
    for a in &addresses {
        let at = symbols.functions(*a).unwrap();
        assert!(!at.is_empty(), "{a:#x} is in no function:\n{log}");
        names.extend(at);
    }
    let kerneltrap = names.iter().position(|n| n == "kerneltrap");
    let usertrap = names.iter().position(|n| n == "usertrap");
    assert!(
        kerneltrap.is_some() && kerneltrap < usertrap,
        "not kerneltrap then usertrap: {names:?}\n{log}"
    );
}

/// The `-smp` of every running QEMU whose command line mentions `needle`.
fn qemu_harts(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        let args: Vec<&str> = cmdline.split('\0').collect();
        if args[0].contains("qemu-system") && cmdline.contains(needle) {
            let smp = args.iter().position(|a| *a == "-smp");
            found.extend(smp.and_then(|i| args.get(i + 1)).map(|s| s.to_string()));
        }
    }
    found
}

/// `--cpus 2` (the tests grade on 1 and 3 elsewhere): full marks for the
/// quick labs, each booted with two harts, and the replay line keeps it.
#[test]
fn labs_grade_at_full_marks_on_two_harts() {
    for labs in ["trace", "sysinfo", "backtrace"] {
        build(labs);
    }
    let mut grade = xtask(&[
        "grade",
        "lab-trace",
        "lab-sysinfo",
        "lab-backtrace",
        "--cpus",
        "2",
        "--json",
    ]);
    let child = grade
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watch the QEMUs the grade starts (other tests' QEMUs may run too).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let graded = done.clone();
    let watching = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !graded.load(std::sync::atomic::Ordering::Relaxed) {
            seen.extend(qemu_harts("/xv6/trace/kernel"));
            seen.extend(qemu_harts("/xv6/sysinfo/kernel"));
            seen.extend(qemu_harts("/xv6/backtrace/kernel"));
            if seen.contains("2") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_full_marks(&out, &stdout, &stderr);
    let seen = watching.join().unwrap();
    assert!(seen.contains("2"), "no QEMU with -smp 2, only {seen:?}");
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{stdout}"));
    assert_eq!(report["score"], 44, "{report}");
    for lab in report["labs"].as_array().unwrap() {
        let replay = lab["replay"].as_str().unwrap();
        assert!(replay.ends_with(" --cpus 2"), "{replay}");
    }
}

/// `cargo xtask grade --all`: every lab spec but the groups (whose labs it
/// grades one by one anyway), each built and graded on its own kernel, all
/// at full marks.
#[test]
#[ignore = "slow: grades every lab, usertests included"]
fn grade_all_grades_each_lab_on_its_own_kernel_at_full_marks() {
    let root = tests::root();
    let expected: std::collections::BTreeSet<String> = grader::spec::known_labs(&root)
        .into_iter()
        .filter(|l| grader::spec::load(&root, l, 0).is_ok_and(|s| s.includes.is_empty()))
        .collect();
    assert!(expected.contains("lab-cow") && !expected.contains("lab-all"));
    let (out, stdout, stderr) = run(xtask(&["grade", "--all", "--json"]));
    let report: grader::report::Report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{stdout}\n{stderr}"));
    let graded: std::collections::BTreeSet<String> =
        report.labs.iter().map(|l| l.lab.clone()).collect();
    assert_eq!(graded, expected, "{stderr}");
    // Their totals: the base kernel and the memory labs are graded at full
    // marks here only (each grade runs usertests: once is enough).
    for (lab, max) in [
        ("base", 100),
        ("lab-pgtbl", 60),
        ("lab-lazy", 124),
        ("lab-cow", 110),
    ] {
        let l = report.labs.iter().find(|l| l.lab == lab).unwrap();
        assert_eq!((l.score, l.max_score), (max, max), "{lab}: {stderr}");
    }
    // Full marks, but for what this machine could not judge: a speed test
    // needs two idle cores, and CI runs two tests at once (NEEDS CORES,
    // which is no FAIL).
    let mut unjudged = 0;
    for lab in &report.labs {
        for t in lab.tests.iter().flat_map(|t| t.leaves()) {
            if t.outcome == grader::report::Outcome::NeedsCores {
                unjudged += t.max_points;
            } else {
                assert_eq!(
                    t.points, t.max_points,
                    "{}: {} {:?}",
                    lab.lab, t.name, t.outcome
                );
            }
        }
    }
    assert_eq!(report.score + unjudged, report.max_score);
    let want = if unjudged == 0 { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(want), "{stderr}");
}

/// `cargo xtask setup` on a machine without QEMU, the RISC-V gcc and
/// bubblewrap. As root (as CI runs): one `apt-get update`, then each Debian
/// package the README names, each tool checked after its install; apt-get
/// is a stand-in that records its arguments and puts a stand-in tool on
/// `PATH`. Otherwise: nothing installed, and the `sudo` command to run.
#[test]
fn setup_installs_each_missing_tool_with_apt_get_as_root() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let apt_get = format!(
        r#"#!/bin/sh
echo "apt-get $*" >> {d}/installs
tool() {{ printf '#!/bin/sh\n%s\n' "$2" > {d}/$1; /bin/chmod +x {d}/$1; }}
case "$*" in
  *qemu-system-misc) tool qemu-system-riscv64 'echo "QEMU emulator version 7.2.0"' ;;
  *gcc-riscv64-linux-gnu) tool riscv64-linux-gnu-gcc 'exit 0' ;;
  *bubblewrap) tool bwrap 'exit 0' ;;
esac
"#
    );
    let file = dir.path().join("apt-get");
    std::fs::write(&file, apt_get).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(tests::root())
        .output()
        .unwrap();
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    let mut c = xtask(&["setup"]);
    c.env("PATH", format!("{d}:{sysroot}/bin"))
        .env_remove("GRADER_QEMU");
    let (out, stdout, stderr) = run(c);
    let installs = std::fs::read_to_string(dir.path().join("installs")).unwrap_or_default();
    if !is_root {
        // Not root: nothing installed, and the command to run instead.
        assert!(!out.status.success(), "{stdout}{stderr}");
        assert_eq!(installs, "", "{stderr}");
        assert!(
            stderr.contains(
                "qemu-system-riscv64 is missing: install it with \
                 `sudo apt-get install -y qemu-system-misc`"
            ),
            "{stderr}"
        );
        return;
    }
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        installs,
        "apt-get update -q\n\
         apt-get install -y -q qemu-system-misc\n\
         apt-get install -y -q gcc-riscv64-linux-gnu\n\
         apt-get install -y -q bubblewrap\n",
        "{stderr}"
    );
    for ok in [
        "setup: qemu-system-riscv64 7.2: ok",
        "setup: riscv64-linux-gnu-gcc: ok",
        "setup: bwrap (batch grading's sandbox): ok",
        "setup: for `cargo xtask gdb` and util's \"sleep, makes syscall\" (SKIPPED without \
         it), install gdb: apt-get install -y gdb-multiarch",
    ] {
        assert!(stderr.lines().any(|l| l == ok), "no {ok:?} in:\n{stderr}");
    }
}
