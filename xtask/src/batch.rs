//! `cargo xtask grade <lab> --submissions DIR`: grades a class.
//!
//! Each submission is built in a worker tree that holds the lab's starter
//! (no solution text), the instructor's trusted files (specs, test programs,
//! user library, kernel, grader, xtask) and, over them, only the student's
//! own lab files, checked first ([`crate::submission::check_source`]). Its
//! kernel and disk image are then graded by the trusted grader with the
//! trusted specs. Workers run in parallel, each reusing its tree and target
//! directory, so a submission costs a rebuild of the lab crate (and, for
//! the util lab, of the user programs), not of the workspace.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use grader::report::{Outcome as TestOutcome, Report, TestReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::labs::LabSet;
use crate::redact::Reference;
use crate::run::{Ctx, Env};
use crate::sandbox::{Mounts, Sandbox};
use crate::submission::{self, Form, Refused};

/// What `cargo xtask grade` adds to the grader's options to grade a class.
/// `-j`, `--json` and `--gradescope` are the grader's, and mean the batch's
/// with `--submissions`.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
#[command(next_help_heading = "Grading a class")]
pub struct BatchArgs {
    /// Grade every submission in DIR: each directory (a student's tree) or
    /// .patch file; only the lab's own files are taken, over the starter,
    /// and built and graded with this tree's specs, test programs and grader
    #[arg(long, value_name = "DIR", conflicts_with_all = ["all", "list", "calibrate"])]
    pub submissions: Option<PathBuf>,

    /// Grade only the submission NAME of DIR
    #[arg(long, value_name = "NAME", requires = "submissions")]
    pub only: Option<String>,

    /// A build that takes longer is BUILD TIMEOUT
    #[arg(long, value_name = "T", default_value = "300s", value_parser = parse_build_timeout)]
    pub build_timeout: Duration,

    /// Build the submissions, do not grade them (warms the worker trees)
    #[arg(long, requires = "submissions")]
    pub build_only: bool,

    /// Build and boot without the sandbox (bubblewrap) when it cannot be
    /// had: a submission's build can then read any file you can
    #[arg(long, requires = "submissions")]
    pub no_sandbox: bool,

    /// The class's scores, one row a submission, with its reason (REFUSED,
    /// BUILD FAILED, TIMEOUT …) and report
    #[arg(long, value_name = "FILE", requires = "submissions")]
    pub csv: Option<PathBuf>,

    /// A page of it, linking each submission's report and logs
    #[arg(long, value_name = "FILE", requires = "submissions")]
    pub html: Option<PathBuf>,

    /// Grade the K-th of N slices of DIR (by name) and write its part,
    /// target/batch/<LAB>/part-K-of-N.json, for `cargo xtask merge`
    /// [default: from JOB_COMPLETION_INDEX and XV6_SHARDS, or
    /// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, where set]
    #[arg(
        long,
        value_name = "K/N",
        requires = "submissions",
        conflicts_with = "only"
    )]
    pub shard: Option<shard::Shard>,
}

fn parse_build_timeout(text: &str) -> Result<Duration, String> {
    grader::spec::parse_duration(text).map_err(|why| format!("a time such as 300s ({why})"))
}

/// Batch options, from `cargo xtask grade`'s: the batch's own and the
/// grader's that each submission's grader gets.
#[derive(Debug, Default)]
pub struct Options {
    pub lab: String,
    pub dir: PathBuf,
    pub jobs: usize,
    pub build_timeout: Duration,
    pub csv: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    /// Gradescope's results.json, for a batch of one submission.
    pub gradescope: Option<PathBuf>,
    /// Build the submissions, do not grade them (warms the worker trees).
    pub build_only: bool,
    /// Build and grade outside the sandbox (where bubblewrap cannot run).
    pub no_sandbox: bool,
    /// Grade only the submission of this name (what replay lines use).
    pub only: Option<String>,
    /// Grade only this slice of the class, and write its part.
    pub shard: Option<shard::Shard>,
    /// The grader's options for each submission (--seed, --cpus …; -j and
    /// the reports are the batch's).
    pub grader: grader::args::GradeArgs,
    /// Test filters for each submission's grader.
    pub filters: Vec<String>,
}

impl Options {
    /// The batch `grade` asks for; `None` when there is no `--submissions`
    /// (an ordinary grade). `known` are the labs, to tell the word after a
    /// bare `--json` from its file.
    pub fn new(
        grader: &grader::args::GradeArgs,
        batch: &BatchArgs,
        known: &[String],
    ) -> Result<Option<Options>, String> {
        let Some(dir) = &batch.submissions else {
            return Ok(None);
        };
        let mut g = grader.clone();
        g.resolve_json(|w| known.iter().any(|k| k == w));
        if g.junit.is_some() {
            return Err(
                "--junit is for one kernel; a batch writes --csv, --json and --html".into(),
            );
        }
        let mut words = std::mem::take(&mut g.words).into_iter();
        let one_lab = || {
            crate::labs::fill(
                "grade one lab per batch: `cargo xtask grade lab-{lab} --submissions DIR`",
            )
        };
        let lab = words.next().ok_or_else(one_lab)?;
        let filters: Vec<String> = words.collect();
        if filters.iter().any(|w| known.contains(w)) {
            return Err(one_lab());
        }
        Ok(Some(Options {
            lab,
            dir: dir.clone(),
            jobs: g.jobs(),
            build_timeout: batch.build_timeout,
            csv: batch.csv.clone(),
            json: g.json.take(),
            html: batch.html.clone(),
            gradescope: g.gradescope.take(),
            build_only: batch.build_only,
            no_sandbox: batch.no_sandbox,
            only: batch.only.clone(),
            shard: match batch.shard {
                Some(s) => Some(s),
                None if batch.only.is_none() => shard::from_env(|v| std::env::var(v).ok())?,
                None => None,
            },
            grader: g,
            filters,
        }))
    }

    /// What each submission's grader is given after the lab: the options
    /// that choose what is graded and how, then the test filters.
    fn grader_args(&self, timeout_scale: Option<f64>) -> Vec<String> {
        let mut g = self.grader.clone();
        if g.timeout_scale.is_none() {
            g.timeout_scale = timeout_scale;
        }
        let mut args = g.grading_options();
        args.extend(self.filters.iter().cloned());
        args
    }
}

/// How one submission ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    Graded,
    /// Refused before building (a file reaching outside its tree …).
    Refused {
        reason: String,
    },
    BuildFailed {
        excerpt: String,
    },
    BuildTimeout,
    /// The grader itself failed (a bug or a broken machine, not the student).
    GraderError {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub name: String,
    #[serde(flatten)]
    pub status: Status,
    pub score: u64,
    pub max_score: u64,
    pub seconds: f64,
    /// The grader's report (tests, outcomes, messages) when graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Where the console logs and the report are.
    pub out: PathBuf,
}

pub fn run(ctx: &Ctx, opts: &Options) -> Result<bool, String> {
    let mut submissions = submission::find(&opts.dir)?;
    let class = shard::Class::of(submissions.iter().map(|(name, _)| name.as_str()));
    if let Some(s) = opts.shard {
        submissions = shard::slice(submissions, s);
        eprintln!(
            "batch: shard {s}: {} of the class's {} submissions",
            submissions.len(),
            class.submissions
        );
    }
    if let Some(only) = &opts.only {
        submissions.retain(|(name, _)| name == only);
        if submissions.is_empty() {
            return Err(format!(
                "no submission named {only} in {}",
                opts.dir.display()
            ));
        }
    }
    if opts.gradescope.is_some() && submissions.len() != 1 {
        return Err(format!(
            "--gradescope writes one submission's results, and {} holds {}",
            opts.dir.display(),
            submissions.len()
        ));
    }
    let sandbox = Sandbox::new(!opts.no_sandbox)?;
    if !sandbox.enabled() {
        eprintln!(
            "batch: --no-sandbox: submissions are built and run without a sandbox, \
             and can read any file you can"
        );
    }
    let spec = grader::spec::load(&ctx.root, &opts.lab, 0).map_err(|e| e.to_string())?;
    let max_score = u64::from(spec.points());
    // --features builds every submission with those labs, as it does one grade.
    let labs = LabSet::from_features(&opts.grader.feature_list().unwrap_or(spec.features.clone()))?;
    let host_programs = spec.host_programs();
    // The grader's gdb needs xv6's names beside the kernel, which it sees
    // read-only in the sandbox: the build writes them.
    let gdb_names = spec.runs.iter().any(|r| r.stop_at.is_some());
    let files = submission::lab_files(&ctx.root, &opts.lab);
    let work = work_dir(&ctx.root)?.join(&opts.lab);
    let results_dir = ctx.target_dir.join("batch").join(&opts.lab).join("results");
    eprintln!(
        "batch: {} submission(s) of {} ({} points), {} at a time; worker trees in {}, \
         reports in {}",
        submissions.len(),
        opts.lab,
        max_score,
        opts.jobs,
        work.display(),
        results_dir.display()
    );

    // Trusted pieces, made once: the grader (a copy of its own, so that
    // the sandbox sees that file only), the starter tree, the reference
    // lines to redact, and the machine's speed (the sandbox cannot keep
    // the grader's cache).
    eprintln!("batch: building the grader and cutting the starter tree");
    ctx.run(&mut ctx.cargo(
        Env::Host,
        ["build", "-q", "-p", "grader", "--bin", "grader"],
    ))?;
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot make {}: {e}", work.display()))?;
    // One batch at a time uses a lab's worker trees (and its results).
    let lock = std::fs::File::create(work.join("lock"))
        .map_err(|e| format!("cannot make {}: {e}", work.join("lock").display()))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "batch: waiting for another batch of {} from this tree to finish",
            opts.lab
        );
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", work.join("lock").display()))?;
    }
    let grader_bin = work.join("grader");
    std::fs::copy(ctx.target_dir.join("debug").join("grader"), &grader_bin)
        .map_err(|e| format!("cannot copy the grader to {}: {e}", grader_bin.display()))?;
    let starter = write_starter(ctx, &work.join("starter"))?;
    let reference = Reference::new(&ctx.root, &starter);
    // Every submission is graded with the same timeouts: this machine's.
    let scale = match opts.build_only || opts.grader.timeout_scale.is_some() {
        true => None,
        false => Some(grader::cli::machine_scale()?),
    };
    let grader_args = opts.grader_args(scale);
    let dir = std::path::absolute(&opts.dir).unwrap_or_else(|_| opts.dir.clone());

    let count = submissions.len();
    let queue = Mutex::new(submissions.into_iter().enumerate());
    let results = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    let workers = opts.jobs.min(queue.lock().unwrap().len()).max(1);
    std::thread::scope(|s| {
        for w in 0..workers {
            let (queue, results, starter, failures) = (&queue, &results, &starter, &failures);
            let (grader_bin, files, work, results_dir) = (&grader_bin, &files, &work, &results_dir);
            let (sandbox, reference, grader_args, dir) = (&sandbox, &reference, &grader_args, &dir);
            let (labs, host_programs) = (&labs, &host_programs);
            s.spawn(move || {
                let worker = Worker {
                    ctx,
                    opts,
                    starter,
                    tree: work.join(format!("worker-{w}")),
                    labs: labs.clone(),
                    host_programs,
                    gdb_names,
                    files,
                    grader: grader_bin,
                    grader_args,
                    max_score,
                    sandbox,
                    reference,
                    dir,
                    number: w,
                };
                if let Err(e) = worker.prepare() {
                    eprintln!("batch: worker {w}: {e}");
                    failures.lock().unwrap().push(e);
                    return;
                }
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((i, (name, form))) = next else { break };
                    let out = results_dir.join(&name);
                    eprintln!("batch: {name}: building (worker {w})");
                    let outcome = worker.grade(&name, &form, &out);
                    eprintln!(
                        "batch: {name}: {}",
                        match &outcome.status {
                            Status::Graded => format!("{}/{}", outcome.score, outcome.max_score),
                            other => short_status(other),
                        }
                    );
                    results.lock().unwrap().push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    if results.len() < count {
        let why = failures.into_inner().unwrap().into_iter().next();
        return Err(format!(
            "graded {} of {count} submissions: no worker tree could be set up ({})",
            results.len(),
            why.unwrap_or_default()
        ));
    }
    results.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = results.into_iter().map(|(_, o)| o).collect();
    if let Some(s) = opts.shard {
        let (specs, starter) = shard::Grading::hashes(&starter)?;
        let grading = shard::Grading {
            lab: opts.lab.clone(),
            max_score,
            specs,
            starter,
            options: opts.grader_args(None),
        };
        let dir = results_dir.parent().expect("results are in a directory");
        let path = shard::write(dir, grading, s, class, &outcomes)?;
        eprintln!(
            "batch: wrote {} (merge the parts with `cargo xtask merge`)",
            path.display()
        );
    }
    write_summary(
        &Summary::new(&opts.lab, max_score, &outcomes),
        &opts.csv,
        &opts.json,
        &opts.html,
    )?;
    if let (Some(path), [only]) = (&opts.gradescope, outcomes.as_slice()) {
        std::fs::write(path, gradescope_results(only))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("batch: wrote {}", path.display());
    }
    Ok(outcomes.iter().all(|o| o.status == Status::Graded))
}

/// Prints the class's table and writes the files asked for.
fn write_summary(
    summary: &Summary,
    csv: &Option<PathBuf>,
    json: &Option<PathBuf>,
    html: &Option<PathBuf>,
) -> Result<(), String> {
    print!("{}", summary.table());
    let outputs = [
        (csv, summary.csv()),
        (json, summary.json()),
        (html, summary.html(html_dir(html.as_deref()))),
    ];
    for (path, text) in outputs {
        if let Some(p) = path {
            std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            eprintln!("batch: wrote {}", p.display());
        }
    }
    Ok(())
}

/// `cargo xtask merge`: the class summary of the shards' parts, as one
/// batch of the whole class would have printed and written it; whether
/// every submission was graded.
pub fn merge(args: &MergeArgs) -> Result<bool, String> {
    let files = shard::find(&args.parts)?;
    let (grading, outcomes) = shard::merge(&files)?;
    eprintln!(
        "merge: {} parts, {} submissions of {}",
        files.len(),
        outcomes.len(),
        grading.lab
    );
    write_summary(
        &Summary::new(&grading.lab, grading.max_score, &outcomes),
        &args.csv,
        &args.json,
        &args.html,
    )?;
    Ok(outcomes.iter().all(|o| o.status == Status::Graded))
}

/// `cargo xtask merge`'s arguments.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct MergeArgs {
    /// The parts (part-K-of-N.json) or directories holding them, each with
    /// its results/ beside it as the shard wrote it
    #[arg(value_name = "PART", required = true)]
    pub parts: Vec<PathBuf>,
    /// The class's scores, one row a submission (as `grade --csv`)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// The class's scores with every submission's report (as `grade --json`)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// A page of it (as `grade --html`)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Gradescope's results.json for one submission: the grader's own for a
/// graded one, a zero with the reason otherwise.
fn gradescope_results(o: &Outcome) -> String {
    if o.status == Status::Graded
        && let Ok(text) = std::fs::read_to_string(o.out.join("results.json"))
    {
        return text;
    }
    let why = match &o.status {
        Status::BuildFailed { excerpt } => format!("The build failed:\n{excerpt}"),
        other => short_status(other),
    };
    grader::report::Gradescope::not_graded(why).to_json()
}

fn short_status(s: &Status) -> String {
    match s {
        Status::Graded => "graded".into(),
        Status::Refused { reason } => format!("refused: {reason}"),
        Status::BuildFailed { .. } => "build failed".into(),
        Status::BuildTimeout => "build timed out".into(),
        Status::GraderError { message } => format!("grader error: {message}"),
    }
}

/// The starter tree a batch builds over: every lab's solution cut (a
/// student tree never holds one). In a tree that is not a git repository
/// (a Gradescope bundle, cut from one already) the tree itself.
fn write_starter(ctx: &Ctx, out: &Path) -> Result<PathBuf, String> {
    if !ctx.root.join(".git").exists() {
        return Ok(ctx.root.clone());
    }
    let write =
        || crate::handout::write_student_tree(&ctx.root, &crate::handout::Starters::all(), out);
    if write().is_err() {
        // The directory is the batch's own: whatever an older xtask or a
        // killed run left there goes, and the tree is cut afresh.
        std::fs::remove_dir_all(out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
        write()?;
    }
    Ok(out.to_path_buf())
}

/// Where a batch keeps its worker trees for `root`: outside it (a
/// submission must not find the instructor's tree a relative path away),
/// in the user's cache directory, else the system's temporary one; one
/// directory per instructor tree, kept between batches (warm targets).
fn work_dir(root: &Path) -> Result<PathBuf, String> {
    let root = std::fs::canonicalize(root)
        .map_err(|e| format!("cannot resolve {}: {e}", root.display()))?;
    // $XDG_CACHE_HOME, else ~/.cache.
    let cache = dirs::cache_dir();
    // FNV-1a of the path: a stable name for the tree.
    let hash = grader::hash::fnv1a(root.as_os_str().as_encoded_bytes());
    let name = format!(
        "{}-{hash:016x}",
        root.file_name().unwrap_or_default().to_string_lossy()
    );
    let outside = |base: PathBuf| {
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        (!base.starts_with(&root)).then(|| base.join("xv6-batch").join(&name))
    };
    cache
        .and_then(outside)
        .or_else(|| outside(std::env::temp_dir()))
        .ok_or_else(|| {
            format!(
                "both the cache directory and the temporary directory are inside {}: \
                 set XDG_CACHE_HOME to a directory outside it",
                root.display()
            )
        })
}

#[cfg(test)]
mod work_dir_tests {
    use super::*;

    #[test]
    fn worker_trees_are_outside_the_tree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = work_dir(&root).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert!(!dir.starts_with(&root), "{}", dir.display());
        assert!(dir.is_absolute());
        // One per tree, the same each time.
        assert_eq!(work_dir(&root).unwrap(), dir);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(work_dir(other.path()).unwrap(), dir);
    }
}

/// How long a worker's setup (its xtask and the starter's build, cold the
/// first time) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(3600);

struct Worker<'a> {
    ctx: &'a Ctx,
    opts: &'a Options,
    starter: &'a Path,
    tree: PathBuf,
    labs: LabSet,
    /// The programs of the spec's host runs, built with the kernel.
    host_programs: &'a [String],
    /// Whether the build writes xv6's names for gdb (a run's `stop_at`).
    gdb_names: bool,
    files: &'a [String],
    grader: &'a Path,
    grader_args: &'a [String],
    max_score: u64,
    sandbox: &'a Sandbox,
    reference: &'a Reference,
    /// The submissions directory, absolute (for replay lines).
    dir: &'a Path,
    number: usize,
}

/// Set to skip the source check, so that tests can show the sandbox alone
/// stops what it refuses.
const UNCHECKED_FOR_TESTS: &str = "XTASK_BATCH_UNCHECKED_FOR_TESTS";

/// A warm target directory ([`crate::fsutil::seed_target`]) that a new
/// worker's starts as a copy of, so that the worker trees of a CI run do not
/// each build every crate of the registry cold.
const SEED_TARGET: &str = "XTASK_BATCH_SEED_TARGET";

impl Worker<'_> {
    fn src(&self) -> PathBuf {
        self.tree.join("tree")
    }

    fn target(&self) -> PathBuf {
        self.tree.join("target")
    }

    /// What a build may see: its worker's directory, writable.
    fn build_mounts(&self) -> Mounts<'_> {
        Mounts {
            writable: vec![&self.tree],
            readable: vec![],
        }
    }

    /// `cargo xtask build` of the worker tree's lab kernel, in the sandbox.
    fn build_command(&self) -> Command {
        let mut cmd = self
            .sandbox
            .command("cargo", &self.src(), &self.build_mounts());
        cmd.args(["xtask", "build"]);
        if let Some(features) = self.labs.features() {
            cmd.args(["--lab", &features]);
        }
        for p in self.host_programs {
            cmd.args(["--host", p]);
        }
        if self.gdb_names {
            cmd.arg("--gdb-names");
        }
        cmd.env("CARGO_TARGET_DIR", self.target());
        cmd
    }

    /// A copy of the starter tree of its own, its crates fetched (the
    /// sandbox has no network) and its xtask built in the sandbox (kept
    /// between batches, so its target directory keeps the trusted crates).
    fn prepare(&self) -> Result<(), String> {
        let w = self.number;
        eprintln!(
            "batch: worker {w}: copying the starter tree to {}",
            self.src().display()
        );
        // A new worker may start from a warm target directory (CI names one)
        // instead of building every crate cold.
        let seeded = match std::env::var_os(SEED_TARGET) {
            Some(seed) if !self.tree.exists() => {
                eprintln!(
                    "batch: worker {w}: starting its target directory as a copy of {}",
                    Path::new(&seed).display()
                );
                Some(crate::fsutil::seed_target(
                    Path::new(&seed),
                    &self.target(),
                )?)
            }
            _ => None,
        };
        copy_tree(self.starter, &self.src())?;
        if let Some(stamp) = seeded
            && let Some(old) = crate::fsutil::not_newer(&self.src(), stamp)
        {
            // Cargo could take the seed's artifact built from another text
            // of this file for fresh.
            eprintln!(
                "batch: worker {w}: {} is not newer than the seed: building cold",
                old.display()
            );
            std::fs::remove_dir_all(self.target())
                .map_err(|e| format!("cannot remove {}: {e}", self.target().display()))?;
        }
        let host = self.ctx.host()?.to_owned();
        let mut fetch = self.ctx.cargo(
            Env::Host,
            [
                "fetch",
                "--locked",
                "--target",
                &host,
                "--target",
                crate::run::TARGET,
            ],
        );
        fetch.current_dir(self.src());
        self.ctx.run(&mut fetch)?;
        eprintln!("batch: worker {w}: building its xtask in the sandbox (the first time: minutes)");
        let mut cmd = self
            .sandbox
            .command("cargo", &self.src(), &self.build_mounts());
        cmd.args(["build", "-q", "-p", "xtask"])
            .env("CARGO_TARGET_DIR", self.target());
        let log = self.tree.join("setup.log");
        match run_with_timeout(cmd, SETUP_TIMEOUT, &log) {
            Ok(true) => {}
            _ => {
                return Err(format!(
                    "building xtask in its tree failed: {} (all of it in {})",
                    build_errors(&log).lines().next().unwrap_or(""),
                    log.display()
                ));
            }
        }
        // The starter's kernel and image too, under the setup's timeout: a
        // worker's first build is otherwise cold (every dependency for the
        // riscv target), which --build-timeout is not meant for; each
        // submission's build then recompiles only what it changed.
        eprintln!("batch: worker {w}: building the starter's kernel in the sandbox");
        let cmd = self.build_command();
        let log = self.tree.join("warm.log");
        match run_with_timeout(cmd, SETUP_TIMEOUT, &log) {
            Ok(true) => Ok(()),
            _ => Err(format!(
                "building the starter in its tree failed: {} (all of it in {})",
                build_errors(&log).lines().next().unwrap_or(""),
                log.display()
            )),
        }
    }

    /// The configuration's outputs in the worker's target directory.
    fn built(&self, file: &str) -> PathBuf {
        self.target()
            .join("xv6")
            .join(self.labs.config_name())
            .join(file)
    }

    fn grade(&self, name: &str, form: &Form, out: &Path) -> Outcome {
        let start = Instant::now();
        let _ = std::fs::remove_dir_all(out);
        let _ = std::fs::create_dir_all(out);
        let scratch = self.tree.join("patch");
        let (status, redactor) =
            match submission::read_files(form, self.files, self.starter, &scratch) {
                Err(Refused(reason)) => (Status::Refused { reason }, self.reference.redactor(&[])),
                Ok(taken) => {
                    let redactor = self
                        .reference
                        .redactor(&taken)
                        .rewrite(self.grader_replay(), self.batch_replay(name));
                    let status = match self.build(form, taken, out) {
                        Err(status) => status,
                        Ok(()) if self.opts.build_only => Status::Graded,
                        Ok(()) => match self.run_grader(out) {
                            Ok(()) => Status::Graded,
                            Err(message) => Status::GraderError { message },
                        },
                    };
                    (status, redactor)
                }
            };
        // Every file written for this submission, and what the summary
        // takes from them.
        match redactor.dir(out) {
            Ok(0) => {}
            Ok(n) => eprintln!(
                "batch: {name}: reference solution text redacted in {n} file(s) of {}",
                out.display()
            ),
            Err(e) => eprintln!("batch: {name}: cannot redact {}: {e}", out.display()),
        }
        let mut status = match status {
            Status::BuildFailed { excerpt } => Status::BuildFailed {
                excerpt: redactor.text(&excerpt).0,
            },
            Status::GraderError { message } => Status::GraderError {
                message: redactor.text(&message).0,
            },
            other => other,
        };
        let mut report = None;
        if status == Status::Graded && !self.opts.build_only {
            match read_report(&out.join("report.json")) {
                Ok(r) => report = Some(r),
                Err(message) => status = Status::GraderError { message },
            }
        }
        let score = report.as_ref().map_or(0, |r| u64::from(r.score));
        Outcome {
            name: name.to_owned(),
            status,
            score,
            max_score: self.max_score,
            seconds: start.elapsed().as_secs_f64(),
            report,
            out: out.to_path_buf(),
        }
    }

    /// The grader's own replay command (see [`Self::run_grader`]).
    fn grader_replay(&self) -> String {
        let q = |p: PathBuf| grader::grade::shell_quote(&p.to_string_lossy());
        let mut line = format!(
            "grader --root {} --kernel {} --fs {}",
            q(self.src()),
            q(self.built("kernel")),
            q(self.built("fs.img"))
        );
        if !self.host_programs.is_empty() {
            line += &format!(" --host-bin {}", q(self.target().join("release")));
        }
        line
    }

    /// What replays a test of submission `name`: a batch of that one,
    /// rebuilt in a worker tree (run where the batch was).
    fn batch_replay(&self, name: &str) -> String {
        format!(
            "cargo xtask grade --submissions {} --only {}{}",
            grader::grade::shell_quote(&self.dir.to_string_lossy()),
            grader::grade::shell_quote(name),
            if self.sandbox.enabled() {
                ""
            } else {
                " --no-sandbox"
            }
        )
    }

    /// Puts the student's files over a fresh copy of the starter and builds
    /// the kernel and disk image (with the worker's own, trusted, xtask) in
    /// the sandbox.
    fn build(
        &self,
        form: &Form,
        mut taken: Vec<(String, Vec<u8>)>,
        out: &Path,
    ) -> Result<(), Status> {
        if taken.is_empty() {
            return Err(Status::Refused {
                reason: format!("none of {} is in the submission", self.files.join(", ")),
            });
        }
        let checked = std::env::var_os(UNCHECKED_FOR_TESTS).is_none();
        for (file, bytes) in &taken {
            let text = String::from_utf8(bytes.clone()).map_err(|_| Status::Refused {
                reason: format!("{file} is not UTF-8 text"),
            })?;
            if checked {
                submission::check_source(file, &text)
                    .map_err(|Refused(reason)| Status::Refused { reason })?;
            }
        }
        // The trusted tree afresh (a file unchanged is not rewritten, so
        // cargo rebuilds only what changed; a file the starter lacks goes),
        // then the student's: nothing of an earlier submission stays.
        copy_tree(self.starter, &self.src()).map_err(|message| Status::GraderError { message })?;
        if let Form::Tree(_) = form {
            // Read as the lab files are: no links out of the submission.
            let extras = submission::extra_files(&self.opts.lab);
            let scratch = self.tree.join("patch");
            taken.extend(
                submission::read_files(form, &extras, self.starter, &scratch)
                    .map_err(|Refused(reason)| Status::Refused { reason })?,
            );
        }
        for (file, bytes) in &taken {
            std::fs::write(self.src().join(file), bytes).map_err(|e| Status::GraderError {
                message: format!("cannot write {file}: {e}"),
            })?;
        }
        let cmd = self.build_command();
        let log = out.join("build.log");
        match run_with_timeout(cmd, self.opts.build_timeout, &log) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Status::BuildFailed {
                excerpt: build_errors(&log),
            }),
            Err(Timeout) => Err(Status::BuildTimeout),
        }
    }

    /// The trusted grader, with the trusted specs (the worker tree's copy
    /// of the starter's), on this build, in the sandbox: QEMU runs the
    /// student's kernel there, seeing the build read-only and writing only
    /// the submission's results.
    fn run_grader(&self, out: &Path) -> Result<(), String> {
        let mounts = Mounts {
            writable: vec![out],
            readable: vec![&self.tree, self.grader],
        };
        let mut cmd = self.sandbox.command(self.grader, &self.src(), &mounts);
        cmd.arg("--root")
            .arg(self.src())
            .arg("--kernel")
            .arg(self.built("kernel"))
            .arg("--fs")
            .arg(self.built("fs.img"));
        if !self.host_programs.is_empty() {
            cmd.arg("--host-bin").arg(self.target().join("release"));
        }
        cmd.arg(&self.opts.lab)
            .args(["-j", "1", "--json"])
            .arg(out.join("report.json"))
            .arg("--gradescope")
            .arg(out.join("results.json"))
            .args(self.grader_args)
            .env("CARGO_TARGET_DIR", out)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(out.join("grade.txt")).map_err(|e| e.to_string())?,
            ))
            .stderr(Stdio::piped());
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run the grader: {e}"))?;
        // 0 full marks, 1 below: both are grades; anything else is not.
        match output.status.code() {
            Some(0 | 1) => Ok(()),
            _ => Err(String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("the grader failed")
                .to_owned()),
        }
    }
}

/// Makes `to` a copy of the tree `from` (without its build output and
/// history), writing only the files that differ, so that a kept worker
/// tree stays warm; what `to` holds that `from` does not (files of an older
/// starter) goes.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        let mut kept = std::collections::HashSet::new();
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            let (src, dst) = (entry.path(), to.join(&name));
            let dst_type = std::fs::symlink_metadata(&dst).ok().map(|m| m.file_type());
            if entry.file_type()?.is_dir() {
                // Build output (worker trees among it) and history are not
                // part of a tree.
                if name == "target" || name == ".git" {
                    continue;
                }
                if dst_type.is_some_and(|t| !t.is_dir()) {
                    std::fs::remove_file(&dst)?;
                }
                copy(&src, &dst)?;
            } else {
                if dst_type.is_some_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&dst)?;
                }
                let bytes = std::fs::read(&src)?;
                if std::fs::read(&dst).ok().as_ref() != Some(&bytes) {
                    std::fs::write(&dst, bytes)?;
                }
            }
            kept.insert(name);
        }
        for entry in std::fs::read_dir(to)? {
            let entry = entry?;
            if !kept.contains(&entry.file_name()) {
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        Ok(())
    }
    copy(from, to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

#[cfg(test)]
mod copy_tree_tests {
    use super::copy_tree;

    #[test]
    fn a_kept_copy_loses_what_the_tree_no_longer_has() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (f, t) = (from.path(), to.path().join("tree"));
        std::fs::create_dir_all(f.join("src/handout")).unwrap();
        std::fs::write(f.join("src/handout.rs"), "old").unwrap();
        std::fs::write(f.join("src/kept.rs"), "kept").unwrap();
        std::fs::create_dir_all(f.join("target/debug")).unwrap();
        std::fs::write(f.join("target/debug/x"), "built").unwrap();
        copy_tree(f, &t).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.join("src/handout.rs")).unwrap(),
            "old"
        );
        assert!(!t.join("target").exists());
        let mtime = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let kept_before = mtime(&t.join("src/kept.rs"));

        // The file becomes a directory module; an old file and a whole
        // directory go; a file turns into a directory and back.
        std::fs::remove_file(f.join("src/handout.rs")).unwrap();
        std::fs::write(f.join("src/handout/mod.rs"), "new").unwrap();
        std::fs::create_dir_all(t.join("stale/deep")).unwrap();
        std::fs::write(t.join("stale/deep/x"), "").unwrap();
        std::fs::write(t.join("src/stale.rs"), "").unwrap();
        std::fs::write(f.join("swap"), "file").unwrap();
        std::fs::create_dir_all(t.join("swap")).unwrap();
        std::fs::create_dir_all(f.join("swap2")).unwrap();
        std::fs::write(t.join("swap2"), "").unwrap();
        copy_tree(f, &t).unwrap();
        assert!(!t.join("src/handout.rs").exists());
        assert_eq!(
            std::fs::read_to_string(t.join("src/handout/mod.rs")).unwrap(),
            "new"
        );
        assert!(!t.join("stale").exists() && !t.join("src/stale.rs").exists());
        assert_eq!(std::fs::read_to_string(t.join("swap")).unwrap(), "file");
        assert!(t.join("swap2").is_dir());
        // Unchanged files are not written again (the worker's build stays warm).
        assert_eq!(mtime(&t.join("src/kept.rs")), kept_before);
    }
}

struct Timeout;

/// Runs `cmd` in a process group of its own with its output in `log`;
/// whether it succeeded, or `Timeout` (the group killed) after `limit`.
fn run_with_timeout(mut cmd: Command, limit: Duration, log: &Path) -> Result<bool, Timeout> {
    use std::os::unix::process::CommandExt;
    let file = std::fs::File::create(log).map_err(|_| Timeout)?;
    let err = file.try_clone().map_err(|_| Timeout)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0);
    let mut child: Child = cmd.spawn().map_err(|_| Timeout)?;
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status.success());
        }
        if Instant::now() >= deadline {
            // The whole group: cargo, rustc and whatever a build script ran.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            return Err(Timeout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first error lines of a build log.
fn build_errors(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.by_ref().take(1 << 20).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("error"))
        .take(12)
        .collect();
    if lines.is_empty() {
        text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    } else {
        lines.join("\n")
    }
}

// The class summary (terminal, CSV, JSON, HTML) is in batch/summary.rs.
#[cfg(test)]
mod browser_tests;
pub mod shard;
mod summary;
pub use summary::*;

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn outcome(
        name: &str,
        score: u64,
        status: Status,
        report: Option<Report>,
    ) -> Outcome {
        Outcome {
            name: name.into(),
            status,
            score,
            max_score: 10,
            seconds: 1.0,
            report,
            out: PathBuf::from("out"),
        }
    }

    /// A scored test worth 5 that ended `outcome`, with `context`.
    fn test(name: &str, outcome: TestOutcome, context: &[&str]) -> TestReport {
        let passed = outcome == TestOutcome::Pass;
        TestReport {
            name: name.into(),
            points: if passed { 5 } else { 0 },
            max_points: 5,
            outcome,
            seconds: Some(2.0),
            visibility: Default::default(),
            context: context.iter().map(|&c| c.to_owned()).collect(),
            log: None,
            replay: None,
            parts: Vec::new(),
        }
    }

    /// A parent test: its points and outcome from `parts`.
    fn parent(name: &str, parts: Vec<TestReport>) -> TestReport {
        let mut t = test(name, TestOutcome::Pass, &[]);
        t.points = parts.iter().map(|p| p.points).sum();
        t.max_points = parts.iter().map(|p| p.max_points).sum();
        if let Some(bad) = parts.iter().find(|p| p.outcome != TestOutcome::Pass) {
            t.outcome = bad.outcome;
        }
        t.parts = parts;
        t
    }

    /// A lab-cow report of these tests, as the grader writes and batch
    /// reads it back.
    fn lab_report(tests: Vec<TestReport>) -> Report {
        let mut lab = grader::report::LabReport::new(
            "lab-cow".into(),
            1,
            Default::default(),
            "cargo xtask grade lab-cow --seed 1".into(),
        );
        tests.into_iter().for_each(|t| lab.push(t));
        Report::parse(&grader::report::json(&[lab])).unwrap()
    }

    pub(super) fn report(simple: bool, three: bool) -> Report {
        let t = |name: &str, ok: bool, msg: &str| {
            if ok {
                test(name, TestOutcome::Pass, &[])
            } else {
                test(name, TestOutcome::Fail, &[msg])
            }
        };
        lab_report(vec![
            t("simple", simple, "missing a line matching /^simple: ok$/"),
            parent("usertests", vec![t("usertests: copyin", three, "TIMEOUT")]),
        ])
    }

    /// The batch `cargo xtask grade ARGS` asks for, or its usage error.
    fn batch(line: &str) -> Result<Option<Options>, String> {
        let args = std::iter::once("grade")
            .chain(line.split_whitespace())
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>();
        let Ok(crate::args::Command::Grade(g)) = crate::args::parse(args) else {
            return Err(format!("`grade {line}` does not parse"));
        };
        let known = ["lab-cow".to_owned(), "lab-util".to_owned()];
        Options::new(&g.grader, &g.batch, &known)
    }

    #[test]
    fn parses_batch_options_and_leaves_the_rest_to_the_grader() {
        let o = batch("lab-cow --submissions subs -j 3 --seed 7 simple --csv=x.csv")
            .unwrap()
            .unwrap();
        assert_eq!(o.lab, "lab-cow");
        assert_eq!(o.dir, PathBuf::from("subs"));
        assert_eq!(o.jobs, 3);
        assert_eq!(o.csv, Some(PathBuf::from("x.csv")));
        assert_eq!(o.build_timeout, Duration::from_secs(300));
        assert_eq!(o.grader_args(None), ["--seed", "7", "simple"]);
        assert_eq!(
            o.grader_args(Some(2.0)),
            ["--seed", "7", "--timeout-scale", "2", "simple"]
        );
        assert!(batch("lab-cow").unwrap().is_none());
        assert!(batch("--submissions d").is_err());
        assert!(batch("lab-cow --submissions d lab-util").is_err());
        assert!(batch("lab-cow --submissions d --junit j.xml").is_err());
    }

    #[test]
    fn a_grader_option_value_is_not_taken_for_the_lab() {
        // `--features cow` once made `cow` the batch's lab.
        let o = batch("--features cow lab-cow --submissions d --cpus 2 --build-timeout 1m")
            .unwrap()
            .unwrap();
        assert_eq!(o.lab, "lab-cow");
        assert_eq!(o.build_timeout, Duration::from_secs(60));
        assert_eq!(o.grader_args(None), ["--features", "cow", "--cpus", "2"]);
        // Nor is a file after --json; a lab after a bare --json is the lab.
        for line in [
            "--json out.json lab-cow --submissions d",
            "--submissions d --seed 1 lab-cow --json out.json",
        ] {
            let o = batch(line).unwrap().unwrap();
            assert_eq!(
                (o.lab.as_str(), o.json),
                ("lab-cow", Some("out.json".into()))
            );
        }
        let o = batch("--json lab-cow --submissions d").unwrap().unwrap();
        assert_eq!((o.lab.as_str(), o.json), ("lab-cow", Some("-".into())));
    }

    #[test]
    fn summary_counts_passes_and_the_common_failure() {
        let outcomes = [
            outcome("alice", 10, Status::Graded, Some(report(true, true))),
            outcome("bob", 5, Status::Graded, Some(report(false, true))),
            outcome("carol", 0, Status::Graded, Some(report(false, false))),
            outcome(
                "dave",
                0,
                Status::BuildFailed {
                    excerpt: "error[E0425]: x".into(),
                },
                None,
            ),
        ];
        let s = Summary::new("lab-cow", 10, &outcomes);
        let simple = &s.tests[0];
        assert_eq!((simple.passed, simple.graded), (1, 3));
        assert_eq!(
            simple.common_failure,
            Some(("missing a line matching /^simple: ok$/".into(), 2))
        );
        let csv = s.csv();
        assert!(
            csv.starts_with(
                "submission,score,max_score,status,seconds,reason,detail,report,logs,\
                 simple,usertests: copyin\n"
            ),
            "{csv}"
        );
        assert!(csv.contains("bob,5,10,graded,1.0,FAIL,,,,0,5\n"), "{csv}");
        assert!(
            csv.contains("dave,0,10,build failed,1.0,BUILD FAILED,error[E0425]: x,,,0,0\n"),
            "{csv}"
        );
        let html = s.html(Path::new("."));
        assert!(html.contains("<td>dave</td>") && html.contains("error[E0425]: x"));
        assert!(s.table().contains("1/3"));
        let json: Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(json["submissions"][3]["status"], "build_failed");
        assert_eq!(json["submissions"][3]["reason"], "BUILD FAILED");
    }

    /// A report whose one test ended `outcome` with `message`.
    fn ended(outcome: TestOutcome, message: &str) -> Report {
        lab_report(vec![
            test("simple", TestOutcome::Pass, &[]),
            parent(
                "usertests",
                vec![
                    test("usertests: a", outcome, &[message]),
                    test("usertests: b", TestOutcome::Fail, &["missing"]),
                ],
            ),
        ])
    }

    #[test]
    fn every_way_a_submission_ends_is_named_in_every_summary() {
        let graded = |name: &str, how: TestOutcome| {
            outcome(
                name,
                5,
                Status::Graded,
                Some(ended(how, "the run was stopped")),
            )
        };
        let outcomes = [
            outcome("full", 10, Status::Graded, Some(report(true, true))),
            graded("flood", TestOutcome::OutputLimit),
            graded("hang", TestOutcome::Timeout),
            graded("crash", TestOutcome::Panic),
            outcome(
                "thief",
                0,
                Status::Refused {
                    reason: "labs/src/cow.rs:3: `include_str!` reads outside the tree".into(),
                },
                None,
            ),
            outcome(
                "broken",
                0,
                Status::BuildFailed {
                    excerpt: "error[E0308]: mismatched types\n --> labs/src/cow.rs:9:5".into(),
                },
                None,
            ),
            outcome("slow", 0, Status::BuildTimeout, None),
        ];
        let want = [
            ("full", ""),
            ("flood", "OUTPUT LIMIT, FAIL"),
            ("hang", "TIMEOUT, FAIL"),
            ("crash", "PANIC, FAIL"),
            ("thief", "REFUSED"),
            ("broken", "BUILD FAILED"),
            ("slow", "BUILD TIMEOUT"),
        ];
        let s = Summary::new("lab-cow", 10, &outcomes);
        // The terminal table: each row says it.
        let table = s.table();
        for (name, reason) in want {
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no row for {name}: {table}"));
            let shown = if reason.is_empty() { "OK" } else { reason };
            assert!(row.contains(shown), "{name}: {row}");
        }
        assert!(
            table.contains("REFUSED: labs/src/cow.rs:3: `include_str!`"),
            "{table}"
        );
        // CSV, read back with a CSV reader.
        let csv = s.csv();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        for ((name, reason), row) in want.iter().zip(&rows) {
            assert_eq!(&row[column("submission")], *name);
            assert_eq!(&row[column("reason")], *reason, "{name}");
        }
        assert_eq!(&rows[5][column("detail")], "error[E0308]: mismatched types");
        // JSON.
        let json: Value = serde_json::from_str(&s.json()).unwrap();
        for ((name, reason), o) in want.iter().zip(json["submissions"].as_array().unwrap()) {
            assert_eq!(o["name"], *name);
            assert_eq!(o["reason"], *reason, "{name}");
        }
        // HTML: a cell each.
        let html = s.html(Path::new("."));
        for (name, reason) in want {
            let shown = if reason.is_empty() { "OK" } else { reason };
            assert!(
                html.contains(&format!("<td>{name}</td><td class=\"n\" data-sort=")),
                "{name}"
            );
            assert!(html.contains(&format!("<td>{shown}</td>")), "{shown}");
        }
    }

    #[test]
    fn gradescope_gets_a_zero_with_the_reason_for_an_ungraded_submission() {
        let o = outcome(
            "s",
            0,
            Status::BuildFailed {
                excerpt: "error[E0425]: x".into(),
            },
            None,
        );
        let results: grader::report::Gradescope =
            serde_json::from_str(&gradescope_results(&o)).unwrap();
        assert_eq!(
            results,
            grader::report::Gradescope::not_graded("The build failed:\nerror[E0425]: x".into())
        );
        let refused = outcome(
            "s",
            0,
            Status::Refused {
                reason: "labs/src/cow.rs:1: `asm!`".into(),
            },
            None,
        );
        let text = gradescope_results(&refused);
        assert!(
            text.contains("\"output\": \"refused: labs/src/cow.rs:1: `asm!`\""),
            "{text}"
        );
        assert!(!text.contains("execution_time"), "{text}");
    }

    #[test]
    fn a_report_missing_or_not_the_graders_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let err = read_report(&path).unwrap_err();
        assert!(err.starts_with("the grader wrote no report"), "{err}");
        std::fs::write(&path, r#"{"score": "ten"}"#).unwrap();
        let err = read_report(&path).unwrap_err();
        assert!(err.contains("report.json: not a grader report"), "{err}");
        std::fs::write(&path, grader::report::json(&[])).unwrap();
        assert_eq!(read_report(&path).unwrap().labs, []);
    }

    #[test]
    fn the_common_failure_counts_a_message_once_whatever_the_seed() {
        let outcomes = [
            outcome(
                "a",
                5,
                Status::Graded,
                Some(ended(
                    TestOutcome::Fail,
                    "child sum 3199474911744 != 3199474911745",
                )),
            ),
            outcome(
                "b",
                5,
                Status::Graded,
                Some(ended(TestOutcome::Fail, "child sum 12 != 13")),
            ),
            outcome(
                "c",
                5,
                Status::Graded,
                Some(ended(TestOutcome::Fail, "pa 0x87f3a000 not mapped")),
            ),
        ];
        let s = Summary::new("lab-cow", 10, &outcomes);
        let a = s.tests.iter().find(|t| t.name == "usertests: a").unwrap();
        assert_eq!(a.common_failure, Some(("child sum N != N".into(), 2)));
        assert_eq!(
            without_numbers("pa 0x87f3a000 not mapped"),
            "pa N not mapped"
        );
        assert_eq!(
            without_numbers("test sbrk1: 4096 bytes"),
            "test sbrkN: N bytes"
        );
        assert_eq!(without_numbers("no numbers"), "no numbers");
    }

    #[test]
    fn rows_link_their_report_and_logs_and_submission_text_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("batch/results");
        let name = "<img src=x onerror=alert(1)> & \"x\" #1";
        let out = results.join(name);
        std::fs::create_dir_all(out.join("grade/runs/1/lab-cow")).unwrap();
        std::os::unix::fs::symlink("runs/1/lab-cow", out.join("grade/lab-cow")).unwrap();
        for file in [
            "grade.txt",
            "report.json",
            "build.log",
            "grade/runs/1/lab-cow/cow.log",
        ] {
            std::fs::write(out.join(file), "x").unwrap();
        }
        let mut o = outcome(
            name,
            0,
            Status::Refused {
                reason: "<b>bold</b> & more".into(),
            },
            None,
        );
        o.out = out.clone();
        let outcomes = [o];
        let s = Summary::new("lab-cow", 10, &outcomes);
        let page_dir = dir.path().join("pages");
        let html = s.html(&page_dir);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>bold"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;x&quot; #1"),
            "{html}"
        );
        let encoded = "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%26%20%22x%22%20%231";
        for (label, file) in [
            ("report", "grade.txt"),
            ("report.json", "report.json"),
            ("build log", "build.log"),
            ("cow.log", "grade/lab-cow/cow.log"),
        ] {
            let link = format!("<a href=\"../batch/results/{encoded}/{file}\">{label}</a>");
            assert!(html.contains(&link), "{link} in {html}");
        }
        // CSV and JSON give the paths themselves.
        let csv = s.csv();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], name);
        assert_eq!(&row[7], out.join("grade.txt").display().to_string());
        assert_eq!(
            &row[8],
            format!(
                "{} {}",
                out.join("build.log").display(),
                out.join("grade/lab-cow/cow.log").display()
            )
        );
        let json: Value = serde_json::from_str(&s.json()).unwrap();
        let files = &json["submissions"][0]["files"];
        assert_eq!(files["report"], out.join("grade.txt").display().to_string());
        assert_eq!(
            files["logs"][0],
            out.join("grade/lab-cow/cow.log").display().to_string()
        );
    }
}
