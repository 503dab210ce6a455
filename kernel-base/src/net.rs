//! The net lab's base (feature `net`): PCI on QEMU `virt`, an Intel e1000
//! whose descriptor rings own their buffers, a small Ethernet/ARP/IP/UDP
//! stack, UDP sockets (2020's `connect`, then read and write) and 2024's
//! `send`.
//!
//! The lab's part is the driver's transmit and receive ([`Driver`]): it
//! works on [`E1000`]'s rings through safe methods that check descriptor
//! ownership, so a wrong step drops or refuses a packet, never lets the
//! card write memory the kernel still uses. In 2024's design the lab also
//! queues the datagrams for ports bound with `bind` ([`Driver::deliver`])
//! and hands them out with `recv`.

use crate::file::{File, FileKind};
use crate::proc::{current, sleep, wakeup};
use crate::spinlock::SpinLock;
use crate::syscall::{arg_addr, arg_int, arg_raw, copy_in, copy_out};
use crate::vm::{Frame, UserAddr};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering, fence};

/// PCI configuration space (ECAM) on `virt`, and where the kernel puts
/// the e1000's registers (BAR 0), as MIT's xv6 does.
pub const ECAM: usize = 0x3000_0000;
pub const ECAM_SIZE: usize = 0x1_0000;
pub const E1000_REGS: usize = 0x4000_0000;
pub const E1000_REGS_SIZE: usize = 0x2_0000;
/// The e1000's interrupt at bus 0 device 1 (pin A): 32 + 1.
pub const E1000_IRQ: u32 = 33;

/// Descriptors in each ring.
pub const TX_RING_SIZE: usize = 16;
pub const RX_RING_SIZE: usize = 16;
/// Bytes of packet a buffer holds (the receive buffer size set in RCTL).
pub const MBUF_SIZE: usize = 2048;
/// Room left in front of a packet for headers to be pushed.
const MBUF_HEADROOM: usize = 128;

// Register offsets (bytes) and bits, from Intel's 8254x manual.
const CTL: usize = 0x0000;
const CTL_RST: u32 = 0x0040_0000;
const ICR: usize = 0x00C0;
const IMS: usize = 0x00D0;
const IMC: usize = 0x00D8;
const RCTL: usize = 0x0100;
const RCTL_EN: u32 = 1 << 1;
const RCTL_BAM: u32 = 1 << 15;
const RCTL_SECRC: u32 = 1 << 26;
const TCTL: usize = 0x0400;
const TCTL_EN: u32 = 1 << 1;
const TCTL_PSP: u32 = 1 << 3;
const TIPG: usize = 0x0410;
const RDBAL: usize = 0x2800;
const RDBAH: usize = 0x2804;
const RDLEN: usize = 0x2808;
const RDH: usize = 0x2810;
const RDT: usize = 0x2818;
const RDTR: usize = 0x2820;
const RADV: usize = 0x282C;
const TDBAL: usize = 0x3800;
const TDBAH: usize = 0x3804;
const TDLEN: usize = 0x3808;
const TDH: usize = 0x3810;
const TDT: usize = 0x3818;
const MTA: usize = 0x5200;
const RA: usize = 0x5400;
const TXD_CMD_EOP: u8 = 1 << 0;
const TXD_CMD_RS: u8 = 1 << 3;
const DESC_STAT_DD: u8 = 1 << 0;
const RXD_STAT_EOP: u8 = 1 << 1;

/// QEMU's default MAC for the e1000, and the user-mode network's addresses.
pub const LOCAL_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const LOCAL_IP: u32 = make_ip(10, 0, 2, 15);

pub const fn make_ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// A packet buffer: one page it owns, with the packet somewhere inside.
#[doc(alias = "mbuf")]
pub struct Mbuf {
    frame: Frame,
    head: usize,
    len: usize,
}

impl Mbuf {
    /// An empty buffer with room for headers in front, or `None` when
    /// memory is exhausted.
    #[doc(alias = "mbufalloc")]
    pub fn alloc() -> Option<Mbuf> {
        Some(Mbuf {
            frame: Frame::alloc()?,
            head: MBUF_HEADROOM,
            len: 0,
        })
    }

    /// The packet's bytes.
    pub fn data(&self) -> &[u8] {
        &self.frame.bytes()[self.head..self.head + self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Grows the packet at the front by `n` bytes (for a header); `None`
    /// if there is no room.
    #[doc(alias = "mbufpush")]
    fn push(&mut self, n: usize) -> Option<&mut [u8]> {
        self.head = self.head.checked_sub(n)?;
        self.len += n;
        Some(&mut self.frame.bytes_mut()[self.head..self.head + n])
    }

    /// Grows the packet at the end by `n` bytes.
    #[doc(alias = "mbufput")]
    fn put(&mut self, n: usize) -> Option<&mut [u8]> {
        let end = self.head + self.len;
        if end + n > self.frame.bytes().len() {
            return None;
        }
        self.len += n;
        Some(&mut self.frame.bytes_mut()[end..end + n])
    }

    /// Strips `n` bytes from the front (a parsed header); `None` if the
    /// packet is shorter.
    #[doc(alias = "mbufpull")]
    fn pull(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.len {
            return None;
        }
        let h = self.head;
        self.head += n;
        self.len -= n;
        Some(&self.frame.bytes()[h..h + n])
    }

    /// The whole page is the receive buffer (DMA writes from offset 0).
    fn reset_for_rx(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    fn dma_addr(&self) -> u64 {
        (self.frame.pa().0 + self.head) as u64
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct TxDesc {
    addr: u64,
    length: u16,
    cso: u8,
    cmd: u8,
    status: u8,
    css: u8,
    special: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RxDesc {
    addr: u64,
    length: u16,
    csum: u16,
    status: u8,
    errors: u8,
    special: u16,
}

/// The card and its two rings. Each descriptor's buffer is owned here as
/// long as the card may use it; methods hand a buffer out only once the
/// card is done with it (its descriptor's DD bit is set).
pub struct E1000 {
    /// One page: the TX ring at 0, the RX ring at 256 (both 16-aligned,
    /// multiples of 128 bytes, as the card needs).
    rings: Frame,
    tx_mbufs: [Option<Mbuf>; TX_RING_SIZE],
    rx_mbufs: [Option<Mbuf>; RX_RING_SIZE],
}

const RX_RING_OFF: usize = 256;
const _: () = assert!(TX_RING_SIZE * 16 <= RX_RING_OFF && RX_RING_OFF + RX_RING_SIZE * 16 <= 4096);

fn reg(off: usize) -> *mut u32 {
    (E1000_REGS + off) as *mut u32
}

fn rd(off: usize) -> u32 {
    // SAFETY: the e1000's registers are mapped in the kernel page table
    // (with the feature on) and `off` is one of the offsets above.
    unsafe { read_volatile(reg(off)) }
}

fn wr(off: usize, v: u32) {
    // SAFETY: as for `rd`.
    unsafe { write_volatile(reg(off), v) }
}

impl E1000 {
    fn tx_desc(&self, i: usize) -> *mut TxDesc {
        (self.rings.pa().0 + i * 16) as *mut TxDesc
    }

    fn rx_desc(&self, i: usize) -> *mut RxDesc {
        (self.rings.pa().0 + RX_RING_OFF + i * 16) as *mut RxDesc
    }

    fn tx_read(&self, i: usize) -> TxDesc {
        // SAFETY: `i` < TX_RING_SIZE (callers reduce it); the ring page is
        // ours, the card writes only status bytes: a volatile read.
        unsafe { read_volatile(self.tx_desc(i)) }
    }

    fn rx_read(&self, i: usize) -> RxDesc {
        // SAFETY: as for `tx_read`.
        unsafe { read_volatile(self.rx_desc(i)) }
    }

    /// The index of the next TX descriptor to fill (register TDT).
    pub fn tx_tail(&self) -> usize {
        rd(TDT) as usize % TX_RING_SIZE
    }

    /// Whether the card is done with TX descriptor `i` (DD set): only then
    /// may it be filled again.
    pub fn tx_done(&self, i: usize) -> bool {
        self.tx_read(i % TX_RING_SIZE).status & DESC_STAT_DD != 0
    }

    /// Puts `m` in TX descriptor `i` (marked end of packet, report status)
    /// and returns the buffer it held before, which the card is done with.
    /// If the card still owns descriptor `i`, or `m` is larger than a
    /// frame may be, `m` comes back as the error.
    pub fn tx_put(&mut self, i: usize, m: Mbuf) -> Result<Option<Mbuf>, Mbuf> {
        let i = i % TX_RING_SIZE;
        if !self.tx_done(i) || m.len() > MBUF_SIZE || m.is_empty() {
            return Err(m);
        }
        let d = TxDesc {
            addr: m.dma_addr(),
            length: m.len() as u16,
            cso: 0,
            cmd: TXD_CMD_EOP | TXD_CMD_RS,
            status: 0,
            css: 0,
            special: 0,
        };
        // SAFETY: `i` is in range; the card is done with this descriptor
        // (DD set) and does not read it before TDT passes it.
        unsafe { write_volatile(self.tx_desc(i), d) };
        Ok(self.tx_mbufs[i].replace(m))
    }

    /// Hands TX descriptors up to (not including) `i` to the card: only
    /// the one right after the tail (modulo the ring's size), after it was filled with `tx_put`.
    /// Returns false (and does nothing) for any other `i`.
    pub fn set_tx_tail(&mut self, i: usize) -> bool {
        let i = i % TX_RING_SIZE;
        let t = self.tx_tail();
        let filled = self.tx_read(t).status & DESC_STAT_DD == 0 && self.tx_mbufs[t].is_some();
        if i != (t + 1) % TX_RING_SIZE || !filled {
            return false;
        }
        fence(Ordering::SeqCst);
        wr(TDT, i as u32);
        true
    }

    /// The index of the last RX descriptor given to the card (RDT); the
    /// next packet to look at is in the one after it.
    pub fn rx_tail(&self) -> usize {
        rd(RDT) as usize % RX_RING_SIZE
    }

    /// Whether RX descriptor `i` holds a received packet (DD set).
    pub fn rx_done(&self, i: usize) -> bool {
        self.rx_read(i % RX_RING_SIZE).status & DESC_STAT_DD != 0
    }

    /// Takes the packet the card put in RX descriptor `i`, installing
    /// `fresh` as the descriptor's new buffer (status cleared). If the
    /// card has not filled descriptor `i`, `fresh` comes back as the error.
    pub fn rx_take(&mut self, i: usize, mut fresh: Mbuf) -> Result<Mbuf, Mbuf> {
        let i = i % RX_RING_SIZE;
        let d = self.rx_read(i);
        if d.status & DESC_STAT_DD == 0 || self.rx_mbufs[i].is_none() {
            return Err(fresh);
        }
        fence(Ordering::SeqCst);
        fresh.reset_for_rx();
        let nd = RxDesc {
            addr: fresh.dma_addr(),
            length: 0,
            csum: 0,
            status: 0,
            errors: 0,
            special: 0,
        };
        // SAFETY: `i` is in range and the card is done with it (DD set);
        // it uses the descriptor again only after RDT passes it.
        unsafe { write_volatile(self.rx_desc(i), nd) };
        let mut m = self.rx_mbufs[i].replace(fresh).expect("checked above");
        m.len = if d.status & RXD_STAT_EOP != 0 {
            usize::from(d.length).min(MBUF_SIZE)
        } else {
            0
        };
        Ok(m)
    }

    /// Gives RX descriptor `i` back to the card: only the one right after
    /// the tail, once `rx_take` emptied it. Returns false otherwise.
    pub fn set_rx_tail(&mut self, i: usize) -> bool {
        let i = i % RX_RING_SIZE;
        let t = self.rx_tail();
        if i != (t + 1) % RX_RING_SIZE || self.rx_read(i).status & DESC_STAT_DD != 0 {
            return false;
        }
        fence(Ordering::SeqCst);
        wr(RDT, i as u32);
        true
    }
}

/// A UDP datagram received for a local port no `connect` socket has:
/// its payload and where it came from.
pub struct Datagram {
    src_ip: u32,
    src_port: u16,
    dport: u16,
    payload: Mbuf,
}

impl Datagram {
    /// The sender's IPv4 address (host byte order: 10.0.2.2 is 0x0a000202).
    pub fn src_ip(&self) -> u32 {
        self.src_ip
    }

    pub fn src_port(&self) -> u16 {
        self.src_port
    }

    /// The local port it was sent to.
    pub fn dport(&self) -> u16 {
        self.dport
    }

    pub fn payload(&self) -> &[u8] {
        self.payload.data()
    }
}

/// The lab's half of the driver, xv6's `e1000_transmit` and `e1000_recv`,
/// and (2024) the end of xv6's `ip_rx`: a datagram to its port's queue.
pub trait Driver: Sync {
    /// Queues `m` for sending; gives it back if the ring is full.
    fn transmit(&self, nic: &mut E1000, m: Mbuf) -> Result<(), Mbuf>;
    /// Takes every received packet from the ring and passes each to
    /// `deliver`, refilling the ring as it goes.
    fn recv(&self, nic: &mut E1000, deliver: &mut dyn FnMut(Mbuf));
    /// Takes a datagram for a port no `connect` socket has: queues it for
    /// `recv` if its port is bound and has room, else drops it. Runs in
    /// the e1000's interrupt, with no lock held.
    fn deliver(&self, d: Datagram);
}

static NIC: SpinLock<Option<E1000>> = SpinLock::new("e1000", None);
static READY: AtomicBool = AtomicBool::new(false);
/// Set by the first `send`: from then on the stack says once that it
/// received an ARP and an IP packet (MIT 2024's `arp_rx` and `ip_rx`
/// lines). 2020's programs never send, so their lines stay whole.
static SENT: AtomicBool = AtomicBool::new(false);
static SEEN_ARP: AtomicBool = AtomicBool::new(false);
static SEEN_IP: AtomicBool = AtomicBool::new(false);

/// Prints `line` the first time `seen` is set, once `send` was used.
fn first(seen: &AtomicBool, line: &str) {
    if SENT.load(Ordering::Relaxed) && !seen.swap(true, Ordering::Relaxed) {
        crate::println!("{line}");
    }
}

fn driver() -> Option<&'static dyn Driver> {
    crate::hooks::net_driver()
}

fn ecam(off: usize) -> *mut u32 {
    // Bus 0, device 1, function 0.
    (ECAM + (1 << 15) + off) as *mut u32
}

/// Finds the e1000 on the PCI bus, maps its registers at E1000_REGS and
/// starts it. Boot, on hart 0, after the kernel page table is on.
#[doc(alias = "pci_init")]
pub(crate) fn init() {
    // SAFETY: ECAM is mapped; these are the device's config registers.
    let id = unsafe { read_volatile(ecam(0)) };
    if id != 0x100e_8086 {
        crate::println!("net: no e1000 at PCI 00:01.0 (QEMU needs -device e1000,bus=pcie.0)");
        return;
    }
    // SAFETY: as above: BAR 0 gets the address the kernel maps the
    // registers at; then memory decoding and bus mastering go on.
    unsafe {
        write_volatile(ecam(0x10), E1000_REGS as u32);
        fence(Ordering::SeqCst);
        write_volatile(ecam(4), 0b111);
    }
    let Some(rings) = Frame::alloc() else {
        crate::println!("net: out of memory");
        return;
    };
    let mut nic = E1000 {
        rings,
        tx_mbufs: [const { None }; TX_RING_SIZE],
        rx_mbufs: [const { None }; RX_RING_SIZE],
    };
    wr(IMC, !0);
    wr(CTL, rd(CTL) | CTL_RST);
    wr(IMC, !0);
    fence(Ordering::SeqCst);
    for i in 0..TX_RING_SIZE {
        let d = TxDesc {
            addr: 0,
            length: 0,
            cso: 0,
            cmd: 0,
            status: DESC_STAT_DD,
            css: 0,
            special: 0,
        };
        // SAFETY: in range; the card is off.
        unsafe { write_volatile(nic.tx_desc(i), d) };
    }
    for i in 0..RX_RING_SIZE {
        let Some(mut m) = Mbuf::alloc() else {
            crate::println!("net: out of memory");
            return;
        };
        m.reset_for_rx();
        let d = RxDesc {
            addr: m.dma_addr(),
            length: 0,
            csum: 0,
            status: 0,
            errors: 0,
            special: 0,
        };
        // SAFETY: in range; the card is off.
        unsafe { write_volatile(nic.rx_desc(i), d) };
        nic.rx_mbufs[i] = Some(m);
    }
    let base = nic.rings.pa().0 as u64;
    wr(TDBAL, base as u32);
    wr(TDBAH, (base >> 32) as u32);
    wr(TDLEN, (TX_RING_SIZE * 16) as u32);
    wr(TDH, 0);
    wr(TDT, 0);
    let rx = base + RX_RING_OFF as u64;
    wr(RDBAL, rx as u32);
    wr(RDBAH, (rx >> 32) as u32);
    wr(RDLEN, (RX_RING_SIZE * 16) as u32);
    wr(RDH, 0);
    wr(RDT, (RX_RING_SIZE - 1) as u32);
    let mac = LOCAL_MAC;
    wr(RA, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
    wr(RA + 4, u32::from(mac[4]) | u32::from(mac[5]) << 8 | 1 << 31);
    for i in 0..128 {
        wr(MTA + 4 * i, 0);
    }
    wr(TCTL, TCTL_EN | TCTL_PSP | 0x10 << 4 | 0x40 << 12);
    wr(TIPG, 10 | 8 << 10 | 6 << 20);
    wr(RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
    // An interrupt for every packet received.
    wr(RDTR, 0);
    wr(RADV, 0);
    wr(IMS, 1 << 7);
    *NIC.lock() = Some(nic);
    READY.store(true, Ordering::Release);
}

/// Sends `m` through the lab's transmit; false if it was dropped.
fn transmit(m: Mbuf) -> bool {
    let Some(d) = driver() else { return false };
    let mut g = NIC.lock();
    let Some(nic) = g.as_mut() else { return false };
    d.transmit(nic, m).is_ok()
}

/// The e1000's interrupt: the lab's receive, then the stack, outside the
/// card's lock (answers go out through transmit).
pub(crate) fn intr() {
    // Acknowledge: without it the card raises no further interrupts.
    wr(ICR, !0);
    let Some(d) = driver() else { return };
    let mut got: [Option<Mbuf>; RX_RING_SIZE] = [const { None }; RX_RING_SIZE];
    let mut n = 0;
    {
        let mut g = NIC.lock();
        let Some(nic) = g.as_mut() else { return };
        d.recv(nic, &mut |m| {
            if n < got.len() {
                got[n] = Some(m);
                n += 1;
            }
        });
    }
    for m in got.iter_mut().filter_map(Option::take) {
        rx_eth(m);
    }
}

// ---- The stack: Ethernet, ARP, IPv4, UDP. ----

const ETH_HDR: usize = 14;
const ETHTYPE_IP: u16 = 0x0800;
const ETHTYPE_ARP: u16 = 0x0806;
const IP_HDR: usize = 20;
const IPPROTO_UDP: u8 = 17;
const UDP_HDR: usize = 8;
const ARP_LEN: usize = 28;

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn tx_eth(mut m: Mbuf, ethtype: u16, dst: [u8; 6]) -> bool {
    let Some(h) = m.push(ETH_HDR) else {
        return false;
    };
    h[..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&LOCAL_MAC);
    h[12..14].copy_from_slice(&ethtype.to_be_bytes());
    transmit(m)
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u32::from(be16(c))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn tx_ip(mut m: Mbuf, proto: u8, dst: u32) -> bool {
    let len = m.len() + IP_HDR;
    let Some(h) = m.push(IP_HDR) else {
        return false;
    };
    h.fill(0);
    h[0] = 0x45;
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    h[8] = 100;
    h[9] = proto;
    h[12..16].copy_from_slice(&LOCAL_IP.to_be_bytes());
    h[16..20].copy_from_slice(&dst.to_be_bytes());
    let sum = ip_checksum(h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    // QEMU's user network takes frames sent to the broadcast address, so
    // no ARP lookup is needed (as in MIT's xv6).
    tx_eth(m, ETHTYPE_IP, [0xff; 6])
}

fn tx_udp(mut m: Mbuf, dst: u32, sport: u16, dport: u16) -> bool {
    let len = m.len() + UDP_HDR;
    let Some(h) = m.push(UDP_HDR) else {
        return false;
    };
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    // No checksum (0 is allowed for UDP over IPv4).
    h[6..8].fill(0);
    tx_ip(m, IPPROTO_UDP, dst)
}

fn rx_eth(mut m: Mbuf) {
    let Some(h) = m.pull(ETH_HDR) else { return };
    match be16(&h[12..14]) {
        ETHTYPE_IP => rx_ip(m),
        ETHTYPE_ARP => rx_arp(m),
        _ => {}
    }
}

/// Answers ARP requests for LOCAL_IP (QEMU asks before it sends to us).
fn rx_arp(mut m: Mbuf) {
    let Some(a) = m.pull(ARP_LEN) else { return };
    first(&SEEN_ARP, "arp_rx: received an ARP packet");
    let (op, sha, sip, tip) = (
        be16(&a[6..8]),
        <[u8; 6]>::try_from(&a[8..14]),
        &a[14..18],
        be32(&a[24..28]),
    );
    let Ok(sha) = sha else { return };
    if be16(&a[0..2]) != 1 || be16(&a[2..4]) != ETHTYPE_IP || op != 1 || tip != LOCAL_IP {
        return;
    }
    let sip = be32(sip);
    let Some(mut r) = Mbuf::alloc() else { return };
    let Some(b) = r.put(ARP_LEN) else { return };
    b[0..2].copy_from_slice(&1u16.to_be_bytes());
    b[2..4].copy_from_slice(&ETHTYPE_IP.to_be_bytes());
    b[4] = 6;
    b[5] = 4;
    b[6..8].copy_from_slice(&2u16.to_be_bytes());
    b[8..14].copy_from_slice(&LOCAL_MAC);
    b[14..18].copy_from_slice(&LOCAL_IP.to_be_bytes());
    b[18..24].copy_from_slice(&sha);
    b[24..28].copy_from_slice(&sip.to_be_bytes());
    tx_eth(r, ETHTYPE_ARP, sha);
}

fn rx_ip(mut m: Mbuf) {
    let Some(h) = m.pull(IP_HDR) else { return };
    first(&SEEN_IP, "ip_rx: received an IP packet");
    // Options, fragments and other protocols are not for this stack.
    if h[0] != 0x45
        || be16(&h[6..8]) & 0x3fff != 0
        || h[9] != IPPROTO_UDP
        || be32(&h[16..20]) != LOCAL_IP
    {
        return;
    }
    let total = usize::from(be16(&h[2..4]));
    let src = be32(&h[12..16]);
    let Some(u) = m.pull(UDP_HDR) else { return };
    let (sport, dport, ulen) = (be16(&u[0..2]), be16(&u[2..4]), usize::from(be16(&u[4..6])));
    if ulen < UDP_HDR || total < IP_HDR + ulen || m.len() < ulen - UDP_HDR {
        return;
    }
    // Ethernet pads short frames: the UDP length says what is payload.
    m.len = ulen - UDP_HDR;
    let Some(payload) = sock_recv(m, src, dport, sport) else {
        return;
    };
    if let Some(d) = driver() {
        d.deliver(Datagram {
            src_ip: src,
            src_port: sport,
            dport,
            payload,
        });
    }
}

// ---- Sockets. ----

/// Sockets at once, and packets each holds before it drops new ones.
const NSOCK: usize = 16;
const SOCK_QUEUE: usize = 16;

struct Sock {
    raddr: u32,
    lport: u16,
    rport: u16,
    queue: [Option<Mbuf>; SOCK_QUEUE],
    /// The oldest packet's index and how many there are.
    first: usize,
    count: usize,
}

static SOCKS: SpinLock<[Option<Sock>; NSOCK]> = SpinLock::new("socks", [const { None }; NSOCK]);

fn sock_chan(i: usize) -> usize {
    core::ptr::addr_of!(SOCKS) as usize + i
}

/// Queues `m` on its `connect` socket (or drops it, the queue full);
/// gives it back if no socket has its addresses.
fn sock_recv(m: Mbuf, raddr: u32, lport: u16, rport: u16) -> Option<Mbuf> {
    let mut g = SOCKS.lock();
    let Some((i, s)) = g.iter_mut().enumerate().find_map(|(i, s)| {
        s.as_mut()
            .filter(|s| s.raddr == raddr && s.lport == lport && s.rport == rport)
            .map(|s| (i, s))
    }) else {
        return Some(m);
    };
    if s.count == SOCK_QUEUE {
        return None;
    }
    s.queue[(s.first + s.count) % SOCK_QUEUE] = Some(m);
    s.count += 1;
    drop(g);
    wakeup(sock_chan(i));
    None
}

/// An open socket: the index of its SOCKS entry, freed when the file is.
pub struct Socket(usize);

impl Socket {
    /// Reads one datagram's payload (at most `n` bytes of it) into user
    /// memory at `addr`, sleeping until one comes.
    pub fn read(&self, addr: UserAddr, n: usize) -> i64 {
        let mut g = SOCKS.lock();
        let m = loop {
            let Some(s) = g[self.0].as_mut() else {
                return -1;
            };
            if s.count > 0 {
                let m = s.queue[s.first].take();
                s.first = (s.first + 1) % SOCK_QUEUE;
                s.count -= 1;
                break m;
            }
            if current().is_killed() {
                return -1;
            }
            g = sleep(sock_chan(self.0), g);
        };
        drop(g);
        let Some(m) = m else { return -1 };
        let len = m.len().min(n);
        match copy_out(addr, &m.data()[..len]) {
            Ok(()) => len as i64,
            Err(_) => -1,
        }
    }

    /// Sends `n` bytes of user memory at `addr` as one datagram.
    pub fn write(&self, addr: UserAddr, n: usize) -> i64 {
        let (raddr, lport, rport) = {
            let g = SOCKS.lock();
            let Some(s) = g[self.0].as_ref() else {
                return -1;
            };
            (s.raddr, s.lport, s.rport)
        };
        if n > MAX_PAYLOAD {
            return -1;
        }
        let Some(mut m) = Mbuf::alloc() else {
            return -1;
        };
        let Some(b) = m.put(n) else { return -1 };
        if copy_in(b, addr).is_err() {
            return -1;
        }
        if tx_udp(m, raddr, lport, rport) {
            n as i64
        } else {
            -1
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Queued packets are freed with the entry.
        SOCKS.lock()[self.0] = None;
    }
}

/// `connect(raddr, lport, rport)`: a UDP socket for datagrams between
/// local port `lport` and `raddr:rport`; returns its descriptor, or -1 if
/// the network is down, the ports are taken or a table is full.
#[doc(alias = "sockalloc")]
pub fn sys_connect() -> i64 {
    let raddr = arg_raw(0) as u32;
    let (Ok(lport), Ok(rport)) = (u16::try_from(arg_int(1)), u16::try_from(arg_int(2))) else {
        return -1;
    };
    if !READY.load(Ordering::Acquire) {
        return -1;
    }
    let idx = {
        let mut g = SOCKS.lock();
        if g.iter()
            .flatten()
            .any(|s| s.raddr == raddr && s.lport == lport && s.rport == rport)
        {
            return -1;
        }
        let Some(idx) = g.iter().position(Option::is_none) else {
            return -1;
        };
        g[idx] = Some(Sock {
            raddr,
            lport,
            rport,
            queue: [const { None }; SOCK_QUEUE],
            first: 0,
            count: 0,
        });
        idx
    };
    let Some(f) = File::alloc(FileKind::Socket(Socket(idx)), true, true) else {
        return -1;
    };
    crate::sysfile::fd_alloc(f).map_or(-1, |fd| fd as i64)
}

/// The most payload one datagram carries (one buffer, headers in front).
const MAX_PAYLOAD: usize = MBUF_SIZE - ETH_HDR - IP_HDR - UDP_HDR;

/// `send(sport, dst, dport, buf, len)` (2024): sends `len` bytes of user
/// memory at `buf` as one UDP datagram from local port `sport` to
/// `dst:dport`; 0, or -1 if the network is down, an argument is bad or
/// the driver refused the packet.
pub fn sys_send() -> i64 {
    let (Ok(sport), Ok(dport)) = (u16::try_from(arg_int(0)), u16::try_from(arg_int(2))) else {
        return -1;
    };
    let dst = arg_raw(1) as u32;
    let buf = arg_addr(3);
    let Ok(len) = usize::try_from(arg_int(4)) else {
        return -1;
    };
    if !READY.load(Ordering::Acquire) || len > MAX_PAYLOAD {
        return -1;
    }
    let Some(mut m) = Mbuf::alloc() else {
        return -1;
    };
    let Some(b) = m.put(len) else { return -1 };
    if copy_in(b, buf).is_err() {
        return -1;
    }
    SENT.store(true, Ordering::Relaxed);
    if tx_udp(m, dst, sport, dport) { 0 } else { -1 }
}
