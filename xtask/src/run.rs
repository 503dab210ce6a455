//! Where things are, and running commands: each one is printed as a
//! `$ ...` line first, and cargo gets a clean environment.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The RISC-V target the kernel and user programs build for.
pub const TARGET: &str = "riscv64gc-unknown-none-elf";

/// Cargo arguments selecting the kernel binary, as built for every lab
/// configuration (add `--features`).
pub const KERNEL_PACKAGE: [&str; 8] = [
    "-p",
    "labs",
    "--bin",
    "kernel",
    "--profile",
    "kernel",
    "--target",
    TARGET,
];

/// Cargo arguments selecting the user programs.
pub const USER_PACKAGE: [&str; 6] = ["-p", "user", "--profile", "user", "--target", TARGET];

/// Which environment a cargo call gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Env {
    /// Host crates: only the variables cargo set for running xtask go.
    Host,
    /// The RISC-V target: also the flags and wrappers meant for the host,
    /// which would replace the target's rustflags in .cargo/config.toml.
    Target,
}

/// The repository and the directories and tools xtask works with.
pub struct Ctx {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    /// The sysroot and host triple of the toolchain, asked for once.
    toolchain: OnceLock<Result<(PathBuf, String), String>>,
}

impl Ctx {
    /// The root is the parent of xtask's manifest directory (as compiled
    /// in: at run time the variable may name whichever package's tests
    /// started xtask); the target directory honours `CARGO_TARGET_DIR` as
    /// cargo does.
    pub fn new() -> Result<Ctx, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask's manifest directory has no parent")?
            .to_path_buf();
        let cwd = std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => cwd.join(dir),
            _ => root.join("target"),
        };
        Ok(Ctx {
            root,
            target_dir,
            toolchain: OnceLock::new(),
        })
    }

    /// A context for `root`, with `root/target` as target directory.
    #[cfg(test)]
    pub fn for_tests(root: &Path) -> Ctx {
        Ctx {
            root: root.to_path_buf(),
            target_dir: root.join("target"),
            toolchain: OnceLock::new(),
        }
    }

    /// `cargo` run at the root with a clean environment, our target
    /// directory, and `args`.
    pub fn cargo<I, S>(&self, env: Env, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&self.root);
        for (name, _) in std::env::vars_os() {
            if let Some(name) = name.to_str()
                && should_strip(name, env)
            {
                cmd.env_remove(name);
            }
        }
        cmd.env("CARGO_TARGET_DIR", &self.target_dir);
        // labs/build.rs writes the lab files' paths: a tree copied with its
        // target directory (or moved) must run it again (see there).
        cmd.env("XV6_TREE", &self.root);
        cmd.args(args);
        cmd
    }

    /// Where cargo puts the RISC-V binaries of `profile`.
    pub fn target_profile_dir(&self, profile: &str) -> PathBuf {
        self.target_dir.join(TARGET).join(profile)
    }

    /// Where xtask puts what it builds.
    pub fn xv6_dir(&self) -> PathBuf {
        self.target_dir.join("xv6")
    }

    fn toolchain(&self) -> Result<&(PathBuf, String), String> {
        self.toolchain
            .get_or_init(|| {
                let mut cmd = Command::new("rustc");
                cmd.current_dir(&self.root);
                for var in ["RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER"] {
                    cmd.env_remove(var);
                }
                let out = cmd
                    .args(["--print", "sysroot", "--print", "host-tuple"])
                    .output()
                    .map_err(|e| format!("cannot run rustc: {e}"))?;
                let text = String::from_utf8_lossy(&out.stdout);
                let mut lines = text.lines();
                match (out.status.success(), lines.next(), lines.next()) {
                    (true, Some(sysroot), Some(host)) => {
                        Ok((PathBuf::from(sysroot.trim()), host.trim().to_string()))
                    }
                    _ => Err(format!(
                        "`rustc --print sysroot` failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The toolchain's sysroot (as chosen by rust-toolchain.toml).
    pub fn sysroot(&self) -> Result<&Path, String> {
        Ok(&self.toolchain()?.0)
    }

    /// The toolchain's host triple.
    pub fn host(&self) -> Result<&str, String> {
        Ok(&self.toolchain()?.1)
    }

    /// `path` relative to the root when it is inside it, for short messages.
    pub fn show<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix(&self.root) {
            Ok(rel) => rel.to_string_lossy().into_owned().into(),
            Err(_) => path.to_string_lossy(),
        }
    }

    /// `cmd` as one short shell-like line: the program's file name, then
    /// its arguments with paths inside the root made relative.
    pub fn display(&self, cmd: &Command) -> String {
        let prog = Path::new(cmd.get_program());
        let mut line = prog
            .file_name()
            .unwrap_or(prog.as_os_str())
            .to_string_lossy()
            .into_owned();
        for arg in cmd.get_args() {
            line.push(' ');
            line.push_str(&grader::grade::shell_quote(&self.show(Path::new(arg))));
        }
        line
    }

    /// Prints `cmd` and runs it with inherited stdio; fails unless it exits 0.
    pub fn run(&self, cmd: &mut Command) -> Result<(), String> {
        let line = self.display(cmd);
        eprintln!("$ {line}");
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run `{line}`: {e}"))?;
        if status.success() {
            return Ok(());
        }
        // The whole line was printed just above; a long one is cut here.
        let short = match line.char_indices().nth(100) {
            Some((cut, _)) => format!("{} ...", &line[..cut]),
            None => line,
        };
        Err(format!("`{short}` failed ({status})"))
    }
}

/// Whether a variable from xtask's environment must not reach a cargo
/// call. Cargo sets `CARGO`, `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` … for the
/// program it runs; those describe xtask, not the build, so every `CARGO_*`
/// goes except the ones a person sets to configure cargo.
fn should_strip(name: &str, env: Env) -> bool {
    const KEEP: [&str; 4] = [
        "CARGO_HOME",
        "CARGO_BUILD_JOBS",
        "CARGO_INCREMENTAL",
        "CARGO_LOG",
    ];
    const KEEP_PREFIXES: [&str; 6] = [
        "CARGO_TERM_",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRY_",
        "CARGO_REGISTRIES_",
        "CARGO_PROFILE_",
    ];
    const HOST_ONLY: [&str; 6] = [
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ];
    if name == "CARGO" || name.starts_with("CARGO_") {
        return !KEEP.contains(&name) && !KEEP_PREFIXES.iter().any(|p| name.starts_with(p));
    }
    if name.starts_with("__CARGO") {
        return true;
    }
    env == Env::Target && HOST_ONLY.contains(&name)
}

pub use grader::qemu::find_in_path;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_what_cargo_set_for_xtask() {
        for var in [
            "CARGO",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "__CARGO_FIX_PLZ",
        ] {
            assert!(should_strip(var, Env::Host), "{var}");
            assert!(should_strip(var, Env::Target), "{var}");
        }
    }

    #[test]
    fn keeps_user_configuration() {
        for var in [
            "CARGO_HOME",
            "CARGO_TERM_COLOR",
            "CARGO_NET_OFFLINE",
            "CARGO_BUILD_JOBS",
            "PATH",
            "HOME",
            "RUSTUP_TOOLCHAIN",
        ] {
            assert!(!should_strip(var, Env::Host), "{var}");
            assert!(!should_strip(var, Env::Target), "{var}");
        }
    }

    #[test]
    fn host_flags_do_not_reach_the_target() {
        for var in [
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC",
        ] {
            assert!(!should_strip(var, Env::Host), "{var}");
            assert!(should_strip(var, Env::Target), "{var}");
        }
    }

    #[test]
    fn cargo_calls_get_a_clean_environment() {
        let ctx = Ctx::for_tests(Path::new("/repo"));
        let cmd = ctx.cargo(Env::Target, ["build", "-p", "user"]);
        let envs: Vec<_> = cmd.get_envs().collect();
        // cargo test sets CARGO_MANIFEST_DIR for this test, as cargo run
        // does for xtask: it must not reach the inner cargo.
        assert!(envs.contains(&(OsStr::new("CARGO_MANIFEST_DIR"), None)));
        assert!(envs.contains(&(
            OsStr::new("CARGO_TARGET_DIR"),
            Some(OsStr::new("/repo/target"))
        )));
        // And the tree, so that labs/build.rs notices a moved one.
        assert!(envs.contains(&(OsStr::new("XV6_TREE"), Some(OsStr::new("/repo")))));
        for (name, value) in envs {
            if name != "CARGO_TARGET_DIR" && name != "XV6_TREE" {
                assert_eq!(value, None, "{name:?} is only ever removed");
            }
        }
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/repo")));
    }

    #[test]
    fn displays_short_commands() {
        let ctx = Ctx::for_tests(Path::new("/repo"));
        let mut cmd = Command::new("/usr/bin/riscv64-linux-gnu-gcc");
        cmd.args([
            "-O2",
            "-o",
            "/repo/target/xv6/abitest/abitest",
            "/elsewhere/x.c",
        ]);
        cmd.arg("-Wl,--build-id=none").arg("two words").arg("it's");
        assert_eq!(
            ctx.display(&cmd),
            "riscv64-linux-gnu-gcc -O2 -o target/xv6/abitest/abitest /elsewhere/x.c \
             -Wl,--build-id=none 'two words' 'it'\\''s'"
        );
    }
}
