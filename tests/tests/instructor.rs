//! What an instructor hands to Gradescope and GitHub Classroom: the
//! autograder bundle, run the way Gradescope runs it, and the workflow a
//! student repository grades itself with.

use std::path::Path;
use std::process::Command;
use tests::{root, run, xtask};

/// Text only the reference solutions have (the cow lab's reference counts,
/// the trace lab's inheritance), spelt in pieces so that this file, which
/// student trees carry too, does not hold it.
const SOLUTION_TEXT: [&str; 2] = [
    concat!("EXTRA_", "REFS"),
    concat!("MASK.with(child, ", "|m| *m = mask);"),
];

/// Unpacks the bundle as Gradescope does, modes included (`run_autograder`
/// must stay executable).
fn unzip(zip: &Path, into: &Path) {
    let file = std::fs::File::open(zip).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    archive
        .extract(into)
        .unwrap_or_else(|e| panic!("unpacking {}: {e}", zip.display()));
}

#[test]
#[ignore = "slow: builds the bundle's tree (its own crates from scratch) and grades in it"]
fn the_gradescope_bundle_grades_a_submission_as_gradescope_runs_it() {
    tests::worker_seed();
    let t = tempfile::tempdir().unwrap();
    let zip = t.path().join("autograder.zip");
    let (out, stdout, stderr) = run(xtask(&[
        "gradescope",
        "lab-trace",
        "--out",
        &zip.to_string_lossy(),
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    // Gradescope's layout: the bundle in source/, the upload in submission/.
    let ag = t.path().join("autograder");
    let source = ag.join("source");
    unzip(&zip, &source);
    for file in ["setup.sh", "run_autograder"] {
        let check = Command::new("bash")
            .arg("-n")
            .arg(source.join(file))
            .status();
        assert!(check.unwrap().success(), "{file} is not valid bash");
    }
    if let Err(e) = tests::no_file_contains(&[&source], &[], &SOLUTION_TEXT) {
        panic!("solution text in the bundle, or no check: {e}");
    }
    // setup.sh as Gradescope runs it once, with apt-get a stand-in that
    // records what it was asked (this machine has the packages, and no
    // way to Ubuntu's archive), and the toolchain already there (rustup's
    // installer needs the internet): its first batch warms the worker tree
    // each submission is then built in.
    let stub = t.path().join("stub");
    std::fs::create_dir_all(&stub).unwrap();
    let apt_get = stub.join("apt-get");
    std::fs::write(
        &apt_get,
        format!(
            "#!/bin/sh\necho \"apt-get $*\" >> {}/installs\n",
            t.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&apt_get, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        stub.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let gradescope_env = |cmd: &mut Command| {
        cmd.env("XDG_CACHE_HOME", t.path().join("cache"))
            .env("PATH", &path)
            .env_remove("RUSTFLAGS");
        // As on Gradescope: none of this test's cargo variables.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_") && k != "CARGO_HOME" {
                cmd.env_remove(k);
            }
        }
    };
    // The bundle's target and its worker's start with the registry's
    // crates built: the seed itself is the cold worker (tests::worker_seed).
    tests::seed_target(&source.join("target"), &source);
    let mut setup = Command::new("bash");
    setup.arg(source.join("setup.sh"));
    gradescope_env(&mut setup);
    tests::with_seed(&mut setup);
    let out = setup.output().unwrap();
    let setup_log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "setup.sh failed:\n{setup_log}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("installs")).unwrap_or_default(),
        "apt-get update -q\n\
         apt-get install -y -q qemu-system-misc gdb-multiarch curl ca-certificates build-essential git jq\n",
        "{setup_log}"
    );
    assert!(setup_log.contains("BUILT (not graded)"), "{setup_log}");
    let worker_xtask = || {
        let cache = t.path().join("cache/xv6-batch");
        let tree = std::fs::read_dir(&cache)
            .unwrap_or_else(|e| panic!("no worker trees in {}: {e}", cache.display()))
            .next()
            .expect("no worker tree")
            .unwrap()
            .path();
        let xtask = tree.join("lab-trace/worker-0/target/debug/xtask");
        std::fs::metadata(&xtask)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("setup.sh built no {}: {e}", xtask.display()))
    };
    let warmed = worker_xtask();
    // The student uploaded the lab file alone.
    std::fs::create_dir_all(ag.join("submission")).unwrap();
    std::fs::copy(
        root().join("labs/src/trace.rs"),
        ag.join("submission/trace.rs"),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    // The batch's worker trees (outside the tree graded) go with the test.
    cmd.arg(source.join("run_autograder"))
        .env("AUTOGRADER_ROOT", &ag);
    gradescope_env(&mut cmd);
    tests::with_seed(&mut cmd);
    let out = cmd.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    // The submission was built in setup.sh's worker, its xtask not again.
    assert_eq!(worker_xtask(), warmed, "{log}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ag.join("results/results.json")).unwrap())
            .unwrap_or_else(|e| panic!("results.json: {e}\n{log}"));
    assert_eq!(results["score"], 20, "{results}");
    let tests = results["tests"].as_array().unwrap();
    assert!(tests.len() >= 4, "{results}");
    for t in tests {
        assert!(
            t["visibility"].is_string() && t["max_score"].is_number(),
            "{t}"
        );
    }
}

#[test]
fn a_student_tree_has_a_classroom_workflow_for_its_lab() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    let (out, stdout, stderr) = run(xtask(&[
        "handout",
        "cow",
        "--out",
        &tree.to_string_lossy(),
        "--no-git",
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    let text = std::fs::read_to_string(tree.join(".github/workflows/grade.yml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(yaml["env"]["LAB"], "lab-cow", "{text}");
    // `on` is YAML 1.1's "true": serde_yaml keeps the key as written.
    let on = &yaml["on"];
    assert!(
        on.as_sequence()
            .is_some_and(|s| s.iter().any(|v| v == "push")),
        "not run on push: {text}"
    );
    let steps = yaml["jobs"]["grade"]["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(
        runs.iter()
            .any(|r| r.contains("cargo xtask grade \"$LAB\"")),
        "{runs:?}"
    );
    assert!(runs.iter().any(|r| r.contains("points=")), "{runs:?}");
    assert!(
        steps.iter().any(|s| s["with"]["path"]
            .as_str()
            .is_some_and(|p| p.contains("junit.xml"))),
        "no JUnit artifact: {text}"
    );
}

#[test]
fn the_classroom_workflow_refuses_points_when_the_test_files_were_modified() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    let tree_arg = tree.to_string_lossy().into_owned();
    let (out, stdout, stderr) = run(xtask(&["handout", "cow", "--out", &tree_arg, "--no-git"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    // The workflow checks before it grades.
    let text = std::fs::read_to_string(tree.join(".github/workflows/grade.yml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let runs: Vec<&str> = yaml["jobs"]["grade"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    let check = runs
        .iter()
        .position(|r| r.contains("cargo xtask verify-starter"));
    let grade = runs.iter().position(|r| r.contains("cargo xtask grade"));
    assert!(check.is_some() && check < grade, "{runs:?}");

    let verify = || run(xtask(&["verify-starter", &tree_arg]));
    let (out, stdout, stderr) = verify();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("the test files are the starter's"),
        "{stdout}"
    );
    // The student's own work changes nothing.
    let cow = tree.join("labs/src/cow.rs");
    let mut work = std::fs::read_to_string(&cow).unwrap();
    work.push_str("\n// the student's work\n");
    std::fs::write(&cow, work).unwrap();
    assert!(verify().0.status.success());
    // Each kind of trusted file, edited, is found.
    for (file, edit) in [
        ("labs/lab-cow.toml", "points = 1"),
        ("user/src/bin/cowtest.rs", "// easier"),
        ("grader/src/check.rs", "// lenient"),
        ("xtask/src/main.rs", "// quiet"),
        (".github/workflows/grade.yml", "# points=110/110"),
    ] {
        let path = tree.join(file);
        let before = std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut after = before.clone();
        after.extend_from_slice(format!("\n{edit}\n").as_bytes());
        std::fs::write(&path, after).unwrap();
        let (out, stdout, stderr) = verify();
        assert_eq!(out.status.code(), Some(1), "{file}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("test files modified: {file} (changed)")),
            "{file}: {stdout}"
        );
        assert!(!stdout.contains("points="), "{stdout}");
        std::fs::write(&path, before).unwrap();
        assert!(verify().0.status.success(), "{file} restored");
    }
    // A test program added is found too.
    std::fs::write(tree.join("user/src/bin/extra.rs"), "fn main() {}\n").unwrap();
    let (out, stdout, _) = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("user/src/bin/extra.rs (added)"), "{stdout}");
}

#[test]
#[ignore = "slow: a fresh clone of a student tree, its own crates built from scratch"]
fn the_classroom_workflow_commands_work_in_a_fresh_clone() {
    tests::worker_seed();
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    let (out, stdout, stderr) = run(xtask(&[
        "handout",
        "util",
        "--out",
        &tree.to_string_lossy(),
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    let clone = t.path().join("clone");
    let status = Command::new("git")
        .arg("clone")
        .arg("-q")
        .arg(&tree)
        .arg(&clone)
        .status();
    assert!(status.unwrap().success());
    // The clone's files are all new: it builds every crate of its own, and
    // takes the registry's from the seed.
    assert!(tests::seed_target(&clone.join("target"), &clone));
    let text = std::fs::read_to_string(clone.join(".github/workflows/grade.yml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let grade = yaml["jobs"]["grade"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Grade")
        .and_then(|s| s["run"].as_str())
        .unwrap()
        .to_owned();
    // The check step first, as the workflow runs it: an untouched clone passes.
    let mut check = Command::new("bash");
    check
        .args(["-e", "-c", "cargo xtask verify-starter"])
        .current_dir(&clone);
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_HOME" {
            check.env_remove(k);
        }
    }
    let checked = check.env_remove("RUSTFLAGS").output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-c", &grade])
        .current_dir(&clone)
        .env("LAB", yaml["env"]["LAB"].as_str().unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_HOME" {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUSTFLAGS");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The starter has none of util's programs: a grade of zero, reported.
    assert!(stdout.lines().any(|l| l == "points=0/100"), "{stdout}");
    assert!(clone.join("junit.xml").is_file());
}
