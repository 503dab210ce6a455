//! The starter's record of the files a grade depends on, and
//! `cargo xtask verify-starter`, which checks a student tree against it.
//!
//! A Classroom workflow grades the student's own copy of the specs, the
//! test programs, the grader and xtask, all of which the student can edit.
//! `handout` records the SHA-256 of each of those files in the starter
//! ([`MANIFEST`], in `sha256sum` format), and the workflow runs
//! `verify-starter` before grading: a tree whose files differ gets "test
//! files modified" instead of points. The record and the workflow are in
//! the student's tree too, so this keeps honest mistakes and casual edits
//! out of Classroom's points; it is no defence against a student set on
//! cheating. Grades come from batch grading, which uses only the
//! instructor's files.

use std::path::Path;
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use crate::run::Ctx;

/// Where a student tree keeps the record (relative to its root).
pub const MANIFEST: &str = ".github/trusted-files.sha256";

/// What a grade depends on besides the student's lab files: the build's
/// configuration, the specs and the lab crate's frame, the kernel, the
/// test programs and user library, the host programs, the grader, xtask,
/// the tests, and the
/// workflow itself.
const TRUSTED: [&str; 14] = [
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain.toml",
    ".cargo",
    ".github/workflows",
    "abi",
    "grader",
    "host",
    "kernel-base",
    "labs",
    "mkfs",
    "tests",
    "user",
    "xtask",
];

/// `cargo xtask verify-starter`'s options (its help is in `crate::args`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The student tree [default: this one]
    #[arg(value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// The trusted files of the tree at `root` and their SHA-256, sorted by
/// path (relative, with `/`).
pub(crate) fn hashes(root: &Path) -> Result<Vec<(String, String)>, String> {
    let students = crate::labs::registry().student_files();
    let mut out = Vec::new();
    let mut todo: Vec<String> = TRUSTED
        .iter()
        .map(|s| s.to_string())
        .filter(|p| root.join(p).exists())
        .collect();
    while let Some(rel) = todo.pop() {
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Build output is no part of a tree.
                if name != "target" {
                    todo.push(format!("{rel}/{name}"));
                }
            }
        } else if !students.contains(&rel) {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let digest = Sha256::digest(&bytes);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            out.push((rel, hex));
        }
    }
    out.sort();
    Ok(out)
}

/// Records the trusted files of the tree at `root` in its [`MANIFEST`].
pub fn write_manifest(root: &Path) -> Result<usize, String> {
    let files = hashes(root)?;
    let text: String = files.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    let path = root.join(MANIFEST);
    std::fs::create_dir_all(path.parent().expect("a file has a parent"))
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(files.len())
}

/// How the tree at `root` differs from its record: `path (changed)`,
/// `(added)` or `(removed)`, one each; empty when it does not.
pub fn differences(root: &Path) -> Result<Vec<String>, String> {
    let path = root.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}): this tree was not made by `cargo xtask handout`, \
             or the record was removed",
            path.display()
        )
    })?;
    let mut recorded = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((hash, file)) = line.split_once("  ") else {
            return Err(format!(
                "{}:{}: not `<sha256>  <path>`: the record was edited",
                path.display(),
                n + 1
            ));
        };
        recorded.push((file.to_owned(), hash.to_owned()));
    }
    recorded.sort();
    let now = hashes(root)?;
    let mut out = Vec::new();
    for (file, hash) in &recorded {
        match now.iter().find(|(f, _)| f == file) {
            None => out.push(format!("{file} (removed)")),
            Some((_, h)) if h != hash => out.push(format!("{file} (changed)")),
            Some(_) => {}
        }
    }
    for (file, _) in &now {
        if !recorded.iter().any(|(f, _)| f == file) {
            out.push(format!("{file} (added)"));
        }
    }
    Ok(out)
}

/// `cargo xtask verify-starter [DIR]`.
pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    let dir = args.dir.clone();
    let root = dir.unwrap_or_else(|| ctx.root.clone());
    let diff = match differences(&root) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("verify-starter: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if diff.is_empty() {
        println!("verify-starter: the test files are the starter's ({MANIFEST})");
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Vec<&str> = diff.iter().take(10).map(String::as_str).collect();
    let more = diff.len() - shown.len();
    println!(
        "test files modified: {}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    println!(
        "verify-starter: no points are given for a tree whose test files differ from the \
         starter's; restore them (git checkout <starter commit> -- FILE)"
    );
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("Cargo.toml", "[workspace]\n"),
            ("labs/lab-cow.toml", "name = \"lab-cow\"\n"),
            ("labs/src/cow.rs", "// the student's\n"),
            ("user/src/bin/cowtest.rs", "fn main() {}\n"),
            ("user/src/bin/sleep.rs", "// the student's\n"),
            ("grader/src/lib.rs", "\n"),
            ("README.md", "notes\n"),
            ("labs/target/x", "built\n"),
        ] {
            let p = dir.path().join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_record_holds_the_trusted_files_and_not_the_students() {
        let t = tree();
        assert_eq!(write_manifest(t.path()).unwrap(), 4);
        let text = std::fs::read_to_string(t.path().join(MANIFEST)).unwrap();
        let files: Vec<&str> = text.lines().map(|l| &l[66..]).collect();
        assert_eq!(
            files,
            [
                "Cargo.toml",
                "grader/src/lib.rs",
                "labs/lab-cow.toml",
                "user/src/bin/cowtest.rs"
            ]
        );
        // sha256sum's format: 64 hex digits, two spaces, the path.
        assert!(
            text.lines()
                .all(|l| l[..64].chars().all(|c| c.is_ascii_hexdigit()))
        );
        assert_eq!(
            &text[..64],
            // sha256 of "[workspace]\n"
            hex_of(b"[workspace]\n")
        );
        assert_eq!(differences(t.path()).unwrap(), Vec::<String>::new());
    }

    fn hex_of(bytes: &[u8]) -> &'static str {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Box::leak(hex.into_boxed_str())
    }

    #[test]
    fn a_changed_added_or_removed_test_file_is_found_and_the_students_are_not() {
        let t = tree();
        write_manifest(t.path()).unwrap();
        // The student's own files and other files may change.
        std::fs::write(t.path().join("labs/src/cow.rs"), "// done\n").unwrap();
        std::fs::write(t.path().join("user/src/bin/sleep.rs"), "// done\n").unwrap();
        std::fs::write(t.path().join("README.md"), "more notes\n").unwrap();
        std::fs::write(t.path().join("labs/target/y"), "built\n").unwrap();
        assert_eq!(differences(t.path()).unwrap(), Vec::<String>::new());
        std::fs::write(t.path().join("labs/lab-cow.toml"), "name = \"easy\"\n").unwrap();
        std::fs::write(t.path().join("user/src/bin/fake.rs"), "\n").unwrap();
        std::fs::remove_file(t.path().join("grader/src/lib.rs")).unwrap();
        assert_eq!(
            differences(t.path()).unwrap(),
            [
                "grader/src/lib.rs (removed)",
                "labs/lab-cow.toml (changed)",
                "user/src/bin/fake.rs (added)"
            ]
        );
    }

    #[test]
    fn a_tree_without_a_record_or_with_a_broken_one_says_so() {
        let t = tree();
        let e = differences(t.path()).unwrap_err();
        assert!(e.contains("not made by `cargo xtask handout`"), "{e}");
        write_manifest(t.path()).unwrap();
        std::fs::write(t.path().join(MANIFEST), "garbage\n").unwrap();
        let e = differences(t.path()).unwrap_err();
        assert!(e.contains(":1: not `<sha256>  <path>`"), "{e}");
    }
}
