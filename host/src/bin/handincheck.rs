//! `handincheck FILE...`: MIT's hand-in tests, for specs that grade them
//! (the thread lab's `answers-thread.txt` and `time` points). For each
//! FILE, at the top of the tree this program was built from (the student's,
//! or batch grading's worker tree with the submission in it), one line:
//! `time.txt: 6 hours, OK` when `time.txt` holds one integer, `FILE: 120
//! characters, OK` for another file of at least 10 characters (MIT's
//! bound, as `cargo xtask handin` checks), else what is wrong with it.

use std::path::Path;

/// The fewest characters an answers file may hold.
const MIN_ANSWER_CHARS: usize = 10;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is in the workspace");
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: handincheck FILE...: files at the top of the tree, e.g. time.txt");
        std::process::exit(2);
    }
    for f in files {
        let text = match std::fs::read_to_string(root.join(&f)) {
            Ok(t) => t,
            Err(e) => {
                println!("{f}: cannot be read ({e}): write it at the top of the tree");
                continue;
            }
        };
        let t = text.trim();
        if f == "time.txt" {
            match t.parse::<u32>() {
                Ok(h) => println!("{f}: {h} hours, OK"),
                Err(_) => println!("{f}: not one integer, the hours you spent on the lab"),
            }
        } else {
            let n = t.chars().count();
            if n >= MIN_ANSWER_CHARS {
                println!("{f}: {n} characters, OK");
            } else {
                println!("{f}: {n} characters, fewer than {MIN_ANSWER_CHARS}: write your answers");
            }
        }
    }
}
