//! Lab net: the e1000 network card's transmit and receive (xv6's
//! `e1000_transmit` and `e1000_recv`). The base kernel finds the card,
//! sets up its descriptor rings, and runs a UDP stack with sockets
//! (`connect`) and `send`; this lab moves packets between the stack and
//! the rings. 2024's part: ports bound with `bind`, each queueing at most
//! 16 datagrams for `recv` (the end of xv6's `ip_rx`, `sys_bind`,
//! `sys_unbind`, `sys_recv`).
//!
//! Hooks used: `syscalls` (SYS_connect and SYS_send, the base kernel's;
//! SYS_bind, SYS_unbind, SYS_recv) and `net_driver`.
// Safe Rust only: the rings' methods check who owns each descriptor.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::hooks::Lab;
use kernel_base::net::{Datagram, Driver, E1000, Mbuf, sys_connect, sys_send};
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use kernel_base::net::RX_RING_SIZE;
use kernel_base::proc::{current, sleep, wakeup};
use kernel_base::spinlock::SpinLock;
use kernel_base::syscall::{arg_addr, arg_int, copy_out};
// END SOLUTION

pub struct Net;

struct E1000Driver;

impl Driver for E1000Driver {
    /// Puts `m` in the TX descriptor at the tail and moves the tail on;
    /// gives `m` back if the card has not finished with that descriptor
    /// (the ring is full).
    fn transmit(&self, nic: &mut E1000, m: Mbuf) -> Result<(), Mbuf> {
        // BEGIN SOLUTION
        let i = nic.tx_tail();
        // The buffer sent last time from this descriptor is freed here.
        let _old = nic.tx_put(i, m)?;
        nic.set_tx_tail(i + 1);
        Ok(())
        // END SOLUTION
        // STARTER: let _ = nic;
        // STARTER: Err(m)
    }

    /// Delivers each packet the card received (descriptors after the
    /// tail with DD set), giving each descriptor a fresh buffer and back
    /// to the card.
    fn recv(&self, nic: &mut E1000, deliver: &mut dyn FnMut(Mbuf)) {
        // BEGIN SOLUTION
        loop {
            let i = (nic.rx_tail() + 1) % RX_RING_SIZE;
            if !nic.rx_done(i) {
                break;
            }
            let Some(fresh) = Mbuf::alloc() else { break };
            match nic.rx_take(i, fresh) {
                Ok(m) => deliver(m),
                Err(_) => break,
            }
            nic.set_rx_tail(i);
        }
        // END SOLUTION
        // STARTER: let _ = (nic, deliver);
    }

    /// Queues `d` on its port if that port is bound and holds fewer than
    /// 16 datagrams; drops it otherwise.
    fn deliver(&self, d: Datagram) {
        // BEGIN SOLUTION
        let mut g = PORTS.lock();
        let Some((i, p)) = g
            .iter_mut()
            .enumerate()
            .find_map(|(i, p)| p.as_mut().filter(|p| p.port == d.dport()).map(|p| (i, p)))
        else {
            return;
        };
        if p.count == PORT_QUEUE {
            return;
        }
        p.queue[(p.first + p.count) % PORT_QUEUE] = Some(d);
        p.count += 1;
        drop(g);
        wakeup(port_chan(i));
        // END SOLUTION
        // STARTER: let _ = d;
    }
}

static DRIVER: E1000Driver = E1000Driver;

// BEGIN SOLUTION
/// Ports bound at once.
const NPORT: usize = 16;
/// Datagrams a bound port holds before it drops new ones (MIT's 16).
const PORT_QUEUE: usize = 16;

struct Port {
    port: u16,
    queue: [Option<Datagram>; PORT_QUEUE],
    /// The oldest datagram's index and how many there are.
    first: usize,
    count: usize,
}

static PORTS: SpinLock<[Option<Port>; NPORT]> = SpinLock::new("ports", [const { None }; NPORT]);

/// What `recv` on PORTS' slot `i` sleeps on.
fn port_chan(i: usize) -> usize {
    core::ptr::addr_of!(PORTS) as usize + i
}

/// The port in argument `n`, if it is one.
fn arg_port(n: usize) -> Option<u16> {
    u16::try_from(arg_int(n)).ok()
}
// END SOLUTION

/// `bind(port)`: datagrams for `port` are queued from now on; 0, or -1 if
/// it is bound already or every slot is taken.
fn sys_bind() -> i64 {
    // BEGIN SOLUTION
    let Some(port) = arg_port(0) else { return -1 };
    let mut g = PORTS.lock();
    if g.iter().flatten().any(|p| p.port == port) {
        return -1;
    }
    let Some(slot) = g.iter_mut().find(|p| p.is_none()) else {
        return -1;
    };
    *slot = Some(Port {
        port,
        queue: [const { None }; PORT_QUEUE],
        first: 0,
        count: 0,
    });
    0
    // END SOLUTION
    // STARTER: -1
}

/// `unbind(port)`: stops queueing for `port`, dropping what it holds
/// (a `recv` waiting on it returns -1); 0, or -1 if it was not bound.
fn sys_unbind() -> i64 {
    // BEGIN SOLUTION
    let Some(port) = arg_port(0) else { return -1 };
    let mut g = PORTS.lock();
    let Some(i) = g.iter().position(|p| p.as_ref().is_some_and(|p| p.port == port)) else {
        return -1;
    };
    // The queued datagrams (their pages) are freed with the entry.
    g[i] = None;
    drop(g);
    wakeup(port_chan(i));
    0
    // END SOLUTION
    // STARTER: -1
}

/// `recv(dport, src, sport, buf, maxlen)`: waits for a datagram on bound
/// port `dport`, copies its sender's address to `src` (a u32), its port to
/// `sport` (a u16) and up to `maxlen` bytes of its payload to `buf`;
/// returns the bytes copied, or -1 if `dport` is not bound (or is
/// unbound meanwhile), the process is killed, or an address is bad.
fn sys_recv() -> i64 {
    // BEGIN SOLUTION
    let Some(dport) = arg_port(0) else { return -1 };
    let (src, sport, buf) = (arg_addr(1), arg_addr(2), arg_addr(3));
    let Ok(maxlen) = usize::try_from(arg_int(4)) else {
        return -1;
    };
    let mut g = PORTS.lock();
    let d = loop {
        let Some((i, p)) = g
            .iter_mut()
            .enumerate()
            .find_map(|(i, p)| p.as_mut().filter(|p| p.port == dport).map(|p| (i, p)))
        else {
            return -1;
        };
        if p.count > 0 {
            let d = p.queue[p.first].take();
            p.first = (p.first + 1) % PORT_QUEUE;
            p.count -= 1;
            break d;
        }
        if current().is_killed() {
            return -1;
        }
        g = sleep(port_chan(i), g);
    };
    drop(g);
    let Some(d) = d else { return -1 };
    let n = d.payload().len().min(maxlen);
    let copied = copy_out(src, &d.src_ip().to_ne_bytes())
        .and_then(|()| copy_out(sport, &d.src_port().to_ne_bytes()))
        .and_then(|()| copy_out(buf, &d.payload()[..n]));
    match copied {
        Ok(()) => n as i64,
        Err(_) => -1,
    }
    // END SOLUTION
    // STARTER: -1
}

impl Lab for Net {
    fn name(&self) -> &'static str {
        "net"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[
            (nr::connect, sys_connect),
            (nr::send, sys_send),
            (nr::bind, sys_bind),
            (nr::unbind, sys_unbind),
            (nr::recv, sys_recv),
        ]
    }

    fn net_driver(&self) -> Option<&'static dyn Driver> {
        Some(&DRIVER)
    }
}
