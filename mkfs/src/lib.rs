//! Writes and reads xv6-format file system images.
//!
//! [`make_image`] lays out an image the way xv6's `mkfs` does: boot block,
//! superblock, an empty log, the inode blocks, the bitmap, then data. The
//! root directory (inode 1) holds `.` and `..`, then one entry per file in
//! the order given. Every layout number comes from [`abi::fs`] and
//! [`abi::param`].
//!
//! [`Image`] reads such an image back (superblock, inodes, directories,
//! files); tests and `cargo xtask` use it to look inside an image.
//! [`check`] is an fsck: it reports every inconsistency in an image.

use std::fmt;

pub mod check;

use abi::filetype::{T_DIR, T_FILE};
use abi::fs::{BPB, BSIZE, DIRSIZ, Dirent, DiskInode, NDIRECT, NINDIRECT, ROOTINO};
use abi::fs::{FSMAGIC, Layout, SuperBlock};
use abi::param::{LOGSIZE, NINODES};

/// Why an image could not be made or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MkfsError {
    /// The image has no room for its metadata and a root directory block.
    TooSmall {
        nblocks: u32,
        needed: u32,
    },
    /// The file needs more blocks than the layout's largest file.
    FileTooLarge {
        name: String,
        bytes: usize,
        max: usize,
    },
    /// The name is longer than `DIRSIZ` bytes.
    NameTooLong {
        name: String,
    },
    /// Empty, `.`, `..`, or contains `/` or NUL.
    BadName {
        name: String,
    },
    DuplicateName {
        name: String,
    },
    /// More files than there are free inodes.
    TooManyFiles {
        count: usize,
        max: usize,
    },
    /// The data blocks ran out while writing this file.
    DiskFull {
        name: String,
    },
    /// A file named in a lookup is not in the root directory.
    NotFound {
        name: String,
    },
    /// The bytes are not a consistent xv6 image.
    BadImage(String),
}

impl fmt::Display for MkfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MkfsError::TooSmall { nblocks, needed } => write!(
                f,
                "an image of {nblocks} blocks is too small: at least {needed} are needed"
            ),
            MkfsError::FileTooLarge { name, bytes, max } => write!(
                f,
                "`{name}` is {bytes} bytes, more than the largest file of this layout ({max} bytes)"
            ),
            MkfsError::NameTooLong { name } => write!(
                f,
                "the name `{name}` is longer than {DIRSIZ} bytes, the most a directory entry holds"
            ),
            MkfsError::BadName { name } => write!(
                f,
                "`{name}` cannot be a file name (empty, `.`, `..`, or contains `/` or NUL)"
            ),
            MkfsError::DuplicateName { name } => write!(f, "`{name}` is given twice"),
            MkfsError::TooManyFiles { count, max } => write!(
                f,
                "{count} files do not fit: the image has inodes for {max} files"
            ),
            MkfsError::DiskFull { name } => write!(
                f,
                "the image is full: no data block left while writing `{name}`"
            ),
            MkfsError::NotFound { name } => write!(f, "`{name}` is not in the root directory"),
            MkfsError::BadImage(why) => write!(f, "not a valid xv6 image: {why}"),
        }
    }
}

impl std::error::Error for MkfsError {}

/// Makes an image of `nblocks` blocks holding `files` (name, contents) in
/// the root directory, in the order given, in xv6's inode layout.
pub fn make_image(nblocks: u32, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, MkfsError> {
    make_image_with(nblocks, Layout::Xv6, files)
}

/// [`make_image`] in inode layout `layout` (recorded in the superblock).
pub fn make_image_with(
    nblocks: u32,
    layout: Layout,
    files: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, MkfsError> {
    check_files(files, layout)?;
    // Where the bitmap starts does not depend on the image size, so a probe
    // layout tells the smallest image: one bitmap block plus one data block
    // for the root directory.
    let needed = SuperBlock::for_image(BPB, NINODES, LOGSIZE as u32).bmapstart + 2;
    if nblocks < needed {
        return Err(MkfsError::TooSmall { nblocks, needed });
    }
    let sb = SuperBlock::for_image(nblocks, NINODES, LOGSIZE as u32);
    let mut w = Writer {
        img: vec![0; nblocks as usize * BSIZE],
        sb,
        layout,
        next_inum: ROOTINO,
        next_block: sb.data_start(),
    };
    sb.encode(w.block_mut(1));
    layout.mark(w.block_mut(1));

    let root = w.alloc_inode(T_DIR);
    debug_assert_eq!(root, ROOTINO);
    w.add_entry(root, ".", root)?;
    w.add_entry(root, "..", root)?;
    for (name, data) in files {
        let inum = w.alloc_inode(T_FILE);
        w.add_entry(root, name, inum)?;
        w.append(inum, data, name)?;
    }
    // Like xv6's mkfs, leave the root's size at a whole number of blocks;
    // the unused entries are zero (free slots).
    let mut din = w.inode(root);
    din.size = (din.size as usize).next_multiple_of(BSIZE) as u32;
    w.write_inode(root, &din);

    w.mark_used_blocks();
    Ok(w.img)
}

fn check_files(files: &[(String, Vec<u8>)], layout: Layout) -> Result<(), MkfsError> {
    // Inode 0 is never used and the root takes one.
    let max = NINODES as usize - 1 - ROOTINO as usize;
    if files.len() > max {
        return Err(MkfsError::TooManyFiles {
            count: files.len(),
            max,
        });
    }
    for (i, (name, data)) in files.iter().enumerate() {
        let err_name = || name.clone();
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(MkfsError::BadName { name: err_name() });
        }
        if name.len() > DIRSIZ {
            return Err(MkfsError::NameTooLong { name: err_name() });
        }
        if data.len() > layout.maxfile() * BSIZE {
            return Err(MkfsError::FileTooLarge {
                name: err_name(),
                bytes: data.len(),
                max: layout.maxfile() * BSIZE,
            });
        }
        if files[..i].iter().any(|(n, _)| n == name) {
            return Err(MkfsError::DuplicateName { name: err_name() });
        }
    }
    Ok(())
}

/// An image being written: inodes and data blocks are handed out in
/// order, as xv6's mkfs does.
struct Writer {
    img: Vec<u8>,
    sb: SuperBlock,
    layout: Layout,
    next_inum: u32,
    next_block: u32,
}

impl Writer {
    fn block_mut(&mut self, b: u32) -> &mut [u8] {
        let start = b as usize * BSIZE;
        &mut self.img[start..start + BSIZE]
    }

    fn inode_bytes(&self, inum: u32) -> std::ops::Range<usize> {
        let start = self.sb.inode_block(inum) as usize * BSIZE + DiskInode::offset_in_block(inum);
        start..start + DiskInode::SIZE
    }

    fn inode(&self, inum: u32) -> DiskInode {
        DiskInode::decode(&self.img[self.inode_bytes(inum)])
    }

    fn write_inode(&mut self, inum: u32, din: &DiskInode) {
        let range = self.inode_bytes(inum);
        din.encode(&mut self.img[range]);
    }

    /// The caller has checked that enough inodes are left.
    fn alloc_inode(&mut self, typ: i16) -> u32 {
        let inum = self.next_inum;
        self.next_inum += 1;
        let din = DiskInode {
            typ,
            nlink: 1,
            ..DiskInode::default()
        };
        self.write_inode(inum, &din);
        inum
    }

    fn alloc_block(&mut self, for_file: &str) -> Result<u32, MkfsError> {
        if self.next_block >= self.sb.size {
            return Err(MkfsError::DiskFull {
                name: for_file.to_string(),
            });
        }
        let b = self.next_block;
        self.next_block += 1;
        Ok(b)
    }

    fn add_entry(&mut self, dir: u32, name: &str, inum: u32) -> Result<(), MkfsError> {
        let inum16 = u16::try_from(inum).expect("inode numbers fit in a directory entry");
        let entry = Dirent::new(inum16, name.as_bytes()).encode();
        self.append(dir, &entry, name)
    }

    /// The disk block holding block `fbn` of inode `din`, allocating it (and
    /// the indirect block) when missing.
    fn file_block(
        &mut self,
        din: &mut DiskInode,
        fbn: usize,
        name: &str,
    ) -> Result<u32, MkfsError> {
        let nd = self.layout.ndirect();
        if fbn < nd {
            if din.addrs[fbn] == 0 {
                din.addrs[fbn] = self.alloc_block(name)?;
            }
            return Ok(din.addrs[fbn]);
        }
        let (root, rest, levels) = if fbn < nd + NINDIRECT {
            (nd, fbn - nd, 1)
        } else {
            (NDIRECT, fbn - nd - NINDIRECT, 2)
        };
        if din.addrs[root] == 0 {
            din.addrs[root] = self.alloc_block(name)?;
        }
        let mut block = din.addrs[root];
        for level in (0..levels).rev() {
            let slot = rest / NINDIRECT.pow(level) % NINDIRECT * 4;
            let mut next = u32::from_le_bytes(abi::fs::take(self.block_mut(block), slot));
            if next == 0 {
                next = self.alloc_block(name)?;
                self.block_mut(block)[slot..slot + 4].copy_from_slice(&next.to_le_bytes());
            }
            block = next;
        }
        Ok(block)
    }

    /// Appends `data` to inode `inum` (checked by the caller to fit).
    fn append(&mut self, inum: u32, data: &[u8], name: &str) -> Result<(), MkfsError> {
        let mut din = self.inode(inum);
        let mut off = din.size as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let fbn = off / BSIZE;
            debug_assert!(fbn < self.layout.maxfile());
            let b = self.file_block(&mut din, fbn, name)?;
            let in_block = off % BSIZE;
            let n = rest.len().min(BSIZE - in_block);
            self.block_mut(b)[in_block..in_block + n].copy_from_slice(&rest[..n]);
            off += n;
            rest = &rest[n..];
        }
        din.size = off as u32;
        self.write_inode(inum, &din);
        Ok(())
    }

    /// Marks every block below the first free one: all metadata and every
    /// data block handed out.
    fn mark_used_blocks(&mut self) {
        for b in 0..self.next_block {
            let bit = (b % BPB) as usize;
            let block = self.sb.bitmap_block(b);
            self.block_mut(block)[bit / 8] |= 1 << (bit % 8);
        }
    }
}

/// A read-only view of an xv6 image.
pub struct Image<'a> {
    bytes: &'a [u8],
    sb: SuperBlock,
    layout: Layout,
}

impl<'a> Image<'a> {
    /// Checks the superblock and that the image holds all its blocks.
    pub fn open(bytes: &'a [u8]) -> Result<Image<'a>, MkfsError> {
        if bytes.len() < 2 * BSIZE {
            return Err(MkfsError::BadImage(format!(
                "{} bytes is shorter than a boot block and a superblock",
                bytes.len()
            )));
        }
        let sb = SuperBlock::decode(&bytes[BSIZE..2 * BSIZE]);
        if sb.magic != FSMAGIC {
            return Err(MkfsError::BadImage(format!(
                "bad superblock magic {:#x}",
                sb.magic
            )));
        }
        if sb.size as usize * BSIZE > bytes.len() {
            return Err(MkfsError::BadImage(format!(
                "the superblock says {} blocks but the image has {} bytes",
                sb.size,
                bytes.len()
            )));
        }
        if sb.nblocks > sb.size || sb.bmapstart >= sb.size || sb.inodestart >= sb.bmapstart {
            return Err(MkfsError::BadImage("inconsistent superblock".into()));
        }
        let layout = Layout::of_superblock(&bytes[BSIZE..2 * BSIZE]);
        Ok(Image { bytes, sb, layout })
    }

    pub fn superblock(&self) -> SuperBlock {
        self.sb
    }

    /// The inode layout its superblock records.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The disk block of block `fbn` of `din` (0 for none).
    fn file_block(&self, din: &DiskInode, fbn: usize) -> Result<u32, MkfsError> {
        let nd = self.layout.ndirect();
        if fbn < nd {
            return Ok(din.addrs[fbn]);
        }
        let (mut block, rest, levels) = if fbn < nd + NINDIRECT {
            (din.addrs[nd], fbn - nd, 1)
        } else {
            (din.addrs[NDIRECT], fbn - nd - NINDIRECT, 2)
        };
        for level in (0..levels).rev() {
            if block == 0 {
                return Ok(0);
            }
            let slot = rest / NINDIRECT.pow(level) % NINDIRECT * 4;
            block = u32::from_le_bytes(abi::fs::take(self.block(block)?, slot));
        }
        Ok(block)
    }

    /// The bytes of block `b`.
    pub fn block(&self, b: u32) -> Result<&'a [u8], MkfsError> {
        if b >= self.sb.size {
            return Err(MkfsError::BadImage(format!(
                "block {b} is outside the image ({} blocks)",
                self.sb.size
            )));
        }
        let start = b as usize * BSIZE;
        Ok(&self.bytes[start..start + BSIZE])
    }

    pub fn inode(&self, inum: u32) -> Result<DiskInode, MkfsError> {
        if inum == 0 || inum >= self.sb.ninodes {
            return Err(MkfsError::BadImage(format!("no inode {inum}")));
        }
        let block = self.block(self.sb.inode_block(inum))?;
        let off = DiskInode::offset_in_block(inum);
        Ok(DiskInode::decode(&block[off..off + DiskInode::SIZE]))
    }

    /// The disk blocks of inode `inum`'s contents, in order (0 for a
    /// missing one).
    pub fn file_blocks(&self, inum: u32) -> Result<Vec<u32>, MkfsError> {
        let din = self.inode(inum)?;
        let n = (din.size as usize).div_ceil(BSIZE);
        if n > self.layout.maxfile() {
            return Err(MkfsError::BadImage(format!(
                "inode {inum} has size {}",
                din.size
            )));
        }
        (0..n).map(|fbn| self.file_block(&din, fbn)).collect()
    }

    /// The contents of inode `inum`.
    pub fn read(&self, inum: u32) -> Result<Vec<u8>, MkfsError> {
        let din = self.inode(inum)?;
        let size = din.size as usize;
        if size > self.layout.maxfile() * BSIZE {
            return Err(MkfsError::BadImage(format!("inode {inum} has size {size}")));
        }
        let mut out = Vec::with_capacity(size);
        for fbn in 0..size.div_ceil(BSIZE) {
            let addr = self.file_block(&din, fbn)?;
            let n = (size - out.len()).min(BSIZE);
            if addr == 0 {
                return Err(MkfsError::BadImage(format!(
                    "block {fbn} of inode {inum} is missing"
                )));
            }
            out.extend_from_slice(&self.block(addr)?[..n]);
        }
        Ok(out)
    }

    /// The used entries of directory `inum`, in order.
    pub fn list_dir(&self, inum: u32) -> Result<Vec<Dirent>, MkfsError> {
        let din = self.inode(inum)?;
        if din.typ != T_DIR {
            return Err(MkfsError::BadImage(format!(
                "inode {inum} is not a directory"
            )));
        }
        Ok(self
            .read(inum)?
            .chunks_exact(Dirent::SIZE)
            .map(Dirent::decode)
            .filter(|d| d.inum != 0)
            .collect())
    }

    /// The inode number of `name` in the root directory.
    pub fn lookup(&self, name: &str) -> Result<u32, MkfsError> {
        self.list_dir(ROOTINO)?
            .iter()
            .find(|d| d.name_is(name.as_bytes()))
            .map(|d| u32::from(d.inum))
            .ok_or_else(|| MkfsError::NotFound {
                name: name.to_string(),
            })
    }

    /// The contents of `name` in the root directory.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, MkfsError> {
        self.read(self.lookup(name)?)
    }

    /// The file names in the root directory, without `.` and `..`.
    pub fn root_names(&self) -> Result<Vec<String>, MkfsError> {
        Ok(self
            .list_dir(ROOTINO)?
            .iter()
            .map(|d| String::from_utf8_lossy(d.name()).into_owned())
            .filter(|n| n != "." && n != "..")
            .collect())
    }

    /// Whether the bitmap marks block `b` as in use.
    pub fn block_in_use(&self, b: u32) -> Result<bool, MkfsError> {
        let bits = self.block(self.sb.bitmap_block(b))?;
        let bit = (b % BPB) as usize;
        Ok(bits[bit / 8] & (1 << (bit % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::fs::MAXFILE;
    use abi::param::FSSIZE;

    fn file(name: &str, data: Vec<u8>) -> (String, Vec<u8>) {
        (name.to_string(), data)
    }

    /// Bytes that differ from block to block, so a misplaced block shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i / 7) as u8 ^ (i % 251) as u8 ^ seed)
            .collect()
    }

    fn u32_at(img: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(img[off..off + 4].try_into().unwrap())
    }

    fn u16_at(img: &[u8], off: usize) -> u16 {
        u16::from_le_bytes(img[off..off + 2].try_into().unwrap())
    }

    #[test]
    fn files_round_trip() {
        let files = vec![
            file("README", b"hello, xv6\n".to_vec()),
            file("empty", Vec::new()),
            file("oneblock", pattern(BSIZE, 1)),
            file("big", pattern(40_000, 2)),
            file("largest", pattern(MAXFILE * BSIZE, 3)),
            file("fourteenchars!", b"x".to_vec()),
        ];
        let img = make_image(FSSIZE, &files).unwrap();
        assert_eq!(img.len(), FSSIZE as usize * BSIZE);
        let image = Image::open(&img).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(image.root_names().unwrap(), names);
        for (name, data) in &files {
            assert_eq!(&image.read_file(name).unwrap(), data, "{name}");
        }
        assert_eq!(
            image.read_file("nothere"),
            Err(MkfsError::NotFound {
                name: "nothere".into()
            })
        );
    }

    #[test]
    fn layout_is_exactly_xv6s() {
        // README: 2 blocks. prog: 12 direct blocks + 3 through the indirect
        // block, 500 bytes into the last one.
        let readme = pattern(1500, 9);
        let prog = pattern(14 * BSIZE + 500, 4);
        let img = make_image(2000, &[file("README", readme.clone()), file("prog", prog)]).unwrap();

        // Superblock: block 1, eight little-endian u32s.
        let sb = BSIZE;
        let fields: Vec<u32> = (0..8).map(|i| u32_at(&img, sb + 4 * i)).collect();
        // magic, size, nblocks, ninodes, nlog, logstart, inodestart, bmapstart
        assert_eq!(fields, [0x1020_3040, 2000, 2000 - 46, 200, 30, 2, 32, 45]);
        assert!(img[sb + 32..2 * BSIZE].iter().all(|&b| b == 0));
        // Boot block and log are empty.
        assert!(img[..BSIZE].iter().all(|&b| b == 0));
        assert!(img[2 * BSIZE..32 * BSIZE].iter().all(|&b| b == 0));

        // Inodes: 64 bytes each from block 32; inode 1 is the root.
        let inode = |inum: usize| 32 * BSIZE + inum * 64;
        assert!(
            img[inode(0)..inode(1)].iter().all(|&b| b == 0),
            "inode 0 unused"
        );
        let root = inode(1);
        assert_eq!(u16_at(&img, root), 1, "root type T_DIR");
        assert_eq!(u16_at(&img, root + 2), 0, "major");
        assert_eq!(u16_at(&img, root + 4), 0, "minor");
        assert_eq!(u16_at(&img, root + 6), 1, "root nlink");
        assert_eq!(u32_at(&img, root + 8), 1024, "root size: one whole block");
        // Data starts at block 46: the root's block, then README's two blocks.
        assert_eq!(u32_at(&img, root + 12), 46);
        assert_eq!(u32_at(&img, root + 16), 0);

        let dir = 46 * BSIZE;
        let mut dot = [0u8; 16];
        dot[0] = 1;
        dot[2] = b'.';
        assert_eq!(&img[dir..dir + 16], &dot);
        let mut dotdot = dot;
        dotdot[3] = b'.';
        assert_eq!(&img[dir + 16..dir + 32], &dotdot);
        let mut readme_entry = [0u8; 16];
        readme_entry[0] = 2;
        readme_entry[2..8].copy_from_slice(b"README");
        assert_eq!(&img[dir + 32..dir + 48], &readme_entry);
        assert_eq!(u16_at(&img, dir + 48), 3);
        assert_eq!(&img[dir + 50..dir + 64], b"prog\0\0\0\0\0\0\0\0\0\0");
        assert!(img[dir + 64..dir + BSIZE].iter().all(|&b| b == 0));

        let r = inode(2);
        assert_eq!(u16_at(&img, r), 2, "T_FILE");
        assert_eq!(u16_at(&img, r + 6), 1);
        assert_eq!(u32_at(&img, r + 8), 1500);
        assert_eq!(u32_at(&img, r + 12), 47);
        assert_eq!(u32_at(&img, r + 16), 48);
        assert_eq!(&img[47 * BSIZE..47 * BSIZE + 1500], &readme[..]);
        assert!(img[47 * BSIZE + 1500..49 * BSIZE].iter().all(|&b| b == 0));

        // prog: direct blocks 49..=60, then the indirect block 61 (allocated
        // when first needed), then data blocks 62, 63, 64.
        let p = inode(3);
        assert_eq!(u32_at(&img, p + 8), 14 * 1024 + 500);
        for i in 0..12 {
            assert_eq!(u32_at(&img, p + 12 + 4 * i), 49 + i as u32);
        }
        assert_eq!(u32_at(&img, p + 60), 61, "indirect block");
        let ind = 61 * BSIZE;
        assert_eq!(u32_at(&img, ind), 62);
        assert_eq!(u32_at(&img, ind + 4), 63);
        assert_eq!(u32_at(&img, ind + 8), 64);
        assert!(img[ind + 12..ind + BSIZE].iter().all(|&b| b == 0));
        assert!(
            img[inode(4)..33 * BSIZE].iter().all(|&b| b == 0),
            "free inodes zero"
        );

        // Bitmap at block 45: blocks 0..=64 used (65 bits), nothing else.
        let bm = 45 * BSIZE;
        assert!(img[bm..bm + 8].iter().all(|&b| b == 0xff));
        assert_eq!(img[bm + 8], 0x01);
        assert!(img[bm + 9..bm + BSIZE].iter().all(|&b| b == 0));
        // Unused data blocks are zero.
        assert!(img[65 * BSIZE..].iter().all(|&b| b == 0));
    }

    #[test]
    fn reader_agrees_with_layout() {
        let img = make_image(FSSIZE, &[file("a", pattern(20 * BSIZE, 5))]).unwrap();
        let image = Image::open(&img).unwrap();
        let sb = image.superblock();
        assert_eq!(sb, SuperBlock::for_image(FSSIZE, NINODES, LOGSIZE as u32));
        let root = image.inode(ROOTINO).unwrap();
        assert_eq!((root.typ, root.nlink, root.size), (T_DIR, 1, BSIZE as u32));
        let entries = image.list_dir(ROOTINO).unwrap();
        let names: Vec<&[u8]> = entries.iter().map(|d| d.name()).collect();
        assert_eq!(names, [&b"."[..], b"..", b"a"]);
        // root block + 20 data + 1 indirect
        let last_used = sb.data_start() + 22 - 1;
        for b in 0..sb.size {
            assert_eq!(image.block_in_use(b).unwrap(), b <= last_used, "block {b}");
        }
    }

    #[test]
    fn big_root_directory_spans_blocks() {
        let files: Vec<_> = (0..150)
            .map(|i| file(&format!("f{i}"), vec![i as u8]))
            .collect();
        let img = make_image(FSSIZE, &files).unwrap();
        let image = Image::open(&img).unwrap();
        let root = image.inode(ROOTINO).unwrap();
        // 152 entries of 16 bytes: three blocks.
        assert_eq!(root.size, 3 * BSIZE as u32);
        assert_eq!(image.root_names().unwrap().len(), 150);
        assert_eq!(image.read_file("f149").unwrap(), vec![149]);
    }

    #[test]
    fn rejects_bad_input() {
        let too_big = file("big", vec![0; MAXFILE * BSIZE + 1]);
        assert!(matches!(
            make_image(FSSIZE, &[too_big]),
            Err(MkfsError::FileTooLarge { bytes, .. }) if bytes == MAXFILE * BSIZE + 1
        ));
        assert_eq!(
            make_image(FSSIZE, &[file("fifteen-chars-x", vec![])]),
            Err(MkfsError::NameTooLong {
                name: "fifteen-chars-x".into()
            })
        );
        for bad in ["", ".", "..", "a/b"] {
            assert_eq!(
                make_image(FSSIZE, &[file(bad, vec![])]),
                Err(MkfsError::BadName { name: bad.into() })
            );
        }
        assert_eq!(
            make_image(FSSIZE, &[file("x", vec![]), file("x", vec![1])]),
            Err(MkfsError::DuplicateName { name: "x".into() })
        );
        let many: Vec<_> = (0..NINODES)
            .map(|i| file(&format!("{i}"), vec![]))
            .collect();
        assert!(matches!(
            make_image(FSSIZE, &many),
            Err(MkfsError::TooManyFiles { max: 198, .. })
        ));
        assert_eq!(
            make_image(46, &[]),
            Err(MkfsError::TooSmall {
                nblocks: 46,
                needed: 47
            })
        );
        assert!(make_image(47, &[]).is_ok());
        assert_eq!(
            make_image(60, &[file("x", vec![1; 20 * BSIZE])]),
            Err(MkfsError::DiskFull { name: "x".into() })
        );
    }

    #[test]
    fn most_files_that_fit() {
        let files: Vec<_> = (0..198).map(|i| file(&format!("{i}"), vec![])).collect();
        let img = make_image(FSSIZE, &files).unwrap();
        let image = Image::open(&img).unwrap();
        assert_eq!(image.lookup("197").unwrap(), 199);
    }

    #[test]
    fn open_rejects_garbage() {
        assert!(matches!(Image::open(&[0; 10]), Err(MkfsError::BadImage(_))));
        assert!(matches!(
            Image::open(&[0; 4 * BSIZE]),
            Err(MkfsError::BadImage(_))
        ));
        let mut img = make_image(FSSIZE, &[]).unwrap();
        img.truncate(100 * BSIZE);
        assert!(matches!(Image::open(&img), Err(MkfsError::BadImage(_))));
    }
}
