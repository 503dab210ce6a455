//! Kernel stack overflow in lab code: runaway recursion and a frame larger
//! than the whole stack, in a system call and in a hook, each end in a
//! panic that says "kernel stack overflow" and names the process and what
//! it was running, never in a silent return or a write to another stack;
//! a frame larger than the unmapped gap below a stack does not build.

use std::path::Path;
use tests::{root, run, xtask};

/// The reference trace lab, overflowing its kernel stack when the mask is
/// 32 (recursion in `sys_trace`), 2147483647 (a 20 KiB frame, then a call,
/// in `sys_trace`) or 2 (recursion in the `fork` hook). lab-trace's runs
/// use those masks: "read", "all" and "children".
fn overflowing_trace() -> String {
    let src = std::fs::read_to_string(root().join("labs/src/trace.rs")).unwrap();
    let at_syscall = "    let mask = arg_int(0) as u32;\n";
    let at_fork = "        let mask = MASK.with(parent, |m| *m);\n";
    assert!(src.contains(at_syscall) && src.contains(at_fork));
    let src = src.replacen(
        at_syscall,
        &format!(
            "{at_syscall}    if mask == 32 {{ core::hint::black_box(deep(core::hint::black_box(u64::MAX))); }}\n\
             \x20   if mask == 2147483647 {{ core::hint::black_box(big_frame(3)); }}\n"
        ),
        1,
    );
    let src = src.replacen(
        at_fork,
        &format!(
            "{at_fork}        if mask == 2 {{ core::hint::black_box(deep(core::hint::black_box(u64::MAX))); }}\n"
        ),
        1,
    );
    format!(
        "{src}
#[inline(never)]
fn deep(n: u64) -> u64 {{
    if n == 0 {{
        return 0;
    }}
    let frame = core::hint::black_box([n; 4]);
    deep(frame[0] - 1) + frame[1]
}}

#[inline(never)]
fn big_frame(n: u8) -> u8 {{
    let big: Option<[u8; 20 * 1024]> = core::hint::black_box(None);
    core::hint::black_box(&big);
    callee(n)
}}

#[inline(never)]
fn callee(n: u8) -> u8 {{
    core::hint::black_box(n) + 1
}}
"
    )
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
#[ignore = "slow: builds two lab variants and boots one four times"]
fn stack_overflows_in_lab_code_panic_naming_the_process_and_call() {
    let subs = tempfile::tempdir().unwrap();
    write(
        &subs.path().join("overflow"),
        "labs/src/trace.rs",
        &overflowing_trace(),
    );
    // A frame larger than the gap below a stack could jump it: the build
    // refuses it (clippy's lints do not run in a batch build).
    write(
        &subs.path().join("huge"),
        "labs/src/trace.rs",
        &overflowing_trace().replace("[u8; 20 * 1024]", "[u8; 9 << 20]"),
    );
    let json = subs.path().join("summary.json");
    let mut batch = xtask(&[
        "grade",
        "lab-trace",
        "--submissions",
        &subs.path().to_string_lossy(),
        "--build-timeout",
        "300s",
        "--json",
        &json.to_string_lossy(),
    ]);
    tests::with_seed(&mut batch);
    let (out, stdout, stderr) = run(batch);
    // "huge" does not build, so the batch's exit status is 1.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let find = |name: &str| tests::submission(&summary, name).clone();
    let huge = find("huge");
    assert_eq!(huge["status"], "build_failed", "{huge}");
    let build_log =
        std::fs::read_to_string(Path::new(huge["out"].as_str().unwrap()).join("build.log"))
            .unwrap();
    assert!(
        build_log
            .contains("kernel function `kernel::trace::big_frame` takes a 9215 KiB stack frame"),
        "{build_log}"
    );
    let sub = find("overflow");
    assert_eq!(sub["status"], "graded", "{sub}");
    let logs = Path::new(sub["out"].as_str().unwrap()).join("grade/lab-trace");
    let log = |id: &str| {
        let path = logs.join(format!("{id}.log"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no console log {}: {e}", path.display()))
    };
    for (run, what) in [
        ("read", "pid 3 (trace) in system call trace:"),
        // Under tok, which is pid 3.
        ("all", "pid 4 (trace) in system call trace:"),
        (
            "children",
            "(usertests) in system call fork, in the labs' fork hook:",
        ),
    ] {
        let console = log(run);
        let line = console
            .lines()
            .find(|l| l.starts_with("panic: kernel stack overflow: "))
            .unwrap_or_else(|| panic!("run {run}: no stack overflow panic:\n{console}"));
        assert!(line.contains(what), "run {run}: {line}");
        assert!(
            line.contains("is below its 16 KiB stack"),
            "run {run}: {line}"
        );
    }
    // "trace nothing" requires "trace 32 grep", which the panic failed:
    // it is SKIPPED, and its run is not booted.
    assert!(!logs.join("nothing.log").exists());
    let report =
        std::fs::read_to_string(Path::new(sub["out"].as_str().unwrap()).join("report.json"))
            .unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let nothing = report["labs"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "trace nothing")
        .unwrap_or_else(|| panic!("no trace nothing in {report}"));
    assert_eq!(nothing["outcome"], "skipped", "{nothing}");
}
