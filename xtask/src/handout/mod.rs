//! `cargo xtask handout`: student trees cut from this repository, and the
//! cutting itself ([`write_student_tree`]) for other xtask code:
//! `check-starters`, and batch grading, which builds each submission in a
//! starter tree with the student's lab files on top.
//!
//! Solution markers, each alone on its line (indentation is free):
//! - `// BEGIN SOLUTION` … `// END SOLUTION`: the reference solution. The
//!   starter has neither these lines nor the ones between.
//! - `// STARTER: <text>`, right after an `END SOLUTION` (several in a
//!   row): the starter has `<text>` there instead, at the marker's
//!   indentation. Imports only solution code needs go in a region too,
//!   so that the starter has no unused import.
//! - `// NEUTRAL: <text>`, after a region's STARTER lines: what the
//!   *neutral stub* has there instead of them, where the starter would
//!   panic (`todo!()`): the value that does nothing (`0`). `check-starters`
//!   grades the neutral stubs too: a spec must give them 0 as well, so no
//!   test passes merely because the kernel did not panic. Students never
//!   see these lines.
//! - `// SOLUTION FILE`: the whole file is the solution, and the starter
//!   does not have it (the util lab's programs, which students write). Its
//!   neutral stub is a program that does nothing and exits 0.
//!
//! Markers may only be in a lab's files ([`lab_files`]), and each lab file
//! has some: a file without them would hand out its solution.

use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::fsutil;
use crate::labs::{self, LabSet};
use crate::run::Ctx;

/// A set of the registry's labs (indices into it), for starters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Starters(BTreeSet<usize>);

impl Starters {
    pub const NONE: Starters = Starters(BTreeSet::new());

    /// Every lab of the course.
    pub fn all() -> Starters {
        Starters((0..labs::registry().labs.len()).collect())
    }

    /// A lab (`cow`, `lab-cow`), a group of the registry (MIT's `syscall`),
    /// `all`, or a comma-separated list of them.
    pub fn parse(spec: &str) -> Result<Starters, String> {
        let r = labs::registry();
        spec.split(',').try_fold(Starters::NONE, |set, word| {
            let word = word.trim();
            if word.strip_prefix("lab-").unwrap_or(word) == "all" {
                return Ok(Starters::all());
            }
            match r.members(word) {
                Some(members) => Ok(members.iter().fold(set, |s, m| s.with(&m.name))),
                None => Err(format!(
                    "unknown lab `{word}`: the labs are {}, or all",
                    r.names()
                )),
            }
        })
    }

    fn with(mut self, lab: &str) -> Starters {
        if let Some(i) = labs::registry().labs.iter().position(|l| l.name == lab) {
            self.0.insert(i);
        }
        self
    }

    pub fn contains(&self, lab: &str) -> bool {
        self.names().any(|l| l == lab)
    }

    pub fn union(mut self, other: Starters) -> Starters {
        self.0.extend(other.0);
        self
    }

    pub fn minus(&self, other: &Starters) -> Starters {
        Starters(self.0.difference(&other.0).copied().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labs in course order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let all = &labs::registry().labs;
        self.0.iter().map(move |&i| all[i].name.as_str())
    }
}

/// The kernel configuration a lab is graded on: util's is the base kernel.
pub fn lab_config(lab: &str) -> LabSet {
    LabSet::parse(lab).unwrap_or(LabSet::BASE)
}

/// The files of `lab` a student works in (paths relative to the root):
/// what a starter changes and what batch grading takes from a submission.
pub fn lab_files(lab: &str) -> Vec<String> {
    labs::lab(lab).map(|l| l.files()).unwrap_or_default()
}

/// The lab whose file `path` is.
fn lab_of_file(path: &str) -> Option<&'static str> {
    labs::registry().lab_of_file(path).map(|l| l.name.as_str())
}

mod cli;
mod git;
mod markers;
mod tree;

pub use cli::{Args, command};
pub use git::init_repository;
pub use markers::Cut;
pub use tree::{write_student_tree, write_tree};

#[cfg(test)]
mod tests;
