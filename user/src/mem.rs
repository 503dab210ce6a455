//! Counting the free pages from user space, for test programs that check
//! that memory comes back.

use crate::{close, exit, fork, pipe, read, sbrk, sbrk_failed, wait, write};
use abi::memlayout::PGSIZE;

/// The free pages: a child takes a page at a time, touching each (so that a
/// lazy kernel allocates it), until sbrk fails or the kernel kills it, and
/// sends a byte for each through a pipe. The caller's own memory stays as
/// it is. `None` if the pipe, the fork or the count failed.
pub fn countfree() -> Option<usize> {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        return None;
    }
    let pid = fork();
    if pid < 0 {
        close(fds[0]);
        close(fds[1]);
        return None;
    }
    if pid == 0 {
        close(fds[0]);
        // Take a copy of the stack page now, while memory is plentiful, so
        // that on a cow kernel the parent's needs no copy when none is left.
        let mut mine = 0u8;
        // SAFETY: a write to a local.
        unsafe { (&raw mut mine).write_volatile(1) };
        loop {
            let p = sbrk(PGSIZE as i32);
            if sbrk_failed(p) {
                exit(0);
            }
            // SAFETY: `p` is the start of the page sbrk just gave this
            // process.
            unsafe { p.write_volatile(1) };
            if write(fds[1], b"p") != 1 {
                exit(1);
            }
        }
    }
    close(fds[1]);
    let mut pages = 0;
    let mut chunk = [0u8; 512];
    loop {
        let n = read(fds[0], &mut chunk);
        if n <= 0 {
            break;
        }
        pages += n as usize;
    }
    close(fds[0]);
    let mut status = 0;
    // Killed (-1) on a lazy kernel, 0 when sbrk failed.
    (wait(Some(&mut status)) == pid && (status == 0 || status == -1)).then_some(pages)
}
