//! Files written whole or not at all: a reader, or another grader writing
//! the same log or cache, never sees a half-written file. xtask writes its
//! builds, listings and zips through the same [`AtomicFile`].

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written under a temporary name in the directory of its
/// final path, renamed over that path by [`AtomicFile::commit`]; dropped
/// uncommitted, the temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    temp: NamedTempFile,
}

impl AtomicFile {
    /// Starts writing `path`, making its directory if need be.
    pub fn new(path: &Path) -> io::Result<AtomicFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        // The mode a plain write would give (less the umask), not the
        // temporary file's private 0600: logs are read by other tools.
        let temp = tempfile::Builder::new()
            .prefix(".tmp")
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// The temporary file's path, for a program that writes the contents
    /// itself (a linker's `-o`); it may replace the file there.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// The temporary file, open for writing.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Puts the contents in place at the final path.
    pub fn commit(self) -> io::Result<()> {
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Writes `contents` to `path` through an [`AtomicFile`].
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::new(path)?;
    file.file().write_all(contents)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("log.txt");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(path.parent().unwrap()), ["log.txt"]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o044, 0o044, "readable by others: {mode:o}");
    }

    #[test]
    fn a_directory_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomically(dir.path(), b"x").is_err());
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_file_another_program_writes_is_committed_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let file = AtomicFile::new(&path).unwrap();
        // As a linker does: the old file unlinked, a new one made.
        std::fs::remove_file(file.temp_path()).unwrap();
        std::fs::write(file.temp_path(), b"linked").unwrap();
        assert!(!path.exists(), "nothing at the path before the commit");
        file.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"linked");
        let abandoned = AtomicFile::new(&path).unwrap();
        std::fs::write(abandoned.temp_path(), b"half").unwrap();
        drop(abandoned);
        assert_eq!(names(dir.path()), ["out"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"linked");
    }
}
