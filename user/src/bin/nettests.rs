#![no_std]
#![no_main]
//! nettests PORT [DNSPORT NAME ADDR]: the net lab's tests (MIT's 2020
//! nettests). Each ping sends a datagram to the host's UDP port PORT
//! through QEMU's user network (10.0.2.2) and expects `this is the host!`
//! back. With the DNS arguments it also resolves NAME with a DNS query to
//! the host's port DNSPORT (MIT's asks 8.8.8.8:53, which needs the
//! internet) and checks that the answer is ADDR, the grader's.

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

/// Resolves `name` through the DNS server at the host's port `dport` and
/// checks the answer is `want`. Replies that are not the answer (another
/// id, another name, cut short) are ignored, each with a line, as a
/// resolver must: the grader's server sends one of each first.
fn dns(dport: u16, name: &str, want: [u8; 4]) -> bool {
    let mut q = [0u8; 512];
    let id = (getpid() as u16).wrapping_mul(40503) ^ uptime() as u16;
    let Some(qlen) = build_query(&mut q, id, name) else {
        eprintln!("nettests: {name} is not a host name");
        return false;
    };
    let fd = connect(HOST, 10000, dport);
    if fd < 0 {
        eprintln!("nettests: connect() failed");
        return false;
    }
    let mut ok = false;
    if write(fd, &q[..qlen]) < 0 {
        eprintln!("nettests: send() failed");
    } else {
        for _ in 0..8 {
            let mut r = [0u8; 512];
            let n = read(fd, &mut r);
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
    close(fd);
    ok
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
    if let Some((port, name, addr)) = dns_args {
        println!("testing DNS");
        if !dns(port, name, addr) {
            return 1;
        }
        println!("DNS OK");
    }
    0
}
