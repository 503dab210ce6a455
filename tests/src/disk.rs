//! Boots that write the disk: QEMU runs on a copy of a built `fs.img`
//! without `-snapshot` (the grader's arguments otherwise), driven by the
//! grader's session runner, so the image can be checked with
//! `mkfs::check` afterwards.
//!
//! A run that ends at the prompt after its last command leaves a consistent
//! image: every file system call commits its log before returning, the
//! shell waits for each command, and QEMU has written every block the
//! kernel waited for before it is killed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use grader::qemu::{End, Session, graded_args, qemu_binary, run_session};
use mkfs::check::{Options, Report, check};

use crate::Config;

/// A writable copy of a configuration's disk image, in a scratch directory.
pub struct Disk {
    _dir: tempfile::TempDir,
    pub img: PathBuf,
    kernel: PathBuf,
}

/// How a boot went.
#[derive(Debug)]
pub struct Boot {
    pub console: String,
    pub end: End,
    pub elapsed: Duration,
}

impl Boot {
    /// Panics with the console unless the run reached its last prompt.
    pub fn assert_finished(&self, what: &str) {
        assert!(
            self.end == End::Finished,
            "{what}: the run ended with {:?}; console:\n{}",
            self.end,
            self.console
        );
    }
}

impl Disk {
    /// A fresh copy of `config`'s image.
    pub fn copy_of(config: &Config) -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        std::fs::copy(&config.fs_img, &img).unwrap();
        Disk {
            _dir: dir,
            img,
            kernel: config.kernel.clone(),
        }
    }

    /// The grader's QEMU command line for this image, less `-snapshot`.
    fn args(&self, cpus: u32) -> Vec<OsString> {
        let mut args = graded_args(&self.kernel, &self.img, cpus);
        let before = args.len();
        args.retain(|a| a != "-snapshot");
        assert_eq!(args.len() + 1, before, "the grader's arguments changed");
        args
    }

    /// Boots, types `commands` at the prompts and stops QEMU at the prompt
    /// after the last one, or at `limit`, whichever comes first.
    pub fn boot(&self, cpus: u32, commands: &[&str], limit: Duration) -> Boot {
        let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
        let qemu = qemu_binary();
        let args = self.args(cpus);
        let session = Session {
            qemu: &qemu,
            args: &args,
            commands: &commands,
            until: None,
            timeout: limit,
        };
        let t = run_session(&session, &mut |_| {}).expect("cannot start QEMU");
        Boot {
            console: String::from_utf8_lossy(&t.output).into_owned(),
            end: t.end,
            elapsed: t.elapsed,
        }
    }

    pub fn check(&self, opts: Options) -> Report {
        check(&std::fs::read(&self.img).unwrap(), opts)
    }

    /// Panics with the report unless the image is consistent.
    pub fn assert_clean(&self, what: &str) {
        let r = self.check(Options::default());
        assert!(r.is_clean(), "{what}: the disk is not consistent: {r}");
    }

    pub fn path(&self) -> &Path {
        &self.img
    }
}
