//! A consistency checker for xv6 images (an fsck that only reports).
//!
//! [`check`] reads an image and lists what is wrong with it:
//! - the superblock: magic, and regions (log, inodes, bitmap, data) that lie
//!   in order inside the image;
//! - the log: a committed header that was not installed is replayed first
//!   (on a copy; the caller's bytes are not changed), or reported;
//! - every allocated inode: a known type, a size no larger than the largest
//!   file (a symbolic link's: a path, `MAXPATH` bytes), every block in the data area, used once, marked in the bitmap;
//!   exactly the blocks its size needs (none missing, none past the end);
//! - the bitmap: metadata marked, and no data block marked that nothing uses;
//! - every directory: `.` (itself) and `..` as its first two entries,
//!   entries that name allocated inodes, no name twice, no empty names;
//! - the tree: every allocated inode reachable from the root, a directory
//!   named from one place only, `..` naming the directory that holds it;
//! - link counts: an inode's `nlink` is the number of entries naming it,
//!   not counting `.` (xv6's convention: a directory counts the entry in its
//!   parent and the `..` of each subdirectory; the root counts its own `..`).
//!
//! An image from a machine that stopped without shutting down may hold
//! inodes with no links that no entry names: files that were open when they
//! were unlinked. With [`Options::crashed`] those are notes, not problems
//! (the kernel frees them when it boots).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use abi::filetype::{T_DEVICE, T_DIR, T_FILE, T_SYMLINK};
use abi::fs::{BPB, BSIZE, Dirent, DiskInode, FSMAGIC, IPB, Layout, LogHeader, NDIRECT};
use abi::fs::{NINDIRECT, ROOTINO, SuperBlock, take};
use abi::param::LOGSIZE;
use abi::param::MAXPATH;

/// How to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Report a committed log that was not installed, instead of replaying
    /// it before checking.
    pub no_replay: bool,
    /// The machine stopped without shutting down: unlinked inodes that no
    /// entry names are expected.
    pub crashed: bool,
}

/// One inconsistency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The superblock cannot describe this image; nothing else is checked.
    Superblock(String),
    /// The log header is malformed; the log is not replayed.
    Log(String),
    /// The log holds a committed transaction (with [`Options::no_replay`]).
    PendingLog {
        blocks: u32,
    },
    /// The root inode is not a directory; the tree is not checked.
    RootNotDir {
        typ: i16,
    },
    BadType {
        inum: u32,
        typ: i16,
    },
    /// Larger than the largest file, or a directory size that is not a
    /// whole number of entries.
    BadSize {
        inum: u32,
        size: u32,
    },
    /// A block number outside the data area.
    BlockOutOfRange {
        inum: u32,
        block: u32,
    },
    /// A block used twice (by two inodes, or twice by one).
    BlockShared {
        block: u32,
        first: u32,
        second: u32,
    },
    /// Block `fbn` of the file lies below its size but is not there.
    BlockMissing {
        inum: u32,
        fbn: usize,
    },
    /// A block (or the indirect block) that the file's size does not need.
    BlockPastEnd {
        inum: u32,
        block: u32,
    },
    /// A block in use that the bitmap says is free.
    BlockNotMarked {
        block: u32,
        inum: u32,
    },
    /// A boot, superblock, log, inode or bitmap block the bitmap says is free.
    MetadataNotMarked {
        block: u32,
    },
    /// A data block the bitmap marks as used that nothing uses.
    BlockLeaked {
        block: u32,
    },
    /// A directory entry naming an inode that is free or does not exist.
    EntryToFreeInode {
        dir: u32,
        name: String,
        inum: u32,
    },
    /// A directory entry with an empty name.
    EmptyName {
        dir: u32,
        inum: u32,
    },
    DuplicateName {
        dir: u32,
        name: String,
    },
    /// The first entry is not `.` naming the directory itself.
    BadDot {
        dir: u32,
    },
    /// The second entry is not `..` naming the directory that holds this
    /// one (`found` is what it names, if there is one).
    BadDotDot {
        dir: u32,
        found: Option<u32>,
        parent: u32,
    },
    /// A `.` or `..` entry anywhere but the first two slots.
    StrayDotEntry {
        dir: u32,
        name: String,
    },
    /// A directory named by entries in two directories (or twice in one).
    DirLinkedTwice {
        inum: u32,
        first: u32,
        second: u32,
    },
    LinkCount {
        inum: u32,
        nlink: i16,
        entries: u32,
    },
    /// An allocated inode that cannot be reached from the root.
    Orphan {
        inum: u32,
        typ: i16,
        nlink: i16,
    },
}

fn type_name(typ: i16) -> &'static str {
    match typ {
        T_DIR => "directory",
        T_FILE => "file",
        T_DEVICE => "device",
        T_SYMLINK => "symbolic link",
        _ => "inode",
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Superblock(why) => write!(f, "superblock: {why}"),
            Problem::Log(why) => write!(f, "log: {why}"),
            Problem::PendingLog { blocks } => write!(
                f,
                "log: a committed transaction of {blocks} blocks was not installed"
            ),
            Problem::RootNotDir { typ } => {
                write!(f, "root inode {ROOTINO} has type {typ}, not a directory")
            }
            Problem::BadType { inum, typ } => write!(f, "inode {inum}: unknown type {typ}"),
            Problem::BadSize { inum, size } => write!(f, "inode {inum}: bad size {size}"),
            Problem::BlockOutOfRange { inum, block } => {
                write!(f, "inode {inum}: block {block} is outside the data area")
            }
            Problem::BlockShared {
                block,
                first,
                second,
            } => write!(
                f,
                "block {block} is used by inode {first} and inode {second}"
            ),
            Problem::BlockMissing { inum, fbn } => write!(
                f,
                "inode {inum}: block {fbn} of the file is missing below its size"
            ),
            Problem::BlockPastEnd { inum, block } => write!(
                f,
                "inode {inum}: holds block {block}, past the end of its size"
            ),
            Problem::BlockNotMarked { block, inum } => {
                write!(f, "block {block} (of inode {inum}) is free in the bitmap")
            }
            Problem::MetadataNotMarked { block } => {
                write!(f, "metadata block {block} is free in the bitmap")
            }
            Problem::BlockLeaked { block } => {
                write!(f, "block {block} is marked in use but nothing uses it")
            }
            Problem::EntryToFreeInode { dir, name, inum } => write!(
                f,
                "directory {dir}: entry `{name}` names inode {inum}, which is not allocated"
            ),
            Problem::EmptyName { dir, inum } => {
                write!(f, "directory {dir}: an entry for inode {inum} has no name")
            }
            Problem::DuplicateName { dir, name } => {
                write!(f, "directory {dir}: two entries named `{name}`")
            }
            Problem::BadDot { dir } => write!(
                f,
                "directory {dir}: the first entry is not `.` naming itself"
            ),
            Problem::BadDotDot { dir, found, parent } => match found {
                Some(found) => write!(
                    f,
                    "directory {dir}: `..` names inode {found}, but directory {parent} holds it"
                ),
                None => write!(f, "directory {dir}: the second entry is not `..`"),
            },
            Problem::StrayDotEntry { dir, name } => {
                write!(f, "directory {dir}: an entry `{name}` past the first two")
            }
            Problem::DirLinkedTwice {
                inum,
                first,
                second,
            } => write!(
                f,
                "directory {inum} is named from directory {first} and from directory {second}"
            ),
            Problem::LinkCount {
                inum,
                nlink,
                entries,
            } => write!(
                f,
                "inode {inum}: nlink is {nlink} but {entries} {} it",
                if *entries == 1 {
                    "entry names"
                } else {
                    "entries name"
                }
            ),
            Problem::Orphan { inum, typ, nlink } => write!(
                f,
                "inode {inum}: a {} with nlink {nlink} that is not reachable from the root",
                type_name(*typ)
            ),
        }
    }
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not inconsistencies (a log replayed,
    /// unlinked files of a crashed machine).
    pub notes: Vec<String>,
    /// Allocated inodes, the root included.
    pub inodes_used: u32,
    pub ninodes: u32,
    /// Data blocks in use, and how many there are.
    pub blocks_used: u32,
    pub nblocks: u32,
    /// Blocks installed from the log before checking.
    pub replayed: u32,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    /// A summary line, then one line per note and per problem (the first
    /// `MAX_SHOWN` of them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_SHOWN: usize = 50;
        if self.is_clean() {
            write!(f, "clean")?;
        } else {
            let n = self.problems.len();
            write!(f, "{n} problem{}", if n == 1 { "" } else { "s" })?;
        }
        writeln!(
            f,
            ": {} of {} inodes, {} of {} data blocks in use",
            self.inodes_used, self.ninodes, self.blocks_used, self.nblocks
        )?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        for p in self.problems.iter().take(MAX_SHOWN) {
            writeln!(f, "  {p}")?;
        }
        if self.problems.len() > MAX_SHOWN {
            writeln!(f, "  ... and {} more", self.problems.len() - MAX_SHOWN)?;
        }
        Ok(())
    }
}

/// Checks the image in `bytes`.
pub fn check(bytes: &[u8], opts: Options) -> Report {
    let mut report = Report::default();
    let sb = match superblock(bytes) {
        Ok(sb) => sb,
        Err(why) => {
            report.problems.push(Problem::Superblock(why));
            return report;
        }
    };
    report.ninodes = sb.ninodes;
    report.nblocks = sb.nblocks;
    let mut img = bytes[..sb.size as usize * BSIZE].to_vec();
    replay_log(&mut img, &sb, opts, &mut report);
    let layout = Layout::of_superblock(block(&img, 1));
    let mut c = Checker {
        img: &img,
        sb,
        layout,
        opts,
        report,
        inodes: HashMap::new(),
        owner: HashMap::new(),
    };
    c.inodes();
    c.bitmap();
    c.tree();
    c.report
}

fn superblock(bytes: &[u8]) -> Result<SuperBlock, String> {
    if bytes.len() < 2 * BSIZE {
        return Err(format!("the image is only {} bytes", bytes.len()));
    }
    let sb = SuperBlock::decode(&bytes[BSIZE..2 * BSIZE]);
    if sb.magic != FSMAGIC {
        return Err(format!("bad magic {:#x}", sb.magic));
    }
    if sb.size as usize > bytes.len() / BSIZE {
        return Err(format!(
            "{} blocks, but the image holds {}",
            sb.size,
            bytes.len() / BSIZE
        ));
    }
    // [boot | super | log | inodes | bitmap | data], in order, in the image.
    let inode_blocks = sb.ninodes.div_ceil(IPB);
    let bitmap_blocks = sb.size.div_ceil(BPB);
    let regions = [
        ("log", sb.logstart, sb.nlog),
        ("inodes", sb.inodestart, inode_blocks),
        ("bitmap", sb.bmapstart, bitmap_blocks),
        ("data", sb.size.wrapping_sub(sb.nblocks), sb.nblocks),
    ];
    let mut end = 2u64;
    for (name, start, len) in regions {
        if u64::from(start) < end {
            return Err(format!(
                "the {name} area starts at block {start}, inside the area before it"
            ));
        }
        end = u64::from(start) + u64::from(len);
    }
    if end > u64::from(sb.size) || sb.nblocks > sb.size {
        return Err(format!(
            "the areas end at block {end}, past the image's {} blocks",
            sb.size
        ));
    }
    if sb.nlog < 2 {
        return Err(format!("a log of {} blocks has no room for data", sb.nlog));
    }
    if sb.ninodes <= ROOTINO || sb.ninodes > u32::from(u16::MAX) + 1 {
        return Err(format!("{} inodes", sb.ninodes));
    }
    Ok(sb)
}

fn block(img: &[u8], b: u32) -> &[u8] {
    let start = b as usize * BSIZE;
    &img[start..start + BSIZE]
}

/// Installs a committed log in `img`, as the kernel's recovery does.
fn replay_log(img: &mut [u8], sb: &SuperBlock, opts: Options, report: &mut Report) {
    let lh = LogHeader::decode(block(img, sb.logstart));
    if lh.n == 0 {
        return;
    }
    let room = (sb.nlog - 1).min(LOGSIZE as u32);
    if lh.n > room {
        report.problems.push(Problem::Log(format!(
            "the header counts {} blocks, but the log holds {room}",
            lh.n
        )));
        return;
    }
    let homes = &lh.blocks[..lh.n as usize];
    if let Some(&bad) = homes.iter().find(|&&h| h < sb.inodestart || h >= sb.size) {
        report.problems.push(Problem::Log(format!(
            "a logged block goes to block {bad}, outside the inode, bitmap and data areas"
        )));
        return;
    }
    if opts.no_replay {
        report.problems.push(Problem::PendingLog { blocks: lh.n });
        return;
    }
    for (i, &home) in homes.iter().enumerate() {
        let data = block(img, sb.logstart + 1 + i as u32).to_vec();
        let at = home as usize * BSIZE;
        img[at..at + BSIZE].copy_from_slice(&data);
    }
    let at = sb.logstart as usize * BSIZE;
    img[at..at + BSIZE].fill(0);
    report.replayed = lh.n;
    report.notes.push(format!(
        "replayed a committed log of {} blocks before checking",
        lh.n
    ));
}

/// An allocated inode and the disk blocks of its contents, in file order
/// (`None` where a block is missing).
struct Node {
    din: DiskInode,
    blocks: Vec<Option<u32>>,
}

struct Checker<'a> {
    img: &'a [u8],
    sb: SuperBlock,
    /// How inodes map blocks (the superblock says).
    layout: Layout,
    opts: Options,
    report: Report,
    /// Allocated inodes of a known type.
    inodes: HashMap<u32, Node>,
    /// Which inode uses each data block.
    owner: HashMap<u32, u32>,
}

impl Checker<'_> {
    fn problem(&mut self, p: Problem) {
        self.report.problems.push(p);
    }

    fn inode(&self, inum: u32) -> DiskInode {
        let b = block(self.img, self.sb.inode_block(inum));
        let off = DiskInode::offset_in_block(inum);
        DiskInode::decode(&b[off..off + DiskInode::SIZE])
    }

    fn in_data(&self, b: u32) -> bool {
        b >= self.sb.data_start() && b < self.sb.size
    }

    /// Records that `inum` uses block `b`; false if `b` cannot be read.
    fn claim(&mut self, inum: u32, b: u32, needed: bool) -> bool {
        if !self.in_data(b) {
            self.problem(Problem::BlockOutOfRange { inum, block: b });
            return false;
        }
        if let Some(&first) = self.owner.get(&b) {
            self.problem(Problem::BlockShared {
                block: b,
                first,
                second: inum,
            });
        } else {
            self.owner.insert(b, inum);
        }
        if !needed {
            self.problem(Problem::BlockPastEnd { inum, block: b });
        }
        true
    }

    /// Claims indirect block `ind` of `inum` (0: none) and what it reaches:
    /// `levels` of indirection, its first entry being file block `first`.
    fn indirect(
        &mut self,
        inum: u32,
        ind: u32,
        first: usize,
        levels: u32,
        need: usize,
        blocks: &mut [Option<u32>],
    ) {
        if ind == 0 || !self.claim(inum, ind, need > first) {
            return;
        }
        let span = NINDIRECT.pow(levels - 1);
        let ib = block(self.img, ind);
        for j in 0..NINDIRECT {
            let a = u32::from_le_bytes(take(ib, 4 * j));
            let fbn = first + j * span;
            if a == 0 {
                continue;
            }
            if levels > 1 {
                self.indirect(inum, a, fbn, levels - 1, need, blocks);
            } else if self.claim(inum, a, fbn < need) && fbn < need {
                blocks[fbn] = Some(a);
            }
        }
    }

    /// Every allocated inode: type, size, blocks.
    fn inodes(&mut self) {
        for inum in 1..self.sb.ninodes {
            let din = self.inode(inum);
            if din.typ == 0 {
                continue;
            }
            if ![T_DIR, T_FILE, T_DEVICE, T_SYMLINK].contains(&din.typ) {
                self.problem(Problem::BadType { inum, typ: din.typ });
                continue;
            }
            let size = din.size as usize;
            let bad_dir = din.typ == T_DIR && !size.is_multiple_of(Dirent::SIZE);
            let maxfile = self.layout.maxfile();
            // A link holds the path it names, which fits in MAXPATH.
            let bad_link = din.typ == T_SYMLINK && size > MAXPATH;
            if size > maxfile * BSIZE || bad_dir || bad_link {
                self.problem(Problem::BadSize {
                    inum,
                    size: din.size,
                });
            }
            let need = size.div_ceil(BSIZE).min(maxfile);
            let mut blocks = vec![None; need];
            let nd = self.layout.ndirect();
            for (fbn, &a) in din.addrs[..nd].iter().enumerate() {
                if a != 0 && self.claim(inum, a, fbn < need) && fbn < need {
                    blocks[fbn] = Some(a);
                }
            }
            self.indirect(inum, din.addrs[nd], nd, 1, need, &mut blocks);
            if self.layout == Layout::Doubly {
                self.indirect(
                    inum,
                    din.addrs[NDIRECT],
                    nd + NINDIRECT,
                    2,
                    need,
                    &mut blocks,
                );
            }
            if let Some(fbn) = blocks[..need].iter().position(Option::is_none) {
                self.problem(Problem::BlockMissing { inum, fbn });
            }
            self.inodes.insert(inum, Node { din, blocks });
        }
        self.report.inodes_used = self.inodes.len() as u32;
    }

    fn bitmap(&mut self) {
        let data_start = self.sb.data_start();
        for b in 0..self.sb.size {
            let bits = block(self.img, self.sb.bitmap_block(b));
            let bit = (b % BPB) as usize;
            let marked = bits[bit / 8] & (1 << (bit % 8)) != 0;
            if b < data_start {
                if !marked {
                    self.problem(Problem::MetadataNotMarked { block: b });
                }
                continue;
            }
            match (marked, self.owner.get(&b)) {
                (false, Some(&inum)) => self.problem(Problem::BlockNotMarked { block: b, inum }),
                (true, None) => self.problem(Problem::BlockLeaked { block: b }),
                _ => {}
            }
        }
        self.report.blocks_used = self.owner.len() as u32;
    }

    /// The entries of directory `dir` (its present blocks), with their
    /// slot numbers; free slots left out.
    fn entries(&self, dir: u32) -> Vec<(usize, Dirent)> {
        let node = &self.inodes[&dir];
        let size = node.din.size as usize;
        let mut out = Vec::new();
        for (fbn, b) in node.blocks.iter().enumerate() {
            let Some(b) = b else { continue };
            let data = block(self.img, *b);
            let in_block = (size - fbn * BSIZE).min(BSIZE) / Dirent::SIZE;
            for i in 0..in_block {
                let de = Dirent::decode(&data[i * Dirent::SIZE..]);
                if de.inum != 0 {
                    out.push((fbn * BSIZE / Dirent::SIZE + i, de));
                }
            }
        }
        out
    }

    /// Walks the tree from the root, checks each directory's entries and
    /// counts the entries naming each inode; then link counts and orphans.
    fn tree(&mut self) {
        let root_typ = self.inodes.get(&ROOTINO).map_or(0, |n| n.din.typ);
        if root_typ != T_DIR {
            self.problem(Problem::RootNotDir { typ: root_typ });
            return;
        }
        // parent[d]: the directory whose entry reached d.
        let mut parent = HashMap::from([(ROOTINO, ROOTINO)]);
        let mut reached = HashSet::from([ROOTINO]);
        let mut refs: HashMap<u32, u32> = HashMap::new();
        let mut queue = VecDeque::from([ROOTINO]);
        while let Some(dir) = queue.pop_front() {
            let entries = self.entries(dir);
            self.dots(dir, parent[&dir], &entries, &mut refs);
            let mut names = HashSet::new();
            for &(slot, de) in &entries {
                let name = String::from_utf8_lossy(de.name()).into_owned();
                let inum = u32::from(de.inum);
                if !names.insert(de.name) {
                    self.problem(Problem::DuplicateName {
                        dir,
                        name: name.clone(),
                    });
                }
                if slot < 2 {
                    continue;
                }
                if name == "." || name == ".." {
                    self.problem(Problem::StrayDotEntry { dir, name });
                    continue;
                }
                if de.name().is_empty() {
                    self.problem(Problem::EmptyName { dir, inum });
                }
                let Some(child) = self.inodes.get(&inum) else {
                    self.problem(Problem::EntryToFreeInode { dir, name, inum });
                    continue;
                };
                *refs.entry(inum).or_default() += 1;
                if child.din.typ == T_DIR {
                    if let Some(&first) = parent.get(&inum) {
                        self.problem(Problem::DirLinkedTwice {
                            inum,
                            first,
                            second: dir,
                        });
                        continue;
                    }
                    parent.insert(inum, dir);
                    queue.push_back(inum);
                }
                reached.insert(inum);
            }
        }
        let mut inums: Vec<u32> = self.inodes.keys().copied().collect();
        inums.sort_unstable();
        for inum in inums {
            let din = self.inodes[&inum].din;
            if !reached.contains(&inum) {
                if self.opts.crashed && din.nlink == 0 {
                    self.report.notes.push(format!(
                        "inode {inum}: a {} with no links, open when the machine stopped",
                        type_name(din.typ)
                    ));
                } else {
                    self.problem(Problem::Orphan {
                        inum,
                        typ: din.typ,
                        nlink: din.nlink,
                    });
                }
                continue;
            }
            let entries = refs.get(&inum).copied().unwrap_or(0);
            if i64::from(din.nlink) != i64::from(entries) {
                self.problem(Problem::LinkCount {
                    inum,
                    nlink: din.nlink,
                    entries,
                });
            }
        }
    }

    /// Checks that `dir` begins with `.` (itself) and `..` (`parent`), and
    /// counts the `..` as a link to what it names.
    fn dots(
        &mut self,
        dir: u32,
        parent: u32,
        entries: &[(usize, Dirent)],
        refs: &mut HashMap<u32, u32>,
    ) {
        let at = |slot: usize| entries.iter().find(|(s, _)| *s == slot).map(|(_, d)| d);
        if !at(0).is_some_and(|d| d.name() == b"." && u32::from(d.inum) == dir) {
            self.problem(Problem::BadDot { dir });
        }
        match at(1).filter(|d| d.name() == b"..") {
            Some(d) => {
                let found = u32::from(d.inum);
                if found != parent {
                    self.problem(Problem::BadDotDot {
                        dir,
                        found: Some(found),
                        parent,
                    });
                }
                if self.inodes.contains_key(&found) {
                    *refs.entry(found).or_default() += 1;
                }
            }
            None => self.problem(Problem::BadDotDot {
                dir,
                found: None,
                parent,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::make_image;
    use abi::fs::MAXFILE;
    use abi::param::FSSIZE;

    /// An image to corrupt: made by `make_image`, edited block by block.
    struct Edit {
        img: Vec<u8>,
        sb: SuperBlock,
    }

    impl Edit {
        /// An image with files of these sizes, named `f0`, `f1`, …
        fn with_files(sizes: &[usize]) -> Edit {
            let files: Vec<(String, Vec<u8>)> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| (format!("f{i}"), vec![i as u8 + 1; n]))
                .collect();
            let img = make_image(FSSIZE, &files).unwrap();
            let sb = SuperBlock::decode(&img[BSIZE..2 * BSIZE]);
            Edit { img, sb }
        }

        fn report(&self) -> Report {
            check(&self.img, Options::default())
        }

        fn problems(&self) -> Vec<Problem> {
            self.report().problems
        }

        fn block_mut(&mut self, b: u32) -> &mut [u8] {
            let at = b as usize * BSIZE;
            &mut self.img[at..at + BSIZE]
        }

        fn inode(&self, inum: u32) -> DiskInode {
            let at = self.sb.inode_block(inum) as usize * BSIZE + DiskInode::offset_in_block(inum);
            DiskInode::decode(&self.img[at..at + DiskInode::SIZE])
        }

        fn update(&mut self, inum: u32, f: impl FnOnce(&mut DiskInode)) {
            let mut din = self.inode(inum);
            f(&mut din);
            let at = self.sb.inode_block(inum) as usize * BSIZE + DiskInode::offset_in_block(inum);
            din.encode(&mut self.img[at..at + DiskInode::SIZE]);
        }

        fn marked(&self, b: u32) -> bool {
            let at = self.sb.bitmap_block(b) as usize * BSIZE + (b % BPB) as usize / 8;
            self.img[at] & (1 << (b % 8)) != 0
        }

        fn mark(&mut self, b: u32, on: bool) {
            let at = self.sb.bitmap_block(b) as usize * BSIZE + (b % BPB) as usize / 8;
            if on {
                self.img[at] |= 1 << (b % 8);
            } else {
                self.img[at] &= !(1 << (b % 8));
            }
        }

        /// Takes a free data block, as the kernel's balloc does.
        fn alloc_block(&mut self) -> u32 {
            let b = (self.sb.data_start()..self.sb.size)
                .find(|&b| !self.marked(b))
                .unwrap();
            self.mark(b, true);
            self.block_mut(b).fill(0);
            b
        }

        fn alloc_inode(&mut self, typ: i16, nlink: i16) -> u32 {
            let inum = (1..self.sb.ninodes)
                .find(|&i| self.inode(i).typ == 0)
                .unwrap();
            self.update(inum, |d| {
                *d = DiskInode {
                    typ,
                    nlink,
                    ..DiskInode::default()
                }
            });
            inum
        }

        /// Writes entry `name` → `inum` in a free slot of `dir` (direct
        /// blocks only), growing it as the kernel does.
        fn put_entry(&mut self, dir: u32, name: &str, inum: u32) {
            let d = self.inode(dir);
            let slots = d.size as usize / Dirent::SIZE;
            let per = BSIZE / Dirent::SIZE;
            let free = (0..slots).find(|&s| {
                let at = d.addrs[s / per] as usize * BSIZE + s % per * Dirent::SIZE;
                self.img[at] == 0 && self.img[at + 1] == 0
            });
            let slot = free.unwrap_or(slots);
            if slot == slots {
                if slot % per == 0 {
                    let b = self.alloc_block();
                    self.update(dir, |d| d.addrs[slot / per] = b);
                }
                self.update(dir, |d| d.size += Dirent::SIZE as u32);
            }
            let b = self.inode(dir).addrs[slot / per];
            let de = Dirent::new(inum as u16, name.as_bytes()).encode();
            let at = slot % per * Dirent::SIZE;
            self.block_mut(b)[at..at + Dirent::SIZE].copy_from_slice(&de);
        }

        /// Makes directory `name` in `parent` as the kernel's mkdir does.
        fn mkdir(&mut self, parent: u32, name: &str) -> u32 {
            let inum = self.alloc_inode(T_DIR, 1);
            self.put_entry(inum, ".", inum);
            self.put_entry(inum, "..", parent);
            self.put_entry(parent, name, inum);
            self.update(parent, |d| d.nlink += 1);
            inum
        }

        /// Makes an empty file `name` in `dir`.
        fn create(&mut self, dir: u32, name: &str) -> u32 {
            let inum = self.alloc_inode(T_FILE, 1);
            self.put_entry(dir, name, inum);
            inum
        }

        /// Sets the entry at `slot` of `dir` (in its first block).
        fn set_entry(&mut self, dir: u32, slot: usize, name: &str, inum: u32) {
            let b = self.inode(dir).addrs[0];
            let de = Dirent::new(inum as u16, name.as_bytes()).encode();
            let at = slot * Dirent::SIZE;
            self.block_mut(b)[at..at + Dirent::SIZE].copy_from_slice(&de);
        }
    }

    /// f0: 3 blocks, f1: 20 blocks (through the indirect block), f2: empty.
    fn sample() -> Edit {
        Edit::with_files(&[3 * BSIZE - 10, 20 * BSIZE, 0])
    }

    /// A root with subdirectory `d` (holding `e`, with file `x`) and a
    /// file `y` in `d` that is also linked from the root as `ylink`.
    fn tree() -> (Edit, u32, u32, u32) {
        let mut e = sample();
        let d = e.mkdir(ROOTINO, "d");
        let sub = e.mkdir(d, "e");
        e.create(sub, "x");
        let y = e.create(d, "y");
        e.put_entry(ROOTINO, "ylink", y);
        e.update(y, |din| din.nlink = 2);
        (e, d, sub, y)
    }

    /// Doubly-indirect blocks: a file past xv6's largest is clean and
    /// reads back; a data block or a middle indirect block shared with
    /// another file, or a middle block the size does not need, is found.
    #[test]
    fn doubly_indirect_files() {
        use abi::fs::{Layout, NINDIRECT};
        let big = 11 + NINDIRECT + 2 * NINDIRECT + 5;
        let data = (0..big * BSIZE)
            .map(|i| (i / BSIZE) as u8 ^ (i % 253) as u8)
            .collect();
        let files = [
            ("big".to_string(), data),
            ("small".to_string(), vec![7; 3 * BSIZE]),
        ];
        let img = crate::make_image_with(20_000, Layout::Doubly, &files).unwrap();
        let image = crate::Image::open(&img).unwrap();
        assert_eq!(image.layout(), Layout::Doubly);
        assert_eq!(image.read_file("big").unwrap(), files[0].1);
        let r = check(&img, Options::default());
        assert_eq!(r.problems, [], "{r}");
        // 1 root dir block, the data, singly, doubly root, 3 middle blocks, small's 3.
        assert_eq!(r.blocks_used as usize, 1 + big + 1 + 1 + 3 + 3);
        // The same image read as xv6's layout is not clean.
        let mut xv6 = img.clone();
        Layout::Xv6.mark(&mut xv6[BSIZE..2 * BSIZE]);
        assert!(!check(&xv6, Options::default()).is_clean());

        let sb = SuperBlock::decode(block(&img, 1));
        let mut e = Edit { img, sb };
        let root = e.inode(2).addrs[NDIRECT];
        let mid0 = u32::from_le_bytes(take(block(&e.img, root), 0));
        let mid2 = u32::from_le_bytes(take(block(&e.img, root), 8));
        let last = u32::from_le_bytes(take(block(&e.img, mid2), 4));
        let small0 = e.inode(3).addrs[0];
        // small's first block is also a block of big's through the doubly block.
        e.block_mut(mid2)[4..8].copy_from_slice(&small0.to_le_bytes());
        let p = e.problems();
        assert!(
            p.iter()
                .any(|p| matches!(p, Problem::BlockShared { block, .. } if *block == small0)),
            "{p:?}"
        );
        e.block_mut(mid2)[4..8].copy_from_slice(&last.to_le_bytes());
        assert_eq!(e.problems(), []);
        // A shorter size leaves the third middle block (and its blocks) past the end.
        e.update(2, |d| {
            d.size = ((11 + NINDIRECT + NINDIRECT) * BSIZE) as u32
        });
        let p = e.problems();
        assert!(
            p.iter()
                .any(|p| matches!(p, Problem::BlockPastEnd { block, .. } if *block == mid2)),
            "{p:?}"
        );
        assert!(
            !p.iter()
                .any(|p| matches!(p, Problem::BlockPastEnd { block, .. } if *block == mid0))
        );
    }

    #[test]
    fn images_mkfs_writes_are_clean() {
        let many: Vec<usize> = (0..150).collect();
        for sizes in [&[][..], &[1, BSIZE, 40_000, MAXFILE * BSIZE], &many] {
            let e = Edit::with_files(sizes);
            let r = e.report();
            assert_eq!(r.problems, [], "{r}");
            assert_eq!(r.inodes_used, 1 + sizes.len() as u32);
            assert!(r.notes.is_empty());
        }
        let r = sample().report();
        // root block, 3 + 20 data blocks and one indirect block
        assert_eq!((r.blocks_used, r.nblocks), (25, FSSIZE - 46));
        assert_eq!(
            r.to_string().lines().next().unwrap(),
            "clean: 4 of 200 inodes, 25 of 1954 data blocks in use"
        );
    }

    #[test]
    fn directories_made_like_the_kernel_does_are_clean() {
        let (e, d, sub, _) = tree();
        assert_eq!(e.problems(), []);
        // The root counts its own `..` and d's; d its entry and e's `..`.
        assert_eq!(e.inode(ROOTINO).nlink, 2);
        assert_eq!(e.inode(d).nlink, 2);
        assert_eq!(e.inode(sub).nlink, 1);
    }

    #[test]
    fn bad_superblocks() {
        let mut e = sample();
        e.block_mut(1)[0] ^= 1;
        assert!(matches!(&e.problems()[..], [Problem::Superblock(w)] if w.contains("magic")));

        let mut e = sample();
        let mut sb = e.sb;
        sb.bmapstart = sb.inodestart + 2;
        sb.encode(e.block_mut(1));
        assert!(matches!(&e.problems()[..], [Problem::Superblock(w)] if w.contains("bitmap")));

        let mut e = sample();
        e.img.truncate(1000 * BSIZE);
        assert!(matches!(&e.problems()[..], [Problem::Superblock(w)] if w.contains("holds 1000")));
        assert!(matches!(
            &check(&[0; 100], Options::default()).problems[..],
            [Problem::Superblock(_)]
        ));
    }

    #[test]
    fn blocks_out_of_range_and_shared() {
        let mut e = sample();
        let old = e.inode(2).addrs[1];
        e.update(2, |d| d.addrs[1] = 5);
        assert_eq!(
            e.problems(),
            [
                Problem::BlockOutOfRange { inum: 2, block: 5 },
                Problem::BlockMissing { inum: 2, fbn: 1 },
                Problem::BlockLeaked { block: old },
            ]
        );

        let mut e = sample();
        let f0 = e.inode(2).addrs[0];
        let f1 = e.inode(3).addrs[4];
        e.update(3, |d| d.addrs[4] = f0);
        assert_eq!(
            e.problems(),
            [
                Problem::BlockShared {
                    block: f0,
                    first: 2,
                    second: 3
                },
                Problem::BlockLeaked { block: f1 },
            ]
        );

        // Through the indirect block, and twice in one file.
        let mut e = sample();
        let ind = e.inode(3).addrs[NDIRECT];
        let first = e.inode(3).addrs[0];
        let last = u32::from_le_bytes(take(e.block_mut(ind), 4 * 7));
        e.block_mut(ind)[4 * 7..4 * 8].copy_from_slice(&first.to_le_bytes());
        assert_eq!(
            e.problems(),
            [
                Problem::BlockShared {
                    block: first,
                    first: 3,
                    second: 3
                },
                Problem::BlockLeaked { block: last },
            ]
        );
    }

    #[test]
    fn bitmap_disagreements() {
        let mut e = sample();
        let used = e.inode(3).addrs[NDIRECT];
        e.mark(used, false);
        let free = e.sb.size - 1;
        e.mark(free, true);
        e.mark(e.sb.inodestart + 1, false);
        assert_eq!(
            e.problems(),
            [
                Problem::MetadataNotMarked {
                    block: e.sb.inodestart + 1
                },
                Problem::BlockNotMarked {
                    block: used,
                    inum: 3
                },
                Problem::BlockLeaked { block: free },
            ]
        );
    }

    #[test]
    fn sizes_that_disagree_with_blocks() {
        // Longer than its blocks.
        let mut e = sample();
        e.update(2, |d| d.size = 4 * BSIZE as u32);
        assert_eq!(e.problems(), [Problem::BlockMissing { inum: 2, fbn: 3 }]);
        // Shorter: the third block, and the indirect block, are past the end.
        let mut e = sample();
        let b2 = e.inode(2).addrs[2];
        e.update(2, |d| d.size = 2 * BSIZE as u32);
        let ind = e.inode(3).addrs[NDIRECT];
        e.update(3, |d| d.size = NDIRECT as u32 * BSIZE as u32);
        let past: Vec<Problem> = e.problems();
        assert_eq!(past[0], Problem::BlockPastEnd { inum: 2, block: b2 });
        assert_eq!(
            past[1],
            Problem::BlockPastEnd {
                inum: 3,
                block: ind
            }
        );
        assert_eq!(
            past.len(),
            2 + 8,
            "and the 8 data blocks under it: {past:?}"
        );
        // Too large, and a directory size that is not whole entries.
        let mut e = sample();
        e.update(3, |d| d.size = (MAXFILE * BSIZE + 1) as u32);
        e.update(ROOTINO, |d| d.size -= 3);
        let p = e.problems();
        assert!(p.contains(&Problem::BadSize {
            inum: ROOTINO,
            size: BSIZE as u32 - 3
        }));
        assert!(p.contains(&Problem::BadSize {
            inum: 3,
            size: (MAXFILE * BSIZE + 1) as u32
        }));
    }

    #[test]
    fn symbolic_links_are_files_holding_a_path() {
        let mut e = sample();
        let l = e.alloc_inode(T_SYMLINK, 1);
        let b = e.alloc_block();
        e.block_mut(b)[..7].copy_from_slice(b"/f0/abc");
        e.update(l, |d| {
            d.size = 7;
            d.addrs[0] = b;
        });
        e.put_entry(ROOTINO, "l", l);
        assert_eq!(e.problems(), []);
        // Longer than a path; a block it does not have; one past its end.
        e.update(l, |d| d.size = MAXPATH as u32 + 1);
        assert_eq!(
            e.problems(),
            [Problem::BadSize {
                inum: l,
                size: MAXPATH as u32 + 1
            }]
        );
        e.update(l, |d| d.size = 0);
        assert_eq!(e.problems(), [Problem::BlockPastEnd { inum: l, block: b }]);
        e.update(l, |d| {
            d.size = 7;
            d.addrs[0] = 0;
        });
        assert!(
            e.problems()
                .contains(&Problem::BlockMissing { inum: l, fbn: 0 })
        );
        assert!(e.problems().contains(&Problem::BlockLeaked { block: b }));
    }

    #[test]
    fn entries_naming_free_inodes_and_bad_names() {
        let mut e = sample();
        e.put_entry(ROOTINO, "ghost", 77);
        e.put_entry(ROOTINO, "huge", 60_000);
        e.put_entry(ROOTINO, "", 4);
        e.update(4, |d| d.nlink = 2);
        e.put_entry(ROOTINO, "f1", 4);
        assert_eq!(
            e.problems(),
            [
                Problem::EntryToFreeInode {
                    dir: ROOTINO,
                    name: "ghost".into(),
                    inum: 77
                },
                Problem::EntryToFreeInode {
                    dir: ROOTINO,
                    name: "huge".into(),
                    inum: 60_000
                },
                Problem::EmptyName {
                    dir: ROOTINO,
                    inum: 4
                },
                Problem::DuplicateName {
                    dir: ROOTINO,
                    name: "f1".into()
                },
                // f1 (3) lost an entry to the duplicate; f2 (4) gained one.
                Problem::LinkCount {
                    inum: 4,
                    nlink: 2,
                    entries: 3
                },
            ]
        );
    }

    #[test]
    fn link_counts() {
        let (mut e, d, _, y) = tree();
        e.update(y, |din| din.nlink = 1);
        e.update(d, |din| din.nlink = 1);
        e.update(ROOTINO, |din| din.nlink = 3);
        assert_eq!(
            e.problems(),
            [
                Problem::LinkCount {
                    inum: ROOTINO,
                    nlink: 3,
                    entries: 2
                },
                Problem::LinkCount {
                    inum: d,
                    nlink: 1,
                    entries: 2
                },
                Problem::LinkCount {
                    inum: y,
                    nlink: 1,
                    entries: 2
                },
            ]
        );
        // A wrapped (negative) count, as 32,768 links once made.
        let mut e = sample();
        e.update(2, |din| din.nlink = i16::MIN);
        assert_eq!(
            e.problems(),
            [Problem::LinkCount {
                inum: 2,
                nlink: i16::MIN,
                entries: 1
            }]
        );
    }

    #[test]
    fn orphans_and_crashed_machines() {
        let mut e = sample();
        let lost = e.alloc_inode(T_FILE, 1);
        let unlinked = e.alloc_inode(T_FILE, 0);
        let b = e.alloc_block();
        e.update(unlinked, |d| {
            d.addrs[0] = b;
            d.size = 10;
        });
        let orphans = [
            Problem::Orphan {
                inum: lost,
                typ: T_FILE,
                nlink: 1,
            },
            Problem::Orphan {
                inum: unlinked,
                typ: T_FILE,
                nlink: 0,
            },
        ];
        assert_eq!(e.problems(), orphans);
        let crashed = check(
            &e.img,
            Options {
                crashed: true,
                ..Options::default()
            },
        );
        assert_eq!(crashed.problems, orphans[..1]);
        assert_eq!(crashed.notes.len(), 1);
        assert!(crashed.notes[0].contains(&format!("inode {unlinked}")));

        // A directory whose parent entry is gone: it and all under it.
        let (mut e, d, sub, y) = tree();
        let slot = 2 + 3 + 1; // after . .. f0 f1 f2 comes d
        let root_block = e.inode(ROOTINO).addrs[0];
        e.block_mut(root_block)[(slot - 1) * Dirent::SIZE..slot * Dirent::SIZE].fill(0);
        e.update(ROOTINO, |din| din.nlink = 1);
        let p = e.problems();
        assert!(p.contains(&Problem::Orphan {
            inum: d,
            typ: T_DIR,
            nlink: 2
        }));
        assert!(p.contains(&Problem::Orphan {
            inum: sub,
            typ: T_DIR,
            nlink: 1
        }));
        assert!(p.contains(&Problem::LinkCount {
            inum: y,
            nlink: 2,
            entries: 1
        }));
    }

    #[test]
    fn dot_entries() {
        let (mut e, d, sub, _) = tree();
        e.set_entry(sub, 0, ".", d);
        e.set_entry(d, 1, "..", sub);
        let p = e.problems();
        assert!(p.contains(&Problem::BadDot { dir: sub }), "{p:?}");
        assert!(p.contains(&Problem::BadDotDot {
            dir: d,
            found: Some(sub),
            parent: ROOTINO
        }));

        let (mut e, d, _, _) = tree();
        e.set_entry(d, 1, "up", ROOTINO);
        e.put_entry(d, "..", ROOTINO);
        let p = e.problems();
        assert!(p.contains(&Problem::BadDotDot {
            dir: d,
            found: None,
            parent: ROOTINO
        }));
        assert!(p.contains(&Problem::StrayDotEntry {
            dir: d,
            name: "..".into()
        }));
    }

    #[test]
    fn a_directory_linked_twice() {
        let (mut e, d, sub, _) = tree();
        e.put_entry(ROOTINO, "again", sub);
        e.update(sub, |din| din.nlink = 2);
        // The walk goes breadth first, so it meets the root's entry first,
        // and e's `..` names the other directory.
        assert_eq!(
            e.problems(),
            [
                Problem::DirLinkedTwice {
                    inum: sub,
                    first: ROOTINO,
                    second: d
                },
                Problem::BadDotDot {
                    dir: sub,
                    found: Some(d),
                    parent: ROOTINO
                }
            ]
        );
    }

    #[test]
    fn unknown_types_and_a_root_that_is_not_a_directory() {
        let mut e = sample();
        e.update(4, |d| d.typ = 9);
        let p = e.problems();
        assert_eq!(p[0], Problem::BadType { inum: 4, typ: 9 });
        assert!(p.contains(&Problem::EntryToFreeInode {
            dir: ROOTINO,
            name: "f2".into(),
            inum: 4
        }));
        let mut e = sample();
        e.update(ROOTINO, |d| d.typ = T_FILE);
        assert!(e.problems().contains(&Problem::RootNotDir { typ: T_FILE }));
    }

    /// Logs block `home` with contents `data`, committed: log block 1 and
    /// the header.
    fn commit_to_log(e: &mut Edit, homes: &[(u32, Vec<u8>)]) {
        for (i, (_, data)) in homes.iter().enumerate() {
            let b = e.sb.logstart + 1 + i as u32;
            e.block_mut(b).copy_from_slice(data);
        }
        let mut lh = LogHeader {
            n: homes.len() as u32,
            blocks: [0; LOGSIZE],
        };
        for (i, (home, _)) in homes.iter().enumerate() {
            lh.blocks[i] = *home;
        }
        let start = e.sb.logstart;
        lh.encode(e.block_mut(start));
    }

    #[test]
    fn a_committed_log_is_replayed_first_or_reported() {
        // The disk holds a half-done link (nlink raised, entry not yet
        // written); the log holds the whole operation.
        let mut e = sample();
        let before = e.clone_img();
        e.put_entry(ROOTINO, "again", 2);
        e.update(2, |d| d.nlink = 2);
        let root_block = e.inode(ROOTINO).addrs[0];
        let inode_block = e.sb.inode_block(2);
        let logged = vec![
            (inode_block, e.block_mut(inode_block).to_vec()),
            (root_block, e.block_mut(root_block).to_vec()),
        ];
        e.img.copy_from_slice(&before);
        e.update(2, |d| d.nlink = 2);
        commit_to_log(&mut e, &logged);
        let copy = e.img.clone();

        let r = e.report();
        assert_eq!(r.problems, [], "{r}");
        assert_eq!(r.replayed, 2);
        assert!(r.notes[0].contains("replayed"));
        assert_eq!(e.img, copy, "the caller's image is not changed");

        let r = check(
            &e.img,
            Options {
                no_replay: true,
                ..Options::default()
            },
        );
        assert_eq!(
            r.problems,
            [
                Problem::PendingLog { blocks: 2 },
                Problem::LinkCount {
                    inum: 2,
                    nlink: 2,
                    entries: 1
                }
            ]
        );
    }

    #[test]
    fn malformed_log_headers() {
        let mut e = sample();
        let start = e.sb.logstart;
        e.block_mut(start)[0] = 40;
        assert!(matches!(&e.problems()[..], [Problem::Log(w)] if w.contains("40 blocks")));
        commit_to_log(&mut e, &[(1, vec![0; BSIZE])]);
        assert!(matches!(&e.problems()[..], [Problem::Log(w)] if w.contains("block 1")));
    }

    #[test]
    fn random_damage_is_reported_never_a_panic() {
        let (e, ..) = tree();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let root_block = e.inode(ROOTINO).addrs[0] as usize;
        let mut found = 0;
        for _ in 0..400 {
            let mut img = e.img.clone();
            for _ in 0..1 + next(8) {
                // The superblock, the log header, inodes, bitmap, root directory.
                let block = [1, 2, 32, 33, 45, root_block][next(6)];
                img[block * BSIZE + next(BSIZE)] = next(256) as u8;
            }
            if !check(&img, Options::default()).is_clean() {
                found += 1;
            }
        }
        assert!(
            found > 100,
            "only {found} of 400 damaged images had problems"
        );
    }

    impl Edit {
        fn clone_img(&self) -> Vec<u8> {
            self.img.clone()
        }
    }
}
