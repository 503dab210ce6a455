//! Submissions that try to read files outside their tree while they are
//! built: each is refused by the source check, and, with the check turned
//! off, still gets nothing, because the build sandbox shows it no file but
//! its own tree's. A file planted outside the worker tree (in the
//! instructor's tree and in /tmp) appears in no output of the batch.

use std::path::Path;
use tests::{root, run, target_dir, xtask};

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The reference trace lab with `extra` added: full marks if `extra` is
/// harmless.
fn trace_and(extra: &str) -> String {
    let text = std::fs::read_to_string(root().join("labs/src/trace.rs")).unwrap();
    if extra.starts_with("#!") {
        // An inner attribute goes before the items.
        format!("{extra}\n{text}")
    } else {
        format!("{text}\n{extra}\n")
    }
}

/// Every file under `dir` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str, skip: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() && entry.file_name() != skip {
            found.extend(files_holding(&path, needle, skip));
        } else if kind.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && (needle.is_empty() || bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
#[ignore = "slow: builds a class of hostile submissions twice"]
fn reading_outside_the_tree_gets_nothing_even_unchecked() {
    // Unique strings in files outside any worker tree.
    let unique = format!("PLANTED{}X{}", std::process::id(), rand_word());
    let in_tree = target_dir().join(format!("planted-{}.txt", std::process::id()));
    std::fs::write(&in_tree, format!("{unique}-tree\n")).unwrap();
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), format!("{unique}-tmp\n")).unwrap();
    let (in_tree_s, tmp_s) = (in_tree.display(), tmp.path().display());
    let cow = root().join("labs/src/cow.rs");
    let cow = cow.display();

    let subs = tempfile::tempdir().unwrap();
    let s = subs.path();
    let class = [
        ("honest", String::new()),
        // The ways round the old token filter (issue 15).
        (
            "cfg-attr-path",
            format!("#[cfg_attr(all(), path = \"{cow}\")]\nmod r;"),
        ),
        (
            "macro-include",
            format!(
                "macro_rules! m {{ ($i:ident) => {{ $i!(\"{in_tree_s}\") }} }}\n\
                 pub const S: &str = m!(include_str);"
            ),
        ),
        (
            "renamed-asm",
            format!("use core::arch::global_asm as ga;\nga!(\".incbin \\\"{tmp_s}\\\"\");"),
        ),
        (
            "byte-raw-string",
            format!(
                "pub const B: &[u8] = br#\"x\"y\"#;\npub const S: &str = include_str!(\"{tmp_s}\");"
            ),
        ),
        (
            "debugger-visualizer",
            format!("#![debugger_visualizer(gdb_script_file = \"{in_tree_s}\")]"),
        ),
        // Others of the kind.
        (
            "renamed-include-bytes",
            format!("use core::include_bytes as grab;\npub const S: &[u8] = grab!(\"{cow}\");"),
        ),
        (
            "meta-path",
            format!(
                "macro_rules! m {{ ($a:meta) => {{ #[$a] mod r; }} }}\nm!(path = \"{in_tree_s}\");"
            ),
        ),
        (
            "env",
            "pub const S: &str = env!(\"XV6_PLANTED_FOR_TESTS\");".to_owned(),
        ),
        // Prints the cow lab's reference on the console when it reads it:
        // without a sandbox, the redaction's work.
        (
            "printer",
            format!(
                "pub const STOLEN: &str = include_str!(\"{cow}\");\n\
                 pub fn leak() {{ for l in STOLEN.lines() {{ kernel_base::println!(\"{{l}}\"); }} }}"
            ),
        ),
    ];
    for (name, extra) in &class {
        let mut text = trace_and(extra);
        if *name == "renamed-asm" {
            // The student's to remove (the source check refuses the asm
            // anyway): with it, rustc would stop the build before the
            // assembler looks for the file, and the sandbox went untested.
            text = text.replace("#![forbid(unsafe_code)]\n", "");
            assert!(!text.contains("forbid(unsafe_code)"));
        }
        if *name == "printer" {
            text = text.replace(
                "fn sys_trace() -> i64 {",
                "fn sys_trace() -> i64 {\n    leak();",
            );
        }
        write(&s.join(name), "labs/src/trace.rs", &text);
    }
    // Kernels that pass the source check and build, and must still score
    // nothing: one that prints what a working kernel printed (every
    // recorded console of the lab, at every exec) and traces nothing
    // itself, one that hangs before the shell, one that floods.
    let kernels = [
        ("fake-output", fake_output()),
        (
            "hang-at-boot",
            with_hook(
                "fn devices(&self) -> &'static [(i16, &'static kernel_base::file::Device)] {\n\
                 loop { core::hint::spin_loop(); }\n}",
            ),
        ),
        (
            "flood",
            with_hook(
                "fn exec(&self, _p: &Proc, _m: &kernel_base::vm::UserMemory<'_>) {\n\
                 loop { println!(\"flood flood flood flood flood flood flood flood\"); }\n}",
            ),
        ),
    ];
    for (name, text) in &kernels {
        write(&s.join(name), "labs/src/trace.rs", text);
    }
    // A tree whose labs/ is the instructor's: the reference handed in.
    std::fs::create_dir_all(s.join("linked")).unwrap();
    std::os::unix::fs::symlink(root().join("labs"), s.join("linked/labs")).unwrap();
    let grade = |checked: bool, extra: &[&str], code: i32| {
        let json = s.join(format!("summary-{checked}.json"));
        let mut cmd = xtask(&[
            "grade",
            "lab-trace",
            "--submissions",
            &s.to_string_lossy(),
            "--build-timeout",
            "300s",
            "--json",
            &json.to_string_lossy(),
        ]);
        cmd.args(extra);
        tests::with_seed(&mut cmd);
        if checked {
            cmd.arg("--build-only");
        } else {
            cmd.env("XTASK_BATCH_UNCHECKED_FOR_TESTS", "1");
        }
        cmd.env("XV6_PLANTED_FOR_TESTS", format!("{unique}-env"));
        let (out, stdout, stderr) = run(cmd);
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&json).unwrap_or_else(|_| panic!("{stdout}{stderr}")),
        )
        .unwrap();
        // Refused and failed builds make the batch's exit status non-zero.
        assert_eq!(out.status.code(), Some(code), "{stdout}{stderr}");
        (summary, format!("{stdout}{stderr}"), json)
    };

    // (a) The source check refuses each, naming the file and line.
    let (summary, said, _) = grade(true, &[], 1);
    let linked = |summary: &serde_json::Value| {
        let o = tests::submission(summary, "linked").clone();
        assert_eq!(o["status"], "refused", "{o}");
        assert_eq!(o["score"], 0, "{o}");
        assert!(
            o["detail"].as_str().unwrap().contains("symbolic link"),
            "{o}"
        );
    };
    linked(&summary);
    for (name, _) in &kernels {
        let o = tests::submission(&summary, name);
        assert_eq!(o["status"], "graded", "{name} was not built: {o}\n{said}");
    }
    for (name, _) in &class {
        let o = tests::submission(&summary, name);
        if *name == "honest" {
            assert_eq!(o["status"], "graded", "{o}\n{said}");
        } else {
            assert_eq!(o["status"], "refused", "{name}: {o}\n{said}");
            assert!(
                o["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("labs/src/trace.rs:"),
                "{name}: {o}"
            );
        }
    }

    // (b) Unchecked, the sandbox leaves each nothing to read: the build
    // fails, and the honest one still has full marks.
    let started = std::time::Instant::now();
    // A fixed seed whose random values differ from the recordings' (seed
    // 4242), so that the fake's one chance in hundreds cannot come up.
    let (summary, said, json) = grade(false, &["--seed", "7"], 1);
    let took = started.elapsed();
    linked(&summary);
    // Each graded, each 0, each for the reason it earned.
    for (name, why) in [
        ("fake-output", "FAIL"),
        ("hang-at-boot", "TIMEOUT"),
        ("flood", "OUTPUT LIMIT"),
    ] {
        let o = tests::submission(&summary, name);
        assert_eq!(o["status"], "graded", "{name}: {o}\n{said}");
        assert_eq!(o["score"], 0, "{name}: {o}\n{said}");
        assert!(
            o["reason"].as_str().unwrap().contains(why),
            "{name} should end in {why}: {o}"
        );
    }
    // Issue 15 asks for a class like this one in under 15 minutes on a
    // 2-core machine; twice that is a bug, not load.
    assert!(
        took < std::time::Duration::from_secs(30 * 60),
        "the class took {took:?}"
    );
    eprintln!(
        "hostile class of {} graded in {took:?}",
        class.len() + kernels.len() + 1
    );
    for (name, _) in &class {
        let o = tests::submission(&summary, name);
        let (status, score) = if *name == "honest" {
            ("graded", 20)
        } else {
            ("build_failed", 0)
        };
        assert_eq!(o["status"], status, "{name}: {o}\n{said}");
        assert_eq!(o["score"], score, "{name}: {o}\n{said}");
        // Failed for want of the file, not for some other error.
        if *name != "honest" {
            let log = std::fs::read_to_string(
                target_dir().join(format!("batch/lab-trace/results/{name}/build.log")),
            )
            .unwrap();
            assert!(
                [
                    "No such file or directory",
                    "Could not find incbin file",
                    "not defined at compile time"
                ]
                .iter()
                .any(|why| log.contains(why)),
                "{name}: {log}"
            );
        }
    }
    // No planted text anywhere the batch wrote, nor in what it said.
    let results = target_dir().join("batch/lab-trace/results");
    for dir in [results.as_path(), json.parent().unwrap()] {
        let found = files_holding(dir, &unique, "labs");
        assert!(found.is_empty(), "planted text in {found:?}");
    }
    assert!(!said.contains(&unique), "{said}");
    let _ = std::fs::remove_file(&in_tree);

    // (c) Without the sandbox the printer reads the reference and prints
    // it: every reference line (not in the starter) is redacted in every
    // file written for it.
    let (summary, said, _) = grade(false, &["--no-sandbox", "--only", "printer"], 0);
    assert_eq!(summary["submissions"][0]["status"], "graded", "{said}");
    let starter = tempfile::tempdir().unwrap();
    let mut handout = xtask(&["handout", "cow", "--no-git", "--out"]);
    handout.arg(starter.path());
    let (done, _, stderr) = run(handout);
    assert!(done.status.success(), "handout failed: {stderr}");
    let given = std::fs::read_to_string(starter.path().join("labs/src/cow.rs")).unwrap();
    let reference = std::fs::read_to_string(root().join("labs/src/cow.rs")).unwrap();
    let telling = |l: &&str| l.chars().filter(|c| !c.is_whitespace()).count() >= 12;
    // What the student was given, and what they wrote (the trace lab's
    // reference, with its solution markers): theirs, not leaked.
    let own = std::fs::read_to_string(s.join("printer/labs/src/trace.rs")).unwrap();
    let given: Vec<&str> = given
        .lines()
        .chain(own.lines())
        .map(str::trim)
        .filter(telling)
        .collect();
    let lines: Vec<&str> = reference
        .lines()
        .map(str::trim)
        .filter(telling)
        .filter(|l| !given.contains(l))
        .collect();
    assert!(lines.len() > 20, "{lines:?}");
    let out = results.join("printer");
    let mut redacted = 0;
    for file in files_holding(&out, "", "") {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for line in &lines {
            // JSON escapes quotes and backslashes.
            let escaped = serde_json::to_string(line).unwrap();
            let escaped = &escaped[1..escaped.len() - 1];
            assert!(
                !text.contains(line) && !text.contains(escaped),
                "{file} holds `{line}`"
            );
        }
        redacted += usize::from(text.contains("[redacted: reference solution text]"));
    }
    assert!(
        redacted > 0,
        "the printer printed nothing to redact: {said}"
    );
}

/// The reference trace lab with `method` added to its `impl Lab`.
fn with_hook(method: &str) -> String {
    let text = std::fs::read_to_string(root().join("labs/src/trace.rs")).unwrap();
    let at = "impl Lab for Trace {\n";
    assert!(text.contains(at), "labs/src/trace.rs has no `{at}`");
    text.replacen(at, &format!("{at}{method}\n"), 1)
}

/// A trace lab that traces nothing but prints, at every exec, every
/// console line a working kernel printed in the recorded runs of the lab
/// (grader/tests/data/replay/lab-trace), tokens and all.
fn fake_output() -> String {
    let dir = root().join("grader/tests/data/replay/lab-trace");
    let mut recorded = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        recorded += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    assert!(
        recorded.lines().count() > 20,
        "recordings in {}",
        dir.display()
    );
    let text = with_hook(
        "fn exec(&self, _p: &Proc, _m: &kernel_base::vm::UserMemory<'_>) {\n\
         for l in RECORDED.lines() { println!(\"{l}\"); }\n}",
    );
    let text = text.replace("        if traced {", "        if traced && false {");
    assert!(text.contains("traced && false"), "the trace lab changed");
    format!("{text}\npub const RECORDED: &str = r####\"{recorded}\"####;\n")
}

/// A word that differs between runs, so that no earlier run's output can
/// hold the planted text.
fn rand_word() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
