//! The lock lab's statistics, read from the `statistics` device (for
//! kalloctest and bcachetest) and checked by [`abi::lockstat::parse`]: a
//! missing or malformed text is an error.

use crate::{Vec, close, open, read, vec};
use abi::fcntl::O_RDONLY;
pub use abi::lockstat::{LockLine, Totals, parse};

/// The text may be long (every lab's part, then the lock statistics), but
/// a device that never ends its text must not keep a test forever.
const LIMIT: usize = 16 * 1024;

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
        if n < 0 && len == 0 {
            // No driver (the node is init's), or one with nothing to say.
            close(fd);
            return Err("the statistics device gave no text (a kernel without lock statistics?)");
        }
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

/// [`read_text`] and [`parse`]: the text (to print) and its totals.
pub fn read_totals() -> Result<(Vec<u8>, Totals), &'static str> {
    let text = read_text()?;
    let t = parse(&text)?;
    Ok((text, t))
}

/// The statistics now, their text printed first if `show` (as MIT's
/// programs print it); `None`, and the line `<failed>: <why>` (the caller's
/// FAIL prefix), if the text is missing or malformed.
pub fn stats(failed: &str, show: bool) -> Option<Totals> {
    match read_totals() {
        Ok((text, t)) => {
            if show {
                crate::print!("{}", crate::Show(&text));
            }
            Some(t)
        }
        Err(why) => {
            crate::println!("{}: {}", failed, why);
            None
        }
    }
}
