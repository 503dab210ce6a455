//! The thread lab's spec pays for the work: batch-graded as a class would
//! be, the reference scores every test this machine can judge, and
//! submissions that get one part wrong lose that part's points only: a
//! scheduler that runs the threads in another order, a table that makes
//! values up instead of storing them, one lock for the whole table, a
//! barrier that never lets its threads go (a TIMEOUT, not a hang).

use std::collections::HashMap;
use std::path::Path;

const UTHREAD: &str = "user/src/bin/uthread.rs";
const TABLE: &str = "host/src/bin/ph/table.rs";
const SYNC: &str = "host/src/bin/barrier/sync.rs";

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn reference(file: &str) -> String {
    std::fs::read_to_string(tests::root().join(file)).unwrap()
}

/// `text` with `from` replaced by `to`, which must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the reference");
    text.replacen(from, to, 1)
}

use tests::outcomes;

#[test]
#[ignore = "slow: builds and grades four thread-lab submissions"]
fn each_part_scores_only_for_its_own_work() {
    let class = tempfile::tempdir().unwrap();
    let c = class.path();
    for f in [UTHREAD, TABLE, SYNC] {
        write(&c.join("reference"), f, &reference(f));
    }
    // Round robin backwards: c, b, a start, in the wrong order; and the
    // program prints tok's verdict itself, in the hope of passing as tok.
    let dir = c.join("order");
    let backwards = edit(
        &reference(UTHREAD),
        ".map(|i| (current + i) % MAX_THREAD)",
        ".map(|i| (current + 2 * MAX_THREAD - i) % MAX_THREAD)",
    );
    let spoof = "    println!(\"tok: uthread order for 100 rounds\");\n    thread_init();";
    write(
        &dir,
        UTHREAD,
        &edit(&backwards, "    thread_init();", spoof),
    );
    write(&dir, TABLE, &reference(TABLE));
    write(&dir, SYNC, &reference(SYNC));
    // A table that stores nothing and answers every key, and a barrier
    // that waits for ever.
    let dir = c.join("fake");
    write(&dir, UTHREAD, &reference(UTHREAD));
    write(
        &dir,
        TABLE,
        "pub struct Table;\n\
         impl Table {\n\
             pub fn new(_: usize) -> Table { Table }\n\
             pub fn put(&self, _: u64, _: u64) {}\n\
             pub fn get(&self, key: u64) -> Option<u64> { Some(key.rotate_left(7)) }\n\
         }\n",
    );
    write(
        &dir,
        SYNC,
        "use std::sync::{Condvar, Mutex};\n\
         pub struct Barrier { m: Mutex<()>, c: Condvar }\n\
         impl Barrier {\n\
             pub fn new(_: usize) -> Barrier { Barrier { m: Mutex::new(()), c: Condvar::new() } }\n\
             pub fn wait(&self) { let g = self.m.lock().unwrap(); let _g = self.c.wait_while(g, |_| true); }\n\
             pub fn round(&self) -> u64 { 0 }\n\
         }\n",
    );
    // One lock for the whole table: safe, not faster with two threads.
    let dir = c.join("onelock");
    write(&dir, UTHREAD, &reference(UTHREAD));
    write(
        &dir,
        TABLE,
        &edit(&reference(TABLE), "self.locks[i]", "self.locks[0]"),
    );
    write(&dir, SYNC, &reference(SYNC));

    let (out, stdout, stderr, summary) = tests::grade_class("lab-thread", c, "900s");
    // ph_fast needs two idle cores: where the machine had none it is
    // NEEDS CORES, never a pass or a FAIL of the reference.
    let fast = |o: &HashMap<String, String>| o["ph_fast"].clone();
    let r = outcomes(&summary, "reference");
    for t in ["uthread", "ph_safe", "barrier"] {
        assert_eq!(r[t], "pass", "reference {t}: {r:?}\n{stderr}");
    }
    assert!(
        ["pass", "needs_cores"].contains(&fast(&r).as_str()),
        "{r:?}"
    );

    let o = outcomes(&summary, "order");
    assert_eq!(o["uthread"], "fail", "{o:?}");
    assert_eq!(
        (o["ph_safe"].as_str(), o["barrier"].as_str()),
        ("pass", "pass")
    );

    let f = outcomes(&summary, "fake");
    assert_eq!(f["uthread"], "pass", "{f:?}");
    assert_eq!(f["ph_safe"], "fail", "{f:?}");
    assert_eq!(f["ph_fast"], "skipped", "{f:?}");
    assert_eq!(f["barrier"], "timeout", "{f:?}");

    let l = outcomes(&summary, "onelock");
    assert_eq!(l["ph_safe"], "pass", "{l:?}");
    assert!(
        ["fail", "needs_cores"].contains(&fast(&l).as_str()),
        "{l:?}"
    );
    // Every submission was graded: batch grading succeeded.
    assert!(out.status.success(), "{stdout}{stderr}");
}
