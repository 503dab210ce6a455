#![no_std]
#![no_main]
//! mmaptest (mmap lab): MIT's tests of mmap and munmap, with file contents
//! and sizes drawn afresh each run (a kernel cannot pass by knowing them).
//!
//! Prints MIT 2020's `test mmap f: OK`, `test mmap private: OK`, `test mmap
//! read-only: OK`, `test mmap read/write: OK`, `test mmap dirty: OK`,
//! `test not-mapped unmap: OK`, `test mmap two files: OK`, `mmap_test: ALL
//! OK` and `fork_test OK`; then MIT 2024's `test basic mmap: OK` and `test
//! fork: OK`, and in its style `test mmap lazy: OK` (pages take memory
//! only when touched), `test munmap no-access: OK` and `test mmap
//! read-only write: OK`; then (beyond MIT's tests) `test mmap exit: OK`,
//! `test mmap exec: OK`, `test mmap read into mapping: OK`, `test mmap
//! write from mapping: OK` and `mmaptest: all tests succeeded`. On the
//! first failure it prints `mmaptest: <test> failed: <what>` and exits 1.
//!
//! `mmaptest heap`, for kernels with lazy's sbrk, tests only that the heap
//! and mappings keep apart (`test mmap heap: OK`). `mmaptest exec-probe
//! ADDR` is the program the exec test runs: it exits 0 if nothing is mapped
//! at ADDR any more, 3 if something is.

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

/// Maps `len` bytes of file `f`, opened with `omode`, and closes the
/// descriptor (the mapping keeps the file open); fails `test` if mmap does.
fn map_file(test: &str, f: &str, omode: i32, len: usize, prot: i32, flags: i32) -> u64 {
    let fd = open(f, omode);
    let p = mmap(len, prot, flags, fd, 0);
    close(fd);
    if p == MAP_FAILED {
        fail(test, "mmap returned -1");
    }
    p
}

/// munmap, failing `test` if it returns -1.
fn unmap(test: &str, addr: u64, len: usize) {
    if munmap(addr, len) != 0 {
        fail(test, "munmap returned -1");
    }
}

/// Writes `v` over `bytes` of the mapping at `addr`.
fn fill(addr: u64, bytes: core::ops::Range<usize>, v: u8) {
    for i in bytes {
        set_byte(addr, i, v);
    }
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
    unmap(t, p, len);
    println!("test mmap f: OK");

    // private: writes stay in memory, the file keeps its bytes.
    let t = "mmap private";
    let p = mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if p == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    fill(p, 0..len, b'Z');
    for i in 0..len {
        if byte(p, i) != b'Z' {
            fail(t, "write to a private mapping lost");
        }
    }
    unmap(t, p, len);
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
    fill(p, 0..PGSIZE, mark);
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

/// MIT 2024's basic test, on a file of its own: a read-only private map
/// shows the file (zeros after its end), a writable private map keeps its
/// writes from the file, and a shared one's writes reach the file at
/// munmap.
fn basic_test() {
    let t = "basic mmap";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let fd = open(f, O_RDWR);
    let ro = mmap(len, PROT_READ, MAP_PRIVATE, fd, 0);
    let private = mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    let shared = mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if ro == MAP_FAILED || private == MAP_FAILED || shared == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    check(t, ro, &data);
    let (m1, m2) = (rand() as u8 | 1, rand() as u8 | 1);
    fill(private, 0..len, m1);
    if (0..len).any(|i| byte(private, i) != m1) {
        fail(t, "write to a private mapping lost");
    }
    unmap(t, private, len);
    if read_file(t, f, len) != data {
        fail(t, "a private mapping changed the file");
    }
    check(t, ro, &data);
    fill(shared, 0..len, m2);
    if munmap(shared, len) != 0 || munmap(ro, len) != 0 {
        fail(t, "munmap returned -1");
    }
    if read_file(t, f, len).iter().any(|&b| b != m2) {
        fail(t, "munmap did not write a shared mapping back");
    }
    unlink(f);
    println!("test basic mmap: OK");
}

/// MIT 2024's fork test: two mappings of a file unlinked while mapped; the
/// parent touches only the second page; the child sees both whole and
/// unmaps the first page of one, which leaves the parent's alone.
fn fork_test_2024() {
    let t = "fork (2024)";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let fd = open(f, O_RDONLY);
    // The mappings keep the file: it has no name from here on.
    unlink(f);
    let p1 = mmap(len, PROT_READ, MAP_SHARED, fd, 0);
    let p2 = mmap(len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if p1 == MAP_FAILED || p2 == MAP_FAILED {
        fail(t, "mmap returned -1");
    }
    if byte(p1, PGSIZE) != data[PGSIZE] {
        fail(t, "mapped byte differs from the file");
    }
    let pid = fork();
    if pid < 0 {
        fail(t, "fork failed");
    }
    if pid == 0 {
        check(t, p1, &data);
        check(t, p2, &data);
        if munmap(p1, PGSIZE) != 0 {
            exit(2);
        }
        check(t, p1.wrapping_add(PGSIZE as u64), &data[PGSIZE..]);
        exit(0);
    }
    let mut st = -1;
    wait(Some(&mut st));
    match st {
        0 => {}
        2 => fail(t, "the child's munmap of a first page returned -1"),
        _ => fail(t, "the child's mappings were wrong"),
    }
    check(t, p1, &data);
    check(t, p2, &data);
    if munmap(p1, len) != 0 || munmap(p2, len) != 0 {
        fail(t, "munmap returned -1");
    }
    println!("test fork: OK");
}

/// Free pages may differ by this much between two counts that should be
/// equal: on a copy-on-write kernel the parent copies its stack page after
/// countfree's fork at a moment the scheduler picks. (Exact elsewhere.)
const SLACK: usize = 2;

fn free_pages(test: &str) -> usize {
    countfree().unwrap_or_else(|| fail(test, "cannot count the free pages"))
}

fn near(a: usize, b: usize) -> bool {
    a.abs_diff(b) <= SLACK
}

/// Pages come from the file when touched, not at mmap: mapping 24 pages
/// takes no memory; touching some takes one page each.
fn lazy_test() {
    let t = "mmap lazy";
    let f = "mmap.dur";
    const PAGES: usize = 24;
    let len = PAGES * PGSIZE - rand() as usize % (PGSIZE / 2);
    let data = make_file(t, f, len);
    // Drawn (and allocated) before the counts: 6 to 12 distinct pages.
    let mut touch: Vec<usize> = (0..PAGES).collect();
    for i in (1..PAGES).rev() {
        touch.swap(i, rand() as usize % (i + 1));
    }
    touch.truncate(6 + rand() as usize % 7);
    let before = free_pages(t);
    let p = map_file(t, f, O_RDONLY, len, PROT_READ, MAP_PRIVATE);
    let mapped = free_pages(t);
    for &pg in &touch {
        let i = (pg * PGSIZE + rand() as usize % PGSIZE).min(len - 1);
        if byte(p, i) != data[i] {
            fail(t, "mapped byte differs from the file");
        }
    }
    let touched = free_pages(t);
    unmap(t, p, len);
    let after = free_pages(t);
    println!(
        "mmap lazy: {} pages mapped, {} touched; free pages {} {} {} {}",
        PAGES,
        touch.len(),
        before,
        mapped,
        touched,
        after
    );
    if !near(before, mapped) {
        fail(t, "mmap took memory before any page was touched");
    }
    if !near(mapped, touched + touch.len()) {
        fail(t, "touching pages did not take one page of memory each");
    }
    if !near(before, after) {
        fail(t, "munmap did not give the touched pages back");
    }
    unlink(f);
    println!("test mmap lazy: OK");
}

/// Runs `f` in a child (which then exits 0); returns its exit status (-1:
/// killed).
fn child_status(test: &str, f: impl FnOnce()) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(test, "fork failed");
    }
    if pid == 0 {
        f();
        exit(0);
    }
    let mut st = 0;
    if wait(Some(&mut st)) != pid {
        fail(test, "wait did not return the child");
    }
    st
}

/// munmap of a mapping none of whose pages was touched: it succeeds,
/// leaves the memory as it was, and the range is no longer mapped.
fn munmap_untouched_test() {
    let t = "munmap no-access";
    let f = "mmap.dur";
    let len = 8 * PGSIZE - rand() as usize % (PGSIZE / 2);
    let data = make_file(t, f, len);
    let before = free_pages(t);
    let p = map_file(t, f, O_RDWR, len, PROT_READ | PROT_WRITE, MAP_SHARED);
    if munmap(p, len) != 0 {
        fail(t, "munmap of a mapping never touched returned -1");
    }
    if !near(before, free_pages(t)) {
        fail(t, "munmap left memory behind");
    }
    for i in [0, len / 2, len - 1] {
        if child_status(t, || {
            byte(p, i);
        }) != -1
        {
            fail(t, "the range was still mapped after munmap");
        }
    }
    if read_file(t, f, len) != data {
        fail(t, "munmap changed the file");
    }
    unlink(f);
    println!("test munmap no-access: OK");
}

/// A store to a PROT_READ mapping, shared and of a writable descriptor,
/// kills the process, whether or not the page was read first; the file
/// keeps its bytes.
fn read_only_write_test() {
    let t = "mmap read-only write";
    let f = "mmap.dur";
    let len = file_size();
    let data = make_file(t, f, len);
    let p = map_file(t, f, O_RDWR, len, PROT_READ, MAP_SHARED);
    let mark = !data[0];
    // The first page read before the store, the second not.
    for (page, read_first) in [(0, true), (1, false)] {
        let st = child_status(t, || {
            if read_first && byte(p, page * PGSIZE) != data[page * PGSIZE] {
                exit(2);
            }
            set_byte(p, page * PGSIZE, mark);
        });
        match st {
            -1 => {}
            2 => fail(t, "mapped byte differs from the file"),
            _ => fail(t, "a store to a PROT_READ mapping did not kill the process"),
        }
    }
    check(t, p, &data);
    unmap(t, p, len);
    if read_file(t, f, len) != data {
        fail(t, "a PROT_READ mapping changed the file");
    }
    unlink(f);
    println!("test mmap read-only write: OK");
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
    fill(p, bytes, mark);
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
    let p = map_file(t, f, O_RDWR, len, PROT_READ | PROT_WRITE, MAP_SHARED);
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
    unmap(t, p, len);
    let now = read_file(t, f, len);
    if now[..PGSIZE] != data[PGSIZE..2 * PGSIZE] || now[PGSIZE..] != data[PGSIZE..] {
        fail(t, "the file does not hold what read wrote into the mapping");
    }
    println!("test mmap read into mapping: OK");

    // The mapping's untouched third page written over the file's start.
    let t = "mmap write from mapping";
    let q = map_file(t, f, O_RDONLY, len, PROT_READ, MAP_PRIVATE);
    let fd = open(f, O_WRONLY);
    // SAFETY: inside the mapping, which is readable.
    let n = unsafe { sys::write(fd, (q as usize + 2 * PGSIZE) as *const u8, rest) };
    close(fd);
    if n != rest as isize {
        fail(t, "write from the mapping did not write everything");
    }
    unmap(t, q, len);
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

/// Moves the end of the heap to `to` in steps sbrk's int can take; false
/// as soon as one fails.
fn sbrk_to(to: usize) -> bool {
    const STEP: usize = 1 << 30;
    loop {
        let at = sbrk(0) as usize;
        if at == to {
            return true;
        }
        let n = if to > at {
            (to - at).min(STEP) as i32
        } else {
            -((at - to).min(STEP) as i32)
        };
        if sbrk_failed(sbrk(n)) {
            return false;
        }
    }
}

/// `mmaptest heap`, for kernels with lazy's sbrk (which only moves the end
/// of memory, so the heap can reach a mapping near the top): sbrk may grow
/// the heap up to a mapping but not over it, and a new mapping does not go
/// over the heap. Prints `test mmap heap: OK`.
fn heap_test() {
    let t = "mmap heap";
    let f = "mmap.dur";
    let (len, l2) = (file_size(), file_size());
    let data = make_file(t, f, len);
    let d2 = make_file(t, "mmap2", l2);
    let p = map_file(t, f, O_RDONLY, len, PROT_READ, MAP_PRIVATE);
    check(t, p, &data);
    let start = sbrk(0) as usize;
    let p = p as usize;
    if p < start {
        fail(t, "the mapping is below the end of the heap");
    }
    if !sbrk_to(p - PGSIZE) {
        fail(
            t,
            "sbrk to below the mapping failed (does this kernel have lazy's sbrk?)",
        );
    }
    if !sbrk_failed(sbrk(2 * PGSIZE as i32)) {
        fail(t, "sbrk grew the heap over the mapping");
    }
    if sbrk(0) as usize != p - PGSIZE {
        fail(t, "a failed sbrk moved the end of the heap");
    }
    // Up to the mapping, not into it.
    let last = sbrk(PGSIZE as i32);
    if last as usize != p - PGSIZE {
        fail(t, "sbrk up to the mapping failed");
    }
    if !sbrk_failed(sbrk(1)) {
        fail(t, "sbrk of one byte into the mapping succeeded");
    }
    // The heap's last page is its own: zero, and writing it leaves the
    // mapping as it was.
    let last = last as u64;
    if (0..PGSIZE).any(|i| byte(last, i) != 0) {
        fail(t, "the heap's new page is not zero");
    }
    fill(last, 0..PGSIZE, 0xa5);
    check(t, p as u64, &data);
    // No room between the heap and the mapping: a new mapping goes
    // elsewhere above the heap, or fails.
    let fd = open("mmap2", O_RDONLY);
    let q = mmap(l2, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if q != MAP_FAILED {
        // The heap ends at p: above it, clear of the first mapping.
        let q = q as usize;
        if q < p + len.div_ceil(PGSIZE) * PGSIZE {
            fail(t, "mmap placed a mapping over the heap or another mapping");
        }
        check(t, q as u64, &d2);
        if munmap(q as u64, l2) != 0 {
            fail(t, "munmap returned -1");
        }
    }
    if (0..PGSIZE).any(|i| byte(last, i) != 0xa5) {
        fail(t, "the heap's last page lost its bytes");
    }
    // Once the mapping is gone, the heap may take its place.
    if munmap(p as u64, len) != 0 {
        fail(t, "munmap returned -1");
    }
    if !sbrk_to(p + len) {
        fail(t, "sbrk over an unmapped mapping's range failed");
    }
    if !sbrk_to(start) {
        fail(t, "sbrk could not shrink the heap back");
    }
    unlink(f);
    unlink("mmap2");
    println!("test mmap heap: OK");
}

fn main(args: Args) -> i32 {
    if args.get(1) == Some("exec-probe") {
        return exec_probe(args.get(2));
    }
    user::tok_enable!();
    // SAFETY: one thread; before any use.
    unsafe { SEED = uptime() as u64 ^ (getpid() as u64) << 32 ^ 0x9e37_79b9 };
    if args.get(1) == Some("heap") {
        heap_test();
        return 0;
    }
    println!("mmap_test starting");
    mmap_test();
    println!("fork_test starting");
    fork_test();
    // MIT 2024's basic and fork tests, then three more of ours in its style.
    basic_test();
    fork_test_2024();
    lazy_test();
    munmap_untouched_test();
    read_only_write_test();
    exit_test();
    exec_test();
    file_io_test();
    println!("mmaptest: all tests succeeded");
    0
}
