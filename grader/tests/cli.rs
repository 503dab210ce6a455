//! The `grader` binary end to end, with a fake QEMU (tests/fake-qemu) that
//! replays recorded console sessions: scores, exit statuses, reports, spec
//! errors, filters, two graders at once, replays, calibrated timeouts and a
//! console that floods. Time bounds here are loose (a loaded 2-core machine
//! runs them): they only tell "ended at the deadline" from "waited for
//! something else".

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
            // This machine's measured speed must not scale these timeouts.
            .env("GRADER_CACHE_DIR", self.path("cache"))
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
    let log = out
        .lines()
        .find_map(|l| l.strip_prefix("    console log: "))
        .unwrap_or_else(|| panic!("no console log line in {out}"));
    // Each grader's own directory, whose lab directory is also the latest.
    assert!(
        log.starts_with("out/grade/runs/") && log.ends_with("/demo/shell.log"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(tree.path(log)).unwrap(),
        std::fs::read_to_string(tree.path("out/grade/demo/shell.log")).unwrap()
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
    // The run took its 1 s timeout, and a little more on a busy machine.
    let took_echo: f64 = out
        .split("== Test echo == echo: TIMEOUT (")
        .nth(1)
        .and_then(|r| r.split("s)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no timed-out echo in {out}"));
    assert!((1.0..5.0).contains(&took_echo), "{took_echo}");
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
    // Both runs end at 1 s or before; waiting for the unscaled 10 s
    // timeout would be a bug.
    assert!(took < Duration::from_secs(9), "timeout 1s, took {took:?}");
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
    let junit = quick_junit::Report::deserialize_from_str(&read("r.xml")).unwrap();
    let suite = &junit.test_suites[0];
    assert_eq!(
        (suite.name.as_str(), suite.tests, suite.failures),
        ("demo", 4, 0)
    );
    assert_eq!(suite.test_cases[3].name.as_str(), "stats: copyinstr");
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
    let err = stderr(&o);
    assert!(
        err.starts_with("grader: no test of demo matches \"nothing-like-this\" (`grader --root ")
            && err.ends_with(" --list demo` lists them)\n"),
        "{err}"
    );
}

/// DEMO with the stats parts scored only when echo passed.
fn demo_requiring_echo() -> String {
    DEMO.replace(
        "name = \"stats\"\nrun = \"stats\"\n",
        "name = \"stats\"\nrun = \"stats\"\nrequires = [\"echo\"]\n",
    )
}

#[test]
fn a_test_that_requires_another_scores_only_when_that_one_passed() {
    let spec = demo_requiring_echo();
    assert!(spec.contains("requires"));
    let tree = Tree::new(&[("demo", &spec)], &demo_session(1));
    let o = tree.grade(&["demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("Score: 12/12\n"), "{}", stdout(&o));

    // echo fails: the stats parts are SKIPPED, and with one QEMU at a time
    // their run is not booted at all.
    let broken = demo_session(1).replace("hello\n$", "hellp\n$");
    tree.session(&broken);
    let o = tree.grade(&["demo", "--seed", "1", "-j", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("stats: copyin: SKIPPED"), "{out}");
    assert!(
        out.contains("    not scored: it needs \"echo\" to pass first"),
        "{out}"
    );
    assert!(out.ends_with("Score: 3/12\n"), "{out}");
    assert!(!tree.path("out/grade/demo/stats.log").exists(), "{out}");

    // Several at once: it may start before echo is judged, but scores 0.
    let o = tree.grade(&["demo", "--seed", "1", "-j", "4"]);
    assert!(stdout(&o).ends_with("Score: 3/12\n"), "{}", stdout(&o));

    // MIT's way: every test on its own.
    let o = tree.grade(&["demo", "--seed", "1", "--no-requires"]);
    let out = stdout(&o);
    assert!(out.contains("stats: copyin: OK"), "{out}");
    assert!(out.ends_with("Score: 7/12\n"), "{out}");

    // Selecting a test selects what it requires.
    let o = tree.grade(&["demo", "--seed", "1", "copyinstr"]);
    let out = stdout(&o);
    assert!(out.contains("echo: FAIL"), "{out}");
    assert!(out.ends_with("Score: 0/7\n"), "{out}");
}

#[test]
fn requires_names_only_earlier_tests() {
    let later = DEMO.replace(
        "name = \"echo\"\npoints = 5\n",
        "name = \"echo\"\npoints = 5\nrequires = [\"random\"]\n",
    );
    let own = DEMO.replace(
        "name = \"copyin\"\n",
        "name = \"copyin\"\nrequires = [\"stats\"]\n",
    );
    let part = demo_requiring_echo().replace("[\"echo\"]", "[\"stats: copyin\"]");
    for (spec, wanted) in [
        (later, "\"random\" is no test written before \"echo\""),
        (own, "a part cannot require its own test \"stats\""),
    ] {
        let err = grader::spec::parse(&spec, "labs/demo.toml", 1).unwrap_err();
        assert!(err.to_string().contains(wanted), "{err}");
        assert!(err.line.is_some(), "{err}");
    }
    // A part by its full name, earlier in the spec: stats requires its own
    // part, which comes after it.
    assert!(grader::spec::parse(&part, "labs/demo.toml", 1).is_err());
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
    let cases: [(&[&str], &str); 7] = [
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
            "grader: invalid value '0' for '--jobs <N>': a number of jobs, at least 1\n`grader --help` shows how to call it\n",
        ),
        (
            &["demo", "--bogus"],
            "grader: unexpected argument '--bogus' found\n`grader --help` shows how to call it\n",
        ),
        (
            &["demo", "--cpus", "two"],
            "grader: invalid value 'two' for '--cpus <N>': harts are a number from 1 to 8\n`grader --help` shows how to call it\n",
        ),
        (
            &["demo", "--timeout-scale", "abc"],
            "grader: invalid value 'abc' for '--timeout-scale <F>': a positive number, such as 2.5\n`grader --help` shows how to call it\n",
        ),
        (
            &["demo", "--timeout-scale", "-2"],
            "grader: invalid value '-2' for '--timeout-scale <F>': a positive number, such as 2.5\n`grader --help` shows how to call it\n",
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
    assert!(stdout(&o).contains("--kernel <FILE>"));
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
    let mut session = template;
    if let Some(&bound) = spec.random.get("bound") {
        // The primes to the util spec's drawn bound.
        let primes: Vec<String> = (2..=bound)
            .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
            .map(|p| format!("prime {p}"))
            .collect();
        session = session.replace("{{primes}}", &primes.join("\n"));
    }
    for (name, value) in &spec.random {
        session = session.replace(&format!("{{{{{name}}}}}"), &value.to_string());
    }
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
    // All but "sleep, makes syscall": a recording cannot stop at a
    // breakpoint (`tests/tests/util.rs` grades it on QEMU).
    let all_but_gdb = [
        "lab-util",
        "--seed",
        "9",
        "sleep, no",
        "sleep, returns",
        "pingpong",
        "primes",
        "find",
        "xargs",
    ];
    let o = tree.command(root, &all_but_gdb).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("Score: 90/90\n"), "{}", stdout(&o));

    // A sieve that lets 9 through (tok says so), and an xargs that runs one
    // command in all.
    let (line1, line2) = (
        session.find("line 1 ").unwrap(),
        session.find("line 2 ").unwrap(),
    );
    let joined = format!(
        "{} {}",
        &session[line1..line2 - 1],
        session[line2..]
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("line 2 ")
    );
    tree.session(
        &session
            .replace(
                "tok: primes to 35\n",
                "tok: not the primes to 35 (a number out of place)\n",
            )
            .replace(
                &session[line1..line2 + session[line2..].find('\n').unwrap()],
                &joined,
            ),
    );
    let o = tree.command(root, &all_but_gdb).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("primes: FAIL")
            && out.contains("missing a line matching /^tok: primes to 35$/"),
        "{out}"
    );
    assert!(out.contains("xargs: one command per line: FAIL"), "{out}");
    assert!(out.ends_with("Score: 65/90\n"), "{out}");
}

/// Where gdb-multiarch is missing, util's gdb test is SKIPPED with the
/// reason and how to install it, never FAIL, and the others still count.
#[test]
fn without_gdb_the_syscall_test_is_skipped_not_failed() {
    let root = manifest().parent().unwrap();
    let (tree, _) = shipped("lab-util", "util-session.txt", 9);
    // A PATH with the fake QEMU's tools and no gdb-multiarch.
    let bin = tree.path("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["bash", "sleep", "cat", "kill"] {
        if let Some(p) = grader::qemu::find_in_path(tool) {
            std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
        }
    }
    let o = tree
        .command(
            root,
            &[
                "lab-util",
                "--seed",
                "9",
                "sleep, makes syscall",
                "pingpong",
            ],
        )
        .env("PATH", &bin)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("sleep, makes syscall: SKIPPED"),
        "{out}{}",
        stderr(&o)
    );
    assert!(
        out.contains("is not installed (Debian: apt-get install gdb-multiarch)"),
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("pingpong: OK"), "{out}");
    assert!(out.ends_with("Score: 20/30\n"), "{out}");
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
    let deadline = Instant::now() + Duration::from_secs(10);
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
    let deadline = Instant::now() + Duration::from_secs(20);
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

/// A registry of labs, so that specs' features are checked.
const REGISTRY: &str = "[[lab]]\nname = \"trace\"\nkernel = \"T\"\npoints = 1\neditions = []\n\
                        [[lab]]\nname = \"cow\"\nkernel = \"C\"\npoints = 1\neditions = []\n";

#[test]
fn an_unknown_feature_is_a_spec_error_not_a_failed_grade() {
    let spec = DEMO.replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nfeatures = [\"nosuch\"]",
    );
    let tree = Tree::new(&[("demo", &spec)], &demo_session(1));
    std::fs::write(tree.path("labs/registry.toml"), REGISTRY).unwrap();
    let o = tree.grade(&["demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        "grader: labs/demo.toml:4: no lab feature \"nosuch\" (the features are cow, trace)\n"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    // On the command line too.
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    std::fs::write(tree.path("labs/registry.toml"), REGISTRY).unwrap();
    let o = tree.grade(&["demo", "--features", "cow,nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "grader: --features: no lab feature \"nosuch\" (the features are cow, trace)\n"
    );
}

#[test]
fn a_broken_spec_leaves_the_others_listed_and_graded() {
    let tree = Tree::new(
        &[
            ("demo", DEMO),
            ("broken", "name = \"broken\"\ntimeout = \"1s\"\nbogus = 1\n"),
        ],
        &demo_session(1),
    );
    let o = tree.grade(&["--list"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "demo   12 points   3 tests\n");
    assert!(
        stderr(&o).starts_with("grader: labs/broken.toml:3: unknown field `bogus`"),
        "{}",
        stderr(&o)
    );
    // Grading another lab does not read it; --all grades the rest.
    let o = tree.grade(&["demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = tree.grade(&["--all", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).ends_with("Score: 12/12\n"), "{}", stdout(&o));
    assert!(stderr(&o).contains("labs/broken.toml:3:"), "{}", stderr(&o));
}

#[test]
fn a_spec_in_the_making_is_graded_from_its_path() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    std::fs::create_dir(tree.path("wip")).unwrap();
    let spec = DEMO.replace("\"demo\"", "\"lab-new\"");
    std::fs::write(tree.path("wip/lab-new.toml"), &spec).unwrap();
    let o = tree.grade(&["wip/lab-new.toml", "--seed", "1", "echo"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).ends_with("Score: 5/5\n"), "{}", stdout(&o));
    assert!(tree.path("out/grade/lab-new/shell.log").is_file());
    // Its mistakes name its path.
    std::fs::write(
        tree.path("wip/lab-new.toml"),
        spec.replace("points = 5", "points = -5"),
    )
    .unwrap();
    let o = tree.grade(&["wip/lab-new.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("grader: wip/lab-new.toml:18: "),
        "{}",
        stderr(&o)
    );
    let o = tree.grade(&["wip/nothing.toml"]);
    assert_eq!(stderr(&o), "grader: wip/nothing.toml: no such spec file\n");
}

#[test]
fn json_goes_to_any_file_and_list_counts_in_words() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    let o = tree.grade(&["--json", "report", "demo", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tree.path("report")).unwrap()).unwrap();
    assert_eq!(json["score"], 12);
    assert_eq!(json["seed"], 1);
    let one = "name = \"one\"\ntimeout = \"1s\"\n[[run]]\nid = \"r\"\ncommands = []\n\
               [[test]]\nname = \"t\"\npoints = 1\nrun = \"r\"\nmatch = 'x'\n";
    let tree = Tree::new(&[("one", one)], "");
    assert_eq!(
        stdout(&tree.grade(&["--list"])),
        "one     1 point    1 test\n"
    );
}

#[test]
fn a_failure_names_the_command_that_replays_it_and_the_replay_repeats_it() {
    let broken = demo_session(4).replace("hello\n$", "hellp\n$");
    let tree = Tree::new(&[("demo", DEMO)], &broken);
    let o = tree.grade(&["demo", "--json", "first.json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let replay = out
        .lines()
        .find_map(|l| l.strip_prefix("    replay: "))
        .unwrap_or_else(|| panic!("no replay line in {out}"));
    let seed = out
        .split("(seed ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap();
    assert!(
        replay.starts_with("grader --root ")
            && replay.ends_with(&format!(" demo --seed {seed} echo")),
        "{replay}"
    );
    // The printed command, run as printed (without --root and the files,
    // which the test passes itself), grades that test alone, alike.
    let args: Vec<&str> = replay.split(" demo ").nth(1).unwrap().split(' ').collect();
    let o2 = tree.grade(&[&["demo"], &args[..], &["--json", "again.json"]].concat());
    assert_eq!(o2.status.code(), Some(1));
    assert!(
        stdout(&o2).contains("== Test echo == echo: FAIL"),
        "{}",
        stdout(&o2)
    );
    assert!(!stdout(&o2).contains("stats"), "{}", stdout(&o2));
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(tree.path(f)).unwrap()).unwrap()
    };
    let (first, again) = (read("first.json"), read("again.json"));
    assert_eq!(first["labs"][0]["random"], again["labs"][0]["random"]);
    let log = |v: &serde_json::Value| {
        std::fs::read_to_string(tree.path(v["labs"][0]["tests"][0]["log"].as_str().unwrap()))
            .unwrap()
    };
    assert_eq!(log(&first), log(&again));
    assert_eq!(
        first["labs"][0]["tests"][0]["replay"].as_str(),
        Some(replay)
    );
}

#[test]
fn two_graders_at_once_keep_their_own_logs() {
    let tree = Tree::new(&[("demo", DEMO)], &demo_session(1));
    let other = tree.path("kernel2");
    std::fs::write(
        &other,
        demo_session(1).replace("hello\n$", "hello from two\nhello\n$"),
    )
    .unwrap();
    let children: Vec<_> = [tree.path("kernel"), other]
        .iter()
        .enumerate()
        .map(|(i, kernel)| {
            tree.command(tree.dir.path(), &["demo", "--seed", "1"])
                .arg("--kernel")
                .arg(kernel)
                .args(["--json", &format!("r{i}.json")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut logs = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tree.path(&format!("r{i}.json"))).unwrap(),
        )
        .unwrap();
        let log = json["labs"][0]["tests"][0]["log"]
            .as_str()
            .unwrap()
            .to_owned();
        logs.push((
            log.clone(),
            std::fs::read_to_string(tree.path(&log)).unwrap(),
        ));
    }
    assert_ne!(logs[0].0, logs[1].0);
    assert!(!logs[0].1.contains("hello from two"), "{}", logs[0].1);
    assert!(logs[1].1.contains("hello from two"), "{}", logs[1].1);
}

/// Writes this machine's cached speed as `times` the reference's.
fn cache_speed(tree: &Tree, times: f64) {
    use grader::calibrate;
    let dir = tree.path("cache");
    std::fs::create_dir_all(&dir).unwrap();
    let key = calibrate::machine_key();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let text = calibrate::cache_text(&key, calibrate::REFERENCE_SECONDS * times, now);
    std::fs::write(calibrate::cache_file(&dir, &key), text).unwrap();
}

#[test]
fn timeouts_follow_the_measured_speed_unless_told_otherwise() {
    let hang = "name = \"hang\"\ntimeout = \"1s\"\n[[run]]\nid = \"r\"\ncommands = [\"x\"]\n\
                [[test]]\nname = \"t\"\npoints = 1\nrun = \"r\"\nno_match = 'x'\n";
    let tree = Tree::new(&[("hang", hang)], "booting\n@@ hang\n");
    let timed_out_after = |args: &[&str]| {
        let out = stdout(&tree.grade(&[&["hang"], args].concat()));
        out.split("timed out after ")
            .nth(1)
            .and_then(|r| r.split("s waiting").next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no timeout in {out}"))
    };
    // A stand-in QEMU is never measured: no cache, scale 1.
    assert_eq!(timed_out_after(&[]), "1.0");
    cache_speed(&tree, 2.5);
    assert_eq!(timed_out_after(&[]), "2.5");
    assert_eq!(timed_out_after(&["--timeout-scale", "1.5"]), "1.5");
    // A fast machine keeps the specs' timeouts.
    cache_speed(&tree, 0.3);
    assert_eq!(timed_out_after(&[]), "1.0");
}

/// The peak resident memory (VmHWM, which exec resets) of process `pid`.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_flood_ends_with_the_output_limit_in_bounded_memory() {
    // The fake floods at pipe speed, hundreds of MB a second: without a
    // cap, the 10 s timeout would keep gigabytes.
    let tree = Tree::new(
        &[("demo", DEMO)],
        "booting\ninit: starting sh\n$ stats\n@@ flood\n",
    );
    let report = std::fs::File::create(tree.path("report.txt")).unwrap();
    let mut child = tree
        .command(tree.dir.path(), &["demo", "--seed", "1", "stats"])
        .stdout(report)
        .spawn()
        .unwrap();
    // VmHWM only grows: the last reading before the grader exits is its peak
    // but for its last few milliseconds.
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = std::fs::read_to_string(tree.path("report.txt")).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("stats: copyin: OUTPUT LIMIT"), "{out}");
    assert!(out.contains("the console passed 4 MiB"), "{out}");
    assert!(peak > 0, "never read the grader's memory");
    assert!(peak < 48 * 1024, "the grader peaked at {} MiB", peak / 1024);
    // The log keeps the first and the last 512 KiB, and a line between
    // them saying how much was not kept.
    let log = std::fs::read(tree.path("out/grade/demo/stats.log")).unwrap();
    let marker =
        regex::bytes::Regex::new(r"\n\[grader: (\d+) bytes of console output not kept here\]\n")
            .unwrap();
    let m = marker.find(&log).expect("a line for what was not kept");
    assert_eq!(m.start(), 512 << 10, "the head kept");
    assert_eq!(log.len() - m.end(), 512 << 10, "the tail kept");
    assert!(log.starts_with(b"booting\ninit: starting sh\n$ stats\n"));
    let tail = String::from_utf8_lossy(&log[m.end()..]);
    assert!(
        tail.lines()
            .all(|l| "a kernel that prints and prints and prints".contains(l)),
        "the tail is the flood's end"
    );
}

#[test]
fn a_kernel_that_never_reaches_its_shell_costs_the_boot_timeout_once() {
    // Two runs of 100 s; at --timeout-scale 0.1 their timeouts are 10 s and
    // the boot timeout 3 s. The first run ends at 3 s, the second is not run.
    let spec = DEMO.replace("timeout = \"10s\"", "timeout = \"100s\"");
    let tree = Tree::new(&[("demo", &spec)], "booting\n@@ hang\n");
    let start = Instant::now();
    let o = tree.grade(&["demo", "--seed", "1", "--timeout-scale", "0.1", "-j", "1"]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    for test in ["echo", "random", "stats: copyin", "stats: copyinstr"] {
        assert!(out.contains(&format!("{test}: TIMEOUT")), "{test}: {out}");
    }
    assert!(out.contains("no shell prompt within 3s of boot"), "{out}");
    assert!(
        out.contains(
            "not run: the kernel did not boot in an earlier run (no shell prompt within 3s of boot)"
        ),
        "{out}"
    );
    assert!(out.contains("   1 | booting"), "the console shown: {out}");
    assert!(out.ends_with("Score: 0/12\n"), "{out}");
    // 3 s and a little more on a busy machine; 10 s would be the run's
    // timeout, 20 s both runs'.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    // Several at once: each started run ends at its boot timeout.
    let start = Instant::now();
    let o = tree.grade(&["demo", "--seed", "1", "--timeout-scale", "0.1", "-j", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no shell prompt within 3s of boot"));
    assert!(
        start.elapsed() < Duration::from_secs(9),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn one_at_a_time_the_short_runs_go_first_and_show_their_results_at_once() {
    // The spec's first run is long (it sleeps 3 s), its second is quick.
    let spec = DEMO.replace("id = \"shell\"", "id = \"shell\"\ntimeout = \"30s\"");
    let session = demo_session(1)
        .replace("hello\n$", "hello\n@@ sleep 3\n$")
        .replace("copyinstr: 3", "copyinstr: none");
    let tree = Tree::new(&[("demo", &spec)], &session);
    let o = tree
        .command(tree.dir.path(), &["demo", "--seed", "1", "-j", "1"])
        .env("GRADER_EARLY", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    // The quick run's results were shown while the long run went on …
    assert!(err.contains("demo: stats: copyin: OK"), "{err}");
    // (With its time when the machine was slow enough for one.)
    assert!(
        err.lines()
            .any(|l| l.starts_with("demo: stats: copyinstr: FAIL")
                && l.ends_with("(details in the report)")),
        "{err}"
    );
    // … and the report keeps the spec's order.
    let echo = out.find("echo: OK").expect("echo in the report");
    let copyin = out.find("stats: copyin: OK").expect("copyin in the report");
    assert!(echo < copyin, "{out}");
    // The long run started last: its log is the newer.
    let modified = |run: &str| {
        std::fs::metadata(tree.path(&format!("out/grade/demo/{run}.log")))
            .and_then(|m| m.modified())
            .unwrap()
    };
    assert!(modified("stats") < modified("shell"));
}

/// A spec of host runs only: its programs are the scripts of `bin/`.
const HOST: &str = r#"
name = "host"
timeout = "20s"

[random]
n = { min = 10, max = 99 }

[[run]]
id = "hello"
host = true
commands = ["hello {{n}}", "hello again"]

[[run]]
id = "hang"
host = true
commands = ["hang"]
timeout = "1s"

[[run]]
id = "many"
host = true
commands = ["hello many"]
cores = 4096

[[test]]
name = "hello"
points = 3
run = "hello"
untrusted = true
match = ['^hello {{n}}$', '^hello again$', '^to stderr$']

[[test]]
name = "hang"
points = 2
run = "hang"
untrusted = true
match = '^never$'

[[test]]
name = "many cores"
points = 1
run = "many"
untrusted = true
match = '^hello many$'
"#;

#[test]
fn host_runs_start_programs_with_a_timeout_and_say_when_cores_are_missing() {
    let tree = Tree::new(&[("host", HOST)], "");
    let bin = tree.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = |name: &str, text: &str| {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    script(
        "hello",
        "#!/bin/sh\necho hello \"$1\"\necho to stderr >&2\n",
    );
    // A program that never ends, with a child that would outlive it.
    script("hang", "#!/bin/sh\nsleep 600 &\necho started $!\nwait\n");

    // Without the programs, a clear error, not a grade.
    let o = tree.grade(&["host", "--seed", "4"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("pass --host-bin DIR"), "{}", stderr(&o));

    let o = tree.grade(&["host", "--seed", "4", "--host-bin", bin.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("hello: OK"), "{out}");
    assert!(out.contains("hang: TIMEOUT"), "{out}");
    assert!(out.contains("waiting for `hang` to exit"), "{out}");
    assert!(out.contains("many cores: NEEDS CORES"), "{out}");
    assert!(out.contains("needs 4096 host cores"), "{out}");
    assert!(out.contains("Score: 3/6"), "{out}");
    // The console of a host run, as a log.
    let log = std::fs::read_to_string(tree.path("out/grade/host/hello.log")).unwrap();
    let n = grader::spec::parse(HOST, "labs/host.toml", 4)
        .unwrap()
        .random["n"];
    assert!(
        log.starts_with(&format!("$ hello {n}\nhello {n}\n")),
        "{log}"
    );
    assert!(log.contains("$ hello again\n"), "{log}");
    // The timeout ended the program's own child too.
    let hang = std::fs::read_to_string(tree.path("out/grade/host/hang.log")).unwrap();
    let child: i32 = hang
        .lines()
        .find_map(|l| l.strip_prefix("started "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{hang}"));
    // Gone, or a zombie waiting for whoever reaps orphans here (a killed
    // process takes a moment to die on a loaded machine).
    let alive = || {
        std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !alive(),
        "the hanging program's child {child} outlived the run"
    );
    // The replay line names the programs' directory.
    assert!(out.contains("--host-bin"), "{out}");
}
