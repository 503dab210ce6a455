//! The lock lab's tests pay only for the work: kalloctest and bcachetest
//! fail on a kernel whose statistics device says nothing (MIT's pass
//! there), and, batch-graded as a class would be, on allocators and caches
//! whose locks are named so that the statistics do not count them, and on
//! one global lock for all harts' free lists. (The reference's full marks
//! and the starter's 0 are `cargo xtask check-starters lock`'s.)

use std::path::Path;
use tests::{Scenario, build};

const LOCK: &str = "labs/src/lock.rs";

fn reference() -> String {
    std::fs::read_to_string(tests::root().join(LOCK)).unwrap()
}

/// `text` with every `from` replaced by `to`; `from` must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the reference");
    text.replace(from, to)
}

/// A kernel with no lock statistics (the base kernel: no statistics
/// device at all) fails both programs, saying why, where MIT's pass.
#[test]
fn no_statistics_is_a_fail() {
    let spec = r#"
name = "nostats"
timeout = "120s"
untrusted = true

[[run]]
id = "nostats"
commands = ["kalloctest 200 test1", "bcachetest 2 test0"]

[[test]]
name = "kalloctest"
points = 1
run = "nostats"
match = '^test1 FAIL: the statistics device gave no text'
no_match = '^test1 OK$'

[[test]]
name = "bcachetest"
points = 1
run = "nostats"
match = '^test0: FAIL: the statistics device gave no text'
no_match = '^test0: OK$'
"#;
    let (out, stdout, stderr) = Scenario::with_text("nostats", spec).grade(&build(""), &[]);
    tests::assert_full_marks(&out, &stdout, &stderr);
}

use tests::outcomes;

fn write(dir: &Path, text: &str) {
    let path = dir.join(LOCK);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
#[ignore = "slow: builds and grades three lock-lab submissions"]
fn misnamed_locks_and_one_global_lock_fail() {
    let class = tempfile::tempdir().unwrap();
    let c = class.path();
    // The reference's policies with locks the statistics do not count:
    // the allocator's, the cache's, and both.
    let r = reference();
    write(
        &c.join("kmem-misnamed"),
        &edit(&r, "list(\"kmem", "list(\"mem"),
    );
    write(
        &c.join("bcache-misnamed"),
        &edit(
            &edit(&r, "bucket(\"bcache", "bucket(\"buf"),
            "\"bcache.evict\"",
            "\"evict\"",
        ),
    );
    // One list under one lock named kmem for every hart (the base kernel's
    // policy, a `SpinLock<FreePages>`), with the reference's cache.
    write(
        &c.join("global"),
        &format!(
            "{}\nstatic GLOBAL: SpinLock<FreePages> = SpinLock::new(\"kmem\", FreePages::new());\n\
             const _: &PerCpuLists = &KMEM;\n",
            edit(&r, "Some(&KMEM)", "Some(&GLOBAL)")
        ),
    );
    let (_, _, stderr, summary) =
        tests::grade_class_tests("lab-lock", &["kalloctest", "bcachetest"], c, "600s");
    let k = outcomes(&summary, "kmem-misnamed");
    assert_eq!(k["kalloctest: test1"], "fail", "{k:?}\n{stderr}");
    assert_eq!(k["bcachetest: test0"], "pass", "{k:?}\n{stderr}");
    let b = outcomes(&summary, "bcache-misnamed");
    assert_eq!(b["kalloctest: test1"], "pass", "{b:?}\n{stderr}");
    assert_eq!(b["bcachetest: test0"], "fail", "{b:?}\n{stderr}");
    let g = outcomes(&summary, "global");
    assert_eq!(g["kalloctest: test1"], "fail", "{g:?}\n{stderr}");
    assert_eq!(g["kalloctest: test2"], "skipped", "{g:?}\n{stderr}");
}

/// rwlktest fails a lock without writer priority (readers that come while
/// a writer waits go in first, so readers handing the lock on between them
/// starve it) and one without mutual exclusion (readers go in beside a
/// writer): the reference with one edit each, graded as a class.
#[test]
#[ignore = "slow: builds and grades two lock-lab submissions"]
fn rwlktest_fails_reader_priority_and_no_exclusion() {
    let class = tempfile::tempdir().unwrap();
    let c = class.path();
    let r = reference();
    write(
        &c.join("reader-priority"),
        &edit(
            &r,
            "if s.waiting.load(Ordering::Acquire) == 0 {",
            "if s.waiting.load(Ordering::Acquire) < u32::MAX {",
        ),
    );
    write(
        &c.join("no-exclusion"),
        &edit(&r, "if w & WRITER == 0", "if w & WRITER == w & WRITER"),
    );
    let (_, _, stderr, summary) = tests::grade_class_tests("lab-lock", &["rwlktest"], c, "600s");
    // Each fails for its own fault, which its console names.
    for (who, fault) in [
        ("reader-priority", "kept out by a stream of readers"),
        ("no-exclusion", "a writer was in beside"),
    ] {
        let o = outcomes(&summary, who);
        assert_eq!(o["rwlktest (2025)"], "fail", "{who}: {o:?}\n{stderr}");
        let report = tests::submission(&summary, who)["files"]["report_json"]
            .as_str()
            .map(std::path::PathBuf::from)
            .unwrap();
        let console = find_file(report.parent().unwrap(), "rwlktest.log")
            .unwrap_or_else(|| panic!("{who}: no rwlktest.log near {}", report.display()));
        let text = std::fs::read_to_string(&console).unwrap();
        assert!(text.contains(fault), "{who}: {fault:?} not in\n{text}");
    }
}

/// The first file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
