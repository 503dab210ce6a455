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
#[ignore = "slow: four kernel configurations"]
fn memory_semantics_hold_with_every_memory_lab() {
    // Each memory lab on its own (pgtbl's mirror and direct copies alone
    // too), and all of them (lazy and cow together, pgtbl's copies meeting
    // lazy pages) in the kernel with every lab.
    for labs in ["pgtbl", "lazy", "cow", "all"] {
        let (out, stdout, stderr) = Scenario::new("memtests").grade(&build(labs), &[]);
        assert_full_marks(&out, &stdout, &stderr);
    }
}

/// The statistics device speaks xv6's protocol (MIT's `statistics()`
/// reads until a read returns a negative value): pieces, then -1 once
/// after the last byte, then a fresh snapshot.
#[test]
fn statistics_device_ends_with_minus_one_then_starts_over() {
    let spec = r#"
name = "statread"
timeout = "60s"
# statread is a kernel test program, not tokened.
untrusted = true

[[run]]
id = "statread"
commands = ["statread", "stats"]

[[test]]
name = "statread"
points = 1
run = "statread"
match = ['^statread: pass 2: ', '^copyinstr: \d+$']
"#;
    let scenario = Scenario::with_text("statread", spec);
    let (out, stdout, stderr) = scenario.grade(&build("pgtbl"), &[]);
    assert_full_marks(&out, &stdout, &stderr);
    let log = scenario.log("statread");
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    let mut copyins = Vec::new();
    for pass in 1..=2 {
        let head = format!("statread: pass {pass}: reads");
        let i = lines
            .iter()
            .position(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no pass {pass} in:\n{log}"));
        let words: Vec<&str> = lines[i][head.len()..].split_whitespace().collect();
        assert_eq!(
            words[words.len() - 2..],
            ["then", "-1"],
            "pass {pass} did not end with -1:\n{log}"
        );
        let reads: Vec<usize> = words[..words.len() - 2]
            .iter()
            .map(|w| w.parse().unwrap())
            .collect();
        // Pieces of at most 8 bytes, all full but the last.
        assert!(reads.len() >= 2, "pass {pass} in one piece:\n{log}");
        assert!(
            reads[..reads.len() - 1].iter().all(|&n| n == 8) && reads[reads.len() - 1] <= 8,
            "pass {pass}: pieces {reads:?}:\n{log}"
        );
        // The text the pass read: the two count lines, every byte of it.
        let text = format!("{}\n{}\n", lines[i + 1], lines[i + 2]);
        assert_eq!(text.len(), reads.iter().sum::<usize>(), "{log}");
        let count = |name: &str, line: &str| -> u64 {
            line.strip_prefix(name)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("pass {pass}: no {name:?} line:\n{log}"))
        };
        copyins.push(count("copyin: ", lines[i + 1]));
        count("copyinstr: ", lines[i + 2]);
    }
    // Pass 2 is a new snapshot (pass 1's printing copied in), not a replay
    // and not a continuation.
    assert!(
        copyins[1] > copyins[0],
        "no fresh counts: {copyins:?}\n{log}"
    );
    // And `stats` still prints the report once.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("copyin: ")).count(),
        3,
        "{log}"
    );
}
