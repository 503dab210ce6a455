//! The sandbox a batch builds and grades each submission in: bubblewrap
//! (`bwrap`) with a mount namespace that shows the system's programs and
//! libraries, the Rust toolchain and the crates the trusted `Cargo.lock`
//! needs (read-only), a fresh `/tmp`, `/dev` and `/proc`, and only the
//! directories a command is given: no network, no other namespace shared,
//! nothing of the instructor's tree (its reference solutions above all).
//! This, not the source check, is what keeps a submission from reading a
//! file outside its tree while it is built or run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How submissions' commands are run: in bubblewrap, or (`--no-sandbox`)
/// directly, with the same clean environment.
pub struct Sandbox {
    enabled: bool,
    /// The bubblewrap program.
    bwrap: PathBuf,
    rustup_home: PathBuf,
    cargo_home: PathBuf,
    /// A fake QEMU for the grader (tests), passed on when set.
    grader_qemu: Option<PathBuf>,
}

/// What a sandboxed command may see besides the system and toolchain.
#[derive(Default)]
pub struct Mounts<'a> {
    pub writable: Vec<&'a Path>,
    pub readable: Vec<&'a Path>,
}

impl Sandbox {
    /// The sandbox, checked by running `true` in it; without `enabled`,
    /// none. The error is one line: what is missing and what to do.
    pub fn new(enabled: bool) -> Result<Sandbox, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let from_env = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(default)))
                .ok_or_else(|| format!("neither {var} nor HOME is set: cannot find the toolchain"))
        };
        let sandbox = Sandbox {
            enabled,
            bwrap: PathBuf::from("bwrap"),
            rustup_home: from_env("RUSTUP_HOME", ".rustup")?,
            cargo_home: from_env("CARGO_HOME", ".cargo")?,
            grader_qemu: std::env::var_os("GRADER_QEMU").map(PathBuf::from),
        };
        if enabled {
            sandbox.check()?;
        }
        Ok(sandbox)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        let fix = "install bubblewrap (`apt-get install bubblewrap`), or pass --no-sandbox \
                   to grade without one (a submission can then read any file you can)";
        let out = self
            .command("true", Path::new("/"), &Mounts::default())
            .stdout(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "the build sandbox does not work (bwrap: {}): {fix}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("no message")
                    .trim_start_matches("bwrap: ")
            )),
            Err(e) => Err(format!("cannot run bwrap ({e}): {fix}")),
        }
    }

    /// `program` run in `cwd` inside the sandbox, seeing `mounts` (at the
    /// same paths as outside), with a clean environment: the toolchain's
    /// variables, cargo offline, `HOME` the fresh `/tmp`.
    pub fn command(&self, program: impl AsRef<OsStr>, cwd: &Path, mounts: &Mounts) -> Command {
        let mut cmd = if self.enabled {
            let mut cmd = Command::new(&self.bwrap);
            cmd.args([
                "--unshare-all",
                "--die-with-parent",
                "--new-session",
                "--ro-bind",
                "/usr",
                "/usr",
            ]);
            // Merged-/usr systems have these as links into /usr.
            for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
                match std::fs::symlink_metadata(dir) {
                    Ok(m) if m.file_type().is_symlink() => {
                        if let Ok(to) = std::fs::read_link(dir) {
                            cmd.arg("--symlink").arg(to).arg(dir);
                        }
                    }
                    Ok(m) if m.is_dir() => {
                        cmd.args(["--ro-bind", dir, dir]);
                    }
                    _ => {}
                }
            }
            // The dynamic loader's cache and `cc` (a link through
            // /etc/alternatives) for build scripts; nothing else of /etc.
            for file in [
                "/etc/alternatives",
                "/etc/ld.so.cache",
                "/etc/ld.so.conf",
                "/etc/ld.so.conf.d",
            ] {
                cmd.args(["--ro-bind-try", file, file]);
            }
            let ro = |cmd: &mut Command, flag: &str, p: &Path| {
                cmd.arg(flag).arg(p).arg(p);
            };
            // Absent where the toolchain is the system's (/usr/bin/cargo).
            ro(&mut cmd, "--ro-bind-try", &self.rustup_home);
            ro(&mut cmd, "--ro-bind-try", &self.cargo_home.join("bin"));
            // Crates, fetched before (the sandbox has no network).
            ro(&mut cmd, "--ro-bind-try", &self.cargo_home.join("registry"));
            ro(&mut cmd, "--ro-bind-try", &self.cargo_home.join("git"));
            // QEMU keeps -snapshot's overlay in /var/tmp.
            cmd.args([
                "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--dev", "/dev", "--proc", "/proc",
            ]);
            if let Some(qemu) = self.grader_qemu.as_deref().filter(|q| q.is_absolute()) {
                ro(&mut cmd, "--ro-bind-try", qemu);
            }
            for p in &mounts.readable {
                ro(&mut cmd, "--ro-bind", p);
            }
            for p in &mounts.writable {
                ro(&mut cmd, "--bind", p);
            }
            cmd.arg("--chdir").arg(cwd).arg("--").arg(program);
            cmd
        } else {
            let mut cmd = Command::new(program);
            cmd.current_dir(cwd);
            cmd
        };
        cmd.env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.cargo_home.join("bin").display()
                ),
            )
            .env("HOME", "/tmp")
            .env("RUSTUP_HOME", &self.rustup_home)
            .env("CARGO_HOME", &self.cargo_home)
            .env("CARGO_NET_OFFLINE", "true")
            .env("RUSTUP_AUTO_INSTALL", "0")
            .env("LANG", "C.UTF-8");
        // The toolchain the instructor's cargo chose (`cargo +nightly …`).
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        if let Some(qemu) = &self.grader_qemu {
            cmd.env("GRADER_QEMU", qemu);
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether bwrap works here (it needs user namespaces).
    fn sandbox() -> Option<Sandbox> {
        Sandbox::new(true).ok()
    }

    #[test]
    fn without_bwrap_one_line_says_what_to_do() {
        let mut sandbox = Sandbox::new(false).unwrap();
        sandbox.enabled = true;
        sandbox.bwrap = PathBuf::from("/nonexistent/bwrap");
        let e = sandbox.check().unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("apt-get install bubblewrap"), "{e}");
        assert!(e.contains("--no-sandbox"), "{e}");
        // A bwrap that fails (as where user namespaces are not allowed).
        sandbox.bwrap = PathBuf::from("false");
        let e = sandbox.check().unwrap_err();
        assert!(e.starts_with("the build sandbox does not work"), "{e}");
    }

    #[test]
    fn only_the_given_directories_are_there() {
        let Some(sandbox) = sandbox() else {
            eprintln!("skipped: no working bwrap here");
            return;
        };
        let seen = tempfile::tempdir().unwrap();
        let hidden = tempfile::tempdir().unwrap();
        std::fs::write(hidden.path().join("secret"), "x").unwrap();
        let mounts = Mounts {
            writable: vec![seen.path()],
            readable: vec![],
        };
        let script = format!(
            "echo ok > {seen}/out && ! test -e {hidden}/secret && ! test -e {repo} && \
             ! test -e /root/.ssh",
            seen = seen.path().display(),
            hidden = hidden.path().display(),
            repo = Path::new(env!("CARGO_MANIFEST_DIR")).display(),
        );
        let status = sandbox
            .command("sh", seen.path(), &mounts)
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read_to_string(seen.path().join("out")).unwrap(),
            "ok\n"
        );
    }
}
