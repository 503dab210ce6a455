//! Files written atomically (another build or a grader may be reading
//! them) and the mtime comparisons that keep builds incremental.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

/// A file written under a temporary name beside its final path and renamed
/// into place by [`AtomicFile::commit`]; dropped uncommitted, the temporary
/// file is removed.
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    pub fn new(path: &Path) -> AtomicFile {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".tmp{}-{n}", std::process::id()));
        AtomicFile {
            path: path.to_path_buf(),
            temp: temp.into(),
            committed: false,
        }
    }

    /// Where to write the contents before [`AtomicFile::commit`].
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn commit(mut self) -> Result<(), String> {
        std::fs::rename(&self.temp, &self.path)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.committed = true;
        Ok(())
    }

    /// Writes `bytes` and commits.
    pub fn write(self, bytes: &[u8]) -> Result<(), String> {
        std::fs::write(&self.temp, bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.temp.display()))?;
        self.commit()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Copies `src` to `dst` atomically.
pub fn copy(src: &Path, dst: &Path) -> Result<(), String> {
    let file = AtomicFile::new(dst);
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
    AtomicFile::new(path).write(contents)
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
        AtomicFile::new(&path).write(b"one").unwrap();
        write_if_changed(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let abandoned = AtomicFile::new(&path);
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
