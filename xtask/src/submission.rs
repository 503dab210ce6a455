//! A student's submission: which files of it count (only the lab's own:
//! the instructor's specs, test programs, user library, grader and xtask
//! replace the rest), read from a tree or a patch, and checked before they
//! are built so that nothing in them reads outside their tree at build
//! time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files a student writes for `lab` (a spec name, `lab-cow` or a group
/// such as `lab-syscall`), relative to the tree's root. The answers and
/// time files are taken too when they are there.
pub fn lab_files(root: &Path, lab: &str) -> Vec<String> {
    let bare = lab.strip_prefix("lab-").unwrap_or(lab);
    let mut files = crate::handout::lab_files(bare);
    // A group spec: its parts' files.
    if files.is_empty()
        && let Ok(text) = std::fs::read_to_string(grader::spec::spec_path(root, lab))
    {
        for line in text.lines() {
            for part in crate::handout::COURSE_LABS {
                if line.contains(&format!("\"lab-{part}\"")) {
                    files.extend(crate::handout::lab_files(part));
                }
            }
        }
    }
    files
}

/// Optional files of a hand-in, copied when present.
pub fn extra_files(lab: &str) -> Vec<String> {
    let bare = lab.strip_prefix("lab-").unwrap_or(lab);
    vec![format!("answers-{bare}.txt"), "time.txt".to_owned()]
}

/// The form a submission came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// A copy of the student's tree.
    Tree(PathBuf),
    /// A patch (unified diff) against the starter.
    Patch(PathBuf),
}

/// The submissions in `dir`: each subdirectory is a tree, each `.patch` or
/// `.diff` file a patch; named after the directory or the file's stem.
pub fn find(dir: &Path) -> Result<Vec<(String, Form)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read the submissions directory {}: {e}",
            dir.display()
        )
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            found.push((name.to_owned(), Form::Tree(path)));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("patch" | "diff")
        ) {
            found.push((name.to_owned(), Form::Patch(path)));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        return Err(format!(
            "no submissions in {}: expected one directory (a student's tree) or .patch file each",
            dir.display()
        ));
    }
    Ok(found)
}

/// Why a submission could not be graded (it scores 0, with this reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Reads the student's version of `files` from a submission. `starter` is
/// a tree with the starter versions (what a patch applies to). Files a tree
/// lacks are left out (the starter's stay).
pub fn read_files(
    form: &Form,
    files: &[String],
    starter: &Path,
    scratch: &Path,
) -> Result<Vec<(String, Vec<u8>)>, Refused> {
    let tree = match form {
        Form::Tree(dir) => dir.clone(),
        Form::Patch(patch) => apply_patch(patch, files, starter, scratch)?,
    };
    let mut out = Vec::new();
    for f in files {
        // In the tree's layout, or on its own at the top (a lab file
        // uploaded alone, as Gradescope allows).
        let flat = tree.join(Path::new(f).file_name().expect("a file has a name"));
        let path = match tree.join(f) {
            p if p.exists() => p,
            _ if flat.exists() && matches!(form, Form::Tree(_)) => flat,
            p => p,
        };
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Refused(format!("{f} is a symbolic link")));
            }
            Ok(meta) if meta.len() > 1 << 20 => {
                return Err(Refused(format!("{f} is larger than 1 MiB")));
            }
            Ok(_) => {
                let bytes =
                    std::fs::read(&path).map_err(|e| Refused(format!("cannot read {f}: {e}")))?;
                out.push((f.clone(), bytes));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Applies the hunks of `patch` that touch `files` to a copy of the
/// starter's versions in `scratch`; edits to any other file do not count.
fn apply_patch(
    patch: &Path,
    files: &[String],
    starter: &Path,
    scratch: &Path,
) -> Result<PathBuf, Refused> {
    let _ = std::fs::remove_dir_all(scratch);
    for f in files {
        let to = scratch.join(f);
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))
            .and_then(|()| std::fs::copy(starter.join(f), &to).map(|_| ()))
            .map_err(|e| Refused(format!("cannot prepare {f} for the patch: {e}")))?;
    }
    let mut cmd = Command::new("git");
    // Outside any repository: inside one (the scratch directory may sit in
    // the instructor's), git would apply paths relative to its top and
    // ignore these.
    cmd.current_dir(scratch)
        .args(["apply", "--whitespace=nowarn"])
        .env_remove("GIT_DIR")
        .env(
            "GIT_CEILING_DIRECTORIES",
            scratch.parent().unwrap_or(scratch),
        );
    for f in files {
        cmd.arg(format!("--include={f}"));
    }
    let out = cmd
        .arg(patch)
        .output()
        .map_err(|e| Refused(format!("cannot run git apply: {e}")))?;
    if !out.status.success() {
        return Err(Refused(format!(
            "the patch does not apply to the starter: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        )));
    }
    Ok(scratch.to_path_buf())
}

/// Refuses lab code that could read outside its tree while it is built:
/// `include_str!`, `include_bytes!`, `include!`, `env!`, `option_env!`,
/// `#[path]` and inline assembly (whose `.incbin` includes a file). None of
/// them is needed in a lab file.
pub fn check_source(file: &str, text: &str) -> Result<(), Refused> {
    let tokens = tokens(text);
    for (i, t) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).map(String::as_str);
        let refused = match t.as_str() {
            "include_str" | "include_bytes" | "include" | "option_env" | "env"
            | "concat_idents" => {
                // As a macro, or named in a path (`use core::include_str as x`).
                next == Some("!") || next == Some("as") || is_path_segment(&tokens, i)
            }
            "asm" | "global_asm" | "naked_asm" => next == Some("!"),
            "path" => is_attribute(&tokens, i),
            _ => false,
        };
        if refused {
            return Err(Refused(format!(
                "{file} uses `{t}`, which graded lab files may not (it can read files \
                 outside the submission while it is built)"
            )));
        }
    }
    Ok(())
}

/// Whether token `i` is a segment of a path (`core::include_str`).
fn is_path_segment(tokens: &[String], i: usize) -> bool {
    i >= 1 && tokens[i - 1] == "::"
}

/// Whether token `i` is the name of an attribute: `#[path` or `#![path`.
fn is_attribute(tokens: &[String], i: usize) -> bool {
    let before: Vec<&str> = tokens[..i]
        .iter()
        .rev()
        .take(3)
        .map(String::as_str)
        .collect();
    matches!(before.as_slice(), ["[", "#", ..] | ["[", "!", "#"])
}

/// A rough lexer: identifiers, `::` and single punctuation characters,
/// with comments and the contents of string and character literals left
/// out (so that a word in a comment or a string is not taken for code).
fn tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == 'r' && matches!(c.get(i + 1), Some('"') | Some('#')) && {
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            // r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while c[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push("\"\"".to_owned());
            i = j;
        } else if ch == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push("\"\"".to_owned());
            i = j + 1;
        } else if ch == '\'' {
            // A character literal ('a', '\n', '\u{1F600}') or a lifetime.
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
            out.push("'".to_owned());
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(ch.to_string());
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(src: &str) -> bool {
        check_source("labs/src/trace.rs", src).is_err()
    }

    #[test]
    fn ordinary_lab_code_passes() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/src/pgtbl.rs"),
        )
        .unwrap();
        assert_eq!(check_source("labs/src/pgtbl.rs", &text), Ok(()));
        for lab in crate::labs::LABS {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../labs/src/{lab}.rs"));
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(check_source(lab, &text), Ok(()), "{lab}");
        }
        // Words in comments and strings are not code.
        assert!(!refused("// include_str!(\"/etc/passwd\")\nfn f() {}"));
        assert!(!refused("fn f() -> &'static str { \"env!(HOME)\" }"));
        assert!(!refused("fn f(path: &str) -> usize { path.len() }"));
        assert!(!refused("fn f<'a>(x: &'a u8) -> char { 'x' }"));
    }

    #[test]
    fn reading_outside_the_tree_is_refused() {
        for src in [
            "const S: &str = include_str!(\"../../labs/src/cow.rs\");",
            "const S: &[u8] = include_bytes!(\"/etc/passwd\");",
            "const S: &str = core::include_str!(\"x\");",
            "use core::include_str as grab;",
            "include!(\"/tmp/x.rs\");",
            "const H: &str = env!(\"HOME\");",
            "const H: Option<&str> = option_env!(\"USER\");",
            "#[path = \"/work/main/labs/src/cow.rs\"] mod cow;",
            "#![path = \"x\"]",
            "core::arch::global_asm!(\".incbin \\\"/etc/passwd\\\"\");",
            "fn f() { unsafe { core::arch::asm!(\"nop\") } }",
            "macro_rules! m { ($p:expr) => { include_str!($p) } }",
        ] {
            assert!(refused(src), "not refused: {src}");
        }
    }

    #[test]
    fn files_of_each_kind_of_lab() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(lab_files(&root, "lab-cow"), ["labs/src/cow.rs"]);
        assert_eq!(lab_files(&root, "lab-util").len(), 5);
        assert_eq!(
            lab_files(&root, "lab-syscall"),
            ["labs/src/trace.rs", "labs/src/sysinfo.rs"]
        );
    }
}
