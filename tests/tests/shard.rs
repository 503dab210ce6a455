//! A class graded in shards: each shard grades its slice of the
//! submissions, as if on a machine of its own, and the merged parts give
//! exactly what one run over the class gives; a lost part is an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} is not in the lab file");
    text.replace(from, to)
}

/// Each submission's status, score and per-test outcomes.
fn results(summary: &Value) -> BTreeMap<String, (String, u64, BTreeMap<String, String>)> {
    fn leaves(tests: &Value, out: &mut BTreeMap<String, String>) {
        for t in tests.as_array().into_iter().flatten() {
            match t["parts"].as_array() {
                Some(_) => leaves(&t["parts"], out),
                None => {
                    out.insert(
                        t["name"].as_str().unwrap().to_owned(),
                        t["outcome"].to_string(),
                    );
                }
            }
        }
    }
    summary["submissions"]
        .as_array()
        .unwrap_or_else(|| panic!("no submissions in {summary}"))
        .iter()
        .map(|s| {
            let mut tests = BTreeMap::new();
            for lab in s["report"]["labs"].as_array().into_iter().flatten() {
                leaves(&lab["tests"], &mut tests);
            }
            (
                s["name"].as_str().unwrap().to_owned(),
                (
                    s["status"].as_str().unwrap().to_owned(),
                    s["score"].as_u64().unwrap(),
                    tests,
                ),
            )
        })
        .collect()
}

#[test]
#[ignore = "slow: grades a class of eight twice"]
fn shards_merged_give_the_single_runs_results_and_a_lost_part_is_an_error() {
    let root = tests::root();
    let file = "labs/src/trace.rs";
    let reference = std::fs::read_to_string(root.join(file)).unwrap();
    let class = tempfile::tempdir().unwrap();
    let c = class.path().join("class");
    for n in 1..=3 {
        write(&c.join(format!("sh-ref-{n}")), file, &reference);
    }
    let variants = [
        // Children do not inherit the mask.
        (
            "sh-nofork",
            edit(
                &reference,
                concat!("MASK.with(child, ", "|m| *m = mask);"),
                "let _ = (mask, child);",
            ),
        ),
        // Prints another format.
        (
            "sh-format",
            edit(
                &reference,
                "\"{}: syscall {} -> {}\"",
                "\"{}: call {} -> {}\"",
            ),
        ),
        // Forgets the mask.
        (
            "sh-nomask",
            edit(
                &reference,
                concat!("MASK.with(current(), ", "|m| *m = mask);"),
                "let _ = mask;",
            ),
        ),
        (
            "sh-broken",
            format!("{reference}\npub fn broken() -> u32 {{ \"x\" }}\n"),
        ),
        (
            "sh-unsafe",
            format!("{reference}\npub fn u() {{ unsafe {{}} }}\n"),
        ),
    ];
    for (name, text) in &variants {
        write(&c.join(name), file, text);
    }
    let dir = c.to_string_lossy().into_owned();
    let grade = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "grade",
            "lab-trace",
            "--submissions",
            &dir,
            "--seed",
            "11",
            "--jobs",
            "2",
        ];
        args.extend_from_slice(extra);
        let mut cmd = tests::xtask(&args);
        tests::with_seed(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        tests::run(cmd)
    };
    let read =
        |p: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };

    let single = class.path().join("single.json");
    let (out, stdout, stderr) = grade(&["--json", &single.to_string_lossy()], &[]);
    // A refused submission and a failed build: exit status 1.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let single = results(&read(&single));
    assert_eq!(single.len(), 8, "{single:?}");
    assert_eq!(single["sh-ref-1"].1, 20, "{single:?}");
    assert_eq!(single["sh-broken"].0, "build_failed", "{single:?}");
    assert_eq!(single["sh-unsafe"].0, "refused", "{single:?}");
    assert!(
        single["sh-nofork"].1 < 20 && single["sh-nomask"].1 < 20,
        "{single:?}"
    );

    // Three shards, each then moved away with its results as an
    // artifact: the first from a Kubernetes Indexed Job's variables.
    let batch = tests::target_dir().join("batch").join("lab-trace");
    let mut parts = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let index = (k - 1).to_string();
        let (out, stdout, stderr) = match k {
            1 => grade(
                &[],
                &[("JOB_COMPLETION_INDEX", &index), ("XV6_SHARDS", "3")],
            ),
            _ => grade(&["--shard", &shard], &[]),
        };
        assert!(
            stderr.contains(&format!("shard {shard}:")),
            "{stdout}{stderr}"
        );
        let part = batch.join(format!("part-{k}-of-3.json"));
        let artifact = class.path().join(format!("artifact-{k}"));
        let value = read(&part);
        let names: Vec<String> = value["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        // Its exit status is its own slice's.
        let bad = names.iter().any(|n| n == "sh-broken" || n == "sh-unsafe");
        assert_eq!(out.status.success(), !bad, "{stdout}{stderr}");
        for n in &names {
            let to = artifact.join("results").join(n);
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(batch.join("results").join(n)).unwrap() {
                let f = f.unwrap();
                if f.file_type().unwrap().is_file() {
                    std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
                }
            }
        }
        std::fs::rename(&part, artifact.join(format!("part-{k}-of-3.json"))).unwrap();
        sizes.push(names.len());
        parts.push(artifact);
    }
    // Slices of 8 in 3: 3, 3, 2.
    assert_eq!(sizes, [3, 3, 2]);

    let merged = class.path().join("merged.json");
    let csv = class.path().join("merged.csv");
    let html = class.path().join("merged.html");
    let mut args = vec!["merge".to_owned()];
    args.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
    for (flag, p) in [("--json", &merged), ("--csv", &csv), ("--html", &html)] {
        args.extend([flag.to_owned(), p.to_string_lossy().into_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, stdout, stderr) = tests::run(tests::xtask(&args));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("sh-ref-3"), "{stdout}");
    assert_eq!(results(&read(&merged)), single);
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), 9, "{csv}");
    // The page links each submission's report where its artifact is.
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains("artifact-2/results/sh-ref-1/grade.txt")
            || html.contains("artifact-1/results/sh-ref-1/grade.txt")
            || html.contains("artifact-3/results/sh-ref-1/grade.txt"),
        "{html}"
    );

    // A lost shard is an error, not a smaller class.
    let (out, stdout, stderr) = tests::run(tests::xtask(&[
        "merge",
        &parts[0].to_string_lossy(),
        &parts[2].to_string_lossy(),
    ]));
    // 2, not a batch's 1: the templates take 1 for a graded class.
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("part 2/3 missing") && stderr.contains("8 submissions"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A merge that cannot give the class's summary exits 2, which the
/// templates do not take for success, never a batch's 1: no parts at all,
/// and a part that is not one.
#[test]
fn a_merge_that_fails_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let bad = dir.path().join("part-1-of-2.json");
    std::fs::write(&bad, "{ not a part").unwrap();
    for (part, said) in [
        (&empty, "no part-K-of-N.json in"),
        (&bad, "part-1-of-2.json"),
    ] {
        let (out, stdout, stderr) = tests::run(tests::xtask(&["merge", &part.to_string_lossy()]));
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn yaml(file: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(tests::root().join(file)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The number in the string or number `v`.
fn count(v: &serde_yaml::Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v:?}"))
}

#[test]
fn the_engine_templates_parse_and_agree_on_their_shards() {
    // GitHub Actions: a matrix of 1..=SHARDS, each grading its shard and
    // keeping its part; a merge job after all of them.
    let gh = yaml("deploy/github/grade-class.yml");
    let shards = count(&gh["env"]["SHARDS"]);
    let matrix: Vec<u64> = gh["jobs"]["grade"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(count)
        .collect();
    assert_eq!(matrix, (1..=shards).collect::<Vec<_>>());
    let steps = |job: &str| -> String {
        gh["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| format!("{}\n{:?}\n", s["run"].as_str().unwrap_or(""), s["with"]))
            .collect()
    };
    let grade = steps("grade");
    assert!(
        grade.contains("--shard \"${{ matrix.shard }}/${{ env.SHARDS }}\""),
        "{grade}"
    );
    assert!(grade.contains("target/batch/${{ inputs.lab }}/"), "{grade}");
    assert_eq!(gh["jobs"]["merge"]["needs"].as_str(), Some("grade"));
    assert!(steps("merge").contains("cargo xtask merge parts"));

    // Kubernetes: an Indexed Job whose XV6_SHARDS is its completions.
    let k8s = yaml("deploy/k8s/grade-class.yaml");
    let spec = &k8s["spec"];
    assert_eq!(k8s["kind"].as_str(), Some("Job"));
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let container = &spec["template"]["spec"]["containers"][0];
    let env = container["env"].as_sequence().unwrap();
    let shards = env
        .iter()
        .find(|e| e["name"].as_str() == Some("XV6_SHARDS"))
        .map(|e| count(&e["value"]))
        .expect("XV6_SHARDS is set");
    assert_eq!(count(&spec["completions"]), shards);
    let command = format!("{:?}", container["command"]);
    assert!(command.contains("cargo xtask grade"), "{command}");
    assert!(
        command.contains("/results/shard-$JOB_COMPLETION_INDEX"),
        "{command}"
    );
    let docker = std::fs::read_to_string(tests::root().join("deploy/k8s/Dockerfile")).unwrap();
    assert!(
        docker.starts_with("#") && docker.contains("\nFROM "),
        "{docker}"
    );
    assert!(docker.contains("COPY . /course"), "{docker}");

    // Slurm: a shell script (bash -n) with an array and the grade.
    let slurm = tests::root().join("deploy/slurm/grade-class.sbatch");
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&slurm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&slurm).unwrap();
    assert!(text.contains("#SBATCH --array=0-"), "{text}");
    assert!(text.contains("cargo xtask grade \"$LAB\""), "{text}");

    // The commands they run exist as written.
    for args in [
        &["merge", "--help"][..],
        &["grade", "--help"][..],
        &["setup", "--help"][..],
    ] {
        let (out, stdout, stderr) = tests::run(tests::xtask(args));
        assert!(out.status.success(), "{args:?}: {stderr}");
        if args[0] == "grade" {
            assert!(stdout.contains("--shard <K/N>"), "{stdout}");
        }
    }
}

/// `text` with GitHub's `${{ … }}` expressions replaced by `value`.
fn expand(text: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("an unclosed ${{") + start;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out + rest
}

/// Whether `script` (run as `bash ARGS… script` in `dir`, with `env`)
/// succeeds when `cargo` exits with `status`: a stand-in `cargo` first
/// on PATH makes its target's batch directory, as grading would, and
/// exits so; `jq` is a stand-in too.
fn passes_with(bash: &[&str], script: &str, status: u8, env: &[(&str, String)]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, body) in [
        (
            "cargo",
            format!("mkdir -p \"${{CARGO_TARGET_DIR:-target}}/batch/$LAB\"\nexit {status}\n"),
        ),
        ("jq", "exit 0\n".to_owned()),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }
    let script = script.replace("/results", &dir.path().join("results").to_string_lossy());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = std::process::Command::new("bash")
        .args(bash)
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TMPDIR", dir.path())
        .env("LAB", "lab-trace")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn the_templates_take_exactly_statuses_0_and_1_as_success() {
    // 0 graded, 1 a submission refused: success. 2 (the run failed, as a
    // lost part) and anything else, such as cargo's own 101: failure.
    let check = |what: &str, bash: &[&str], script: &str, env: &[(&str, String)]| {
        let taken: Vec<u8> = [0, 1, 2, 3, 101]
            .into_iter()
            .filter(|&s| passes_with(bash, script, s, env))
            .collect();
        assert_eq!(
            taken,
            [0, 1],
            "{what} takes these statuses as success:\n{script}"
        );
    };
    // GitHub's default shell for `run`.
    let github = ["--noprofile", "--norc", "-eo", "pipefail", "-c"];
    let mut checked = 0;
    for (file, value) in [
        (
            "deploy/github/grade-class.yml",
            yaml("deploy/github/grade-class.yml"),
        ),
        (
            "xtask/templates/classroom.yml",
            yaml("xtask/templates/classroom.yml"),
        ),
    ] {
        for (name, job) in value["jobs"].as_mapping().unwrap() {
            for step in job["steps"].as_sequence().unwrap() {
                let Some(run) = step["run"].as_str() else {
                    continue;
                };
                if run.contains("cargo xtask grade") || run.contains("cargo xtask merge") {
                    check(&format!("{file} {name:?}"), &github, &expand(run, "x"), &[]);
                    checked += 1;
                }
            }
        }
    }
    // The GitHub template's grade and merge, and the classroom's grade.
    assert_eq!(checked, 3);

    let k8s = yaml("deploy/k8s/grade-class.yaml");
    let container = &k8s["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let ["bash", "-c", script] = command[..] else {
        panic!("not bash -c: {command:?}")
    };
    let index = [("JOB_COMPLETION_INDEX", "0".to_owned())];
    check("deploy/k8s/grade-class.yaml", &["-c"], script, &index);

    let slurm =
        std::fs::read_to_string(tests::root().join("deploy/slurm/grade-class.sbatch")).unwrap();
    let task = [
        ("SUBMISSIONS", "/nonexistent".to_owned()),
        ("SLURM_ARRAY_JOB_ID", "7".to_owned()),
        ("SLURM_ARRAY_TASK_ID", "0".to_owned()),
    ];
    check("deploy/slurm/grade-class.sbatch", &["-c"], &slurm, &task);
}

/// The lines of `text` with backslash-continued lines joined.
fn logical_lines(text: &str) -> Vec<String> {
    text.replace("\\\n", " ")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_templates_install_gdb_for_the_breakpoint_tests() {
    // Without gdb-multiarch, util's "sleep, makes syscall" is SKIPPED and
    // the class gets 90 of 100.
    for file in [
        "deploy/github/grade-class.yml",
        "deploy/k8s/Dockerfile",
        "xtask/templates/classroom.yml",
    ] {
        let text = std::fs::read_to_string(tests::root().join(file)).unwrap();
        assert!(
            logical_lines(&text)
                .iter()
                .any(|l| l.contains("apt-get install") && l.contains(" gdb-multiarch")),
            "{file} does not install gdb-multiarch:\n{text}"
        );
    }
}
