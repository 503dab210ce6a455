//! File system tests: truncation, links, directories, concurrent creation
//! and deletion, big files and directories, and running the disk out of
//! blocks and inodes. Every test removes what it creates, so the suite can
//! run again on the same disk.

use crate::{BUFSZ, Test, fork_or_fail, wait_status};
use abi::fs::{BSIZE, Layout, NINDIRECT};
use abi::param::NINODE;
use user::*;

pub const TESTS: &[Test] = &[
    Test::quick("truncate1", truncate1),
    Test::quick("truncate2", truncate2),
    Test::quick("truncate3", truncate3),
    Test::quick("openiput", openiput),
    Test::quick("exitiput", exitiput),
    Test::quick("iput", iput),
    Test::quick("opentest", opentest),
    Test::quick("writetest", writetest),
    Test::quick("writebig", writebig),
    Test::quick("createtest", createtest),
    Test::quick("dirtest", dirtest),
    Test::quick("sharedfd", sharedfd),
    Test::quick("fourfiles", fourfiles),
    Test::quick("createdelete", createdelete),
    Test::quick("unlinkread", unlinkread),
    Test::quick("linktest", linktest),
    Test::quick("concreate", concreate),
    Test::quick("linkunlink", linkunlink),
    Test::quick("subdir", subdir),
    Test::quick("bigwrite", bigwrite),
    Test::quick("bigfile", bigfile),
    Test::quick("fourteen", fourteen),
    Test::quick("rmdot", rmdot),
    Test::quick("dirfile", dirfile),
    Test::quick("iref", iref),
    Test::slow("bigdir", bigdir),
    Test::slow("manywrites", manywrites),
    Test::slow("diskfull", diskfull),
    Test::slow("outofinodes", outofinodes),
];

/// Waits for a child and ends the test with the child's status if it
/// failed (the child has said why).
fn wait_ok() {
    let (_, status) = wait_status();
    if status != 0 {
        exit(status);
    }
}

/// Opens `path`, failing the test if that fails.
fn open_or_fail(s: &str, path: &str, flags: i32) -> i32 {
    let fd = open(path, flags);
    if fd < 0 {
        fail!(s, "open({path}) failed");
    }
    fd
}

/// A new file's content must be visible through descriptors opened before
/// it was truncated, and truncation through one descriptor empties the file
/// for all others.
fn truncate1(s: &str) {
    let mut buf = [0u8; 32];
    unlink("truncfile");
    let fd1 = open_or_fail(s, "truncfile", O_CREATE | O_WRONLY | O_TRUNC);
    write(fd1, b"abcd");
    close(fd1);

    let fd2 = open_or_fail(s, "truncfile", O_RDONLY);
    let n = read(fd2, &mut buf);
    if n != 4 {
        fail!(s, "read {n} bytes, wanted 4");
    }

    let fd1 = open_or_fail(s, "truncfile", O_WRONLY | O_TRUNC);
    let fd3 = open_or_fail(s, "truncfile", O_RDONLY);
    let n = read(fd3, &mut buf);
    if n != 0 {
        fail!(s, "read {n} bytes from a truncated file, wanted 0");
    }
    let n = read(fd2, &mut buf);
    if n != 0 {
        fail!(
            s,
            "read {n} bytes past the end of a truncated file, wanted 0"
        );
    }

    write(fd1, b"abcdef");
    let n = read(fd3, &mut buf);
    if n != 6 {
        fail!(s, "read {n} bytes, wanted 6");
    }
    // fd2's offset is still 4, so it sees the last two bytes.
    let n = read(fd2, &mut buf);
    if n != 2 {
        fail!(s, "read {n} bytes, wanted 2");
    }

    unlink("truncfile");
    close(fd1);
    close(fd2);
    close(fd3);
}

/// Writing through a descriptor whose offset lies beyond the end of a file
/// that another descriptor truncated must fail, not leave a hole.
fn truncate2(s: &str) {
    unlink("truncfile");
    let fd1 = open_or_fail(s, "truncfile", O_CREATE | O_TRUNC | O_WRONLY);
    write(fd1, b"abcd");

    let fd2 = open_or_fail(s, "truncfile", O_TRUNC | O_WRONLY);
    let n = write(fd1, b"x");
    if n != -1 {
        fail!(s, "write returned {n}, expected -1");
    }

    unlink("truncfile");
    close(fd1);
    close(fd2);
}

/// Truncation racing with writes and reads of the same file from another
/// process.
fn truncate3(s: &str) {
    close(open_or_fail(s, "truncfile", O_CREATE | O_TRUNC | O_WRONLY));

    let pid = fork_or_fail(s);
    if pid == 0 {
        let mut buf = [0u8; 32];
        for _ in 0..100 {
            let fd = open_or_fail(s, "truncfile", O_WRONLY);
            let n = write(fd, b"1234567890");
            if n != 10 {
                fail!(s, "write got {n}, expected 10");
            }
            close(fd);
            let fd = open_or_fail(s, "truncfile", O_RDONLY);
            read(fd, &mut buf);
            close(fd);
        }
        exit(0);
    }

    for _ in 0..150 {
        let fd = open_or_fail(s, "truncfile", O_CREATE | O_WRONLY | O_TRUNC);
        let n = write(fd, b"xxx");
        if n != 3 {
            fail!(s, "write got {n}, expected 3");
        }
        close(fd);
    }

    let (_, status) = wait_status();
    unlink("truncfile");
    if status != 0 {
        exit(status);
    }
}

/// A directory that a child tries to open for writing is removed at the
/// same time.
fn openiput(s: &str) {
    if mkdir("oidir") < 0 {
        fail!(s, "mkdir oidir failed");
    }
    let pid = fork_or_fail(s);
    if pid == 0 {
        let fd = open("oidir", O_RDWR);
        if fd >= 0 {
            fail!(s, "open directory for write succeeded");
        }
        exit(0);
    }
    sleep(1);
    if unlink("oidir") != 0 {
        fail!(s, "unlink oidir failed");
    }
    wait_ok();
}

/// A process exits while its current directory is already unlinked: exit
/// must release the last reference to the directory's inode.
fn exitiput(s: &str) {
    let pid = fork_or_fail(s);
    if pid == 0 {
        if mkdir("iputdir") < 0 {
            fail!(s, "mkdir failed");
        }
        if chdir("iputdir") < 0 {
            fail!(s, "child chdir failed");
        }
        if unlink("../iputdir") < 0 {
            fail!(s, "unlink ../iputdir failed");
        }
        exit(0);
    }
    wait_ok();
}

/// chdir away from an unlinked current directory must release its inode.
fn iput(s: &str) {
    if mkdir("iputdir") < 0 {
        fail!(s, "mkdir failed");
    }
    if chdir("iputdir") < 0 {
        fail!(s, "chdir iputdir failed");
    }
    if unlink("../iputdir") < 0 {
        fail!(s, "unlink ../iputdir failed");
    }
    if chdir("/") < 0 {
        fail!(s, "chdir / failed");
    }
}

/// Opening an existing file works; opening a missing one fails.
fn opentest(s: &str) {
    let fd = open("echo", O_RDONLY);
    if fd < 0 {
        fail!(s, "open echo failed!");
    }
    close(fd);
    let fd = open("doesnotexist", O_RDONLY);
    if fd >= 0 {
        fail!(s, "open doesnotexist succeeded!");
    }
}

/// Many small writes, read back in one go.
fn writetest(s: &str) {
    const N: usize = 100;
    const SZ: usize = 10;
    let fd = open("small", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "error: creat small failed!");
    }
    for i in 0..N {
        if write(fd, b"aaaaaaaaaa") != SZ as i32 {
            fail!(s, "error: write aa {i} new file failed");
        }
        if write(fd, b"bbbbbbbbbb") != SZ as i32 {
            fail!(s, "error: write bb {i} new file failed");
        }
    }
    close(fd);

    let fd = open("small", O_RDONLY);
    if fd < 0 {
        fail!(s, "error: open small failed!");
    }
    let mut buf = vec![0u8; N * SZ * 2];
    let n = read(fd, &mut buf);
    if n != (N * SZ * 2) as i32 {
        fail!(s, "read {n} bytes of small, wanted {}", N * SZ * 2);
    }
    if buf[..SZ].iter().any(|&c| c != b'a') || buf[SZ..2 * SZ].iter().any(|&c| c != b'b') {
        fail!(s, "small has the wrong content");
    }
    close(fd);

    if unlink("small") < 0 {
        fail!(s, "unlink small failed");
    }
}

/// Whether a write refused after `blocks` blocks was refused because the
/// file was as large as one of the inode layouts allows.
fn at_a_largest_size(blocks: usize) -> bool {
    [Layout::Xv6, Layout::Doubly]
        .iter()
        .any(|l| l.maxfile() == blocks)
}

/// A file of the largest size xv6's inode layout allows (direct and
/// indirect blocks), each block tagged with its number. On a kernel with
/// the fs lab's doubly-indirect block, which takes the 269th block, a file
/// into the doubly-indirect block's second singly-indirect block instead
/// (bigfile writes the largest).
fn writebig(s: &str) {
    let mut buf = vec![0u8; BSIZE];
    let fd = open("big", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "error: creat big failed!");
    }
    let xv6 = Layout::Xv6.maxfile();
    let doubly = Layout::Doubly.ndirect() + 3 * NINDIRECT + 1;
    let mut blocks = xv6;
    for i in 0..doubly {
        buf[..4].copy_from_slice(&(i as u32).to_le_bytes());
        let n = write(fd, &buf);
        if i == xv6 && n <= 0 {
            // xv6's layout: one block more than the inode can address.
            break;
        }
        if n != BSIZE as i32 {
            fail!(s, "error: write big file failed at block {i}");
        }
        blocks = i + 1;
    }
    let maxfile = blocks;
    close(fd);

    let fd = open("big", O_RDONLY);
    if fd < 0 {
        fail!(s, "error: open big failed!");
    }
    let mut n = 0;
    loop {
        let i = read(fd, &mut buf);
        if i == 0 {
            if n != maxfile {
                fail!(s, "read only {n} blocks from big");
            }
            break;
        }
        if i != BSIZE as i32 {
            fail!(s, "read failed {i}");
        }
        let tag = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if tag != n {
            fail!(s, "read content of block {n} is {tag}");
        }
        n += 1;
    }
    close(fd);
    if unlink("big") < 0 {
        fail!(s, "unlink big failed!");
    }
}

/// Creates and removes many files in one directory.
fn createtest(s: &str) {
    const N: u8 = 52;
    for i in 0..N {
        let name = [b'a', b'0' + i];
        let fd = open(&name, O_CREATE | O_RDWR);
        if fd < 0 {
            fail!(s, "create {} failed", Show(&name));
        }
        close(fd);
    }
    for i in 0..N {
        let name = [b'a', b'0' + i];
        if unlink(&name) < 0 {
            fail!(s, "unlink {} failed", Show(&name));
        }
    }
}

fn dirtest(s: &str) {
    if mkdir("dir0") < 0 {
        fail!(s, "mkdir failed");
    }
    if chdir("dir0") < 0 {
        fail!(s, "chdir dir0 failed");
    }
    if chdir("..") < 0 {
        fail!(s, "chdir .. failed");
    }
    if unlink("dir0") < 0 {
        fail!(s, "unlink dir0 failed");
    }
}

/// Two processes write through one shared file descriptor: no write may
/// overwrite another, so every byte of both ends up in the file.
fn sharedfd(s: &str) {
    const N: usize = 1000;
    const SZ: usize = 10;
    unlink("sharedfd");
    let fd = open("sharedfd", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "cannot open sharedfd for writing");
    }
    let pid = fork_or_fail(s);
    let buf = [if pid == 0 { b'c' } else { b'p' }; SZ];
    for _ in 0..N {
        if write(fd, &buf) != SZ as i32 {
            fail!(s, "write sharedfd failed");
        }
    }
    if pid == 0 {
        exit(0);
    }
    wait_ok();
    close(fd);

    let fd = open("sharedfd", O_RDONLY);
    if fd < 0 {
        fail!(s, "cannot open sharedfd for reading");
    }
    let (mut nc, mut np) = (0, 0);
    let mut buf = [0u8; SZ];
    loop {
        let n = read(fd, &mut buf);
        if n <= 0 {
            break;
        }
        for &c in &buf[..n as usize] {
            match c {
                b'c' => nc += 1,
                b'p' => np += 1,
                _ => {}
            }
        }
    }
    close(fd);
    unlink("sharedfd");
    if nc != N * SZ || np != N * SZ {
        fail!(
            s,
            "nc/np test fails: {nc} 'c' and {np} 'p', wanted {} each",
            N * SZ
        );
    }
}

/// Four processes each write their own file at the same time.
fn fourfiles(s: &str) {
    const NCHILD: u8 = 4;
    const N: usize = 12;
    const SZ: usize = 500;
    let names = ["f0", "f1", "f2", "f3"];

    for pi in 0..NCHILD {
        let name = names[pi as usize];
        unlink(name);
        let pid = fork_or_fail(s);
        if pid == 0 {
            let fd = open(name, O_CREATE | O_RDWR);
            if fd < 0 {
                fail!(s, "create {name} failed");
            }
            let buf = [b'0' + pi; SZ];
            for _ in 0..N {
                let n = write(fd, &buf);
                if n != SZ as i32 {
                    fail!(s, "write {name} failed {n}");
                }
            }
            exit(0);
        }
    }
    for _ in 0..NCHILD {
        wait_ok();
    }

    let mut buf = vec![0u8; BUFSZ];
    for (i, name) in names.iter().enumerate() {
        let fd = open_or_fail(s, name, O_RDONLY);
        let mut total = 0;
        loop {
            let n = read(fd, &mut buf);
            if n <= 0 {
                break;
            }
            if buf[..n as usize].iter().any(|&c| c != b'0' + i as u8) {
                fail!(s, "wrong char in {name}");
            }
            total += n as usize;
        }
        close(fd);
        if total != N * SZ {
            fail!(s, "wrong length {total} of {name}, wanted {}", N * SZ);
        }
        unlink(name);
    }
}

/// Four processes create files and delete some of them again, all in the
/// same directory at once; then exactly the expected ones must exist.
fn createdelete(s: &str) {
    const N: u8 = 20;
    const NCHILD: u8 = 4;
    for pi in 0..NCHILD {
        let pid = fork_or_fail(s);
        if pid == 0 {
            for i in 0..N {
                let name = [b'p' + pi, b'0' + i];
                let fd = open(&name, O_CREATE | O_RDWR);
                if fd < 0 {
                    fail!(s, "create {} failed", Show(&name));
                }
                close(fd);
                if i > 0 && i % 2 == 0 {
                    let name = [b'p' + pi, b'0' + i / 2];
                    if unlink(&name) < 0 {
                        fail!(s, "unlink {} failed", Show(&name));
                    }
                }
            }
            exit(0);
        }
    }
    for _ in 0..NCHILD {
        wait_ok();
    }

    // Files 1..N/2 were deleted; 0 and N/2.. remain.
    for i in 0..N {
        for pi in 0..NCHILD {
            let name = [b'p' + pi, b'0' + i];
            let fd = open(&name, O_RDONLY);
            let kept = i == 0 || i >= N / 2;
            if kept && fd < 0 {
                fail!(s, "oops createdelete {} didn't exist", Show(&name));
            }
            if !kept && fd >= 0 {
                fail!(s, "oops createdelete {} did exist", Show(&name));
            }
            if fd >= 0 {
                close(fd);
            }
        }
    }

    for i in 0..N {
        for pi in 0..NCHILD {
            unlink(&[b'p' + pi, b'0' + i]);
        }
    }
}

/// An open file stays readable and writable after it is unlinked, and a new
/// file of the same name is a different file.
fn unlinkread(s: &str) {
    let fd = open("unlinkread", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "create unlinkread failed");
    }
    write(fd, b"hello");
    close(fd);

    let fd = open("unlinkread", O_RDWR);
    if fd < 0 {
        fail!(s, "open unlinkread failed");
    }
    if unlink("unlinkread") != 0 {
        fail!(s, "unlink unlinkread failed");
    }

    let fd1 = open("unlinkread", O_CREATE | O_RDWR);
    if fd1 < 0 {
        fail!(s, "create unlinkread again failed");
    }
    write(fd1, b"yyy");
    close(fd1);

    let mut buf = [0u8; 16];
    if read(fd, &mut buf) != 5 {
        fail!(s, "unlinkread read failed");
    }
    if buf[0] != b'h' {
        fail!(s, "unlinkread wrong data");
    }
    if write(fd, &buf[..10]) != 10 {
        fail!(s, "unlinkread write failed");
    }
    close(fd);
    unlink("unlinkread");
}

fn linktest(s: &str) {
    unlink("lf1");
    unlink("lf2");

    let fd = open("lf1", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "create lf1 failed");
    }
    if write(fd, b"hello") != 5 {
        fail!(s, "write lf1 failed");
    }
    close(fd);

    if link("lf1", "lf2") < 0 {
        fail!(s, "link lf1 lf2 failed");
    }
    unlink("lf1");
    if open("lf1", O_RDONLY) >= 0 {
        fail!(s, "unlinked lf1 but it is still there!");
    }

    let fd = open("lf2", O_RDONLY);
    if fd < 0 {
        fail!(s, "open lf2 failed");
    }
    let mut buf = [0u8; 16];
    if read(fd, &mut buf) != 5 {
        fail!(s, "read lf2 failed");
    }
    close(fd);

    if link("lf2", "lf2") >= 0 {
        fail!(s, "link lf2 lf2 succeeded! oops");
    }
    unlink("lf2");
    if link("lf2", "lf1") >= 0 {
        fail!(s, "link non-existent succeeded! oops");
    }
    if link(".", "lf1") >= 0 {
        fail!(s, "link . lf1 succeeded! oops");
    }
}

/// Parent and child create, link and delete the same names at once; the
/// directory must end up with exactly one entry per name.
fn concreate(s: &str) {
    const N: u8 = 40;
    for i in 0..N {
        let file = [b'C', b'0' + i];
        unlink(&file);
        let pid = fork_or_fail(s);
        if (pid != 0 && i % 3 == 1) || (pid == 0 && i % 5 == 1) {
            link("C0", &file);
        } else {
            let fd = open(&file, O_CREATE | O_RDWR);
            if fd < 0 {
                fail!(s, "concreate create {} failed", Show(&file));
            }
            close(fd);
        }
        if pid == 0 {
            exit(0);
        }
        wait_ok();
    }

    let mut seen = [false; N as usize];
    let mut n = 0;
    let fd = open_or_fail(s, ".", O_RDONLY);
    while let Some(de) = read_dirent(fd) {
        if de.inum == 0 || de.name[0] != b'C' || de.name[2] != 0 {
            continue;
        }
        let i = de.name[1].wrapping_sub(b'0') as usize;
        if i >= seen.len() {
            fail!(s, "concreate weird file {}", Show(de.name()));
        }
        if seen[i] {
            fail!(s, "concreate duplicate file {}", Show(de.name()));
        }
        seen[i] = true;
        n += 1;
    }
    close(fd);
    if n != N {
        fail!(
            s,
            "concreate not enough files in directory listing ({n} of {N})"
        );
    }

    for i in 0..N {
        let file = [b'C', b'0' + i];
        let pid = fork_or_fail(s);
        if (i % 3 == 0 && pid == 0) || (i % 3 == 1 && pid != 0) {
            for _ in 0..4 {
                close(open(&file, O_RDONLY));
            }
        } else {
            for _ in 0..4 {
                unlink(&file);
            }
        }
        if pid == 0 {
            exit(0);
        }
        wait_ok();
    }
}

/// Two processes race to create, link and unlink one name.
fn linkunlink(s: &str) {
    unlink("x");
    unlink("lusrc");
    close(open_or_fail(s, "lusrc", O_CREATE | O_RDWR));

    let pid = fork_or_fail(s);
    let mut x: u32 = if pid != 0 { 1 } else { 97 };
    for _ in 0..100 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        match x % 3 {
            0 => {
                close(open("x", O_RDWR | O_CREATE));
            }
            1 => {
                link("lusrc", "x");
            }
            _ => {
                unlink("x");
            }
        }
    }
    if pid == 0 {
        exit(0);
    }
    wait_ok();
    unlink("x");
    unlink("lusrc");
}

/// Nested directories: paths through `.` and `..`, and every operation that
/// must refuse a file used as a directory or a non-empty directory.
fn subdir(s: &str) {
    unlink("ff");
    if mkdir("dd") != 0 {
        fail!(s, "mkdir dd failed");
    }

    let fd = open("dd/ff", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "create dd/ff failed");
    }
    write(fd, b"ff");
    close(fd);

    if unlink("dd") >= 0 {
        fail!(s, "unlink dd (non-empty dir) succeeded!");
    }
    if mkdir("/dd/dd") != 0 {
        fail!(s, "subdir mkdir dd/dd failed");
    }

    let fd = open("dd/dd/ff", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "create dd/dd/ff failed");
    }
    write(fd, b"FF");
    close(fd);

    let fd = open("dd/dd/../ff", O_RDONLY);
    if fd < 0 {
        fail!(s, "open dd/dd/../ff failed");
    }
    let mut buf = [0u8; 16];
    let n = read(fd, &mut buf);
    if n != 2 || buf[0] != b'f' {
        fail!(s, "dd/dd/../ff wrong content");
    }
    close(fd);

    if link("dd/dd/ff", "dd/dd/ffff") != 0 {
        fail!(s, "link dd/dd/ff dd/dd/ffff failed");
    }
    if unlink("dd/dd/ff") != 0 {
        fail!(s, "unlink dd/dd/ff failed");
    }
    if open("dd/dd/ff", O_RDONLY) >= 0 {
        fail!(s, "open (unlinked) dd/dd/ff succeeded");
    }

    if chdir("dd") != 0 {
        fail!(s, "chdir dd failed");
    }
    if chdir("dd/../../dd") != 0 {
        fail!(s, "chdir dd/../../dd failed");
    }
    if chdir("dd/../../../dd") != 0 {
        fail!(s, "chdir dd/../../../dd failed");
    }
    if chdir("./..") != 0 {
        fail!(s, "chdir ./.. failed");
    }

    let fd = open("dd/dd/ffff", O_RDONLY);
    if fd < 0 {
        fail!(s, "open dd/dd/ffff failed");
    }
    if read(fd, &mut buf) != 2 {
        fail!(s, "read dd/dd/ffff wrong len");
    }
    close(fd);

    if open("dd/dd/ff", O_RDONLY) >= 0 {
        fail!(s, "open (unlinked) dd/dd/ff succeeded!");
    }
    for (path, flags) in [
        ("dd/ff/ff", O_CREATE | O_RDWR),
        ("dd/xx/ff", O_CREATE | O_RDWR),
        ("dd", O_CREATE),
        ("dd", O_RDWR),
        ("dd", O_WRONLY),
    ] {
        if open(path, flags) >= 0 {
            fail!(s, "open {path} with flags {flags:#x} succeeded!");
        }
    }
    for (old, new) in [
        ("dd/ff/ff", "dd/dd/xx"),
        ("dd/xx/ff", "dd/dd/xx"),
        ("dd/ff", "dd/dd/ffff"),
    ] {
        if link(old, new) == 0 {
            fail!(s, "link {old} {new} succeeded!");
        }
    }
    for path in ["dd/ff/ff", "dd/xx/ff", "dd/dd/ffff"] {
        if mkdir(path) == 0 {
            fail!(s, "mkdir {path} succeeded!");
        }
    }
    for path in ["dd/xx/ff", "dd/ff/ff"] {
        if unlink(path) == 0 {
            fail!(s, "unlink {path} succeeded!");
        }
    }
    for path in ["dd/ff", "dd/xx"] {
        if chdir(path) == 0 {
            fail!(s, "chdir {path} succeeded!");
        }
    }

    if unlink("dd/dd/ffff") != 0 {
        fail!(s, "unlink dd/dd/ffff failed");
    }
    if unlink("dd/ff") != 0 {
        fail!(s, "unlink dd/ff failed");
    }
    if unlink("dd") == 0 {
        fail!(s, "unlink non-empty dd succeeded!");
    }
    if unlink("dd/dd") < 0 {
        fail!(s, "unlink dd/dd failed");
    }
    if unlink("dd") < 0 {
        fail!(s, "unlink dd failed");
    }
}

/// Writes bigger than one log transaction may hold, of many sizes.
fn bigwrite(s: &str) {
    let buf = vec![0u8; BUFSZ];
    unlink("bigwrite");
    for sz in (499..BUFSZ).step_by(471) {
        let fd = open("bigwrite", O_CREATE | O_RDWR);
        if fd < 0 {
            fail!(s, "cannot create bigwrite");
        }
        for _ in 0..2 {
            let cc = write(fd, &buf[..sz]);
            if cc != sz as i32 {
                fail!(s, "write({sz}) ret {cc}");
            }
        }
        close(fd);
        unlink("bigwrite");
    }
}

/// Writes and reads back a file in pieces that do not line up with blocks.
fn bigfile(s: &str) {
    const N: usize = 20;
    const SZ: usize = 600;
    let mut buf = vec![0u8; SZ];
    unlink("bigfile.dat");
    let fd = open("bigfile.dat", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "cannot create bigfile");
    }
    for i in 0..N {
        buf.fill(i as u8);
        if write(fd, &buf) != SZ as i32 {
            fail!(s, "write bigfile failed");
        }
    }
    close(fd);

    let fd = open("bigfile.dat", O_RDONLY);
    if fd < 0 {
        fail!(s, "cannot open bigfile");
    }
    let mut total = 0;
    for i in 0.. {
        let cc = read(fd, &mut buf[..SZ / 2]);
        if cc < 0 {
            fail!(s, "read bigfile failed");
        }
        if cc == 0 {
            break;
        }
        if cc != (SZ / 2) as i32 {
            fail!(s, "short read bigfile");
        }
        let want = (i / 2) as u8;
        if buf[0] != want || buf[SZ / 2 - 1] != want {
            fail!(s, "read bigfile wrong data");
        }
        total += cc as usize;
    }
    close(fd);
    if total != N * SZ {
        fail!(s, "read bigfile wrong total {total}");
    }
    unlink("bigfile.dat");
}

/// Names of DIRSIZ (14) bytes and longer: longer ones are cut to 14.
fn fourteen(s: &str) {
    if mkdir("12345678901234") != 0 {
        fail!(s, "mkdir 12345678901234 failed");
    }
    if mkdir("12345678901234/123456789012345") != 0 {
        fail!(s, "mkdir 12345678901234/123456789012345 failed");
    }
    let fd = open("123456789012345/123456789012345/123456789012345", O_CREATE);
    if fd < 0 {
        fail!(
            s,
            "create 123456789012345/123456789012345/123456789012345 failed"
        );
    }
    close(fd);
    let fd = open("12345678901234/12345678901234/12345678901234", O_RDONLY);
    if fd < 0 {
        fail!(
            s,
            "open 12345678901234/12345678901234/12345678901234 failed"
        );
    }
    close(fd);

    if mkdir("12345678901234/12345678901234") == 0 {
        fail!(s, "mkdir 12345678901234/12345678901234 succeeded!");
    }
    if mkdir("123456789012345/12345678901234") == 0 {
        fail!(s, "mkdir 12345678901234/123456789012345 succeeded!");
    }

    for path in [
        "123456789012345/12345678901234/12345678901234",
        "12345678901234/12345678901234",
        "12345678901234",
    ] {
        if unlink(path) != 0 {
            fail!(s, "unlink {path} failed");
        }
    }
}

/// `.` and `..` can never be unlinked.
fn rmdot(s: &str) {
    if mkdir("dots") != 0 {
        fail!(s, "mkdir dots failed");
    }
    if chdir("dots") != 0 {
        fail!(s, "chdir dots failed");
    }
    if unlink(".") == 0 {
        fail!(s, "rm . worked!");
    }
    if unlink("..") == 0 {
        fail!(s, "rm .. worked!");
    }
    if chdir("/") != 0 {
        fail!(s, "chdir / failed");
    }
    if unlink("dots/.") == 0 {
        fail!(s, "unlink dots/. worked!");
    }
    if unlink("dots/..") == 0 {
        fail!(s, "unlink dots/.. worked!");
    }
    if unlink("dots") != 0 {
        fail!(s, "unlink dots failed!");
    }
}

/// A plain file used as a directory, and a directory used as a file.
fn dirfile(s: &str) {
    let fd = open("dirfile", O_CREATE);
    if fd < 0 {
        fail!(s, "create dirfile failed");
    }
    close(fd);

    if chdir("dirfile") == 0 {
        fail!(s, "chdir dirfile succeeded!");
    }
    if open("dirfile/xx", O_RDONLY) >= 0 {
        fail!(s, "open dirfile/xx succeeded!");
    }
    if open("dirfile/xx", O_CREATE) >= 0 {
        fail!(s, "create dirfile/xx succeeded!");
    }
    if mkdir("dirfile/xx") == 0 {
        fail!(s, "mkdir dirfile/xx succeeded!");
    }
    if unlink("dirfile/xx") == 0 {
        fail!(s, "unlink dirfile/xx succeeded!");
    }
    if link("dirfile", "dirfile/xx") == 0 {
        fail!(s, "link to dirfile/xx succeeded!");
    }
    if unlink("dirfile") != 0 {
        fail!(s, "unlink dirfile failed!");
    }

    if open(".", O_RDWR) >= 0 {
        fail!(s, "open . for writing succeeded!");
    }
    let fd = open(".", O_RDONLY);
    if fd < 0 {
        fail!(s, "open . failed");
    }
    if write(fd, b"x") > 0 {
        fail!(s, "write . succeeded!");
    }
    close(fd);
}

/// More nested directories than the kernel has in-memory inodes, each
/// visited with calls that fail on the empty path: a call that forgets to
/// release an inode on its error path exhausts the inode table.
fn iref(s: &str) {
    for _ in 0..NINODE + 1 {
        if mkdir("irefd") != 0 {
            fail!(s, "mkdir irefd failed");
        }
        if chdir("irefd") != 0 {
            fail!(s, "chdir irefd failed");
        }

        if mkdir("") == 0 {
            fail!(s, "mkdir of the empty path succeeded");
        }
        let fd = open("xx", O_CREATE);
        if fd < 0 {
            fail!(s, "create irefd/xx failed");
        }
        close(fd);
        if link("xx", "") == 0 {
            fail!(s, "link to the empty path succeeded");
        }
        let fd = open("", O_CREATE);
        if fd >= 0 {
            fail!(s, "create of the empty path succeeded");
        }
        if unlink("xx") != 0 {
            fail!(s, "unlink irefd/xx failed");
        }
    }

    for _ in 0..NINODE + 1 {
        chdir("..");
        if unlink("irefd") != 0 {
            fail!(s, "unlink irefd failed");
        }
    }
    chdir("/");
}

/// A directory of 500 entries (several blocks), all links to one file.
fn bigdir(s: &str) {
    const N: usize = 500;
    let name = |i: usize| [b'x', b'0' + (i / 64) as u8, b'0' + (i % 64) as u8];

    unlink("bd");
    let fd = open("bd", O_CREATE);
    if fd < 0 {
        fail!(s, "bigdir create failed");
    }
    close(fd);

    for i in 0..N {
        if link("bd", &name(i)) != 0 {
            fail!(s, "bigdir link(bd, {}) failed", Show(&name(i)));
        }
    }
    unlink("bd");
    for i in 0..N {
        if unlink(&name(i)) != 0 {
            fail!(s, "bigdir unlink {} failed", Show(&name(i)));
        }
    }
}

/// Four processes rewrite files over and over, the fourth four times as
/// often as the first, churning the log and the block allocator.
fn manywrites(s: &str) {
    const NCHILD: u8 = 4;
    const HOWMANY: usize = 30;
    for ci in 0..NCHILD {
        let pid = fork_or_fail(s);
        if pid == 0 {
            let name = [b'b', b'a' + ci];
            let buf = vec![0u8; BUFSZ];
            unlink(&name);
            for _ in 0..HOWMANY {
                for _ in 0..=ci {
                    let fd = open(&name, O_CREATE | O_RDWR);
                    if fd < 0 {
                        fail!(s, "cannot create {}", Show(&name));
                    }
                    let cc = write(fd, &buf);
                    if cc != BUFSZ as i32 {
                        fail!(s, "write({BUFSZ}) ret {cc}");
                    }
                    close(fd);
                }
                unlink(&name);
            }
            exit(0);
        }
    }
    for _ in 0..NCHILD {
        wait_ok();
    }
}

/// `'0' + i` file names: 'big0' … for diskfull, 'zz00' … for the empty files.
fn big_name(i: usize) -> [u8; 4] {
    [b'b', b'i', b'g', b'0' + i as u8]
}

fn zz_name(i: usize) -> [u8; 4] {
    [b'z', b'z', b'0' + (i / 32) as u8, b'0' + (i % 32) as u8]
}

/// Files of the largest size, sized by the character range xv6 uses ('0'
/// up to DEL), more than enough to fill the disk.
const MAX_BIG_FILES: usize = 0o177 - b'0' as usize;

/// Fills every free block, then checks that creating files and a directory
/// fails cleanly (a directory cannot grow), then frees everything.
fn diskfull(s: &str) {
    let buf = vec![0u8; BSIZE];
    unlink("diskfulldir");

    // None if the disk filled up, else why it did not.
    let mut problem = None;
    let mut full = false;
    let mut nbig = 0;
    while !full && nbig < MAX_BIG_FILES {
        let name = big_name(nbig);
        unlink(&name);
        let fd = open(&name, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            problem = Some(format!(
                "could not create {} before the disk filled up",
                Show(&name)
            ));
            break;
        }
        nbig += 1;
        // Until the disk or the file (as large as its layout allows) is full.
        for blocks in 0.. {
            if write(fd, &buf) != BSIZE as i32 {
                full = !at_a_largest_size(blocks);
                break;
            }
        }
        close(fd);
    }
    if problem.is_none() && !full {
        problem = Some(format!(
            "wrote {nbig} files as large as they go and the disk is not full"
        ));
    }

    // With no free block, a directory that needs another block to hold a
    // new entry must make the create fail, not panic; one of these does.
    const NZZ: usize = 128;
    for i in 0..NZZ {
        let name = zz_name(i);
        unlink(&name);
        let fd = open(&name, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            break;
        }
        close(fd);
    }

    // A new directory needs a block for `.` and `..`.
    if problem.is_none() && mkdir("diskfulldir") == 0 {
        problem = Some(String::from("mkdir(diskfulldir) unexpectedly succeeded!"));
    }

    unlink("diskfulldir");
    for i in 0..NZZ {
        unlink(&zz_name(i));
    }
    for i in 0..nbig {
        if unlink(&big_name(i)) != 0 {
            fail!(s, "unlink {} failed", Show(&big_name(i)));
        }
    }
    if let Some(problem) = problem {
        fail!(s, "{problem}");
    }

    // The blocks must really be free again.
    let fd = open("diskfullchk", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!(s, "create after freeing the disk failed");
    }
    let n = write(fd, &buf);
    close(fd);
    unlink("diskfullchk");
    if n != BSIZE as i32 {
        fail!(
            s,
            "write after freeing the disk returned {n}, wanted {BSIZE}"
        );
    }
}

/// Creates empty files until the inodes run out, then frees them all.
fn outofinodes(s: &str) {
    // More names than the disk has inodes.
    const NZZ: usize = 32 * 32;
    let mut created = 0;
    while created < NZZ {
        let name = zz_name(created);
        unlink(&name);
        let fd = open(&name, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            break;
        }
        close(fd);
        created += 1;
    }

    for i in 0..NZZ {
        unlink(&zz_name(i));
    }
    if created == NZZ {
        fail!(s, "created {NZZ} files without running out of inodes");
    }

    // The inodes must really be free again.
    for i in 0..created {
        let name = zz_name(i);
        let fd = open(&name, O_CREATE | O_RDWR);
        if fd < 0 {
            for j in 0..i {
                unlink(&zz_name(j));
            }
            fail!(
                s,
                "only {i} of {created} files could be created again after freeing"
            );
        }
        close(fd);
    }
    for i in 0..created {
        unlink(&zz_name(i));
    }
}
