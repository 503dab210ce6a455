//! The util lab's spec pays for work, not for printing: util programs that
//! only print what the tests look for, batch-graded as a class would be,
//! score 0, a sleep that waits without the sleep system call loses "sleep,
//! makes syscall" (gdb's breakpoint), while the reference solution keeps
//! full marks.

use std::path::Path;

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A user program whose `main` body is `body`.
fn program(body: &str) -> String {
    format!(
        "#![no_std]\n#![no_main]\nuse user::*;\nentry!(main);\n\
         #[allow(unused)]\nfn main(args: Args) -> i32 {{\n{body}\n}}\n"
    )
}

/// A submission of five print-only programs, `name`, with `sleep` and
/// `pingpong` as given.
fn fakes(class: &Path, name: &str, sleep: &str, pingpong: &str) {
    let dir = class.join(name);
    write(&dir, "user/src/bin/sleep.rs", &program(sleep));
    write(&dir, "user/src/bin/pingpong.rs", &program(pingpong));
    // MIT's list, and its own verdicts printed in the hope of passing as
    // tok's.
    write(
        &dir,
        "user/src/bin/primes.rs",
        &program(
            "for p in [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31] { println!(\"prime {p}\"); }\n\
             println!(\"tok: primes to 35\");\n\
             if let Some(n) = args.bytes(1) { println!(\"tok: primes to {}\", Show(n)); }\n0",
        ),
    );
    // The name asked for, found or not.
    write(
        &dir,
        "user/src/bin/find.rs",
        &program(
            "if let Some(n) = args.bytes(2) { println!(\"./{}\", Show(n)); }\n\
             for d in [\"a\", \"a/aa\", \"c\"] { if let Some(n) = args.bytes(2) \
             { println!(\"./{d}/{}\", Show(n)); } }\n0",
        ),
    );
    // Its arguments and each line, as `xargs echo` would print them.
    write(
        &dir,
        "user/src/bin/xargs.rs",
        &program(
            "let words: Vec<&[u8]> = args.iter_bytes().skip(2).collect();\n\
             let mut line = Vec::new();\n\
             let mut b = [0u8];\n\
             while read(0, &mut b) == 1 {\n\
               if b[0] != b'\\n' { line.push(b[0]); continue; }\n\
               for w in &words { print!(\"{} \", Show(w)); }\n\
               println!(\"{}\", Show(&line));\n\
               line.clear();\n\
             }\n0",
        ),
    );
}

#[test]
#[ignore = "slow: builds and grades four util submissions"]
fn print_only_util_programs_score_nothing() {
    let class = tempfile::tempdir().unwrap();
    let c = class.path();
    // sleep prints usage and returns at once; pingpong prints both lines
    // from one process.
    fakes(
        c,
        "printing",
        "eprintln!(\"Usage: sleep ticks\");\n1",
        "println!(\"{}: received ping\", getpid());\n\
         println!(\"{}: received pong\", getpid());\n0",
    );
    // sleep returns at once with an argument and prints tok's verdict;
    // pingpong prints tok's names for the processes itself.
    fakes(
        c,
        "spoofing",
        "if args.len() < 2 { eprintln!(\"Usage: sleep ticks\"); return 1; }\n\
         println!(\"tok: slept\");\n0",
        "println!(\"child: received ping\");\nprintln!(\"parent: received pong\");\n0",
    );
    // sleep waits as it should, but on uptime, without the sleep system
    // call: it earns sleep's first two tests, not "sleep, makes syscall"
    // (gdb's breakpoint on sys_sleep is never hit).
    fakes(
        c,
        "waiting",
        "let Some(t) = args.bytes(1) else { eprintln!(\"Usage: sleep ticks\"); return 1; };\n\
         let t: i32 = core::str::from_utf8(t).ok().and_then(|t| t.parse().ok()).unwrap_or(0);\n\
         let start = uptime();\nwhile uptime() - start < t {}\n0",
        "0",
    );
    // The reference solution, as its own submission: full marks.
    let root = tests::root();
    for p in ["sleep", "pingpong", "primes", "find", "xargs"] {
        let file = format!("user/src/bin/{p}.rs");
        let text = std::fs::read_to_string(root.join(&file)).unwrap();
        write(&c.join("reference"), &file, &text);
    }
    let (out, stdout, stderr, summary) = tests::grade_class("lab-util", c, "600s");
    let score = |name: &str| {
        let o = summary["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
            .clone();
        assert_eq!(o["status"], "graded", "{name}: {o}\n{stderr}");
        o["score"].as_u64().unwrap()
    };
    assert_eq!(score("reference"), 100, "{summary}");
    assert_eq!(score("printing"), 0, "{summary}");
    assert_eq!(score("spoofing"), 0, "{summary}");
    assert_eq!(score("waiting"), 10, "{summary}");
    // The gdb test, batch-graded in the sandbox: the reference stops the
    // kernel at sys_sleep; print-only and busy-waiting sleeps do not.
    let syscall = |name: &str| {
        let o = summary["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name);
        let tests = &o.unwrap()["report"]["labs"][0]["tests"];
        let t = tests
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "sleep, makes syscall");
        t.unwrap_or_else(|| panic!("no gdb test for {name}: {tests}"))["outcome"].clone()
    };
    assert_eq!(syscall("reference"), "pass", "{summary}");
    for name in ["printing", "spoofing", "waiting"] {
        assert_eq!(syscall(name), "fail", "{name}: {summary}");
    }
    assert!(out.status.success(), "{stdout}{stderr}");
}
