//! Small I/O helpers: buffered formatting to a file descriptor, line input,
//! directory entries, `stat`, `atoi`.

use crate::{Dirent, Stat, close, fstat, open, read, write};
use abi::fcntl::O_RDONLY;

/// A `core::fmt::Write` sink for a file descriptor that gathers output and
/// writes it in as few `write` calls as possible (a test program's lines on
/// standard output and error go through [`crate::tok`]).
pub struct FdWriter {
    fd: i32,
    len: usize,
    buf: [u8; 256],
}

impl FdWriter {
    pub fn new(fd: i32) -> FdWriter {
        FdWriter {
            fd,
            len: 0,
            buf: [0; 256],
        }
    }

    pub fn flush(&mut self) {
        if self.len > 0 {
            if !crate::tok::write(self.fd, &self.buf[..self.len]) {
                write(self.fd, &self.buf[..self.len]);
            }
            self.len = 0;
        }
    }
}

impl core::fmt::Write for FdWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut s = s.as_bytes();
        while !s.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
        Ok(())
    }
}

/// Reads a line from `fd` into `buf` one byte at a time, keeping the
/// newline, like xv6's `gets`. Returns the length; 0 means end of input.
pub fn gets(fd: i32, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        let mut c = [0u8];
        if read(fd, &mut c) < 1 {
            break;
        }
        buf[n] = c[0];
        n += 1;
        if c[0] == b'\n' || c[0] == b'\r' {
            break;
        }
    }
    n
}

/// `stat` by path: opens, `fstat`s and closes.
pub fn stat<P: AsRef<[u8]> + ?Sized>(path: &P, st: &mut Stat) -> i32 {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        return -1;
    }
    let r = fstat(fd, st);
    close(fd);
    r
}

/// Reads the next directory entry from `fd`; `None` at the end.
pub fn read_dirent(fd: i32) -> Option<Dirent> {
    let mut b = [0u8; Dirent::SIZE];
    if read(fd, &mut b) != Dirent::SIZE as i32 {
        return None;
    }
    Some(Dirent::decode(&b))
}

/// The leading decimal digits of `s` as a number, like C's `atoi` in xv6
/// (no sign, stops at the first non-digit).
pub fn atoi<S: AsRef<[u8]> + ?Sized>(s: &S) -> i32 {
    let mut n: i32 = 0;
    for &c in s.as_ref() {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add((c - b'0') as i32);
    }
    n
}

/// Displays bytes (a path or a name from disk) as text: valid UTF-8 as is,
/// any other byte as `?`. File names are bytes, and `format!` needs text.
pub struct Show<'a>(pub &'a [u8]);

impl core::fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for _ in chunk.invalid() {
                f.write_str("?")?;
            }
        }
        Ok(())
    }
}
