//! Memory tests: wild pointers handed to system calls, `sbrk`, the shape of
//! the address space (read-only text, the stack's guard page, no kernel
//! memory), `exec` arguments, and running the machine out of memory.

use crate::{Test, fork_or_fail, wait_status};
use abi::memlayout::{KERNBASE, MAXVA, PGSIZE, TRAMPOLINE, TRAPFRAME};
use abi::param::{MAXARG, MAXPATH};
use core::arch::asm;
use core::cell::UnsafeCell;
use core::ptr::{null, null_mut};
use user::*;

pub const TESTS: &[Test] = &[
    Test::quick("copyin", copyin),
    Test::quick("copyout", copyout),
    Test::quick("copyinstr1", copyinstr1),
    Test::quick("copyinstr2", copyinstr2),
    Test::quick("copyinstr3", copyinstr3),
    Test::quick("rwsbrk", rwsbrk),
    Test::quick("exectest", exectest),
    Test::quick("mem", mem),
    Test::quick("sbrkbasic", sbrkbasic),
    Test::quick("sbrkmuch", sbrkmuch),
    Test::quick("kernmem", kernmem),
    Test::quick("MAXVAplus", maxva_plus),
    Test::quick("sbrkfail", sbrkfail),
    Test::quick("sbrkarg", sbrkarg),
    Test::quick("validatetest", validatetest),
    Test::quick("bsstest", bsstest),
    Test::quick("bigargtest", bigargtest),
    Test::quick("argptest", argptest),
    Test::quick("stacktest", stacktest),
    Test::quick("textwrite", textwrite),
    Test::quick("pgbug", pgbug),
    Test::quick("sbrkbugs", sbrkbugs),
    Test::quick("sbrklast", sbrklast),
    Test::quick("sbrk8000", sbrk8000),
    Test::quick("badarg", badarg),
    Test::slow("badwrite", badwrite),
    Test::slow("execout", execout),
];

/// Addresses no user program may read or write through a system call:
/// kernel memory, the trapframe and trampoline pages, and beyond MAXVA.
const FORBIDDEN: [usize; 5] = [KERNBASE, TRAPFRAME, TRAMPOLINE, MAXVA, usize::MAX];

/// 100 MB: more than half of the machine's memory.
const BIG: usize = 100 * 1024 * 1024;

// The raw calls below hand the kernel addresses as plain numbers, often ones
// the process does not own. The kernel must check every one of them; these
// tests pass either such addresses or buffers that are valid for the access.

fn raw_write(fd: i32, addr: usize, n: i32) -> isize {
    // SAFETY: see above; the kernel only reads through `addr`.
    unsafe { sys::write(fd, addr as *const u8, n) }
}

fn raw_read(fd: i32, addr: usize, n: i32) -> isize {
    // SAFETY: see above; `addr` is never a Rust object the test still uses.
    unsafe { sys::read(fd, addr as *mut u8, n) }
}

fn raw_open(path: usize, flags: i32) -> isize {
    // SAFETY: see above.
    unsafe { sys::open(path as *const u8, flags) }
}

fn raw_unlink(path: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::unlink(path as *const u8) }
}

fn raw_link(old: usize, new: usize) -> isize {
    // SAFETY: see above.
    unsafe { sys::link(old as *const u8, new as *const u8) }
}

fn raw_exec(path: usize, argv: *const *const u8) -> isize {
    // SAFETY: see above; `argv` is a null-terminated array of the caller's.
    unsafe { sys::exec(path as *const u8, argv) }
}

/// Loads the byte at `addr`, which may be an address the process must not
/// read: the kernel then kills it.
fn peek(addr: usize) -> u8 {
    let v: u8;
    // SAFETY: a single load from a raw address, outside Rust's view of
    // memory; a fault ends the process, which is what callers test for.
    unsafe {
        asm!("lbu {v}, 0({a})", a = in(reg) addr, v = out(reg) v, options(nostack, readonly))
    };
    v
}

/// Stores `v` at `addr`, which may be an address the process must not write.
fn poke(addr: usize, v: u8) {
    // SAFETY: a single store to a raw address, outside Rust's view of
    // memory; callers pass memory no Rust object lives in, or an address
    // the kernel must refuse (the fault ends the process).
    unsafe { asm!("sb {v}, 0({a})", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

/// The break, as a number.
fn brk() -> usize {
    sbrk(0) as usize
}

/// Runs `f` in a child that the kernel must kill (exit status -1) before
/// `f` returns; `f` prints what it got away with.
fn expect_killed(s: &str, f: impl FnOnce()) {
    if fork_or_fail(s) == 0 {
        f();
        exit(1);
    }
    let (_, status) = wait_status();
    if status != -1 {
        fail!(
            s,
            "the kernel did not kill the child (exit status {status})"
        );
    }
}

/// Wild pointers to system calls that read user memory.
fn copyin(s: &str) {
    for addr in FORBIDDEN {
        let fd = open("copyin1", O_CREATE | O_WRONLY);
        if fd < 0 {
            fail!(s, "open(copyin1) failed");
        }
        let n = raw_write(fd, addr, 8192);
        if n >= 0 {
            fail!(s, "write(fd, {addr:#x}, 8192) returned {n}, not -1");
        }
        close(fd);
        unlink("copyin1");

        let n = raw_write(1, addr, 8192);
        if n > 0 {
            fail!(s, "write(1, {addr:#x}, 8192) returned {n}, not -1 or 0");
        }

        let mut fds = [0; 2];
        if pipe(&mut fds) < 0 {
            fail!(s, "pipe() failed");
        }
        let n = raw_write(fds[1], addr, 8192);
        if n > 0 {
            fail!(s, "write(pipe, {addr:#x}, 8192) returned {n}, not -1 or 0");
        }
        close(fds[0]);
        close(fds[1]);
    }
}

/// Wild pointers to system calls that write user memory; address 0 is the
/// program's read-only text.
fn copyout(s: &str) {
    for addr in [0].into_iter().chain(FORBIDDEN) {
        let fd = open("README", O_RDONLY);
        if fd < 0 {
            fail!(s, "open(README) failed");
        }
        let n = raw_read(fd, addr, 8192);
        if n > 0 {
            fail!(s, "read(fd, {addr:#x}, 8192) returned {n}, not -1 or 0");
        }
        close(fd);

        let mut fds = [0; 2];
        if pipe(&mut fds) < 0 {
            fail!(s, "pipe() failed");
        }
        if write(fds[1], b"x") != 1 {
            fail!(s, "pipe write failed");
        }
        let n = raw_read(fds[0], addr, 8192);
        if n > 0 {
            fail!(s, "read(pipe, {addr:#x}, 8192) returned {n}, not -1 or 0");
        }
        close(fds[0]);
        close(fds[1]);
    }
}

/// Wild string pointers.
fn copyinstr1(s: &str) {
    for addr in FORBIDDEN {
        let fd = raw_open(addr, O_CREATE | O_WRONLY);
        if fd >= 0 {
            fail!(s, "open({addr:#x}) returned {fd}, not -1");
        }
    }
}

/// Path arguments exactly as long as the kernel's path buffer, so that the
/// NUL would land just past its end; and exec arguments longer than a page.
fn copyinstr2(s: &str) {
    let mut b = [b'x'; MAXPATH + 1];
    b[MAXPATH] = 0;
    let p = b.as_ptr() as usize;
    let args = [c"xx".as_ptr().cast::<u8>(), null()];
    let calls = [
        ("unlink", raw_unlink(p)),
        ("open", raw_open(p, O_CREATE | O_WRONLY)),
        ("link", raw_link(p, p)),
        ("exec", raw_exec(p, args.as_ptr())),
    ];
    for (call, ret) in calls {
        if ret != -1 {
            fail!(s, "{call} of a {MAXPATH}-byte path returned {ret}, not -1");
        }
    }

    if fork_or_fail(s) == 0 {
        let mut big = vec![b'x'; PGSIZE + 1];
        big[PGSIZE] = 0;
        let args = [big.as_ptr(), big.as_ptr(), big.as_ptr(), null()];
        let ret = raw_exec(c"echo".as_ptr() as usize, args.as_ptr());
        if ret != -1 {
            fail!(s, "exec(echo, BIG) returned {ret}, not -1");
        }
        exit(747);
    }
    let (_, status) = wait_status();
    if status != 747 {
        fail!(s, "exec(echo, BIG) succeeded, should have failed");
    }
}

/// A string that runs off the end of the last page of user memory.
fn copyinstr3(s: &str) {
    if sbrk_failed(sbrk(8192)) {
        fail!(s, "sbrk(8192) failed");
    }
    let top = brk();
    if !top.is_multiple_of(PGSIZE) {
        sbrk((PGSIZE - top % PGSIZE) as i32);
    }
    let top = brk();
    if !top.is_multiple_of(PGSIZE) {
        fail!(
            s,
            "the break {top:#x} is not page-aligned after rounding it up"
        );
    }
    let b = top - 1;
    poke(b, b'x');
    let args = [c"xx".as_ptr().cast::<u8>(), null()];
    let calls = [
        ("unlink", raw_unlink(b)),
        ("open", raw_open(b, O_CREATE | O_WRONLY)),
        ("link", raw_link(b, b)),
        ("exec", raw_exec(b, args.as_ptr())),
    ];
    for (call, ret) in calls {
        if ret != -1 {
            fail!(s, "{call} of an unterminated path returned {ret}, not -1");
        }
    }
}

/// The kernel must not read or write memory the process gave back.
fn rwsbrk(s: &str) {
    let a = sbrk(8192);
    if sbrk_failed(a) {
        fail!(s, "sbrk(8192) failed");
    }
    if sbrk_failed(sbrk(-8192)) {
        fail!(s, "sbrk(-8192) failed");
    }
    let gone = a as usize + PGSIZE;

    let fd = open("rwsbrk", O_CREATE | O_WRONLY);
    if fd < 0 {
        fail!(s, "open(rwsbrk) failed");
    }
    let n = raw_write(fd, gone, 1024);
    close(fd);
    unlink("rwsbrk");
    if n >= 0 {
        fail!(s, "write(fd, {gone:#x}, 1024) returned {n}, not -1");
    }

    let fd = open("README", O_RDONLY);
    if fd < 0 {
        fail!(s, "open(README) failed");
    }
    let n = raw_read(fd, gone, 10);
    if n >= 0 {
        fail!(s, "read(fd, {gone:#x}, 10) returned {n}, not -1");
    }
    close(fd);
}

/// exec `echo OK` with its output redirected to a file.
fn exectest(s: &str) {
    unlink("echo-ok");
    let pid = fork_or_fail(s);
    if pid == 0 {
        let errfd = dup(1);
        if errfd < 0 {
            fail!(s, "dup failed");
        }
        close(1);
        let fd = open("echo-ok", O_CREATE | O_WRONLY);
        if fd < 0 {
            fprintln!(errfd, "{s}: create failed");
            exit(1);
        }
        if fd != 1 {
            fprintln!(errfd, "{s}: wrong fd {fd}, expected 1");
            exit(1);
        }
        exec("echo", &["echo", "OK"]);
        fprintln!(errfd, "{s}: exec echo failed");
        exit(1);
    }
    let (waited, status) = wait_status();
    if waited != pid {
        fail!(s, "wait returned {waited}, not {pid}");
    }
    if status != 0 {
        fail!(s, "nonzero wait status {status}");
    }
    let fd = open("echo-ok", O_RDONLY);
    if fd < 0 {
        fail!(s, "open(echo-ok) failed");
    }
    let mut buf = [0u8; 3];
    let n = read(fd, &mut buf);
    close(fd);
    unlink("echo-ok");
    if n != 3 || &buf != b"OK\n" {
        fail!(s, "wrong output");
    }
}

/// Allocate all memory with malloc, free it, and allocate again.
fn mem(s: &str) {
    if fork_or_fail(s) == 0 {
        let mut list: *mut u8 = null_mut();
        loop {
            let m = malloc(10001);
            if m.is_null() {
                break;
            }
            // SAFETY: malloc returned 10001 bytes, 16-aligned; the first
            // eight link the blocks into a list.
            unsafe { m.cast::<*mut u8>().write(list) };
            list = m;
        }
        while !list.is_null() {
            // SAFETY: every block on the list starts with the next link.
            let next = unsafe { list.cast::<*mut u8>().read() };
            free(list);
            list = next;
        }
        let m = malloc(20 * 1024);
        if m.is_null() {
            fail!(s, "couldn't allocate mem after freeing it all");
        }
        free(m);
        exit(0);
    }
    let (_, status) = wait_status();
    // A lazily allocating kernel kills the child when memory runs out.
    if status != -1 && status != 0 {
        exit(status);
    }
}

fn sbrkbasic(s: &str) {
    const TOOMUCH: usize = 1024 * 1024 * 1024;
    if fork_or_fail(s) == 0 {
        let a = sbrk(TOOMUCH as i32);
        if sbrk_failed(a) {
            exit(0);
        }
        // A lazy kernel grants the sbrk: touching it all must then get
        // this process killed.
        for page in (a as usize..a as usize + TOOMUCH).step_by(PGSIZE) {
            poke(page, 99);
        }
        exit(1);
    }
    let (_, status) = wait_status();
    if status == 1 {
        fail!(s, "too much memory allocated!");
    }

    // Growing by less than a page at a time.
    let mut a = brk();
    for i in 0..5000 {
        let b = sbrk(1) as usize;
        if b != a {
            fail!(s, "sbrk test failed {i} {a:#x} {b:#x}");
        }
        poke(b, 1);
        a = b + 1;
    }
    let pid = fork_or_fail(s);
    sbrk(1);
    let c = sbrk(1) as usize;
    if c != a + 1 {
        fail!(s, "sbrk test failed post-fork");
    }
    if pid == 0 {
        exit(0);
    }
    let (_, status) = wait_status();
    if status != 0 {
        exit(status);
    }
}

/// Grow to 100 MB, shrink, grow again.
fn sbrkmuch(s: &str) {
    let oldbrk = brk();
    let a = brk();
    let p = sbrk((BIG - a) as i32) as usize;
    if p != a {
        fail!(
            s,
            "sbrk test failed to grow big address space; enough phys mem?"
        );
    }
    let lastaddr = BIG - 1;
    poke(lastaddr, 99);

    // Give back a page.
    let a = brk();
    if sbrk_failed(sbrk(-(PGSIZE as i32))) {
        fail!(s, "sbrk could not deallocate");
    }
    let c = brk();
    if c != a - PGSIZE {
        fail!(
            s,
            "sbrk deallocation produced wrong address, a {a:#x} c {c:#x}"
        );
    }

    // And take it again: it must come back zeroed.
    let a = brk();
    let c = sbrk(PGSIZE as i32) as usize;
    if c != a || brk() != a + PGSIZE {
        fail!(s, "sbrk re-allocation failed, a {a:#x} c {c:#x}");
    }
    if peek(lastaddr) == 99 {
        fail!(s, "sbrk de-allocation didn't really deallocate");
    }

    let a = brk();
    let c = sbrk(-((brk() - oldbrk) as i32)) as usize;
    if c != a {
        fail!(s, "sbrk downsize failed, a {a:#x} c {c:#x}");
    }
}

/// User code must not read kernel memory.
fn kernmem(s: &str) {
    for a in (KERNBASE..KERNBASE + 2_000_000).step_by(50_000) {
        expect_killed(s, || {
            let v = peek(a);
            println!("{s}: oops could read {a:#x} = {v:#x}");
        });
    }
}

/// User code must not write at or above MAXVA.
fn maxva_plus(s: &str) {
    let mut a = MAXVA;
    while a != 0 {
        expect_killed(s, || {
            poke(a, 99);
            println!("{s}: oops wrote {a:#x}");
        });
        a <<= 1;
    }
}

/// When allocations fail for lack of memory, the pages they got before
/// failing must come back.
fn sbrkfail(s: &str) {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        fail!(s, "pipe() failed");
    }
    let mut pids = [0; 10];
    let mut failed = false;
    for pid in pids.iter_mut() {
        *pid = fork();
        if *pid == 0 {
            let got = sbrk((BIG - brk()) as i32);
            write(fds[1], if sbrk_failed(got) { b"0" } else { b"1" });
            loop {
                sleep(1000);
            }
        }
        // fork itself may fail once memory is short.
        if *pid > 0 {
            let mut answer = [0u8];
            read(fds[0], &mut answer);
            failed |= answer[0] == b'0';
        }
    }
    if !failed {
        // A lazy kernel grants every sbrk; nothing to check then.
        println!("{s}: no allocation failed; allocate more?");
    }

    // If the failed allocations gave back what they got, this works.
    let c = sbrk(PGSIZE as i32);
    for &pid in pids.iter().filter(|&&pid| pid > 0) {
        kill(pid);
        wait(None);
    }
    if sbrk_failed(c) {
        fail!(s, "failed sbrk leaked memory");
    }

    // Far more than the machine has: sbrk must fail, or (lazily) touching
    // it must get the process killed.
    if fork_or_fail(s) == 0 {
        let a = sbrk((10 * BIG) as i32);
        if sbrk_failed(a) {
            exit(0);
        }
        for page in (a as usize..a as usize + 10 * BIG).step_by(PGSIZE) {
            poke(page, 1);
        }
        fail!(s, "allocate a lot of memory succeeded {}", 10 * BIG);
    }
    let (_, status) = wait_status();
    if status != 0 && status != -1 {
        exit(1);
    }
}

/// System calls on freshly sbrk'd (possibly never touched) memory.
fn sbrkarg(s: &str) {
    let a = sbrk(PGSIZE as i32);
    let fd = open("sbrk", O_CREATE | O_WRONLY);
    unlink("sbrk");
    if fd < 0 {
        fail!(s, "open sbrk failed");
    }
    if raw_write(fd, a as usize, PGSIZE as i32) < 0 {
        fail!(s, "write sbrk failed");
    }
    close(fd);

    let a = sbrk(PGSIZE as i32);
    // SAFETY: sbrk just gave us a page, room for the two descriptors.
    if unsafe { sys::pipe(a.cast::<i32>()) } != 0 {
        fail!(s, "pipe() failed");
    }
}

/// String pointers into every page of the first 1.1 MB, mostly unmapped.
fn validatetest(s: &str) {
    let hi = 1100 * 1024;
    for p in (0..=hi).step_by(PGSIZE) {
        if raw_link(c"nosuchfile".as_ptr() as usize, p) != -1 {
            fail!(s, "link should not succeed");
        }
    }
}

/// Zero-initialised, written nowhere: it lives in .bss, which exec must
/// zero. The cell keeps it out of read-only data.
struct Uninit(UnsafeCell<[u8; 10000]>);

// SAFETY: only ever read, by a single-threaded process.
unsafe impl Sync for Uninit {}

static UNINIT: Uninit = Uninit(UnsafeCell::new([0; 10000]));

fn bsstest(s: &str) {
    let base = UNINIT.0.get().cast::<u8>();
    for i in 0..10000 {
        // SAFETY: `i` is inside the array; volatile so the compiler cannot
        // assume the zeros it initialised it with.
        if unsafe { base.add(i).read_volatile() } != 0 {
            fail!(s, "bss test failed");
        }
    }
}

/// exec must fail (and return) when the arguments don't fit the stack.
fn bigargtest(s: &str) {
    unlink("bigarg-ok");
    let pid = fork_or_fail(s);
    if pid == 0 {
        let big = [b' '; 399];
        let args = vec![&big[..]; MAXARG - 1];
        exec("echo", &args);
        close(open("bigarg-ok", O_CREATE));
        exit(0);
    }
    let (_, status) = wait_status();
    if status != 0 {
        exit(status);
    }
    let fd = open("bigarg-ok", O_RDONLY);
    if fd < 0 {
        fail!(s, "bigarg test failed!");
    }
    close(fd);
    unlink("bigarg-ok");
}

/// A read whose buffer starts at the last byte of memory, with length -1.
fn argptest(s: &str) {
    let fd = open("init", O_RDONLY);
    if fd < 0 {
        fail!(s, "open failed");
    }
    raw_read(fd, brk() - 1, -1);
    close(fd);
}

/// There must be an inaccessible guard page below the stack.
fn stacktest(s: &str) {
    expect_killed(s, || {
        let sp: usize;
        // SAFETY: only copies the stack pointer.
        unsafe { asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
        let v = peek(sp - PGSIZE);
        println!("{s}: read below stack {v}");
    });
}

/// The program's text is read-only.
fn textwrite(s: &str) {
    let own_code = textwrite as fn(&str) as usize;
    for addr in [0, own_code] {
        expect_killed(s, || {
            poke(addr, 10);
            println!("{s}: wrote to the text at {addr:#x}");
        });
    }
}

/// Regression: copyin/copyout once truncated wild addresses to 32 bits.
fn pgbug(_s: &str) {
    const WILD: usize = 0xeaeb_0b5b_0000_2f5e;
    let argv = [null::<u8>()];
    raw_exec(WILD, argv.as_ptr());
    // SAFETY: the kernel must refuse the address.
    unsafe { sys::pipe(WILD as *mut i32) };
}

/// Regression: shrinking memory to nothing, into the first page, or by less
/// than a page once crashed the kernel. The children may die; the kernel
/// must not.
fn sbrkbugs(s: &str) {
    if fork_or_fail(s) == 0 {
        sbrk(-(brk() as i32));
        exit(0);
    }
    wait(None);

    if fork_or_fail(s) == 0 {
        sbrk(-((brk() - 3500) as i32));
        exit(0);
    }
    wait(None);

    if fork_or_fail(s) == 0 {
        sbrk((10 * PGSIZE + 2048) as i32 - brk() as i32);
        sbrk(-10);
        exit(0);
    }
    wait(None);
}

/// Grow past a page boundary, shrink back below it, then use the last page
/// from system calls.
fn sbrklast(s: &str) {
    let top = brk();
    if !top.is_multiple_of(PGSIZE) {
        sbrk((PGSIZE - top % PGSIZE) as i32);
    }
    sbrk(PGSIZE as i32);
    sbrk(10);
    sbrk(-20);
    // The name lives in the last page, 64 bytes below the break.
    let p = brk() - 64;
    for (i, &c) in b"sbrklast.x\0".iter().enumerate() {
        poke(p + i, c);
    }
    let fd = raw_open(p, O_RDWR | O_CREATE) as i32;
    if fd < 0 {
        fail!(s, "open of a name in the last page failed");
    }
    raw_write(fd, p, 1);
    close(fd);
    let fd = raw_open(p, O_RDWR) as i32;
    poke(p, 0);
    raw_read(fd, p, 1);
    close(fd);
    unlink("sbrklast.x");
    if peek(p) != b's' {
        fail!(s, "read back {:#x} from the last page, not 's'", peek(p));
    }
}

/// sbrk with a negative argument whose magnitude is near 2^31.
fn sbrk8000(_s: &str) {
    sbrk(0x8000_0004_u32 as i32);
    let last = brk() - 1;
    poke(last, peek(last).wrapping_add(1));
}

/// Regression: exec with a bad argument pointer once leaked memory.
fn badarg(_s: &str) {
    let argv = [0xffff_ffff_usize as *const u8, null()];
    for _ in 0..50000 {
        raw_exec(c"echo".as_ptr() as usize, argv.as_ptr());
    }
}

/// Regression: write from a bad buffer once allocated a block that the
/// file's deletion never freed, until the disk filled up.
fn badwrite(s: &str) {
    const ASSUMED_FREE: usize = 600;
    unlink("junk");
    for _ in 0..ASSUMED_FREE {
        let fd = open("junk", O_CREATE | O_WRONLY);
        if fd < 0 {
            fail!(s, "open junk failed");
        }
        raw_write(fd, 0xff_ffff_ffff, 1);
        close(fd);
        unlink("junk");
    }
    let fd = open("junk", O_CREATE | O_WRONLY);
    if fd < 0 {
        fail!(s, "open junk failed");
    }
    if write(fd, b"x") != 1 {
        fail!(s, "write failed");
    }
    close(fd);
    unlink("junk");
}

/// exec when memory has run out: it must fail cleanly (and free what it
/// took) however far it gets.
fn execout(s: &str) {
    for avail in 0..15 {
        if fork_or_fail(s) == 0 {
            loop {
                let a = sbrk(PGSIZE as i32);
                if sbrk_failed(a) {
                    break;
                }
                poke(a as usize + PGSIZE - 1, 1);
            }
            // Let exec get a few pages further each time.
            for _ in 0..avail {
                sbrk(-(PGSIZE as i32));
            }
            close(1);
            // No heap left: the arguments are static.
            let argv = [c"echo".as_ptr().cast::<u8>(), c"x".as_ptr().cast(), null()];
            raw_exec(c"echo".as_ptr() as usize, argv.as_ptr());
            exit(0);
        }
        wait(None);
    }
}
