//! Student starters and hand-ins: `cargo xtask handout` cuts every
//! solution out (checked here with a reading of the markers of its own),
//! `check-starters` proves each starter fails only its lab's own tests, and
//! `handin` packs only a committed tree with what the lab asks for.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use tests::{cargo, own_lines, root, run, xtask};

/// The markers, spelled out here in pieces so that this file holds none.
fn is_marker(line: &str) -> bool {
    let t = line.trim();
    let solution = ["// BEGIN", "// END"].map(|m| format!("{m} SOLUTION"));
    solution.iter().any(|m| t == m)
        || t == format!("// {} FILE", "SOLUTION")
        || t.starts_with(&format!("// {}:", "STARTER"))
}

fn is_begin(line: &str) -> bool {
    line.trim() == format!("// BEGIN {}", "SOLUTION")
}

fn is_end(line: &str) -> bool {
    line.trim() == format!("// END {}", "SOLUTION")
}

fn tracked(dir: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-files"])
        .output()
        .unwrap();
    assert!(out.status.success(), "git ls-files in {}", dir.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=student",
            "-c",
            "user.email=student@example.com",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a user sees of a failed command: a few lines, no Rust panic.
fn assert_clean_error(out: &Output, stderr: &str, status: i32) {
    assert_eq!(out.status.code(), Some(status), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

/// `cargo xtask handout --all --out <new dir>` (a git repository).
fn student_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tree");
    let (o, stdout, stderr) = run(xtask(&["handout", "--all", "--out", out.to_str().unwrap()]));
    assert!(o.status.success(), "handout failed:\n{stdout}{stderr}");
    dir
}

#[test]
fn handout_cuts_every_solution_and_nothing_else() {
    let dir = student_tree();
    let out = dir.path().join("tree");
    let repo = root();
    let files = tracked(&repo);

    // Read the markers of the repository: the solution lines of every lab,
    // and the lines of Rust code that stay (outside any region), among
    // which a solution line is ordinary code, not a leak.
    let mut solution: Vec<(String, String)> = Vec::new();
    let mut staying = BTreeSet::new();
    let mut solution_files = Vec::new();
    let mut lab_files = BTreeSet::new();
    for f in files.iter().filter(|f| f.ends_with(".rs")) {
        let Ok(text) = std::fs::read_to_string(repo.join(f)) else {
            continue;
        };
        let whole = text
            .lines()
            .any(|l| l.trim() == format!("// {} FILE", "SOLUTION"));
        if whole {
            solution_files.push(f.clone());
        }
        let mut inside = false;
        let mut marked = whole;
        for (i, line) in text.lines().enumerate() {
            if is_begin(line) {
                inside = true;
                marked = true;
            } else if is_end(line) {
                inside = false;
            } else if whole || inside {
                let t = line.trim();
                if t.chars().filter(|c| c.is_alphanumeric()).count() >= 3 {
                    solution.push((t.to_string(), format!("{f}:{}", i + 1)));
                }
            } else if !is_marker(line) {
                staying.insert(line.trim().to_string());
            }
        }
        if marked {
            lab_files.insert(f.clone());
        }
    }
    solution.retain(|(l, _)| !staying.contains(l));
    assert!(
        solution.len() > 200,
        "only {} solution lines found: are the markers still read?",
        solution.len()
    );
    // Every lab has its files marked; the programs students write from
    // nothing (util's) are solution files.
    for lab in &tests::registry().labs {
        for f in lab.files() {
            assert!(lab_files.contains(&f), "{}: {f}", lab.name);
        }
    }
    for p in &tests::registry().lab("util").expect("util is a lab").user {
        assert!(
            solution_files.contains(&format!("user/src/bin/{p}.rs")),
            "{p}"
        );
    }

    // The tree: a fresh repository with one commit, the tracked files
    // less the solution files, and no line of a solution anywhere.
    let commits = git(&out, &["rev-list", "--count", "HEAD"]);
    assert_eq!(commits.trim(), "1", "history was carried over");
    // The classroom workflow and the record of the test files' hashes it
    // checks are the files handout adds.
    let workflow = ".github/workflows/grade.yml".to_string();
    let record = ".github/trusted-files.sha256".to_string();
    let mut expected: Vec<&String> = files
        .iter()
        .filter(|f| !solution_files.contains(f))
        .chain([&workflow, &record])
        .collect();
    expected.sort();
    let got = tracked(&out);
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);
    // target/ only holds handout's list of what it wrote.
    let in_target: Vec<_> = std::fs::read_dir(out.join("target"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(in_target, ["handout-files.txt"]);
    for f in got.iter().filter(|f| **f != workflow && **f != record) {
        let bytes = std::fs::read(out.join(f)).unwrap();
        let original = std::fs::read(repo.join(f)).unwrap();
        if !lab_files.contains(f) {
            assert!(bytes == original, "{f} changed in the starter");
            continue;
        }
        assert!(bytes != original, "{f} is its solution in the starter");
        let text = String::from_utf8(bytes).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert!(!is_marker(line), "{f}:{}: a marker is left", i + 1);
        }
    }
    for f in &got {
        let Ok(text) = std::fs::read_to_string(out.join(f)) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if let Some((_, from)) = solution.iter().find(|(l, _)| l == line.trim()) {
                panic!(
                    "{f}:{}: `{}` is solution code from {from}",
                    i + 1,
                    line.trim()
                );
            }
        }
    }
    // The starter text is there instead.
    let cow = std::fs::read_to_string(out.join("labs/src/cow.rs")).unwrap();
    assert!(cow.contains("        Fault::NotMine\n") && !cow.contains("fn share("));
    let trace = std::fs::read_to_string(out.join("labs/src/trace.rs")).unwrap();
    assert!(trace.contains("todo!(\"trace: remember the mask"));
}

#[test]
fn handout_names_its_labs_keeps_solved_ones_and_refuses_bad_calls() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("cow");
    let (o, stdout, stderr) = run(xtask(&[
        "handout",
        "lab-cow",
        "--solved",
        "lazy",
        "--out",
        one.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("reference solutions kept (--solved): lazy"),
        "{stderr}"
    );
    let message = git(&one, &["log", "-1", "--format=%s"]);
    assert_eq!(message.trim(), "Starter for lab cow");
    let lazy = std::fs::read(one.join("labs/src/lazy.rs")).unwrap();
    assert_eq!(
        lazy,
        std::fs::read(root().join("labs/src/lazy.rs")).unwrap()
    );
    let cow = std::fs::read(one.join("labs/src/cow.rs")).unwrap();
    assert_ne!(cow, std::fs::read(root().join("labs/src/cow.rs")).unwrap());
    // Other labs are starters too.
    let trace = std::fs::read_to_string(one.join("labs/src/trace.rs")).unwrap();
    assert!(trace.contains("todo!("), "{trace}");

    // Written again, the tree is updated in place.
    let (o, _, stderr) = run(xtask(&["handout", "cow", "--out", one.to_str().unwrap()]));
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("(1 written, 0 removed)"), "{stderr}");
    assert!(stderr.contains(".git left as it was"), "{stderr}");

    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "mine").unwrap();
    let mine = mine.to_str().unwrap();
    for (args, want) in [
        (vec!["handout", "--all"], "--out DIR"),
        (vec!["handout", "--out", mine], "name the labs"),
        (
            vec!["handout", "--all", "--out", mine],
            "not empty and not a tree handout wrote",
        ),
        (
            vec!["handout", "nolab", "--out", "x"],
            "unknown lab `nolab`",
        ),
        (
            vec!["handout", "cow", "--solved", "cow", "--out", "x"],
            "both a starter and --solved",
        ),
        (vec!["handout", "--all", "--frob", "--out", "x"], "--frob"),
    ] {
        let (o, _, stderr) = run(xtask(&args));
        assert_clean_error(&o, &stderr, 2);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(own_lines(&stderr).count() <= 2, "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine/notes.txt")).unwrap(),
        "mine"
    );
}

/// `cargo xtask handin <args> --tree <tree>`.
fn handin(tree: &Path, args: &[&str]) -> (Output, String, String) {
    let mut all = vec!["handin"];
    all.extend_from_slice(args);
    all.extend(["--tree", tree.to_str().unwrap()]);
    run(xtask(&all))
}

fn commit(tree: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(tree.join(name), text).unwrap();
        git(tree, &["add", name]);
    }
    git(tree, &["commit", "-q", "-m", "work"]);
}

#[test]
fn handin_refuses_uncommitted_work() {
    let dir = student_tree();
    let tree = dir.path().join("tree");
    commit(&tree, &[("time.txt", "6\n")]);
    std::fs::write(tree.join("labs/src/cow.rs"), "// my work\n").unwrap();
    let (o, _, stderr) = handin(&tree, &["cow"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(
        stderr.contains("uncommitted changes in labs/src/cow.rs"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was packed"), "{stderr}");
    assert!(!tree.join("target/lab-cow-handin.zip").exists());
    // Staged is not committed either.
    git(&tree, &["add", "labs/src/cow.rs"]);
    let (o, _, stderr) = handin(&tree, &["cow"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(stderr.contains("uncommitted changes"), "{stderr}");
}

#[test]
fn handin_wants_answers_and_the_time_spent() {
    let dir = student_tree();
    let tree = dir.path().join("tree");
    let (o, _, stderr) = handin(&tree, &["pgtbl"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(stderr.contains("answers-pgtbl.txt is missing"), "{stderr}");
    assert!(stderr.contains("time.txt is missing"), "{stderr}");

    std::fs::write(tree.join("answers-pgtbl.txt"), "page 0 holds the text").unwrap();
    let (o, _, stderr) = handin(&tree, &["pgtbl"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(
        stderr.contains("answers-pgtbl.txt is not committed: git add answers-pgtbl.txt"),
        "{stderr}"
    );

    commit(
        &tree,
        &[
            ("answers-pgtbl.txt", " short \n"),
            ("time.txt", "about 5\n"),
        ],
    );
    let (o, _, stderr) = handin(&tree, &["lab-pgtbl"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(
        stderr.contains("answers-pgtbl.txt holds 5 characters"),
        "{stderr}"
    );
    assert!(
        stderr.contains("time.txt must hold one integer") && stderr.contains("`about 5`"),
        "{stderr}"
    );
    // The traps labs share one answers file; cow has no questions.
    let (_, _, stderr) = handin(&tree, &["alarm"]);
    assert!(stderr.contains("answers-traps.txt is missing"), "{stderr}");
    let (_, _, stderr) = handin(&tree, &["cow"]);
    assert!(!stderr.contains("answers-"), "{stderr}");

    // The util lab: the programs are the student's to write.
    let (o, _, stderr) = handin(&tree, &["util"]);
    assert_clean_error(&o, &stderr, 1);
    assert!(
        stderr.contains("user/src/bin/sleep.rs is missing"),
        "{stderr}"
    );

    for args in [&["nosuch"][..], &[], &["cow", "pgtbl"], &["all"]] {
        let (o, _, stderr) = handin(&tree, args);
        assert_clean_error(&o, &stderr, 2);
    }
    let not_git = tempfile::tempdir().unwrap();
    let (o, _, stderr) = handin(not_git.path(), &["cow"]);
    assert_clean_error(&o, &stderr, 2);
    assert!(stderr.contains("is not a git repository"), "{stderr}");
}

#[test]
fn handin_packs_exactly_the_committed_files() {
    let dir = student_tree();
    let tree = dir.path().join("tree");
    let answers = "Page 0 holds the program's text and data.\n";
    commit(
        &tree,
        &[("answers-traps.txt", answers), ("time.txt", " 12\n")],
    );
    std::fs::write(tree.join("scratch.txt"), "not committed").unwrap();
    std::fs::create_dir_all(tree.join("target")).unwrap();
    std::fs::write(tree.join("target/junk"), "build output").unwrap();
    let (o, stdout, stderr) = handin(&tree, &["traps"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("not handed in: scratch.txt"), "{stderr}");
    let zip_path = tree.join("target/lab-traps-handin.zip");
    assert!(stdout.contains("lab-traps-handin.zip"), "{stdout}");

    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    let mut want = tracked(&tree);
    want.sort();
    assert_eq!(sorted, want);
    assert!(names.iter().any(|n| n == "answers-traps.txt"));
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("target/") || n == "scratch.txt")
    );
    let mut text = String::new();
    zip.by_name("answers-traps.txt")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, answers);
    let run_script = zip.by_name(".ci/run").unwrap();
    assert_eq!(run_script.unix_mode().map(|m| m & 0o111), Some(0o111));

    // The same commit packs to the same bytes.
    let first = std::fs::read(&zip_path).unwrap();
    let out = dir.path().join("again.zip");
    let (o, _, stderr) = handin(&tree, &["traps", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), first);
}

#[test]
fn check_starters_quick() {
    let (o, stdout, stderr) = run(xtask(&["check-starters", "--quick"]));
    assert!(
        o.status.success(),
        "check-starters failed:\n{stdout}{stderr}"
    );
    let quick = tests::registry().labs.iter().filter(|l| l.quick);
    for lab in quick.map(|l| &l.name) {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("check-starters: {lab} "))),
            "{lab} not checked:\n{stderr}"
        );
    }
    assert!(stderr.contains("every starter is in order"), "{stderr}");
    neutral_stubs_score_nothing(&stderr, &["util", "sysinfo"]);
}

/// The rows of `labs` show their neutral stubs graded at 0 (a lab whose
/// stub is its starter shows none).
fn neutral_stubs_score_nothing(stderr: &str, labs: &[&str]) {
    for lab in labs {
        let row = stderr
            .lines()
            .find(|l| l.starts_with(&format!("check-starters: {lab} ")))
            .unwrap_or_else(|| panic!("no row for {lab}:\n{stderr}"));
        let neutral = row.split_whitespace().last().unwrap_or_default();
        assert!(neutral.starts_with("0/"), "{row}");
    }
}

/// Every lab the quick tier's `check_starters_quick` does not check: with
/// it, CI checks every starter.
#[test]
#[ignore = "slow: builds and grades every lab's reference, starter and neutral stub"]
fn check_starters_every_lab() {
    let rest: Vec<&str> = tests::registry()
        .labs
        .iter()
        .filter(|l| !l.quick)
        .map(|l| l.name.as_str())
        .collect();
    assert!(
        rest.contains(&"trace") && rest.contains(&"alarm"),
        "{rest:?}"
    );
    let mut args = vec!["check-starters"];
    args.extend(&rest);
    let (o, stdout, stderr) = run(xtask(&args));
    assert!(
        o.status.success(),
        "check-starters failed:\n{stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!("every starter is in order ({})", rest.join(", "))),
        "{stderr}"
    );
    neutral_stubs_score_nothing(&stderr, &["trace", "alarm"]);

    // What `requires` closes: scored each on its own, as MIT does, trace's
    // neutral stub earns "trace nothing" for no work; with the spec's
    // requirements, nothing.
    let neutral = tests::target_dir().join("starters/neutral/target/xv6");
    let (lab, spec) = ("trace", "lab-trace");
    {
        let grade = |extra: &[&str]| {
            let mut c = Command::new(tests::grader_bin());
            let dir = neutral.join(lab);
            c.arg("--root")
                .arg(root())
                .arg("--kernel")
                .arg(dir.join("kernel"))
                .arg("--fs")
                .arg(dir.join("fs.img"))
                .arg(spec)
                .args(extra);
            let (_, stdout, stderr) = run(c);
            let score = stdout
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("Score: "))
                .unwrap_or_else(|| panic!("no score for {lab}:\n{stdout}{stderr}"))
                .to_owned();
            (score, stdout)
        };
        let (mit, out) = grade(&["--no-requires"]);
        assert!(!mit.starts_with("0/"), "{lab} --no-requires: {mit}\n{out}");
        let (ours, out) = grade(&[]);
        assert!(ours.starts_with("0/"), "{lab}: {ours}\n{out}");
        assert!(out.contains("SKIPPED"), "{out}");
    }
}

#[test]
fn starter_tree_has_no_warning_in_any_configuration() {
    let dir = student_tree();
    let tree = dir.path().join("tree");
    let target = dir.path().join("target");
    let cargo_in_tree = |args: &[&str]| {
        let mut c = cargo(args);
        c.current_dir(&tree).env("CARGO_TARGET_DIR", &target);
        let (o, stdout, stderr) = run(c);
        assert!(
            o.status.success(),
            "cargo {args:?} in the starter:\n{stdout}{stderr}"
        );
    };
    cargo_in_tree(&["fmt", "--all", "--", "--check"]);
    let kernel = [
        "clippy",
        "-p",
        "labs",
        "--bin",
        "kernel",
        "--profile",
        "kernel",
        "--target",
        "riscv64gc-unknown-none-elf",
    ];
    let all = tests::every_lab();
    let mut configs: Vec<&str> = vec![""];
    configs.extend(tests::registry().kernel_labs().map(|l| l.name.as_str()));
    configs.push(&all);
    for features in configs {
        let mut args = kernel.to_vec();
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        args.extend(["--", "-D", "warnings"]);
        cargo_in_tree(&args);
    }
    cargo_in_tree(&[
        "clippy",
        "-p",
        "user",
        "--profile",
        "user",
        "--target",
        "riscv64gc-unknown-none-elf",
        "--",
        "-D",
        "warnings",
    ]);
}
