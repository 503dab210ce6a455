//! The memory labs' test programs (lazytests, cowtest, stats, memtests,
//! memfault, bench): the semantics every kernel keeps, and how the lab
//! tests fail on a kernel without the labs.

use tests::{Scenario, assert_full_marks, build};

#[test]
fn memory_semantics_hold_on_the_base_kernel() {
    let (out, stdout, stderr) = Scenario::new("memtests").grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
fn memory_lab_tests_fail_cleanly_without_the_labs() {
    let (out, stdout, stderr) = Scenario::new("memlabs-base").grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
#[ignore = "slow: three kernel configurations"]
fn memory_semantics_hold_with_every_memory_lab() {
    // Each memory lab on its own, and all of them (lazy and cow together,
    // pgtbl's copies meeting lazy pages) in the kernel with every lab.
    for labs in [
        "lazy",
        "cow",
        "trace,sysinfo,pgtbl,backtrace,alarm,lazy,cow",
    ] {
        let (out, stdout, stderr) = Scenario::new("memtests").grade(&build(labs), &[]);
        assert_full_marks(&out, &stdout, &stderr);
    }
}
