// SOLUTION FILE
#![no_std]
#![no_main]
//! find: prints every path under a directory whose last element is the
//! given name (util lab).

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let (Some(dir), Some(name), 3) = (args.bytes(1), args.bytes(2), args.len()) else {
        eprintln!("Usage: find dir name");
        return 1;
    };
    find(dir, name);
    0
}

/// Walks the tree under `dir` depth first, with a list of paths still to
/// visit rather than recursion (a user stack is a single page).
fn find(dir: &[u8], name: &[u8]) {
    let mut todo = vec![Vec::from(dir)];
    while let Some(mut path) = todo.pop() {
        if path.rsplit(|&c| c == b'/').next() == Some(name) {
            path.push(b'\n');
            write(1, &path);
            path.pop();
        }
        // Pushed last to first, so they come off the list in directory order.
        for de in dir_entries(&path).iter().rev() {
            let mut child = path.clone();
            child.push(b'/');
            child.extend_from_slice(de.name());
            todo.push(child);
        }
    }
}

/// The entries of directory `path`, without `.` and `..`; none if `path` is
/// not a directory. Reads them all at once so that a single descriptor is
/// open at a time.
fn dir_entries(path: &[u8]) -> Vec<Dirent> {
    let mut entries = Vec::new();
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        eprintln!("find: cannot open {}", Show(path));
        return entries;
    }
    let mut st = Stat::default();
    if fstat(fd, &mut st) < 0 {
        eprintln!("find: cannot stat {}", Show(path));
    } else if st.typ == T_DIR {
        while let Some(de) = read_dirent(fd) {
            if de.inum != 0 && de.name() != b"." && de.name() != b".." {
                entries.push(de);
            }
        }
    }
    close(fd);
    entries
}
