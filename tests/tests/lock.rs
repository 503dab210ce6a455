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
    let (_, stdout, stderr) = tests::run(tests::xtask(&[
        "grade",
        "lab-lock",
        "kalloctest",
        "bcachetest",
        "--submissions",
        &c.to_string_lossy(),
        "--jobs",
        "1",
        "--build-timeout",
        "600s",
        "--json",
        &c.join("summary.json").to_string_lossy(),
    ]));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.join("summary.json"))
            .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}{stderr}")),
    )
    .unwrap();
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
