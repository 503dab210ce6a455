//! The lock lab's statistics text (MIT's format), which the kernel writes
//! (`kernel_base::lockstat::report`) and kalloctest and bcachetest check
//! line by line. MIT's programs read whatever is there and find no
//! contention in an empty text; [`parse`] rejects a missing or malformed
//! one, so a kernel that counts nothing cannot pass.

/// The first line of the lock statistics.
pub const HEADER: &str = "--- lock kmem/bcache stats";
/// The line between the kmem/bcache locks and the top five.
pub const TOP: &str = "--- top 5 contended locks:";
/// What starts the last line, before the total.
pub const TOT: &str = "tot= ";

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
    let mut lines = text.lines().skip_while(|l| *l != HEADER);
    if lines.next().is_none() {
        return Err("no `--- lock kmem/bcache stats` in the statistics text");
    }
    let mut t = Totals::default();
    loop {
        let line = lines
            .next()
            .ok_or("no `--- top 5 contended locks:` in the statistics text")?;
        if line == TOP {
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
        if let Some(n) = line.strip_prefix(TOT) {
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::borrow::ToOwned;
    use std::format;
    use std::string::String;

    const GOOD: &str = "copyin: 3\ncopyinstr: 1\n\
        --- lock kmem/bcache stats\n\
        lock: kmem0: #test-and-set 2 #acquire() 100\n\
        lock: bcache.bucket: #test-and-set 5 #acquire() 70\n\
        lock: kmem1: #test-and-set 1 #acquire() 50\n\
        --- top 5 contended locks:\n\
        lock: proc: #test-and-set 90 #acquire() 900\n\
        lock: bcache.bucket: #test-and-set 5 #acquire() 70\n\
        tot= 8\n";

    #[test]
    fn sums_the_kmem_and_bcache_locks_after_other_labs_text() {
        assert_eq!(
            parse(GOOD.as_bytes()),
            Ok(Totals {
                kmem_spins: 3,
                kmem_acquires: 150,
                bcache_spins: 5,
                bcache_acquires: 70,
                tot: 8,
            })
        );
    }

    #[test]
    fn a_missing_or_malformed_text_is_an_error() {
        let bad = [
            String::new(),
            "copyin: 3\ncopyinstr: 1\n".to_owned(),
            GOOD.replace(TOP, "--- top 5:"),
            GOOD.replace("tot= 8", "tot=8"),
            GOOD.replace("tot= 8\n", ""),
            GOOD.replace("tot= 8", "tot= 7"),
            GOOD.replace("#test-and-set 2", "#fetch-and-add 2"),
            GOOD.replace("#acquire() 100", "#acquire() many"),
            GOOD.replace("lock: kmem1", "lock: mem1"),
            GOOD.replace("lock: kmem1", "kmem1"),
            GOOD.replace(
                TOP,
                &format!(
                    "{TOP}\n{}",
                    "lock: x: #test-and-set 0 #acquire() 0\n".repeat(5)
                ),
            ),
        ];
        for text in bad {
            assert!(parse(text.as_bytes()).is_err(), "accepted:\n{text}");
        }
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn only_kmem_and_bcache_names_count() {
        assert!(is_lab_lock("kmem"));
        assert!(is_lab_lock("bcache.evict"));
        assert!(!is_lab_lock("mem"));
        assert!(!is_lab_lock("buf"));
        assert!(!is_lab_lock("xkmem"));
    }
}
