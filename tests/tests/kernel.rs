//! The kernel, booted in QEMU: ABI compatibility with C programs, bad
//! input, free memory, the console, the kernel ELF. (Full usertests and
//! grind run in tests/fs.rs, on a disk that is checked afterwards.)

use tests::{Scenario, assert_full_marks, build};

#[test]
fn c_programs_built_for_xv6_run_unchanged() {
    let (out, stdout, stderr) = Scenario::new("abitest").grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

/// Every lab at once (`build("all")`).
const ALL: &str = "all";

#[test]
fn bad_system_call_input_never_panics_the_kernel() {
    let (out, stdout, stderr) = Scenario::new("badinput").grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
#[ignore = "slow: a kernel with every lab"]
fn bad_system_call_input_never_panics_a_kernel_with_every_lab() {
    // pgtbl reads user memory through its mirror, lazy and cow change
    // what copyin and copyout meet: the same refusals must hold.
    let (out, stdout, stderr) = Scenario::new("badinput").grade(&build(ALL), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
fn lab_calls_refuse_bad_input_with_and_without_the_labs() {
    for labs in ["", ALL] {
        let (out, stdout, stderr) = Scenario::new("labinput").grade(&build(labs), &[]);
        assert_full_marks(&out, &stdout, &stderr);
    }
}

#[test]
fn a_process_gets_almost_all_memory_after_boot() {
    let s = Scenario::new("free");
    let (out, stdout, stderr) = s.grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
    let log = s.log("free");
    let pages: u64 = log
        .lines()
        .find_map(|l| l.split("free: ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no free line in:\n{log}"));
    // Of 32,768 pages: the kernel, its page tables and stacks, init, sh and
    // this process's page tables take the rest.
    assert!(pages >= 31_500, "only {pages} pages free after boot");
}

#[test]
fn the_console_edits_lines() {
    let (out, stdout, stderr) = Scenario::new("console").grade(&build(""), &[]);
    assert_full_marks(&out, &stdout, &stderr);
}

#[test]
fn the_kernel_elf_names_functions_not_local_labels() {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(build("").kernel).unwrap();
    let elf = object::File::parse(&*bytes).unwrap();
    let names: Vec<String> = elf
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect();
    // The assembler's local labels would shadow function names in
    // addr2line and symbolizers.
    let labels = names.iter().filter(|n| n.starts_with(".L")).count();
    assert_eq!(labels, 0, "local labels in the kernel's symbol table");
    assert!(
        names
            .iter()
            .any(|n| format!("{:#}", rustc_demangle::demangle(n)).ends_with("sys_sleep")),
        "no sys_sleep symbol"
    );
}
