#![no_std]
#![no_main]
//! nettests PORT [DNSPORT NAME ADDR]: the net lab's tests (MIT's 2020
//! nettests). Each ping sends a datagram to the host's UDP port PORT
//! through QEMU's user network (10.0.2.2) and expects `this is the host!`
//! back. With the DNS arguments it also resolves NAME with a DNS query to
//! the host's port DNSPORT (MIT's asks 8.8.8.8:53, which needs the
//! internet) and checks that the answer is ADDR, the grader's.
//!
//! nettests grade PORT DNSPORT NAME ADDR: MIT 2024's `nettest grade`, over
//! `bind`, `send` and `recv`: one line per test (`ping0: OK`, or
//! `ping0: FAILED: why`), each test but txone in a child with a deadline.
//! txone only sends (`txone: sent`): the grader asks its peer whether the
//! datagram arrived.

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

/// Why a DNS reply was not the answer to our query.
#[derive(Clone, Copy)]
enum Bad {
    /// Another query's id: a late or forged reply, ignored.
    WrongId,
    /// About another name than the one asked: ignored.
    OtherQuestion,
    /// Ends inside a header, a name or a record: ignored.
    Truncated,
    /// Not a reply (QR clear) or not a standard query's: ignored.
    NotAnAnswer,
    /// A name that loops or is too long: ignored.
    Malformed,
    /// The server's error code: the answer, and a failure.
    Rcode(u16),
    /// The answer, without an A record for the name: a failure.
    NoAddress,
}

impl Bad {
    fn why(self) -> &'static str {
        match self {
            Bad::WrongId => "a reply with another query's id",
            Bad::OtherQuestion => "a reply about another name",
            Bad::Truncated => "a reply cut short",
            Bad::NotAnAnswer => "a datagram that is not a reply",
            Bad::Malformed => "a reply with a malformed name",
            Bad::Rcode(_) => "an error from the server",
            Bad::NoAddress => "an answer without an A record",
        }
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16, Bad> {
    match b.get(at..at + 2) {
        Some(x) => Ok(u16::from_be_bytes([x[0], x[1]])),
        None => Err(Bad::Truncated),
    }
}

/// Reads the (possibly compressed) name at `*off` of `r` into `out` as
/// dotted text, moves `*off` past it, and returns its length.
fn read_name(r: &[u8], off: &mut usize, out: &mut [u8; 256]) -> Result<usize, Bad> {
    let (mut pos, mut len, mut jumped) = (*off, 0, false);
    loop {
        let n = usize::from(*r.get(pos).ok_or(Bad::Truncated)?);
        if n & 0xc0 == 0xc0 {
            let target = (n & 0x3f) << 8 | usize::from(*r.get(pos + 1).ok_or(Bad::Truncated)?);
            if !jumped {
                *off = pos + 2;
                jumped = true;
            }
            // Only backwards, so a chain of pointers always ends.
            if target >= pos {
                return Err(Bad::Malformed);
            }
            pos = target;
            continue;
        }
        if n & 0xc0 != 0 {
            return Err(Bad::Malformed);
        }
        if n == 0 {
            if !jumped {
                *off = pos + 1;
            }
            return Ok(len);
        }
        let label = r.get(pos + 1..pos + 1 + n).ok_or(Bad::Truncated)?;
        let dot = usize::from(len != 0);
        if len + dot + n > out.len() {
            return Err(Bad::Malformed);
        }
        if dot == 1 {
            out[len] = b'.';
        }
        out[len + dot..len + dot + n].copy_from_slice(label);
        len += dot + n;
        pos += 1 + n;
    }
}

/// Whether the name at `*off` is `name` (ignoring case), moving past it.
fn name_is(r: &[u8], off: &mut usize, name: &str) -> Result<bool, Bad> {
    let mut buf = [0u8; 256];
    let n = read_name(r, off, &mut buf)?;
    Ok(buf[..n].eq_ignore_ascii_case(name.as_bytes()))
}

/// The address in reply `r` to query `id` for `name`'s A record.
fn parse_reply(r: &[u8], id: u16, name: &str) -> Result<[u8; 4], Bad> {
    if r.len() < 12 {
        return Err(Bad::Truncated);
    }
    if be16(r, 0)? != id {
        return Err(Bad::WrongId);
    }
    let flags = be16(r, 2)?;
    // QR set, opcode 0 (a standard query's reply).
    if flags & 0x8000 == 0 || flags & 0x7800 != 0 {
        return Err(Bad::NotAnAnswer);
    }
    // TC: the server itself says the reply is cut.
    if flags & 0x0200 != 0 {
        return Err(Bad::Truncated);
    }
    let mut off = 12;
    if be16(r, 4)? != 1 || !name_is(r, &mut off, name)? {
        return Err(Bad::OtherQuestion);
    }
    if be16(r, off)? != 1 || be16(r, off + 2)? != 1 {
        return Err(Bad::OtherQuestion);
    }
    off += 4;
    let rcode = flags & 0xf;
    if rcode != 0 {
        return Err(Bad::Rcode(rcode));
    }
    for _ in 0..be16(r, 6)? {
        let owner = name_is(r, &mut off, name)?;
        let (ty, class) = (be16(r, off)?, be16(r, off + 2)?);
        let len = usize::from(be16(r, off + 8)?);
        off += 10;
        let data = r.get(off..off + len).ok_or(Bad::Truncated)?;
        off += len;
        if owner && ty == 1 && class == 1 {
            return match <[u8; 4]>::try_from(data) {
                Ok(a) => Ok(a),
                Err(_) => Err(Bad::Malformed),
            };
        }
    }
    Err(Bad::NoAddress)
}

/// A query with id `id` for `name`'s A record into `q`; its length, or
/// `None` if `name` is not a host name of labels of 1 to 63 bytes.
fn build_query(q: &mut [u8; 512], id: u16, name: &str) -> Option<usize> {
    q[..12].fill(0);
    q[0..2].copy_from_slice(&id.to_be_bytes());
    // RD: recursion desired, as a stub resolver asks.
    q[2] = 0x01;
    q[5] = 1;
    let mut off = 12;
    for label in name.trim_end_matches('.').split('.') {
        let n = label.len();
        if n == 0 || n > 63 || off + 1 + n + 5 > q.len() {
            return None;
        }
        q[off] = n as u8;
        q[off + 1..off + 1 + n].copy_from_slice(label.as_bytes());
        off += 1 + n;
    }
    // The root label, then QTYPE A and QCLASS IN.
    q[off..off + 5].copy_from_slice(&[0, 0, 1, 0, 1]);
    Some(off + 5)
}

/// `a.b.c.d` as four bytes.
fn parse_addr(s: &str) -> Option<[u8; 4]> {
    let mut a = [0u8; 4];
    let mut parts = s.split('.');
    for b in &mut a {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *b = u8::try_from(atoi(p)).ok()?;
    }
    parts.next().is_none().then_some(a)
}

/// How DNS datagrams go to the server and come back: a 2020 socket, or
/// 2024's calls on a bound port.
enum Via {
    Socket(i32),
    Bound { lport: u16, dport: u16 },
}

impl Via {
    fn send(&self, d: &[u8]) -> bool {
        match *self {
            Via::Socket(fd) => write(fd, d) >= 0,
            Via::Bound { lport, dport } => send(lport, HOST, dport, d) >= 0,
        }
    }

    /// The next datagram (from the server: others are skipped), or -1.
    fn recv(&self, buf: &mut [u8]) -> i32 {
        match *self {
            Via::Socket(fd) => read(fd, buf),
            Via::Bound { lport, dport } => loop {
                let (mut src, mut sport) = (0, 0);
                let n = recv(lport, &mut src, &mut sport, buf);
                if n < 0 || (src, sport) == (HOST, dport) {
                    return n;
                }
            },
        }
    }
}

/// Resolves `name` through the DNS server at the host's port `dport` and
/// checks the answer is `want`. Replies that are not the answer (another
/// id, another name, cut short) are ignored, each with a line, as a
/// resolver must: the grader's server sends one of each first.
fn dns(dport: u16, name: &str, want: [u8; 4]) -> bool {
    let fd = connect(HOST, 10000, dport);
    if fd < 0 {
        eprintln!("nettests: connect() failed");
        return false;
    }
    let ok = resolve(&Via::Socket(fd), name, want);
    close(fd);
    ok
}

/// Asks `via` for `name`'s address; true if the answer is `want`.
fn resolve(via: &Via, name: &str, want: [u8; 4]) -> bool {
    let mut q = [0u8; 512];
    let id = (getpid() as u16).wrapping_mul(40503) ^ uptime() as u16;
    let Some(qlen) = build_query(&mut q, id, name) else {
        eprintln!("nettests: {name} is not a host name");
        return false;
    };
    let mut ok = false;
    if !via.send(&q[..qlen]) {
        eprintln!("nettests: send() failed");
    } else {
        for _ in 0..8 {
            let mut r = [0u8; 512];
            let n = via.recv(&mut r);
            if n < 0 {
                eprintln!("nettests: recv() failed");
                break;
            }
            match parse_reply(&r[..n as usize], id, name) {
                Ok(a) => {
                    println!(
                        "DNS arecord for {name}. is {}.{}.{}.{}",
                        a[0], a[1], a[2], a[3]
                    );
                    ok = a == want;
                    if !ok {
                        let w = want;
                        println!(
                            "DNS: the grader's server says {}.{}.{}.{}",
                            w[0], w[1], w[2], w[3]
                        );
                    }
                    break;
                }
                Err(Bad::Rcode(c)) => {
                    println!("DNS: the server answers with error {c} (3: no such name)");
                    break;
                }
                Err(b @ Bad::NoAddress) => {
                    println!("DNS: {}", b.why());
                    break;
                }
                Err(b) => println!("DNS: ignored {}", b.why()),
            }
        }
    }
    ok
}

// ---- 2024: `nettests grade`. ----

/// The result of one 2024 test: Err says why it failed.
type Outcome = Result<(), &'static str>;

/// Receives one datagram on bound port `port`: (sender, sender's port,
/// payload length), the payload in `buf`.
fn recv_one(port: u16, buf: &mut [u8]) -> Result<(u32, u16, usize), &'static str> {
    let (mut src, mut sport) = (0, 0);
    let n = recv(port, &mut src, &mut sport, buf);
    if n < 0 {
        return Err("recv() failed");
    }
    Ok((src, sport, n as usize))
}

/// Sends a ping from bound port `lport` to the peer at the host's `dport`.
fn send_ping(lport: u16, dport: u16) -> Outcome {
    if send(lport, HOST, dport, b"a message from xv6!") < 0 {
        return Err("send() failed");
    }
    Ok(())
}

/// Receives the peer's answer to a ping on `lport`, from the host's `dport`.
fn recv_pong(lport: u16, dport: u16) -> Outcome {
    let mut buf = [0u8; 128];
    let (src, sport, n) = recv_one(lport, &mut buf)?;
    if (src, sport) != (HOST, dport) {
        return Err("a reply from another address than the host's port");
    }
    if &buf[..n] != b"this is the host!" {
        return Err("received an incorrect reply");
    }
    Ok(())
}

fn bound(port: u16) -> Outcome {
    if bind(port) < 0 {
        return Err("bind() failed");
    }
    Ok(())
}

/// `pings` round trips from port `lport`, bound for them.
fn pings(lport: u16, dport: u16, n: usize) -> Outcome {
    bound(lport)?;
    let r = (0..n).try_for_each(|_| {
        send_ping(lport, dport)?;
        recv_pong(lport, dport)
    });
    unbind(lport);
    r
}

/// Several ports bound at once: all send first, then each receives its
/// own answers (each datagram queued on its port, not another's).
fn ping1(dport: u16) -> Outcome {
    let ports = || 2001..2006u16;
    let mut r = ports().try_for_each(bound);
    if r.is_ok() {
        r = (0..3)
            .try_for_each(|_| ports().try_for_each(|p| send_ping(p, dport)))
            .and_then(|()| ports().try_for_each(|p| (0..3).try_for_each(|_| recv_pong(p, dport))));
    }
    ports().for_each(|p| {
        unbind(p);
    });
    r
}

/// Several processes, each pinging from a port of its own.
fn ping2(dport: u16) -> Outcome {
    let nproc = 5;
    for i in 0..nproc {
        let pid = fork();
        if pid < 0 {
            return Err("fork failed");
        }
        if pid == 0 {
            exit(if pings(2100 + i, dport, 5).is_ok() {
                0
            } else {
                1
            });
        }
    }
    let failed = !children_all_exit_0(nproc.into());
    if failed {
        return Err("a process's pings failed");
    }
    Ok(())
}

/// What asks the peer for a burst of 40 datagrams (`burst 0` …), more
/// than a port's queue holds.
const ASK_BURST: &[u8] = b"burst 40";
/// A port's queue (MIT's limit).
const QUEUED: usize = 16;

/// Has the peer flood one bound port, not receiving while the datagrams
/// arrive: then exactly QUEUED are queued (the first ones, in order), and
/// once they are taken the next datagram on the port is the answer to a
/// later ping, not a seventeenth of the burst.
fn ping3(dport: u16) -> Outcome {
    let port = 2200;
    if recv(port, &mut 0, &mut 0, &mut [0u8; 16]) >= 0 {
        return Err("recv() on an unbound port did not fail");
    }
    bound(port)?;
    let r = flood(port, dport);
    unbind(port);
    r
}

fn flood(port: u16, dport: u16) -> Outcome {
    if send(port, HOST, dport, ASK_BURST) < 0 {
        return Err("send() failed");
    }
    // Time for the whole burst to arrive (from the host's loopback).
    sleep(10);
    let mut buf = [0u8; 128];
    let mut last = None;
    for _ in 0..QUEUED {
        let (src, sport, n) = recv_one(port, &mut buf)?;
        let k = core::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.strip_prefix("burst "))
            .map(atoi);
        match k {
            Some(k) if (src, sport) == (HOST, dport) && last.is_none_or(|l| k > l) => {
                last = Some(k)
            }
            _ => return Err("received something else than the burst, in order"),
        }
    }
    send_ping(port, dport)?;
    recv_pong(port, dport).map_err(|_| "more than 16 datagrams were queued on one port")
}

/// Resolves `name` over 2024's calls from port 10000.
fn dns24(dport: u16, name: &str, want: [u8; 4]) -> Outcome {
    bound(10000)?;
    let ok = resolve(
        &Via::Bound {
            lport: 10000,
            dport,
        },
        name,
        want,
    );
    unbind(10000);
    if ok { Ok(()) } else { Err("no right answer") }
}

/// Runs `test` in a child, killed if it takes more than `secs` seconds
/// (a datagram lost leaves `recv` waiting), and prints `name: OK` or
/// `name: FAILED: why`. True if it passed.
fn timed(name: &str, secs: i32, test: &dyn Fn() -> Outcome) -> bool {
    let worker = fork();
    if worker < 0 {
        println!("{name}: FAILED: fork failed");
        return false;
    }
    if worker == 0 {
        match test() {
            Ok(()) => exit(0),
            Err(why) => {
                println!("{name}: FAILED: {why}");
                exit(1);
            }
        }
    }
    let watchdog = fork();
    if watchdog == 0 {
        sleep(secs * 10);
        exit(0);
    }
    let mut st = 0;
    let first = wait(Some(&mut st));
    let ok = if first == worker {
        if watchdog > 0 {
            kill(watchdog);
            wait(None);
        }
        st == 0
    } else {
        kill(worker);
        wait(None);
        println!("{name}: FAILED: no result within {secs} s");
        false
    };
    if ok {
        println!("{name}: OK");
    }
    ok
}

/// MIT 2024's tests, in its order; 0 if all passed.
fn grade(dport: u16, (dns_port, name, addr): (u16, &str, [u8; 4])) -> i32 {
    let Some(before) = countfree() else {
        println!("free: FAILED: cannot count free pages");
        return 1;
    };
    let mut ok = true;
    // Seen (or not) by the grader's peer: nothing to check here.
    if send(2000, HOST, dport, b"txone") < 0 {
        println!("txone: FAILED: send() failed");
        ok = false;
    } else {
        println!("txone: sent");
    }
    let ping0 = timed("ping0", 10, &|| pings(2000, dport, 1));
    ok &= ping0;
    ok &= timed("ping1", 10, &|| ping1(dport));
    ok &= timed("ping2", 20, &|| ping2(dport));
    ok &= timed("ping3", 10, &|| ping3(dport));
    ok &= timed("dns", 10, &|| dns24(dns_port, name, addr));
    match countfree() {
        // Without a round trip no packet was received and freed: nothing
        // would be counted (a starter loses nothing).
        _ if !ping0 => {
            println!("free: FAILED: no datagram made a round trip (ping0)");
            ok = false;
        }
        Some(after) if before.saturating_sub(after) < 32 => {
            println!("free: OK ({} pages lost)", before.saturating_sub(after));
        }
        Some(after) => {
            println!("free: FAILED: {} pages lost", before - after);
            ok = false;
        }
        None => {
            println!("free: FAILED: cannot count free pages");
            ok = false;
        }
    }
    if ok { 0 } else { 1 }
}

fn main(args: Args) -> i32 {
    user::tok_enable!();
    const USAGE: &str = "usage: nettests PORT [DNSPORT NAME ADDR] (the host's UDP ports that \
                         answer pings and DNS, a name that DNS server knows and its address)";
    let port = |i: usize| {
        args.get(i)
            .and_then(|p| u16::try_from(atoi(p)).ok())
            .filter(|&p| p != 0)
    };
    if args.get(1) == Some("grade") {
        let dns = (port(3), args.get(4), args.get(5).and_then(parse_addr));
        let (Some(dport), (Some(p), Some(name), Some(addr)), 6) = (port(2), dns, args.len()) else {
            eprintln!("usage: nettests grade PORT DNSPORT NAME ADDR");
            return 1;
        };
        return grade(dport, (p, name, addr));
    }
    let Some(dport) = port(1) else {
        eprintln!("{USAGE}");
        return 1;
    };
    let dns_args = match (port(2), args.get(3), args.get(4).and_then(parse_addr)) {
        (Some(p), Some(name), Some(addr)) if args.len() == 5 => Some((p, name, addr)),
        _ if args.len() == 2 => None,
        _ => {
            eprintln!("{USAGE}");
            return 1;
        }
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
    let failed = !children_all_exit_0(nproc.into());
    if failed {
        println!("FAILED");
        return 1;
    }
    println!("OK");
    if let Some((port, name, addr)) = dns_args {
        println!("testing DNS");
        if !dns(port, name, addr) {
            return 1;
        }
        println!("DNS OK");
    }
    0
}

/// Waits for `n` children; whether each exited 0.
fn children_all_exit_0(n: usize) -> bool {
    let mut ok = true;
    for _ in 0..n {
        let mut st = 0;
        wait(Some(&mut st));
        ok &= st == 0;
    }
    ok
}
