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
    let registry = crate::labs::registry();
    if let Some(labs) = registry.members(lab) {
        return labs.iter().flat_map(|l| l.files()).collect();
    }
    // A group spec the registry does not name (`lab-all`): its parts' files.
    let Ok(spec) = grader::spec::load(root, lab, 0) else {
        return Vec::new();
    };
    spec.includes
        .iter()
        .filter_map(|name| registry.members(name))
        .flatten()
        .flat_map(|l| l.files())
        .collect()
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
        // A link anywhere on the way (`labs` -> the instructor's labs/)
        // would hand in a file from outside the submission.
        let inside = match (std::fs::canonicalize(&path), std::fs::canonicalize(&tree)) {
            (Ok(real), Ok(top)) => real.strip_prefix(&top).ok().map(Path::to_path_buf),
            _ => None,
        };
        let through_link = inside
            .as_deref()
            .is_some_and(|rel| Some(rel) != path.strip_prefix(&tree).ok());
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Refused(format!("{f} is a symbolic link")));
            }
            Ok(_) if through_link || (inside.is_none() && path.exists()) => {
                return Err(Refused(format!("{f} is reached through a symbolic link")));
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

/// Names that read a file or the environment while the code is compiled
/// (`include_str!`, `env!`, a debugger script): refused wherever they
/// stand, since a macro can take one as an argument and `use … as` can
/// rename it.
const READS_AT_BUILD_TIME: [&str; 7] = [
    "include",
    "include_str",
    "include_bytes",
    "env",
    "option_env",
    "concat_idents",
    "debugger_visualizer",
];

/// Inline assembly, whose `.incbin` and `.include` read files: refused but
/// in the files the registry allows it in (`asm`).
const ASSEMBLY: [&str; 3] = ["asm", "global_asm", "naked_asm"];

/// What could put a file-reading directive into an assembly template
/// without writing it in one literal: refused in files that may hold
/// assembly.
const BUILDS_STRINGS: [&str; 2] = ["concat", "stringify"];

/// Assembler directives that read a file, refused in any string literal
/// of a file that may hold assembly (lowercase, without the dot: the
/// assembler takes either case).
const READING_DIRECTIVES: [&str; 2] = ["incbin", "include"];

/// Which rules a file is checked by.
#[derive(Clone, Copy)]
struct Rules {
    /// Its lab's reference needs no `unsafe`.
    no_unsafe: bool,
    /// It may hold inline assembly.
    asm: bool,
}

/// A friendly first check of a lab file, on Rust's own tokens: refuses
/// what could read outside the submission while it is built (the names of
/// [`READS_AT_BUILD_TIME`], `path` in any attribute, an attribute made
/// from a macro's argument) and `unsafe` where the lab needs none. The
/// guarantee is the build sandbox (no file outside the worker tree is
/// there to read); this says why before a build fails.
pub fn check_source(file: &str, text: &str) -> Result<(), Refused> {
    check_source_in(crate::labs::registry(), file, text)
}

/// [`check_source`] with `registry` saying what `file` may hold.
fn check_source_in(
    registry: &grader::registry::Registry,
    file: &str,
    text: &str,
) -> Result<(), Refused> {
    let tokens: proc_macro2::TokenStream = text.parse().map_err(|e: proc_macro2::LexError| {
        Refused(format!(
            "{file}:{}: not valid Rust tokens ({e}); it would not compile",
            e.span().start().line
        ))
    })?;
    let mut found = Vec::new();
    let rules = Rules {
        // In a lab file whose reference needs no `unsafe`, it can only be a
        // way around the lab's API.
        no_unsafe: registry.forbids_unsafe(file),
        asm: registry.allows_asm(file),
    };
    walk(tokens, false, rules, &mut found);
    found.sort_by_key(|(line, _)| *line);
    let lines: Vec<String> = found
        .iter()
        .take(3)
        .map(|(line, why)| format!("{file}:{line}: {why}"))
        .collect();
    match found.len() {
        0 => Ok(()),
        n if n > 3 => Err(Refused(format!(
            "{} (and {} more)",
            lines.join("; "),
            n - 3
        ))),
        _ => Err(Refused(lines.join("; "))),
    }
}

/// Collects refused tokens of `tokens` (inside an attribute when
/// `in_attribute`) as (line, reason).
fn walk(
    tokens: proc_macro2::TokenStream,
    in_attribute: bool,
    rules: Rules,
    found: &mut Vec<(usize, String)>,
) {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, t) in tokens.iter().enumerate() {
        let line = t.span().start().line;
        match t {
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                let name = text.strip_prefix("r#").unwrap_or(&text);
                if ASSEMBLY.contains(&name) && !rules.asm {
                    found.push((
                        line,
                        format!(
                            "`{name}` may not be used in this file (inline assembly can read \
                             files outside the submission while it is built; only the files \
                             labs/registry.toml names under `asm` may hold it)"
                        ),
                    ));
                } else if BUILDS_STRINGS.contains(&name) && rules.asm {
                    found.push((
                        line,
                        format!(
                            "`{name}` may not be used in a file with assembly (it could build \
                             an assembler directive that reads a file)"
                        ),
                    ));
                } else if READS_AT_BUILD_TIME.contains(&name) {
                    found.push((
                        line,
                        format!(
                            "`{name}` may not be used in a graded lab file (it can read files \
                             outside the submission while it is built)"
                        ),
                    ));
                } else if in_attribute && name == "path" {
                    found.push((
                        line,
                        "a `path` attribute may not be used in a graded lab file (it can \
                         compile a file from outside the submission)"
                            .to_owned(),
                    ));
                } else if rules.no_unsafe && text == "unsafe" {
                    found.push((
                        line,
                        "`unsafe` may not be used in this lab's file (its reference needs \
                         none: use the lab's API)"
                            .to_owned(),
                    ));
                }
            }
            TokenTree::Literal(lit) if rules.asm => {
                let text = lit.to_string().to_ascii_lowercase();
                if let Some(d) = READING_DIRECTIVES.iter().find(|d| text.contains(*d)) {
                    found.push((
                        line,
                        format!(
                            "`.{d}` may not be used in a graded file (the assembler would read \
                             a file outside the submission)"
                        ),
                    ));
                }
            }
            TokenTree::Punct(p) if in_attribute && p.as_char() == '$' => found.push((
                line,
                "an attribute made from a macro's argument may not be used in a graded lab \
                 file (it can hide a `path` attribute)"
                    .to_owned(),
            )),
            TokenTree::Group(g) => {
                // `#[...]` or `#![...]`: everything in the brackets is the
                // attribute, `cfg_attr`'s arguments included.
                let attribute = g.delimiter() == Delimiter::Bracket
                    && match (
                        i.checked_sub(1).map(|j| &tokens[j]),
                        i.checked_sub(2).map(|j| &tokens[j]),
                    ) {
                        (Some(TokenTree::Punct(p)), _) if p.as_char() == '#' => true,
                        (Some(TokenTree::Punct(bang)), Some(TokenTree::Punct(hash))) => {
                            bang.as_char() == '!' && hash.as_char() == '#'
                        }
                        _ => false,
                    };
                walk(g.stream(), in_attribute || attribute, rules, found);
            }
            _ => {}
        }
    }
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
        for lab in crate::labs::registry().kernel_labs() {
            let file = lab.kernel_file().unwrap();
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&file);
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(check_source(&file, &text), Ok(()), "{file}");
        }
        // Words in comments and strings are not code.
        assert!(!refused("// include_str!(\"/etc/passwd\")\nfn f() {}"));
        assert!(!refused("fn f() -> &'static str { \"env!(HOME)\" }"));
        assert!(!refused("fn f(path: &str) -> usize { path.len() }"));
        assert!(!refused("fn f<'a>(x: &'a u8) -> char { 'x' }"));
        assert!(!refused(
            "fn f(environment: u8, asm_like: u8, included: u8) {}"
        ));
        assert!(!refused("#[derive(Clone)] struct S { path: u8 }"));
        assert!(!refused("const B: &[u8] = br#\"include_str!(\"x\")\"#;"));
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
            // The ways round the old token filter (issue 15).
            "#[cfg_attr(all(), path = \"../../labs/src/cow.rs\")] mod r; pub use r::Cow;",
            "macro_rules! m { ($i:ident) => { $i!(\"x\") } } const S: &str = m!(include_str);",
            "use core::arch::global_asm as ga; ga!(\".incbin \\\"/etc/passwd\\\"\");",
            "const B: &[u8] = br#\"x\"y\"#; const S: &str = include_str!(\"/etc/passwd\");",
            "#![debugger_visualizer(gdb_script_file = \"/etc/passwd\")]",
            // Others of the kind.
            "const S: &str = r#include_str!(\"/etc/passwd\");",
            "use core::{include_bytes as b}; const S: &[u8] = b!(\"/x\");",
            "#[doc = include_str!(\"/etc/passwd\")] pub struct S;",
            "#[cfg_attr(all(), cfg_attr(all(), path = \"/x.rs\"))] mod r;",
            "macro_rules! m { ($a:meta) => { #[$a] mod r; } } m!(path = \"/x.rs\");",
            "macro_rules! m { ($($t:tt)*) => { $($t)* } } m!(#[path = \"/x.rs\"] mod r;);",
            "const S: &str = concat!(\"a\", env!(\"HOME\"));",
            "fn f() { core::arch::naked_asm!(\"ret\") }",
            "const C: char = '\"'; const S: &str = include_str!(\"/x\");",
            "/* /* nested */ */ const S: &str = include_str!(\"/x\");",
        ] {
            assert!(refused(src), "not refused: {src}");
        }
    }

    #[test]
    fn refusals_name_the_line_and_why() {
        let err = check_source(
            "labs/src/cow.rs",
            "fn f() {}\n\n#[cfg_attr(all(), path = \"x.rs\")]\nmod r;\n",
        )
        .unwrap_err();
        assert!(
            err.0.starts_with("labs/src/cow.rs:3: a `path` attribute"),
            "{err:?}"
        );
        let err = check_source("labs/src/cow.rs", "fn f() {\n  m!(include_str)\n}").unwrap_err();
        assert!(
            err.0.starts_with("labs/src/cow.rs:2: `include_str`"),
            "{err:?}"
        );
        assert!(!err.0.contains('\n'), "one line: {err:?}");
        let err = check_source("labs/src/cow.rs", "fn f( {").unwrap_err();
        assert!(err.0.contains("not valid Rust tokens"), "{err:?}");
    }

    #[test]
    fn unsafe_only_where_the_lab_needs_it() {
        let src = "fn f(p: *const u8) -> u8 { unsafe { *p } }";
        for lab in crate::labs::registry().kernel_labs() {
            let file = lab.kernel_file().unwrap();
            assert_eq!(
                check_source(&file, src).is_ok(),
                lab.allows_unsafe(&file),
                "{file}"
            );
        }
        assert_eq!(check_source("labs/src/cow.rs", src), Ok(()));
        assert!(check_source("labs/src/trace.rs", src).is_err());
        // A word in a string or a comment is not the keyword.
        assert_eq!(
            check_source(
                "labs/src/trace.rs",
                "// unsafe\nconst S: &str = \"unsafe\";"
            ),
            Ok(())
        );
    }

    #[test]
    fn unsafe_only_in_the_user_and_host_files_that_need_it() {
        let src = "fn f(p: *const u8) -> u8 { unsafe { *p } }";
        let registry = crate::labs::registry();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for lab in registry.labs.iter().filter(|l| !l.is_kernel()) {
            for file in lab.files() {
                assert_eq!(
                    check_source(&file, src).is_ok(),
                    lab.allows_unsafe(&file),
                    "{file}"
                );
                // The references pass their own file's rules.
                let text = std::fs::read_to_string(root.join(&file)).unwrap();
                assert_eq!(check_source(&file, &text), Ok(()), "{file}");
            }
        }
        // The thread lab's switch needs it; its host programs and util's
        // programs do not, nor do they get it.
        assert_eq!(check_source("user/src/bin/uthread.rs", src), Ok(()));
        for file in [
            "host/src/bin/ph/table.rs",
            "host/src/bin/barrier/sync.rs",
            "user/src/bin/primes.rs",
            "user/src/bin/xargs.rs",
        ] {
            let e = check_source(file, src).unwrap_err();
            assert!(e.0.contains("`unsafe` may not be used"), "{file}: {e:?}");
            let e = check_source(file, "unsafe impl Sync for T {}").unwrap_err();
            assert!(
                e.0.starts_with(&format!("{file}:1: `unsafe`")),
                "{file}: {e:?}"
            );
        }
        // A file of no lab is not the submission's: no rule about it here.
        assert_eq!(check_source("user/src/bin/usertests/main.rs", src), Ok(()));
    }

    #[test]
    fn assembly_only_in_the_files_the_registry_names() {
        let registry = grader::registry::Registry::parse(
            "[[lab]]\nname = \"thread\"\nuser = [\"uthread\"]\n\
             asm = [\"user/src/bin/uthread.rs\"]\nunsafe = [\"user/src/bin/uthread.rs\"]\n\
             points = 1\neditions = []\n\
             [[lab]]\nname = \"other\"\nuser = [\"other\"]\npoints = 1\neditions = []\n",
        )
        .unwrap();
        let check = |file: &str, src: &str| check_source_in(&registry, file, src);
        let (asm_file, plain) = ("user/src/bin/uthread.rs", "user/src/bin/other.rs");
        let switch = "core::arch::global_asm!(\".globl thread_switch\", \"thread_switch:\", \"sd ra, 0(a0)\", \"ret\");";
        assert_eq!(check(asm_file, switch), Ok(()));
        assert_eq!(
            check(asm_file, "fn f() { unsafe { core::arch::asm!(\"nop\") } }"),
            Ok(())
        );
        assert!(
            check(plain, switch)
                .unwrap_err()
                .0
                .contains("`global_asm` may not be used")
        );
        // Directives that read files stay refused, however they are spelt
        // or put together.
        for src in [
            "core::arch::global_asm!(\".incbin \\\"/etc/passwd\\\"\");",
            "core::arch::global_asm!(\".INCLUDE \\\"x.s\\\"\");",
            "core::arch::global_asm!(r#\"  .incbin \"/etc/shadow\"\"#);",
            "core::arch::global_asm!(concat!(\".inc\", \"bin \\\"/etc/passwd\\\"\"));",
            "core::arch::global_asm!(stringify!(.incbin));",
            "const S: &str = \".incbin\"; core::arch::global_asm!(\"nop\");",
            "use core::arch::global_asm as ga; ga!(\".include \\\"x\\\"\");",
            "core::arch::global_asm!(include_str!(\"/etc/passwd\"));",
        ] {
            assert!(check(asm_file, src).is_err(), "{src}");
        }
        // In this tree's registry, only the files it names under `asm`.
        let registry = crate::labs::registry();
        for f in registry.student_files() {
            assert_eq!(
                check_source(&f, switch).is_ok(),
                registry.allows_asm(&f),
                "{f}"
            );
        }
        assert!(registry.allows_asm("user/src/bin/uthread.rs"));
    }

    #[test]
    fn files_reached_through_a_link_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("src")).unwrap();
        std::fs::write(outside.path().join("src/trace.rs"), "fn f() {}").unwrap();
        let files = ["labs/src/trace.rs".to_owned()];
        let scratch = tempfile::tempdir().unwrap();
        let read = |tree: &Path| {
            read_files(
                &Form::Tree(tree.to_path_buf()),
                &files,
                scratch.path(),
                scratch.path(),
            )
        };
        // A directory on the way is a link.
        let sub = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), sub.path().join("labs")).unwrap();
        let e = read(sub.path()).unwrap_err();
        assert!(e.0.contains("symbolic link"), "{e:?}");
        // The file itself is one.
        let sub = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sub.path().join("labs/src")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("src/trace.rs"),
            sub.path().join("labs/src/trace.rs"),
        )
        .unwrap();
        assert!(read(sub.path()).is_err());
        // The submission's directory may be a link (Gradescope's is).
        let real = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(real.path().join("labs/src")).unwrap();
        std::fs::write(real.path().join("labs/src/trace.rs"), "fn g() {}").unwrap();
        let links = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(real.path(), links.path().join("s")).unwrap();
        let got = read(&links.path().join("s")).unwrap();
        assert_eq!(got, vec![(files[0].clone(), b"fn g() {}".to_vec())]);
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
