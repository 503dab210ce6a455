//! Lab net: the e1000 network card's transmit and receive (xv6's
//! `e1000_transmit` and `e1000_recv`). The base kernel finds the card,
//! sets up its descriptor rings, and runs a UDP stack with sockets
//! (`connect`); this lab moves packets between the stack and the rings.
//!
//! Hooks used: `syscalls` (SYS_connect, the base kernel's) and
//! `net_driver`.
// Safe Rust only: the rings' methods check who owns each descriptor.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::hooks::Lab;
use kernel_base::net::{Driver, E1000, Mbuf, sys_connect};
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use kernel_base::net::RX_RING_SIZE;
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
}

static DRIVER: E1000Driver = E1000Driver;

impl Lab for Net {
    fn name(&self) -> &'static str {
        "net"
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(nr::connect, sys_connect)]
    }

    fn net_driver(&self) -> Option<&'static dyn Driver> {
        Some(&DRIVER)
    }
}
