#![no_std]
#![no_main]
//! badinput: evidence that nothing a user program passes to the kernel makes
//! it panic. Each case runs in a child process of its own and prints
//! `badinput: <case> ok` when the kernel did the right thing (the call
//! returned -1 and the child lived on, or a wild memory access got the child
//! killed), else `badinput: <case> FAILED (<why>)`. The last line is
//! `badinput: ALL OK`, or the program exits with status 1.
//!
//! Expect the kernel's own lines in between: `<pid> badinput: unknown sys
//! call 99` and a `usertrap(): ...` report for each child it kills.

use abi::elf::{ElfHeader, PT_LOAD, ProgramHeader};
use abi::memlayout::{KERNBASE, MAXVA, PGSIZE, TRAMPOLINE};
use core::arch::asm;
use core::ffi::CStr;
use core::fmt;
use user::*;

entry!(main);

const DATA: &str = "badinput.dat";
const SCRIPT: &str = "badinput.txt";
/// The first 100 bytes of `echo`: the ELF header and part of a program header.
const ELF_SHORT: &str = "badinput.e100";
/// `echo` cut in the middle of its program header table.
const ELF_PHDRS: &str = "badinput.eph";
/// `echo` cut in the middle of a loadable segment.
const ELF_SEGMENT: &str = "badinput.eseg";
const FILES: [&str; 5] = [DATA, SCRIPT, ELF_SHORT, ELF_PHDRS, ELF_SEGMENT];

const ECHO: &CStr = c"/echo";
/// The highest page of the 64-bit address space.
const TOP_PAGE: usize = 0xffff_ffff_ffff_f000;
/// A child that made every call of its case and saw the right results exits
/// with this: not 0, so a program that `exec` wrongly started cannot pass.
const PASSED: i32 = 42;

fn main(_args: Args) -> i32 {
    if let Err(why) = setup() {
        println!("badinput: cannot prepare its files: {why}");
        cleanup();
        return 1;
    }
    let mut failed = 0;
    for case in CASES {
        if !run(case) {
            failed += 1;
        }
    }
    cleanup();
    if failed > 0 {
        println!("badinput: {failed} of {} cases FAILED", CASES.len());
        return 1;
    }
    println!("badinput: ALL OK");
    0
}

/// What the kernel must do with a case's child.
#[derive(Clone, Copy)]
enum Expect {
    /// Every call returns (with -1 where the input is bad).
    Returns,
    /// The child is killed: exit status -1.
    Killed,
}

struct Case {
    name: &'static str,
    expect: Expect,
    /// Runs in the child; says what went wrong.
    body: fn(&Probe) -> Result<(), String>,
}

const CASES: &[Case] = &[
    returns("unknown syscall 99", unknown_syscall_99),
    returns("unknown syscall -1", unknown_syscall_negative),
    returns("read into bad buffers", read_bad),
    returns("write from bad buffers", write_bad),
    returns("open bad paths", open_bad),
    returns("exec bad paths and argv", exec_bad),
    returns("fstat into bad buffers", fstat_bad),
    returns("pipe into bad buffers", pipe_bad),
    returns("wait into bad buffers", wait_bad),
    returns("other calls with bad paths", paths_bad),
    returns("exec of a text file", exec_text),
    returns("exec of the first 100 bytes of echo", exec_short),
    returns("exec of echo cut in its program headers", exec_cut_phdrs),
    returns("exec of echo cut mid-segment", exec_cut_segment),
    returns("sbrk(0x7fffffff)", sbrk_huge),
    returns("sbrk(-0x7fffffff)", sbrk_minus_huge),
    returns("sbrk below address 0", sbrk_below_zero),
    killed("store to 0x80000000", store_kernbase),
    killed("store to MAXVA", store_maxva),
    killed("store to 0xfffffffffffff000", store_top_page),
    killed("load from the trampoline", load_trampoline),
    killed("store to the stack guard page", store_guard),
    killed("jump to 0x80000000", jump_kernbase),
];

const fn returns(name: &'static str, body: fn(&Probe) -> Result<(), String>) -> Case {
    Case {
        name,
        expect: Expect::Returns,
        body,
    }
}

const fn killed(name: &'static str, body: fn(&Probe) -> Result<(), String>) -> Case {
    Case {
        name,
        expect: Expect::Killed,
        body,
    }
}

/// The child's end of a pipe to the parent. Before each risky call the child
/// writes a line naming it, so that if the kernel kills the child the
/// parent can say during which call.
struct Probe {
    fd: i32,
}

impl Probe {
    fn at(&self, what: fmt::Arguments) {
        fprintln!(self.fd, "{}", what);
    }
}

/// Notes the call described by the format arguments, makes it, and ends the
/// case with an error unless it returned -1. Formats without allocating, so
/// it does not move the break between a case measuring it and the call.
macro_rules! must_fail {
    ($probe:expr, $call:expr, $($what:tt)*) => {{
        $probe.at(format_args!($($what)*));
        let r = $call;
        if r != -1 {
            return Err(format!("{} returned {}, want -1", format_args!($($what)*), r));
        }
    }};
}

/// Runs one case in a child and prints its line; true if it went right.
fn run(case: &Case) -> bool {
    let verdict = run_child(case);
    match &verdict {
        Ok(()) => println!("badinput: {} ok", case.name),
        Err(why) => println!("badinput: {} FAILED ({})", case.name, why),
    }
    verdict.is_ok()
}

fn run_child(case: &Case) -> Result<(), String> {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        return Err(String::from("pipe failed"));
    }
    let pid = fork();
    if pid < 0 {
        close(fds[0]);
        close(fds[1]);
        return Err(String::from("fork failed"));
    }
    if pid == 0 {
        close(fds[0]);
        let probe = Probe { fd: fds[1] };
        match (case.body)(&probe) {
            Ok(()) => exit(PASSED),
            Err(why) => {
                probe.at(format_args!("{why}"));
                exit(1);
            }
        }
    }
    close(fds[1]);
    // Read to the end first: the child may write more than a pipe holds.
    let last = last_line(fds[0]);
    close(fds[0]);
    let mut status = 0;
    let waited = wait(Some(&mut status));
    if waited != pid {
        return Err(format!("wait returned {waited}, not the child {pid}"));
    }
    match (case.expect, status) {
        (Expect::Returns, PASSED) | (Expect::Killed, -1) => Ok(()),
        (Expect::Returns, -1) => Err(format!("killed during {last}")),
        (_, 1) => Err(last),
        (Expect::Returns, _) => Err(format!("exited with status {status} after {last}")),
        (Expect::Killed, _) => Err(format!("not killed: exit status {status}")),
    }
}

/// The last line the child wrote, as text.
fn last_line(fd: i32) -> String {
    let mut all = Vec::new();
    let mut chunk = [0u8; 128];
    loop {
        let n = read(fd, &mut chunk);
        if n <= 0 {
            break;
        }
        all.extend_from_slice(&chunk[..n as usize]);
    }
    let text = all.strip_suffix(b"\n").unwrap_or(&all);
    let start = text.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    if start == text.len() {
        return String::from("the start");
    }
    format!("{}", Show(&text[start..]))
}

// The raw calls below hand the kernel addresses the process does not own
// (or does not own entirely). The kernel must check them; the process never
// touches them itself, so Rust's view of memory is not involved.

fn raw_read(fd: i32, addr: usize, n: i32) -> isize {
    // SAFETY: see above.
    unsafe { sys::read(fd, addr as *mut u8, n) }
}

fn raw_write(fd: i32, addr: usize, n: i32) -> isize {
    // SAFETY: see above; the kernel only reads through `addr`.
    unsafe { sys::write(fd, addr as *const u8, n) }
}

fn raw_open(path: usize, flags: i32) -> isize {
    // SAFETY: see above.
    unsafe { sys::open(path as *const u8, flags) }
}

fn raw_exec(path: usize, argv: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::exec(path as *const u8, argv as *const *const u8) }
}

fn raw_fstat(fd: i32, addr: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::fstat(fd, addr as *mut Stat) }
}

fn raw_pipe(addr: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::pipe(addr as *mut i32) }
}

fn raw_wait(addr: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::wait(addr as *mut i32) }
}

fn raw_chdir(path: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::chdir(path as *const u8) }
}

fn raw_mkdir(path: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::mkdir(path as *const u8) }
}

fn raw_unlink(path: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::unlink(path as *const u8) }
}

fn raw_mknod(path: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::mknod(path as *const u8, abi::dev::CONSOLE, 0) }
}

fn raw_link(old: usize, new: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::link(old as *const u8, new as *const u8) }
}

fn raw_syscall(num: usize) -> isize {
    // SAFETY: the cases pass numbers of no system call, so the kernel acts
    // on nothing.
    unsafe { sys::syscall(num, [0; 6]) }
}

fn raw_sbrk(n: i32) -> isize {
    // SAFETY: sbrk takes no pointer; the cases only shrink memory no Rust
    // object lives in, or ask for changes the kernel must refuse.
    unsafe { sys::sbrk(n) }
}

/// Addresses no system call may read or write for this process: just past
/// the break, kernel memory, the trampoline (mapped, but not for user
/// mode), and beyond MAXVA.
fn bad_addresses() -> [usize; 5] {
    let past_break = (sbrk(0) as usize).next_multiple_of(PGSIZE);
    [past_break, KERNBASE, TRAMPOLINE, MAXVA, TOP_PAGE]
}

/// Grows the heap so that it ends on a page boundary, with a fresh page
/// just below; returns that boundary: bytes below it are ours, bytes from
/// it on are not.
fn heap_edge() -> Result<usize, String> {
    let brk = sbrk(0) as usize;
    let edge = brk.next_multiple_of(PGSIZE) + PGSIZE;
    if sbrk_failed(sbrk((edge - brk) as i32)) {
        return Err(String::from("sbrk failed while growing the heap"));
    }
    Ok(edge)
}

/// Writes `byte` to the `n` bytes just below `edge`, which [`heap_edge`]
/// gave us.
fn fill_below(edge: usize, n: usize, byte: u8) {
    // SAFETY: heap_edge added the page below `edge` to our memory, and no
    // Rust object lives there (the allocator only uses memory it got from
    // sbrk itself).
    unsafe { core::ptr::write_bytes((edge - n) as *mut u8, byte, n) };
}

fn open_data(flags: i32) -> Result<i32, String> {
    let fd = open(DATA, flags);
    if fd < 0 {
        return Err(format!("cannot open {DATA}"));
    }
    Ok(fd)
}

fn unknown_syscall_99(p: &Probe) -> Result<(), String> {
    must_fail!(p, raw_syscall(99), "syscall 99");
    Ok(())
}

fn unknown_syscall_negative(p: &Probe) -> Result<(), String> {
    must_fail!(p, raw_syscall(usize::MAX), "syscall -1");
    Ok(())
}

fn read_bad(p: &Probe) -> Result<(), String> {
    for addr in bad_addresses() {
        let fd = open_data(O_RDONLY)?;
        must_fail!(p, raw_read(fd, addr, 100), "read(fd, {addr:#x}, 100)");
        close(fd);
    }
    let fd = open_data(O_RDONLY)?;
    let edge = heap_edge()?;
    must_fail!(
        p,
        raw_read(fd, edge - 10, 100),
        "read(fd, end of memory - 10, 100)"
    );
    close(fd);
    Ok(())
}

fn write_bad(p: &Probe) -> Result<(), String> {
    for addr in bad_addresses() {
        let fd = open_data(O_RDWR)?;
        must_fail!(p, raw_write(fd, addr, 100), "write(fd, {addr:#x}, 100)");
        close(fd);
    }
    let fd = open_data(O_RDWR)?;
    let edge = heap_edge()?;
    must_fail!(
        p,
        raw_write(fd, edge - 10, 100),
        "write(fd, end of memory - 10, 100)"
    );
    close(fd);
    Ok(())
}

fn open_bad(p: &Probe) -> Result<(), String> {
    for addr in bad_addresses() {
        must_fail!(p, raw_open(addr, O_RDONLY), "open({addr:#x}, O_RDONLY)");
        must_fail!(
            p,
            raw_open(addr, O_CREATE | O_RDWR),
            "open({addr:#x}, O_CREATE|O_RDWR)"
        );
    }
    let edge = heap_edge()?;
    fill_below(edge, 64, b'a');
    must_fail!(
        p,
        raw_open(edge - 64, O_CREATE | O_RDWR),
        "open of a path running off the end of memory"
    );
    Ok(())
}

fn exec_bad(p: &Probe) -> Result<(), String> {
    let echo = ECHO.as_ptr() as usize;
    let argv = [echo, 0];
    let good_argv = argv.as_ptr() as usize;
    for addr in bad_addresses() {
        must_fail!(p, raw_exec(addr, good_argv), "exec({addr:#x}, argv)");
        must_fail!(p, raw_exec(echo, addr), "exec(/echo, {addr:#x})");
        let argv = [echo, addr, 0];
        must_fail!(
            p,
            raw_exec(echo, argv.as_ptr() as usize),
            "exec(/echo, [/echo, {addr:#x}])"
        );
    }

    // The argv array has no terminating null before memory ends.
    let edge = heap_edge()?;
    let last_slots = (edge - 16) as *mut usize;
    // SAFETY: the 16 bytes below `edge` are ours (see fill_below), and
    // 8-aligned since `edge` is page-aligned.
    unsafe {
        last_slots.write(echo);
        last_slots.add(1).write(echo);
    }
    must_fail!(
        p,
        raw_exec(echo, last_slots as usize),
        "exec(/echo, argv without its null at the end of memory)"
    );

    // An argument string without its NUL before memory ends.
    fill_below(edge, 64, b'a');
    let argv = [echo, edge - 64, 0];
    must_fail!(
        p,
        raw_exec(echo, argv.as_ptr() as usize),
        "exec(/echo, [/echo, unterminated string at the end of memory])"
    );
    must_fail!(
        p,
        raw_exec(edge - 64, good_argv),
        "exec(unterminated path at the end of memory, argv)"
    );
    Ok(())
}

fn fstat_bad(p: &Probe) -> Result<(), String> {
    let fd = open_data(O_RDONLY)?;
    for addr in bad_addresses() {
        must_fail!(p, raw_fstat(fd, addr), "fstat(fd, {addr:#x})");
    }
    let edge = heap_edge()?;
    must_fail!(p, raw_fstat(fd, edge - 8), "fstat(fd, end of memory - 8)");
    close(fd);
    Ok(())
}

/// How many more files this process can open.
fn free_fds() -> usize {
    let fd = open(DATA, O_RDONLY);
    if fd < 0 {
        return 0;
    }
    let mut fds = vec![fd];
    loop {
        let d = dup(fd);
        if d < 0 {
            break;
        }
        fds.push(d);
    }
    for &d in &fds {
        close(d);
    }
    fds.len()
}

fn pipe_bad(p: &Probe) -> Result<(), String> {
    let before = free_fds();
    for addr in bad_addresses() {
        must_fail!(p, raw_pipe(addr), "pipe({addr:#x})");
    }
    // Room for the first descriptor but not the second.
    let edge = heap_edge()?;
    must_fail!(p, raw_pipe(edge - 4), "pipe(end of memory - 4)");
    let after = free_fds();
    if after != before {
        return Err(format!(
            "the failed pipe calls leaked {} file descriptors",
            before.abs_diff(after)
        ));
    }
    Ok(())
}

fn wait_bad(p: &Probe) -> Result<(), String> {
    // Room for half of the status. Nothing below allocates, so the break
    // stays at the edge (and past_break is beyond it).
    let straddling = heap_edge()? - 2;
    let [a, b, c, d, e] = bad_addresses();
    for addr in [a, b, c, d, e, straddling] {
        let pid = fork();
        if pid < 0 {
            return Err(String::from("fork failed"));
        }
        if pid == 0 {
            exit(0);
        }
        must_fail!(p, raw_wait(addr), "wait({addr:#x}) for an exiting child");
        // The child may still be a zombie; collect it either way.
        wait(None);
    }
    if wait(None) != -1 {
        return Err(String::from("wait found a child that should be gone"));
    }
    Ok(())
}

fn paths_bad(p: &Probe) -> Result<(), String> {
    let echo = ECHO.as_ptr() as usize;
    for addr in bad_addresses() {
        must_fail!(p, raw_chdir(addr), "chdir({addr:#x})");
        must_fail!(p, raw_mkdir(addr), "mkdir({addr:#x})");
        must_fail!(p, raw_unlink(addr), "unlink({addr:#x})");
        must_fail!(p, raw_mknod(addr), "mknod({addr:#x}, 1, 0)");
        must_fail!(p, raw_link(addr, echo), "link({addr:#x}, /echo)");
        must_fail!(p, raw_link(echo, addr), "link(/echo, {addr:#x})");
    }
    Ok(())
}

/// Execs `path`, which is not a loadable program: exec must fail and this
/// process go on.
fn exec_fails(p: &Probe, path: &str) -> Result<(), String> {
    p.at(format_args!("exec({path})"));
    let r = exec(path, &[path]);
    if r != -1 {
        return Err(format!("exec({path}) returned {r}, want -1"));
    }
    Ok(())
}

fn exec_text(p: &Probe) -> Result<(), String> {
    exec_fails(p, SCRIPT)
}

fn exec_short(p: &Probe) -> Result<(), String> {
    exec_fails(p, ELF_SHORT)
}

fn exec_cut_phdrs(p: &Probe) -> Result<(), String> {
    exec_fails(p, ELF_PHDRS)
}

fn exec_cut_segment(p: &Probe) -> Result<(), String> {
    exec_fails(p, ELF_SEGMENT)
}

fn sbrk_huge(p: &Probe) -> Result<(), String> {
    let before = sbrk(0) as isize;
    p.at(format_args!("sbrk(0x7fffffff)"));
    let r = raw_sbrk(i32::MAX);
    if r == -1 {
        let after = sbrk(0) as isize;
        if after != before {
            return Err(format!("sbrk failed but moved the break to {after:#x}"));
        }
        return Ok(());
    }
    // A lazily allocating kernel may grant the address space without
    // memory behind it; then it must give it back exactly.
    if r != before {
        return Err(format!("sbrk(0x7fffffff) returned {r:#x}, want -1"));
    }
    p.at(format_args!(
        "sbrk(-0x7fffffff) after sbrk(0x7fffffff) succeeded"
    ));
    if raw_sbrk(-i32::MAX) == -1 || sbrk(0) as isize != before {
        return Err(String::from(
            "sbrk(0x7fffffff) succeeded but sbrk(-0x7fffffff) did not undo it",
        ));
    }
    Ok(())
}

/// `sbrk(n)` that must fail and leave the break alone.
fn sbrk_refused(p: &Probe, n: i32) -> Result<(), String> {
    let before = sbrk(0) as isize;
    must_fail!(p, raw_sbrk(n), "sbrk({n})");
    let after = sbrk(0) as isize;
    if after != before {
        return Err(format!(
            "sbrk({n}) failed but moved the break from {before:#x} to {after:#x}"
        ));
    }
    Ok(())
}

fn sbrk_minus_huge(p: &Probe) -> Result<(), String> {
    sbrk_refused(p, -i32::MAX)
}

fn sbrk_below_zero(p: &Probe) -> Result<(), String> {
    let size = sbrk(0) as usize;
    sbrk_refused(p, -((size + 2 * PGSIZE) as i32))
}

/// Stores a byte at `addr`, an address the process must not write; the
/// kernel should kill it.
fn poke(p: &Probe, addr: usize) -> Result<(), String> {
    p.at(format_args!("a store to {addr:#x}"));
    // SAFETY: a single store outside any Rust object; the fault it causes
    // ends the process.
    unsafe { asm!("sb zero, 0({a})", a = in(reg) addr, options(nostack)) };
    Err(format!("a store to {addr:#x} did not fault"))
}

fn store_kernbase(p: &Probe) -> Result<(), String> {
    poke(p, KERNBASE)
}

fn store_maxva(p: &Probe) -> Result<(), String> {
    poke(p, MAXVA)
}

fn store_top_page(p: &Probe) -> Result<(), String> {
    poke(p, TOP_PAGE)
}

fn store_guard(p: &Probe) -> Result<(), String> {
    // The stack is one page with the guard page right below it.
    let marker = 0u8;
    let sp = core::hint::black_box(&marker) as *const u8 as usize;
    poke(p, (sp & !(PGSIZE - 1)) - PGSIZE)
}

fn load_trampoline(p: &Probe) -> Result<(), String> {
    p.at(format_args!("a load from {TRAMPOLINE:#x}"));
    let v: u8;
    // SAFETY: a single load outside any Rust object; the fault it causes
    // ends the process.
    unsafe {
        asm!("lbu {v}, 0({a})", a = in(reg) TRAMPOLINE, v = out(reg) v, options(nostack, readonly))
    };
    Err(format!(
        "a load from {TRAMPOLINE:#x} did not fault (read {v:#x})"
    ))
}

fn jump_kernbase(p: &Probe) -> Result<(), String> {
    p.at(format_args!("a jump to {KERNBASE:#x}"));
    // SAFETY: the jump faults on its first instruction fetch, which ends
    // the process; were the kernel to let it run, the clobbers cover a call.
    unsafe { asm!("jalr {a}", a = in(reg) KERNBASE, clobber_abi("C")) };
    Err(format!("a jump to {KERNBASE:#x} did not fault"))
}

/// Creates the files the exec and I/O cases use.
fn setup() -> Result<(), String> {
    write_file(DATA, &vec![b'd'; 1024])?;
    write_file(SCRIPT, b"#!/bin/sh\necho this is not a program\n")?;

    let echo = read_file("/echo")?;
    let eh = ElfHeader::parse(&echo).map_err(|e| format!("/echo is not an ELF file: {e:?}"))?;
    if eh.phnum == 0 {
        return Err(String::from("/echo has no program headers"));
    }
    let phentsize = eh.phentsize as usize;
    let phoff = eh.phoff as usize;
    let table_end = phoff + phentsize * eh.phnum as usize;

    let mut biggest: Option<ProgramHeader> = None;
    for i in 0..eh.phnum as usize {
        let off = phoff + i * phentsize;
        let ph = echo
            .get(off..off + phentsize)
            .and_then(|b| ProgramHeader::parse(b).ok())
            .ok_or("/echo has a broken program header table")?;
        if ph.typ == PT_LOAD && biggest.is_none_or(|b| ph.filesz > b.filesz) {
            biggest = Some(ph);
        }
    }
    let seg = biggest
        .filter(|ph| ph.filesz >= 2)
        .ok_or("/echo has no loadable segment with content")?;
    let mid_segment = (seg.offset + seg.filesz / 2) as usize;
    let mid_table = phoff + phentsize * (eh.phnum as usize / 2) + phentsize / 2;
    if mid_segment <= table_end || mid_segment > echo.len() {
        return Err(String::from("/echo's segments are not where expected"));
    }

    write_file(ELF_SHORT, &echo[..100])?;
    write_file(ELF_PHDRS, &echo[..mid_table])?;
    write_file(ELF_SEGMENT, &echo[..mid_segment])?;
    Ok(())
}

fn cleanup() {
    for f in FILES {
        unlink(f);
    }
}

fn write_file(path: &str, data: &[u8]) -> Result<(), String> {
    let fd = open(path, O_CREATE | O_WRONLY | O_TRUNC);
    if fd < 0 {
        return Err(format!("cannot create {path}"));
    }
    let n = write(fd, data);
    close(fd);
    if n != data.len() as i32 {
        return Err(format!("write to {path} returned {n}"));
    }
    Ok(())
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        return Err(format!("cannot open {path}"));
    }
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 1024];
    loop {
        let n = read(fd, &mut chunk);
        if n < 0 {
            close(fd);
            return Err(format!("cannot read {path}"));
        }
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n as usize]);
    }
    close(fd);
    Ok(data)
}
