//! Files written atomically (another build or a grader may be reading
//! them), through the grader's [`grader::atomic::AtomicFile`], and the
//! mtime comparisons that keep builds incremental.

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
