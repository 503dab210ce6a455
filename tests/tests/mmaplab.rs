//! The mmap lab's kernel on a writable disk: `mmaptest` passes all of its
//! tests, MIT's (2020's and 2024's) and ours (write-back at exit and at
//! exec, `read()` and `write()` between a file and a mapping of that file,
//! which deadlocked once), and fsck finds the disk clean afterwards: every
//! write-back was a whole transaction. With lazy's sbrk, the heap and the
//! mappings keep apart. The reference's full marks and the starter's 0 are
//! `check-starters`' (starters.rs); lab-all's grade is grading.rs's.

use std::time::Duration;

use tests::build;
use tests::disk::Disk;

/// The lines of mmaptest from its last 2020 one, in order: 2024's (graded
/// too) and ours.
const OURS: [&str; 11] = [
    "fork_test OK",
    "test basic mmap: OK",
    "test fork: OK",
    "test mmap lazy: OK",
    "test munmap no-access: OK",
    "test mmap read-only write: OK",
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

/// Lazy's sbrk only moves the end of memory, so the heap can reach a
/// mapping near the top: sbrk grows up to it and no further (the kernel
/// asks mmap's `reserved`), a new mapping does not go over the heap, and
/// once the mapping is gone the heap may take its place.
#[test]
fn sbrk_stops_at_a_mapping_on_a_lazy_kernel() {
    let disk = Disk::copy_of(&build("lazy,mmap"));
    let boot = disk.boot(1, &["mmaptest heap"], Duration::from_secs(60));
    boot.assert_finished("mmaptest heap");
    assert!(
        boot.console
            .lines()
            .any(|l| l.trim_end() == "test mmap heap: OK"),
        "mmaptest heap on `lazy,mmap`:\n{}",
        boot.console
    );
    disk.assert_clean("after mmaptest heap on `lazy,mmap`");
}
