//! Per-run output tokens: what the trusted test programs append to each
//! line they print, so that the grader can tell their lines from lines a
//! kernel prints itself.
//!
//! Each trusted program holds a [`KeySlot`]: the [`MARKER`] followed by
//! sixteen zero bytes. For each QEMU run the grader draws a fresh key and
//! writes it after the marker in a copy of the disk image, inside the files
//! of the programs in [`TOKENED`] only. A program that called
//! `user::tok::enable` ends every line it prints with
//! ` #t:<name>.<nonce>.<seq>.<mac>`: the MAC ([`LineMac`], SipHash-2-4
//! keyed with the run's key bound to the program's arguments,
//! [`command_key`]) covers the program's name, its process nonce, the
//! line's number in that process and the line's text. When the
//! program's first process ends it prints a closing line ([`closing_text`])
//! whose sequence number is the count of lines before it.

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

/// What a key slot starts with; the grader writes the key right after it.
pub const MARKER: [u8; 16] = *b"xv6-tok-key-slot";

/// Where a program's key lives. Aligned so that it never crosses a disk
/// block (`BSIZE` is a multiple of the alignment), which lets the grader
/// patch it block by block.
#[repr(C, align(64))]
pub struct KeySlot {
    pub marker: [u8; 16],
    pub key: [u8; 16],
}

/// The slot as built: the marker and no key.
pub const EMPTY_SLOT: KeySlot = KeySlot {
    marker: MARKER,
    key: [0; 16],
};

/// The trusted test programs: only files of these names get the key.
pub const TOKENED: &[&str] = &[
    "alarmtest",
    "bcachetest",
    "bigfile",
    "bttest",
    "cowtest",
    "forktest",
    "kalloctest",
    "lazytests",
    "mmaptest",
    "nettests",
    "randlab",
    "rwlktest",
    "stressfs",
    "stats",
    "symlinktest",
    "sysinfotest",
    "tok",
    "usertests",
];

/// What starts a token on a line.
pub const TOKEN_START: &str = " #t:";

/// The text of a program's closing line, sent after `lines` lines.
pub fn closing_text(lines: u32) -> ClosingText {
    ClosingText(lines)
}

/// [`closing_text`], displayable without allocating.
pub struct ClosingText(pub u32);

impl core::fmt::Display for ClosingText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#t-end {} lines", self.0)
    }
}

/// Parses a closing line's text: the count of lines it covers.
pub fn parse_closing(text: &str) -> Option<u32> {
    let n = text.strip_prefix("#t-end ")?.strip_suffix(" lines")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The MAC of one line, fed as the line is printed (a line may be written
/// in pieces).
#[derive(Clone)]
pub struct LineMac(SipHasher24);

impl LineMac {
    pub fn new(key: &[u8; 16], name: &str, nonce: u64, seq: u32) -> LineMac {
        let mut h = SipHasher24::new_with_key(key);
        // Length-prefixed, so no name/text split is ambiguous.
        h.write_u64(name.len() as u64);
        h.write(name.as_bytes());
        h.write_u64(nonce);
        h.write_u32(seq);
        LineMac(h)
    }

    pub fn update(&mut self, text: &[u8]) {
        self.0.write(text);
    }

    pub fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The MAC of a whole line.
pub fn mac(key: &[u8; 16], name: &str, nonce: u64, seq: u32, text: &[u8]) -> u64 {
    let mut m = LineMac::new(key, name, nonce, seq);
    m.update(text);
    m.finish()
}

/// The key a program's lines are made with: the run's key bound to the
/// program's arguments (`argv[0]` first), so that a line made for one
/// command line does not pass for another (a kernel that runs `randlab`
/// with arguments of its choosing gets lines the grader does not take).
/// `args` must give the same arguments each time it is iterated.
pub fn command_key<'a, I>(key: &[u8; 16], args: I) -> [u8; 16]
where
    I: IntoIterator<Item = &'a [u8]>,
{
    use siphasher::sip128::Hasher128;
    let mut h = siphasher::sip128::SipHasher24::new_with_key(key);
    h.write(b"command");
    for arg in args {
        h.write_u64(arg.len() as u64);
        h.write(arg);
    }
    h.finish128().as_bytes()
}

/// A process's nonce: from its parent's (0 for a program just started),
/// which of the parent's forks made it, and the clock, so that two
/// processes of a run never share one.
pub fn nonce(key: &[u8; 16], parent: u64, fork: u64, time: u64) -> u64 {
    let mut h = SipHasher24::new_with_key(key);
    // "nonce": a domain apart from the line MACs.
    h.write(b"nonce");
    h.write_u64(parent);
    h.write_u64(fork);
    h.write_u64(time);
    h.finish()
}

/// A token as printed at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub name: &'a str,
    pub nonce: u64,
    pub seq: u32,
    pub mac: u64,
}

impl core::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{TOKEN_START}{}.{:016x}.{}.{:016x}",
            self.name, self.nonce, self.seq, self.mac
        )
    }
}

/// Splits a console line into its text and its token, if it ends in
/// something shaped like one (whether the MAC is right is [`Token::valid`]).
pub fn split(line: &str) -> Option<(&str, Token<'_>)> {
    let at = line.rfind(TOKEN_START)?;
    let (text, rest) = (&line[..at], &line[at + TOKEN_START.len()..]);
    let mut parts = rest.split('.');
    let name = parts.next()?;
    let nonce = parts.next()?;
    let seq = parts.next()?;
    let mac = parts.next()?;
    if parts.next().is_some()
        || name.is_empty()
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || nonce.len() != 16
        || mac.len() != 16
        || seq.is_empty()
        || !seq.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let token = Token {
        name,
        nonce: u64::from_str_radix(nonce, 16).ok()?,
        seq: seq.parse().ok()?,
        mac: u64::from_str_radix(mac, 16).ok()?,
    };
    Some((text, token))
}

impl Token<'_> {
    /// Whether the MAC is right for `text` under `key`.
    pub fn valid(&self, key: &[u8; 16], text: &str) -> bool {
        mac(key, self.name, self.nonce, self.seq, text.as_bytes()) == self.mac
    }

    /// What of `text` (a console line's, before the token) the token is
    /// valid for: all of it, or its end when something else was printed on
    /// the line before the program's output (a prompt, another process's
    /// dots). `None` if no part of it.
    pub fn covered<'t>(&self, key: &[u8; 16], text: &'t str) -> Option<&'t str> {
        text.char_indices()
            .map(|(k, _)| k)
            .chain(core::iter::once(text.len()))
            .map(|k| &text[k..])
            .find(|own| self.valid(key, own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn a_printed_token_parses_back_and_verifies() {
        let text = "simple: ok";
        let t = Token {
            name: "cowtest",
            nonce: 0x0123_4567_89ab_cdef,
            seq: 7,
            mac: mac(&KEY, "cowtest", 0x0123_4567_89ab_cdef, 7, text.as_bytes()),
        };
        let line = format!("{text}{t}");
        let (got_text, got) = split(&line).unwrap();
        assert_eq!(got_text, text);
        assert_eq!(got, t);
        assert!(got.valid(&KEY, got_text));
        // Something printed before the program's text on the same line.
        let line = format!("$ ..{text}{t}");
        let (got_text, got) = split(&line).unwrap();
        assert_eq!(got.covered(&KEY, got_text), Some(text));
        assert_eq!(got.covered(&KEY, "simple: o"), None);
    }

    #[test]
    fn any_change_breaks_the_mac() {
        let text = "simple: ok";
        let good = mac(&KEY, "cowtest", 1, 0, text.as_bytes());
        assert_ne!(good, mac(&KEY, "cowtest", 1, 0, b"simple: ok "));
        assert_ne!(good, mac(&KEY, "cowtest", 1, 1, text.as_bytes()));
        assert_ne!(good, mac(&KEY, "cowtest", 2, 0, text.as_bytes()));
        assert_ne!(good, mac(&KEY, "cowtesT", 1, 0, text.as_bytes()));
        let mut other = KEY;
        other[15] ^= 1;
        assert_ne!(good, mac(&other, "cowtest", 1, 0, text.as_bytes()));
        // Moving bytes between the name and the text changes it too.
        assert_ne!(mac(&KEY, "ab", 1, 0, b"c"), mac(&KEY, "a", 1, 0, b"bc"));
    }

    #[test]
    fn a_mac_fed_in_pieces_is_the_whole_lines() {
        let mut m = LineMac::new(&KEY, "usertests", 9, 3);
        m.update(b"test copyin: ");
        m.update(b"OK");
        assert_eq!(m.finish(), mac(&KEY, "usertests", 9, 3, b"test copyin: OK"));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for line in [
            "plain line",
            "x #t:cowtest.0123456789abcdef.1",
            "x #t:cowtest.0123456789abcde.1.0123456789abcdef",
            "x #t:cowtest.0123456789abcdef.-1.0123456789abcdef",
            "x #t:cow test.0123456789abcdef.1.0123456789abcdef",
            "x #t:.0123456789abcdef.1.0123456789abcdef",
            "x #t:cowtest.0123456789abcdef.1.0123456789abcdef.9",
            "x #t:cowtest.0123456789abcdeg.1.0123456789abcdef",
        ] {
            assert!(split(line).is_none(), "{line}");
        }
    }

    #[test]
    fn closing_lines_round_trip() {
        let text = format!("{}", closing_text(42));
        assert_eq!(parse_closing(&text), Some(42));
        assert_eq!(parse_closing("#t-end  lines"), None);
        assert_eq!(parse_closing("#t-end 4x lines"), None);
        assert_eq!(parse_closing("simple: ok"), None);
    }

    #[test]
    fn each_command_line_has_its_own_key() {
        let k = |args: &[&[u8]]| command_key(&KEY, args.iter().copied());
        let cow = k(&[b"randlab", b"cow", b"1", b"2", b"3"]);
        assert_ne!(cow, KEY);
        assert_eq!(cow, k(&[b"randlab", b"cow", b"1", b"2", b"3"]));
        assert_ne!(cow, k(&[b"randlab", b"cow", b"1", b"2", b"4"]));
        assert_ne!(cow, k(&[b"randlab", b"cow", b"12", b"3"]));
        assert_ne!(cow, k(&[b"randlab", b"cow", b"1", b"2", b"3", b""]));
    }

    #[test]
    fn nonces_differ_by_parent_pid_and_time() {
        let a = nonce(&KEY, 0, 3, 100);
        assert_ne!(a, nonce(&KEY, 1, 3, 100));
        assert_ne!(a, nonce(&KEY, 0, 4, 100));
        assert_ne!(a, nonce(&KEY, 0, 3, 101));
    }

    #[test]
    fn the_slot_never_crosses_a_block() {
        assert_eq!(core::mem::align_of::<KeySlot>(), 64);
        assert_eq!(crate::fs::BSIZE % 64, 0);
        assert!(core::mem::size_of::<KeySlot>() <= 64);
    }
}
