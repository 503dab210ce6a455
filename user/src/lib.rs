//! The user library: what xv6's `ulib.c`, `printf.c`, `umalloc.c` and
//! `usys.S` give C programs, for Rust programs.
//!
//! A program looks like this:
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use user::*;
//!
//! entry!(main);
//! fn main(args: Args) -> i32 {
//!     println!("hello from {}", args.get(0).unwrap_or("?"));
//!     0
//! }
//! ```
//! System calls come in two layers: [`sys`] has the raw stubs generated from
//! the ABI table (raw pointers, `unsafe`, exactly xv6's `user.h`), and this
//! module has safe wrappers that take slices and paths. Like xv6's, they
//! return a negative number on error.
#![no_std]

extern crate alloc;

mod args;
pub mod heap;
mod io;
pub mod lockstat;
mod mem;
pub mod sys;
pub mod tok;

pub use abi::fcntl::*;
pub use abi::filetype::*;
pub use abi::fs::{DIRSIZ, Dirent};
pub use abi::param::MAXARG;
pub use abi::{Stat, SysInfo};
pub use alloc::{boxed::Box, format, string::String, vec, vec::Vec};
pub use args::Args;
pub use heap::{free, malloc};
pub use io::{FdWriter, Show, atoi, gets, read_dirent, stat};
pub use mem::countfree;

use abi::param::MAXPATH;

/// Declares the program's `main(args: Args) -> i32`; its return value is
/// the exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(export_name = "__user_main")]
        fn __user_main(args: $crate::Args) -> i32 {
            $main(args)
        }
    };
}

/// Runs `f` with `path` as a NUL-terminated string, or returns -1 if the
/// path does not fit in MAXPATH bytes.
fn with_cstr<P: AsRef<[u8]> + ?Sized>(path: &P, f: impl FnOnce(*const u8) -> isize) -> i32 {
    let path = path.as_ref();
    let len = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    if len >= MAXPATH {
        return -1;
    }
    let mut buf = [0u8; MAXPATH];
    buf[..len].copy_from_slice(&path[..len]);
    f(buf.as_ptr()) as i32
}

/// Creates a process; returns the child's pid in the parent, 0 in the child.
/// In a test program with tokens on, the child gets a token nonce of its own.
pub fn fork() -> i32 {
    // SAFETY: fork takes no arguments.
    let pid = unsafe { sys::fork() as i32 };
    if pid >= 0 {
        tok::forked(pid == 0);
    }
    pid
}

/// Ends the process with `status` (a test program's unfinished lines and
/// closing line are printed first).
pub fn exit(status: i32) -> ! {
    tok::exiting();
    // SAFETY: exit takes no pointers.
    unsafe { sys::exit(status) };
    unreachable!("exit returned")
}

/// Waits for a child to exit; stores its exit status in `status` if given.
pub fn wait(status: Option<&mut i32>) -> i32 {
    let p = status.map_or(core::ptr::null_mut(), |s| s as *mut i32);
    // SAFETY: `p` is null or a live, writable i32.
    unsafe { sys::wait(p) as i32 }
}

/// Creates a pipe: `fds[0]` is the read end, `fds[1]` the write end.
pub fn pipe(fds: &mut [i32; 2]) -> i32 {
    // SAFETY: `fds` has room for the two descriptors the kernel writes.
    unsafe { sys::pipe(fds.as_mut_ptr()) as i32 }
}

/// Reads up to `buf.len()` bytes; returns the count, 0 at end of file.
pub fn read(fd: i32, buf: &mut [u8]) -> i32 {
    let n = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the kernel writes at most `n` bytes into `buf`.
    unsafe { sys::read(fd, buf.as_mut_ptr(), n) as i32 }
}

/// Writes `buf`; returns the count written.
pub fn write(fd: i32, buf: &[u8]) -> i32 {
    let n = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: the kernel reads at most `n` bytes from `buf`.
    unsafe { sys::write(fd, buf.as_ptr(), n) as i32 }
}

pub fn kill(pid: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::kill(pid) as i32 }
}

/// Replaces the program with `path`, passing `argv`. Returns only on error.
pub fn exec<P: AsRef<[u8]> + ?Sized, A: AsRef<[u8]>>(path: &P, argv: &[A]) -> i32 {
    if argv.len() > MAXARG {
        return -1;
    }
    // NUL-terminated copies and the null-terminated pointer array.
    let strings: Vec<Vec<u8>> = argv
        .iter()
        .map(|a| {
            let mut v = a.as_ref().to_vec();
            v.push(0);
            v
        })
        .collect();
    let mut ptrs: Vec<*const u8> = strings.iter().map(|s| s.as_ptr()).collect();
    ptrs.push(core::ptr::null());
    // SAFETY: `p` and every entry of `ptrs` point to NUL-terminated strings
    // that outlive the call; `ptrs` ends with a null pointer.
    with_cstr(path, |p| unsafe { sys::exec(p, ptrs.as_ptr()) })
}

pub fn fstat(fd: i32, st: &mut Stat) -> i32 {
    // SAFETY: `st` is a writable `struct stat`.
    unsafe { sys::fstat(fd, st) as i32 }
}

pub fn chdir<P: AsRef<[u8]> + ?Sized>(path: &P) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cstr(path, |p| unsafe { sys::chdir(p) })
}

pub fn dup(fd: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::dup(fd) as i32 }
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::getpid() as i32 }
}

/// Grows (or shrinks) the heap by `n` bytes; returns the old break, or
/// `usize::MAX as *mut u8` (C's `(char*)-1`) on failure.
pub fn sbrk(n: i32) -> *mut u8 {
    // SAFETY: no pointers; the caller decides what to do with the memory.
    unsafe { sys::sbrk(n) as usize as *mut u8 }
}

/// Whether a pointer returned by [`sbrk`] means failure.
pub fn sbrk_failed(p: *mut u8) -> bool {
    p as usize == usize::MAX
}

/// Sleeps for `ticks` timer ticks (about 100 ms each).
pub fn sleep(ticks: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::sleep(ticks) as i32 }
}

/// Timer ticks since boot.
pub fn uptime() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::uptime() as i32 }
}

pub fn open<P: AsRef<[u8]> + ?Sized>(path: &P, flags: i32) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cstr(path, |p| unsafe { sys::open(p, flags) })
}

pub fn mknod<P: AsRef<[u8]> + ?Sized>(path: &P, major: i16, minor: i16) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cstr(path, |p| unsafe { sys::mknod(p, major, minor) })
}

pub fn unlink<P: AsRef<[u8]> + ?Sized>(path: &P) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cstr(path, |p| unsafe { sys::unlink(p) })
}

pub fn link<P: AsRef<[u8]> + ?Sized, Q: AsRef<[u8]> + ?Sized>(old: &P, new: &Q) -> i32 {
    with_cstr(old, |o| {
        // SAFETY: both strings are NUL-terminated.
        with_cstr(new, |n| unsafe { sys::link(o, n) }) as isize
    })
}

/// Creates `path` as a symbolic link to `target` (the fs lab's system
/// call; -1 on a kernel without it).
pub fn symlink<P: AsRef<[u8]> + ?Sized, Q: AsRef<[u8]> + ?Sized>(target: &P, path: &Q) -> i32 {
    with_cstr(target, |t| {
        // SAFETY: both strings are NUL-terminated.
        with_cstr(path, |p| unsafe { sys::symlink(t, p) }) as isize
    })
}

pub fn mkdir<P: AsRef<[u8]> + ?Sized>(path: &P) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cstr(path, |p| unsafe { sys::mkdir(p) })
}

pub fn close(fd: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::close(fd) as i32 }
}

/// trace lab: trace the system calls whose bits are set in `mask`.
pub fn trace(mask: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::trace(mask) as i32 }
}

/// sysinfo lab: fills `info` with free memory and process count.
pub fn sysinfo(info: &mut SysInfo) -> i32 {
    // SAFETY: `info` is a writable `struct sysinfo`.
    unsafe { sys::sysinfo(info) as i32 }
}

/// alarm lab: call `handler` every `ticks` ticks of CPU time (0 stops).
pub fn sigalarm(ticks: i32, handler: usize) -> i32 {
    // SAFETY: the kernel only records the handler address.
    unsafe { sys::sigalarm(ticks, handler) as i32 }
}

/// net lab: a UDP socket between local port `lport` and `raddr:rport`
/// (`raddr` in host byte order, 10.0.2.2 is 0x0a000202); returns its
/// descriptor or -1. Read and write move one datagram each.
pub fn connect(raddr: u32, lport: u16, rport: u16) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::connect(raddr, i32::from(lport), i32::from(rport)) as i32 }
}

/// net lab (2024): queue UDP datagrams that arrive for local port `port`
/// until `unbind`; 0, or -1 if it is bound already or no slot is free.
pub fn bind(port: u16) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::bind(i32::from(port)) as i32 }
}

/// net lab (2024): stop queueing for `port`, dropping what it holds.
pub fn unbind(port: u16) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::unbind(i32::from(port)) as i32 }
}

/// net lab (2024): sends `buf` as one UDP datagram from local port `sport`
/// to `dst:dport` (`dst` in host byte order); 0 or -1.
pub fn send(sport: u16, dst: u32, dport: u16, buf: &[u8]) -> i32 {
    let Ok(len) = i32::try_from(buf.len()) else {
        return -1;
    };
    // SAFETY: the kernel reads `len` bytes of `buf`.
    unsafe { sys::send(i32::from(sport), dst, i32::from(dport), buf.as_ptr(), len) as i32 }
}

/// net lab (2024): waits for a datagram on bound port `dport`, copies its
/// payload (up to `buf.len()` bytes) into `buf` and its sender into `src`
/// and `sport`; the bytes copied, or -1 (not bound, killed).
pub fn recv(dport: u16, src: &mut u32, sport: &mut u16, buf: &mut [u8]) -> i32 {
    let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
    // SAFETY: the kernel writes a u32 at `src`, a u16 at `sport` and at
    // most `len` bytes of `buf`.
    unsafe { sys::recv(i32::from(dport), src, sport, buf.as_mut_ptr(), len) as i32 }
}

/// alarm lab: return from an alarm handler to the interrupted code.
pub fn sigreturn() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::sigreturn() as i32 }
}

/// The lock lab's reader-writer lock test, as one of `n` processes calling
/// it at once: 0 when this one saw no fault (see kernel-base's `rwlock`).
pub fn rwlktest(n: i32, rounds: i32) -> i32 {
    // SAFETY: no pointers.
    unsafe { sys::rwlktest(n, rounds) as i32 }
}

/// Ticks per second of the `time` CSR (QEMU virt's 10 MHz clock).
pub const TIME_HZ: u64 = 10_000_000;

/// The `time` CSR: clock ticks ([`TIME_HZ`] a second) since the machine
/// started, for measuring short intervals without a system call.
pub fn time() -> u64 {
    let t: u64;
    // SAFETY: rdtime only reads a counter the kernel lets user mode see.
    unsafe { core::arch::asm!("rdtime {}", out(reg) t, options(nomem, nostack)) };
    t
}

/// `print!` to standard output (one `write` per call when it fits 256 bytes).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::fprint!(1, $($arg)*) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::fprint!(1, "{}\n", format_args!($($arg)*)) };
}

/// `print!` to standard error.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::fprint!(2, $($arg)*) };
}

#[macro_export]
macro_rules! eprintln {
    () => { $crate::eprint!("\n") };
    ($($arg:tt)*) => { $crate::fprint!(2, "{}\n", format_args!($($arg)*)) };
}

/// `print!` to file descriptor `fd` (xv6's `fprintf`).
#[macro_export]
macro_rules! fprint {
    ($fd:expr, $($arg:tt)*) => {{
        let mut w = $crate::FdWriter::new($fd);
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!($($arg)*));
        w.flush();
    }};
}

#[macro_export]
macro_rules! fprintln {
    ($fd:expr) => { $crate::fprint!($fd, "\n") };
    ($fd:expr, $($arg:tt)*) => { $crate::fprint!($fd, "{}\n", format_args!($($arg)*)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    eprintln!("user panic: {}", info);
    exit(1)
}
