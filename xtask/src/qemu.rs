//! `cargo xtask qemu` and `gdb`: boot a configuration interactively.

use std::path::{Path, PathBuf};
use std::process::Command;

use grader::qemu::QEMU;

use crate::build::{self, Outputs};
use crate::labs::LabSet;
use crate::run::Ctx;
use crate::setup;
use crate::{fsutil, gdbnames};

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
    // The net lab's kernel gets its card and a peer, as when graded; the
    // peer lives until QEMU ends.
    let _peer = if crate::labs::registry().networked(&labs.names().collect::<Vec<_>>()) {
        let peer = grader::netpeer::Peer::start()
            .map_err(|e| format!("xv6: cannot start the net lab's UDP peer: {e}"))?;
        cmd.args(grader::netpeer::Peer::qemu_args());
        let pcap = out.dir.join("packets.pcap");
        cmd.args(grader::netpeer::Peer::pcap_args(&pcap));
        eprintln!(
            "xv6: the e1000's packets go to {} (tcpdump -r, Wireshark)",
            ctx.show(&pcap)
        );
        let (port, dns, name, addr) = (
            peer.port(),
            peer.dns_port(),
            peer.dns_name(),
            peer.dns_addr(),
        );
        eprintln!(
            "xv6: a UDP peer answers on the host's port {port}, DNS on {dns} ({name} is {addr}): \
             run `nettests {port} {dns} {name} {addr}` in xv6 (2024's tests: `nettests grade {port} ...`)"
        );
        Some(peer)
    } else {
        None
    };
    if gdb {
        let socket = gdb_socket(&out.dir, &labs.config_name());
        // A socket left by an earlier QEMU would make this one fail to bind.
        let _ = std::fs::remove_file(&socket);
        let chardev = format!(
            "socket,path={},server=on,wait=off,id=g0",
            socket.to_string_lossy().replace(',', ",,")
        );
        cmd.args(["-S", "-chardev", &chardev, "-gdb", "chardev:g0"]);
        if let Err(e) = gdbnames::ensure(&ctx.root, &out.kernel) {
            eprintln!("xv6: gdb knows the Rust names only (kernel_base::sysproc::sys_sleep): {e}");
        }
        let gdbinit = ctx.root.join(".gdbinit");
        let script = gdbinit_text(&out, &socket)?;
        fsutil::write_if_changed(&gdbinit, script.as_bytes())?;
        eprintln!(
            "xv6: QEMU waits for gdb; in another terminal, run gdb-multiarch in {} \
             (it reads .gdbinit and attaches; `b sys_sleep`, `b usertrap`: xv6's names work)",
            ctx.root.display()
        );
        if !gdbinit_allowed(&gdbinit) {
            eprintln!(
                "xv6: to let gdb read it: echo 'add-auto-load-safe-path {}' >> ~/.gdbinit \
                 (or run gdb-multiarch -x .gdbinit)",
                gdbinit.display()
            );
        }
    }
    eprintln!("xv6: to quit QEMU, press Ctrl-A then X");
    ctx.run(&mut cmd)
}

/// The `.gdbinit` that attaches gdb to the QEMU waiting on `socket`, with
/// the kernel's symbols and xv6's names for its functions
/// ([`gdbnames`](crate::gdbnames)). Lab code is `kernel::<lab>::...`: the
/// labs crate's binary is `kernel`.
pub fn gdbinit_text(out: &Outputs, socket: &Path) -> Result<String, String> {
    let names = out.dir.join(gdbnames::FILE);
    let text = gdbnames::text_address(&out.kernel)?;
    let add = if names.is_file() {
        format!("add-symbol-file {} {text:#x}\n", gdb_quote(&names))
    } else {
        String::new()
    };
    Ok(format!(
        "# Written by `cargo xtask gdb` for the QEMU it started (again on each run).\n\
         set confirm off\n\
         set architecture riscv:rv64\n\
         file {kernel}\n\
         {add}\
         set confirm on\n\
         target remote {socket}\n",
        kernel = gdb_quote(&out.kernel),
        socket = gdb_quote(socket),
    ))
}

/// A path as one gdb argument.
fn gdb_quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.contains([' ', '"', '\\', '\'']) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.into_owned()
    }
}

/// Whether the user's gdb start-up files already allow `gdbinit`.
fn gdbinit_allowed(gdbinit: &Path) -> bool {
    let Some(home) = dirs::home_dir() else {
        return false;
    };
    let want = gdbinit.to_string_lossy();
    [home.join(".gdbinit"), home.join(".config/gdb/gdbinit")]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .any(|t| {
            t.lines().map(str::trim).any(|l| {
                let allows = l.starts_with("add-auto-load-safe-path")
                    || l.starts_with("set auto-load safe-path");
                allows && (l.contains(want.as_ref()) || l.ends_with(" /"))
            })
        })
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
    fn gdbinit_attaches_to_the_socket_with_the_kernel_and_its_names() {
        let dir = tempfile_dir("gdbinit");
        let out = Outputs {
            dir: dir.clone(),
            kernel: std::env::current_exe().unwrap(),
            fs_img: dir.join("fs.img"),
        };
        let socket = dir.join("gdb.sock");
        let text = gdbinit_text(&out, &socket).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"set architecture riscv:rv64"), "{text}");
        assert!(
            lines.contains(&&*format!("file {}", out.kernel.display())),
            "{text}"
        );
        assert_eq!(
            lines.last(),
            Some(&&*format!("target remote {}", socket.display()))
        );
        // No names file: gdb is not told to load one.
        assert!(!text.contains("add-symbol-file"), "{text}");
        std::fs::write(dir.join(gdbnames::FILE), "").unwrap();
        let text = gdbinit_text(&out, &socket).unwrap();
        assert!(text.contains(&format!(
            "add-symbol-file {}",
            dir.join(gdbnames::FILE).display()
        )));
        assert_eq!(gdb_quote(Path::new("/a b/k")), "\"/a b/k\"");
        std::fs::remove_dir_all(&dir).unwrap();
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
