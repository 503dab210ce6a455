//! Pipes: a 512-byte ring buffer between a read end and a write end.

use crate::file::{File, FileKind};
use crate::proc::{self, current};
use crate::spinlock::SpinLock;
use crate::syscall;
use crate::vm::UserAddr;
use abi::param::NFILE;

const PIPESIZE: usize = 512;
/// Each pipe takes two files, so this many can exist.
const NPIPE: usize = NFILE / 2;

struct Ring {
    data: [u8; PIPESIZE],
    /// Bytes read and written so far (wrapping); their difference is the fill.
    nread: u32,
    nwrite: u32,
    read_open: bool,
    write_open: bool,
}

static PIPES: [SpinLock<Ring>; NPIPE] = [const {
    SpinLock::new(
        "pipe",
        Ring {
            data: [0; PIPESIZE],
            nread: 0,
            nwrite: 0,
            read_open: false,
            write_open: false,
        },
    )
}; NPIPE];

/// One end's view of a pipe (which end is the file's `writable` flag).
pub struct Pipe {
    idx: usize,
}

impl Pipe {
    fn ring(&self) -> &'static SpinLock<Ring> {
        &PIPES[self.idx]
    }

    fn read_chan(&self) -> usize {
        self.ring() as *const _ as usize
    }

    fn write_chan(&self) -> usize {
        self.read_chan() + 1
    }

    /// Creates a pipe: (read end, write end).
    pub fn alloc() -> Option<(File, File)> {
        let idx = PIPES.iter().position(|p| {
            let mut r = p.lock();
            if r.read_open || r.write_open {
                return false;
            }
            r.read_open = true;
            r.write_open = true;
            r.nread = 0;
            r.nwrite = 0;
            true
        })?;
        let Some(rf) = File::alloc(FileKind::Pipe(Pipe { idx }), true, false) else {
            let mut r = PIPES[idx].lock();
            r.read_open = false;
            r.write_open = false;
            return None;
        };
        // If this fails, dropping `rf` closes the read end; close the write
        // end by hand, which frees the pipe.
        let Some(wf) = File::alloc(FileKind::Pipe(Pipe { idx }), false, true) else {
            Pipe { idx }.close(true);
            return None;
        };
        Some((rf, wf))
    }

    /// Closes one end: only the last reference to that end's file may
    /// (`File`'s drop), or the ring could be handed to a new pipe while
    /// this one's files still use it.
    pub(crate) fn close(&self, writable: bool) {
        let mut r = self.ring().lock();
        if writable {
            r.write_open = false;
            drop(r);
            proc::wakeup(self.read_chan());
        } else {
            r.read_open = false;
            drop(r);
            proc::wakeup(self.write_chan());
        }
    }

    /// Writes `n` bytes from user memory, waiting for room as needed.
    #[doc(alias = "pipewrite")]
    pub fn write(&self, addr: UserAddr, n: usize) -> i64 {
        let p = current();
        let mut r = self.ring().lock();
        let mut done = 0;
        while done < n {
            if !r.read_open || p.is_killed() {
                return -1;
            }
            let fill = r.nwrite.wrapping_sub(r.nread) as usize;
            if fill == PIPESIZE {
                proc::wakeup(self.read_chan());
                r = proc::sleep(self.write_chan(), r);
                continue;
            }
            // Copy as much as fits before the buffer's end or the free space.
            let at = r.nwrite as usize % PIPESIZE;
            let m = (n - done).min(PIPESIZE - fill).min(PIPESIZE - at);
            if syscall::copy_in(&mut r.data[at..at + m], addr.offset(done)).is_err() {
                break;
            }
            r.nwrite = r.nwrite.wrapping_add(m as u32);
            done += m;
        }
        drop(r);
        proc::wakeup(self.read_chan());
        done as i64
    }

    /// Reads up to `n` bytes into user memory; waits while the pipe is empty
    /// and a writer remains.
    #[doc(alias = "piperead")]
    pub fn read(&self, addr: UserAddr, n: usize) -> i64 {
        let p = current();
        let mut r = self.ring().lock();
        while r.nread == r.nwrite && r.write_open {
            if p.is_killed() {
                return -1;
            }
            r = proc::sleep(self.read_chan(), r);
        }
        let mut done = 0;
        while done < n && r.nread != r.nwrite {
            let fill = r.nwrite.wrapping_sub(r.nread) as usize;
            let at = r.nread as usize % PIPESIZE;
            let m = (n - done).min(fill).min(PIPESIZE - at);
            if syscall::copy_out(addr.offset(done), &r.data[at..at + m]).is_err() {
                if done == 0 {
                    return -1;
                }
                break;
            }
            r.nread = r.nread.wrapping_add(m as u32);
            done += m;
        }
        drop(r);
        proc::wakeup(self.write_chan());
        done as i64
    }
}
