#![no_std]
#![no_main]
//! nettests PORT: the net lab's tests (MIT's 2020 nettests without DNS).
//! Each ping sends a datagram to the host's UDP port PORT through QEMU's
//! user network (10.0.2.2) and expects `this is the host!` back.

use user::*;

entry!(main);

const HOST: u32 = 0x0a00_0202;

/// Sends `attempts` pings from local port `lport`; false on any failure.
fn ping(lport: u16, dport: u16, attempts: usize) -> bool {
    let fd = connect(HOST, lport, dport);
    if fd < 0 {
        eprintln!("nettests: connect() failed");
        return false;
    }
    let mut ok = true;
    for _ in 0..attempts {
        if write(fd, b"a message from xv6!") < 0 {
            eprintln!("nettests: send() failed");
            ok = false;
            break;
        }
        let mut buf = [0u8; 128];
        let n = read(fd, &mut buf);
        if n < 0 {
            eprintln!("nettests: recv() failed");
            ok = false;
            break;
        }
        if &buf[..n as usize] != b"this is the host!" {
            eprintln!("nettests: received an incorrect reply");
            ok = false;
            break;
        }
    }
    close(fd);
    ok
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    let Some(dport) = args
        .get(1)
        .and_then(|p| u16::try_from(atoi(p)).ok())
        .filter(|&p| p != 0)
    else {
        eprintln!("usage: nettests PORT (the host's UDP port that answers)");
        return 1;
    };
    print!("testing ping: ");
    if !ping(2000, dport, 1) {
        return 1;
    }
    println!("OK");
    print!("testing single-process pings: ");
    if !ping(2001, dport, 10) {
        return 1;
    }
    println!("OK");
    print!("testing multi-process pings: ");
    let nproc = 10;
    for i in 0..nproc {
        let pid = fork();
        if pid < 0 {
            eprintln!("nettests: fork failed");
            return 1;
        }
        if pid == 0 {
            exit(if ping(2100 + i, dport, 1) { 0 } else { 1 });
        }
    }
    let mut failed = false;
    for _ in 0..nproc {
        let mut st = 0;
        wait(Some(&mut st));
        failed |= st != 0;
    }
    if failed {
        println!("FAILED");
        return 1;
    }
    println!("OK");
    0
}
