//! `cargo xtask qemu` and `gdb`: boot a configuration interactively.

use std::path::{Path, PathBuf};
use std::process::Command;

use grader::qemu::QEMU;

use crate::build;
use crate::labs::LabSet;
use crate::run::Ctx;
use crate::setup;

/// Longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Builds, then runs QEMU on the console with the disk image writable, so
/// files made in xv6 are still there next time (like xv6's `make qemu`).
/// With `gdb`, QEMU waits for gdb on a Unix socket before the first
/// instruction.
pub fn run(ctx: &Ctx, labs: LabSet, cpus: u32, gdb: bool) -> Result<(), String> {
    let out = build::build(ctx, labs)?;
    setup::ensure_qemu(ctx)?;
    let mut cmd = Command::new(QEMU);
    cmd.args(grader::qemu::machine_args(&out.kernel, &out.fs_img, cpus))
        .arg("-nographic");
    if gdb {
        let socket = gdb_socket(&out.dir, &labs.config_name());
        // A socket left by an earlier QEMU would make this one fail to bind.
        let _ = std::fs::remove_file(&socket);
        let chardev = format!(
            "socket,path={},server=on,wait=off,id=g0",
            socket.to_string_lossy().replace(',', ",,")
        );
        cmd.args(["-S", "-chardev", &chardev, "-gdb", "chardev:g0"]);
        eprintln!("xv6: QEMU waits for gdb; attach from another terminal with:");
        eprintln!(
            "  gdb-multiarch {} -ex 'target remote {}'",
            out.kernel.display(),
            socket.display()
        );
    }
    eprintln!("xv6: to quit QEMU, press Ctrl-A then X");
    ctx.run(&mut cmd)
}

/// The socket in the configuration's directory, or in the temporary
/// directory when that path is too long for a socket address.
fn gdb_socket(dir: &Path, config: &str) -> PathBuf {
    let socket = dir.join("gdb.sock");
    if socket.as_os_str().len() <= MAX_SOCKET_PATH {
        return socket;
    }
    std::env::temp_dir().join(format!("xv6-{}-{config}.sock", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_sits_in_the_config_directory_when_it_fits() {
        assert_eq!(
            gdb_socket(Path::new("/work/target/xv6/cow"), "cow"),
            Path::new("/work/target/xv6/cow/gdb.sock")
        );
        let deep = PathBuf::from("/").join("d".repeat(120));
        let s = gdb_socket(&deep, "cow");
        assert!(s.as_os_str().len() <= MAX_SOCKET_PATH, "{}", s.display());
        assert!(s.to_string_lossy().ends_with("-cow.sock"));
    }
}
