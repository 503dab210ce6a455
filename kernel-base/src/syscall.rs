//! System call dispatch and argument fetching.
//!
//! Arguments arrive in the trapframe's a0..a5. Every pointer a program
//! passes is a [`UserAddr`] and reaches memory only through the process's
//! page table, which rejects anything the program may not touch.

use crate::proc::{current, current_trapframe, with_current_memory};
use crate::vm::{BadAddress, UserAddr};
use crate::{hooks, sysfile, sysproc};
use abi::syscall::{COUNT, nr};

/// A system call handler; its result goes to the caller's a0.
pub type SysFn = fn() -> i64;

/// The raw value of argument `n`.
pub fn arg_raw(n: usize) -> usize {
    let tf = crate::proc::current_trapframe();
    match n {
        0 => tf.a0,
        1 => tf.a1,
        2 => tf.a2,
        3 => tf.a3,
        4 => tf.a4,
        5 => tf.a5,
        _ => panic!("arg_raw: argument {}", n),
    }
}

/// Argument `n` as a C `int`.
#[doc(alias = "argint")]
pub fn arg_int(n: usize) -> i32 {
    arg_raw(n) as i32
}

/// Argument `n` as a user address (checked when used).
#[doc(alias = "argaddr")]
pub fn arg_addr(n: usize) -> UserAddr {
    UserAddr(arg_raw(n))
}

/// Reads a u64 at user address `addr`, which must lie inside the
/// process's memory.
#[doc(alias = "fetchaddr")]
pub fn fetch_addr(addr: UserAddr) -> Result<usize, BadAddress> {
    let end = addr.0.checked_add(8).ok_or(BadAddress)?;
    if end > with_current_memory(|m| m.size()) {
        return Err(BadAddress);
    }
    let mut b = [0u8; 8];
    copy_in(&mut b, addr)?;
    Ok(usize::from_le_bytes(b))
}

/// Copies the NUL-terminated string at `addr` into `buf`; returns it
/// without the NUL.
#[doc(alias = "fetchstr")]
pub fn fetch_str(addr: UserAddr, buf: &mut [u8]) -> Result<&[u8], BadAddress> {
    let n = copy_in_str(buf, addr)?;
    Ok(&buf[..n])
}

/// Argument `n` as a string copied into `buf`.
#[doc(alias = "argstr")]
pub fn arg_str(n: usize, buf: &mut [u8]) -> Result<&[u8], BadAddress> {
    fetch_str(arg_addr(n), buf)
}

/// Copies `src` to the current process's memory at `dst`.
#[doc(alias = "copyout")]
#[doc(alias = "either_copyout")]
pub fn copy_out(dst: UserAddr, src: &[u8]) -> Result<(), BadAddress> {
    with_current_memory(|m| m.copy_out(dst, src))
}

/// Copies the current process's memory at `src` into `dst` (through a
/// lab's copy routine if one replaces the kernel's: pgtbl).
#[doc(alias = "copyin")]
#[doc(alias = "either_copyin")]
pub fn copy_in(dst: &mut [u8], src: UserAddr) -> Result<(), BadAddress> {
    with_current_memory(|m| hooks::copy_in(m, dst, src).unwrap_or_else(|| m.copy_in(dst, src)))
}

/// Copies a NUL-terminated string from the current process's memory (see
/// [`copy_in`]); returns its length without the NUL.
#[doc(alias = "copyinstr")]
pub fn copy_in_str(dst: &mut [u8], src: UserAddr) -> Result<usize, BadAddress> {
    with_current_memory(|m| {
        hooks::copy_in_str(m, dst, src).unwrap_or_else(|| m.copy_in_str(dst, src))
    })
}

const fn table() -> [Option<SysFn>; COUNT] {
    let mut t: [Option<SysFn>; COUNT] = [None; COUNT];
    t[nr::fork] = Some(sysproc::sys_fork);
    t[nr::exit] = Some(sysproc::sys_exit);
    t[nr::wait] = Some(sysproc::sys_wait);
    t[nr::pipe] = Some(sysfile::sys_pipe);
    t[nr::read] = Some(sysfile::sys_read);
    t[nr::kill] = Some(sysproc::sys_kill);
    t[nr::exec] = Some(sysfile::sys_exec);
    t[nr::fstat] = Some(sysfile::sys_fstat);
    t[nr::chdir] = Some(sysfile::sys_chdir);
    t[nr::dup] = Some(sysfile::sys_dup);
    t[nr::getpid] = Some(sysproc::sys_getpid);
    t[nr::sbrk] = Some(sysproc::sys_sbrk);
    t[nr::sleep] = Some(sysproc::sys_sleep);
    t[nr::uptime] = Some(sysproc::sys_uptime);
    t[nr::open] = Some(sysfile::sys_open);
    t[nr::write] = Some(sysfile::sys_write);
    t[nr::mknod] = Some(sysfile::sys_mknod);
    t[nr::unlink] = Some(sysfile::sys_unlink);
    t[nr::link] = Some(sysfile::sys_link);
    t[nr::mkdir] = Some(sysfile::sys_mkdir);
    t[nr::close] = Some(sysfile::sys_close);
    t
}

/// Handlers of the base system calls, by number.
static SYSCALLS: [Option<SysFn>; COUNT] = table();

/// Runs the system call the current process asked for in a7.
#[unsafe(no_mangle)]
#[inline(never)]
pub fn syscall() {
    let p = current();
    // xv6 reads the number as a C int.
    let num = current_trapframe().a7 as i32;
    let handler = usize::try_from(num).ok().and_then(|n| {
        SYSCALLS
            .get(n)
            .copied()
            .flatten()
            .or_else(|| hooks::syscall(n))
    });
    crate::trap::syscall_running(p.index(), num as usize);
    let ret = match handler {
        Some(f) => f(),
        None => {
            crate::println!("{} {}: unknown sys call {}", p.pid(), p.name(), num);
            -1
        }
    };
    hooks::syscall_return(p, num as usize, ret);
    crate::trap::syscall_done(p.index());
    current_trapframe().a0 = ret as usize;
}

pub use crate::sysfile::arg_file;
