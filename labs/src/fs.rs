//! Lab fs: files of up to 65,803 blocks, and symbolic links.
//!
//! Part 1 (bigfile): the inode keeps its 13 addresses, now 11 direct ones,
//! the singly-indirect block's and a doubly-indirect block's: 256 entries,
//! each the address of a singly-indirect block of 256 data block
//! addresses. Hook used: `block_map`. The base kernel does the direct and
//! singly-indirect blocks and calls [`BigFile::bmap`] for file blocks from
//! 11 + 256 on, counted from 0, and [`BigFile::free`] when a file shrinks.
//! `kernel_base::fs::Blocks` allocates, frees, and reads and writes
//! entries of indirect blocks, logged.
//!
//! Part 2 (symlinks): `symlink(target, path)` (system call 26) makes a
//! `T_SYMLINK` inode whose contents are `target`; `open` follows links,
//! to a depth of 10, unless given `O_NOFOLLOW`. Hooks used: `syscalls`
//! and `follow_symlink`. `kernel_base::fs::create_new` makes an inode and
//! names it once filled; the base kernel opens what `follow_symlink`
//! returns, and opens a link itself (read-only) for `O_NOFOLLOW`.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use abi::syscall::nr;
use kernel_base::fs::{BlockMap, Blocks, Inode};
use kernel_base::hooks::Lab;
use kernel_base::syscall::SysFn;
// BEGIN SOLUTION
use abi::filetype::T_SYMLINK;
use abi::fs::NINDIRECT;
use abi::param::MAXPATH;
use kernel_base::fs::{Dst, Src, create_new, namei};
use kernel_base::log;
use kernel_base::syscall::arg_str;
// END SOLUTION

pub struct Fs;

impl Lab for Fs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn block_map(&self) -> Option<&'static dyn BlockMap> {
        Some(&BigFile)
    }

    fn syscalls(&self) -> &'static [(usize, SysFn)] {
        &[(nr::symlink, sys_symlink)]
    }

    fn follow_symlink(&self, link: &Inode) -> Option<Inode> {
        follow(link)
    }
}

/// `symlink(target, path)`: creates `path`, a symbolic link whose contents
/// are `target` (which need not exist). 0, or -1 if `path` exists or
/// cannot be made, or an argument is not a string of at most `MAXPATH`
/// bytes with its NUL.
fn sys_symlink() -> i64 {
    // BEGIN SOLUTION
    let (mut tb, mut pb) = ([0u8; MAXPATH], [0u8; MAXPATH]);
    let (Ok(target), Ok(path)) = (arg_str(0, &mut tb), arg_str(1, &mut pb)) else {
        return -1;
    };
    // An empty target would name the working directory.
    if target.is_empty() {
        return -1;
    }
    let op = log::begin_op();
    let made = create_new(&op, path, T_SYMLINK, |g| {
        g.write(Src::Kernel(target), 0, target.len()) == Ok(target.len())
    });
    log::end_op(op);
    if made { 0 } else { -1 }
    // END SOLUTION
    // STARTER: todo!("symlink: make `path` a T_SYMLINK inode holding `target`")
    // NEUTRAL: -1
}

// BEGIN SOLUTION
/// How many links one open follows before it gives up (a cycle).
const MAXDEPTH: usize = 10;
// END SOLUTION

/// What the link `link` leads to: the first inode on its way that is not
/// a link, following at most 10 links; `None` if one names nothing or
/// there are more (a cycle).
fn follow(link: &Inode) -> Option<Inode> {
    // BEGIN SOLUTION
    let mut ip = link.clone();
    for _ in 0..MAXDEPTH {
        let mut buf = [0u8; MAXPATH];
        let n = {
            let mut g = ip.lock();
            if g.typ != T_SYMLINK {
                break;
            }
            g.read(Dst::Kernel(&mut buf), 0, MAXPATH).ok()?
        };
        // Up to a NUL, should a link hold padding.
        let target = buf[..n].split(|&c| c == 0).next().unwrap_or(&[]);
        if target.is_empty() {
            return None;
        }
        ip = namei(target)?;
    }
    let is_link = ip.lock().typ == T_SYMLINK;
    (!is_link).then_some(ip)
    // END SOLUTION
    // STARTER: let _ = link;
    // STARTER: None
}

/// The doubly-indirect block.
pub struct BigFile;

impl BlockMap for BigFile {
    fn bmap(&self, disk: &mut Blocks, root: &mut u32, bn: usize) -> u32 {
        // BEGIN SOLUTION
        if *root == 0 {
            match disk.alloc() {
                Some(b) => *root = b,
                None => return 0,
            }
        }
        let (outer, inner) = (bn / NINDIRECT, bn % NINDIRECT);
        let Some(mid) = entry_or_alloc(disk, *root, outer) else {
            return 0;
        };
        entry_or_alloc(disk, mid, inner).unwrap_or(0)
        // END SOLUTION
        // STARTER: let _ = (disk, root, bn);
        // STARTER: 0
    }

    fn free(&self, disk: &mut Blocks, root: &mut u32, keep: usize) {
        // BEGIN SOLUTION
        if *root == 0 {
            return;
        }
        for outer in 0..NINDIRECT {
            let mid = disk.entry(*root, outer);
            let first = outer * NINDIRECT;
            if mid == 0 || first + NINDIRECT <= keep {
                continue;
            }
            let from = keep.saturating_sub(first);
            for inner in from..NINDIRECT {
                let b = disk.entry(mid, inner);
                if b != 0 {
                    disk.free(b);
                    // A block freed whole needs no cleared entries.
                    if from > 0 {
                        disk.set_entry(mid, inner, 0);
                    }
                }
            }
            if from == 0 {
                disk.free(mid);
                if keep > 0 {
                    disk.set_entry(*root, outer, 0);
                }
            }
        }
        if keep == 0 {
            disk.free(*root);
            *root = 0;
        }
        // END SOLUTION
        // STARTER: let _ = (disk, root, keep);
    }
}

// BEGIN SOLUTION
/// Entry `i` of indirect block `block`, allocated if it is 0; `None` when
/// the disk is full.
fn entry_or_alloc(disk: &mut Blocks, block: u32, i: usize) -> Option<u32> {
    let b = disk.entry(block, i);
    if b != 0 {
        return Some(b);
    }
    let b = disk.alloc()?;
    disk.set_entry(block, i, b);
    Some(b)
}
// END SOLUTION
