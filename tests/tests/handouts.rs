//! The handouts say what is true: every lab's handout (the registry's labs)
//! has a "Hand in" section naming its `handin` command, `time.txt` and its
//! answers file with questions, and its points table is its spec's tests
//! and points, name for name; the traps lab's assembly exercise holds on
//! what the toolchain emits (`cargo xtask asm call`).

use std::collections::BTreeMap;

use grader::spec::{self, Spec};
use object::{Object, ObjectSegment};
use tests::{build, registry, root, run, target_dir, xtask};

fn handout(lab: &str) -> String {
    let path = root().join(format!("handouts/lab-{lab}.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of section `## title` (up to the next `## `), if there is one.
fn section<'a>(text: &'a str, title: &str) -> Option<&'a str> {
    let head = format!("\n## {title}\n");
    let start = text.find(&head)? + head.len();
    let rest = &text[start..];
    Some(&rest[..rest.find("\n## ").unwrap_or(rest.len())])
}

/// The rows (name cell, points cell) of the first table in `text` whose
/// header starts `| test | points |`, `\|` read as a `|` inside a cell.
fn points_table(text: &str) -> Option<Vec<(String, String)>> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("| test | points |"));
    lines.next()?;
    lines.next()?; // | --- | --- |
    Some(
        lines
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let l = l.replace("\\|", "\u{1}");
                let cells: Vec<String> = l
                    .split('|')
                    .map(|c| c.trim().replace("**", "").replace('\u{1}', "|"))
                    .collect();
                (cells[1].clone(), cells[2].clone())
            })
            .collect(),
    )
}

/// What a table row stands for: one name, or `prefix: a, b, c` with
/// `N each`, one name per item.
fn row_entries(name: &str, points: &str) -> Result<Vec<(String, u32)>, String> {
    let bad = || format!("row `{name}`: points `{points}` is not a number or `N each`");
    match points.strip_suffix(" each") {
        Some(n) => {
            let n: u32 = n.parse().map_err(|_| bad())?;
            let (prefix, items) = match name.rsplit_once(": ") {
                Some((p, items)) => (format!("{p}: "), items),
                None => (String::new(), name),
            };
            Ok(items
                .split(", ")
                .map(|i| (format!("{prefix}{i}"), n))
                .collect())
        }
        None => Ok(vec![(name.to_owned(), points.parse().map_err(|_| bad())?)]),
    }
}

/// Compares a handout's points table with its spec: each test is one row
/// (a parent test one row with its parts' sum, or a row per part), no row
/// is anything else, and the total row, if any, is the spec's total. The
/// mismatches, one line each.
fn compare(rows: &[(String, String)], spec: &Spec) -> Vec<String> {
    let mut wrong = Vec::new();
    // Every name a row may use, with its points: tests, parts, parents.
    let mut names: BTreeMap<&str, u32> = BTreeMap::new();
    for t in &spec.tests {
        names.insert(&t.name, t.points);
        for p in &t.parts {
            names.insert(&p.name, p.points);
        }
    }
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for (name, points) in rows {
        if name == "total" {
            if points.parse() != Ok(spec.points()) {
                wrong.push(format!("total {points}, the spec's is {}", spec.points()));
            }
            continue;
        }
        match row_entries(name, points) {
            Err(e) => wrong.push(e),
            Ok(entries) => {
                for (n, p) in entries {
                    match names.get(n.as_str()) {
                        None => wrong.push(format!("row `{n}`: the spec has no such test")),
                        Some(&want) if want != p => {
                            wrong.push(format!("row `{n}`: {p} points, the spec's {want}"))
                        }
                        Some(_) => {}
                    }
                    *seen.entry(n).or_default() += 1;
                }
            }
        }
    }
    for t in &spec.tests {
        let whole = seen.get(&t.name).copied().unwrap_or(0);
        let parts: Vec<u32> = t
            .parts
            .iter()
            .map(|p| seen.get(&p.name).copied().unwrap_or(0))
            .collect();
        let covered = match (
            whole,
            parts.iter().all(|&c| c == 1),
            parts.iter().all(|&c| c == 0),
        ) {
            (1, _, true) => true,
            (0, true, _) => !t.parts.is_empty(),
            _ => false,
        };
        if !covered {
            wrong.push(format!(
                "test `{}` ({} points) is not in the table exactly once (as itself or as its parts)",
                t.name, t.points
            ));
        }
    }
    wrong
}

#[test]
fn every_handout_has_a_hand_in_section_and_its_specs_points_table() {
    let mut wrong = Vec::new();
    for lab in &registry().labs {
        let text = handout(&lab.name);
        let file = format!("handouts/lab-{}.md", lab.name);
        match section(&text, "Hand in") {
            None => wrong.push(format!("{file}: no `## Hand in` section")),
            Some(s) => {
                let cmd = format!("cargo xtask handin {}", lab.name);
                for needed in [cmd.as_str(), "time.txt"] {
                    if !s.contains(needed) {
                        wrong.push(format!(
                            "{file}: its Hand in section does not say `{needed}`"
                        ));
                    }
                }
                if let Some(answers) = &lab.answers {
                    if !s.contains(answers.as_str()) {
                        wrong.push(format!(
                            "{file}: its Hand in section does not name {answers}"
                        ));
                    }
                    // The questions are numbered, here or in the handout
                    // the section points to for them.
                    let questions = s.lines().filter(|l| is_question(l)).count();
                    if questions < 2 && !s.contains("(lab-") {
                        wrong.push(format!(
                            "{file}: its Hand in section has no numbered questions for {answers}"
                        ));
                    }
                }
            }
        }
        let spec = spec::load(&root(), &lab.spec(), 1).unwrap();
        match section(&text, "Grading").and_then(points_table) {
            None => wrong.push(format!(
                "{file}: no `| test | points |` table in its Grading section"
            )),
            Some(rows) => wrong.extend(
                compare(&rows, &spec)
                    .into_iter()
                    .map(|w| format!("{file} against labs/{}.toml: {w}", lab.spec())),
            ),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `1. …` to `99. …`, a numbered item.
fn is_question(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&digits) && line[digits..].starts_with(". ")
}

/// The comparison itself can fail: a row with other points, a test left
/// out, a part listed beside its parent's row, an unknown row and a wrong
/// total are each found.
#[test]
fn the_table_comparison_finds_each_kind_of_mismatch() {
    let spec = spec::load(&root(), "lab-cow", 1).unwrap();
    let rows = |r: &[(&str, &str)]| -> Vec<(String, String)> {
        r.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let good = [
        ("simple", "30"),
        ("three", "30"),
        ("file", "20"),
        ("all cow tests", "1"),
        ("usertests: copyin, copyout", "5 each"),
        ("usertests: all tests, no free pages lost", "19"),
        ("total", "110"),
    ];
    assert_eq!(compare(&rows(&good), &spec), Vec::<String>::new());
    let whole = [
        ("simple", "30"),
        ("three", "30"),
        ("file", "20"),
        ("all cow tests", "1"),
        ("usertests", "29"),
    ];
    assert_eq!(compare(&rows(&whole), &spec), Vec::<String>::new());
    let bad: &[&[(&str, &str)]] = &[
        &[
            ("simple", "25"),
            ("three", "30"),
            ("file", "20"),
            ("all cow tests", "1"),
            ("usertests", "29"),
        ],
        &[
            ("simple", "30"),
            ("three", "30"),
            ("file", "20"),
            ("usertests", "29"),
        ],
        &[
            ("simple", "30"),
            ("three", "30"),
            ("file", "20"),
            ("all cow tests", "1"),
            ("usertests", "29"),
            ("usertests: copyin", "5"),
        ],
        &[
            ("simple", "30"),
            ("three", "30"),
            ("file", "20"),
            ("all cow tests", "1"),
            ("usertests", "29"),
            ("fork storm", "3"),
        ],
        &[
            ("simple", "30"),
            ("three", "30"),
            ("file", "20"),
            ("all cow tests", "1"),
            ("usertests", "29"),
            ("total", "100"),
        ],
        // `a, b` without `each` is one name, which the spec does not have.
        &[
            ("simple", "30"),
            ("three", "30"),
            ("file", "20"),
            ("all cow tests", "1"),
            ("usertests: copyin, copyout", "5"),
            ("usertests: all tests, no free pages lost", "19"),
        ],
    ];
    for b in bad {
        assert!(!compare(&rows(b), &spec).is_empty(), "{b:?} passed");
    }
}

/// The assembly exercise's command writes the listing, and what its
/// questions take for granted holds in it: `show` is a real call with its
/// arguments in a0 and a1 (12, folded from the inlined `f` and `g`, and
/// 13), `f` and `g` have no code of their own, and the printing goes
/// through `core::fmt::write`.
#[test]
fn the_call_exercise_disassembles_as_its_questions_say() {
    let (out, stdout, stderr) = run(xtask(&["asm", "call"]));
    let _ = &stderr;
    assert!(out.status.success(), "{stdout}{stderr}");
    let listing = target_dir().join("xv6/user/call.asm");
    assert!(
        stdout.contains("target/xv6/user/call.asm") && stdout.contains("add-symbol-file"),
        "{stdout}"
    );
    let asm = std::fs::read_to_string(&listing).unwrap();
    // A function's body: from its label to the next blank line.
    let body = |name: &str| -> String {
        let label = format!("<{name}>:");
        let start = asm
            .find(&label)
            .unwrap_or_else(|| panic!("no {label} in {}", listing.display()));
        let rest = &asm[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    let main = body("__user_main");
    let flat: String = main.split_whitespace().collect::<Vec<_>>().join(" ");
    for (reg, value) in [("a0", ["0xc", "12"]), ("a1", ["0xd", "13"])] {
        assert!(
            value
                .iter()
                .any(|v| flat.contains(&format!("li {reg}, {v}"))
                    || flat.contains(&format!("li {reg},{v}"))),
            "main does not load {value:?} into {reg}:\n{main}"
        );
    }
    assert!(main.contains("<show>"), "main does not call show:\n{main}");
    // The ELF with symbols holds the disk's code: every loaded byte the
    // same, at the same address.
    build("");
    let loaded = |path: &std::path::Path| -> Vec<(u64, Vec<u8>)> {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let elf = object::File::parse(&*data).unwrap();
        elf.segments()
            .map(|s| (s.address(), s.data().unwrap().to_vec()))
            .collect()
    };
    let disk = target_dir().join("riscv64gc-unknown-none-elf/user/call");
    let with_symbols = target_dir().join("xv6/user/call");
    assert_eq!(
        loaded(&disk),
        loaded(&with_symbols),
        "{} and {} load different bytes",
        disk.display(),
        with_symbols.display()
    );
    assert!(
        main.contains("<core::fmt::write>"),
        "main does not call core::fmt::write:\n{main}"
    );
    body("show");
    body("core::fmt::write");
    for inlined in ["<call::f>:", "<call::g>:"] {
        assert!(
            !asm.contains(inlined),
            "{inlined} has code of its own: not inlined"
        );
    }
}

/// The trace handout's path of a system call names, for each step, a
/// function (or an assembly label) and its file: each is still there.
#[test]
fn the_path_of_a_system_call_names_functions_where_they_are() {
    let text = handout("trace");
    let path = section(&text, "The path of a system call").expect("trace has the section");
    let mut found = 0;
    let mut wrong = Vec::new();
    // `**`name`** (`file`` in the steps.
    for piece in path.split("**`").skip(1) {
        let Some((name, rest)) = piece.split_once("`**") else {
            continue;
        };
        let Some(file) = rest
            .trim_start()
            .strip_prefix("(`")
            .and_then(|r| r.split_once('`'))
            .map(|(f, _)| f)
        else {
            wrong.push(format!("`{name}` names no file"));
            continue;
        };
        found += 1;
        let source = std::fs::read_to_string(root().join(file))
            .unwrap_or_else(|e| panic!("{file} (for {name}): {e}"));
        let defined = source.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{name}:"))
                || [
                    "fn ",
                    "pub fn ",
                    "pub(crate) fn ",
                    "pub extern \"C\" fn ",
                    "extern \"C\" fn ",
                    "pub unsafe fn ",
                ]
                .iter()
                .any(|f| l.starts_with(&format!("{f}{name}(")))
        });
        if !defined {
            wrong.push(format!("`{name}` is not defined in {file}"));
        }
    }
    assert!(found >= 5, "only {found} steps name a function and a file");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
