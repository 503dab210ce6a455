//! Helpers for the end-to-end tests: build a kernel configuration with
//! `cargo xtask build`, grade it with `cargo xtask grade` or with the
//! standalone grader and an ad-hoc spec from `tests/specs/`, and read the
//! console logs the grader saves.
//!
//! Tests marked `#[ignore]` are the slow ones (full usertests, grind, the
//! labs that run usertests): `cargo test -- --include-ignored` runs them,
//! as CI does.

pub mod disk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The kernel's target triple.
pub const TARGET: &str = "riscv64gc-unknown-none-elf";

/// Cargo arguments selecting the kernel binary as xtask builds it (xtask's
/// `KERNEL_PACKAGE`; add `--features`).
pub const KERNEL_PACKAGE: [&str; 8] = [
    "-p",
    "labs",
    "--bin",
    "kernel",
    "--profile",
    "kernel",
    "--target",
    TARGET,
];

/// Where cargo (and so xtask) writes: `$CARGO_TARGET_DIR` or `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// `cargo <args>` in the repository root, without the variables `cargo
/// test` set for this test binary (they would confuse the inner cargo).
pub fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            c.env_remove(&*key);
        }
    }
    c.env_remove("RUSTFLAGS").args(args).current_dir(root());
    c
}

/// `cargo xtask <args>`.
pub fn xtask(args: &[&str]) -> Command {
    let mut all = vec!["xtask"];
    all.extend_from_slice(args);
    cargo(&all)
}

/// The lines of `stderr` that are not cargo's own (`Compiling …`,
/// `Finished …`, `Running …`): what the program itself said.
pub fn own_lines(stderr: &str) -> impl Iterator<Item = &str> {
    stderr.lines().filter(|l| {
        let t = l.trim_start();
        !["Compiling ", "Finished `", "Running `", "Blocking "]
            .iter()
            .any(|p| t.starts_with(p))
    })
}

/// Runs a command, returning its output with stdout and stderr as text.
pub fn run(mut c: Command) -> (Output, String, String) {
    let out = c.output().expect("cannot start the command");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// A built kernel configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub kernel: PathBuf,
    pub fs_img: PathBuf,
}

/// The registry of labs (`labs/registry.toml`): what the tests that cover
/// every lab go through.
pub fn registry() -> &'static grader::registry::Registry {
    static REGISTRY: OnceLock<grader::registry::Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| grader::registry::Registry::load(&root()).unwrap())
}

/// Every kernel lab, comma-separated in the registry's order: the kernel
/// with every lab.
pub fn every_lab() -> String {
    let labs: Vec<&str> = registry().kernel_labs().map(|l| l.name.as_str()).collect();
    labs.join(",")
}

/// Builds the kernel with `labs` (comma-separated, `all`, or empty for the
/// base kernel) once per test process. The output directory follows xtask's
/// documented naming: `base`, or the labs joined by `-`.
pub fn build(labs: &str) -> Config {
    static BUILT: OnceLock<Mutex<HashMap<String, Config>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(c) = built.get(labs) {
        return c.clone();
    }
    let mut args = vec!["build"];
    if !labs.is_empty() {
        args.extend(["--lab", labs]);
    }
    let (out, stdout, stderr) = run(xtask(&args));
    assert!(
        out.status.success(),
        "cargo xtask build failed:\n{stdout}{stderr}"
    );
    let name = match labs {
        "" => "base".to_owned(),
        "all" => every_lab().replace(',', "-"),
        _ => labs.replace(',', "-"),
    };
    let dir = target_dir().join("xv6").join(name);
    let config = Config {
        kernel: dir.join("kernel"),
        fs_img: dir.join("fs.img"),
    };
    assert!(
        config.kernel.is_file() && config.fs_img.is_file(),
        "no build in {}",
        dir.display()
    );
    built.insert(labs.to_owned(), config.clone());
    config
}

/// The standalone grader binary, built once.
pub fn grader_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let (out, stdout, stderr) = run(cargo(&["build", "-q", "-p", "grader", "--bin", "grader"]));
        assert!(
            out.status.success(),
            "cannot build the grader:\n{stdout}{stderr}"
        );
        target_dir().join("debug").join("grader")
    })
    .clone()
}

/// A scratch tree holding one ad-hoc spec, graded with the standalone
/// grader against a built kernel; it keeps the console logs.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Scenario {
    /// The spec `tests/specs/<name>.toml`.
    pub fn new(name: &str) -> Scenario {
        let text = std::fs::read_to_string(root().join("tests/specs").join(format!("{name}.toml")))
            .expect("no such spec in tests/specs");
        Scenario::with_text(name, &text)
    }

    /// A spec given as text (its `name` must be `name`).
    pub fn with_text(name: &str, text: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("labs")).unwrap();
        std::fs::write(dir.path().join(format!("labs/{name}.toml")), text).unwrap();
        Scenario {
            dir,
            name: name.to_owned(),
        }
    }

    /// Grades the spec on `config`, with extra grader arguments.
    pub fn grade(&self, config: &Config, args: &[&str]) -> (Output, String, String) {
        let mut c = Command::new(grader_bin());
        c.arg("--root")
            .arg(self.dir.path())
            .arg("--kernel")
            .arg(&config.kernel)
            .arg("--fs")
            .arg(&config.fs_img)
            .arg(&self.name)
            .args(args)
            .env("CARGO_TARGET_DIR", self.dir.path().join("out"))
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        run(c)
    }

    /// The console log of run `id` from the last grade.
    pub fn log(&self, id: &str) -> String {
        let path = self
            .dir
            .path()
            .join("out/grade")
            .join(&self.name)
            .join(format!("{id}.log"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no console log {}: {e}", path.display()))
    }
}

/// Asserts a grade reached full marks, showing the report otherwise.
pub fn assert_full_marks(out: &Output, stdout: &str, stderr: &str) {
    assert!(
        out.status.success(),
        "not full marks (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
}

/// The PIDs of running QEMU processes whose command line mentions `needle`.
pub fn qemus_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("qemu-system") && cmdline.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// A copy of `kernel` in `dir` whose function `name` (last path component
/// of its demangled symbol) starts with `ebreak`: calling it traps in the
/// kernel, which panics. A kernel that panics on purpose, without a build.
pub fn kernel_with_trap_in(kernel: &Path, name: &str, dir: &Path) -> PathBuf {
    use object::{Object, ObjectSection, ObjectSymbol};
    let mut bytes = std::fs::read(kernel).unwrap();
    let offset = {
        let elf = object::File::parse(&*bytes).unwrap();
        let sym = elf
            .symbols()
            .find(|s| {
                let demangled = format!("{:#}", rustc_demangle::demangle(s.name().unwrap_or("")));
                demangled.rsplit("::").next() == Some(name)
            })
            .unwrap_or_else(|| panic!("no function {name} in the kernel"));
        let section = elf.section_by_index(sym.section_index().unwrap()).unwrap();
        let (file_start, _) = section.file_range().unwrap();
        file_start + (sym.address() - section.address())
    } as usize;
    // c.ebreak: every function starts on an instruction boundary.
    bytes[offset..offset + 2].copy_from_slice(&0x9002u16.to_le_bytes());
    let out = dir.join("kernel-with-trap");
    std::fs::write(&out, bytes).unwrap();
    out
}

/// The row of submission `name` in a batch's JSON summary (`--json`).
pub fn submission<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["submissions"]
        .as_array()
        .unwrap_or_else(|| panic!("no submissions in {summary}"))
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

/// `cargo xtask grade LAB --submissions DIR -j 1` with a build timeout,
/// new worker trees starting from [`worker_seed`]: its output and the class summary it wrote as JSON (in DIR).
pub fn grade_class(
    lab: &str,
    dir: &Path,
    build_timeout: &str,
) -> (Output, String, String, serde_json::Value) {
    grade_class_tests(lab, &[], dir, build_timeout)
}

/// [`grade_class`] of the tests of LAB whose names contain one of `tests`
/// (all of them when there are none).
pub fn grade_class_tests(
    lab: &str,
    tests: &[&str],
    dir: &Path,
    build_timeout: &str,
) -> (Output, String, String, serde_json::Value) {
    let json = dir.join("summary.json");
    let dir_arg = dir.to_string_lossy();
    let json_arg = json.to_string_lossy();
    let mut args = vec!["grade", lab];
    args.extend_from_slice(tests);
    args.extend([
        "--submissions",
        &dir_arg,
        "--jobs",
        "1",
        "--build-timeout",
        build_timeout,
        "--json",
        &json_arg,
    ]);
    let mut batch = xtask(&args);
    with_seed(&mut batch);
    let (out, stdout, stderr) = run(batch);
    let summary = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}{stderr}")),
    )
    .unwrap();
    (out, stdout, stderr, summary)
}

/// Checks that no file under `dirs` (with a name matching one of the
/// `include` globs, or any file if there are none) holds one of `needles`.
/// Err names the files that do, or grep's failure: grep exits 1 when it
/// read everything and found nothing, 0 when it found something and 2 on
/// an error (a directory missing or unreadable), which must not read as
/// "nothing found".
pub fn no_file_contains(dirs: &[&Path], include: &[&str], needles: &[&str]) -> Result<(), String> {
    let mut grep = Command::new("grep");
    grep.arg("-rlF");
    for glob in include {
        grep.arg(format!("--include={glob}"));
    }
    for needle in needles {
        grep.args(["-e", needle]);
    }
    let out = grep.args(dirs).output().expect("cannot start grep");
    let found = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(1) if found.is_empty() => Ok(()),
        Some(0) => Err(format!("found in: {}", found.trim_end())),
        _ => Err(format!(
            "grep failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        )),
    }
}

/// The fewest iterations a grind run must report: four workers doing
/// file-system calls for a minute do thousands even on a loaded machine; a
/// handful means they hardly ran (died at once, or the deadline came
/// early), which must not pass.
pub const GRIND_AT_LEAST: u64 = 100;

/// The iterations a grind console reports (`grind: OK after N
/// iterations`, token or not), if it says it passed with at least
/// [`GRIND_AT_LEAST`]; Err says what is wrong otherwise.
pub fn grind_iterations(console: &str) -> Result<u64, String> {
    let iterations = console.lines().find_map(|l| {
        let l = abi::tok::split(l.trim_end()).map_or(l.trim_end(), |(text, _)| text);
        l.strip_prefix("grind: OK after ")?
            .strip_suffix(" iterations")?
            .parse::<u64>()
            .ok()
    });
    match iterations {
        None => Err("grind did not say it passed".into()),
        Some(n) if n < GRIND_AT_LEAST => Err(format!(
            "grind did {n} iterations, fewer than {GRIND_AT_LEAST}"
        )),
        Some(n) => Ok(n),
    }
}

/// The file of a seed no older than anything else in it (xtask's
/// `fsutil::SEED_STAMP`).
const SEED_STAMP: &str = "seed-stamp";

/// The batch's messages of the seed's cold build, in the seed.
pub const SEED_LOG: &str = "seed-build.log";

/// The variable naming a batch's seed (xtask's `batch::SEED_TARGET`).
const SEED_TARGET: &str = "XTASK_BATCH_SEED_TARGET";

/// A warm target directory for new copies of this tree (batch worker
/// trees, scratch copies, clones): the target of a batch worker that built
/// the trace lab's starter, made once per `Cargo.lock` and toolchain in
/// `target/worker-seed-<hash>/` (the first test that needs it builds it
/// cold, the others wait). A copy of it ([`seed_target`], or a batch with
/// [`with_seed`]) keeps the registry's crates and builds the tree's own
/// again: every test starts warm, and the seed's own build is the test of a
/// cold worker under a small build timeout ([`SEED_LOG`]). It holds no
/// solution (a batch's workers can read their target directory).
pub fn worker_seed() -> PathBuf {
    static SEED: OnceLock<PathBuf> = OnceLock::new();
    SEED.get_or_init(|| {
        // The seed's format: 2 keeps its build's log.
        let mut key = b"2".to_vec();
        for file in ["Cargo.lock", "rust-toolchain.toml"] {
            key.extend(std::fs::read(root().join(file)).unwrap_or_default());
        }
        let name = format!("worker-seed-{:016x}", grader::hash::fnv1a(&key));
        let seed = target_dir().join(&name);
        if seed.join(SEED_STAMP).exists() {
            return seed;
        }
        std::fs::create_dir_all(target_dir()).unwrap();
        let lock = std::fs::File::create(target_dir().join("worker-seed.lock")).unwrap();
        lock.lock().unwrap();
        if seed.join(SEED_STAMP).exists() {
            return seed;
        }
        // Seeds for another Cargo.lock or toolchain are a gigabyte each.
        for entry in std::fs::read_dir(target_dir()).unwrap().flatten() {
            let other = entry.file_name().to_string_lossy().into_owned();
            if other.starts_with("worker-seed-") && other != name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let _ = std::fs::remove_dir_all(&seed);
        // A class of one: the trace lab's starter file, as handout cuts it.
        let scratch = tempfile::tempdir().unwrap();
        let starter = scratch.path().join("starter");
        let mut handout = xtask(&["handout", "trace", "--no-git", "--out"]);
        handout.arg(&starter);
        let (out, stdout, stderr) = run(handout);
        assert!(out.status.success(), "handout failed:\n{stdout}{stderr}");
        let file = "labs/src/trace.rs";
        let sub = scratch.path().join("class/starter").join(file);
        std::fs::create_dir_all(sub.parent().unwrap()).unwrap();
        std::fs::copy(starter.join(file), &sub).unwrap();
        let cache = scratch.path().join("cache");
        let class = scratch.path().join("class");
        let mut cmd = xtask(&[
            "grade",
            "lab-trace",
            "--submissions",
            &class.to_string_lossy(),
            "--build-only",
            "-j",
            "1",
            // Far below a cold worker's setup (its xtask, then the
            // starter's kernel: minutes), which the build timeout does not
            // bound: the seed is also the test of a cold worker
            // (batch.rs reads its log).
            "--build-timeout",
            "30s",
        ]);
        cmd.env("XDG_CACHE_HOME", &cache).env_remove(SEED_TARGET);
        let (out, stdout, stderr) = run(cmd);
        assert!(
            out.status.success(),
            "building the worker seed (a cold batch worker) failed:\n{stdout}{stderr}"
        );
        let trees = cache.join("xv6-batch");
        let tree = std::fs::read_dir(&trees)
            .unwrap_or_else(|e| panic!("no worker trees in {}: {e}", trees.display()))
            .flatten()
            .next()
            .expect("no worker tree")
            .path();
        let built = tree.join("lab-trace/worker-0/target");
        if std::fs::rename(&built, &seed).is_err() {
            let done = Command::new("cp").arg("-a").arg(&built).arg(&seed).status();
            assert!(done.unwrap().success(), "cannot copy {}", built.display());
        }
        std::fs::write(seed.join(SEED_LOG), &stderr).unwrap();
        // Written last: newer than every artifact.
        std::fs::write(seed.join(SEED_STAMP), "").unwrap();
        seed
    })
    .clone()
}

/// A file of `tree` (its `target` and `.git` left out) not newer than
/// `stamp`.
fn not_newer(tree: &Path, stamp: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(tree).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "target"
                && entry.file_name() != ".git"
                && let Some(old) = not_newer(&path, stamp)
            {
                return Some(old);
            }
        } else if std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t <= stamp)
        {
            return Some(path);
        }
    }
    None
}

/// Makes `target`, the target directory of the copy of this tree at `tree`,
/// a copy of [`worker_seed`] (mtimes kept), if it does not exist yet and
/// every file of the tree is newer than the seed: cargo then takes none of
/// the seed's artifacts of the tree's own crates for fresh, only the
/// registry's. Whether it did. Call [`worker_seed`] before making the tree:
/// a seed made after it is newer than its files.
pub fn seed_target(target: &Path, tree: &Path) -> bool {
    if target.exists() {
        return false;
    }
    let seed = worker_seed();
    let stamp = std::fs::metadata(seed.join(SEED_STAMP))
        .and_then(|m| m.modified())
        .unwrap();
    if let Some(old) = not_newer(tree, stamp) {
        eprintln!(
            "not seeding {}: {} is older than the seed",
            target.display(),
            old.display()
        );
        return false;
    }
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let done = Command::new("cp").arg("-a").arg(&seed).arg(target).status();
    assert!(done.unwrap().success(), "cannot copy {}", seed.display());
    true
}

/// `cmd` (a batch) with new worker trees starting from [`worker_seed`].
pub fn with_seed(cmd: &mut Command) -> &mut Command {
    cmd.env(SEED_TARGET, worker_seed())
}

/// Each test's outcome (`"pass"`, `"fail"`, …) in the grader report of the
/// graded submission `name` of a class summary.
pub fn outcomes(
    summary: &serde_json::Value,
    name: &str,
) -> std::collections::HashMap<String, String> {
    let o = submission(summary, name);
    assert_eq!(o["status"], "graded", "{name}: {o}");
    let path = o["files"]["report_json"].as_str().expect("a report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    report["labs"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
