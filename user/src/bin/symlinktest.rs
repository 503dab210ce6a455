#![no_std]
#![no_main]
//! symlinktest (fs lab): symbolic links, as MIT's test checks them and more.
//!
//! `symlinktest [SEED]`: the seed (default 1) picks the directory, the
//! names and the file contents, so no fixed output and no file left by
//! another run passes. Prints MIT's lines:
//!
//! - `test symlinks: ok`: a link opens its target (reads and writes go
//!   there); `O_NOFOLLOW` opens the link itself, a `T_SYMLINK` whose
//!   contents are the target; a link to a link and a chain of links open
//!   the file at the end, which may be created after the links; a link to
//!   nothing and a cycle fail to open; removing a link leaves its target;
//!   a name that exists, an empty path, a target too long for a path, a
//!   missing directory are refused and leave nothing behind; symlinks
//!   until the inodes run out fail cleanly and all go again.
//! - `test concurrent symlinks: ok`: several processes create and remove
//!   links of a few shared names at once; each sees links, every link
//!   seen is a link to the one target, and afterwards each name is there
//!   at most once.
//!
//! Each test runs in a child of its own; a failure prints `symlinktest:
//! <what>` and fails that test only.

use abi::fs::{DIRSIZ, Dirent};
use abi::param::MAXPATH;
use user::*;

entry!(main);

fn fail(what: &str) -> ! {
    println!("symlinktest: {what}");
    exit(1)
}

/// A small generator for names and contents (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A name of 4 to 8 lower-case letters, none of them in `taken`.
    fn name(&mut self, taken: &[String]) -> String {
        loop {
            let len = 4 + self.below(5);
            let s: String = (0..len)
                .map(|_| (b'a' + self.below(26) as u8) as char)
                .collect();
            if !taken.contains(&s) {
                return s;
            }
        }
    }
}

/// The test's directory and the names made in it.
struct Dir {
    path: String,
    names: Vec<String>,
}

impl Dir {
    fn new(path: String) -> Dir {
        Dir {
            path,
            names: Vec::new(),
        }
    }

    /// A fresh name's full path.
    fn fresh(&mut self, rng: &mut Rng) -> String {
        let n = rng.name(&self.names);
        self.names.push(n.clone());
        format!("{}/{n}", self.path)
    }
}

/// `fstat` of the open file `fd`.
fn fd_stat(fd: i32) -> Stat {
    let mut st = Stat::default();
    if fstat(fd, &mut st) < 0 {
        fail("fstat of an open file failed");
    }
    st
}

/// The link at `path` itself (`O_NOFOLLOW`): its stat and its first bytes,
/// or `None` if it does not open.
fn stat_link(path: &str) -> Option<(Stat, Vec<u8>)> {
    let fd = open(path, O_RDONLY | O_NOFOLLOW);
    if fd < 0 {
        return None;
    }
    let st = fd_stat(fd);
    let mut buf = [0u8; MAXPATH + 1];
    let n = read(fd, &mut buf);
    close(fd);
    Some((st, buf[..n.max(0) as usize].to_vec()))
}

/// Whether `bytes`, a link's contents, hold `target`: the target, then the
/// end or NUL padding (xv6's solutions write either).
fn holds(bytes: &[u8], target: &str) -> bool {
    bytes.starts_with(target.as_bytes()) && bytes[target.len()..].first().is_none_or(|&c| c == 0)
}

/// `path` must be a link to `target`.
fn expect_link(path: &str, target: &str) {
    let Some((st, bytes)) = stat_link(path) else {
        fail(&format!("{path}: open with O_NOFOLLOW failed"));
    };
    if st.typ != T_SYMLINK {
        fail(&format!("{path}: type {}, not a symbolic link", st.typ));
    }
    if !holds(&bytes, target) {
        fail(&format!("{path}: the link's contents are not {target}"));
    }
}

/// Creates `path` holding `data`.
fn make_file(path: &str, data: &[u8]) {
    let fd = open(path, O_CREATE | O_RDWR);
    if fd < 0 || write(fd, data) != data.len() as i32 {
        fail(&format!("cannot create {path}"));
    }
    close(fd);
}

/// What `path` reads, following links; `None` if it does not open.
fn contents(path: &str) -> Option<Vec<u8>> {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 64];
    let n = read(fd, &mut buf);
    close(fd);
    Some(buf[..n.max(0) as usize].to_vec())
}

fn expect_contents(path: &str, want: &[u8], what: &str) {
    match contents(path) {
        Some(got) if got == want => {}
        Some(_) => fail(&format!("{what}: {path} read the wrong bytes")),
        None => fail(&format!("{what}: {path} does not open")),
    }
}

fn expect_no_open(path: &str, what: &str) {
    for mode in [O_RDONLY, O_RDWR] {
        let fd = open(path, mode);
        if fd >= 0 {
            close(fd);
            fail(&format!("{what}: {path} opened"));
        }
    }
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| b'!' + rng.below(90) as u8).collect()
}

/// MIT's `testsymlink`, and more.
fn symlinks(seed: u64, dir: &str) {
    let mut rng = Rng::new(seed);
    let mut d = Dir::new(dir.into());

    // A link opens its target, for reading and for writing.
    let a = d.fresh(&mut rng);
    let b = d.fresh(&mut rng);
    let n = 4 + rng.below(20) as usize;
    let data = random_bytes(&mut rng, n);
    make_file(&a, &data);
    if symlink(&a, &b) != 0 {
        fail(&format!("symlink {b} -> {a} failed"));
    }
    expect_link(&b, &a);
    expect_contents(&b, &data, "a link");
    let fd = open(&b, O_RDWR);
    if fd < 0 {
        fail(&format!("{b} does not open for writing"));
    }
    if fd_stat(fd).typ != T_FILE {
        fail(&format!("{b} opened as something other than its target"));
    }
    let more = random_bytes(&mut rng, 3);
    if write(fd, &more) != 3 {
        fail(&format!("write through {b} failed"));
    }
    close(fd);
    let mut both = more.clone();
    both.extend_from_slice(&data[3..]);
    expect_contents(&a, &both, "a write through a link");
    let ast = {
        let fd = open(&a, O_RDONLY | O_NOFOLLOW);
        if fd < 0 {
            fail(&format!("{a}: O_NOFOLLOW on a plain file does not open it"));
        }
        let st = fd_stat(fd);
        close(fd);
        st
    };
    if ast.typ != T_FILE {
        fail(&format!(
            "{a}: O_NOFOLLOW on a plain file: type {}",
            ast.typ
        ));
    }
    // The link is not writable as a link: its contents stay the target.
    let fd = open(&b, O_RDWR | O_NOFOLLOW);
    if fd >= 0 {
        close(fd);
        fail(&format!("{b}: opened the link itself for writing"));
    }

    // A link to a link.
    let c = d.fresh(&mut rng);
    if symlink(&b, &c) != 0 {
        fail(&format!("symlink {c} -> {b} failed"));
    }
    expect_link(&c, &b);
    expect_contents(&c, &both, "a link to a link");

    // A chain, made before the file at its end.
    let len = 2 + rng.below(7) as usize;
    let chain: Vec<String> = (0..=len).map(|_| d.fresh(&mut rng)).collect();
    for w in chain.windows(2) {
        if symlink(&w[1], &w[0]) != 0 {
            fail(&format!("symlink {} -> {} failed", w[0], w[1]));
        }
    }
    expect_no_open(&chain[0], "a chain to nothing yet");
    let end = random_bytes(&mut rng, 8);
    make_file(&chain[len], &end);
    expect_contents(&chain[0], &end, &format!("a chain of {len} links"));

    // Removing a link leaves its target.
    if unlink(&c) != 0 {
        fail(&format!("unlink of the link {c} failed"));
    }
    expect_contents(&b, &both, "after removing a link to it");
    expect_contents(&a, &both, "after removing a link to a link to it");
    if stat_link(&c).is_some() {
        fail(&format!("{c} is still there after unlink"));
    }

    // A dangling link.
    if unlink(&a) != 0 {
        fail(&format!("unlink {a} failed"));
    }
    expect_no_open(&b, "a link to a removed file");
    expect_link(&b, &a);
    let ghost = d.fresh(&mut rng);
    if symlink(&ghost, &c) != 0 {
        fail("a link to a file that does not exist was refused");
    }
    expect_no_open(&c, "a link to nothing");
    if exec(&c, &["x"]) >= 0 {
        fail("exec of a link to nothing returned");
    }

    // Cycles: b -> a -> b, and a link to itself.
    if symlink(&b, &a) != 0 {
        fail(&format!("symlink {a} -> {b} failed"));
    }
    expect_no_open(&b, "a cycle of two links");
    expect_no_open(&a, "a cycle of two links");
    let me = d.fresh(&mut rng);
    if symlink(&me, &me) != 0 {
        fail("a link to itself was refused");
    }
    expect_no_open(&me, "a link to itself");
    expect_link(&me, &me);

    refusals(&mut rng, &mut d, &chain[len], &end);
    out_of_inodes(&mut rng, &mut d);

    for n in &d.names {
        unlink(&format!("{}/{n}", d.path));
    }
}

/// Bad calls: refused, nothing changed or left behind, no panic.
fn refusals(rng: &mut Rng, d: &mut Dir, file: &str, data: &[u8]) {
    let t = d.fresh(rng);
    // Over an existing file, over an existing link.
    if symlink(&t, file) >= 0 {
        fail("symlink over an existing file succeeded");
    }
    expect_contents(file, data, "after a refused symlink over it");
    let l = d.fresh(rng);
    if symlink(file, &l) != 0 || symlink(&t, &l) >= 0 {
        fail("symlink over an existing link succeeded");
    }
    expect_link(&l, file);
    // Over the directory itself, and with no name.
    if symlink(&t, &d.path) >= 0 || symlink(&t, "") >= 0 || symlink(&t, "/") >= 0 {
        fail("symlink over a directory or an empty path succeeded");
    }
    // In a directory that does not exist, or under a file.
    let missing = format!("{}/{}/x", d.path, rng.name(&d.names));
    if symlink(&t, &missing) >= 0 || symlink(&t, &format!("{file}/x")) >= 0 {
        fail("symlink in a missing directory succeeded");
    }
    // A target longer than a path (and than a block), passed raw; and the
    // longest target that fits.
    let p = d.fresh(rng);
    let mut long = vec![b'x'; 2000];
    long.push(0);
    let mut pz = p.clone().into_bytes();
    pz.push(0);
    // SAFETY: both buffers are NUL-terminated and live across the call.
    let r = unsafe { sys::symlink(long.as_ptr(), pz.as_ptr()) };
    if r >= 0 || stat_link(&p).is_some() {
        fail("a 2,000-byte target was taken");
    }
    let longest: String = (0..MAXPATH - 1)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    if symlink(&longest, &p) != 0 {
        fail(&format!("a target of {} bytes was refused", MAXPATH - 1));
    }
    expect_link(&p, &longest);
    expect_no_open(&p, "a link to a long path to nothing");
}

/// Links until the disk has no inode left: refused, not a panic; every
/// link made is intact, and once removed, as many can be made again.
fn out_of_inodes(rng: &mut Rng, d: &mut Dir) {
    let target = d.fresh(rng);
    let base = d.fresh(rng);
    let name = |i: usize| format!("{base}{i}");
    let cap = 1000;
    let made = (0..cap)
        .take_while(|&i| symlink(&target, &name(i)) == 0)
        .count();
    if made == cap {
        fail(&format!("{cap} links and the inodes never ran out"));
    }
    if made == 0 {
        fail("no link could be made at all");
    }
    for i in [0, made / 2, made - 1] {
        expect_link(&name(i), &target);
    }
    for i in 0..made {
        if unlink(&name(i)) != 0 {
            fail(&format!("unlink of link {i} of {made} failed"));
        }
    }
    let again = (0..made)
        .take_while(|&i| symlink(&target, &name(i)) == 0)
        .count();
    for i in 0..again {
        unlink(&name(i));
    }
    if again != made {
        fail(&format!("{made} links, removed, then only {again} again"));
    }
}

/// Processes at once making and removing links of a few shared names.
fn concurrent(seed: u64, dir: &str) {
    const CHILDREN: u64 = 4;
    const ROUNDS: usize = 100;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut d = Dir::new(dir.into());
    let target = d.fresh(&mut rng);
    let data = random_bytes(&mut rng, 12);
    make_file(&target, &data);
    let names: Vec<String> = (0..3).map(|_| d.fresh(&mut rng)).collect();
    for c in 0..CHILDREN {
        let pid = fork();
        if pid < 0 {
            fail("fork failed");
        }
        if pid == 0 {
            let mut rng = Rng::new(rng.next() ^ c);
            let mut seen = 0;
            for _ in 0..ROUNDS {
                let n = &names[rng.below(names.len() as u64) as usize];
                if rng.below(3) == 0 {
                    unlink(n);
                    continue;
                }
                symlink(&target, n);
                // Another process may have removed it, or made it again.
                if let Some((st, bytes)) = stat_link(n) {
                    if st.typ != T_SYMLINK || !holds(&bytes, &target) {
                        fail(&format!("{n}: not a link to {target}"));
                    }
                    seen += 1;
                }
                if let Some(got) = contents(n)
                    && got != data
                {
                    fail(&format!("{n}: opened something other than {target}"));
                }
            }
            // Each round but one in three makes a link and looks at it
            // at once: another process can hardly remove every one first.
            if seen == 0 {
                fail(&format!("{ROUNDS} rounds and no link ever showed"));
            }
            exit(0);
        }
    }
    for _ in 0..CHILDREN {
        let mut status = 0;
        if wait(Some(&mut status)) < 0 || status != 0 {
            fail("a child failed");
        }
    }
    // Each name once at most, and a link to the target where it is.
    let fd = open(dir, O_RDONLY);
    if fd < 0 {
        fail("cannot open the directory");
    }
    let mut seen = Vec::new();
    let mut raw = [0u8; Dirent::SIZE];
    while read(fd, &mut raw) == Dirent::SIZE as i32 {
        let de = Dirent::decode(&raw);
        if de.inum != 0 {
            seen.push(de.name);
        }
    }
    close(fd);
    for n in &names {
        let short = n.rsplit('/').next().unwrap_or(n).as_bytes();
        let times = seen
            .iter()
            .filter(|e| Dirent::new(0, short).name == **e)
            .count();
        if times > 1 {
            fail(&format!("{n} is in the directory {times} times"));
        }
        if times == 1 {
            expect_link(n, &target);
        }
        unlink(n);
    }
    unlink(&target);
}

/// Runs `test` in a child; prints `test NAME: ok` if it exits 0.
fn run(name: &str, test: impl FnOnce()) -> bool {
    println!("Start: test {name}");
    let pid = fork();
    if pid < 0 {
        fail("fork failed");
    }
    if pid == 0 {
        test();
        exit(0);
    }
    let mut status = 1;
    wait(Some(&mut status));
    if status == 0 {
        println!("test {name}: ok");
    } else {
        println!("test {name}: failed");
    }
    status == 0
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let seed = match args.get(1) {
        None => 1,
        Some(s) => s
            .parse::<u64>()
            .unwrap_or_else(|_| fail("usage: symlinktest [SEED] (SEED a number)")),
    };
    let dir = format!("/sl{}", seed % 100_000_000_000);
    debug_assert!(dir.len() <= DIRSIZ + 1);
    if mkdir(&dir) < 0 {
        fail(&format!(
            "cannot make {dir} (left by a run with this seed?)"
        ));
    }
    let ok = run("symlinks", || symlinks(seed, &dir))
        & run("concurrent symlinks", || concurrent(seed, &dir));
    unlink(&dir);
    if ok { 0 } else { 1 }
}
