#![no_std]
#![no_main]
//! labinput: the lab system calls given bad input get an error or kill the
//! caller, never crash the kernel. Works with any set of labs enabled: a
//! missing lab's calls must simply fail.
//!
//! Prints `labinput: <case> ok` per case and `labinput: ALL OK` at the end,
//! or `labinput: <case> FAILED (<why>)` and exits 1.

use abi::memlayout::{KERNBASE, MAXVA};
use user::*;

entry!(main);

fn fail(case: &str, why: &str) -> ! {
    println!("labinput: {} FAILED ({})", case, why);
    exit(1)
}

/// Runs `f` in a child and returns its exit status (-1 if it was killed).
fn in_child(case: &str, f: fn()) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail(case, "fork failed");
    }
    if pid == 0 {
        f();
        exit(0);
    }
    let mut status = 0;
    if wait(Some(&mut status)) != pid {
        fail(case, "wait failed");
    }
    status
}

fn has_trace() -> bool {
    trace(0) == 0
}

fn has_alarm() -> bool {
    sigalarm(0, 0) == 0
}

fn trace_masks() {
    let present = has_trace();
    for mask in [-1, i32::MIN, 1 << 30, 0x7fff_ffff] {
        let r = trace(mask);
        if present && r != 0 {
            fail("trace masks", "a mask was refused");
        }
        // Trace every call, including ones with no name, then stop.
        // SAFETY: number 99 is unknown to the kernel; no pointers.
        unsafe { user::sys::syscall(99, [0; 6]) };
        trace(0);
    }
    println!("labinput: trace masks ok");
}

fn sysinfo_pointers() {
    for bad in [
        0usize,
        KERNBASE,
        MAXVA - 8,
        MAXVA,
        usize::MAX - 7,
        0xeaeb_0b5b_0000_2f5e,
    ] {
        // SAFETY: the kernel must refuse these without writing anywhere.
        let r = unsafe { user::sys::sysinfo(bad as *mut SysInfo) };
        if r != -1 {
            fail("sysinfo pointers", "a bad pointer was accepted");
        }
    }
    println!("labinput: sysinfo pointers ok");
}

fn alarm_arguments() {
    let present = has_alarm();
    if sigalarm(-1, 0) != -1 || sigalarm(i32::MIN, 0) != -1 {
        fail("sigalarm arguments", "negative ticks were accepted");
    }
    // No handler is running: there is nothing to return to.
    if sigreturn() != -1 {
        fail(
            "sigalarm arguments",
            "sigreturn outside a handler did not fail",
        );
    }
    if present && sigalarm(0, 0) != 0 {
        fail("sigalarm arguments", "sigalarm(0, 0) failed");
    }
    println!("labinput: sigalarm arguments ok");
}

/// Spins long enough for several alarm ticks.
fn spin() {
    let mut i: u64 = 0;
    while i < 400_000_000 {
        i = core::hint::black_box(i + 1);
    }
}

fn alarm_bad_handlers() {
    let present = has_alarm();
    for handler in [KERNBASE, MAXVA, usize::MAX & !3, 0x1234_5678_0000] {
        HANDLER.store(handler, core::sync::atomic::Ordering::SeqCst);
        let status = in_child("sigalarm bad handler", || {
            let h = HANDLER.load(core::sync::atomic::Ordering::SeqCst);
            if sigalarm(1, h) != 0 {
                // The lab is missing: nothing more to try.
                exit(0);
            }
            spin();
            exit(2)
        });
        // With the lab, jumping to the handler faults and kills the child.
        let ok = if present { status == -1 } else { status == 0 };
        if !ok {
            fail(
                "sigalarm bad handler",
                "the child was not killed at the bad handler",
            );
        }
    }
    println!("labinput: sigalarm bad handler ok");
}

static HANDLER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn mmap(len: usize, prot: i32, flags: i32, fd: i32, off: i32) -> u64 {
    // SAFETY: the kernel checks every argument; the result is a number.
    unsafe { sys::mmap(0, len, prot, flags, fd, off) as u64 }
}

fn munmap(addr: u64, len: usize) -> i64 {
    // SAFETY: as for mmap.
    unsafe { sys::munmap(addr as usize, len) as i64 }
}

/// mmap and munmap given bad input fail (-1); with the lab, a full table
/// and a store to a read-only mapping fail cleanly too.
fn mmap_arguments() {
    use abi::memlayout::PGSIZE;
    use abi::mman::{MAP_FAILED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE};
    let case = "mmap arguments";
    let f = "labinput.mmap";
    unlink(f);
    let fd = open(f, O_CREATE | O_RDWR);
    if fd < 0 || write(fd, &[7u8; 100]) != 100 {
        fail(case, "cannot make the test file");
    }
    let mut pipefd = [0i32; 2];
    if pipe(&mut pipefd) != 0 {
        fail(case, "pipe failed");
    }
    let rw = PROT_READ | PROT_WRITE;
    let bad: [(usize, i32, i32, i32, i32); 11] = [
        (0, PROT_READ, MAP_SHARED, fd, 0),
        (usize::MAX, PROT_READ, MAP_SHARED, fd, 0),
        (1 << 40, PROT_READ, MAP_PRIVATE, fd, 0),
        (PGSIZE, 0x40, MAP_SHARED, fd, 0),
        (PGSIZE, PROT_READ, 0, fd, 0),
        (PGSIZE, PROT_READ, MAP_SHARED | MAP_PRIVATE, fd, 0),
        (PGSIZE, PROT_READ, MAP_SHARED, fd, 1),
        (PGSIZE, PROT_READ, MAP_SHARED, fd, -4096),
        (PGSIZE, PROT_READ, MAP_SHARED, -1, 0),
        (PGSIZE, PROT_READ, MAP_SHARED, 1000, 0),
        (PGSIZE, rw, MAP_SHARED, pipefd[0], 0),
    ];
    for (len, prot, flags, fd, off) in bad {
        if mmap(len, prot, flags, fd, off) != MAP_FAILED {
            fail(case, "a bad mmap succeeded");
        }
    }
    let mapped = mmap(PGSIZE, PROT_READ, MAP_SHARED, fd, 0);
    let present = mapped != MAP_FAILED;
    for (addr, len) in [
        (0u64, PGSIZE),
        (1, PGSIZE),
        (MAXVA as u64, PGSIZE),
        (!0xfffu64, PGSIZE),
        (mapped, 0),
        (mapped, usize::MAX),
    ] {
        if munmap(addr, len) != -1 {
            fail(case, "a bad munmap succeeded");
        }
    }
    if present {
        if munmap(mapped, PGSIZE) != 0 {
            fail(case, "munmap of a mapping failed");
        }
        // Until the table is full; then mmap fails, and all unmap again.
        let mut maps = Vec::new();
        loop {
            let p = mmap(3 * PGSIZE, PROT_READ, MAP_PRIVATE, fd, 0);
            if p == MAP_FAILED {
                break;
            }
            maps.push(p);
            if maps.len() > 1000 {
                fail(case, "mmap never runs out of mappings");
            }
        }
        // A hole in the middle may be refused, but must not break the
        // mapping: the whole of it unmaps after.
        let _ = munmap(maps[0] + PGSIZE as u64, PGSIZE);
        for p in maps {
            let _ = munmap(p + PGSIZE as u64, 2 * PGSIZE);
            let _ = munmap(p, PGSIZE);
        }
        if mmap(PGSIZE, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED {
            fail(case, "mmap fails after every mapping was unmapped");
        }
        // A store to a read-only mapping kills the storer.
        let status = in_child(case, || {
            let fd = open("labinput.mmap", O_RDONLY);
            let p = mmap(PGSIZE, PROT_READ, MAP_SHARED, fd, 0);
            // SAFETY: inside the mapping; the kernel must refuse the store.
            unsafe { (p as *mut u8).write_volatile(1) };
            exit(2)
        });
        if status != -1 {
            fail(
                case,
                "a store to a read-only mapping did not kill the child",
            );
        }
    }
    close(pipefd[0]);
    close(pipefd[1]);
    close(fd);
    unlink(f);
    println!("labinput: mmap arguments ok");
}

/// The net lab's 2024 calls: ports out of range and bad buffers are
/// refused, a port binds once, and a `recv` waiting is killable.
fn net_arguments() {
    let case = "net arguments";
    const PORT: u16 = 7777;
    // SAFETY: no pointers.
    if unsafe { sys::bind(70000) } >= 0 || unsafe { sys::unbind(-1) } >= 0 {
        fail(case, "a port out of range was taken");
    }
    for buf in [KERNBASE, MAXVA, MAXVA - 1] {
        // SAFETY: the kernel must refuse the buffer, not trust it.
        let r = unsafe { sys::send(PORT as i32, 0x0a00_0202, 1, buf as *const u8, 64) };
        if r >= 0 {
            fail(case, "send of a kernel buffer succeeded");
        }
    }
    for len in [-1, 1 << 20, i32::MAX] {
        // SAFETY: as above.
        if unsafe { sys::send(PORT as i32, 0x0a00_0202, 1, b"x".as_ptr(), len) } >= 0 {
            fail(case, "send of a bad length succeeded");
        }
    }
    if bind(PORT) != 0 {
        // No net lab: its calls simply fail.
        println!("labinput: net arguments ok");
        return;
    }
    if bind(PORT) == 0 {
        fail(case, "a port was bound twice");
    }
    // Nothing is sent to the port: the child waits until it is killed.
    let pid = fork();
    if pid < 0 {
        fail(case, "fork failed");
    }
    if pid == 0 {
        // SAFETY: bad pointers, which a datagram would be refused on.
        unsafe {
            sys::recv(
                PORT as i32,
                KERNBASE as *mut u32,
                MAXVA as *mut u16,
                core::ptr::null_mut(),
                64,
            )
        };
        exit(0);
    }
    sleep(3);
    kill(pid);
    let mut status = 0;
    if wait(Some(&mut status)) != pid || status != -1 {
        fail(case, "a process waiting in recv was not killed");
    }
    if unbind(PORT) != 0 || unbind(PORT) == 0 {
        fail(
            case,
            "unbind of a bound port failed, or of an unbound one succeeded",
        );
    }
    if recv(PORT, &mut 0, &mut 0, &mut [0u8; 8]) >= 0 {
        fail(case, "recv on an unbound port succeeded");
    }
    println!("labinput: net arguments ok");
}

fn main(_args: Args) -> i32 {
    trace_masks();
    sysinfo_pointers();
    alarm_arguments();
    alarm_bad_handlers();
    mmap_arguments();
    net_arguments();
    println!("labinput: ALL OK");
    0
}
