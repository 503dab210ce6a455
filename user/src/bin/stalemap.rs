#![no_std]
#![no_main]
//! stalemap: a page given back with `sbrk(-n)` must be gone for the kernel
//! too. With the pgtbl lab the kernel reads user memory through a mirror in
//! the process's kernel page table; a mirror entry (or TLB entry) left over
//! from the freed page would let `write` copy in whatever the frame holds
//! now: here another process's data. Prints `stalemap: ok` when a fresh page
//! at the same address reads as zeros through the kernel.

use user::*;

entry!(main);

const PAGE: usize = 4096;
/// What the child fills its memory with (the "other process's data").
const SECRET: u8 = 0x5a;
/// Pages the child takes: the freed frame is among the first it gets.
const CHILD_PAGES: usize = 16;
/// Bytes copied in from the fresh page.
const PROBE: usize = 256;

fn fail(what: &str) -> i32 {
    eprintln!("stalemap: FAIL: {what}");
    1
}

/// `len` bytes of this process's memory at `p`.
fn bytes<'a>(p: *mut u8, len: usize) -> &'a mut [u8] {
    // SAFETY: callers pass memory that sbrk just gave this process, which
    // nothing else in the program refers to.
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

fn main(_args: Args) -> i32 {
    let (mut go, mut done, mut data) = ([0; 2], [0; 2], [0; 2]);
    if pipe(&mut go) < 0 || pipe(&mut done) < 0 || pipe(&mut data) < 0 {
        return fail("pipe");
    }
    let mut byte = [0u8];
    let pid = fork();
    if pid < 0 {
        return fail("fork");
    }
    if pid == 0 {
        // The other process: once the parent has freed its page, take
        // fresh pages (LIFO: the freed frame first) and fill them.
        if read(go[0], &mut byte) != 1 {
            exit(1);
        }
        let p = sbrk((CHILD_PAGES * PAGE) as i32);
        if sbrk_failed(p) {
            exit(1);
        }
        bytes(p, CHILD_PAGES * PAGE).fill(SECRET);
        write(done[1], b"x");
        // Keep the pages until the parent has looked.
        read(go[0], &mut byte);
        exit(0);
    }

    // A page, used by the kernel once (so the mirror, and the TLB, know it).
    let x = sbrk(PAGE as i32);
    if sbrk_failed(x) {
        return fail("sbrk");
    }
    bytes(x, PAGE).fill(0xaa);
    let mut buf = [0u8; PROBE];
    if write(data[1], bytes(x, PROBE)) != PROBE as i32 || read(data[0], &mut buf) != PROBE as i32 {
        return fail("pipe copy");
    }
    // Give it back, let the child take the frame, then grow again: the page
    // at `x` is new and must read as zeros, in user mode and in the kernel.
    if sbrk_failed(sbrk(-(PAGE as i32))) {
        return fail("sbrk(-n)");
    }
    write(go[1], b"x");
    if read(done[0], &mut byte) != 1 {
        return fail("the child could not fill its memory");
    }
    let again = sbrk(PAGE as i32);
    if again != x {
        return fail("sbrk gave another address");
    }
    let copied =
        write(data[1], bytes(x, PROBE)) == PROBE as i32 && read(data[0], &mut buf) == PROBE as i32;
    write(go[1], b"x");
    wait(None);
    if !copied {
        return fail("pipe copy of the fresh page");
    }
    let secret = buf.iter().filter(|&&b| b == SECRET).count();
    let nonzero = buf.iter().filter(|&&b| b != 0).count();
    if nonzero > 0 {
        eprintln!(
            "stalemap: FAIL: the kernel read {nonzero} nonzero bytes ({secret} of the other process's) from a fresh page"
        );
        return 1;
    }
    if bytes(x, PROBE).iter().any(|&b| b != 0) {
        return fail("a fresh page is not zero in user mode");
    }
    println!("stalemap: ok");
    0
}
