//! The xv6 ABI, defined once.
//!
//! Every number a user program, the kernel or `mkfs` must agree on lives in
//! this crate: system call numbers and names, limits, the memory map, the
//! on-disk file system format and the structs that cross the user/kernel
//! boundary. Nothing here allocates or touches hardware, so it is unit-tested
//! on the host.
#![no_std]

pub mod console;
pub mod elf;
pub mod fs;
pub mod lockstat;
pub mod memlayout;
pub mod param;
pub mod syscall;
pub mod tok;

/// Open flags (xv6 `fcntl.h`).
pub mod fcntl {
    pub const O_RDONLY: i32 = 0x000;
    pub const O_WRONLY: i32 = 0x001;
    pub const O_RDWR: i32 = 0x002;
    /// Open a symbolic link itself, not what it names (the fs lab).
    pub const O_NOFOLLOW: i32 = 0x010;
    pub const O_CREATE: i32 = 0x200;
    pub const O_TRUNC: i32 = 0x400;
}

/// `mmap`'s protection and flags (the mmap lab; MIT's `fcntl.h`).
pub mod mman {
    pub const PROT_READ: i32 = 1;
    pub const PROT_WRITE: i32 = 2;
    pub const MAP_SHARED: i32 = 1;
    pub const MAP_PRIVATE: i32 = 2;
    /// What a failed `mmap` returns (`(void *)-1`).
    pub const MAP_FAILED: u64 = u64::MAX;
}

/// Device major numbers.
pub mod dev {
    /// The console; init creates `console` with this major.
    pub const CONSOLE: i16 = 1;
    /// The pgtbl lab's `statistics` device.
    pub const STATISTICS: i16 = 2;
}

/// Inode types, as found in `struct stat` and on disk.
pub mod filetype {
    pub const T_DIR: i16 = 1;
    pub const T_FILE: i16 = 2;
    pub const T_DEVICE: i16 = 3;
    /// A symbolic link: its contents are the path it names (the fs lab).
    pub const T_SYMLINK: i16 = 4;
}

/// `struct stat` as the kernel writes it for `fstat` (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Stat {
    /// File system's disk device.
    pub dev: i32,
    /// Inode number.
    pub ino: u32,
    /// One of [`filetype`].
    pub typ: i16,
    /// Number of links to the file.
    pub nlink: i16,
    /// Size of the file in bytes.
    pub size: u64,
}

impl Stat {
    pub const SIZE: usize = 24;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.dev.to_le_bytes());
        b[4..8].copy_from_slice(&self.ino.to_le_bytes());
        b[8..10].copy_from_slice(&self.typ.to_le_bytes());
        b[10..12].copy_from_slice(&self.nlink.to_le_bytes());
        b[16..24].copy_from_slice(&self.size.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; Self::SIZE]) -> Stat {
        Stat {
            dev: i32::from_le_bytes(fs::take(b, 0)),
            ino: u32::from_le_bytes(fs::take(b, 4)),
            typ: i16::from_le_bytes(fs::take(b, 8)),
            nlink: i16::from_le_bytes(fs::take(b, 10)),
            size: u64::from_le_bytes(fs::take(b, 16)),
        }
    }
}

/// `struct sysinfo` of the sysinfo lab (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SysInfo {
    /// Bytes of free physical memory.
    pub freemem: u64,
    /// Processes whose state is not UNUSED.
    pub nproc: u64,
}

impl SysInfo {
    pub const SIZE: usize = 16;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.freemem.to_le_bytes());
        b[8..16].copy_from_slice(&self.nproc.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn stat_layout_matches_xv6() {
        assert_eq!(size_of::<Stat>(), 24);
        assert_eq!(offset_of!(Stat, dev), 0);
        assert_eq!(offset_of!(Stat, ino), 4);
        assert_eq!(offset_of!(Stat, typ), 8);
        assert_eq!(offset_of!(Stat, nlink), 10);
        assert_eq!(offset_of!(Stat, size), 16);
    }

    #[test]
    fn stat_round_trips() {
        let s = Stat {
            dev: 1,
            ino: 0x1234_5678,
            typ: filetype::T_FILE,
            nlink: 3,
            size: 0x1_0000_0001,
        };
        let b = s.encode();
        assert_eq!(&b[4..8], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(&b[12..16], &[0; 4], "padding is zeroed");
        assert_eq!(Stat::decode(&b), s);
    }

    #[test]
    fn sysinfo_layout() {
        assert_eq!(size_of::<SysInfo>(), 16);
        let b = SysInfo {
            freemem: 4096,
            nproc: 3,
        }
        .encode();
        assert_eq!(b[1], 0x10);
        assert_eq!(b[8], 3);
    }
}

/// Whether two strings are equal, in a `const` context (where `==` on
/// `str` is not yet allowed): for compile-time checks in the kernel and
/// user programs.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod str_eq_tests {
    #[test]
    fn str_eq_compares_bytes() {
        assert!(super::str_eq("labs", "labs"));
        assert!(!super::str_eq("labs", "lab"));
        assert!(!super::str_eq("labs", "labz"));
        assert!(super::str_eq("", ""));
    }
}
