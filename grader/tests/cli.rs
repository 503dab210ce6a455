//! The `grader` binary end to end, with a fake QEMU (tests/fake-qemu) that
//! replays recorded console sessions: scores, exit statuses, reports, spec
//! errors, filters, and two graders at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch tree: `labs/` with specs, a fake kernel (a console session)
/// and disk, and the target directory.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(specs: &[(&str, &str)], session: &str) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("labs")).unwrap();
        for (name, text) in specs {
            std::fs::write(dir.path().join(format!("labs/{name}.toml")), text).unwrap();
        }
        let tree = Tree { dir };
        tree.session(session);
        std::fs::write(tree.path("fs.img"), "").unwrap();
        tree
    }

    fn session(&self, text: &str) {
        std::fs::write(self.path("kernel"), text).unwrap();
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn command(&self, root: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_grader"));
        c.arg("--root")
            .arg(root)
            .arg("--kernel")
            .arg(self.path("kernel"))
            .arg("--fs")
            .arg(self.path("fs.img"))
            .args(args)
            .env("GRADER_QEMU", manifest().join("tests/fake-qemu"))
            .env("CARGO_TARGET_DIR", self.path("out"))
            .env_remove("NO_COLOR")
            .current_dir(self.dir.path());
        c
    }

    /// Runs the grader on this tree's specs.
    fn grade(&self, args: &[&str]) -> Output {
        self.command(self.dir.path(), args).output().unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const DEMO: &str = r#"
name = "demo"
timeout = "10s"

[random]
n = { min = 1, max = 9 }

[[run]]
id = "shell"
commands = ["echo hello | cat", "echo {{n}}"]

[[run]]
id = "stats"
commands = ["stats"]

[[test]]
name = "echo"
points = 5
run = "shell"
match = '^hello$'
no_match = '^panic: '

[[test]]
name = "random"
points = 3
run = "shell"
count = { regex = '^{{n}}$', times = 1 }

[[test]]
name = "stats"
run = "stats"

[[test.part]]
name = "copyin"
points = 2
match = '^copyin: \d+$'

[[test.part]]
name = "copyinstr"
points = 2
match = '^copyinstr: \d+$'
"#;

/// The demo session with `{{n}}` as `seed` draws it.
fn demo_session(seed: u64) -> String {
    let spec = grader::spec::parse(DEMO, "labs/demo.toml", seed).unwrap();
    let n = spec.random["n"];
    format!(
        "xv6 kernel is booting\ninit: starting sh\n$ echo hello | cat\nhello\n$ echo {n}\n{n}\n\
         $ stats\ncopyin: 12\ncopyinstr: 3\n$ "
    )
}

#[test]
fn full_marks_exit_zero_and_save_the_console() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    // A relative target directory is relative to the root.
    let o = tree
        .command(tree.dir.path(), &["demo", "--seed", "1"])
        .env("CARGO_TARGET_DIR", "out")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("== Test echo == echo: OK"), "{out}");
    assert!(
        out.contains("== Test   stats: copyin == stats: copyin: OK"),
        "{out}"
    );
    assert!(out.contains("random: n="), "{out}");
    assert!(out.contains("(seed 1; `--seed 1` repeats them)"), "{out}");
    assert!(out.ends_with("Score: 12/12\n"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when not a terminal");
    let log = std::fs::read_to_string(tree.path("out/grade/demo/shell.log")).unwrap();
    assert!(
        log.starts_with("xv6 kernel is booting\n") && log.ends_with("$ "),
        "{log}"
    );
    assert!(tree.path("out/grade/demo/stats.log").is_file());
}

#[test]
fn a_broken_kernel_scores_less_and_says_why() {
    let broken = demo_session(1)
        .replace("hello\n$", "hellp\n$")
        .replace("copyinstr: 3\n", "");
    let tree = Tree::new(&[("demo", DEMO)], &broken);
    let o = tree.grade(&["demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("== Test echo == echo: FAIL"), "{out}");
    assert!(
        out.contains("    missing a line matching /^hello$/"),
        "{out}"
    );
    assert!(out.contains("        4 | hellp\n"), "{out}");
    assert!(
        out.contains("    console log: out/grade/demo/shell.log"),
        "{out}"
    );
    assert!(out.contains("stats: copyinstr: FAIL"), "{out}");
    assert!(out.contains("stats: copyin: OK"), "{out}");
    assert!(out.ends_with("Score: 5/12\n"), "{out}");
}

#[test]
fn a_hang_is_a_timeout_and_a_panic_ends_at_once() {
    let session = demo_session(1)
        .replace("hello\n$", "hello\n@@ hang\n$")
        .replace(
            "copyin: 12\n",
            "copyin: 12\npanic: freeing free page (hart 0)\n@@ hang\n",
        );
    let tree = Tree::new(&[("demo", DEMO)], &session);
    let start = Instant::now();
    let o = tree.grade(&["demo", "--seed", "1", "--timeout-scale", "0.1"]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    // echo's match had appeared, but its no_match cannot be trusted on a
    // cut-short console; random's output never came.
    assert!(
        out.contains("== Test echo == echo: TIMEOUT (1.0s)"),
        "{out}"
    );
    assert!(
        out.contains(
            "timed out after 1.0s waiting for the prompt after `echo hello | cat` (command 1 of 2)"
        ),
        "{out}"
    );
    assert!(out.contains("random: TIMEOUT"), "{out}");
    // What had appeared before the panic still counts.
    assert!(out.contains("stats: copyin: OK"), "{out}");
    assert!(out.contains("stats: copyinstr: PANIC"), "{out}");
    assert!(
        out.contains("the kernel panicked: panic: freeing free page (hart 0)"),
        "{out}"
    );
    assert!(out.ends_with("Score: 2/12\n"), "{out}");
    assert!(took < Duration::from_secs(3), "timeout 1s, took {took:?}");
}

#[test]
fn machine_reports() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(2));
    let o = tree.grade(&[
        "demo",
        "--seed",
        "2",
        "--json",
        "r.json",
        "--junit",
        "r.xml",
        "--gradescope",
        "results.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let read = |f: &str| std::fs::read_to_string(tree.path(f)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&read("r.json")).unwrap();
    assert_eq!(json["score"], 12);
    assert_eq!(json["labs"][0]["seed"], 2);
    assert_eq!(
        json["labs"][0]["tests"][2]["parts"][1]["name"],
        "stats: copyinstr"
    );
    let gradescope: serde_json::Value = serde_json::from_str(&read("results.json")).unwrap();
    assert_eq!(gradescope["tests"].as_array().unwrap().len(), 4);
    assert_eq!(gradescope["tests"][0]["status"], "passed");
    let junit = read("r.xml");
    assert!(
        junit.contains("<testsuite name=\"demo\" tests=\"4\" failures=\"0\""),
        "{junit}"
    );
}

#[test]
fn json_on_stdout_moves_the_text_to_stderr() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    let o = tree.grade(&["--json", "demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["max_score"], 12);
    assert!(stderr(&o).contains("Score: 12/12"));
}

#[test]
fn filters_grade_only_matching_tests_and_boot_only_their_runs() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    let o = tree.grade(&["demo", "--seed", "1", "COPYINSTR"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("echo"), "{out}");
    assert!(!out.contains("stats: copyin:"), "{out}");
    assert!(out.ends_with("stats: copyinstr: OK\nScore: 2/2\n"), "{out}");
    assert!(!tree.path("out/grade/demo/shell.log").exists());
    let o = tree.grade(&["demo", "nothing-like-this"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "grader: no test of demo matches \"nothing-like-this\" (`grader --list demo` lists them)\n"
    );
}

#[test]
fn list_shows_labs_and_points() {
    let tree = Tree::new(
        &[
            ("demo", DEMO),
            ("other", &DEMO.replace("\"demo\"", "\"other\"")),
        ],
        "",
    );
    let o = tree.grade(&["--list"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "demo    12 points   3 tests\nother   12 points   3 tests\n"
    );
    let o = tree.grade(&["--list", "other"]);
    assert!(
        stdout(&o).contains("      2    stats: copyinstr\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn spec_mistakes_are_one_line_with_file_and_line() {
    let cases = [
        (
            DEMO.replace("timeout = \"10s\"", "timeout = \"10s\"\ntimeuot = \"1s\""),
            "grader: labs/demo.toml:4: unknown field `timeuot`, expected one of",
        ),
        (
            DEMO.replace("'^hello$'", "'^hel(lo$'"),
            "grader: labs/demo.toml:20: bad regex '^hel(lo$': unclosed group",
        ),
        (
            DEMO.replace("points = 3\n", ""),
            "grader: labs/demo.toml:24: test \"random\" needs `points`",
        ),
        (
            DEMO.replace("id = \"stats\"\n", ""),
            "grader: labs/demo.toml:12: missing field `id`",
        ),
        (
            DEMO.replace("commands = [\"stats\"]", "commands = \"stats\""),
            "grader: labs/demo.toml:14: invalid type: string \"stats\", expected a sequence",
        ),
    ];
    for (text, want) in cases {
        let tree = Tree::new(&[("demo", &text)], "");
        let o = tree.grade(&["demo"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.starts_with(want), "want {want:?}, got {err:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn unknown_labs_and_bad_usage_exit_2() {
    let tree = Tree::new(&[("demo", DEMO)], "");
    let cases: [(&[&str], &str); 5] = [
        (
            &["nope"],
            "grader: unknown lab \"nope\"; known labs: demo\n",
        ),
        (
            &[],
            "grader: name a lab to grade (known labs: demo), or use --all or --list\n",
        ),
        (
            &["demo", "--jobs", "0"],
            "grader: --jobs must be at least 1\n",
        ),
        (
            &["demo", "--bogus"],
            "grader: invalid option '--bogus' (see --help)\n",
        ),
        (
            &["demo", "--cpus", "two"],
            "grader: cannot parse argument \"two\": invalid digit found in string (see --help)\n",
        ),
    ];
    for (args, want) in cases {
        let o = tree.grade(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o), want, "{args:?}");
    }
    // A later --kernel wins over the one the tree passes.
    let o = tree.grade(&["demo", "--kernel", "/nonexistent/kernel"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "grader: --kernel /nonexistent/kernel: no such file\n"
    );
    let o = tree.grade(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Usage: grader [OPTIONS] <LAB>... [TEST]..."));
    assert!(stdout(&o).contains("--kernel FILE"));
}

#[test]
fn a_second_kernel_configuration_is_refused_by_the_standalone_grader() {
    let other = DEMO.replace("\"demo\"", "\"other\"").replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nfeatures = [\"cow\"]",
    );
    let tree = Tree::new(&[("demo", DEMO), ("other", &other)], &demo_session(1));
    let o = tree.grade(&["--all", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "grader: other: the --kernel given is one build, already used for features []"
        ),
        "{err}"
    );
    let out = stdout(&o);
    assert!(
        out.contains("=== demo ===") && out.contains("=== other ==="),
        "{out}"
    );
    assert!(
        out.contains("the kernel was not built: the --kernel given is one build"),
        "{out}"
    );
    assert!(out.ends_with("Score: 0/12\nTotal: 12/24\n"), "{out}");
}

#[test]
fn features_replace_every_specs_own() {
    let other = DEMO.replace("\"demo\"", "\"other\"").replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nfeatures = [\"cow\"]",
    );
    let tree = Tree::new(&[("demo", DEMO), ("other", &other)], &demo_session(1));
    // One configuration for both specs: the standalone grader accepts it.
    for features in ["trace,cow", ""] {
        let o = tree.grade(&["--all", "--seed", "1", "--features", features]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).ends_with("Total: 24/24\n"), "{}", stdout(&o));
    }
}

#[test]
fn two_graders_at_once_do_not_disturb_each_other() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    let children: Vec<_> = (0..2)
        .map(|_| {
            tree.command(tree.dir.path(), &["demo", "--seed", "1"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).ends_with("Score: 12/12\n"));
    }
    let log = std::fs::read_to_string(tree.path("out/grade/demo/shell.log")).unwrap();
    assert_eq!(
        log,
        demo_session(1).split("$ stats").next().unwrap().to_owned() + "$ "
    );
    let leftovers: Vec<_> = std::fs::read_dir(tree.path("out/grade/demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The shipped specs, on recorded sessions of a working kernel.
fn shipped(lab: &str, session_file: &str, seed: u64) -> (Tree, String) {
    let root = manifest().parent().unwrap();
    let spec = grader::spec::load(root, lab, seed).unwrap();
    let template =
        std::fs::read_to_string(manifest().join("tests/data").join(session_file)).unwrap();
    let session = template.replace("{{n}}", &spec.random["n"].to_string());
    (Tree::new(&[], &session), session)
}

#[test]
fn the_base_spec_gives_full_marks_to_a_working_kernel() {
    let root = manifest().parent().unwrap();
    let (tree, session) = shipped("base", "base-session.txt", 5);
    let o = tree
        .command(root, &["base", "--seed", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("Score: 100/100\n"), "{}", stdout(&o));

    tree.session(&session.replace("fork test OK", "fork test failed"));
    let o = tree
        .command(root, &["base", "--seed", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("forktest: FAIL") && out.contains("missing a line matching /^fork test OK$/"),
        "{out}"
    );
    assert!(out.ends_with("Score: 90/100\n"), "{out}");
}

#[test]
fn the_util_spec_gives_full_marks_to_a_working_solution() {
    let root = manifest().parent().unwrap();
    let (tree, session) = shipped("lab-util", "util-session.txt", 9);
    let o = tree
        .command(root, &["lab-util", "--seed", "9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("Score: 90/90\n"), "{}", stdout(&o));

    // A sieve that lets 9 through, and an xargs that runs one command in all.
    tree.session(
        &session
            .replace("prime 11\n", "prime 9\nprime 11\n")
            .replace("line 1\nline 2", "line 1 2"),
    );
    let o = tree
        .command(root, &["lab-util", "--seed", "9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("primes: FAIL") && out.contains("unexpected line"),
        "{out}"
    );
    assert!(out.contains("xargs: one command per line: FAIL"), "{out}");
    assert!(out.ends_with("Score: 65/90\n"), "{out}");
}

/// The pids the fake QEMU recorded: its own and its child's.
fn fake_pids(tree: &Tree) -> Vec<u32> {
    std::fs::read_to_string(tree.path("fs.img"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Whether `pid` is a live process (zombies, which only their reaper can
/// clear, count as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next())
            != Some("Z")
    })
}

fn wait_until_gone(pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| alive(p)) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Starts the grader on a session that hangs, once QEMU is up.
fn grader_on_a_hang(tree: &Tree) -> std::process::Child {
    let child = tree
        .command(tree.dir.path(), &["demo", "--seed", "1", "echo"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake_pids(tree).len() < 2 {
        assert!(Instant::now() < deadline, "the fake QEMU did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {name} failed");
}

#[test]
fn ctrl_c_stops_every_qemu() {
    let tree = Tree::new(&[("demo", DEMO)], "booting\n@@ hang\n");
    let child = grader_on_a_hang(&tree);
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    assert_eq!(stderr(&o), "grader: interrupted; stopped 1 QEMU run(s)\n");
    let pids = fake_pids(&tree);
    assert!(wait_until_gone(&pids), "left running: {pids:?}");
}

#[test]
fn qemu_dies_with_a_killed_grader() {
    let tree = Tree::new(&[("demo", DEMO)], "booting\n@@ hang\n");
    let mut child = grader_on_a_hang(&tree);
    signal(&child, "-KILL");
    child.wait().unwrap();
    let pids = fake_pids(&tree);
    // The kernel kills QEMU itself (the fake's shell); the fake's own
    // child is not QEMU's business, so the test cleans it up.
    let gone = wait_until_gone(&pids[..1]);
    let _ = Command::new("kill").arg(pids[1].to_string()).status();
    assert!(gone, "QEMU outlived the grader: {pids:?}");
}
