#![no_std]
#![no_main]
//! mmaptest (mmap lab): MIT's tests of mmap and munmap, with file contents
//! and sizes drawn afresh each run (a kernel cannot pass by knowing them).
//!
//! Prints `test mmap f: OK`, `test mmap private: OK`, `test mmap
//! read-only: OK`, `test mmap read/write: OK`, `test mmap dirty: OK`,
//! `test not-mapped unmap: OK`, `test mmap two files: OK`, `mmap_test: ALL
//! OK`, then `fork_test OK`, then (beyond MIT's tests) `test mmap exit:
//! OK`, `test mmap exec: OK`, `test mmap read into mapping: OK`, `test mmap
//! write from mapping: OK` and `mmaptest: all tests succeeded`. On the first failure it prints
//! `mmaptest: <test> failed: <what>` and exits 1.
//!
//! `mmaptest exec-probe ADDR` is the program the exec test runs: it exits
//! 0 if nothing is mapped at ADDR any more, 3 if something is.

use abi::memlayout::PGSIZE;
use abi::mman::{MAP_FAILED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE};
use user::*;

entry!(main);

static mut SEED: u64 = 0;

fn rand() -> u64 {
    // SAFETY: one thread per process.
    unsafe {
        SEED = SEED
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        SEED >> 33
    }
}

fn fail(test: &str, why: &str) -> ! {
    println!("mmaptest: {} failed: {}", test, why);
    exit(1)
}

fn mmap(len: usize, prot: i32, flags: i32, fd: i32, off: i32) -> u64 {
    // SAFETY: the kernel checks every argument; the result is a number.
    unsafe { sys::mmap(0, len, prot, flags, fd, off) as u64 }
}

fn munmap(addr: u64, len: usize) -> i64 {
    // SAFETY: as for mmap.
    unsafe { sys::munmap(addr as usize, len) as i64 }
}

fn byte(addr: u64, i: usize) -> u8 {
    // SAFETY: callers read inside a mapping they made.
    unsafe { ((addr as usize + i) as *const u8).read_volatile() }
}

fn set_byte(addr: u64, i: usize, v: u8) {
    // SAFETY: as for byte, in a writable mapping.
    unsafe { ((addr as usize + i) as *mut u8).write_volatile(v) }
}

/// Writes a file `name` of `len` random bytes; returns them.
fn make_file(test: &str, name: &str, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|_| rand() as u8 | 1).collect();
    unlink(name);
    let fd = open(name, O_WRONLY | O_CREATE);
    if fd < 0 || write(fd, &data) != len as i32 {
        fail(test, "cannot write the test file");
    }
    close(fd);
    data
}

fn read_file(test: &str, name: &str, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let fd = open(name, O_RDONLY);
    if fd < 0 || read(fd, &mut buf) != len as i32 {
        fail(test, "cannot read the test file back");
    }
    close(fd);
    buf
}

/// The mapping at `addr` shows `data`, and zeros after it to the page end.
fn check(test: &str, addr: u64, data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        if byte(addr, i) != b {
            fail(test, "mapped byte differs from the file");
        }
    }
    for i in data.len()..data.len().div_ceil(PGSIZE) * PGSIZE {
        if byte(addr, i) != 0 {
            fail(test, "bytes past the end of the file are not zero");
        }
    }
}

fn file_size() -> usize {
    PGSIZE + PGSIZE / 4 + rand() as usize % (PGSIZE / 2)
}

fn mmap_test() {
    let f = "mmap.dur";
    // mmap f: a private read-only map shows the file.
    let t = "mmap f";
    let len = file_size();
    let data = make_file(t, f, len);
    let fd = open(f, O_RDONLY);
    let p = mmap(len, PROT_READ, MAP_PRIVATE, fd, 0);
    if p == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    check(t, p, &data);
    if munmap(p, len) != 0 {
        fail(t, "munmap returned -1");
    }
    println!("test mmap f: OK");

    // private: writes stay in memory, the file keeps its bytes.
    let t = "mmap private";
    let p = mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if p == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    for i in 0..len {
        set_byte(p, i, b'Z');
    }
    for i in 0..len {
        if byte(p, i) != b'Z' {
            fail(t, "write to a private mapping lost");
        }
    }
    if munmap(p, len) != 0 {
        fail(t, "munmap returned -1");
    }
    if read_file(t, f, len) != data {
        fail(t, "a private mapping changed the file");
    }
    println!("test mmap private: OK");

    // read-only: a shared writable map of a read-only descriptor fails.
    let t = "mmap read-only";
    if mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) != MAP_FAILED {
        fail(
            t,
            "mmap of a read-only file as shared and writable succeeded",
        );
    }
    close(fd);
    println!("test mmap read-only: OK");

    // read/write: a shared writable map changes the file on munmap.
    let t = "mmap read/write";
    let fd = open(f, O_RDWR);
    let p = mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if p == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    check(t, p, &data);
    let mark = (rand() as u8) | 1;
    // Write only the first page: the second stays clean.
    for i in 0..PGSIZE {
        set_byte(p, i, mark);
    }
    close(fd);
    // The mapping keeps the file open: reads still work after close.
    check(t, p.wrapping_add(PGSIZE as u64), &data[PGSIZE..]);
    println!("test mmap read/write: OK");

    // dirty: munmap writes the dirty page back, within the file's size.
    let t = "mmap dirty";
    if munmap(p, PGSIZE) != 0 {
        fail(t, "munmap of the first page returned -1");
    }
    let now = read_file(t, f, len);
    if now[..PGSIZE].iter().any(|&b| b != mark) || now[PGSIZE..] != data[PGSIZE..] {
        fail(t, "the file does not hold the written page (only)");
    }
    println!("test mmap dirty: OK");

    // not-mapped unmap: the rest goes; the first page is not mapped again.
    let t = "not-mapped unmap";
    if munmap(p.wrapping_add(PGSIZE as u64), len - PGSIZE) != 0 {
        fail(t, "munmap of the rest returned -1");
    }
    println!("test not-mapped unmap: OK");

    // two files at once.
    let t = "mmap two files";
    let (l1, l2) = (file_size(), 1 + rand() as usize % PGSIZE);
    let d1 = make_file(t, "mmap1", l1);
    let d2 = make_file(t, "mmap2", l2);
    let (fd1, fd2) = (open("mmap1", O_RDONLY), open("mmap2", O_RDONLY));
    let p1 = mmap(l1, PROT_READ, MAP_PRIVATE, fd1, 0);
    let p2 = mmap(l2, PROT_READ, MAP_PRIVATE, fd2, 0);
    close(fd1);
    close(fd2);
    if p1 == MAP_FAILED || p2 == MAP_FAILED || p1 == p2 {
        fail(t, "mmap returned -1 or one address twice");
    }
    check(t, p1, &d1);
    check(t, p2, &d2);
    if munmap(p1, l1) != 0 || munmap(p2, l2) != 0 {
        fail(t, "munmap returned -1");
    }
    unlink("mmap1");
    unlink("mmap2");
    println!("test mmap two files: OK");
    println!("mmap_test: ALL OK");
}

fn fork_test() {
    let t = "fork_test";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let fd = open(f, O_RDONLY);
    let p1 = mmap(len, PROT_READ, MAP_PRIVATE, fd, 0);
    let p2 = mmap(len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if p1 == MAP_FAILED || p2 == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    // The parent faults in only the first page of p1 before forking.
    if byte(p1, 0) != data[0] {
        fail(t, "mapped byte differs from the file");
    }
    let pid = fork();
    if pid < 0 {
        fail(t, "fork failed");
    }
    if pid == 0 {
        check(t, p1, &data);
        check(t, p2, &data);
        exit(0);
    }
    let mut st = -1;
    wait(Some(&mut st));
    if st != 0 {
        fail(t, "the child's mappings were wrong");
    }
    check(t, p1, &data);
    check(t, p2, &data);
    if munmap(p1, len) != 0 || munmap(p2, len) != 0 {
        fail(t, "munmap returned -1");
    }
    unlink(f);
    println!("fork_test OK");
}

/// In a child: maps `f` shared and read/write, closes it, and writes
/// `mark` over `bytes` of the mapping; exits 4 if mmap fails.
fn map_and_mark(f: &str, len: usize, bytes: core::ops::Range<usize>, mark: u8) -> u64 {
    let fd = open(f, O_RDWR);
    let p = mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if p == MAP_FAILED {
        exit(4);
    }
    for i in bytes {
        set_byte(p, i, mark);
    }
    p
}

/// exit writes back: a child writes to a shared mapping and exits without
/// munmap; the file then holds what it wrote.
fn exit_test() {
    let t = "mmap exit";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let mark = (rand() as u8) | 1;
    let pid = fork();
    if pid < 0 {
        fail(t, "fork failed");
    }
    if pid == 0 {
        // The last page only, up to the end of the file.
        map_and_mark(f, len, PGSIZE..len, mark);
        exit(0);
    }
    let mut st = -1;
    wait(Some(&mut st));
    if st != 0 {
        fail(t, "the child's mmap failed");
    }
    let now = read_file(t, f, len);
    if now[..PGSIZE] != data[..PGSIZE] || now[PGSIZE..].iter().any(|&b| b != mark) {
        fail(t, "exit did not write the mapping's dirty page back");
    }
    unlink(f);
    println!("test mmap exit: OK");
}

/// exec ends the old image's mappings: a child writes to a shared mapping
/// and execs; the file then holds what it wrote, and the new image has
/// nothing at the old address.
fn exec_test() {
    let t = "mmap exec";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let mark = (rand() as u8) | 1;
    let pid = fork();
    if pid < 0 {
        fail(t, "fork failed");
    }
    if pid == 0 {
        let p = map_and_mark(f, len, 0..PGSIZE, mark);
        let addr = format!("{}", p);
        exec("mmaptest", &["mmaptest", "exec-probe", addr.as_str()]);
        exit(5);
    }
    let mut st = -1;
    wait(Some(&mut st));
    match st {
        0 => {}
        3 => fail(t, "the mapping is still there after exec"),
        4 => fail(t, "mmap returned -1"),
        5 => fail(t, "exec failed"),
        _ => fail(t, "the exec'd probe did not exit normally"),
    }
    let now = read_file(t, f, len);
    if now[..PGSIZE].iter().any(|&b| b != mark) || now[PGSIZE..] != data[PGSIZE..] {
        fail(t, "exec did not write the mapping's dirty page back");
    }
    unlink(f);
    println!("test mmap exec: OK");
}

/// The exec test's new image: is anything mapped at `addr`? A write from
/// there to a file succeeds if so (it would fault a surviving mapping in).
fn exec_probe(addr: Option<&str>) -> i32 {
    let Some(addr) = addr.and_then(|a| a.parse::<usize>().ok()) else {
        return 2;
    };
    let f = "mmap.probe";
    let fd = open(f, O_WRONLY | O_CREATE);
    // SAFETY: the kernel checks the address; nothing here reads it.
    let n = unsafe { sys::write(fd, addr as *const u8, 1) };
    close(fd);
    unlink(f);
    if n == 1 { 3 } else { 0 }
}

/// read() and write() between a file and a mapping of that same file, on
/// pages not yet faulted in: the kernel copies holding the file's inode
/// and buffer locks, and a page-in needs them too.
fn file_io_test() {
    let t = "mmap read into mapping";
    let f = "mmap.dur";
    let len = 2 * PGSIZE + 1 + rand() as usize % (PGSIZE - 1);
    let data = make_file(t, f, len);
    let fd = open(f, O_RDWR);
    let p = mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if p == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    let fd = open(f, O_RDONLY);
    let mut skip = vec![0u8; PGSIZE];
    if read(fd, &mut skip) != PGSIZE as i32 {
        fail(t, "cannot read the test file");
    }
    // The file's second page into the mapping's first, then its third page
    // into the mapping's third (the very block the page-in reads).
    // SAFETY: inside the mapping, which is writable.
    let n1 = unsafe { sys::read(fd, p as *mut u8, PGSIZE as i32) };
    let rest = (len - 2 * PGSIZE) as i32;
    // SAFETY: as above.
    let n2 = unsafe { sys::read(fd, (p as usize + 2 * PGSIZE) as *mut u8, rest) };
    close(fd);
    if n1 != PGSIZE as isize || n2 != rest as isize {
        fail(t, "read into the mapping did not read everything");
    }
    for i in 0..PGSIZE {
        if byte(p, i) != data[PGSIZE + i] {
            fail(t, "the mapping does not hold what read put there");
        }
    }
    check(t, p.wrapping_add(2 * PGSIZE as u64), &data[2 * PGSIZE..]);
    // What read wrote is dirty: munmap writes it back.
    if munmap(p, len) != 0 {
        fail(t, "munmap returned -1");
    }
    let now = read_file(t, f, len);
    if now[..PGSIZE] != data[PGSIZE..2 * PGSIZE] || now[PGSIZE..] != data[PGSIZE..] {
        fail(t, "the file does not hold what read wrote into the mapping");
    }
    println!("test mmap read into mapping: OK");

    // The mapping's untouched third page written over the file's start.
    let t = "mmap write from mapping";
    let fd = open(f, O_RDONLY);
    let q = mmap(len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if q == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    let fd = open(f, O_WRONLY);
    // SAFETY: inside the mapping, which is readable.
    let n = unsafe { sys::write(fd, (q as usize + 2 * PGSIZE) as *const u8, rest) };
    close(fd);
    if n != rest as isize {
        fail(t, "write from the mapping did not write everything");
    }
    if munmap(q, len) != 0 {
        fail(t, "munmap returned -1");
    }
    let mut want = now;
    want[..rest as usize].copy_from_slice(&data[2 * PGSIZE..]);
    if read_file(t, f, len) != want {
        fail(
            t,
            "the file does not hold what was written from the mapping",
        );
    }
    unlink(f);
    println!("test mmap write from mapping: OK");
}

fn main(args: Args) -> i32 {
    if args.get(1) == Some("exec-probe") {
        return exec_probe(args.get(2));
    }
    user::tok_enable!();
    // SAFETY: one thread; before any use.
    unsafe { SEED = uptime() as u64 ^ (getpid() as u64) << 32 ^ 0x9e37_79b9 };
    println!("mmap_test starting");
    mmap_test();
    println!("fork_test starting");
    fork_test();
    exit_test();
    exec_test();
    file_io_test();
    println!("mmaptest: all tests succeeded");
    0
}
