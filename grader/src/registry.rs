//! The registry of labs, `labs/registry.toml`: the one place that says what
//! a lab is. xtask (build, grade, handout, check-starters, handin,
//! gradescope, batch, bench), the grader's feature list, group specs
//! (`include-labs`), the kernel's list of labs (`labs/build.rs`) and the
//! end-to-end tests all read it, so that adding a lab is its own files and
//! one entry here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the registry is, relative to a tree's root.
pub const FILE: &str = "labs/registry.toml";

/// Every lab, in the order a course takes them, and MIT's groupings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    #[serde(rename = "lab")]
    pub labs: Vec<Lab>,
    #[serde(rename = "group", default)]
    pub groups: Vec<Group>,
}

/// One lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lab {
    /// Its name: the spec is `labs/lab-<name>.toml`, the handout
    /// `handouts/lab-<name>.md`.
    pub name: String,
    /// For a kernel lab, the type in `labs/src/<name>.rs` implementing
    /// `kernel_base::hooks::Lab`; the lab is then the cargo feature `<name>`.
    /// A lab without it runs on the base kernel (util).
    #[serde(default)]
    pub kernel: Option<String>,
    /// User programs the student writes: `user/src/bin/<p>.rs`, from nothing
    /// (a `// SOLUTION FILE`) or from a starter (solution markers).
    #[serde(default)]
    pub user: Vec<String>,
    /// Programs the student finishes that run on the host (paths).
    #[serde(default)]
    pub host: Vec<String>,
    /// The points of its spec (checked against the spec by a test).
    pub points: u32,
    /// MIT's editions whose tests and points it follows.
    pub editions: Vec<String>,
    /// The file of written answers handin asks for.
    #[serde(default)]
    pub answers: Option<String>,
    /// Where its reference solution needs `unsafe`: everywhere else a
    /// submission's lab files may not use it.
    #[serde(default, rename = "unsafe")]
    pub needs_unsafe: Unsafe,
    /// Student files that may hold `asm!`/`global_asm!` (relative paths).
    #[serde(default)]
    pub asm: Vec<String>,
    /// `check-starters --quick` checks it: its grade runs no usertests.
    #[serde(default)]
    pub quick: bool,
    /// Figures `cargo xtask bench` takes on this lab's kernel.
    #[serde(default)]
    pub bench: Option<Bench>,
    /// The file system image its kernel needs, when not xv6's.
    #[serde(default)]
    pub image: Option<ImageParams>,
    /// Its kernels get an e1000 on QEMU's user-mode network, and each of
    /// their runs a UDP peer and a DNS server on the host
    /// ([`crate::netpeer`]).
    #[serde(default)]
    pub network: bool,
}

/// A lab's file system image: its size and inode layout (`mkfs`'s
/// parameters), for every configuration that includes the lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageParams {
    /// Blocks in the image.
    pub blocks: u32,
    /// The inode layout: `xv6` or `doubly` (`abi::fs::Layout::name`).
    pub layout: String,
}

/// Which of a lab's files may use `unsafe` (its reference needs it there).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Unsafe {
    /// `true`: all of them; `false`: none.
    All(bool),
    /// These only (paths, as in [`Lab::files`]).
    Files(Vec<String>),
}

impl Default for Unsafe {
    fn default() -> Self {
        Unsafe::All(false)
    }
}

/// What `cargo xtask bench` measures on a lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bench {
    /// Harts for the in-guest figures.
    #[serde(default = "three")]
    pub cpus: u32,
    /// The in-guest `bench` program's arguments, taken on the lab's kernel.
    #[serde(default)]
    pub programs: Option<String>,
    /// The test of its spec that the edit-rebuild-grade loop grades (one
    /// lab has it); the merge of a class graded in shards is timed on it.
    #[serde(default)]
    pub grade: Option<String>,
    /// Batch grading is timed on this lab, at 1 and 2 workers.
    #[serde(default)]
    pub batch: bool,
    /// Commands run in the guest on the lab's kernel (the base kernel for
    /// a lab without one), at `cpus` harts, whose `bench <name>: <number>
    /// <unit>` lines are figures.
    #[serde(default)]
    pub guest: Vec<String>,
    /// Runs of the lab's host programs, each a figure.
    #[serde(default)]
    pub host: Vec<HostFigure>,
    /// Its figures take minutes (fs's bigfile): `bench --quick` leaves
    /// them out.
    #[serde(default)]
    pub slow: bool,
}

/// A figure a host program prints: `run` (the program and its arguments)
/// prints a line `regex` matches, whose first group is the number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFigure {
    pub run: String,
    pub figure: String,
    pub regex: String,
    /// Its unit; a rate (`…/s`) is better higher, anything else lower.
    pub unit: String,
}

fn three() -> u32 {
    3
}

/// One of MIT's labs that is several of ours (`syscall` = trace + sysinfo).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub labs: Vec<String>,
}

impl Lab {
    /// Whether it is a cargo feature of the kernel.
    pub fn is_kernel(&self) -> bool {
        self.kernel.is_some()
    }

    /// Its kernel file, for a kernel lab.
    pub fn kernel_file(&self) -> Option<String> {
        self.is_kernel()
            .then(|| format!("labs/src/{}.rs", self.name))
    }

    /// The files a student works in, relative to the root: what a starter
    /// changes and what batch grading takes from a submission.
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.kernel_file().into_iter().collect();
        files.extend(self.user.iter().map(|p| format!("user/src/bin/{p}.rs")));
        files.extend(self.host.iter().cloned());
        files
    }

    /// Whether its file `file` may use `unsafe`.
    pub fn allows_unsafe(&self, file: &str) -> bool {
        match &self.needs_unsafe {
            Unsafe::All(all) => *all,
            Unsafe::Files(files) => files.iter().any(|f| f == file),
        }
    }

    /// Its spec's name.
    pub fn spec(&self) -> String {
        format!("lab-{}", self.name)
    }
}

impl Registry {
    /// Reads `root/labs/registry.toml`.
    pub fn load(root: &Path) -> Result<Registry, String> {
        let path = root.join(FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Registry::parse(&text).map_err(|e| format!("{FILE}: {e}"))
    }

    /// Parses and checks a registry's text.
    pub fn parse(text: &str) -> Result<Registry, String> {
        let registry: Registry = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().lines().collect::<Vec<_>>().join(" ");
            match line {
                Some(l) => format!("line {l}: {message}"),
                None => message,
            }
        })?;
        registry.check()?;
        Ok(registry)
    }

    fn check(&self) -> Result<(), String> {
        let good = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        let mut seen: Vec<&str> = Vec::new();
        let reserved = ["all", "base"];
        for name in self
            .labs
            .iter()
            .map(|l| &l.name)
            .chain(self.groups.iter().map(|g| &g.name))
        {
            if !good(name) {
                return Err(format!(
                    "lab or group name `{name}`: use lowercase letters and digits only"
                ));
            }
            if reserved.contains(&name.as_str()) {
                return Err(format!("`{name}` is a reserved word, not a lab name"));
            }
            if seen.contains(&name.as_str()) {
                return Err(format!("`{name}` is named twice"));
            }
            seen.push(name);
        }
        for g in &self.groups {
            for m in &g.labs {
                if self.lab(m).is_none() {
                    return Err(format!("group `{}` names `{m}`, which is no lab", g.name));
                }
            }
            if g.labs.len() < 2 {
                return Err(format!("group `{}` needs two labs or more", g.name));
            }
        }
        for l in &self.labs {
            let files = l.files();
            if files.is_empty() {
                return Err(format!(
                    "lab `{}` has no student file: give it `kernel`, `user` or `host`",
                    l.name
                ));
            }
            if l.bench.as_ref().is_some_and(|b| b.grade.is_some()) && l.kernel_file().is_none() {
                return Err(format!(
                    "lab `{}`: bench's `grade` needs a kernel lab (its file is edited)",
                    l.name
                ));
            }
            let unsafe_files = match &l.needs_unsafe {
                Unsafe::Files(f) => f.as_slice(),
                Unsafe::All(_) => &[],
            };
            if let Some(f) = unsafe_files.iter().find(|f| !files.contains(f)) {
                return Err(format!(
                    "lab `{}`: unsafe file {f} is not one of its files",
                    l.name
                ));
            }
            if let Some(f) = l.asm.iter().find(|f| !files.contains(f)) {
                return Err(format!(
                    "lab `{}`: asm file {f} is not one of its files",
                    l.name
                ));
            }
        }
        Ok(())
    }

    /// Whether a kernel with these labs' features has a network card.
    pub fn networked<S: AsRef<str>>(&self, features: &[S]) -> bool {
        features
            .iter()
            .any(|f| self.lab(f.as_ref()).is_some_and(|l| l.network))
    }

    /// The lab named `name`.
    pub fn lab(&self, name: &str) -> Option<&Lab> {
        self.labs.iter().find(|l| l.name == name)
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The kernel labs in canonical order: the order of configuration names,
    /// feature lists and the hooks.
    pub fn kernel_labs(&self) -> impl Iterator<Item = &Lab> {
        self.labs.iter().filter(|l| l.is_kernel())
    }

    /// The cargo features of the kernel, one per kernel lab, sorted.
    pub fn features(&self) -> Vec<String> {
        let mut f: Vec<String> = self.kernel_labs().map(|l| l.name.clone()).collect();
        f.sort();
        f
    }

    /// The labs a word names: a lab (`cow` or `lab-cow`) or a group.
    pub fn members(&self, word: &str) -> Option<Vec<&Lab>> {
        let bare = word.strip_prefix("lab-").unwrap_or(word);
        if let Some(l) = self.lab(bare) {
            return Some(vec![l]);
        }
        let g = self.group(bare)?;
        Some(g.labs.iter().filter_map(|m| self.lab(m)).collect())
    }

    /// The lab whose student file `path` is.
    pub fn lab_of_file(&self, path: &str) -> Option<&Lab> {
        self.labs
            .iter()
            .find(|l| l.files().iter().any(|f| f == path))
    }

    /// Every student file of every lab.
    pub fn student_files(&self) -> Vec<String> {
        self.labs.iter().flat_map(Lab::files).collect()
    }

    /// Whether `file` may hold inline assembly.
    pub fn allows_asm(&self, file: &str) -> bool {
        self.labs.iter().any(|l| l.asm.iter().any(|f| f == file))
    }

    /// Whether `file` is a student file where the lab's reference needs no
    /// `unsafe`: there `unsafe` can only be a way around the lab's API (or
    /// its checks, in a host program).
    pub fn forbids_unsafe(&self, file: &str) -> bool {
        self.lab_of_file(file)
            .is_some_and(|l| !l.allows_unsafe(file))
    }

    /// The lab whose test bench's edit-rebuild-grade loop and batch grading
    /// time, and that test.
    pub fn bench_loop(&self) -> Option<(&Lab, &str)> {
        self.labs.iter().find_map(|l| {
            let test = l.bench.as_ref()?.grade.as_deref()?;
            Some((l, test))
        })
    }

    /// The names of the labs and groups, for messages.
    pub fn names(&self) -> String {
        let mut words: Vec<&str> = self.labs.iter().map(|l| l.name.as_str()).collect();
        words.extend(self.groups.iter().map(|g| g.name.as_str()));
        words.join(", ")
    }
}

/// The root of this source tree (the grader crate's parent), for tools and
/// tests built from it.
pub fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader crate is in the workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_trees_registry_loads() {
        let r = Registry::load(&source_root()).unwrap();
        assert!(r.labs.len() >= 8);
        assert!(r.kernel_labs().count() < r.labs.len());
        for l in r.kernel_labs() {
            let file = l.kernel_file().unwrap();
            assert!(source_root().join(&file).is_file(), "{file}");
        }
        for f in r.student_files() {
            assert!(source_root().join(&f).is_file(), "{f}");
        }
    }

    #[test]
    fn each_lab_has_its_spec_handout_and_points() {
        let root = source_root();
        let r = Registry::load(&root).unwrap();
        for l in &r.labs {
            let spec = crate::spec::load(&root, &l.spec(), 1).unwrap();
            assert_eq!(spec.points(), l.points, "{}: the registry's points", l.name);
            let want: Vec<String> = l.kernel.iter().map(|_| l.name.clone()).collect();
            assert_eq!(spec.features, want, "{}: the spec's features", l.name);
            let handout = root.join(format!("handouts/lab-{}.md", l.name));
            assert!(handout.is_file(), "{}", handout.display());
        }
        for g in &r.groups {
            let spec = crate::spec::load(&root, &format!("lab-{}", g.name), 1).unwrap();
            let sum: u32 = g.labs.iter().map(|m| r.lab(m).unwrap().points).sum();
            assert_eq!(spec.points(), sum, "group {}", g.name);
        }
    }

    #[test]
    fn bad_registries_say_what_is_wrong() {
        let lab = |name: &str| {
            format!(
                "[[lab]]\nname = \"{name}\"\nkernel = \"T\"\npoints = 1\neditions = [\"2020\"]\n"
            )
        };
        let two = format!("{}{}", lab("a"), lab("b"));
        assert!(Registry::parse(&two).is_ok());
        let e = |t: &str| Registry::parse(t).unwrap_err();
        assert!(e(&format!("{}{}", lab("a"), lab("a"))).contains("named twice"));
        assert!(e(&lab("Cow")).contains("lowercase"));
        assert!(e(&lab("all")).contains("reserved"));
        assert!(
            e(&format!(
                "{two}[[group]]\nname = \"g\"\nlabs = [\"a\", \"z\"]\n"
            ))
            .contains("`z`, which is no lab")
        );
        assert!(e(&lab("a").replace("kernel = \"T\"\n", "")).contains("no student file"));
        assert!(e(&format!("{}asm = [\"x.rs\"]\n", lab("a"))).contains("not one of its files"));
        assert!(e(&format!("{}colour = 1\n", lab("a"))).starts_with("line 6: unknown field"));
    }

    #[test]
    fn members_of_labs_and_groups() {
        let r = Registry::parse(
            "[[lab]]\nname = \"u\"\nuser = [\"p\"]\npoints = 1\neditions = []\n\
             [[lab]]\nname = \"k\"\nkernel = \"K\"\nunsafe = true\npoints = 1\neditions = []\n\
             [[lab]]\nname = \"j\"\nkernel = \"J\"\npoints = 1\neditions = []\n\
             [[group]]\nname = \"g\"\nlabs = [\"k\", \"j\"]\n",
        )
        .unwrap();
        let names = |w: &str| {
            r.members(w)
                .map(|m| m.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(names("lab-u").unwrap(), ["u"]);
        assert_eq!(names("g").unwrap(), ["k", "j"]);
        assert_eq!(names("nope"), None);
        assert_eq!(r.features(), ["j", "k"]);
        assert_eq!(r.lab_of_file("user/src/bin/p.rs").unwrap().name, "u");
        assert!(r.forbids_unsafe("labs/src/j.rs"));
        assert!(!r.forbids_unsafe("labs/src/k.rs"));
        assert!(r.forbids_unsafe("user/src/bin/p.rs"));
        assert!(!r.forbids_unsafe("user/src/bin/elsewhere.rs"));
    }

    #[test]
    fn unsafe_per_lab_or_per_file() {
        let r = Registry::parse(
            "[[lab]]\nname = \"t\"\nuser = [\"u\"]\nhost = [\"h/p.rs\", \"h/q.rs\"]\n\
             unsafe = [\"user/src/bin/u.rs\", \"h/q.rs\"]\npoints = 1\neditions = []\n\
             [[lab]]\nname = \"k\"\nkernel = \"K\"\nuser = [\"v\"]\nunsafe = true\n\
             points = 1\neditions = []\n\
             [[lab]]\nname = \"j\"\nkernel = \"J\"\nunsafe = false\npoints = 1\neditions = []\n",
        )
        .unwrap();
        assert!(!r.forbids_unsafe("user/src/bin/u.rs"));
        assert!(!r.forbids_unsafe("h/q.rs"));
        assert!(r.forbids_unsafe("h/p.rs"));
        assert!(!r.forbids_unsafe("labs/src/k.rs"));
        assert!(!r.forbids_unsafe("user/src/bin/v.rs"));
        assert!(r.forbids_unsafe("labs/src/j.rs"));
        let e = Registry::parse(
            "[[lab]]\nname = \"t\"\nuser = [\"u\"]\nunsafe = [\"x.rs\"]\npoints = 1\neditions = []\n",
        )
        .unwrap_err();
        assert!(
            e.contains("unsafe file x.rs is not one of its files"),
            "{e}"
        );
    }
}
