//! Lab fs, part 1 (bigfile): files of up to 65,803 blocks. The inode keeps
//! its 13 addresses, now 11 direct ones, the singly-indirect block's and a
//! doubly-indirect block's: 256 entries, each the address of a
//! singly-indirect block of 256 data block addresses.
//!
//! Hook used: `block_map`. The base kernel does the direct and
//! singly-indirect blocks and calls [`BigFile::bmap`] for file blocks from
//! 11 + 256 on, counted from 0, and [`BigFile::free`] when a file shrinks.
//! `kernel_base::fs::Blocks` allocates, frees, and reads and writes
//! entries of indirect blocks, logged.
// Safe Rust only: the kernel's API keeps this lab's code from corrupting
// kernel memory as long as it uses no `unsafe`, and it needs none.
#![forbid(unsafe_code)]

use kernel_base::fs::{BlockMap, Blocks};
use kernel_base::hooks::Lab;
// BEGIN SOLUTION
use abi::fs::NINDIRECT;
// END SOLUTION

pub struct Fs;

impl Lab for Fs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn block_map(&self) -> Option<&'static dyn BlockMap> {
        Some(&BigFile)
    }
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
