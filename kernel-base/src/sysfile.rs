//! File-system system calls: argument checking, then the fs and file layers.

use crate::exec;
use crate::file::{File, FileKind};
use crate::fs::{Inode, InodeGuard, name_of, namei, nameiparent};
use crate::log::{self, LogOp};
use crate::pipe::Pipe;
use crate::proc::current;
use crate::syscall::{arg_addr, arg_int, arg_str, copy_out, fetch_addr};
use crate::vm::UserAddr;
use abi::fcntl::{O_CREATE, O_NOFOLLOW, O_RDWR, O_TRUNC, O_WRONLY};
use abi::filetype::{T_DEVICE, T_DIR, T_FILE, T_SYMLINK};
use abi::fs::DIRSIZ;
use abi::param::{MAXARG, MAXPATH, NDEV, NOFILE};

/// Descriptor argument `n`, if it names an open file.
#[doc(alias = "argfd")]
fn arg_fd(n: usize) -> Option<usize> {
    let fd = usize::try_from(arg_int(n)).ok().filter(|&fd| fd < NOFILE)?;
    current().files().ofile[fd].is_some().then_some(fd)
}

/// Runs `f` on the open file at descriptor argument `n` (the process's
/// files stay borrowed meanwhile: `f` may sleep, but must not open or
/// close descriptors). -1 if there is none.
fn with_fd(n: usize, f: impl FnOnce(&File) -> i64) -> i64 {
    let Some(fd) = arg_fd(n) else {
        return -1;
    };
    let files = current().files();
    f(files.ofile[fd].as_ref().expect("checked by arg_fd"))
}

/// A new reference to the open file at descriptor argument `n` (for a lab
/// that keeps a file open, as an mmap mapping does), or `None`.
pub fn arg_file(n: usize) -> Option<File> {
    let fd = arg_fd(n)?;
    current().files().ofile[fd].clone()
}

/// Installs `f` at the lowest free descriptor. On failure `f` is dropped.
#[doc(alias = "fdalloc")]
pub(crate) fn fd_alloc(f: File) -> Option<usize> {
    let mut files = current().files();
    let fd = files.ofile.iter().position(|o| o.is_none())?;
    files.ofile[fd] = Some(f);
    Some(fd)
}

/// Closes descriptor `fd` of the current process.
fn fd_close(fd: usize) {
    let f = current().files().ofile[fd].take();
    // Dropped outside the borrow: closing an inode starts a log operation,
    // which may sleep.
    drop(f);
}

pub fn sys_dup() -> i64 {
    let Some(fd) = arg_fd(0) else {
        return -1;
    };
    let f = current().files().ofile[fd].clone();
    f.and_then(fd_alloc).map_or(-1, |fd| fd as i64)
}

/// The byte count argument `n` of read/write; negative counts are errors.
fn arg_count(n: usize) -> Option<usize> {
    usize::try_from(arg_int(n)).ok()
}

pub fn sys_read() -> i64 {
    let (Some(n), addr) = (arg_count(2), arg_addr(1)) else {
        return -1;
    };
    with_fd(0, |f| f.read(addr, n))
}

pub fn sys_write() -> i64 {
    let (Some(n), addr) = (arg_count(2), arg_addr(1)) else {
        return -1;
    };
    with_fd(0, |f| f.write(addr, n))
}

pub fn sys_close() -> i64 {
    let Some(fd) = arg_fd(0) else {
        return -1;
    };
    fd_close(fd);
    0
}

pub fn sys_fstat() -> i64 {
    let addr = arg_addr(1);
    with_fd(0, |f| f.stat(addr))
}

/// Creates `new` as another name for the file `old`.
pub fn sys_link() -> i64 {
    let (mut oldb, mut newb) = ([0u8; MAXPATH], [0u8; MAXPATH]);
    let (Ok(old), Ok(new)) = (arg_str(0, &mut oldb), arg_str(1, &mut newb)) else {
        return -1;
    };
    let op = log::begin_op();
    let r = link(old, new);
    log::end_op(op);
    r
}

fn link(old: &[u8], new: &[u8]) -> i64 {
    let Some(ip) = namei(old) else {
        return -1;
    };
    {
        let mut g = ip.lock();
        // At the largest count, one more link would wrap it negative.
        if g.typ == T_DIR || g.nlink == i16::MAX {
            return -1;
        }
        g.nlink += 1;
        g.update();
    }
    let mut name = [0u8; DIRSIZ];
    let linked = nameiparent(new, &mut name).is_some_and(|dp| {
        let mut dg = dp.lock();
        dp.dev() == ip.dev() && dg.dir_link(name_of(&name), ip.inum()).is_ok()
    });
    if linked {
        return 0;
    }
    let mut g = ip.lock();
    g.nlink -= 1;
    g.update();
    -1
}

pub fn sys_unlink() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let op = log::begin_op();
    let r = unlink(path);
    log::end_op(op);
    r
}

fn unlink(path: &[u8]) -> i64 {
    let mut name = [0u8; DIRSIZ];
    let Some(dp) = nameiparent(path, &mut name) else {
        return -1;
    };
    let name = name_of(&name);
    if name == b"." || name == b".." {
        return -1;
    }
    let mut dg = dp.lock();
    let Ok(Some((ip, off))) = dg.dir_lookup(name) else {
        return -1;
    };
    let mut g = ip.lock();
    // A count below 1 is a damaged disk: refuse rather than make it worse.
    if g.nlink < 1 || (g.typ == T_DIR && !g.dir_is_empty()) {
        return -1;
    }
    dg.dir_unlink_at(off);
    if g.typ == T_DIR {
        // The child's ".." no longer refers to the parent.
        dg.nlink -= 1;
        dg.update();
    }
    drop(dg);
    g.nlink -= 1;
    g.update();
    0
}

/// Creates `path` as a `typ` inode, or, for a plain file, opens the
/// existing file or device of that name. Inside an operation.
fn create(path: &[u8], typ: i16, major: i16, minor: i16) -> Option<Inode> {
    make(path, typ, (major, minor), typ == T_FILE, |_| true)
}

/// Creates `path` as a new inode of type `typ`, a file or a symbolic link
/// ([`T_FILE`] or [`T_SYMLINK`]), whose contents `fill` writes before the
/// inode gets its name, so that no one sees it half made: when `fill`
/// returns false (the disk is full), the inode is freed and `path` is not
/// created. False, and nothing changed, when `path` exists (whatever its
/// type), its directory does not, no inode is left, or `typ` is another
/// type. The changes are part of the operation `op`.
pub fn create_new(
    op: &LogOp,
    path: &[u8],
    typ: i16,
    fill: impl FnOnce(&mut InodeGuard<'_>) -> bool,
) -> bool {
    // `op` proves the caller is inside an operation.
    let _ = op;
    (typ == T_FILE || typ == T_SYMLINK) && make(path, typ, (0, 0), false, fill).is_some()
}

/// `create`'s work: an existing `path` is opened if `open_existing` and it
/// is a file or device, else refused; a new inode is filled by `fill`
/// before it is linked.
fn make(
    path: &[u8],
    typ: i16,
    (major, minor): (i16, i16),
    open_existing: bool,
    fill: impl FnOnce(&mut InodeGuard<'_>) -> bool,
) -> Option<Inode> {
    let mut name = [0u8; DIRSIZ];
    let dp = nameiparent(path, &mut name)?;
    let name = name_of(&name);
    let mut dg = dp.lock();
    // With the inode table full, an existing entry may not show: fail.
    if let Some((ip, _)) = dg.dir_lookup(name).ok()? {
        drop(dg);
        let t = ip.lock().typ;
        return (open_existing && (t == T_FILE || t == T_DEVICE)).then_some(ip);
    }
    // An unlinked directory takes no entries; a new subdirectory's `..`
    // must not wrap the parent's link count.
    if dg.nlink < 1 || (typ == T_DIR && dg.nlink == i16::MAX) {
        return None;
    }
    let ip = crate::fs::ialloc(dp.dev(), typ)?;
    let mut g = ip.lock();
    g.major = major;
    g.minor = minor;
    g.nlink = 1;
    g.update();
    let ok = fill(&mut g)
        && (typ != T_DIR
            || (g.dir_link(b".", ip.inum()).is_ok() && g.dir_link(b"..", dp.inum()).is_ok()))
        && dg.dir_link(name, ip.inum()).is_ok();
    if !ok {
        // Dropping the last reference to a linkless inode frees it.
        g.nlink = 0;
        g.update();
        return None;
    }
    if typ == T_DIR {
        // The new directory's ".." links to the parent.
        dg.nlink += 1;
        dg.update();
    }
    drop(g);
    Some(ip)
}

pub fn sys_open() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let mode = arg_int(1);
    let op = log::begin_op();
    let f = open(path, mode);
    log::end_op(op);
    // After end_op: if no descriptor is free, dropping the file closes it,
    // which starts an operation of its own (nesting one would deadlock
    // when the log is full of waiting operations).
    f.and_then(fd_alloc).map_or(-1, |fd| fd as i64)
}

/// Opens `path` as a new open file (inside an operation).
fn open(path: &[u8], mode: i32) -> Option<File> {
    let ip = if mode & O_CREATE != 0 {
        create(path, T_FILE, 0, 0)
    } else {
        namei(path)
    }?;
    let ip = follow(ip, mode)?;
    let readable = mode & O_WRONLY == 0;
    let writable = mode & (O_WRONLY | O_RDWR) != 0;
    let (typ, major) = {
        let mut g = ip.lock();
        if g.typ == T_DIR && writable {
            return None;
        }
        // As in xv6: a device number out of range fails here; one without
        // a driver opens, and its reads and writes fail.
        if g.typ == T_DEVICE && !(0..NDEV as i16).contains(&g.major) {
            return None;
        }
        if mode & O_TRUNC != 0 && g.typ == T_FILE {
            g.truncate();
        }
        (g.typ, g.major)
    };
    let kind = if typ == T_DEVICE {
        FileKind::Device { ip, major }
    } else {
        FileKind::Inode(ip)
    };
    File::alloc(kind, readable, writable)
}

/// What `open` opens for `ip`: `ip`, unless it is a symbolic link and
/// `mode` lacks `O_NOFOLLOW`; then what the labs' `follow_symlink` finds.
fn follow(ip: Inode, mode: i32) -> Option<Inode> {
    // An inode's type stays as long as a reference to it does.
    if ip.lock().typ != T_SYMLINK {
        return Some(ip);
    }
    if mode & O_NOFOLLOW != 0 {
        // The link itself, for reading only: its contents stay the path
        // it was made with.
        return (mode & (O_WRONLY | O_RDWR) == 0).then_some(ip);
    }
    let to = crate::hooks::follow_symlink(&ip)?;
    drop(ip);
    // Open never opens a link unless asked to, even if a lab stopped early.
    (to.lock().typ != T_SYMLINK).then_some(to)
}

pub fn sys_mkdir() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let op = log::begin_op();
    let r = if create(path, T_DIR, 0, 0).is_some() {
        0
    } else {
        -1
    };
    log::end_op(op);
    r
}

pub fn sys_mknod() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let (major, minor) = (arg_int(1) as i16, arg_int(2) as i16);
    let op = log::begin_op();
    let r = if create(path, T_DEVICE, major, minor).is_some() {
        0
    } else {
        -1
    };
    log::end_op(op);
    r
}

pub fn sys_chdir() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let op = log::begin_op();
    let r = match namei(path) {
        Some(ip) if ip.lock().typ == T_DIR => {
            // The old directory is dropped (iput) inside the operation.
            let old = current().files().cwd.replace(ip);
            drop(old);
            0
        }
        _ => -1,
    };
    log::end_op(op);
    r
}

pub fn sys_exec() -> i64 {
    let mut buf = [0u8; MAXPATH];
    let Ok(path) = arg_str(0, &mut buf) else {
        return -1;
    };
    let uargv = arg_addr(1);
    // Gather the argument pointers; the strings are copied by exec.
    let mut argv = [UserAddr(0); MAXARG];
    let mut argc: usize = 0;
    loop {
        let Some(at) = (argc * 8).checked_add(uargv.0) else {
            return -1;
        };
        let Ok(a) = fetch_addr(UserAddr(at)) else {
            return -1;
        };
        if a == 0 {
            break;
        }
        // Room is needed for the terminating null, as in xv6.
        if argc + 1 >= MAXARG {
            return -1;
        }
        argv[argc] = UserAddr(a);
        argc += 1;
    }
    exec::exec(path, &argv[..argc])
}

pub fn sys_pipe() -> i64 {
    let fdarray = arg_addr(0);
    let Some((rf, wf)) = Pipe::alloc() else {
        return -1;
    };
    let Some(fd0) = fd_alloc(rf) else {
        return -1;
    };
    let Some(fd1) = fd_alloc(wf) else {
        fd_close(fd0);
        return -1;
    };
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&(fd0 as i32).to_le_bytes());
    bytes[4..].copy_from_slice(&(fd1 as i32).to_le_bytes());
    if copy_out(fdarray, &bytes).is_err() {
        fd_close(fd0);
        fd_close(fd1);
        return -1;
    }
    0
}
