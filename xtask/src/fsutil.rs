//! Files written atomically (another build or a grader may be reading
//! them), through the grader's [`grader::atomic::AtomicFile`], the mtime
//! comparisons that keep builds incremental, and warm target directories
//! for new trees.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// [`grader::atomic::AtomicFile`] with xtask's errors: a line naming the
/// file.
pub struct AtomicFile {
    path: PathBuf,
    file: grader::atomic::AtomicFile,
}

impl AtomicFile {
    pub fn new(path: &Path) -> Result<AtomicFile, String> {
        Ok(AtomicFile {
            path: path.to_path_buf(),
            file: grader::atomic::AtomicFile::new(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        })
    }

    /// Where to write the contents before [`AtomicFile::commit`].
    pub fn temp_path(&self) -> &Path {
        self.file.temp_path()
    }

    pub fn commit(self) -> Result<(), String> {
        self.file
            .commit()
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    /// Writes `bytes` and commits.
    pub fn write(mut self, bytes: &[u8]) -> Result<(), String> {
        use std::io::Write;
        self.file
            .file()
            .write_all(bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.commit()
    }
}

/// Copies `src` to `dst` atomically.
pub fn copy(src: &Path, dst: &Path) -> Result<(), String> {
    let file = AtomicFile::new(dst)?;
    std::fs::copy(src, file.temp_path())
        .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
    file.commit()
}

/// Writes `contents` unless the file already holds exactly that, so its
/// mtime moves only when it changes.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    AtomicFile::new(path)?.write(contents)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `output` must be made again: it is missing, or an input is
/// missing or newer.
pub fn stale(output: &Path, inputs: &[&Path]) -> bool {
    let Some(out) = mtime(output) else {
        return true;
    };
    inputs
        .iter()
        .any(|input| mtime(input).is_none_or(|t| t > out))
}

/// The file of a seed target directory ([`seed_target`]) no older than
/// anything else in it: the time it was made.
pub const SEED_STAMP: &str = "seed-stamp";

/// Makes `target` a copy of the warm target directory `seed`, mtimes kept
/// (`cp -a`), so that cargo reuses what is still fresh in it: the crates of
/// the registry, whose artifacts a tree's path does not change (cargo hashes
/// a workspace member by its path in the workspace). Sound only for a tree
/// every file of which is newer than the seed's stamp (returned): cargo then
/// builds every crate of the tree again, and a file the seed was built from
/// with other contents cannot pass for fresh; check with [`not_newer`].
pub fn seed_target(seed: &Path, target: &Path) -> Result<SystemTime, String> {
    let stamp = mtime(&seed.join(SEED_STAMP))
        .ok_or_else(|| format!("{} is no seed: it has no {SEED_STAMP}", seed.display()))?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
    }
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(seed)
        .arg(target)
        .status()
        .map_err(|e| format!("cannot run cp: {e}"))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(target);
        return Err(format!(
            "cannot copy {} to {} (cp: {status})",
            seed.display(),
            target.display()
        ));
    }
    Ok(stamp)
}

/// A file of `tree` (its `target` and `.git` left out) whose mtime is not
/// after `stamp`, if there is one.
pub fn not_newer(tree: &Path, stamp: SystemTime) -> Option<PathBuf> {
    let entries = std::fs::read_dir(tree).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if entry.file_name() != "target"
                && entry.file_name() != ".git"
                && let Some(old) = not_newer(&path, stamp)
            {
                return Some(old);
            }
        } else if mtime(&path).is_none_or(|t| t <= stamp) {
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, FileTimes};
    use std::time::Duration;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-fsutil-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        let f = File::options().write(true).open(path).unwrap();
        f.set_times(FileTimes::new().set_modified(t)).unwrap();
    }

    #[test]
    fn staleness_follows_mtimes() {
        let dir = scratch("stale");
        let (input, output) = (dir.join("in"), dir.join("out"));
        std::fs::write(&input, "x").unwrap();
        assert!(stale(&output, &[&input]), "missing output");
        std::fs::write(&output, "y").unwrap();
        let now = SystemTime::now();
        set_mtime(&input, now - Duration::from_secs(10));
        set_mtime(&output, now);
        assert!(!stale(&output, &[&input]));
        set_mtime(&input, now + Duration::from_secs(1));
        assert!(stale(&output, &[&input]), "newer input");
        assert!(stale(&output, &[&dir.join("gone")]), "missing input");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = scratch("atomic");
        let path = dir.join("f");
        AtomicFile::new(&path).unwrap().write(b"one").unwrap();
        write_if_changed(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let abandoned = AtomicFile::new(&path).unwrap();
        std::fs::write(abandoned.temp_path(), b"half").unwrap();
        drop(abandoned);
        copy(&path, &dir.join("g")).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["f", "g"]);
        assert_eq!(std::fs::read(dir.join("g")).unwrap(), b"one");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_seed_is_copied_with_its_mtimes_and_an_older_file_is_found() {
        let dir = scratch("seed");
        let seed = dir.join("seed");
        std::fs::create_dir_all(seed.join("debug/deps")).unwrap();
        let artifact = seed.join("debug/deps/libx.rlib");
        std::fs::write(&artifact, "x").unwrap();
        let now = SystemTime::now();
        set_mtime(&artifact, now - Duration::from_secs(20));
        let target = dir.join("worker/target");
        assert!(seed_target(&seed, &target).is_err(), "a seed without stamp");
        assert!(!target.exists());
        std::fs::write(seed.join(SEED_STAMP), "").unwrap();
        set_mtime(&seed.join(SEED_STAMP), now - Duration::from_secs(10));
        let stamp = seed_target(&seed, &target).unwrap();
        assert_eq!(stamp, now - Duration::from_secs(10));
        assert_eq!(
            mtime(&target.join("debug/deps/libx.rlib")),
            Some(now - Duration::from_secs(20))
        );
        // The tree: newer files only, but for one; target/ does not count.
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::create_dir_all(tree.join("target")).unwrap();
        std::fs::write(tree.join("a/b/new.rs"), "").unwrap();
        std::fs::write(tree.join("target/old"), "").unwrap();
        set_mtime(&tree.join("target/old"), now - Duration::from_secs(99));
        assert_eq!(not_newer(&tree, stamp), None);
        std::fs::write(tree.join("a/old.rs"), "").unwrap();
        set_mtime(&tree.join("a/old.rs"), stamp);
        assert_eq!(not_newer(&tree, stamp), Some(tree.join("a/old.rs")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unchanged_contents_keep_the_mtime() {
        let dir = scratch("unchanged");
        let path = dir.join("usys.S");
        std::fs::write(&path, "same").unwrap();
        let old = SystemTime::now() - Duration::from_secs(100);
        set_mtime(&path, old);
        write_if_changed(&path, b"same").unwrap();
        assert_eq!(mtime(&path), Some(old));
        write_if_changed(&path, b"new").unwrap();
        assert_ne!(mtime(&path), Some(old));
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
