//! The console protocol: the text the shell, the kernel and the test
//! programs print that the grader reads. Both sides take it from here, so
//! that a change to one cannot leave the other looking for the old bytes.

use core::fmt;

/// What the shell prints before it reads a command (to stderr).
pub const PROMPT: &str = "$ ";

/// How the kernel's panic line starts (after a newline of its own).
#[doc(alias = "panic")]
pub const PANIC: &str = "panic: ";

/// The verdict of a test that passed, at the end of its line.
pub const OK: &str = "OK";
/// The verdict of a test that failed, at the end of its line.
pub const FAILED: &str = "FAILED";

/// How a test's report starts: `test <name>: `, its verdict following on
/// that line or, after whatever the test printed, on a later one.
pub const TEST: &str = "test ";

/// The last line of a test suite all of whose tests passed.
pub const ALL_PASSED: &str = "ALL TESTS PASSED";
/// The last line of a test suite some of whose tests failed.
pub const SOME_FAILED: &str = "SOME TESTS FAILED";
/// How a suite's last line starts when it failed for a reason no test
/// reports: usertests' `FAILED -- lost some free pages <n> (out of <m>)`.
pub const FAILED_BECAUSE: &str = "FAILED -- ";

/// The verdict word for a test that passed or not.
pub fn verdict(ok: bool) -> &'static str {
    if ok { OK } else { FAILED }
}

/// `test <name>: `, the start of a test's report.
pub struct TestStart<'a>(pub &'a str);

impl fmt::Display for TestStart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TEST}{}: ", self.0)
    }
}

/// `test <name>: OK` or `test <name>: FAILED`, a test's whole report.
pub struct TestLine<'a> {
    pub name: &'a str,
    pub ok: bool,
}

impl fmt::Display for TestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", TestStart(self.name), verdict(self.ok))
    }
}

/// The end of a suite: [`ALL_PASSED`] or [`SOME_FAILED`].
pub fn suite_end(ok: bool) -> &'static str {
    if ok { ALL_PASSED } else { SOME_FAILED }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    /// The bytes recorded consoles hold (grader/tests) and MIT's graders
    /// look for.
    #[test]
    fn the_lines_are_xv6s() {
        assert_eq!(
            format!(
                "{}",
                TestLine {
                    name: "copyin",
                    ok: true
                }
            ),
            "test copyin: OK"
        );
        assert_eq!(
            format!(
                "{}",
                TestLine {
                    name: "free pages",
                    ok: false
                }
            ),
            "test free pages: FAILED"
        );
        assert_eq!(
            format!("{}{}", TestStart("sbrkbugs"), verdict(true)),
            "test sbrkbugs: OK"
        );
        assert_eq!(
            (suite_end(true), suite_end(false)),
            ("ALL TESTS PASSED", "SOME TESTS FAILED")
        );
        assert_eq!((PROMPT, PANIC), ("$ ", "panic: "));
        assert!(FAILED_BECAUSE.starts_with(FAILED));
    }
}
