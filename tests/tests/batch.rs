//! Batch grading of a class: each submission's own lab files only, built
//! over the starter with the instructor's trusted files, in parallel; a
//! broken or never-ending build, or a file that reads outside its tree,
//! costs that submission only.

use std::path::Path;
use tests::{root, run, target_dir, xtask};

/// The reference trace lab with `edit` applied.
fn trace_with(edit: impl Fn(&str) -> String) -> String {
    edit(&std::fs::read_to_string(root().join("labs/src/trace.rs")).unwrap())
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Children do not inherit the mask: `trace children` fails (15 of 20).
fn partial(src: &str) -> String {
    // The solution line in pieces: this file is in student trees too.
    src.replace(
        concat!("MASK.with(child, ", "|m| *m = mask);"),
        "let _ = (child, mask);",
    )
}

#[test]
#[ignore = "slow: builds and grades seven submissions"]
fn a_batch_grades_each_submission_on_its_own_files_only() {
    let subs = tempfile::tempdir().unwrap();
    let s = subs.path();
    write(
        &s.join("full"),
        "labs/src/trace.rs",
        &trace_with(str::to_owned),
    );
    write(
        &s.join("partial"),
        "labs/src/trace.rs",
        &trace_with(partial),
    );
    // A partial solution with a spec and a test program that would pass
    // anything: only labs/src/trace.rs counts.
    write(&s.join("edited"), "labs/src/trace.rs", &trace_with(partial));
    write(
        &s.join("edited"),
        "labs/lab-trace.toml",
        "name = \"lab-trace\"\nfeatures = [\"trace\"]\ntimeout = \"30s\"\n[[run]]\nid = \"r\"\n\
         commands = [\"echo hi\"]\n[[test]]\nname = \"t\"\npoints = 20\nrun = \"r\"\nmatch = 'hi'\n",
    );
    write(
        &s.join("edited"),
        "user/src/bin/usertests/main.rs",
        "fn main() { loop {} }",
    );
    write(
        &s.join("broken"),
        "labs/src/trace.rs",
        &trace_with(|t| t.replace("let mask = arg_int(0) as u32;", "let mask = ;")),
    );
    // Reads another lab's reference solution into the kernel at build time.
    let steal = format!(
        "const STOLEN: &str = include_str!(\"{}\");\n",
        root().join("labs/src/cow.rs").display()
    );
    write(
        &s.join("thief"),
        "labs/src/trace.rs",
        &trace_with(|t| format!("{t}{steal}")),
    );
    // A constant that never finishes evaluating (with rustc's lint against
    // that turned off): the build never ends.
    write(
        &s.join("forever"),
        "labs/src/trace.rs",
        &trace_with(|t| {
            format!(
                "{t}#[allow(long_running_const_eval)]\n\
                 const FOREVER: u64 = {{ let mut i = 0u64; loop {{ i = i.wrapping_add(1); }} }};\n"
            )
        }),
    );
    // The full solution as a patch against the starter, as handout cuts it.
    std::fs::write(s.join("patched.patch"), trace_solution_diff()).unwrap();

    let json = s.join("summary.json");
    let (csv, html) = (s.join("summary.csv"), s.join("summary.html"));
    let mut batch = xtask(&[
        "grade",
        "lab-trace",
        "--submissions",
        &s.to_string_lossy(),
        "--build-timeout",
        "90s",
        "--json",
        &json.to_string_lossy(),
        "--csv",
        &csv.to_string_lossy(),
        "--html",
        &html.to_string_lossy(),
    ]);
    // Its worker trees start warm: the next test proves a cold one works.
    tests::with_seed(&mut batch);
    let (out, stdout, stderr) = run(batch);
    // A refused submission and failed builds: the batch says so in its
    // exit status.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let get = |name: &str| tests::submission(&summary, name).clone();
    for (name, status, score) in [
        ("full", "graded", 20),
        ("partial", "graded", 15),
        ("edited", "graded", 15),
        ("patched", "graded", 20),
        ("broken", "build_failed", 0),
        ("thief", "refused", 0),
        ("forever", "build_timeout", 0),
    ] {
        let o = get(name);
        assert_eq!(o["status"], status, "{name}: {o}");
        assert_eq!(o["score"], score, "{name}: {o}");
    }
    // A failed test's replay line grades that submission again, as printed.
    let report_file = target_dir().join("batch/lab-trace/results/partial/report.json");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    let replay = report["labs"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t["replay"].as_str())
        .unwrap_or_else(|| panic!("no replay in {report}"))
        .to_owned();
    assert!(
        replay.starts_with("cargo xtask grade --submissions ") && replay.contains("--only partial"),
        "{replay}"
    );
    let mut again = std::process::Command::new("sh");
    again.args(["-c", &replay]).current_dir(root());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            again.env_remove(&*key);
        }
    }
    let (out, stdout, stderr) = run(again);
    assert!(out.status.success(), "{replay}\n{stdout}{stderr}");
    assert!(
        stderr.contains("batch: 1 submission(s)") && stderr.contains("batch: partial: 0/"),
        "{replay}\n{stderr}"
    );

    // The reference solutions never reached a build, a report or a summary.
    // In pieces: this file is in student trees too.
    let secret = concat!("EXTRA_", "REFS");
    assert!(
        std::fs::read_to_string(root().join("labs/src/cow.rs"))
            .unwrap()
            .contains(secret)
    );
    for file in [&json, &csv, &html] {
        assert!(
            !std::fs::read_to_string(file).unwrap().contains(secret),
            "{}",
            file.display()
        );
    }
    // The worker trees are outside the repository.
    let workers = stderr
        .lines()
        .find_map(|l| {
            l.split_once("worker trees in ")?
                .1
                .split_once(", reports in ")
        })
        .map(|(w, _)| std::path::PathBuf::from(w))
        .unwrap_or_else(|| panic!("no worker trees named in {stderr}"));
    assert!(!workers.starts_with(root()), "{}", workers.display());
    assert!(workers.join("worker-0/tree/labs/src/trace.rs").exists());
    if let Err(e) = tests::no_file_contains(
        &[&target_dir().join("batch/lab-trace"), &workers],
        &["*.rs", "*.log", "*.json", "*.txt"],
        &[secret],
    ) {
        panic!("solution text in the batch's trees, or no check: {e}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.starts_with("submission,score,max_score,status,seconds,"),
        "{csv}"
    );
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("<td>forever</td>")
    );
}

#[test]
fn a_batch_without_submissions_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(xtask(&[
        "grade",
        "lab-trace",
        "--submissions",
        &empty.path().to_string_lossy(),
    ]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no submissions in"), "{stderr}");
}

/// The trace lab's reference solution as a unified diff against its
/// starter, as handout cuts it.
fn trace_solution_diff() -> Vec<u8> {
    let starter_dir = tempfile::tempdir().unwrap();
    let mut handout = xtask(&["handout", "trace", "--no-git", "--out"]);
    handout.arg(starter_dir.path());
    let (done, _, stderr) = run(handout);
    assert!(done.status.success(), "handout failed: {stderr}");
    let file = "labs/src/trace.rs";
    let (a, b) = (format!("a/{file}"), format!("b/{file}"));
    std::process::Command::new("diff")
        .args(["-u", "--label", &a, "--label", &b])
        .arg(starter_dir.path().join(file))
        .arg(root().join(file))
        .output()
        .unwrap()
        .stdout
}

/// A batch's first worker is set up cold (a fresh cache directory and no
/// seed: [`tests::worker_seed`] is that batch, with a build timeout far
/// below a cold build), each worker's setup building the starter under its
/// own timeout. Then a batch on a seeded worker: `--build-only` builds a
/// `.diff` submission, refuses a file over 1 MiB and a lab file that is a
/// symbolic link; graded, the patch has full marks and a submission whose
/// lab code panics the kernel scores 0 with PANIC as its reason.
#[test]
#[ignore = "slow: sets up a worker tree, builds and grades a small class"]
fn a_cold_worker_builds_in_a_small_timeout_and_grades_diffs_refusing_links_and_big_files() {
    // The cold worker: the seed's build (30 s build timeout), every run
    // where the target directory is new, as in CI.
    let seed = tests::worker_seed();
    let log = std::fs::read_to_string(seed.join(tests::SEED_LOG)).unwrap();
    assert!(
        log.contains("building the starter's kernel") && !log.contains("as a copy of"),
        "the seed was not a cold worker's setup:\n{log}"
    );
    let subs = tempfile::tempdir().unwrap();
    let s = subs.path();
    std::fs::write(s.join("diffed.diff"), trace_solution_diff()).unwrap();
    // The reference with a comment that takes it over 1 MiB.
    write(
        &s.join("huge"),
        "labs/src/trace.rs",
        &trace_with(|t| format!("{t}// {}\n", "x".repeat(1 << 20))),
    );
    // The reference, but through a link to a file outside the submission.
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "trace.rs", &trace_with(str::to_owned));
    std::fs::create_dir_all(s.join("linked/labs/src")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("trace.rs"),
        s.join("linked/labs/src/trace.rs"),
    )
    .unwrap();
    // Safe lab code that panics the kernel on the first traced call.
    write(
        &s.join("panicky"),
        "labs/src/trace.rs",
        &trace_with(|t| {
            t.replace(
                "let mask = arg_int(0) as u32;",
                "let mask = arg_int(0) as u32;\n    if mask != 0 { panic!(\"trace: a student's bug\"); }",
            )
        }),
    );
    let cache = tempfile::tempdir().unwrap();
    let batch = |extra: &[&str]| {
        let json = s.join("summary.json");
        let _ = std::fs::remove_file(&json);
        let mut args = vec![
            "grade",
            "lab-trace",
            "--submissions",
            s.to_str().unwrap(),
            "-j",
            "1",
            // A submission's build takes seconds.
            "--build-timeout",
            "30s",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let mut cmd = xtask(&args);
        cmd.env("XDG_CACHE_HOME", cache.path());
        tests::with_seed(&mut cmd);
        let (out, stdout, stderr) = run(cmd);
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&json)
                .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}{stderr}")),
        )
        .unwrap();
        (out, summary, stderr)
    };
    let row = |summary: &serde_json::Value, name: &str| tests::submission(summary, name).clone();
    let refusals = |summary: &serde_json::Value| {
        for (name, why) in [
            ("huge", "labs/src/trace.rs is larger than 1 MiB"),
            ("linked", "labs/src/trace.rs is a symbolic link"),
        ] {
            let o = row(summary, name);
            assert_eq!(o["status"], "refused", "{name}: {o}");
            assert_eq!(o["detail"], why, "{name}: {o}");
        }
    };

    let (out, summary, stderr) = batch(&["--build-only"]);
    assert_eq!(out.status.code(), Some(1), "refusals are exit 1:\n{stderr}");
    assert!(stderr.contains("as a copy of"), "not seeded:\n{stderr}");
    refusals(&summary);
    for name in ["diffed", "panicky"] {
        let o = row(&summary, name);
        assert_eq!(o["status"], "graded", "{name}: {o}\n{stderr}");
        assert_eq!(o["reason"], "BUILT (not graded)", "{name}: {o}");
        assert_eq!(o["score"], 0, "{name}: {o}");
    }
    let results = target_dir().join("batch/lab-trace/results");
    assert!(
        !results.join("diffed/report.json").exists(),
        "--build-only graded"
    );

    let (out, summary, stderr) = batch(&[]);
    assert_eq!(out.status.code(), Some(1), "refusals are exit 1:\n{stderr}");
    refusals(&summary);
    let o = row(&summary, "diffed");
    assert_eq!(
        (&o["status"], &o["score"]),
        (&"graded".into(), &20.into()),
        "{o}"
    );
    let o = row(&summary, "panicky");
    assert_eq!(o["status"], "graded", "{o}");
    assert_eq!(o["score"], 0, "{o}");
    assert!(
        o["reason"].as_str().unwrap().contains("PANIC"),
        "not a PANIC: {o}"
    );
}
