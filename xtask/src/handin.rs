//! `cargo xtask handin <lab>`: MIT's `make handin`. Checks that the
//! student's tree is committed and holds what the lab asks for (its files,
//! `answers-<lab>.txt` where the lab has written questions, `time.txt`),
//! then packs the committed files into a zip to upload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use zip::write::SimpleFileOptions;

use crate::fsutil::AtomicFile;
use crate::handout::{self, Starters};
use crate::run::Ctx;

/// `cargo xtask handin`'s options (its help is in `crate::args`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The lab to hand in
    #[arg(value_name = "LAB")]
    pub lab: Option<String>,
    /// Hand in this tree instead of this one
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The zip to write [default: target/lab-LAB-handin.zip]
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The shortest answers file MIT's graders accept.
const MIN_ANSWER_CHARS: usize = 10;

/// The file holding the answers to a lab's (or a group's) written
/// questions, for the labs that have some (`answers` in the registry).
pub fn answers_file(lab: &str) -> Option<&'static str> {
    let members = crate::labs::registry().members(lab)?;
    members.iter().find_map(|l| l.answers.as_deref())
}

/// `cargo xtask handin …`.
pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    let usage = |message: String| {
        eprintln!("handin: {message}");
        eprintln!("`cargo xtask handin --help` shows how to call it");
        Ok(ExitCode::from(2))
    };
    let (lab, tree, out) = (args.lab.clone(), args.tree.clone(), args.out.clone());
    let Some(word) = lab else {
        return usage(crate::labs::fill(
            "name the lab to hand in, e.g. `cargo xtask handin {lab}`",
        ));
    };
    let name = word.strip_prefix("lab-").unwrap_or(&word).to_string();
    if name.contains(',') || name == "all" {
        return usage(format!("hand in one lab at a time, not `{word}`"));
    }
    let labs = match Starters::parse(&name) {
        Ok(labs) => labs,
        Err(e) => return usage(e),
    };

    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let tree = tree.map_or_else(|| ctx.root.clone(), |t| cwd.join(t));
    let top = match git_text(&tree, &["rev-parse", "--show-toplevel"]) {
        Ok(top) => PathBuf::from(top),
        Err(_) => {
            eprintln!(
                "handin: {} is not a git repository; handin packs what you committed",
                tree.display()
            );
            eprintln!("handin: make it one: git init && git add -A && git commit -m 'my work'");
            return Ok(ExitCode::from(2));
        }
    };
    let Ok(head) = git_text(&top, &["rev-parse", "--short", "HEAD"]) else {
        eprintln!("handin: nothing is committed yet: git add -A && git commit -m 'my work'");
        return Ok(ExitCode::from(2));
    };

    let status = GitState::read(&top)?;
    let problems = problems(&top, &name, labs, &status);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("handin: {p}");
        }
        eprintln!("handin: nothing was packed; fix that and run `cargo xtask handin {name}` again");
        return Ok(ExitCode::FAILURE);
    }
    let untracked: Vec<&str> = status
        .untracked
        .iter()
        .map(String::as_str)
        .filter(|f| !f.starts_with("target/"))
        .collect();
    if !untracked.is_empty() {
        eprintln!(
            "handin: note: not committed, so not handed in: {}",
            list(&untracked)
        );
    }

    let zip_name = format!("lab-{name}-handin.zip");
    let out = match out {
        Some(o) => cwd.join(o),
        None if top == ctx.root => ctx.target_dir.join(&zip_name),
        None => top.join("target").join(&zip_name),
    };
    let packed = pack(&top, &status.tracked, &out)?;
    let subject = git_text(&top, &["log", "-1", "--format=%s"]).unwrap_or_default();
    let shown = ctx.show(&out).into_owned();
    eprintln!(
        "handin: packed {} committed files of {head} (\"{subject}\") into {shown} ({} KiB)",
        packed.files,
        packed.bytes.div_ceil(1024)
    );
    println!("Upload {shown}: your hand-in for lab {name}.");
    Ok(ExitCode::SUCCESS)
}

/// What git says about the tree.
struct GitState {
    /// Tracked files (the index, which is the commit when nothing is staged).
    tracked: Vec<String>,
    /// Tracked files with changes not committed, staged or not.
    changed: Vec<String>,
    untracked: Vec<String>,
}

impl GitState {
    fn read(top: &Path) -> Result<GitState, String> {
        let tracked = git_list(top, &["ls-files", "-z"])?;
        let status = git_bytes(
            top,
            &["status", "--porcelain", "-z", "--untracked-files=all"],
        )?;
        let (mut changed, mut untracked) = (Vec::new(), Vec::new());
        let mut entries = status.split(|&b| b == 0).filter(|e| !e.is_empty());
        while let Some(entry) = entries.next() {
            let entry = String::from_utf8_lossy(entry);
            let (code, path) = entry.split_at(3.min(entry.len()));
            match code.trim_end() {
                "??" => untracked.push(path.to_string()),
                "!!" => {}
                c => {
                    // A rename's entry is followed by its old name.
                    if c.contains('R') || c.contains('C') {
                        entries.next();
                    }
                    changed.push(path.to_string());
                }
            }
        }
        Ok(GitState {
            tracked,
            changed,
            untracked,
        })
    }

    fn is_tracked(&self, file: &str) -> bool {
        self.tracked.iter().any(|t| t == file)
    }
}

/// Everything that keeps the tree from being handed in, one line each.
fn problems(top: &Path, name: &str, labs: Starters, git: &GitState) -> Vec<String> {
    let mut problems = Vec::new();
    if !git.changed.is_empty() {
        let changed: Vec<&str> = git.changed.iter().map(String::as_str).collect();
        problems.push(format!(
            "uncommitted changes in {}: commit them (git add … && git commit) or undo them",
            list(&changed)
        ));
    }
    // A file that must be handed in: committed, and then its contents.
    let mut committed = |file: &str, missing: &str| -> Option<String> {
        if git.is_tracked(file) {
            return std::fs::read_to_string(top.join(file)).ok();
        }
        problems.push(if top.join(file).exists() {
            format!("{file} is not committed: git add {file} && git commit")
        } else {
            format!("{file} is missing: {missing}")
        });
        None
    };
    for lab in labs.names() {
        for file in handout::lab_files(lab) {
            committed(
                &file,
                &format!("it is part of lab {lab}: write it and commit it"),
            );
        }
    }
    let answers = answers_file(name);
    let answer_text = answers.and_then(|f| {
        committed(
            f,
            &format!("write your answers to the lab's questions in it (at least {MIN_ANSWER_CHARS} characters) and commit it"),
        )
    });
    let time = committed(
        "time.txt",
        "write the number of hours you spent on the lab in it (one integer) and commit it",
    );
    if let (Some(file), Some(text)) = (answers, answer_text) {
        let n = text.trim().chars().count();
        if n < MIN_ANSWER_CHARS {
            problems.push(format!(
                "{file} holds {n} characters: write your answers in it (at least {MIN_ANSWER_CHARS}) and commit it"
            ));
        }
    }
    if let Some(text) = time {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            let shown: String = t.chars().take(40).collect();
            problems.push(format!(
                "time.txt must hold one integer, the hours you spent on the lab, not `{shown}`"
            ));
        }
    }
    problems
}

/// A few names, then how many more.
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut s = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

pub(crate) struct Packed {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

/// Zips `files` of `top` into `out`, written whole or not at all. Entry
/// times are zip's epoch, so the same commit packs to the same bytes.
pub(crate) fn pack(top: &Path, files: &[String], out: &Path) -> Result<Packed, String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = AtomicFile::new(out)?;
    let writer = std::fs::File::create(file.temp_path())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(writer));
    let zip_err = |e: zip::result::ZipError| format!("cannot write {}: {e}", out.display());
    let mut count = 0;
    for name in files {
        // A hand-in committed by mistake would go into every later one.
        if name.ends_with("-handin.zip") {
            continue;
        }
        let path = top.join(name);
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode(&path))
            .last_modified_time(zip::DateTime::DEFAULT);
        zip.start_file(name.as_str(), options).map_err(zip_err)?;
        zip.write_all(&data)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        count += 1;
    }
    let mut inner = zip.finish().map_err(zip_err)?;
    inner
        .flush()
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    drop(inner);
    file.commit()?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(Packed {
        files: count,
        bytes,
    })
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
    if m & 0o111 != 0 { 0o755 } else { 0o644 }
}

#[cfg(not(unix))]
fn mode(_: &Path) -> u32 {
    0o644
}

fn git_bytes(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn git_text(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_bytes(dir, args).map(|b| String::from_utf8_lossy(&b).trim().to_string())
}

fn git_list(dir: &Path, args: &[&str]) -> Result<Vec<String>, String> {
    let bytes = git_bytes(dir, args)?;
    Ok(bytes
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labs_with_questions() {
        assert_eq!(answers_file("pgtbl"), Some("answers-pgtbl.txt"));
        assert_eq!(answers_file("alarm"), Some("answers-traps.txt"));
        assert_eq!(answers_file("traps"), Some("answers-traps.txt"));
        assert_eq!(answers_file("cow"), None);
    }

    #[test]
    fn lists_are_short() {
        assert_eq!(list(&["a", "b"]), "a, b");
        assert_eq!(
            list(&["1", "2", "3", "4", "5", "6", "7"]),
            "1, 2, 3, 4, 5 and 2 more"
        );
    }
}
