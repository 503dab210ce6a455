#![no_std]
#![no_main]
//! ls: lists files and directories, one line each: the name padded to
//! DIRSIZ, then the type, inode number and size.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        ls(b".");
    }
    for path in args.iter_bytes().skip(1) {
        ls(path);
    }
    0
}

fn ls(path: &[u8]) {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        eprintln!("ls: cannot open {}", Show(path));
        return;
    }
    let mut st = Stat::default();
    if fstat(fd, &mut st) < 0 {
        eprintln!("ls: cannot stat {}", Show(path));
        close(fd);
        return;
    }
    if st.typ == T_DIR {
        list_dir(fd, path);
    } else {
        print_entry(path, &st);
    }
    close(fd);
}

/// Prints every entry of the directory open at `fd`, `.` and `..` included.
fn list_dir(fd: i32, path: &[u8]) {
    let mut child = Vec::from(path);
    child.push(b'/');
    let prefix = child.len();
    while let Some(de) = read_dirent(fd) {
        if de.inum == 0 {
            continue; // a free slot
        }
        child.truncate(prefix);
        child.extend_from_slice(de.name());
        let mut st = Stat::default();
        if stat(&child[..], &mut st) < 0 {
            eprintln!("ls: cannot stat {}", Show(&child));
            continue;
        }
        print_entry(&child, &st);
    }
}

/// `name type inode size`, the last element of `path` padded to DIRSIZ.
fn print_entry(path: &[u8], st: &Stat) {
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    let mut line = Vec::from(name);
    if line.len() < DIRSIZ {
        line.resize(DIRSIZ, b' ');
    }
    line.extend_from_slice(format!(" {} {} {}\n", st.typ, st.ino, st.size).as_bytes());
    write(1, &line);
}
