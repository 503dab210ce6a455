//! The net lab end to end, on its reference kernel: full marks (2020's
//! tests and 2024's); the run's packets saved as a pcap holding every ping
//! and its answer, txone and ping3's burst; the peer and DNS server gone
//! with the grader, after a finished grade and after the grader is killed
//! (SIGKILL) in the middle of a run, and its QEMU too. A guest that prints
//! the peer's record line scores nothing on txone. (The starter's 0 on
//! every test, 2024's too, is `check-starters`': starters.rs.)

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use tests::{Config, Scenario, assert_full_marks, build, grader_bin, qemus_mentioning, root};

const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// The lab's own spec, in a scratch tree of its own (logs included).
fn scenario() -> Scenario {
    let spec = std::fs::read_to_string(root().join("labs/lab-net.toml")).unwrap();
    let s = Scenario::with_text("lab-net", &spec);
    std::fs::copy(
        root().join("labs/registry.toml"),
        s.dir.path().join("labs/registry.toml"),
    )
    .unwrap();
    s
}

/// The ports `nettests` was given in the console `log`: peer's, DNS's.
fn ports(log: &str) -> (u16, u16) {
    let line = log
        .lines()
        .find_map(|l| {
            let l = l.trim_start_matches("$ ").strip_prefix("nettests ")?;
            Some(l.strip_prefix("grade ").unwrap_or(l))
        })
        .unwrap_or_else(|| panic!("no nettests command in:\n{log}"));
    let mut words = line.split_whitespace().map(|w| w.parse::<u16>().unwrap());
    (words.next().unwrap(), words.next().unwrap())
}

/// UDP datagrams in `pcap`: (source, source port, destination,
/// destination port, payload).
fn datagrams(pcap: &Path) -> Vec<(Ipv4Addr, u16, Ipv4Addr, u16, Vec<u8>)> {
    let file = std::fs::File::open(pcap).unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    let mut reader = PcapReader::new(file).expect("not a pcap file");
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.expect("a damaged packet record");
        let Ok(frame) = SlicedPacket::from_ethernet(&p.data) else {
            continue;
        };
        if let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Udp(udp))) =
            (frame.net, frame.transport)
        {
            let h = ip.header();
            out.push((
                h.source_addr(),
                udp.source_port(),
                h.destination_addr(),
                udp.destination_port(),
                udp.payload().to_vec(),
            ));
        }
    }
    out
}

/// ARP replies the guest (QEMU's default MAC) sent in `pcap`: answers to
/// ARP requests it received.
fn guest_arp_replies(pcap: &Path) -> usize {
    let file = std::fs::File::open(pcap).unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    let mut reader = PcapReader::new(file).expect("not a pcap file");
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        let d = p.expect("a damaged packet record").data;
        let guest = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        // Ethernet: source MAC at 6, type at 12; ARP's operation at 20.
        if d.len() >= 42 && d[6..12] == guest && d[12..14] == [8, 6] && d[20..22] == [0, 2] {
            n += 1;
        }
    }
    n
}

/// Whether a port of 127.0.0.1 is free (no peer left holding it).
fn free(port: u16) -> bool {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Waits until `pid` is gone (or a zombie nobody reaps), up to `limit`.
fn gone(pid: u32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

/// The UDP ports on 127.0.0.1 that process `pid` has sockets bound to.
fn udp_ports_of(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            let inode = f.get(9)?;
            (addr == "0100007F" && inodes.iter().any(|i| i == inode))
                .then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

#[test]
#[ignore = "slow: boots the net lab's kernel three times"]
fn net_lab_full_marks_with_its_packets_saved_and_nothing_left_after_the_grader() {
    let built = build("net");
    // A copy of the kernel, so that the QEMUs found by its path are this
    // test's, whatever else boots the net kernel meanwhile.
    let scratch = tempfile::tempdir().unwrap();
    let config = Config {
        kernel: scratch.path().join("kernel"),
        fs_img: built.fs_img.clone(),
    };
    std::fs::copy(&built.kernel, &config.kernel).unwrap();
    let kernel = config.kernel.to_string_lossy().into_owned();
    let s = scenario();
    let (out, stdout, stderr) = s.grade(&config, &[]);
    assert_full_marks(&out, &stdout, &stderr);
    assert!(stdout.contains("Score: 269/269"), "{stdout}");
    let log = s.log("nettests");
    // Every check of the parser was met: the server's three decoys.
    for why in ["with another query's id", "about another name", "cut short"] {
        assert!(
            log.contains(&format!("DNS: ignored a reply {why}")),
            "{log}"
        );
    }
    let (port, dns) = ports(&log);
    let pcap = s.dir.path().join("out/grade/lab-net/nettests.pcap");
    let d = datagrams(&pcap);
    let count = |from, sport: Option<u16>, to, dport: Option<u16>, payload: &[u8]| {
        d.iter()
            .filter(|(s, sp, t, tp, p)| {
                (*s, *t) == (from, to)
                    && sport.is_none_or(|x| x == *sp)
                    && dport.is_none_or(|x| x == *tp)
                    && (payload.is_empty() || p == payload)
            })
            .count()
    };
    // ping 1, single process 10, multi-process 10 (QEMU's user network
    // sends the host's answers from 10.0.2.2 and the peer's port).
    let pings = count(GUEST, None, HOST, Some(port), b"a message from xv6!");
    let answers = count(HOST, Some(port), GUEST, None, b"this is the host!");
    assert!(
        pings >= 21 && answers >= 21,
        "{pings} pings, {answers} answers in {}",
        pcap.display()
    );
    assert_eq!(
        count(GUEST, Some(10000), HOST, Some(dns), b""),
        1,
        "one DNS query"
    );
    assert_eq!(
        count(HOST, Some(dns), GUEST, Some(10000), b""),
        4,
        "four DNS replies"
    );
    assert!(free(port) && free(dns), "the peer outlived its grader");

    // 2024's run: txone reached the host, ping3's burst came in full (the
    // kernel dropped what its queue had no room for, not the network),
    // and the peer's record, saved beside the log, shows txone.
    let log = s.log("nettests-2024");
    for test in ["ping0", "ping1", "ping2", "ping3", "dns", "free"] {
        assert!(log.contains(&format!("{test}: OK")), "{log}");
    }
    let (port, _) = ports(&log);
    let d = datagrams(&s.dir.path().join("out/grade/lab-net/nettests-2024.pcap"));
    let sent = |payload: &[u8]| {
        d.iter()
            .filter(|(s, _, t, tp, p)| (*s, *t, *tp) == (GUEST, HOST, port) && p == payload)
            .count()
    };
    assert_eq!(sent(b"txone"), 1, "one txone datagram");
    assert_eq!(sent(b"burst 40"), 1, "one burst request");
    let bursts = d
        .iter()
        .filter(|(s, sp, t, tp, p)| {
            (*s, *sp, *t, *tp) == (HOST, port, GUEST, 2200) && p.starts_with(b"burst ")
        })
        .count();
    assert_eq!(bursts, 40, "the burst's 40 datagrams");
    // arp_rx's line is the truth: the guest answered QEMU's ARP request.
    assert!(log.contains("arp_rx: received an ARP packet"), "{log}");
    assert!(
        guest_arp_replies(&s.dir.path().join("out/grade/lab-net/nettests-2024.pcap")) >= 1,
        "no ARP reply from the guest"
    );
    let record =
        std::fs::read_to_string(s.dir.path().join("out/grade/lab-net/nettests-2024.peer")).unwrap();
    assert!(record.lines().any(|l| l == "datagram: txone"), "{record}");
    assert!(
        qemus_mentioning(&kernel).is_empty(),
        "a QEMU outlived its grader"
    );

    // A grader interrupted (Ctrl-C) or killed in the middle of the run:
    // its QEMU and its peer go with it.
    for signal in [libc::SIGINT, libc::SIGKILL] {
        stopped_grader_leaves_nothing(&config, &kernel, signal);
    }
}

/// Starts the grader on the lab, sends it `signal` once its QEMU and its
/// peer's two sockets exist, and checks that both go.
fn stopped_grader_leaves_nothing(config: &Config, kernel: &str, signal: i32) {
    let s = scenario();
    let mut grader = Command::new(grader_bin());
    grader
        .arg("--root")
        .arg(s.dir.path())
        .arg("--kernel")
        .arg(&config.kernel)
        .arg("--fs")
        .arg(&config.fs_img)
        .arg("lab-net")
        .env("CARGO_TARGET_DIR", s.dir.path().join("out"))
        .current_dir(s.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = grader.spawn().unwrap();
    let pid = child.id();
    let end = Instant::now() + Duration::from_secs(60);
    let (qemu, held) = loop {
        let q = qemus_mentioning(kernel);
        let held = udp_ports_of(pid);
        if let (Some(&q), 2..) = (q.first(), held.len()) {
            break (q, held);
        }
        assert!(
            Instant::now() < end,
            "no QEMU and peer of the grader's within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: kill(2) on the grader this test started, by its PID.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    child.wait().unwrap();
    assert!(
        gone(qemu, Duration::from_secs(10)),
        "QEMU {qemu} outlived the grader stopped by signal {signal}"
    );
    assert!(
        held.iter().all(|&p| free(p)),
        "the peer's ports {held:?} are still held after signal {signal}"
    );
}

/// txone is judged on the host peer's record: a guest that prints the
/// record's line (and pings, so the peer hears from it) scores nothing on
/// it, and no 2024 test passes on lines no test program tokened (the
/// kernel's arp_rx and ip_rx lines, which anything can print, score only
/// with ping0).
#[test]
#[ignore = "slow: boots the net lab's kernel"]
fn printing_the_peers_line_scores_nothing_on_txone() {
    let built = build("net");
    let spec = std::fs::read_to_string(root().join("labs/lab-net.toml")).unwrap();
    let forged = spec.replace(
        r#"commands = ["nettests grade $NETPORT $DNSPORT $DNSNAME $DNSADDR"]"#,
        r#"commands = ["echo datagram: txone", "echo txone: sent", "echo ping0: OK", "echo arp_rx: received an ARP packet", "echo ip_rx: received an IP packet", "nettests $NETPORT"]"#,
    );
    assert_ne!(forged, spec);
    let s = Scenario::with_text("lab-net", &forged);
    std::fs::copy(
        root().join("labs/registry.toml"),
        s.dir.path().join("labs/registry.toml"),
    )
    .unwrap();
    let (_, stdout, stderr) = s.grade(
        &built,
        &[
            "txone (2024)",
            "ping0 (2024)",
            "arp_rx (2024)",
            "ip_rx (2024)",
        ],
    );
    let log = s.log("nettests-2024");
    assert!(log.lines().any(|l| l == "datagram: txone"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.ends_with("arp_rx: received an ARP packet")),
        "{log}"
    );
    assert!(stdout.contains("Score: 0/80"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the host's peer received no datagram matching"),
        "{stdout}"
    );
    // The peer heard the pings, and nothing else.
    let record =
        std::fs::read_to_string(s.dir.path().join("out/grade/lab-net/nettests-2024.peer")).unwrap();
    assert!(
        !record.is_empty() && record.lines().all(|l| l == "datagram: a message from xv6!"),
        "{record}"
    );
}

/// A batch of two net-lab submissions, the reference's file and the
/// starter's (as `handout` cuts it), graded in the sandbox: each run's
/// peer and DNS server live in the sandbox's network namespace beside its
/// QEMU, and the reference gets full marks, 2024's tests included, the
/// starter nothing.
#[test]
#[ignore = "slow: builds and grades two net-lab submissions in the sandbox"]
fn a_batch_grades_net_submissions_with_their_peers_in_the_sandbox() {
    let scratch = tempfile::tempdir().unwrap();
    let starter = scratch.path().join("starter");
    let mut handout = tests::xtask(&["handout", "net", "--no-git", "--out"]);
    handout.arg(&starter);
    let (out, stdout, stderr) = tests::run(handout);
    assert!(out.status.success(), "handout failed:\n{stdout}{stderr}");
    let file = "labs/src/net.rs";
    let class = scratch.path().join("class");
    for (name, from) in [("reference", root()), ("starter", starter)] {
        let to = class.join(name).join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from.join(file), &to).unwrap();
    }
    let (out, stdout, stderr, summary) = tests::grade_class("lab-net", &class, "900s");
    assert!(out.status.success(), "{stdout}{stderr}");
    let r = tests::outcomes(&summary, "reference");
    assert_eq!(r.len(), 13, "{r:?}");
    assert!(
        r.values().all(|o| o == "pass"),
        "reference: {r:?}\n{stderr}"
    );
    let s = tests::outcomes(&summary, "starter");
    assert!(s.values().all(|o| o != "pass"), "starter: {s:?}\n{stderr}");
}
