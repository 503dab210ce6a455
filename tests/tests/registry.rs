//! Adding a lab is its own files and one entry of `labs/registry.toml`: a
//! toy lab, added to a scratch copy of this tree by the README's steps
//! ("Adding a lab") and nothing else, is picked up by build, grade (the
//! lab, `lab-all`, `--list`), handout, check-starters, handin, gradescope
//! and batch grading.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tests::{cargo, root, target_dir};

/// A marker line, built so that this file holds none (markers belong in
/// lab files only).
fn marker(word: &str) -> String {
    format!("// {word}")
}

/// The toy lab's file: on every `sleep` system call the kernel says so.
fn toy_rs() -> String {
    format!(
        "//! Lab toy: the kernel says when a process sleeps.

use kernel_base::hooks::Lab;

pub struct Toy;

impl Lab for Toy {{
    fn name(&self) -> &'static str {{
        \"toy\"
    }}

    fn sleep_syscall(&self) {{
        {}
        kernel_base::println!(\"toy: a process sleeps\");
        {}
        {} // TODO: say that a process sleeps.
    }}
}}
",
        marker("BEGIN SOLUTION"),
        marker("END SOLUTION"),
        marker("STARTER:")
    )
}

const SPEC: &str = r#"name = "lab-toy"
features = ["toy"]
timeout = "30s"

[[run]]
id = "bttest"
commands = ["bttest"]

[[test]]
name = "toy sleeps"
points = 2
run = "bttest"
untrusted = true
match = '^toy: a process sleeps$'
"#;

const ENTRY: &str = r#"
[[lab]]
name = "toy"
kernel = "Toy"
points = 2
editions = ["2020"]
"#;

/// The scratch tree and the target directory its cargo uses.
struct Scratch {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    target: PathBuf,
}

impl Scratch {
    /// A copy of this tree's files (as they are, committed or not), with
    /// the toy lab added by the documented steps, committed to a fresh git
    /// repository (handout and handin take what git tracks).
    fn new() -> Scratch {
        tests::worker_seed();
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let files = git(&root(), &["ls-files", "-co", "--exclude-standard", "-z"]);
        for f in files.split('\0').filter(|f| !f.is_empty()) {
            let from = root().join(f);
            if !from.is_file() {
                continue; // deleted in the working tree
            }
            let to = tree.join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
        // 1. The lab's file.
        std::fs::write(tree.join("labs/src/toy.rs"), toy_rs()).unwrap();
        // 2. Its feature.
        let cargo_toml = tree.join("labs/Cargo.toml");
        let text = std::fs::read_to_string(&cargo_toml).unwrap();
        let text = text.replacen("[features]\n", "[features]\ntoy = []\n", 1);
        std::fs::write(&cargo_toml, text).unwrap();
        // 3. Its entry.
        let registry = tree.join("labs/registry.toml");
        let mut text = std::fs::read_to_string(&registry).unwrap();
        let groups = text.find("\n[[group]]").unwrap_or(text.len());
        text.insert_str(groups, ENTRY);
        std::fs::write(&registry, text).unwrap();
        // 4. Its spec; 5. its handout.
        std::fs::write(tree.join("labs/lab-toy.toml"), SPEC).unwrap();
        std::fs::write(
            tree.join("handouts/lab-toy.md"),
            "# Lab toy\n\nMake the kernel say when a process sleeps.\n",
        )
        .unwrap();
        git(&tree, &["init", "-q"]);
        git(&tree, &["add", "-A"]);
        git(&tree, &["commit", "-q", "-m", "a toy lab"]);
        // Kept between runs, so that a second run builds little; the first
        // starts with the registry's crates of the worker seed.
        let target = target_dir().join("toylab");
        tests::seed_target(&target, &tree);
        Scratch {
            _dir: dir,
            tree,
            target,
        }
    }

    fn xtask(&self, args: &[&str]) -> (Output, String, String) {
        let mut all = vec!["xtask"];
        all.extend_from_slice(args);
        let mut c = cargo(&all);
        // Batch grading's worker trees go with the scratch copy, not into
        // the user's cache (a new tree there for every run).
        c.current_dir(&self.tree)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("XDG_CACHE_HOME", self.tree.with_file_name("cache"));
        tests::with_seed(&mut c);
        tests::run(c)
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn zip_names(path: &Path) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    zip.file_names()
        .filter_map(|n| n.ok())
        .map(|n| n.into_owned())
        .collect()
}

fn zip_text(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
    text
}

#[test]
#[ignore = "slow: a scratch copy of the tree, built and graded from scratch"]
fn a_lab_added_by_the_documented_steps_is_picked_up_by_every_command() {
    let s = Scratch::new();
    let solution = "toy: a process sleeps";

    // The help and the errors name it.
    let (o, stdout, stderr) = s.xtask(&["help"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    // After the last kernel lab of the registry it was added to.
    let last = tests::registry().kernel_labs().last().unwrap().name.clone();
    assert!(stdout.contains(&format!("{last} toy")), "{stdout}");
    let (o, _, stderr) = s.xtask(&["build", "--lab", "nosuch"]);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(", toy, "), "{stderr}");

    // build: its configuration, after the labs before it in the registry.
    let (o, stdout, stderr) = s.xtask(&["build", "--lab", "toy,cow"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(s.target.join("xv6/cow-toy/kernel").is_file());

    // grade: the lab, and lab-all, which includes every kernel lab.
    let (o, stdout, stderr) = s.xtask(&["grade", "lab-toy", "-j", "1"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Score: 2/2"), "{stdout}");
    let (o, stdout, stderr) = s.xtask(&["grade", "--list", "lab-all"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("toy sleeps"), "{stdout}");
    assert!(stdout.contains("toy"), "{stdout}");
    let (o, stdout, stderr) = s.xtask(&["grade", "--list"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("lab-toy"), "{stdout}");

    // handout: the toy's starter has no solution line.
    let student = s.tree.parent().unwrap().join("student");
    let (o, stdout, stderr) = s.xtask(&["handout", "toy", "--out", student.to_str().unwrap()]);
    assert!(o.status.success(), "{stdout}{stderr}");
    let starter = std::fs::read_to_string(student.join("labs/src/toy.rs")).unwrap();
    assert!(!starter.contains(solution), "{starter}");
    assert!(
        starter.contains("// TODO: say that a process sleeps."),
        "{starter}"
    );

    // handin: the toy's file is what it checks and packs.
    std::fs::write(student.join("time.txt"), "3\n").unwrap();
    std::fs::write(student.join("labs/src/toy.rs"), toy_rs()).unwrap();
    git(&student, &["add", "-A"]);
    git(&student, &["commit", "-q", "-m", "my work"]);
    let handin = student.join("toy.zip");
    let (o, stdout, stderr) = s.xtask(&[
        "handin",
        "toy",
        "--tree",
        student.to_str().unwrap(),
        "--out",
        handin.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(zip_text(&handin, "labs/src/toy.rs").contains(solution));

    // gradescope: a bundle with the toy's starter, not its solution.
    let bundle = s.tree.parent().unwrap().join("toy-autograder.zip");
    let (o, stdout, stderr) =
        s.xtask(&["gradescope", "lab-toy", "--out", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{stdout}{stderr}");
    let names = zip_names(&bundle);
    let toy = names
        .iter()
        .find(|n| n.ends_with("labs/src/toy.rs"))
        .unwrap_or_else(|| panic!("{names:?}"));
    assert!(!zip_text(&bundle, toy).contains(solution));

    // batch: a submission is graded on its toy.rs, and only on it.
    let class = s.tree.parent().unwrap().join("class");
    for (name, text) in [("solved", toy_rs()), ("untouched", starter.clone())] {
        let file = class.join(name).join("labs/src/toy.rs");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }
    let json = class.parent().unwrap().join("class.json");
    let (o, stdout, stderr) = s.xtask(&[
        "grade",
        "lab-toy",
        "--submissions",
        class.to_str().unwrap(),
        "-j",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some(), "{stdout}{stderr}");
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no {}: {e}\n{stdout}{stderr}", json.display()));
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let score = |name: &str| tests::submission(&summary, name)["score"].clone();
    assert_eq!(score("solved"), 2, "{summary:#}\n{stderr}");
    assert_eq!(score("untouched"), 0, "{summary:#}\n{stderr}");

    // check-starters: the reference scores 2, the starter 0.
    let (o, stdout, stderr) = s.xtask(&["check-starters", "toy", "-j", "1"]);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("every starter is in order (toy)"),
        "{stderr}"
    );
}
