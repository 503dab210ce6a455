//! The lock lab's statistics, read from the `statistics` device and
//! checked line by line (for kalloctest and bcachetest). MIT's programs
//! read whatever is there and find no contention in an empty text; here a
//! missing or malformed text is an error, so a kernel that counts nothing
//! cannot pass.

use crate::{Vec, close, open, read, vec};
use abi::fcntl::O_RDONLY;

/// The text may be long (every lab's part, then the lock statistics), but
/// a device that never ends its text must not keep a test forever.
const LIMIT: usize = 16 * 1024;

/// One `lock: <name>: #test-and-set <n> #acquire() <m>` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockLine<'a> {
    pub name: &'a str,
    pub spins: u64,
    pub acquires: u64,
}

/// The kmem and bcache locks' counts, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub kmem_spins: u64,
    pub kmem_acquires: u64,
    pub bcache_spins: u64,
    pub bcache_acquires: u64,
    /// The text's `tot=`.
    pub tot: u64,
}

/// The whole text of the statistics device, read to its end (-1).
pub fn read_text() -> Result<Vec<u8>, &'static str> {
    let fd = open("statistics", O_RDONLY);
    if fd < 0 {
        return Err("no statistics device (open failed)");
    }
    let mut text = vec![0u8; LIMIT];
    let mut len = 0;
    let end = loop {
        let n = read(fd, &mut text[len..]);
        if n < 0 {
            break len;
        }
        if n == 0 {
            // xv6's device ends its text with -1; 0 would loop forever in
            // MIT's reader.
            close(fd);
            return Err("the statistics device returned 0, not -1, at the end");
        }
        len += n as usize;
        if len == LIMIT {
            close(fd);
            return Err("the statistics text does not end");
        }
    };
    close(fd);
    text.truncate(end);
    Ok(text)
}

fn lock_line(line: &str) -> Option<LockLine<'_>> {
    let rest = line.strip_prefix("lock: ")?;
    let (name, rest) = rest.rsplit_once(": #test-and-set ")?;
    let (spins, acquires) = rest.split_once(" #acquire() ")?;
    Some(LockLine {
        name,
        spins: spins.parse().ok()?,
        acquires: acquires.parse().ok()?,
    })
}

/// Whether the lab counts the lock (MIT's rule: by its name).
pub fn is_lab_lock(name: &str) -> bool {
    name.starts_with("kmem") || name.starts_with("bcache")
}

/// Checks the lock part of `text` (MIT's format: the kmem and bcache
/// locks, the top five, `tot=`) and sums the kmem and bcache locks.
pub fn parse(text: &[u8]) -> Result<Totals, &'static str> {
    let text = core::str::from_utf8(text).map_err(|_| "the statistics text is not UTF-8")?;
    let mut lines = text
        .lines()
        .skip_while(|l| *l != "--- lock kmem/bcache stats");
    if lines.next().is_none() {
        return Err("no `--- lock kmem/bcache stats` in the statistics text");
    }
    let mut t = Totals::default();
    loop {
        let line = lines
            .next()
            .ok_or("no `--- top 5 contended locks:` in the statistics text")?;
        if line == "--- top 5 contended locks:" {
            break;
        }
        let l = lock_line(line).ok_or("a malformed lock line in the statistics text")?;
        if l.name.starts_with("kmem") {
            t.kmem_spins += l.spins;
            t.kmem_acquires += l.acquires;
        } else if l.name.starts_with("bcache") {
            t.bcache_spins += l.spins;
            t.bcache_acquires += l.acquires;
        } else {
            return Err("a lock not named kmem* or bcache* among the kmem/bcache locks");
        }
    }
    let mut top = 0;
    loop {
        let line = lines.next().ok_or("no `tot= ` in the statistics text")?;
        if let Some(n) = line.strip_prefix("tot= ") {
            t.tot = n.parse().map_err(|_| "a malformed `tot= ` line")?;
            break;
        }
        lock_line(line).ok_or("a malformed line among the top 5 contended locks")?;
        top += 1;
        if top > 5 {
            return Err("more than 5 top contended locks");
        }
    }
    if t.tot != t.kmem_spins + t.bcache_spins {
        return Err("`tot= ` is not the sum of the kmem and bcache locks' test-and-sets");
    }
    Ok(t)
}

/// [`read_text`] and [`parse`]: the text (to print) and its totals.
pub fn read_totals() -> Result<(Vec<u8>, Totals), &'static str> {
    let text = read_text()?;
    let t = parse(&text)?;
    Ok((text, t))
}
