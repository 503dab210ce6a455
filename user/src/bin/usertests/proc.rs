//! Process tests: fork, exit, wait, kill, reparenting to init, running out
//! of processes, preemption, and a pipe between two processes.

use crate::{BUFSZ, Test, fork_or_fail, wait_status};
use user::*;

pub const TESTS: &[Test] = &[
    Test::quick("pipe1", pipe1),
    Test::quick("killstatus", killstatus),
    Test::quick("preempt", preempt),
    Test::quick("exitwait", exitwait),
    Test::quick("reparent", reparent),
    Test::quick("twochildren", twochildren),
    Test::quick("forkfork", forkfork),
    Test::quick("forkforkfork", forkforkfork),
    Test::quick("reparent2", reparent2),
    Test::quick("forktest", forktest),
];

/// A child writes numbered bytes into a pipe; the parent reads them back in
/// ever larger pieces.
fn pipe1(s: &str) {
    const N: usize = 5;
    const SZ: usize = 1033;
    let mut buf = vec![0u8; BUFSZ];
    let mut fds = [0; 2];
    if pipe(&mut fds) != 0 {
        fail!(s, "pipe() failed");
    }
    let pid = fork_or_fail(s);
    let mut seq = 0u8;
    if pid == 0 {
        close(fds[0]);
        for _ in 0..N {
            for b in &mut buf[..SZ] {
                *b = seq;
                seq = seq.wrapping_add(1);
            }
            if write(fds[1], &buf[..SZ]) != SZ as i32 {
                fail!(s, "pipe1 oops 1");
            }
        }
        exit(0);
    }
    close(fds[1]);
    let mut total = 0;
    let mut cc = 1;
    loop {
        let n = read(fds[0], &mut buf[..cc]);
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b != seq {
                fail!(s, "pipe1 oops 2");
            }
            seq = seq.wrapping_add(1);
        }
        total += n as usize;
        cc = (cc * 2).min(BUFSZ);
    }
    if total != N * SZ {
        fail!(s, "pipe1 oops 3 total {total}");
    }
    close(fds[0]);
    let (_, status) = wait_status();
    if status != 0 {
        exit(status);
    }
}

/// A killed process's exit status is -1.
fn killstatus(s: &str) {
    for _ in 0..100 {
        let mut fds = [0; 2];
        if pipe(&mut fds) != 0 {
            fail!(s, "pipe() failed");
        }
        let pid = fork_or_fail(s);
        if pid == 0 {
            // Say "running" (instead of the parent waiting a tick for it),
            // then keep making system calls until killed.
            write(fds[1], b"r");
            loop {
                getpid();
            }
        }
        let mut b = [0u8; 1];
        if read(fds[0], &mut b) != 1 {
            fail!(s, "the child did not start");
        }
        close(fds[0]);
        close(fds[1]);
        kill(pid);
        let (_, status) = wait_status();
        if status != -1 {
            fail!(s, "status should be -1, not {status}");
        }
    }
}

/// Processes that never make a system call must still be preempted, and
/// killed.
fn preempt(s: &str) {
    let pid1 = fork_or_fail(s);
    if pid1 == 0 {
        spin();
    }
    let pid2 = fork_or_fail(s);
    if pid2 == 0 {
        spin();
    }
    let mut fds = [0; 2];
    if pipe(&mut fds) != 0 {
        fail!(s, "pipe() failed");
    }
    let pid3 = fork_or_fail(s);
    if pid3 == 0 {
        close(fds[0]);
        if write(fds[1], b"x") != 1 {
            println!("{s}: preempt write error");
        }
        close(fds[1]);
        spin();
    }
    close(fds[1]);
    let mut buf = [0u8; 16];
    let n = read(fds[0], &mut buf);
    close(fds[0]);
    kill(pid1);
    kill(pid2);
    kill(pid3);
    for _ in 0..3 {
        wait(None);
    }
    if n != 1 {
        fail!(s, "preempt read error: got {n} bytes, not 1");
    }
}

fn spin() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Races between exit and wait.
fn exitwait(s: &str) {
    for i in 0..100 {
        let pid = fork_or_fail(s);
        if pid == 0 {
            exit(i);
        }
        let (waited, status) = wait_status();
        if waited != pid {
            fail!(s, "wait wrong pid");
        }
        if status != i {
            fail!(s, "wait wrong exit status");
        }
    }
}

/// Races in handing the children of an exiting process to init.
fn reparent(s: &str) {
    let master = getpid();
    for _ in 0..200 {
        let pid = fork_or_fail(s);
        if pid == 0 {
            if fork() < 0 {
                kill(master);
                exit(1);
            }
            exit(0);
        }
        if wait(None) != pid {
            fail!(s, "wait wrong pid");
        }
    }
}

/// Two children exiting at the same time.
fn twochildren(s: &str) {
    for _ in 0..1000 {
        if fork_or_fail(s) == 0 {
            exit(0);
        }
        if fork_or_fail(s) == 0 {
            exit(0);
        }
        wait(None);
        wait(None);
    }
}

/// Concurrent forks, to expose locking bugs.
fn forkfork(s: &str) {
    const N: usize = 2;
    for _ in 0..N {
        if fork_or_fail(s) == 0 {
            for _ in 0..200 {
                let pid = fork();
                if pid < 0 {
                    exit(1);
                }
                if pid == 0 {
                    exit(0);
                }
                wait(None);
            }
            exit(0);
        }
    }
    for _ in 0..N {
        let (_, status) = wait_status();
        if status != 0 {
            fail!(s, "fork in child failed");
        }
    }
}

/// A fork bomb, stopped by a file, until the process table is full.
fn forkforkfork(s: &str) {
    unlink("stopforking");
    // Every forker holds the pipe's write end until it exits, so reading
    // the end of the pipe tells us that all of them are gone.
    let mut fds = [0; 2];
    if pipe(&mut fds) != 0 {
        fail!(s, "pipe() failed");
    }
    if fork_or_fail(s) == 0 {
        close(fds[0]);
        loop {
            if open("stopforking", O_RDONLY) >= 0 {
                exit(0);
            }
            if fork() < 0 {
                close(open("stopforking", O_CREATE | O_RDWR));
            }
        }
    }
    close(fds[1]);
    sleep(20);
    close(open("stopforking", O_CREATE | O_RDWR));
    wait(None);
    let mut b = [0u8];
    while read(fds[0], &mut b) > 0 {}
    close(fds[0]);
    unlink("stopforking");
    // Give init a moment to reap the orphans, as xv6's test does.
    sleep(10);
}

/// Regression: reparenting to init once deadlocked against init's wait, or
/// released the wrong lock.
fn reparent2(s: &str) {
    for _ in 0..800 {
        let pid = fork();
        if pid < 0 {
            fail!(s, "fork failed");
        }
        if pid == 0 {
            fork();
            fork();
            exit(0);
        }
        wait(None);
    }
}

/// fork must fail gracefully when processes or memory run out.
fn forktest(s: &str) {
    const N: usize = 1000;
    let mut n = 0;
    while n < N {
        let pid = fork();
        if pid < 0 {
            break;
        }
        if pid == 0 {
            exit(0);
        }
        n += 1;
    }
    if n == 0 {
        fail!(s, "no fork at all!");
    }
    if n == N {
        fail!(s, "fork claimed to work {N} times!");
    }
    for _ in 0..n {
        if wait(None) < 0 {
            fail!(s, "wait stopped early");
        }
    }
    if wait(None) != -1 {
        fail!(s, "wait got too many");
    }
}
