//! The mmap lab's kernel on a writable disk: `mmaptest` passes all of its
//! tests, MIT's and ours (write-back at exit and at exec, `read()` and
//! `write()` between a file and a mapping of that file, which deadlocked
//! once), and fsck finds the disk clean afterwards: every write-back was a
//! whole transaction. The reference's full marks and the starter's 0 are
//! `check-starters`' (starters.rs); lab-all's grade is grading.rs's.

use std::time::Duration;

use tests::build;
use tests::disk::Disk;

/// The lines of mmaptest beyond the graded ones, in order.
const OURS: [&str; 6] = [
    "fork_test OK",
    "test mmap exit: OK",
    "test mmap exec: OK",
    "test mmap read into mapping: OK",
    "test mmap write from mapping: OK",
    "mmaptest: all tests succeeded",
];

fn mmaptest_leaves_a_clean_disk(labs: &str, cpus: u32) {
    let disk = Disk::copy_of(&build(labs));
    let boot = disk.boot(cpus, &["mmaptest"], Duration::from_secs(180));
    boot.assert_finished("mmaptest");
    let lines: Vec<&str> = boot.console.lines().map(str::trim_end).collect();
    let mut at = 0;
    for want in OURS {
        match lines[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "no `{want}` (in order) from mmaptest on `{labs}`, {cpus} hart(s):\n{}",
                boot.console
            ),
        }
    }
    disk.assert_clean(&format!("after mmaptest on `{labs}`"));
}

#[test]
fn mmaptest_passes_and_leaves_a_clean_disk() {
    mmaptest_leaves_a_clean_disk("mmap", 3);
}

/// With pgtbl's mirror (its copyin must leave the mapping, above the heap,
/// to the kernel's walk), lazy and cow, on one hart.
#[test]
#[ignore = "slow: the kernel with every lab"]
fn mmaptest_passes_and_leaves_a_clean_disk_with_every_lab() {
    mmaptest_leaves_a_clean_disk("all", 1);
}
