//! `cargo xtask qemu` and `gdb`: boot a configuration interactively.

use std::path::{Path, PathBuf};
use std::process::Command;

use grader::qemu::QEMU;

use crate::build::{self, Outputs};
use crate::fsutil;
use crate::labs::LabSet;
use crate::run::Ctx;
use crate::setup;

/// Longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Builds, then runs QEMU on the console with a writable disk, so files
/// made in xv6 are still there next time (like xv6's `make qemu`). The disk
/// is a copy of the built image ([`working_disk`]): the grader boots the
/// image itself, untouched. With `gdb`, QEMU waits for gdb on a Unix socket
/// before the first instruction.
pub fn run(ctx: &Ctx, labs: LabSet, cpus: u32, gdb: bool, fresh_disk: bool) -> Result<(), String> {
    let out = build::build(ctx, &labs)?;
    setup::require_qemu()?;
    let disk = working_disk(ctx, &out, fresh_disk)?;
    let mut cmd = Command::new(QEMU);
    cmd.args(grader::qemu::machine_args(&out.kernel, &disk, cpus))
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

/// The disk `qemu` boots: `disk.img` beside the built `fs.img`, copied from
/// it when missing, when `fresh`, or when the image was built again (a user
/// program changed). It keeps what was done in xv6 otherwise.
pub fn working_disk(ctx: &Ctx, out: &Outputs, fresh: bool) -> Result<PathBuf, String> {
    let disk = disk_path(&out.dir);
    let existed = disk.is_file();
    if fresh || fsutil::stale(&disk, &[&out.fs_img]) {
        fsutil::copy(&out.fs_img, &disk)?;
        if existed {
            eprintln!(
                "xv6: {} is a fresh copy of fs.img: the files made in xv6 before are gone",
                ctx.show(&disk)
            );
        }
    } else {
        eprintln!(
            "xv6: {} keeps what you did in xv6 (`--fresh-disk` starts from a fresh copy)",
            ctx.show(&disk)
        );
    }
    Ok(disk)
}

/// Where a configuration's working disk is.
pub fn disk_path(config_dir: &Path) -> PathBuf {
    config_dir.join("disk.img")
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

    #[test]
    fn the_working_disk_is_a_copy_kept_until_the_image_changes() {
        let dir = tempfile_dir("disk");
        let ctx = Ctx::for_tests(&dir);
        let out = Outputs {
            dir: dir.clone(),
            kernel: dir.join("kernel"),
            fs_img: dir.join("fs.img"),
        };
        std::fs::write(&out.fs_img, "pristine").unwrap();
        let disk = working_disk(&ctx, &out, false).unwrap();
        assert_eq!(disk, dir.join("disk.img"));
        assert_eq!(std::fs::read_to_string(&disk).unwrap(), "pristine");
        // What xv6 wrote stays, and the image stays pristine.
        std::fs::write(&disk, "mkdir dd").unwrap();
        working_disk(&ctx, &out, false).unwrap();
        assert_eq!(std::fs::read_to_string(&disk).unwrap(), "mkdir dd");
        assert_eq!(std::fs::read_to_string(&out.fs_img).unwrap(), "pristine");
        // --fresh-disk starts over.
        working_disk(&ctx, &out, true).unwrap();
        assert_eq!(std::fs::read_to_string(&disk).unwrap(), "pristine");
        // So does a new image.
        std::fs::write(&disk, "mkdir dd").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(&out.fs_img, "new programs").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&out.fs_img)
            .unwrap()
            .set_modified(later)
            .unwrap();
        working_disk(&ctx, &out, false).unwrap();
        assert_eq!(std::fs::read_to_string(&disk).unwrap(), "new programs");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-qemu-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
