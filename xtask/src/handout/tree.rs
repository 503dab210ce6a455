//! Writing a student tree: every tracked file, lab files cut, checked
//! afterwards for any solution line left.

use super::markers::{BEGIN, END, FILE, Marked, NEUTRAL_PROGRAM, cut, marker, parse, significant};
use super::*;

/// What [`write_student_tree`] wrote.
#[derive(Debug, Default)]
pub struct Report {
    /// Files in the tree.
    pub files: usize,
    /// Files written or rewritten (all of them in a new tree).
    pub written: usize,
    /// Files of an earlier tree removed because they are no longer in it.
    pub removed: Vec<String>,
    /// Solution regions replaced by their starter text.
    pub regions: usize,
    /// Solution files left out of the tree.
    pub solution_files: Vec<String>,
    /// Labs whose reference solution the tree keeps.
    pub kept: Vec<&'static str>,
    /// Distinct solution lines checked absent from every file written.
    pub lines_checked: usize,
}

/// Where a tree written by [`write_student_tree`] lists its files, so that
/// a later call can update it in place (build output there stays valid:
/// files are rewritten only when they change). Under `target/`: never
/// committed, packed or handed in.
pub(super) const RECORD: &str = "target/handout-files.txt";

/// Writes a student tree of the repository at `root` into `out`: every
/// file git tracks there (working-tree contents, no `.git`), with the
/// solutions of the labs in `starters` cut out; other labs keep theirs.
/// Then reads every file written back and fails if a line of a cut
/// solution is in any of them (handouts and docs included), if a marker
/// of a cut lab is left, or if a solution file is there.
///
/// `out` must be missing, empty, or a tree this function wrote earlier,
/// which is then updated in place: only changed files are rewritten, and
/// files it wrote before that are no longer in the tree are removed
/// (nothing else is: `target/`, `.git/` and the student's files stay).
pub fn write_student_tree(root: &Path, starters: &Starters, out: &Path) -> Result<Report, String> {
    write_tree(root, starters, out, Cut::Starter)
}

/// [`write_student_tree`], of the starters or of the neutral stubs.
pub fn write_tree(
    root: &Path,
    starters: &Starters,
    out: &Path,
    kind: Cut,
) -> Result<Report, String> {
    let files = tracked_files(root)?;
    let record = out.join(RECORD);
    let previous = previous_tree(out, &record)?;

    // Read and parse everything before writing anything.
    struct Source {
        path: String,
        bytes: Vec<u8>,
        executable: bool,
        marked: Marked,
    }
    let mut sources = Vec::new();
    for path in files {
        let full = root.join(&path);
        let bytes = match std::fs::read(&full) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(format!(
                    "{path} is tracked by git but missing from the working tree: restore it or `git rm` it"
                ));
            }
            Err(e) => return Err(format!("cannot read {}: {e}", full.display())),
        };
        let executable = is_executable(&full);
        let marked = match std::str::from_utf8(&bytes) {
            Ok(text) => parse(&path, text)?,
            Err(_) => Marked::default(),
        };
        let lab = lab_of_file(&path);
        match (lab, marked.is_marked()) {
            (None, true) => {
                let line = marked.marker_lines[0] + 1;
                return Err(format!(
                    "{path}:{line}: a solution marker in a file that is no lab's \
                     (lab files: labs/src/<lab>.rs and util's user programs; see xtask/src/handout.rs)"
                ));
            }
            (Some(lab), false) => {
                return Err(format!(
                    "{path} has no solution markers: the starter of lab {lab} would be its solution \
                     (mark it with `{BEGIN}` … `{END}`, or `{FILE}`)"
                ));
            }
            _ => {}
        }
        sources.push(Source {
            path,
            bytes,
            executable,
            marked,
        });
    }
    for lab in labs::course_labs() {
        if let Some(f) = lab_files(lab)
            .into_iter()
            .find(|f| !sources.iter().any(|s| &s.path == f))
        {
            return Err(format!(
                "{f}, a file of lab {lab}, is not tracked by git: `git add` it"
            ));
        }
    }

    let mut report = Report {
        kept: labs::course_labs()
            .into_iter()
            .filter(|l| !starters.contains(l))
            .collect(),
        ..Report::default()
    };
    // The cut solution's lines (with where they come from), and the lines
    // of code that legitimately stay: a solution line found among those is
    // ordinary code (`let _ = p;`), not something to look for.
    let mut solution: HashMap<String, String> = HashMap::new();
    let mut staying: BTreeSet<String> = BTreeSet::new();
    // (path, contents, executable) of the tree.
    let mut tree: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for s in sources {
        let cut_here = lab_of_file(&s.path).is_some_and(|lab| starters.contains(lab));
        let Ok(text) = std::str::from_utf8(&s.bytes) else {
            tree.push((s.path, s.bytes, s.executable));
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if cut_here && s.marked.is_solution(i) {
                if significant(t) {
                    solution
                        .entry(t.to_string())
                        .or_insert_with(|| format!("{}:{}", s.path, i + 1));
                }
            } else if s.path.ends_with(".rs") && !(cut_here && s.marked.in_region(i)) {
                staying.insert(t.to_string());
            }
        }
        if !cut_here {
            tree.push((s.path, s.bytes, s.executable));
        } else if s.marked.whole_file.is_some() {
            if kind == Cut::Neutral {
                tree.push((s.path, NEUTRAL_PROGRAM.as_bytes().to_vec(), s.executable));
            } else {
                report.solution_files.push(s.path);
            }
        } else {
            report.regions += s.marked.regions.len();
            let starter = cut(text, &s.marked, kind);
            tree.push((s.path, starter.into_bytes(), s.executable));
        }
    }
    solution.retain(|line, _| !staying.contains(line));
    report.files = tree.len();
    report.lines_checked = solution.len();

    // Write.
    let fresh = previous.is_none();
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let names: BTreeSet<&str> = tree.iter().map(|(p, _, _)| p.as_str()).collect();
    if let Some(dir) = record.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Recorded before writing, old names and new: a write cut short (^C, a
    // full disk) leaves a tree the next run recognises and finishes.
    let pending: BTreeSet<&str> = names
        .iter()
        .copied()
        .chain(previous.iter().flatten().map(String::as_str))
        .collect();
    let list =
        |names: &BTreeSet<&str>| -> String { names.iter().map(|n| format!("{n}\n")).collect() };
    fsutil::write_if_changed(&record, list(&pending).as_bytes())?;
    for old in previous.iter().flatten() {
        if !names.contains(old.as_str()) {
            remove_file_and_empty_parents(out, old)?;
            report.removed.push(old.clone());
        }
    }
    for (path, bytes, executable) in &tree {
        let dst = out.join(path);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        if std::fs::read(&dst).ok().as_deref() != Some(bytes) {
            fsutil::AtomicFile::new(&dst)?.write(bytes)?;
            report.written += 1;
        }
        set_executable(&dst, *executable)?;
    }
    fsutil::write_if_changed(&record, list(&names).as_bytes())?;

    // Check what is on disk now, not what was meant to be written.
    let problems = check_tree(out, &names, &solution, starters, &report.solution_files);
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(12).map(String::as_str).collect();
        let more = problems.len().saturating_sub(shown.len());
        if fresh {
            let _ = std::fs::remove_dir_all(out);
        }
        return Err(format!(
            "the starter tree still holds solution code{}:\n  {}{}\n\
             fix the STARTER lines or the files named, then run again",
            if fresh { " (the tree was removed)" } else { "" },
            shown.join("\n  "),
            if more > 0 {
                format!("\n  … and {more} more")
            } else {
                String::new()
            }
        ));
    }
    Ok(report)
}

/// Every way the written tree could still hold a cut solution.
pub(super) fn check_tree(
    out: &Path,
    names: &BTreeSet<&str>,
    solution: &HashMap<String, String>,
    starters: &Starters,
    solution_files: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    for f in solution_files {
        if out.join(f).exists() {
            problems.push(format!("{f}: a solution file, in the tree"));
        }
    }
    for name in names {
        let bytes = match std::fs::read(out.join(name)) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{name}: cannot read it back: {e}"));
                continue;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let kept = lab_of_file(name).is_some_and(|lab| !starters.contains(lab));
        let rust = name.ends_with(".rs");
        for (i, line) in text.lines().enumerate() {
            if rust && !kept && marker(line).is_some() {
                problems.push(format!("{name}:{}: a solution marker is left", i + 1));
            }
            if let Some(from) = solution.get(line.trim()) {
                problems.push(format!(
                    "{name}:{}: `{}` is solution code (from {from})",
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    problems
}

/// The files `git ls-files` lists at `root`.
pub(super) fn tracked_files(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| {
            format!("cannot run git: {e}; a student tree is made of the files git tracks")
        })?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a git work tree (git: {}); a student tree is made of the files git tracks",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut files = Vec::new();
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| "a tracked file's name is not UTF-8".to_string())?;
        files.push(name);
    }
    Ok(files)
}

/// The files of the tree `out` held before, or `None` for a new tree;
/// an error for a directory that is neither empty nor such a tree.
pub(super) fn previous_tree(out: &Path, record: &Path) -> Result<Option<Vec<String>>, String> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", out.display())),
    };
    if entries.next().is_none() {
        return Ok(None);
    }
    match std::fs::read_to_string(record) {
        Ok(list) => Ok(Some(list.lines().map(str::to_string).collect())),
        Err(_) => Err(format!(
            "{} is not empty and not a tree handout wrote: choose a new directory",
            out.display()
        )),
    }
}

pub(super) fn remove_file_and_empty_parents(out: &Path, rel: &str) -> Result<(), String> {
    let path = out.join(rel);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == out || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(unix)]
pub(super) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
pub(super) fn is_executable(_: &Path) -> bool {
    false
}

#[cfg(unix)]
pub(super) fn set_executable(path: &Path, executable: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    let want = if executable {
        mode | (mode & 0o444) >> 2
    } else {
        mode & !0o111
    };
    if want != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn set_executable(_: &Path, _: bool) -> Result<(), String> {
    Ok(())
}
