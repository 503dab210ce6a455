//! `cargo xtask bench`: the speeds a student and an instructor feel, each
//! measured several times, with a line about the machine; `--json` keeps
//! them for history and `--baseline` compares them with a saved run.
//!
//! Wall figures come from the host (a boot, a grade, an edit-build-grade
//! loop); in-guest figures from the `bench` user program, which reads the
//! `time` CSR (10 MHz) around what it measures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::build;
use crate::labs::LabSet;
use crate::run::{Ctx, Env};

/// Which way is good.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

/// One measured quantity and every sample of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub better: Better,
    pub samples: Vec<f64>,
}

impl Figure {
    fn sorted(&self) -> Vec<f64> {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        s
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    pub fn median(&self) -> f64 {
        let s = self.sorted();
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
        }
    }
}

/// What the figures were measured on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Machine {
    pub cores: usize,
    pub qemu: String,
    pub commit: String,
    pub quick: bool,
}

impl Machine {
    fn describe(&self) -> String {
        format!(
            "{} cores, QEMU {}, commit {}{}; boots at 1 and 3 harts, guest figures at 3 \
             (and the null system call at 1)",
            self.cores,
            self.qemu,
            self.commit,
            if self.quick { ", --quick" } else { "" }
        )
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Results {
    pub machine: Machine,
    pub figures: Vec<Figure>,
}

#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Only the first three (boots, the edit-rebuild-grade loop, in-guest
    /// figures; about 2 minutes)
    #[arg(long)]
    pub quick: bool,
    /// Samples of each light figure (default 5; heavier ones take fewer)
    #[arg(long, value_name = "N", value_parser = parse_runs)]
    pub runs: Option<usize>,
    /// Save the figures to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Compare with a run saved by --json: exit status 1 if a figure got
    /// slower beyond its spread and the threshold
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Compare this saved run with the baseline instead of measuring
    #[arg(long, value_name = "FILE", requires = "baseline")]
    pub compare: Option<PathBuf>,
    #[arg(long, value_name = "F", value_parser = grader::args::parse_factor,
          help = format!("The slowdown --baseline flags, a ratio above 1 [default: {DEFAULT_THRESHOLD}]"))]
    pub threshold: Option<f64>,
}

fn parse_runs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("a number of runs, at least 1".into()),
    }
}

/// A slowdown smaller than this is never flagged, however tight the spread.
pub const DEFAULT_THRESHOLD: f64 = 1.25;

pub fn run(ctx: &Ctx, opts: &Options) -> Result<bool, String> {
    let threshold = opts.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(threshold > 1.0 && threshold.is_finite()) {
        return Err("--threshold must be a number above 1 (a ratio, e.g. 1.25)".into());
    }
    let results = match &opts.compare {
        Some(path) => load(path)?,
        None => {
            let r = measure(ctx, opts)?;
            print_table(&r);
            r
        }
    };
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&results).expect("figures serialise");
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    let Some(base) = &opts.baseline else {
        return Ok(true);
    };
    let baseline = load(base)?;
    let rows = compare(&baseline, &results, threshold);
    print_comparison(&baseline, &results, &rows);
    Ok(rows.iter().all(|r| !r.regressed))
}

fn load(path: &Path) -> Result<Results, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a bench result (from `cargo xtask bench --json`): {e}",
            path.display()
        )
    })
}

// ---- measuring ----

/// Collects figures, keeping their order.
struct Sheet {
    figures: Vec<Figure>,
}

impl Sheet {
    fn add(&mut self, name: &str, unit: &str, better: Better, value: f64) {
        match self.figures.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push(value),
            None => self.figures.push(Figure {
                name: name.to_owned(),
                unit: unit.to_owned(),
                better,
                samples: vec![value],
            }),
        }
    }

    fn seconds(&mut self, name: &str, d: Duration) {
        self.add(name, "s", Better::Lower, d.as_secs_f64());
    }
}

fn measure(ctx: &Ctx, opts: &Options) -> Result<Results, String> {
    let light = opts.runs.unwrap_or(5).max(1);
    let medium = light.div_ceil(2).max(2);
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        qemu: grader::qemu::check()
            .map(|(a, b)| format!("{a}.{b}"))
            .map_err(|e| format!("bench needs QEMU: {e}"))?,
        commit: git_commit(ctx),
        quick: opts.quick,
    };
    eprintln!("bench: {}", machine.describe());
    // Builds are not what is measured: make every configuration first.
    let base = build::build(ctx, &LabSet::BASE)?;
    let registry = crate::labs::registry();
    let mut guest_labs = Vec::new();
    for lab in &registry.labs {
        if let Some(b) = measured(lab, opts.quick)
            && let Some(programs) = &b.programs
        {
            let built = build::build(ctx, &LabSet::parse(&lab.name)?)?;
            guest_labs.push((lab.name.as_str(), b.cpus, programs.as_str(), built));
        }
    }
    // Labs with figures of their own: guest commands on their kernel, runs
    // of their host programs.
    let mut own_labs = Vec::new();
    for lab in &registry.labs {
        let Some(b) =
            measured(lab, opts.quick).filter(|b| !b.guest.is_empty() || !b.host.is_empty())
        else {
            continue;
        };
        let built = match lab.is_kernel() {
            true => Some(build::build(ctx, &LabSet::parse(&lab.name)?)?),
            false => None,
        };
        let programs: Vec<String> = b
            .host
            .iter()
            .filter_map(|h| h.run.split_whitespace().next().map(str::to_owned))
            .collect();
        let host_dir = match programs.is_empty() {
            true => None,
            false => Some(build::build_host(ctx, &programs)?),
        };
        own_labs.push((b, built, host_dir));
    }
    let (loop_lab, loop_test) = registry
        .bench_loop()
        .ok_or("no lab of labs/registry.toml has bench's `grade`: bench needs one")?;
    let mut sheet = Sheet {
        figures: Vec::new(),
    };

    progress("boot to the first prompt");
    guest(&base, 3, &[])?; // warm the host's caches
    for cpus in [1, 3] {
        for _ in 0..light {
            let t = guest(&base, cpus, &[])?;
            sheet.seconds(&format!("boot, {cpus} hart{}", plural(cpus)), t.elapsed);
        }
    }

    progress("in-guest figures (bench)");
    for _ in 0..medium {
        let figures = "null forktest forkexec pipe file fork48";
        guest_figures(&mut sheet, &base, 3, "", figures)?;
        for (name, cpus, programs, built) in &guest_labs {
            guest_figures(&mut sheet, built, *cpus, name, programs)?;
        }
    }
    progress("the labs' own figures");
    for _ in 0..medium {
        for (b, built, host_dir) in &own_labs {
            lab_figures(
                &mut sheet,
                b,
                built.as_ref().unwrap_or(&base),
                host_dir.as_deref(),
            )?;
        }
    }
    // The trap path alone, as xv6's figure was taken: 1 hart, so that idle
    // harts do not share the host's cores with it.
    for _ in 0..light {
        guest_figures(&mut sheet, &base, 1, "", "null")?;
    }

    progress("edit a lab file, rebuild, grade one test");
    let (spec, file) = (
        loop_lab.spec(),
        loop_lab.kernel_file().expect("checked on load"),
    );
    let loop_test = [spec.as_str(), loop_test];
    student_loop(ctx, &loop_test, &file)?; // warm
    for _ in 0..medium {
        let t = student_loop(ctx, &loop_test, &file)?;
        sheet.seconds("edit lab file, rebuild, grade a test", t);
    }

    if !opts.quick {
        progress("edit a kernel-base file, rebuild, grade one test");
        for _ in 0..medium {
            let t = student_loop(ctx, &loop_test, "kernel-base/src/proc.rs")?;
            sheet.seconds("edit kernel-base, rebuild, grade a test", t);
        }
        progress("usertests -q");
        for cpus in [1, 3] {
            for _ in 0..2 {
                let t = guest(&base, cpus, &["usertests -q"])?;
                if !t.console.contains("ALL TESTS PASSED") {
                    return Err(format!("usertests -q failed on {cpus} harts"));
                }
                sheet.seconds(
                    &format!("usertests -q, {cpus} hart{}", plural(cpus)),
                    t.elapsed,
                );
            }
        }
        grading(ctx, &mut sheet)?;
        for lab in registry
            .labs
            .iter()
            .filter(|l| l.bench.as_ref().is_some_and(|b| b.batch))
        {
            for jobs in [1, 2] {
                batch_throughput(ctx, &mut sheet, lab, jobs)?;
            }
        }
        merge_time(ctx, &mut sheet, loop_lab)?;
    }
    Ok(Results {
        machine,
        figures: sheet.figures,
    })
}

/// What a run measures of a lab: not its slow figures in `--quick`.
fn measured(lab: &grader::registry::Lab, quick: bool) -> Option<&grader::registry::Bench> {
    lab.bench.as_ref().filter(|b| !(quick && b.slow))
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn progress(what: &str) {
    eprintln!("bench: {what}…");
}

fn git_commit(ctx: &Ctx) -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&ctx.root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One boot that types `commands`: its console and wall time.
struct Boot {
    console: String,
    elapsed: Duration,
}

fn guest(built: &build::Outputs, cpus: u32, commands: &[&str]) -> Result<Boot, String> {
    let args = grader::qemu::graded_args(&built.kernel, &built.fs_img, cpus);
    let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
    let qemu = grader::qemu::qemu_binary();
    let session = grader::qemu::Session {
        qemu: &qemu,
        args: &args,
        commands: &commands,
        until: None,
        timeout: Duration::from_secs(600),
    };
    let t = grader::qemu::run_session(&session, &mut |_| {})
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    if t.end != grader::qemu::End::Finished {
        return Err(format!(
            "a benchmark boot did not finish ({:?}): {}",
            t.end,
            commands.join("; ")
        ));
    }
    Ok(Boot {
        console: String::from_utf8_lossy(&t.output).into_owned(),
        elapsed: t.elapsed,
    })
}

/// The figure of one null system call (getpid) on 1 hart, in µs.
const NULL_1_HART: &str = "null system call, 1 hart";
/// The same figure on xv6's C kernel (riscv, the same QEMU 7.2 and
/// machine, 100,000 getpid in 1.06 s), measured once: its sources are not
/// here to build. Printed beside ours.
const XV6_C_NULL_1_HART_US: f64 = 10.6;

/// Runs `bench <figures>` in the guest and records each line it prints
/// (`bench <name>: <number> <unit>`), named after the kernel.
fn guest_figures(
    sheet: &mut Sheet,
    built: &build::Outputs,
    cpus: u32,
    kernel: &str,
    figures: &str,
) -> Result<(), String> {
    let boot = guest(built, cpus, &[&format!("bench {figures}")])?;
    let mut found = 0;
    for (name, value, unit) in boot.console.lines().filter_map(parse_bench_line) {
        let name = match (kernel, cpus) {
            ("", 1) if name == "null" => NULL_1_HART.to_owned(),
            ("", 1) => format!("{name}, 1 hart"),
            ("", _) => name.to_owned(),
            (k, _) => format!("{name} ({k})"),
        };
        let better = if unit == "MB/s" {
            Better::Higher
        } else {
            Better::Lower
        };
        sheet.add(&name, unit, better, value);
        found += 1;
    }
    if found < figures.split_whitespace().count() {
        return Err(format!(
            "`bench {figures}` printed {found} figures; console:\n{}",
            boot.console
        ));
    }
    Ok(())
}

/// A lab's own figures (its registry entry's `bench.guest` and
/// `bench.host`): the guest commands booted on `built`, each `bench` line
/// they print a figure; each host run's number.
fn lab_figures(
    sheet: &mut Sheet,
    b: &grader::registry::Bench,
    built: &build::Outputs,
    host_dir: Option<&Path>,
) -> Result<(), String> {
    if !b.guest.is_empty() {
        let commands: Vec<&str> = b.guest.iter().map(String::as_str).collect();
        let boot = guest(built, b.cpus, &commands)?;
        let lines: Vec<_> = boot.console.lines().filter_map(parse_bench_line).collect();
        if lines.is_empty() {
            return Err(format!(
                "`{}` printed no `bench` line; console:\n{}",
                commands.join("; "),
                boot.console
            ));
        }
        for (name, value, unit) in lines {
            sheet.add(name, unit, Better::Lower, value);
        }
    }
    for h in &b.host {
        let regex = regex::Regex::new(&h.regex)
            .map_err(|e| format!("labs/registry.toml: bench host regex {}: {e}", h.regex))?;
        let mut words = h.run.split_whitespace();
        let program = words
            .next()
            .ok_or("labs/registry.toml: an empty bench host run")?;
        let dir = host_dir.expect("host programs were built");
        let out = Command::new(dir.join(program))
            .args(words)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let value = text
            .lines()
            .find_map(|l| regex.captures(l)?.get(1)?.as_str().parse::<f64>().ok())
            .filter(|_| out.status.success())
            .ok_or_else(|| format!("`{}` printed no line /{}/:\n{text}", h.run, h.regex))?;
        let better = match h.unit.ends_with("/s") {
            true => Better::Higher,
            false => Better::Lower,
        };
        sheet.add(&h.figure, &h.unit, better, value);
    }
    Ok(())
}

/// `bench fork48: 1234.5 us` → ("fork48", 1234.5, "us"); `failed` lines
/// and anything else → None.
fn parse_bench_line(line: &str) -> Option<(&str, f64, &str)> {
    let (name, rest) = line.trim().strip_prefix("bench ")?.split_once(": ")?;
    let (number, unit) = rest.split_once(' ')?;
    let value: f64 = number.parse().ok()?;
    // A count (`tas`, the lock lab's failed test-and-sets) may be 0; a
    // time or a rate may not.
    let unit = unit.trim();
    let counted = unit == "tas" && value >= 0.0;
    ((value > 0.0 || counted) && !name.contains(' ')).then_some((name, value, unit))
}

/// Touches `file` (as an editor saving it would), then `cargo xtask grade`
/// with `grade_args`: the rebuild and the grade, as a student waits for them.
fn student_loop(ctx: &Ctx, grade_args: &[&str], file: &str) -> Result<Duration, String> {
    let path = ctx.root.join(file);
    let f = std::fs::File::options()
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.set_modified(std::time::SystemTime::now())
        .map_err(|e| format!("cannot touch {}: {e}", path.display()))?;
    let mut cmd = ctx.cargo(Env::Host, ["xtask", "grade"]);
    cmd.args(grade_args);
    timed(cmd, "the edit-rebuild-grade loop")
}

/// Runs `cmd` quietly; its wall time, or an error if it failed.
fn timed(cmd: Command, what: &str) -> Result<Duration, String> {
    let (out, t) = run_timed(cmd, what)?;
    match out.status.success() {
        true => Ok(t),
        false => Err(failure(what, &out)),
    }
}

/// Runs `cmd` without colours, and how long it took.
fn run_timed(mut cmd: Command, what: &str) -> Result<(std::process::Output, Duration), String> {
    cmd.env("NO_COLOR", "1");
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    Ok((out, start.elapsed()))
}

fn failure(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How long a grade (with `--json`) took, if every test passed but for
/// those this machine could not judge (NEEDS CORES: a speed test wants
/// idle cores, and the grade's time counts all the same).
fn graded(cmd: Command, what: &str) -> Result<Duration, String> {
    use grader::report::{Outcome, Report};
    let (out, t) = run_timed(cmd, what)?;
    if out.status.success() {
        return Ok(t);
    }
    let report: Report = serde_json::from_slice(&out.stdout).map_err(|_| failure(what, &out))?;
    let judged_all_passed = report
        .labs
        .iter()
        .flat_map(|l| l.tests.iter().flat_map(|t| t.leaves()))
        .all(|t| matches!(t.outcome, Outcome::Pass | Outcome::NeedsCores));
    match judged_all_passed {
        true => Ok(t),
        false => Err(failure(what, &out)),
    }
}

/// Grading each lab alone with -j1, and every lab (`--all`) with -j1 and
/// with a run per core.
fn grading(ctx: &Ctx, sheet: &mut Sheet) -> Result<(), String> {
    // As many runs at once as the grader's default -j.
    let cores = grader::args::default_jobs();
    let labs = grader::spec::known_labs(&ctx.root);
    // The grades time grading, not the first build of a configuration.
    for lab in labs.iter().filter(|l| !is_group(ctx, l)) {
        let spec = grader::spec::load(&ctx.root, lab, 0).map_err(|e| e.to_string())?;
        build::build(ctx, &LabSet::from_features(&spec.features)?)?;
    }
    for lab in labs.iter().filter(|l| !is_group(ctx, l)) {
        progress(&format!("grade {lab}, -j1"));
        let mut cmd = ctx.cargo(Env::Host, ["xtask", "grade", lab, "-j1", "--json"]);
        cmd.current_dir(&ctx.root);
        let t = graded(cmd, &format!("grading {lab}"))?;
        sheet.seconds(&format!("grade {lab}, -j1"), t);
    }
    progress(&format!("grade --all, -j{cores}"));
    let cmd = ctx.cargo(Env::Host, ["xtask", "grade", "--all", "--json"]);
    let t = graded(cmd, "grading every lab")?;
    sheet.seconds(&format!("grade --all, -j{cores}"), t);
    Ok(())
}

/// Submissions in the batches [`batch_throughput`] grades.
const BATCH: usize = 4;

/// Writes a class of [`BATCH`] reference solutions of `lab` to `dir`, each
/// edited (a comment of its own, so each is rebuilt as a student's would
/// be).
fn write_class(
    ctx: &Ctx,
    lab: &grader::registry::Lab,
    dir: &Path,
    round: usize,
) -> Result<(), String> {
    let file = lab
        .kernel_file()
        .ok_or("batch benches are of kernel labs")?;
    let reference = std::fs::read_to_string(ctx.root.join(&file))
        .map_err(|e| format!("cannot read {file}: {e}"))?;
    for i in 0..BATCH {
        let file = dir.join(format!("s{i}")).join(&file);
        std::fs::create_dir_all(file.parent().expect("a parent"))
            .and_then(|()| {
                std::fs::write(&file, format!("{reference}// round {round}, student {i}\n"))
            })
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// `cargo xtask grade <lab> --submissions dir -j jobs`, and more arguments.
fn batch_command(ctx: &Ctx, lab: &grader::registry::Lab, dir: &Path, jobs: usize) -> Command {
    let spec = lab.spec();
    let mut cmd = ctx.cargo(Env::Host, ["xtask", "grade", &spec, "--submissions"]);
    cmd.arg(dir).args(["--jobs", &jobs.to_string()]);
    cmd
}

/// Submissions an hour `grade <lab> --submissions -j <jobs>` gets through,
/// after a first batch that builds the worker trees.
fn batch_throughput(
    ctx: &Ctx,
    sheet: &mut Sheet,
    lab: &grader::registry::Lab,
    jobs: usize,
) -> Result<(), String> {
    let spec = lab.spec();
    let dir = ctx.target_dir.join("bench").join("submissions");
    progress(&format!(
        "batch grading {spec}, {BATCH} submissions, {jobs} at a time (a first batch builds \
         the workers)"
    ));
    let _ = std::fs::remove_dir_all(&dir);
    write_class(ctx, lab, &dir, 0)?;
    timed(batch_command(ctx, lab, &dir, jobs), "a first batch")?;
    for round in 1..=2 {
        write_class(ctx, lab, &dir, round)?;
        let t = timed(batch_command(ctx, lab, &dir, jobs), "batch grading")?;
        let per_hour = BATCH as f64 * 3600.0 / t.as_secs_f64();
        let name = match jobs {
            1 => format!("batch grading {spec}, 1 worker"),
            // The figure's name from before workers were counted: 2.
            _ => format!("batch grading {spec}"),
        };
        sheet.add(&name, "submissions/h", Better::Higher, per_hour);
    }
    Ok(())
}

/// How long `cargo xtask merge` takes over the two parts of a class of
/// `lab` graded in two shards.
fn merge_time(ctx: &Ctx, sheet: &mut Sheet, lab: &grader::registry::Lab) -> Result<(), String> {
    let dir = ctx.target_dir.join("bench").join("submissions");
    progress("a class graded in 2 shards, then merged");
    let _ = std::fs::remove_dir_all(&dir);
    write_class(ctx, lab, &dir, 3)?;
    let parts = ctx.target_dir.join("batch").join(lab.spec());
    for k in 1..=2 {
        let mut cmd = batch_command(ctx, lab, &dir, 2);
        cmd.args(["--shard", &format!("{k}/2")]);
        timed(cmd, "a shard")?;
    }
    let mut merge = ctx.cargo(Env::Host, ["xtask", "merge"]);
    merge.args([1, 2].map(|k| {
        parts.join(crate::batch::shard::file_name(crate::batch::shard::Shard {
            k,
            n: 2,
        }))
    }));
    // Its own build first, so that the time is the merge's.
    timed(
        ctx.cargo(Env::Host, ["build", "-q", "-p", "xtask"]),
        "building xtask",
    )?;
    let t = timed(merge, "merging the parts")?;
    sheet.seconds(&format!("merge 2 parts of {}", lab.spec()), t);
    Ok(())
}

/// Whether a spec only groups others (`--all` grades its parts anyway).
fn is_group(ctx: &Ctx, lab: &str) -> bool {
    grader::spec::load(&ctx.root, lab, 0).is_ok_and(|s| !s.includes.is_empty())
}

// ---- reporting and comparing ----

fn print_table(r: &Results) {
    print!("{}", table(r));
}

fn table(r: &Results) -> String {
    let mut out = format!("{}\n", r.machine.describe());
    out += &format!(
        "{:<44} {:>10} {:>10} {:>10}  unit\n",
        "figure", "min", "median", "max"
    );
    for f in &r.figures {
        let note = if f.better == Better::Higher {
            " (higher is better)".to_owned()
        } else if f.name == NULL_1_HART {
            format!(
                " [xv6's C kernel: {}, so {:.2}x C's]",
                number(XV6_C_NULL_1_HART_US),
                f.median() / XV6_C_NULL_1_HART_US
            )
        } else {
            String::new()
        };
        out += &format!(
            "{:<44} {:>10} {:>10} {:>10}  {}{}\n",
            f.name,
            number(f.min()),
            number(f.median()),
            number(f.max()),
            f.unit,
            note
        );
    }
    out
}

fn number(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// One figure of a comparison.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub name: String,
    /// How many times slower the new run is (below 1: faster).
    pub slowdown: f64,
    pub regressed: bool,
}

/// Compares `new` with `base` figure by figure. A figure regressed when it
/// is more than `threshold` times slower at the median and every new
/// sample is worse than every baseline sample: the spread of both runs
/// must not explain it.
pub fn compare(base: &Results, new: &Results, threshold: f64) -> Vec<Row> {
    new.figures
        .iter()
        .filter_map(|n| {
            let b = base.figures.iter().find(|b| b.name == n.name)?;
            let (slowdown, apart) = match n.better {
                // A count (failed test-and-sets) may be 0: 0 against 0 is
                // no change.
                Better::Lower if b.median() == 0.0 && n.median() == 0.0 => (1.0, false),
                Better::Lower => (n.median() / b.median(), n.min() > b.max()),
                Better::Higher => (b.median() / n.median(), n.max() < b.min()),
            };
            Some(Row {
                name: n.name.clone(),
                slowdown,
                regressed: slowdown > threshold && apart,
            })
        })
        .collect()
}

fn print_comparison(base: &Results, new: &Results, rows: &[Row]) {
    println!();
    println!("compared with {}:", base.machine.describe());
    for r in rows {
        println!(
            "{:<44} {:>6.2}x {}",
            r.name,
            r.slowdown,
            if r.regressed {
                "SLOWER (beyond the spread)"
            } else if r.slowdown < 1.0 {
                "faster"
            } else {
                ""
            }
        );
    }
    let missing: Vec<&str> = base
        .figures
        .iter()
        .filter(|b| !new.figures.iter().any(|n| n.name == b.name))
        .map(|b| b.name.as_str())
        .collect();
    if !missing.is_empty() {
        println!("not measured this time: {}", missing.join(", "));
    }
    let slower = rows.iter().filter(|r| r.regressed).count();
    println!(
        "{}",
        if slower == 0 {
            "no figure regressed".to_owned()
        } else {
            format!("{slower} figure(s) regressed")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(figures: &[(&str, Better, &[f64])]) -> Results {
        Results {
            machine: Machine {
                cores: 2,
                qemu: "7.2".into(),
                commit: "abc".into(),
                quick: false,
            },
            figures: figures
                .iter()
                .map(|(name, better, samples)| Figure {
                    name: name.to_string(),
                    unit: "s".into(),
                    better: *better,
                    samples: samples.to_vec(),
                })
                .collect(),
        }
    }

    /// The kept baseline is a full run that reads back, with a sample of
    /// every figure and a figure for every lab's grade.
    #[test]
    fn the_repository_baseline_is_a_full_run() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/baseline.json");
        let base = load(&path).unwrap();
        assert!(!base.machine.quick);
        assert!(base.figures.len() >= 25, "{} figures", base.figures.len());
        for f in &base.figures {
            // A count of failed test-and-sets may well be 0.
            let positive = f.unit == "tas" || f.min() > 0.0;
            assert!(!f.samples.is_empty() && positive, "{}", f.name);
        }
        for lab in ["lab-trace", "lab-pgtbl", "lab-lazy", "lab-cow"] {
            let name = format!("grade {lab}, -j1");
            assert!(base.figures.iter().any(|f| f.name == name), "{name}");
        }
        for name in [
            "batch grading lab-trace",
            "batch grading lab-trace, 1 worker",
            "batch grading lab-cow",
            "batch grading lab-cow, 1 worker",
            "merge 2 parts of lab-trace",
        ] {
            assert!(base.figures.iter().any(|f| f.name == name), "{name}");
        }
        assert!(
            compare(&base, &base, DEFAULT_THRESHOLD)
                .iter()
                .all(|r| !r.regressed)
        );
    }

    #[test]
    fn statistics() {
        let r = results(&[("a", Better::Lower, &[3.0, 1.0, 2.0, 10.0])]);
        let f = &r.figures[0];
        assert_eq!((f.min(), f.median(), f.max()), (1.0, 2.5, 10.0));
    }

    #[test]
    fn a_run_against_itself_flags_nothing() {
        let r = results(&[
            ("boot", Better::Lower, &[0.1, 0.12, 0.11]),
            ("pipe", Better::Higher, &[2.0, 2.2]),
        ]);
        assert!(
            compare(&r, &r, DEFAULT_THRESHOLD)
                .iter()
                .all(|row| !row.regressed)
        );
    }

    #[test]
    fn a_doubled_time_or_halved_rate_is_flagged() {
        let base = results(&[
            ("boot", Better::Lower, &[0.10, 0.12, 0.11]),
            ("pipe", Better::Higher, &[2.0, 2.2]),
            ("noisy", Better::Lower, &[1.0, 3.0]),
        ]);
        let slow = results(&[
            ("boot", Better::Lower, &[0.20, 0.24, 0.22]),
            ("pipe", Better::Higher, &[1.0, 1.1]),
            // Twice the median, but within the baseline's own spread.
            ("noisy", Better::Lower, &[2.5, 5.5]),
        ]);
        let rows = compare(&base, &slow, DEFAULT_THRESHOLD);
        let flagged: Vec<&str> = rows
            .iter()
            .filter(|r| r.regressed)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(flagged, ["boot", "pipe"]);
        assert!((rows[0].slowdown - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_null_system_call_is_shown_beside_the_c_kernel() {
        let mut r = results(&[(NULL_1_HART, Better::Lower, &[5.0, 5.3, 6.0])]);
        r.figures[0].unit = "us".into();
        let t = table(&r);
        let row = t.lines().find(|l| l.starts_with(NULL_1_HART)).unwrap();
        assert!(
            row.ends_with("us [xv6's C kernel: 10.60, so 0.50x C's]"),
            "{row}"
        );
        let other = results(&[("boot", Better::Lower, &[0.1])]);
        assert!(!table(&other).contains("C kernel"));
    }

    #[test]
    fn parses_the_guest_program_lines() {
        assert_eq!(
            parse_bench_line("bench fork48: 1234.5 us"),
            Some(("fork48", 1234.5, "us"))
        );
        assert_eq!(
            parse_bench_line("$ bench pipe: 2.34 MB/s").map(|p| p.0),
            None,
            "a prompt before the line is the shell's echo, not output"
        );
        assert_eq!(parse_bench_line("bench fork64: failed"), None);
        assert_eq!(parse_bench_line("bench x: 0.0 ms"), None);
        assert_eq!(
            parse_bench_line("bench kmem: 0 tas"),
            Some(("kmem", 0.0, "tas"))
        );
    }
}
