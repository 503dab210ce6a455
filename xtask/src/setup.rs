//! Setting a machine up: the rustup target, llvm-tools, QEMU, the RISC-V
//! C compiler and bubblewrap. When a tool is there, its check is a file lookup or a version
//! query, nothing more. Only `cargo xtask setup` (and CI) installs Debian
//! packages, with apt when running as root (otherwise it prints the command
//! to run); the other commands say what is missing and that `setup` fixes
//! it. Rust's own pieces (the target, llvm-tools) come from rustup anywhere.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::run::{Ctx, TARGET, find_in_path};
use grader::qemu::QEMU;

/// Debian's package for `qemu-system-riscv64`.
const QEMU_PACKAGE: &str = "qemu-system-misc";
/// The C compiler for the ABI test program, as xv6 uses it on Debian.
const GCC: &str = "riscv64-linux-gnu-gcc";
const GCC_PACKAGE: &str = "gcc-riscv64-linux-gnu";
const GNU_OBJDUMP: &str = "riscv64-linux-gnu-objdump";
/// The sandbox batch grading builds and runs each submission in.
const BWRAP: &str = "bwrap";
const BWRAP_PACKAGE: &str = "bubblewrap";

/// `apt-get update` runs at most once per xtask run.
static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// `cargo xtask setup`: everything, with a line per tool.
pub fn setup(ctx: &Ctx) -> Result<(), String> {
    ensure_target(ctx)?;
    eprintln!("setup: Rust target {TARGET}: ok");
    if find_in_path(QEMU).is_none() {
        apt_install(ctx, QEMU, QEMU_PACKAGE)?;
    }
    let (major, minor) = grader::qemu::check()?;
    eprintln!("setup: {QEMU} {major}.{minor}: ok");
    if find_in_path(GCC).is_none() {
        apt_install(ctx, GCC, GCC_PACKAGE)?;
    }
    find_in_path(GCC)
        .ok_or_else(|| format!("{GCC_PACKAGE} is installed but {GCC} is not on PATH"))?;
    eprintln!("setup: {GCC}: ok");
    if find_in_path(BWRAP).is_none() {
        apt_install(ctx, BWRAP, BWRAP_PACKAGE)?;
    }
    find_in_path(BWRAP)
        .ok_or_else(|| format!("{BWRAP_PACKAGE} is installed but {BWRAP} is not on PATH"))?;
    eprintln!("setup: {BWRAP} (batch grading's sandbox): ok");
    match disassembler(ctx) {
        Some(d) => eprintln!("setup: disassembler {}: ok", ctx.show(&d.path)),
        None => eprintln!("setup: no disassembler: kernel.asm will not be written"),
    }
    if find_in_path("gdb-multiarch").is_none() {
        eprintln!(
            "setup: for `cargo xtask gdb` and util's \"sleep, makes syscall\" (SKIPPED \
             without it), install gdb: apt-get install -y gdb-multiarch"
        );
    }
    Ok(())
}

/// Adds the rustup target when the toolchain lacks it.
pub fn ensure_target(ctx: &Ctx) -> Result<(), String> {
    if ctx.sysroot()?.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    if find_in_path("rustup").is_none() {
        return Err(format!(
            "the Rust target {TARGET} is missing: install it with `rustup target add {TARGET}`"
        ));
    }
    ctx.run(
        Command::new("rustup")
            .current_dir(&ctx.root)
            .args(["target", "add", TARGET]),
    )
}

/// Checks that QEMU is there and recent enough, installing nothing: the
/// error says to run `cargo xtask setup`.
pub fn require_qemu() -> Result<(u32, u32), String> {
    grader::qemu::check()
}

/// The RISC-V C compiler; `None` (with a note) when it is missing.
pub fn cross_gcc(_ctx: &Ctx) -> Option<PathBuf> {
    let gcc = find_in_path(GCC);
    if gcc.is_none() {
        eprintln!(
            "note: {GCC} is missing, so fs.img is built without abitest: \
             `cargo xtask setup` installs it ({GCC_PACKAGE})"
        );
    }
    gcc
}

/// Which objdump disassembles the kernel.
pub struct Disassembler {
    pub path: PathBuf,
    /// llvm-objdump (rustup's llvm-tools) rather than GNU objdump.
    pub llvm: bool,
}

impl Disassembler {
    /// Arguments for a listing with the source lines interleaved and
    /// demangled names, like xv6's kernel.asm.
    pub fn args(&self) -> &'static [&'static str] {
        if self.llvm {
            &["--disassemble", "--source", "--demangle"]
        } else {
            &["--source", "--demangle"]
        }
    }
}

/// llvm-objdump from llvm-tools (added with rustup when missing), else
/// GNU's riscv64 objdump, else `None`.
pub fn disassembler(ctx: &Ctx) -> Option<Disassembler> {
    let llvm = || -> Option<PathBuf> {
        let path = ctx
            .sysroot()
            .ok()?
            .join("lib/rustlib")
            .join(ctx.host().ok()?)
            .join("bin/llvm-objdump");
        path.is_file().then_some(path)
    };
    if let Some(path) = llvm() {
        return Some(Disassembler { path, llvm: true });
    }
    if let Some(path) = find_in_path(GNU_OBJDUMP) {
        return Some(Disassembler { path, llvm: false });
    }
    if find_in_path("rustup").is_some() {
        let mut add = Command::new("rustup");
        add.current_dir(&ctx.root)
            .args(["component", "add", "llvm-tools"]);
        if ctx.run(&mut add).is_ok()
            && let Some(path) = llvm()
        {
            return Some(Disassembler { path, llvm: true });
        }
    }
    None
}

/// Installs a Debian package as root; otherwise the error gives the command.
fn apt_install(ctx: &Ctx, tool: &str, package: &str) -> Result<(), String> {
    if !is_root() {
        return Err(format!(
            "{tool} is missing: install it with `sudo apt-get install -y {package}`"
        ));
    }
    if find_in_path("apt-get").is_none() {
        return Err(format!(
            "{tool} is missing and there is no apt-get: install it (Debian's package is {package})"
        ));
    }
    if !APT_UPDATED.swap(true, Ordering::Relaxed) {
        ctx.run(Command::new("apt-get").args(["update", "-q"]))?;
    }
    ctx.run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("installing {package} failed: {e}"))
}

/// Whether xtask runs as root (effective uid 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        == Some(0)
}

/// The effective uid from `/proc/<pid>/status` (the second `Uid:` field).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_uid() {
        let status =
            "Name:\tcat\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }
}
