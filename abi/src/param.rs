//! Limits (xv6 `param.h`).

/// Maximum number of processes.
pub const NPROC: usize = 64;
/// Maximum number of harts.
pub const NCPU: usize = 8;
/// Open files per process.
pub const NOFILE: usize = 16;
/// Open files in the whole system.
pub const NFILE: usize = 100;
/// In-memory inodes.
pub const NINODE: usize = 50;
/// Device major numbers are below this.
pub const NDEV: usize = 10;
/// Device number of the root file system disk.
pub const ROOTDEV: u32 = 1;
/// Maximum number of `exec` arguments.
pub const MAXARG: usize = 32;
/// Most blocks one file system operation may write.
pub const MAXOPBLOCKS: usize = 10;
/// Data blocks in the on-disk log.
pub const LOGSIZE: usize = MAXOPBLOCKS * 3;
/// Blocks in the buffer cache.
pub const NBUF: usize = MAXOPBLOCKS * 3;
/// Size of the file system image in blocks.
pub const FSSIZE: u32 = 2000;
/// Maximum length of a path name, including the NUL.
pub const MAXPATH: usize = 128;
/// Inodes `mkfs` creates room for.
pub const NINODES: u32 = 200;
