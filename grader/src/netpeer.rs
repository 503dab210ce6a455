//! The host side of the net lab's runs: a UDP peer on 127.0.0.1 that
//! answers every datagram with `this is the host!`, on a port picked
//! freshly for each run (so graders running at once never share one).
//! It is a thread of the grader: it ends with the run, and a killed
//! grader leaves nothing behind.

use std::ffi::OsString;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the peer sends back.
pub const REPLY: &[u8] = b"this is the host!";
/// The spec's commands write this where the peer's port goes
/// (`nettests $NETPORT`).
pub const PORT_PLACEHOLDER: &str = "$NETPORT";

pub struct Peer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    /// Binds a free port on 127.0.0.1 and starts answering.
    pub fn start() -> std::io::Result<Peer> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        let port = sock.local_addr()?.port();
        // Wakes up now and then to see whether the run is over.
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(REPLY, from);
                }
            }
        });
        Ok(Peer {
            port,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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

    /// `commands` with the placeholder replaced by this peer's port.
    pub fn commands(&self, commands: &[String]) -> Vec<String> {
        commands
            .iter()
            .map(|c| c.replace(PORT_PLACEHOLDER, &self.port.to_string()))
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
            peer.commands(&["nettests $NETPORT".into()]),
            [format!("nettests {port}")]
        );
        drop(peer);
        // The thread is gone and the port free again.
        UdpSocket::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn two_peers_get_different_ports() {
        let a = Peer::start().unwrap();
        let b = Peer::start().unwrap();
        assert_ne!(a.port(), b.port());
    }
}
