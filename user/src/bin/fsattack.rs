#![no_std]
#![no_main]
//! fsattack: file system calls that once broke the kernel or its disk.
//! Each case prints `fsattack <case>: OK` when every call got the right
//! answer, else `fsattack <case>: FAILED (<why>)` and exits with status 1.
//! What the calls left on disk is for `fsck` to judge once the machine is
//! stopped: every case removes what it made.
//!
//! - `links [N [PER_DIR]]`: links one file until `link` refuses; the limit
//!   is the largest i16 link count, and unlinking them all frees the file.
//!   With N, only N links are made, PER_DIR to a directory (700 unless
//!   given), to time the links and unlinks.
//! - `itable`: with the in-memory inode table full (children hold files
//!   open), create, mkdir, mknod and link onto an existing name must fail.
//! - `deadcwd`: in a directory that was removed, nothing can be created.
//! - `rmrace N`: one process makes and removes a directory N times while
//!   others create files and directories in it.
//! - `badwrite`: writes from addresses that are not mapped, into a file's
//!   first block and past its twelve direct blocks. It leaves the file
//!   `bw` (size 12 blocks) for fsck: it must hold no block past its end.

use user::*;

entry!(main);

fn main(args: Args) -> i32 {
    let case = args.get(1).unwrap_or("");
    let n = args.get(2).map_or(0, |a| atoi(a) as usize);
    let per_dir = args.get(3).map_or(0, |a| atoi(a) as usize);
    let result = match case {
        "links" => links(n, if per_dir == 0 { PER_DIR } else { per_dir }),
        "itable" => itable(),
        "deadcwd" => deadcwd(),
        "rmrace" => rmrace(if n == 0 { 200 } else { n }),
        "badwrite" => badwrite(),
        _ => {
            println!(
                "usage: fsattack links [N [PER_DIR]] | itable | deadcwd | rmrace [N] | badwrite"
            );
            return 2;
        }
    };
    match result {
        Ok(()) => {
            println!("fsattack {case}: OK");
            0
        }
        Err(why) => {
            println!("fsattack {case}: FAILED ({why})");
            1
        }
    }
}

fn nlink(path: &str) -> i16 {
    let mut st = Stat::default();
    if stat(path, &mut st) < 0 {
        return -1;
    }
    st.nlink
}

fn create_file(path: &str) -> Result<(), String> {
    let fd = open(path, O_CREATE | O_RDWR);
    if fd < 0 {
        return Err(format!("cannot create {path}"));
    }
    close(fd);
    Ok(())
}

/// Links per directory: 700 entries and `.` and `..` fit in 11 blocks, the
/// direct blocks of one inode, so each directory scan stays in the cache.
const PER_DIR: usize = 700;

fn link_dir(d: usize) -> String {
    format!("la{d}")
}

/// Prints how long each fifth of `n` operations took.
struct Timer {
    what: &'static str,
    n: usize,
    start: i32,
    last: i32,
}

impl Timer {
    fn new(what: &'static str, n: usize) -> Timer {
        let t = uptime();
        Timer {
            what,
            n,
            start: t,
            last: t,
        }
    }

    /// After operation `i` (from 0).
    fn tick(&mut self, i: usize) {
        let step = self.n.div_ceil(5).max(1);
        if (i + 1).is_multiple_of(step) {
            let now = uptime();
            let (what, from) = (self.what, i + 1 - step);
            println!(
                "fsattack links: {what} {from}..{}: {} ticks",
                i + 1,
                now - self.last
            );
            self.last = now;
        }
    }

    fn done(&self, made: usize) {
        let ticks = uptime() - self.start;
        println!("fsattack links: {made} {} in {ticks} ticks", self.what);
    }
}

fn links(most: usize, per_dir: usize) -> Result<(), String> {
    let link_name = |i: usize| format!("la{}/{}", i / per_dir, i % per_dir);
    let limit = i16::MAX as usize;
    let dirs = if most > 0 { most } else { limit }.div_ceil(per_dir);
    create_file("lf")?;
    for d in 0..dirs {
        if mkdir(&link_dir(d)) < 0 {
            return Err(format!("cannot make {}", link_dir(d)));
        }
    }
    // The file has one link; `made` more are made before link refuses.
    let mut made = 0;
    let most = if most > 0 { most } else { dirs * per_dir };
    let mut timer = Timer::new("links", most);
    while made < most {
        if link("lf", &link_name(made)) < 0 {
            break;
        }
        timer.tick(made);
        made += 1;
    }
    timer.done(made);
    let n = nlink("lf");
    if most < limit && (made != most || n as usize != made + 1) {
        return Err(format!("{made} of {most} links made, nlink {n}"));
    }
    if most >= limit && (made + 1 != limit || n != i16::MAX) {
        return Err(format!(
            "link refused after {made} links with nlink {n}, wanted {} and {limit}",
            limit - 1
        ));
    }
    // Unlink them all, in the order they were made.
    let mut timer = Timer::new("unlinks", made);
    for i in 0..made {
        if unlink(&link_name(i)) < 0 {
            return Err(format!("unlink {} failed", link_name(i)));
        }
        timer.tick(i);
    }
    timer.done(made);
    let n = nlink("lf");
    if n != 1 {
        return Err(format!("nlink {n} after unlinking every link, wanted 1"));
    }
    for d in 0..dirs {
        if unlink(&link_dir(d)) < 0 {
            return Err(format!("cannot remove {}", link_dir(d)));
        }
    }
    if unlink("lf") < 0 {
        return Err(String::from("cannot remove lf"));
    }
    Ok(())
}

/// Files held open by the children: more than the inode table holds.
const ITABLE_FILES: usize = abi::param::NINODE + 8;
/// Files one child holds (NOFILE less stdin, stdout, stderr and its pipes).
const PER_CHILD: usize = 11;

fn it_name(i: usize) -> String {
    format!("it{i}")
}

fn itable() -> Result<(), String> {
    for i in 0..ITABLE_FILES {
        create_file(&it_name(i))?;
    }
    create_file("itx")?;
    let (mut ready, mut go) = ([0i32; 2], [0i32; 2]);
    if pipe(&mut ready) < 0 || pipe(&mut go) < 0 {
        return Err(String::from("pipe failed"));
    }
    let children = ITABLE_FILES.div_ceil(PER_CHILD);
    for c in 0..children {
        let pid = fork();
        if pid < 0 {
            return Err(String::from("fork failed"));
        }
        if pid == 0 {
            // Hold files open until the parent writes to `go` or exits.
            close(ready[0]);
            close(go[1]);
            let mut opened = 0u8;
            for i in c * PER_CHILD..((c + 1) * PER_CHILD).min(ITABLE_FILES) {
                if open(&it_name(i), O_RDONLY) >= 0 {
                    opened += 1;
                }
            }
            write(ready[1], &[opened]);
            let mut b = [0u8; 1];
            read(go[0], &mut b);
            exit(0);
        }
    }
    close(ready[1]);
    close(go[0]);
    let mut held = 0;
    for _ in 0..children {
        let mut b = [0u8; 1];
        if read(ready[0], &mut b) != 1 {
            return Err(String::from("a child died"));
        }
        held += b[0] as usize;
    }
    let full = held < ITABLE_FILES;
    let outcome = if full {
        refused_when_full()
    } else {
        Err(format!("all {held} files opened: the table never filled"))
    };
    close(go[1]);
    for _ in 0..children {
        wait(None);
    }
    close(ready[0]);
    // After the children let go, nothing the refused calls made is there.
    let after = check_itable_leftovers();
    for i in 0..ITABLE_FILES {
        unlink(&it_name(i));
    }
    unlink("itx");
    outcome.and(after)
}

/// What must fail while the inode table is full.
fn refused_when_full() -> Result<(), String> {
    let fd = open("itnew", O_CREATE | O_RDWR);
    if fd >= 0 {
        close(fd);
        return Err(String::from("create succeeded with the inode table full"));
    }
    if mkdir("itdir") == 0 {
        return Err(String::from("mkdir succeeded with the inode table full"));
    }
    if mknod("itdev", 1, 0) == 0 {
        return Err(String::from("mknod succeeded with the inode table full"));
    }
    // `it0` is open (so in the table); `itx` is not, and exists.
    if link("it0", "itx") == 0 {
        return Err(String::from(
            "link onto the existing name itx succeeded with the inode table full",
        ));
    }
    Ok(())
}

fn check_itable_leftovers() -> Result<(), String> {
    for name in ["itnew", "itdir", "itdev"] {
        let mut st = Stat::default();
        if stat(name, &mut st) == 0 {
            unlink(name);
            return Err(format!("{name} exists after its creation failed"));
        }
    }
    let fd = open(".", O_RDONLY);
    let mut itx = 0;
    while let Some(de) = read_dirent(fd) {
        if de.inum != 0 && de.name() == b"itx" {
            itx += 1;
        }
    }
    close(fd);
    if itx != 1 {
        return Err(format!("the root directory has {itx} entries named itx"));
    }
    Ok(())
}

fn deadcwd() -> Result<(), String> {
    if mkdir("dcd") < 0 || chdir("dcd") < 0 {
        return Err(String::from("cannot make and enter dcd"));
    }
    if unlink("/dcd") < 0 {
        chdir("/");
        return Err(String::from("cannot remove the empty current directory"));
    }
    let mut made = Vec::new();
    for name in ["f", "./g"] {
        let fd = open(name, O_CREATE | O_RDWR);
        if fd >= 0 {
            close(fd);
            made.push(name);
        }
    }
    if mkdir("d") == 0 {
        made.push("d");
    }
    if mknod("n", 1, 0) == 0 {
        made.push("n");
    }
    if link("/README", "l") == 0 {
        made.push("l");
    }
    // Leaving the directory drops its last reference, which frees it.
    for name in &made {
        unlink(name);
    }
    chdir("/");
    if made.is_empty() {
        Ok(())
    } else {
        Err(format!("made {made:?} in a removed directory"))
    }
}

fn rmrace(rounds: usize) -> Result<(), String> {
    const WORKERS: usize = 2;
    let mut pids = Vec::new();
    for w in 0..WORKERS {
        let pid = fork();
        if pid < 0 {
            return Err(String::from("fork failed"));
        }
        if pid == 0 {
            // Create and remove entries in `rr` for as long as the parent runs.
            loop {
                if w == 0 {
                    let fd = open("rr/x", O_CREATE | O_RDWR);
                    if fd >= 0 {
                        close(fd);
                        unlink("rr/x");
                    }
                } else if mkdir("rr/y") == 0 {
                    unlink("rr/y");
                }
            }
        }
        pids.push(pid);
    }
    // Each round makes rr and removes it as soon as the workers leave it
    // empty. On one hart they take turns a tick at a time, and a worker
    // stopped between its create and its unlink keeps rr full for the
    // whole turn: until rr has been removed once, a round that could not
    // sleeps a tick so that the workers stop somewhere else. More rounds
    // then, for at most 10 s.
    let mut removed = 0;
    let start = uptime();
    let mut round = 0;
    while round < rounds || (removed == 0 && uptime() - start < 100) {
        round += 1;
        mkdir("rr");
        for _ in 0..50 {
            if unlink("rr") == 0 {
                removed += 1;
                break;
            }
        }
        if removed == 0 {
            sleep(1);
        }
    }
    for &pid in &pids {
        kill(pid);
    }
    for _ in &pids {
        wait(None);
    }
    // What the workers left: remove it, then the directory.
    unlink("rr/x");
    unlink("rr/y");
    unlink("rr");
    let mut st = Stat::default();
    if stat("rr", &mut st) == 0 {
        return Err(String::from("cannot remove rr at the end"));
    }
    println!("fsattack rmrace: removed rr {removed} of {round} times");
    if removed == 0 {
        return Err(String::from("rr was never removed: no race"));
    }
    Ok(())
}

fn badwrite() -> Result<(), String> {
    const BSIZE: usize = abi::fs::BSIZE;
    // Just under the trampoline: never mapped for a user program.
    let bad = (abi::memlayout::TRAPFRAME - 2 * abi::memlayout::PGSIZE) as *const u8;
    unlink("bw");
    let fd = open("bw", O_CREATE | O_RDWR);
    if fd < 0 {
        return Err(String::from("cannot create bw"));
    }
    // SAFETY: the kernel only reads from the pointer, and must refuse it.
    let write_bad = |fd: i32| unsafe { user::sys::write(fd, bad, BSIZE as i32) };
    let first = write_bad(fd);
    let block = [7u8; BSIZE];
    for _ in 0..abi::fs::NDIRECT {
        write(fd, &block);
    }
    let past_direct = write_bad(fd);
    let mut st = Stat::default();
    fstat(fd, &mut st);
    close(fd);
    if first > 0 || past_direct > 0 {
        return Err(format!(
            "writes from a bad address returned {first} and {past_direct}"
        ));
    }
    if st.size != (abi::fs::NDIRECT * BSIZE) as u64 {
        return Err(format!("bw has size {}", st.size));
    }
    Ok(())
}
