//! The on-disk file system format (little-endian), shared by the kernel and
//! `mkfs`.
//!
//! Layout: `[ boot | super | log | inodes | bitmap | data ]`. Structures are
//! decoded from and encoded to byte slices explicitly, so neither side needs
//! to reinterpret memory.

/// Block size in bytes.
pub const BSIZE: usize = 1024;
/// Superblock magic.
pub const FSMAGIC: u32 = 0x1020_3040;
/// Inode number of the root directory.
pub const ROOTINO: u32 = 1;
/// Direct block addresses per inode.
pub const NDIRECT: usize = 12;
/// Block addresses in the singly-indirect block.
pub const NINDIRECT: usize = BSIZE / 4;
/// Largest file, in blocks (xv6's layout).
pub const MAXFILE: usize = NDIRECT + NINDIRECT;
/// Block addresses reached through the doubly-indirect block.
pub const NDINDIRECT: usize = NINDIRECT * NINDIRECT;

/// How an inode's `addrs` map a file's blocks. Either way there are
/// `NDIRECT + 1` addresses, so the inode keeps its 64 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// xv6's: 12 direct addresses, then a singly-indirect block.
    #[default]
    Xv6,
    /// The fs lab's: 11 direct, a singly- and a doubly-indirect block.
    Doubly,
}

/// Superblock bytes past [`SuperBlock::SIZE`] that mark [`Layout::Doubly`]
/// (xv6 leaves them zero, so its images read as [`Layout::Xv6`]).
const DOUBLY_MARK: u32 = 0x4442_4c31;
const MARK_OFFSET: usize = SuperBlock::SIZE;

impl Layout {
    /// Direct addresses in the inode.
    pub const fn ndirect(self) -> usize {
        match self {
            Layout::Xv6 => NDIRECT,
            Layout::Doubly => NDIRECT - 1,
        }
    }

    /// Largest file, in blocks (65,803 for `Doubly`).
    pub const fn maxfile(self) -> usize {
        match self {
            Layout::Xv6 => MAXFILE,
            Layout::Doubly => NDIRECT - 1 + NINDIRECT + NDINDIRECT,
        }
    }

    /// The layout superblock block `b` (block 1, whole) says the image has.
    pub fn of_superblock(b: &[u8]) -> Layout {
        if u32_at(b, MARK_OFFSET) == DOUBLY_MARK {
            Layout::Doubly
        } else {
            Layout::Xv6
        }
    }

    /// Records this layout in superblock block `b` (block 1, whole).
    pub fn mark(self, b: &mut [u8]) {
        let v = match self {
            Layout::Xv6 => 0,
            Layout::Doubly => DOUBLY_MARK,
        };
        b[MARK_OFFSET..MARK_OFFSET + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Its name in the registry and on mkfs's command line.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Xv6 => "xv6",
            Layout::Doubly => "doubly",
        }
    }

    pub fn from_name(s: &str) -> Option<Layout> {
        [Layout::Xv6, Layout::Doubly]
            .into_iter()
            .find(|l| l.name() == s)
    }
}
/// Bytes of a directory entry name (not NUL-terminated when full).
pub const DIRSIZ: usize = 14;
/// Inodes per block.
pub const IPB: u32 = (BSIZE / DiskInode::SIZE) as u32;
/// Bitmap bits per block.
pub const BPB: u32 = (BSIZE * 8) as u32;

/// Copies `N` bytes at `off` out of `b` (for `from_le_bytes`).
pub fn take<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(take(b, off))
}

fn i16_at(b: &[u8], off: usize) -> i16 {
    i16::from_le_bytes(take(b, off))
}

/// Block 1: describes the disk layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuperBlock {
    pub magic: u32,
    /// Size of the image in blocks.
    pub size: u32,
    /// Number of data blocks.
    pub nblocks: u32,
    pub ninodes: u32,
    /// Number of log blocks, header included.
    pub nlog: u32,
    pub logstart: u32,
    pub inodestart: u32,
    pub bmapstart: u32,
}

impl SuperBlock {
    pub const SIZE: usize = 32;

    /// The layout `mkfs` writes for an image of `size` blocks, with
    /// `ninodes` inodes and `nlog` log blocks (header included).
    pub fn for_image(size: u32, ninodes: u32, nlog: u32) -> SuperBlock {
        let ninodeblocks = ninodes / IPB + 1;
        let nbitmap = size / BPB + 1;
        let nmeta = 2 + nlog + ninodeblocks + nbitmap;
        SuperBlock {
            magic: FSMAGIC,
            size,
            nblocks: size - nmeta,
            ninodes,
            nlog,
            logstart: 2,
            inodestart: 2 + nlog,
            bmapstart: 2 + nlog + ninodeblocks,
        }
    }

    /// Block holding inode `inum`.
    pub fn inode_block(&self, inum: u32) -> u32 {
        inum / IPB + self.inodestart
    }

    /// Bitmap block holding the bit of block `b`.
    pub fn bitmap_block(&self, b: u32) -> u32 {
        b / BPB + self.bmapstart
    }

    /// First data block (everything before it is metadata).
    pub fn data_start(&self) -> u32 {
        self.size - self.nblocks
    }

    pub fn decode(b: &[u8]) -> SuperBlock {
        SuperBlock {
            magic: u32_at(b, 0),
            size: u32_at(b, 4),
            nblocks: u32_at(b, 8),
            ninodes: u32_at(b, 12),
            nlog: u32_at(b, 16),
            logstart: u32_at(b, 20),
            inodestart: u32_at(b, 24),
            bmapstart: u32_at(b, 28),
        }
    }

    pub fn encode(&self, b: &mut [u8]) {
        let f = [
            self.magic,
            self.size,
            self.nblocks,
            self.ninodes,
            self.nlog,
            self.logstart,
            self.inodestart,
            self.bmapstart,
        ];
        for (i, v) in f.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// An inode on disk (64 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskInode {
    /// 0 = free, else one of [`crate::filetype`].
    pub typ: i16,
    pub major: i16,
    pub minor: i16,
    pub nlink: i16,
    pub size: u32,
    /// `NDIRECT` direct blocks, then the indirect block.
    pub addrs: [u32; NDIRECT + 1],
}

impl DiskInode {
    pub const SIZE: usize = 64;

    /// Byte offset of inode `inum` inside its block.
    pub fn offset_in_block(inum: u32) -> usize {
        (inum % IPB) as usize * Self::SIZE
    }

    pub fn decode(b: &[u8]) -> DiskInode {
        let mut addrs = [0u32; NDIRECT + 1];
        for (i, a) in addrs.iter_mut().enumerate() {
            *a = u32_at(b, 12 + 4 * i);
        }
        DiskInode {
            typ: i16_at(b, 0),
            major: i16_at(b, 2),
            minor: i16_at(b, 4),
            nlink: i16_at(b, 6),
            size: u32_at(b, 8),
            addrs,
        }
    }

    pub fn encode(&self, b: &mut [u8]) {
        b[0..2].copy_from_slice(&self.typ.to_le_bytes());
        b[2..4].copy_from_slice(&self.major.to_le_bytes());
        b[4..6].copy_from_slice(&self.minor.to_le_bytes());
        b[6..8].copy_from_slice(&self.nlink.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        for (i, a) in self.addrs.iter().enumerate() {
            b[12 + 4 * i..16 + 4 * i].copy_from_slice(&a.to_le_bytes());
        }
    }
}

/// A directory entry (16 bytes). `inum == 0` marks a free slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dirent {
    pub inum: u16,
    pub name: [u8; DIRSIZ],
}

impl Dirent {
    pub const SIZE: usize = 16;

    /// An entry for `name`, truncated to `DIRSIZ` bytes like xv6 does.
    pub fn new(inum: u16, name: &[u8]) -> Dirent {
        let mut d = Dirent {
            inum,
            name: [0; DIRSIZ],
        };
        let n = name.len().min(DIRSIZ);
        d.name[..n].copy_from_slice(&name[..n]);
        d
    }

    /// The name without its NUL padding.
    pub fn name(&self) -> &[u8] {
        let n = self.name.iter().position(|&c| c == 0).unwrap_or(DIRSIZ);
        &self.name[..n]
    }

    /// Whether this entry's name equals `name` as xv6 compares them (at most
    /// `DIRSIZ` bytes).
    pub fn name_is(&self, name: &[u8]) -> bool {
        let name = &name[..name.len().min(DIRSIZ)];
        self.name() == name
    }

    pub fn decode(b: &[u8]) -> Dirent {
        Dirent {
            inum: u16::from_le_bytes(take(b, 0)),
            name: take(b, 2),
        }
    }

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.inum.to_le_bytes());
        b[2..].copy_from_slice(&self.name);
        b
    }
}

/// The log header block: a count, then the home block numbers of the logged
/// blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogHeader {
    pub n: u32,
    pub blocks: [u32; crate::param::LOGSIZE],
}

impl LogHeader {
    pub fn decode(b: &[u8]) -> LogHeader {
        let mut blocks = [0u32; crate::param::LOGSIZE];
        for (i, x) in blocks.iter_mut().enumerate() {
            *x = u32_at(b, 4 + 4 * i);
        }
        LogHeader {
            n: u32_at(b, 0),
            blocks,
        }
    }

    pub fn encode(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.n.to_le_bytes());
        for (i, x) in self.blocks.iter().enumerate() {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&x.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::{FSSIZE, LOGSIZE, NINODES};

    #[test]
    fn layouts() {
        assert_eq!(Layout::Doubly.maxfile(), 65_803);
        assert_eq!(Layout::Xv6.maxfile(), 268);
        let mut b = [0u8; BSIZE];
        assert_eq!(Layout::of_superblock(&b), Layout::Xv6);
        Layout::Doubly.mark(&mut b);
        assert_eq!(Layout::of_superblock(&b), Layout::Doubly);
        Layout::Xv6.mark(&mut b);
        assert_eq!(Layout::of_superblock(&b), Layout::Xv6);
        assert_eq!(Layout::from_name("doubly"), Some(Layout::Doubly));
        assert_eq!(Layout::from_name("x"), None);
    }

    #[test]
    fn superblock_for_xv6_image() {
        for size in [1000, FSSIZE] {
            let sb = SuperBlock::for_image(size, NINODES, LOGSIZE as u32);
            assert_eq!(sb.logstart, 2);
            assert_eq!(sb.inodestart, 32);
            assert_eq!(sb.bmapstart, 45);
            assert_eq!(sb.nblocks, size - 46);
        }
    }

    #[test]
    fn superblock_round_trip() {
        let sb = SuperBlock::for_image(FSSIZE, NINODES, LOGSIZE as u32);
        let mut b = [0u8; BSIZE];
        sb.encode(&mut b);
        assert_eq!(&b[0..4], &[0x40, 0x30, 0x20, 0x10]);
        assert_eq!(SuperBlock::decode(&b), sb);
    }

    #[test]
    fn inode_round_trip_and_offsets() {
        let mut di = DiskInode {
            typ: 2,
            major: 0,
            minor: 0,
            nlink: 1,
            size: 5000,
            addrs: [0; NDIRECT + 1],
        };
        di.addrs[0] = 70;
        di.addrs[NDIRECT] = 0xdead;
        let mut b = [0u8; DiskInode::SIZE];
        di.encode(&mut b);
        assert_eq!(&b[8..12], &5000u32.to_le_bytes());
        assert_eq!(&b[60..64], &0xdeadu32.to_le_bytes());
        assert_eq!(DiskInode::decode(&b), di);
        assert_eq!(IPB, 16);
        assert_eq!(DiskInode::offset_in_block(17), 64);
    }

    #[test]
    fn dirent_names() {
        let d = Dirent::new(3, b"README");
        let b = d.encode();
        assert_eq!(&b[0..2], &[3, 0]);
        assert_eq!(&b[2..8], b"README");
        assert_eq!(Dirent::decode(&b).name(), b"README");
        let long = Dirent::new(4, b"abcdefghijklmnopq");
        assert_eq!(long.name(), b"abcdefghijklmn");
        assert!(long.name_is(b"abcdefghijklmnXYZ"));
        assert!(!long.name_is(b"abcdefghijklm"));
    }

    #[test]
    fn maxfile() {
        assert_eq!(MAXFILE, 268);
        assert_eq!(BPB, 8192);
    }
}
