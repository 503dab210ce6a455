//! Boots that write the disk: QEMU runs on a copy of a built `fs.img`
//! without `-snapshot` (the grader's arguments otherwise), driven by the
//! grader's session runner, so the image can be checked with
//! `mkfs::check` afterwards.
//!
//! A run that ends at the prompt after its last command leaves a consistent
//! image: every file system call commits its log before returning, the
//! shell waits for each command, and QEMU has written every block the
//! kernel waited for before it is killed. [`Disk::crash`] instead kills
//! QEMU while a workload runs.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grader::qemu::{End, Session, graded_args, qemu_binary, run_session};
use mkfs::check::{Options, Report, check};

use crate::Config;

/// A writable copy of a configuration's disk image, in a scratch directory.
pub struct Disk {
    _dir: tempfile::TempDir,
    img: PathBuf,
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

    /// A fresh image of `blocks` blocks with the files of `config`'s, in
    /// its inode layout: for runs that fill the disk (usertests' diskfull),
    /// which take minutes on the fs lab's 200,000 blocks.
    pub fn resized_copy_of(config: &Config, blocks: u32) -> Disk {
        let bytes = std::fs::read(&config.fs_img).unwrap();
        let image = mkfs::Image::open(&bytes).unwrap();
        let files: Vec<(String, Vec<u8>)> = image
            .root_names()
            .unwrap()
            .into_iter()
            .map(|n| {
                let data = image.read_file(&n).unwrap();
                (n, data)
            })
            .collect();
        let resized = mkfs::make_image_with(blocks, image.layout(), &files).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        std::fs::write(&img, resized).unwrap();
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
        if self.is_net_kernel() {
            // As the grader boots it: the e1000 on QEMU's user network.
            args.extend(grader::netpeer::Peer::qemu_args());
        }
        args
    }

    /// Whether the kernel has the net lab: its configuration's directory
    /// is named by its labs joined with `-` (`trace-...-net`).
    fn is_net_kernel(&self) -> bool {
        let config = self.kernel.parent().and_then(Path::file_name);
        config.is_some_and(|c| c.to_string_lossy().split('-').any(|l| l == "net"))
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

    /// Boots, types `command` at the first prompt, and kills QEMU `after`
    /// the console shows a line starting with `ready`: a crash at a moment
    /// the caller picks. Panics if the kernel panics or `ready` does not
    /// show within `limit`.
    pub fn crash(
        &self,
        cpus: u32,
        command: &str,
        ready: &str,
        after: Duration,
        limit: Duration,
    ) -> Boot {
        let start = Instant::now();
        let mut qemu = Qemu::spawn(&self.args(cpus));
        let mut stdin = qemu.0.stdin.take().unwrap();
        let mut stdout = qemu.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut out = Vec::new();
        let mut typed = false;
        let mut ready_at = None;
        let end = loop {
            let now = Instant::now();
            if ready_at.is_some_and(|t: Instant| now >= t + after) {
                break End::Timeout {
                    waiting_for: format!("nothing: killed {after:?} after `{ready}`"),
                };
            }
            if now >= start + limit {
                panic!(
                    "no `{ready}` within {limit:?}; console:\n{}",
                    String::from_utf8_lossy(&out)
                );
            }
            let wait = match ready_at {
                Some(t) => (t + after).saturating_duration_since(now),
                None => Duration::from_millis(50),
            };
            match rx.recv_timeout(wait) {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break End::Exited {
                        status: format!("{:?}", qemu.0.wait()),
                        stderr: String::new(),
                    };
                }
            }
            let text = String::from_utf8_lossy(&out);
            if let Some(line) = text.lines().find(|l| l.starts_with("panic: ")) {
                break End::Panic {
                    line: line.to_owned(),
                };
            }
            if !typed && (text.starts_with("$ ") || text.contains("\n$ ")) {
                stdin.write_all(format!("{command}\n").as_bytes()).unwrap();
                typed = true;
            }
            if ready_at.is_none() && text.lines().any(|l| l.starts_with(ready)) {
                ready_at = Some(Instant::now());
            }
        };
        drop(qemu);
        Boot {
            console: String::from_utf8_lossy(&out).into_owned(),
            end,
            elapsed: start.elapsed(),
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

/// A QEMU this test started, killed (by its own PID) and reaped on drop,
/// and killed by the kernel if the test process dies first.
struct Qemu(Child);

impl Qemu {
    fn spawn(args: &[OsString]) -> Qemu {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(qemu_binary());
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec and
        // makes only async-signal-safe calls (prctl), allocating nothing.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Qemu(command.spawn().expect("cannot start QEMU"))
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
