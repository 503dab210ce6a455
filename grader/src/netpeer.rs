//! The host side of the net lab's runs: a UDP peer on 127.0.0.1 that
//! answers every datagram with `this is the host!` (and `burst N` with N
//! datagrams `burst 0` … `burst N-1`: 2024's ping3 floods a port with
//! them) and records what it received ([`Peer::record`], what a spec's
//! `peer` check reads: 2024's txone is seen on this side, where the guest
//! cannot write), and a DNS server that
//! answers for one name, both on ports picked freshly for each run (so
//! graders running at once never share one). The name (`<random>.xv6.test`,
//! `.test` being reserved for tests) and its address (in 10.0.0.0/8) are
//! drawn for each run, so no answer can be written into a kernel ahead of
//! time. Both are threads of the grader: they end with the run, and a
//! killed grader leaves nothing behind.
//!
//! MIT's DNS test asks a public server (8.8.8.8) for a real name; there is
//! no internet here, so the guest asks this server, at the host's address
//! on QEMU's user network (10.0.2.2) and the port in `$DNSPORT`.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use simple_dns::rdata::{A, RData};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};

/// What the peer sends back.
pub const REPLY: &[u8] = b"this is the host!";
/// The spec's commands write these where the peer's port, the DNS
/// server's port, the name it knows and that name's address go
/// (`nettests $NETPORT $DNSPORT $DNSNAME $DNSADDR`).
pub const PORT_PLACEHOLDER: &str = "$NETPORT";
pub const DNS_PORT_PLACEHOLDER: &str = "$DNSPORT";
pub const DNS_NAME_PLACEHOLDER: &str = "$DNSNAME";
pub const DNS_ADDR_PLACEHOLDER: &str = "$DNSADDR";

/// The most datagrams a `burst` request gets, and the most the peer
/// records.
pub const MAX_BURST: usize = 64;
const MAX_RECORD: usize = 1000;

pub struct Peer {
    port: u16,
    record: Arc<Mutex<Vec<String>>>,
    dns_port: u16,
    dns_name: String,
    dns_addr: Ipv4Addr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Peer {
    /// Binds two free ports on 127.0.0.1, draws the DNS name and address,
    /// and starts answering.
    pub fn start() -> std::io::Result<Peer> {
        let mut seed = [0u8; 13];
        getrandom::fill(&mut seed)
            .map_err(|e| std::io::Error::other(format!("no OS randomness: {e}")))?;
        let label: String = seed[..10]
            .iter()
            .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz234567"[usize::from(b % 32)]))
            .collect();
        let dns_name = format!("{label}.xv6.test");
        let dns_addr = Ipv4Addr::new(10, seed[10], seed[11], 1 + seed[12] % 254);
        let stop = Arc::new(AtomicBool::new(false));
        let sock = bind()?;
        let port = sock.local_addr()?.port();
        let dns = bind()?;
        let dns_port = dns.local_addr()?.port();
        let mut threads = Vec::new();
        let record = Arc::new(Mutex::new(Vec::new()));
        let log = record.clone();
        threads.push(serve(sock, stop.clone(), move |d| {
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() < MAX_RECORD {
                log.push(record_line(d));
            }
            replies(d)
        }));
        let (name, addr) = (dns_name.clone(), dns_addr);
        threads.push(serve(dns, stop.clone(), move |q| {
            dns_replies(q, &name, addr)
        }));
        Ok(Peer {
            port,
            record,
            dns_port,
            dns_name,
            dns_addr,
            stop,
            threads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// One line per datagram the peer (not the DNS server) received so
    /// far, in order (the first MAX_RECORD): `datagram: <payload>`, bytes
    /// other than printable ASCII escaped (`\n`, `\x00`).
    pub fn record(&self) -> Vec<String> {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn dns_port(&self) -> u16 {
        self.dns_port
    }

    /// The one name the DNS server knows, and its address.
    pub fn dns_name(&self) -> &str {
        &self.dns_name
    }

    pub fn dns_addr(&self) -> Ipv4Addr {
        self.dns_addr
    }

    /// QEMU's arguments for an e1000 on the user-mode network (the guest
    /// reaches the host's 127.0.0.1 as 10.0.2.2).
    pub fn qemu_args() -> Vec<OsString> {
        [
            "-netdev",
            "user,id=net0",
            "-device",
            "e1000,netdev=net0,bus=pcie.0",
        ]
        .iter()
        .map(OsString::from)
        .collect()
    }

    /// QEMU's arguments that save every packet of the e1000's network
    /// (both ways) to `pcap`, a pcap file (Wireshark, `tcpdump -r`).
    pub fn pcap_args(pcap: &Path) -> Vec<OsString> {
        // QEMU's option syntax: a comma in a value is written twice.
        let file = pcap.to_string_lossy().replace(',', ",,");
        vec![
            "-object".into(),
            format!("filter-dump,id=dump0,netdev=net0,file={file}").into(),
        ]
    }

    /// `commands` with the placeholders replaced by this peer's values.
    pub fn commands(&self, commands: &[String]) -> Vec<String> {
        commands
            .iter()
            .map(|c| {
                c.replace(PORT_PLACEHOLDER, &self.port.to_string())
                    .replace(DNS_PORT_PLACEHOLDER, &self.dns_port.to_string())
                    .replace(DNS_NAME_PLACEHOLDER, &self.dns_name)
                    .replace(DNS_ADDR_PLACEHOLDER, &self.dns_addr.to_string())
            })
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind() -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    // Wakes up now and then to see whether the run is over.
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(sock)
}

/// A thread that sends `answer(datagram)`'s datagrams back to each
/// datagram's sender, in order, until `stop`.
fn serve(
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
    answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                send_all(&sock, from, answer(&buf[..n]));
            }
        }
    })
}

/// The record's line for datagram `d`.
pub fn record_line(d: &[u8]) -> String {
    format!("datagram: {}", d.escape_ascii())
}

/// The peer's answers to datagram `d`: `burst N` (N at most MAX_BURST)
/// gets N datagrams `burst 0` … `burst N-1`, anything else REPLY.
pub fn replies(d: &[u8]) -> Vec<Vec<u8>> {
    let burst = std::str::from_utf8(d)
        .ok()
        .and_then(|s| s.strip_prefix("burst "))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n <= MAX_BURST);
    match burst {
        Some(n) => (0..n).map(|i| format!("burst {i}").into_bytes()).collect(),
        None => vec![REPLY.to_vec()],
    }
}

fn send_all(sock: &UdpSocket, to: SocketAddr, datagrams: Vec<Vec<u8>>) {
    for d in datagrams {
        let _ = sock.send_to(&d, to);
    }
}

/// The DNS server's answers to datagram `query`: nothing for what is not
/// a query with one question; NXDOMAIN for any name but `name`; for an A
/// query of `name`, three bad answers and then the right one. The bad
/// ones (in this order: another query's id, an answer about another name,
/// the right answer cut short inside its address) each carry another
/// address, so a resolver that takes any of them resolves `name` wrongly:
/// every run tests that the guest's parser checks the id, the name and the
/// length.
pub fn dns_replies(query: &[u8], name: &str, addr: Ipv4Addr) -> Vec<Vec<u8>> {
    let Ok(q) = Packet::parse(query) else {
        return Vec::new();
    };
    if q.has_flags(PacketFlag::RESPONSE) || q.questions.len() != 1 {
        return Vec::new();
    }
    let question = &q.questions[0];
    let asked = question.qname.to_string();
    let is_a =
        question.qtype == QTYPE::TYPE(TYPE::A) && question.qclass == QCLASS::CLASS(CLASS::IN);
    if !asked.eq_ignore_ascii_case(name) || !is_a {
        let mut r = Packet::new_reply(q.id());
        r.set_flags(PacketFlag::RECURSION_AVAILABLE);
        *r.rcode_mut() = RCODE::NameError;
        r.questions.push(question.clone());
        return r.build_bytes_vec_compressed().into_iter().collect();
    }
    let decoy = Ipv4Addr::from(u32::from(addr) ^ 0xff);
    let other = format!("not-{name}");
    let right = answer(q.id(), name, addr);
    let mut cut = answer(q.id(), name, decoy);
    cut.truncate(cut.len() - 2);
    vec![
        answer(q.id().wrapping_add(1), name, decoy),
        answer(q.id(), &other, decoy),
        cut,
        right,
    ]
}

/// A reply with id `id` to an A query of `name`: `name` is at `addr`.
fn answer(id: u16, name: &str, addr: Ipv4Addr) -> Vec<u8> {
    let mut r = Packet::new_reply(id);
    r.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    let qname = Name::new_unchecked(name);
    r.questions.push(Question::new(
        qname.clone(),
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    r.answers.push(ResourceRecord::new(
        qname,
        CLASS::IN,
        60,
        RData::A(A {
            address: u32::from(addr),
        }),
    ));
    r.build_bytes_vec_compressed()
        .expect("a name of a few short labels fits a DNS packet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_datagram_and_frees_its_port_when_dropped() {
        let peer = Peer::start().unwrap();
        let port = peer.port();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..3 {
            c.send_to(b"a message from xv6!", ("127.0.0.1", port))
                .unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = c.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], REPLY);
        }
        assert_eq!(
            peer.commands(&["nettests $NETPORT $DNSPORT $DNSNAME $DNSADDR".into()]),
            [format!(
                "nettests {port} {} {} {}",
                peer.dns_port(),
                peer.dns_name(),
                peer.dns_addr()
            )]
        );
        drop(peer);
        // The thread is gone and the port free again.
        UdpSocket::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn records_each_datagram_and_answers_a_burst_request_with_a_burst() {
        let peer = Peer::start().unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(b"txone", ("127.0.0.1", peer.port())).unwrap();
        c.send_to(b"burst 20", ("127.0.0.1", peer.port())).unwrap();
        let mut got = Vec::new();
        for _ in 0..21 {
            let mut buf = [0u8; 64];
            let (n, _) = c.recv_from(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got[0], REPLY);
        assert_eq!(got[1], b"burst 0");
        assert_eq!(got[20], b"burst 19");
        c.send_to(b"a\n\x00", ("127.0.0.1", peer.port())).unwrap();
        c.recv_from(&mut [0u8; 64]).unwrap();
        assert_eq!(
            peer.record(),
            [
                "datagram: txone",
                "datagram: burst 20",
                "datagram: a\\n\\x00"
            ]
        );
        assert_eq!(replies(b"burst 65"), [REPLY.to_vec()]);
        assert_eq!(replies(b"burst 0"), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn the_pcap_path_is_one_qemu_option_value() {
        let args = Peer::pcap_args(Path::new("/logs/a,b/nettests.pcap"));
        assert_eq!(
            args,
            [
                "-object",
                "filter-dump,id=dump0,netdev=net0,file=/logs/a,,b/nettests.pcap"
            ]
        );
    }

    #[test]
    fn two_peers_get_different_ports() {
        let a = Peer::start().unwrap();
        let b = Peer::start().unwrap();
        assert_ne!(a.port(), b.port());
    }

    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut q = Packet::new_query(id);
        q.set_flags(PacketFlag::RECURSION_DESIRED);
        q.questions.push(Question::new(
            Name::new_unchecked(name),
            TYPE::A.into(),
            CLASS::IN.into(),
            false,
        ));
        q.build_bytes_vec().unwrap()
    }

    /// (id, question's name, A record's address) of a reply that parses.
    fn read(reply: &[u8]) -> Option<(u16, String, Option<Ipv4Addr>)> {
        let p = Packet::parse(reply).ok()?;
        let addr = p.answers.iter().find_map(|a| match &a.rdata {
            RData::A(a) => Some(Ipv4Addr::from(a.address)),
            _ => None,
        });
        Some((p.id(), p.questions[0].qname.to_string(), addr))
    }

    #[test]
    fn dns_sends_a_wrong_id_another_name_a_cut_answer_then_the_right_one() {
        let addr = Ipv4Addr::new(10, 7, 8, 9);
        let name = "abc.xv6.test";
        let r = dns_replies(&query(0x1234, "ABC.xv6.test"), name, addr);
        assert_eq!(r.len(), 4);
        let (id, qname, a) = read(&r[0]).unwrap();
        assert!(id != 0x1234 && qname == name && a.is_some_and(|a| a != addr));
        let (id, qname, a) = read(&r[1]).unwrap();
        assert!(id == 0x1234 && qname != name && a.is_some_and(|a| a != addr));
        assert!(read(&r[2]).is_none(), "the cut answer parses");
        assert!(r[2].len() + 2 == r[3].len());
        assert_eq!(read(&r[3]), Some((0x1234, name.to_owned(), Some(addr))));
    }

    #[test]
    fn dns_knows_no_other_name_and_ignores_what_is_not_a_query() {
        let addr = Ipv4Addr::new(10, 1, 2, 3);
        let r = dns_replies(&query(7, "other.xv6.test"), "abc.xv6.test", addr);
        assert_eq!(r.len(), 1);
        let p = Packet::parse(&r[0]).unwrap();
        assert!(p.id() == 7 && p.rcode() == RCODE::NameError && p.answers.is_empty());
        assert!(dns_replies(b"\x01\x02garbage", "abc.xv6.test", addr).is_empty());
        let reply = dns_replies(&query(7, "abc.xv6.test"), "abc.xv6.test", addr);
        assert!(dns_replies(&reply[3], "abc.xv6.test", addr).is_empty());
    }

    #[test]
    fn each_run_draws_a_name_and_address_and_serves_dns_on_its_port() {
        let a = Peer::start().unwrap();
        let b = Peer::start().unwrap();
        assert_ne!(a.dns_name(), b.dns_name());
        assert!(a.dns_name().ends_with(".xv6.test"));
        assert_eq!(a.dns_addr().octets()[0], 10);
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query(99, a.dns_name()), ("127.0.0.1", a.dns_port()))
            .unwrap();
        let mut last = Vec::new();
        for _ in 0..4 {
            let mut buf = [0u8; 512];
            let (n, _) = c.recv_from(&mut buf).unwrap();
            last = buf[..n].to_vec();
        }
        assert_eq!(
            read(&last),
            Some((99, a.dns_name().to_owned(), Some(a.dns_addr())))
        );
    }
}
