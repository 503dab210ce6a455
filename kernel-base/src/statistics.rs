//! The `statistics` device (major `abi::dev::STATISTICS`), for the labs
//! that report counts through it: each lab's part of the text
//! ([`Lab::statistics`](crate::hooks::Lab::statistics): pgtbl's copyin counts), then, with the `lockstat`
//! feature (the lock lab's), MIT's lock statistics
//! ([`crate::lockstat::report`]). One device for all, so that the labs
//! coexist in one kernel. The kernel serves it only when there is a text.
//!
//! The reading protocol (xv6's `statsread`): the first read takes a snapshot of the text,
//! reads return it a piece at a time, and the read after its last byte
//! returns -1, once; the read after that takes a fresh snapshot. MIT's
//! user-side `statistics()` reads until a read returns a negative value,
//! so -1, not 0, is what ends its loop.

use crate::file::Device;
use crate::spinlock::SpinLock;
use crate::syscall::copy_out;
use crate::vm::UserAddr;
use core::fmt::Write;

/// Room for the text of one snapshot (what does not fit is cut): MIT's
/// lock statistics take about 4 KB with the lock lab's 70 locks.
const TEXT: usize = 8192;

struct Snapshot {
    text: [u8; TEXT],
    len: usize,
    /// How much of `text` has been read; `None` when no read is under way.
    off: Option<usize>,
}

/// One statistics text, read as the device is.
pub struct Statistics {
    snapshot: SpinLock<Snapshot>,
}

impl Default for Statistics {
    fn default() -> Self {
        Self::new()
    }
}

impl Statistics {
    pub const fn new() -> Statistics {
        Statistics {
            snapshot: SpinLock::new(
                "stats",
                Snapshot {
                    text: [0; TEXT],
                    len: 0,
                    off: None,
                },
            ),
        }
    }

    /// A device read of at most `n` bytes to `dst`: the next piece of the
    /// text, which `report` writes when a new snapshot starts (it runs with
    /// a spinlock held: no sleeping). Returns the count copied (0 only when
    /// `n` is 0), -1 after the last byte (and the next read starts over),
    /// or -1 if `dst` is not writable (and the piece is read again).
    #[doc(alias = "statsread")]
    pub fn read(
        &self,
        dst: UserAddr,
        n: usize,
        report: impl FnOnce(&mut dyn Write) -> core::fmt::Result,
    ) -> i64 {
        let mut s = self.snapshot.lock();
        let off = match s.off {
            Some(off) => off,
            None => {
                let mut w = TextWriter { s: &mut s, len: 0 };
                let _ = report(&mut w);
                s.len = w.len;
                0
            }
        };
        if off == s.len {
            s.off = None;
            return -1;
        }
        let m = (s.len - off).min(n);
        if copy_out(dst, &s.text[off..off + m]).is_err() {
            s.off = Some(off);
            return -1;
        }
        s.off = Some(off + m);
        m as i64
    }
}

static STATS: Statistics = Statistics::new();

static DEVICE: Device = Device {
    read,
    write: |_, _| -1,
};

/// Serves the device (at boot, when some lab has a text).
pub(crate) fn register() -> Result<(), ()> {
    crate::file::register_device(abi::dev::STATISTICS, &DEVICE)
}

/// A read of the device: the labs' parts, then the lock statistics.
#[doc(alias = "statsread")]
fn read(dst: UserAddr, n: usize) -> i64 {
    STATS.read(dst, n, |w| {
        crate::hooks::statistics(w)?;
        #[cfg(feature = "lockstat")]
        crate::lockstat::report(w)?;
        Ok(())
    })
}

/// Formats into a snapshot's text.
struct TextWriter<'a> {
    s: &'a mut Snapshot,
    len: usize,
}

impl Write for TextWriter<'_> {
    fn write_str(&mut self, str: &str) -> core::fmt::Result {
        let room = self.s.text.len() - self.len;
        let n = str.len().min(room);
        self.s.text[self.len..self.len + n].copy_from_slice(&str.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
