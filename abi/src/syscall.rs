//! The system call table: numbers, names and C signatures.
//!
//! [`syscall_table!`](crate::syscall_table) is the single list. It hands the
//! table to a macro of the caller's, so the user library generates its stubs
//! from it and the kernel its names, without either typing a number again.

/// Calls `$m! { name = number (arg: type, ...); ... }` with every system call,
/// in number order. Argument types are the C ones of xv6's `user.h`, spelled
/// as Rust raw types; every call returns a 64-bit `a0`.
#[macro_export]
macro_rules! syscall_table {
    ($m:ident) => {
        $m! {
            fork = 1 ();
            exit = 2 (status: i32);
            wait = 3 (status: *mut i32);
            pipe = 4 (fds: *mut i32);
            read = 5 (fd: i32, buf: *mut u8, n: i32);
            kill = 6 (pid: i32);
            exec = 7 (path: *const u8, argv: *const *const u8);
            fstat = 8 (fd: i32, st: *mut $crate::Stat);
            chdir = 9 (path: *const u8);
            dup = 10 (fd: i32);
            getpid = 11 ();
            sbrk = 12 (n: i32);
            sleep = 13 (ticks: i32);
            uptime = 14 ();
            open = 15 (path: *const u8, flags: i32);
            write = 16 (fd: i32, buf: *const u8, n: i32);
            mknod = 17 (path: *const u8, major: i16, minor: i16);
            unlink = 18 (path: *const u8);
            link = 19 (old: *const u8, new: *const u8);
            mkdir = 20 (path: *const u8);
            close = 21 (fd: i32);
            trace = 22 (mask: i32);
            sysinfo = 23 (info: *mut $crate::SysInfo);
            sigalarm = 24 (ticks: i32, handler: usize);
            sigreturn = 25 ();
            symlink = 26 (target: *const u8, path: *const u8);
            mmap = 27 (addr: usize, len: usize, prot: i32, flags: i32, fd: i32, off: i32);
            munmap = 28 (addr: usize, len: usize);
            connect = 29 (raddr: u32, lport: i32, rport: i32);
            // The net lab's 2024 calls (MIT's numbers for bind and recv;
            // send and unbind after the last call taken).
            bind = 30 (port: i32);
            recv = 31 (dport: i32, src: *mut u32, sport: *mut u16, buf: *mut u8, maxlen: i32);
            rwlktest = 32 (n: i32, rounds: i32);
            send = 33 (sport: i32, dst: u32, dport: i32, buf: *const u8, len: i32);
            unbind = 34 (port: i32);
        }
    };
}

macro_rules! define_numbers {
    ($($name:ident = $num:literal ($($arg:ident : $ty:ty),*);)*) => {
        /// System call numbers, `nr::FORK` … (xv6's `SYS_fork` …).
        #[allow(non_upper_case_globals)]
        pub mod nr {
            $(pub const $name: usize = $num;)*
        }

        /// `(number, name)` of every system call, in number order.
        pub const TABLE: &[(usize, &str)] = &[$(($num, stringify!($name))),*];
    };
}

crate::syscall_table!(define_numbers);

/// One more than the highest system call number.
pub const COUNT: usize = TABLE[TABLE.len() - 1].0 + 1;

/// The lower-case name of system call `num`, as `trace` prints it.
pub fn name(num: usize) -> Option<&'static str> {
    match TABLE.binary_search_by_key(&num, |&(n, _)| n) {
        Ok(i) => Some(TABLE[i].1),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_xv6() {
        let expect = [
            "fork",
            "exit",
            "wait",
            "pipe",
            "read",
            "kill",
            "exec",
            "fstat",
            "chdir",
            "dup",
            "getpid",
            "sbrk",
            "sleep",
            "uptime",
            "open",
            "write",
            "mknod",
            "unlink",
            "link",
            "mkdir",
            "close",
            "trace",
            "sysinfo",
            "sigalarm",
            "sigreturn",
        ];
        for (i, want) in expect.iter().enumerate() {
            assert_eq!(TABLE[i], (i + 1, *want));
        }
        // Later labs' calls, numbered so that their branches do not clash.
        assert_eq!(name(nr::rwlktest), Some("rwlktest"));
        assert_eq!(nr::symlink, 26);
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(nr::exec, 7);
        assert_eq!(nr::close, 21);
        assert_eq!(nr::sigreturn, 25);
        assert_eq!((nr::bind, nr::recv, nr::send, nr::unbind), (30, 31, 33, 34));
        assert_eq!(COUNT, 35);
    }

    #[test]
    fn name_lookup() {
        assert_eq!(name(5), Some("read"));
        assert_eq!(name(22), Some("trace"));
        assert_eq!(name(0), None);
        assert_eq!(name(26), Some("symlink"));
        assert_eq!(name(27), Some("mmap"));
        assert_eq!(name(29), Some("connect"));
        assert_eq!(name(32), Some("rwlktest"));
        assert_eq!(name(30), Some("bind"));
        assert_eq!(name(31), Some("recv"));
        assert_eq!(name(33), Some("send"));
        assert_eq!(name(34), Some("unbind"));
        assert_eq!(name(35), None);
        assert_eq!(name(usize::MAX), None);
    }
}
