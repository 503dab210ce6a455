use super::markers::*;
use super::tree::*;
use super::*;

#[test]
fn lab_files_come_from_the_registry() {
    for lab in labs::course_labs() {
        let files = lab_files(lab);
        assert_eq!(files, labs::lab(lab).unwrap().files());
        for f in &files {
            assert_eq!(lab_of_file(f), Some(lab));
        }
    }
    assert!(lab_files("nosuchlab").is_empty());
}

#[test]
fn parses_labs_groups_and_all() {
    let s = Starters::parse("cow,lab-util,traps").unwrap();
    assert_eq!(
        s.names().collect::<Vec<_>>(),
        ["util", "backtrace", "alarm", "cow"]
    );
    assert_eq!(Starters::parse("all").unwrap(), Starters::all());
    assert_eq!(Starters::all().names().count(), labs::registry().labs.len());
    let e = Starters::parse("cow,nolab").unwrap_err();
    assert!(e.starts_with("unknown lab `nolab`"), "{e}");
    assert_eq!(
        Starters::all().minus(&Starters::parse("syscall").unwrap()),
        Starters::parse("util,pgtbl,backtrace,alarm,lazy,cow,thread,lock,mmap,net,fs").unwrap()
    );
}

/// Marker lines are built here so that this file holds none itself.
fn m(marker: &str) -> String {
    format!("    {marker}")
}

fn lines(parts: &[&str]) -> String {
    parts.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn cuts_regions_and_puts_starter_lines_in_place() {
    let text = lines(&[
        "fn f(x: u32) -> u32 {",
        &m(BEGIN),
        "    let y = x * 2;",
        "    y + 1",
        &m(END),
        &m("// STARTER: let _ = x;"),
        &m("// STARTER: todo!()"),
        &m("// NEUTRAL: 0"),
        "}",
        &m(BEGIN),
        "fn helper() {}",
        &m(END),
        "// end",
    ]);
    let marked = parse("labs/src/x.rs", &text).unwrap();
    assert_eq!(
        cut(&text, &marked, Cut::Neutral),
        lines(&["fn f(x: u32) -> u32 {", "    0", "}", "// end"])
    );
    assert_eq!(marked.regions.len(), 2);
    assert_eq!(
        cut(&text, &marked, Cut::Starter),
        lines(&[
            "fn f(x: u32) -> u32 {",
            "    let _ = x;",
            "    todo!()",
            "}",
            "// end"
        ])
    );
    assert!(marked.is_solution(2) && !marked.is_solution(1) && !marked.is_solution(5));
    assert!(marked.in_region(5) && marked.in_region(7) && !marked.in_region(8));
}

#[test]
fn a_vanished_region_leaves_no_double_blank_line() {
    let text = lines(&[
        "a",
        "",
        &m(BEGIN),
        "x",
        &m(END),
        "",
        "b",
        "",
        &m(BEGIN),
        &m(END),
    ]);
    assert_eq!(
        cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
        "a\n\nb\n"
    );
    let text = lines(&[&m(BEGIN), &m(END), "", "b"]);
    assert_eq!(
        cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
        "b\n"
    );
    // Replaced regions keep their surroundings.
    let text = lines(&["a", "", &m(BEGIN), &m(END), &m("// STARTER: c"), "", "b"]);
    assert_eq!(
        cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
        "a\n\n    c\n\nb\n"
    );
}

#[test]
fn keeps_crlf_and_a_last_line_without_newline() {
    let text = format!(
        "a\r\n{}\r\nsecret\r\n{}\r\n{}",
        m(BEGIN),
        m(END),
        m(STARTER)
    );
    let marked = parse("x.rs", &text).unwrap();
    assert_eq!(cut(&text, &marked, Cut::Starter), "a\r\n\n");
    let text = format!("a\n{}\nsecret\n{}", m(BEGIN), m(END));
    assert_eq!(
        cut(&text, &parse("x.rs", &text).unwrap(), Cut::Starter),
        "a\n"
    );
}

#[test]
fn bad_markers_are_errors_with_a_line() {
    for (text, want) in [
        (
            lines(&[&m(BEGIN), "x"]),
            "x.rs:1: `// BEGIN SOLUTION` is never ended",
        ),
        (lines(&["x", &m(END)]), "x.rs:2: `// END SOLUTION` without"),
        (
            lines(&[&m(BEGIN), &m(BEGIN)]),
            "x.rs:2: `// BEGIN SOLUTION` inside",
        ),
        (
            lines(&[&m(BEGIN), &m(END), "x", &m("// STARTER: y")]),
            "x.rs:4: `// STARTER:` lines must follow",
        ),
        (
            lines(&["    //BEGIN SOLUTION"]),
            "x.rs:1: this comment looks like",
        ),
        (
            lines(&["    // END SOLUTION."]),
            "x.rs:1: this comment looks like",
        ),
        (
            lines(&[&m(FILE), &m(BEGIN), &m(END)]),
            "x.rs:1: a `// SOLUTION FILE` cannot",
        ),
        (
            lines(&[&m(BEGIN), &m(END), &m("// STARTER: todo!()")]),
            "x.rs:2: this region's starter panics, so it needs `// NEUTRAL:",
        ),
        (
            lines(&[&m(BEGIN), &m(END), &m("// NEUTRAL: 0"), &m("// STARTER: 1")]),
            "x.rs:4: `// STARTER:` lines must follow",
        ),
        (
            lines(&["x", &m("// NEUTRAL: 0")]),
            "x.rs:2: `// NEUTRAL:` lines must follow",
        ),
    ] {
        let e = parse("x.rs", &text).unwrap_err();
        assert!(e.starts_with(want), "{text:?} gave {e:?}");
        assert!(!e.contains('\n'), "{e}");
    }
    // Docs may name the markers.
    assert!(parse("x.rs", "//! write `// BEGIN SOLUTION` lines\n").is_ok());
    let doc = parse("notes.md", &lines(&["    //BEGIN SOLUTION", &m(BEGIN)])).unwrap();
    assert!(!doc.is_marked());
    assert!(parse("x.rs", "// the next `STARTER:` line\n").is_ok());
}

#[test]
fn lab_files_are_known() {
    assert_eq!(lab_files("cow"), ["labs/src/cow.rs"]);
    assert_eq!(lab_files("util").len(), 5);
    assert_eq!(lab_of_file("user/src/bin/find.rs"), Some("util"));
    assert_eq!(lab_of_file("labs/src/main.rs"), None);
    assert_eq!(lab_config("util"), LabSet::BASE);
    assert_eq!(lab_config("cow").config_name(), "cow");
}

/// A scratch git repository holding `files`.
struct Repo(PathBuf);

impl Repo {
    fn new(name: &str, files: &[(&str, String)]) -> Repo {
        let dir = std::env::temp_dir().join(format!("xtask-handout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let ok = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["init", "-q"])
            .status()
            .unwrap()
            .success()
            && Command::new("git")
                .arg("-C")
                .arg(&dir)
                .args(["add", "-A"])
                .status()
                .unwrap()
                .success();
        assert!(ok, "git init/add in {}", dir.display());
        Repo(dir)
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A repository with every lab file marked, `cow.rs` being `cow`.
fn course(name: &str, cow: String, extra: &[(&str, String)]) -> Repo {
    let region = |body: &str| lines(&["pub fn f() {", &m(BEGIN), body, &m(END), "}"]);
    let mut files: Vec<(String, String)> = Vec::new();
    let registry = labs::registry();
    for lab in registry
        .kernel_labs()
        .map(|l| &l.name)
        .filter(|l| *l != "cow")
    {
        files.push((
            format!("labs/src/{lab}.rs"),
            region(&format!("    solve_{lab}();")),
        ));
    }
    files.push(("labs/src/cow.rs".into(), cow));
    for f in registry.labs.iter().flat_map(|l| l.user.iter()) {
        let f = format!("user/src/bin/{f}.rs");
        files.push((f, lines(&[&m(FILE), "fn main() { util_solution(); }"])));
    }
    for f in registry.labs.iter().flat_map(|l| l.host.iter()) {
        files.push((f.clone(), region("    solve_host();")));
    }
    files.push(("README.md".into(), "read me\n".into()));
    files.extend(extra.iter().map(|(p, t)| (p.to_string(), t.clone())));
    let refs: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    Repo::new(name, &refs)
}

fn cow_ok() -> String {
    lines(&[
        "pub fn fork() -> bool {",
        &m(BEGIN),
        "    share_pages_copy_on_write()",
        &m(END),
        &m("// STARTER: false"),
        "}",
    ])
}

#[test]
fn writes_a_tree_without_solutions_and_updates_it() {
    let repo = course("ok", cow_ok(), &[]);
    let out = repo.0.join("out");
    let report = write_student_tree(&repo.0, &Starters::all(), &out).unwrap();
    let r = labs::registry();
    let kernel = r.kernel_labs().count();
    let user: usize = r.labs.iter().map(|l| l.user.len()).sum();
    let host: usize = r.labs.iter().map(|l| l.host.len()).sum();
    assert_eq!(report.regions, kernel + host);
    assert_eq!(report.solution_files.len(), user);
    assert_eq!(report.files, kernel + host + 1);
    assert!(report.lines_checked >= 8, "{report:?}");
    let cow = std::fs::read_to_string(out.join("labs/src/cow.rs")).unwrap();
    assert_eq!(cow, "pub fn fork() -> bool {\n    false\n}\n");
    assert!(!out.join("user/src/bin/find.rs").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "read me\n"
    );

    // Kept labs stay as they are; the solution files come back.
    let report = write_student_tree(&repo.0, &Starters::parse("cow").unwrap(), &out).unwrap();
    assert_eq!(report.kept.len(), r.labs.len() - 1);
    assert!(out.join("user/src/bin/find.rs").exists());
    let trace = std::fs::read_to_string(out.join("labs/src/trace.rs")).unwrap();
    assert!(trace.contains("solve_trace()"));
    // And go again, without touching what did not change.
    let report = write_student_tree(&repo.0, &Starters::all(), &out).unwrap();
    assert_eq!(report.removed.len(), user);
    assert_eq!(report.written, kernel - 1 + host, "{report:?}");
    assert!(!out.join("user/src/bin").exists());
}

#[test]
fn refuses_a_starter_that_repeats_its_solution() {
    let cow = lines(&[
        "pub fn fork() -> bool {",
        &m(BEGIN),
        "    share_pages_copy_on_write()",
        &m(END),
        &m("// STARTER: share_pages_copy_on_write()"),
        "}",
    ]);
    let repo = course("leak", cow, &[]);
    let out = repo.0.join("out");
    let e = write_student_tree(&repo.0, &Starters::all(), &out).unwrap_err();
    assert!(
        e.contains("labs/src/cow.rs:2: `share_pages_copy_on_write()` is solution code (from labs/src/cow.rs:3)"),
        "{e}"
    );
    assert!(!out.exists(), "a failed new tree is removed");
}

#[test]
fn refuses_a_handout_that_shows_the_solution() {
    let doc = "Hint:\n\n    share_pages_copy_on_write()\n".to_string();
    let repo = course("doc", cow_ok(), &[("handouts/lab-cow.md", doc)]);
    let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
    assert!(e.contains("handouts/lab-cow.md:3:"), "{e}");
    // With cow's solution kept, that is no leak.
    let kept = Starters::all().minus(&Starters::parse("cow").unwrap());
    write_student_tree(&repo.0, &kept, &repo.0.join("out2")).unwrap();
}

#[test]
fn markers_outside_lab_files_and_unmarked_lab_files_are_errors() {
    let stray = lines(&["fn x() {", &m(BEGIN), &m(END), "}"]);
    let repo = course("stray", cow_ok(), &[("kernel-base/src/x.rs", stray)]);
    let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
    assert!(
        e.starts_with("kernel-base/src/x.rs:2: a solution marker in a file that is no lab's"),
        "{e}"
    );

    let repo = course("unmarked", "pub fn fork() {}\n".into(), &[]);
    let e = write_student_tree(&repo.0, &Starters::all(), &repo.0.join("out")).unwrap_err();
    assert!(
        e.starts_with("labs/src/cow.rs has no solution markers"),
        "{e}"
    );
}

#[test]
fn refuses_a_directory_it_did_not_write() {
    let repo = course("busy", cow_ok(), &[]);
    let out = repo.0.join("busy");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "x").unwrap();
    let e = write_student_tree(&repo.0, &Starters::all(), &out).unwrap_err();
    assert!(e.contains("not empty and not a tree handout wrote"), "{e}");
    assert!(out.join("mine.txt").exists());
}
