//! Grading: the runs of every lab go to a pool of workers (longest first),
//! each test is judged as soon as its run is over, and results are printed
//! in spec order while the other runs go on.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::check::{Console, Trust, evaluate_all};
use crate::qemu::{self, End, Session, Transcript};
use crate::report::{self, LabReport, Outcome, TestReport};
use crate::spec::{Check, Spec, Test};
use crate::symbols::{KernelSymbols, Symbolize};

/// A built kernel configuration.
#[derive(Clone, Debug)]
pub struct Built {
    /// The kernel ELF (also used to symbolise backtraces).
    pub kernel: PathBuf,
    /// The file system image (QEMU runs it with `-snapshot`).
    pub fs_img: PathBuf,
}

/// A lab to grade: its spec (tests already filtered) and its kernel.
pub struct Lab {
    pub spec: Spec,
    /// How the command line named it: the lab's name, or its spec's path.
    pub arg: String,
    /// The seed its random parameters were drawn from.
    pub seed: u64,
    pub built: Result<Built, String>,
}

pub struct Settings {
    pub qemu: OsString,
    pub jobs: usize,
    pub timeout_scale: f64,
    /// A run whose kernel shows no shell prompt this long after boot ends
    /// TIMEOUT, and that kernel's runs not yet started are not run
    /// (already scaled; see [`BOOT_TIMEOUT`]).
    pub boot_timeout: Duration,
    /// Overrides every spec's `cpus`.
    pub cpus: Option<u32>,
    /// Console logs go to `<logs>/<lab>/<run-id>.log`: a directory of this
    /// grader's own (see [`logs_dir`]).
    pub logs: PathBuf,
    /// Where `<lab>` links to the lab's directory in `logs`, so that
    /// `<latest>/<lab>/<run-id>.log` is the latest console.
    pub latest: Option<PathBuf>,
    /// How to grade a lab again: `{replay} <lab> --seed N{replay_options}`.
    pub replay: String,
    /// The options that change the kernel (`--features`, `--cpus`), as typed.
    pub replay_options: String,
    /// Log paths are shown relative to this directory when inside it.
    pub root: PathBuf,
    /// Draw a progress line on stderr.
    pub progress: bool,
    /// Show on stderr a test's result as soon as it is known, when tests
    /// before it in the report still wait for their runs.
    pub early: bool,
}

/// How long a kernel may take to print its first shell prompt, before
/// `--timeout-scale`: a working one takes a second or two.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Graded {
    pub labs: Vec<LabReport>,
    pub elapsed: Duration,
    /// Set when QEMU itself could not be started: the grade is not the
    /// student's.
    pub qemu_error: Option<String>,
}

/// One QEMU boot to do.
struct Job<'a> {
    run: usize,
    /// The kernel it boots: once one run of it did not boot, the others
    /// are not run.
    kernel: &'a Path,
    args: Vec<OsString>,
    timeout: Duration,
    spec: &'a Spec,
}

/// A finished boot, as the tests see it.
struct RunResult {
    /// The console and how the run ended, or why QEMU could not start.
    console: Result<(String, End), String>,
    timeout: Duration,
    seconds: f64,
    log: Option<String>,
    /// Not run: an earlier run of the kernel showed no prompt within this
    /// boot timeout.
    not_booted: Option<Duration>,
    trust: Option<Trust>,
}

enum Event {
    Started(usize),
    Progress(usize, usize),
    Finished(usize, io::Result<Transcript>),
    /// Not run: its kernel did not boot in an earlier run.
    Skipped(usize),
}

/// The timeout of run `run` of `spec`: its own or the spec's, raised by
/// the selected tests that ask for more, times `scale`.
fn run_timeout(spec: &Spec, run: usize, scale: f64) -> Duration {
    let own = spec.runs[run].timeout.unwrap_or(spec.timeout);
    let longest = spec
        .tests
        .iter()
        .filter(|t| t.run == run)
        .filter_map(|t| t.timeout)
        .fold(own, Duration::max);
    longest.mul_f64(scale)
}

/// Grades `labs`, printing the text report to `out` as results come in.
pub fn grade(labs: &[Lab], settings: &Settings, out: &mut dyn Write) -> io::Result<Graded> {
    let started = Instant::now();
    if let Some(latest) = &settings.latest {
        for lab in labs {
            link_latest(latest, &settings.logs, &lab.spec.name);
        }
    }
    let mut jobs = Vec::new();
    // job_of[lab][run]: the job that boots that run, if any test needs it.
    let mut job_of: Vec<Vec<Option<usize>>> = Vec::new();
    for lab in labs {
        let spec = &lab.spec;
        let mut of_run = vec![None; spec.runs.len()];
        if let Ok(built) = &lab.built {
            for (run, job) in of_run.iter_mut().enumerate() {
                if !spec.tests.iter().any(|t| t.run == run) {
                    continue;
                }
                *job = Some(jobs.len());
                let cpus = settings.cpus.unwrap_or(spec.cpus);
                jobs.push(Job {
                    run,
                    kernel: &built.kernel,
                    args: qemu::graded_args(&built.kernel, &built.fs_img, cpus),
                    timeout: run_timeout(spec, run, settings.timeout_scale),
                    spec,
                });
            }
        }
        job_of.push(of_run);
    }
    let timeouts: Vec<Duration> = jobs.iter().map(|j| j.timeout).collect();
    let order = run_order(&timeouts, settings.jobs);

    let mut printer = Printer {
        labs,
        job_of: &job_of,
        symbols: labs
            .iter()
            .map(|l| {
                l.built
                    .as_ref()
                    .ok()
                    .map(|b| KernelSymbols::new(b.kernel.clone()))
            })
            .collect(),
        reports: Vec::new(),
        early: settings.early,
        replay: (&settings.replay, &settings.replay_options),
        lab_open: false,
        test: 0,
        progress: Progress {
            enabled: settings.progress,
            running: BTreeMap::new(),
            done: 0,
            total: jobs.len(),
            drawn: false,
        },
    };
    let mut results: Vec<Option<RunResult>> = (0..jobs.len()).map(|_| None).collect();
    let mut qemu_error = None;

    let next = AtomicUsize::new(0);
    // Kernels that showed no prompt within the boot timeout.
    let unbootable: Mutex<Vec<&Path>> = Mutex::new(Vec::new());
    thread::scope(|scope| -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        for _ in 0..settings.jobs.min(jobs.len()) {
            let tx = tx.clone();
            let (next, order, jobs, unbootable) = (&next, &order, &jobs, &unbootable);
            scope.spawn(move || {
                while let Some(&j) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let job = &jobs[j];
                    let run = &job.spec.runs[job.run];
                    let lock = || unbootable.lock().unwrap_or_else(PoisonError::into_inner);
                    if lock().contains(&job.kernel) {
                        let _ = tx.send(Event::Skipped(j));
                        continue;
                    }
                    let _ = tx.send(Event::Started(j));
                    let session = Session {
                        qemu: &settings.qemu,
                        args: &job.args,
                        commands: &run.commands,
                        until: run.until.as_ref(),
                        timeout: job.timeout,
                    };
                    let transcript =
                        qemu::run_session_booting(&session, settings.boot_timeout, &mut |ok| {
                            let _ = tx.send(Event::Progress(j, ok));
                        });
                    if let Ok(t) = &transcript
                        && matches!(t.end, End::BootTimeout { .. })
                    {
                        lock().push(job.kernel);
                    }
                    let _ = tx.send(Event::Finished(j, transcript));
                }
            });
        }
        drop(tx);
        let stop = |e: io::Error| {
            // Nobody reads the report: start no more runs, end the ones going.
            next.store(order.len(), Ordering::Relaxed);
            qemu::kill_all();
            e
        };
        printer.advance(&results, out).map_err(stop)?;
        loop {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(Event::Started(j)) => {
                    printer.progress.running.insert(j, (Instant::now(), 0));
                }
                Ok(Event::Progress(j, ok)) => {
                    if let Some(entry) = printer.progress.running.get_mut(&j) {
                        entry.1 = ok;
                    }
                }
                Ok(Event::Finished(j, transcript)) => {
                    printer.progress.running.remove(&j);
                    printer.progress.done += 1;
                    let job = &jobs[j];
                    let result = finish(job, transcript, settings);
                    if let Err(e) = &result.console {
                        qemu_error.get_or_insert_with(|| e.clone());
                    }
                    results[j] = Some(result);
                    printer.advance(&results, out).map_err(stop)?;
                    printer.early(&results, j);
                }
                Ok(Event::Skipped(j)) => {
                    printer.progress.done += 1;
                    results[j] = Some(RunResult {
                        console: Ok((String::new(), End::Finished)),
                        timeout: jobs[j].timeout,
                        seconds: 0.0,
                        log: None,
                        not_booted: Some(settings.boot_timeout),
                        trust: None,
                    });
                    printer.advance(&results, out).map_err(stop)?;
                    printer.early(&results, j);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            printer.progress.draw(&jobs);
        }
        printer.progress.clear();
        Ok(())
    })?;
    Ok(Graded {
        labs: printer.reports,
        elapsed: started.elapsed(),
        qemu_error,
    })
}

/// Saves a finished run's console log and keeps what its tests need.
fn finish(job: &Job, transcript: io::Result<Transcript>, settings: &Settings) -> RunResult {
    let transcript = match transcript {
        Ok(t) => t,
        Err(e) => {
            return RunResult {
                console: Err(format!(
                    "could not start {}: {e}",
                    settings.qemu.to_string_lossy()
                )),
                timeout: job.timeout,
                seconds: 0.0,
                log: None,
                not_booted: None,
                trust: None,
            };
        }
    };
    let path = settings
        .logs
        .join(&job.spec.name)
        .join(format!("{}.log", job.spec.runs[job.run].id));
    let log = match crate::atomic::write_atomically(&path, &transcript.output) {
        Ok(()) => Some(
            path.strip_prefix(&settings.root)
                .unwrap_or(&path)
                .display()
                .to_string(),
        ),
        Err(e) => {
            eprintln!(
                "grader: cannot save the console log {}: {e}",
                path.display()
            );
            None
        }
    };
    RunResult {
        console: Ok((
            String::from_utf8_lossy(&transcript.output).into_owned(),
            transcript.end,
        )),
        timeout: job.timeout,
        seconds: transcript.elapsed.as_secs_f64(),
        log,
        not_booted: None,
        trust: transcript.trust,
    }
}

/// The order runs start in. One at a time, shortest first: the quick
/// tests' results come in seconds, not after a long usertests run. With
/// several at once, the longest start first (one fewer than there are
/// workers, so that one worker takes the short runs from the start), and
/// the rest shortest first: a long run that started last would make the
/// whole grading longer.
fn run_order(timeouts: &[Duration], workers: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..timeouts.len()).collect();
    order.sort_by_key(|&j| timeouts[j]);
    let long = workers.saturating_sub(1).min(order.len());
    let mut first: Vec<usize> = order.split_off(order.len() - long);
    first.reverse();
    first.extend(order);
    first
}

/// How many graders' log directories are kept (with any younger than
/// [`KEEP_YOUNG`], which may belong to graders still running).
const KEEP_RUNS: usize = 20;
const KEEP_YOUNG: Duration = Duration::from_secs(3600);

/// Makes a directory for this grader's console logs:
/// `<grade>/runs/<UTC date-time>-<pid>`, so that graders running at once
/// on one tree each keep their own. Removes the oldest beyond the newest
/// [`KEEP_RUNS`].
pub fn logs_dir(grade: &Path) -> io::Result<PathBuf> {
    let runs = grade.join("runs");
    std::fs::create_dir_all(&runs)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let dir = runs.join(format!(
        "{}-{}",
        utc_stamp(now.as_secs()),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut old: Vec<PathBuf> = std::fs::read_dir(&runs)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && *p != dir)
        .collect();
    // The names start with the time, so they sort oldest first.
    old.sort();
    let excess = (old.len() + 1).saturating_sub(KEEP_RUNS);
    for path in old.into_iter().take(excess) {
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|a| a > KEEP_YOUNG) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    Ok(dir)
}

/// `YYYYmmdd-HHMMSS` in UTC for `secs` since 1970.
fn utc_stamp(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm, in unsigned form:
    // dates before 1970 never occur here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Points `<latest>/<lab>` at `<logs>/<lab>` (made if need be), replacing
/// whatever was there: an older grader's link, or a directory of logs from
/// before there were links. Best effort: logs are still written without it.
fn link_latest(latest: &Path, logs: &Path, lab: &str) {
    let target = logs.join(lab);
    if std::fs::create_dir_all(&target).is_err() {
        return;
    }
    let link = latest.join(lab);
    let relative = target
        .strip_prefix(latest)
        .map_or_else(|_| target.clone(), Path::to_path_buf);
    let temp = latest.join(format!(".{lab}.{}.link", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    if std::os::unix::fs::symlink(&relative, &temp).is_err() {
        return;
    }
    if std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&link);
    }
    if std::fs::rename(&temp, &link).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// `word` quoted for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Gives every leaf of `report` that did not pass the command that grades
/// it again: the lab's, with the test's name as a filter.
fn add_replay(report: &mut TestReport, lab_replay: &str) {
    if report.parts.is_empty() {
        if report.outcome != Outcome::Pass {
            report.replay = Some(format!("{lab_replay} {}", shell_quote(&report.name)));
        }
        return;
    }
    for part in &mut report.parts {
        add_replay(part, lab_replay);
    }
}

/// Prints tests in spec order as their runs finish.
struct Printer<'a> {
    labs: &'a [Lab],
    job_of: &'a [Vec<Option<usize>>],
    symbols: Vec<Option<KernelSymbols>>,
    /// Printed labs; the last is still being printed while `lab_open`.
    reports: Vec<LabReport>,
    /// [`Settings::early`].
    early: bool,
    /// [`Settings::replay`] and [`Settings::replay_options`].
    replay: (&'a str, &'a str),
    lab_open: bool,
    /// The next test of the open lab.
    test: usize,
    progress: Progress,
}

impl Printer<'_> {
    /// Shows on stderr, with the progress line, the results of job `j`'s
    /// tests that the report cannot print yet (a test before them waits
    /// for its run): a student sees a quick test's result at once.
    fn early(&mut self, results: &[Option<RunResult>], j: usize) {
        if !self.early {
            return;
        }
        let Some(result) = &results[j] else { return };
        let mut lines = Vec::new();
        for (l, lab) in self.labs.iter().enumerate() {
            let printed_all =
                l + 1 < self.reports.len() || (l + 1 == self.reports.len() && !self.lab_open);
            if printed_all {
                continue;
            }
            let Some(symbols) = self.symbols[l].as_ref() else {
                continue;
            };
            for (t, test) in lab.spec.tests.iter().enumerate() {
                let printed = l + 1 == self.reports.len() && t < self.test;
                if printed || self.job_of[l][test.run] != Some(j) {
                    continue;
                }
                let report = judge(test, result, symbols);
                report::write_early(&mut lines, &lab.spec.name, &report)
                    .expect("writing to memory cannot fail");
            }
        }
        if !lines.is_empty() {
            self.progress.clear();
            let mut err = anstream::stderr();
            let _ = err.write_all(&lines);
            let _ = err.flush();
        }
    }

    fn advance(&mut self, results: &[Option<RunResult>], out: &mut dyn Write) -> io::Result<()> {
        let named = self.labs.len() > 1;
        let mut printed = false;
        loop {
            if !self.lab_open {
                let Some(lab) = self.labs.get(self.reports.len()) else {
                    break;
                };
                let replay = format!(
                    "{} {} --seed {}{}",
                    self.replay.0,
                    shell_quote(&lab.arg),
                    lab.seed,
                    self.replay.1
                );
                let report = LabReport::new(
                    lab.spec.name.clone(),
                    lab.seed,
                    lab.spec.random.clone(),
                    replay,
                );
                self.progress.clear();
                report::write_lab_header(out, &report, named)?;
                self.reports.push(report);
                self.test = 0;
                self.lab_open = true;
                printed = true;
                continue;
            }
            let l = self.reports.len() - 1;
            let lab = &self.labs[l];
            let Some(test) = lab.spec.tests.get(self.test) else {
                self.progress.clear();
                report::write_score(out, &self.reports[l])?;
                self.lab_open = false;
                printed = true;
                continue;
            };
            let mut report = match &lab.built {
                Err(e) => not_built(test, e),
                Ok(_) => {
                    let job = self.job_of[l][test.run].expect("a selected test's run is booted");
                    let Some(result) = &results[job] else { break };
                    let symbols = self.symbols[l].as_ref().expect("a built lab has symbols");
                    judge(test, result, symbols)
                }
            };
            add_replay(&mut report, &self.reports[l].replay);
            self.progress.clear();
            report::write_test(out, &report)?;
            self.reports[l].push(report);
            self.test += 1;
            printed = true;
        }
        if printed {
            out.flush()?;
        }
        Ok(())
    }
}

fn not_built(test: &Test, error: &str) -> TestReport {
    let leaf = |t: &Test| TestReport {
        name: t.name.clone(),
        points: 0,
        max_points: t.points,
        outcome: Outcome::Fail,
        seconds: None,
        visibility: t.visibility,
        context: vec![format!("the kernel was not built: {error}")],
        log: None,
        replay: None,
        parts: Vec::new(),
    };
    TestReport {
        parts: test.parts.iter().map(leaf).collect(),
        ..leaf(test)
    }
}

/// Scores a test (and its parts) on its run's console.
fn judge(test: &Test, run: &RunResult, symbols: &dyn Symbolize) -> TestReport {
    if test.parts.is_empty() {
        return judge_leaf(test, run, symbols, Some(run.seconds));
    }
    let parts: Vec<TestReport> = test
        .parts
        .iter()
        .map(|p| judge_leaf(p, run, symbols, None))
        .collect();
    let outcome = parts
        .iter()
        .map(|p| p.outcome)
        .find(|&o| o != Outcome::Pass)
        .unwrap_or(Outcome::Pass);
    TestReport {
        name: test.name.clone(),
        points: parts.iter().map(|p| p.points).sum(),
        max_points: test.points,
        outcome,
        seconds: Some(run.seconds),
        visibility: test.visibility,
        context: Vec::new(),
        log: run.log.clone(),
        replay: None,
        parts,
    }
}

fn judge_leaf(
    test: &Test,
    run: &RunResult,
    symbols: &dyn Symbolize,
    seconds: Option<f64>,
) -> TestReport {
    let (outcome, context) = match (&run.console, run.not_booted) {
        (_, Some(boot)) => (
            Outcome::Timeout,
            vec![format!(
                "not run: the kernel did not boot in an earlier run \
                 (no shell prompt within {:.0}s of boot)",
                boot.as_secs_f64()
            )],
        ),
        (Err(e), None) => (Outcome::Fail, vec![e.clone()]),
        (Ok((text, end)), None) => {
            verdict(test, text, end, run.timeout, symbols, run.trust.as_ref())
        }
    };
    TestReport {
        name: test.name.clone(),
        points: if outcome == Outcome::Pass {
            test.points
        } else {
            0
        },
        max_points: test.points,
        outcome,
        seconds,
        visibility: test.visibility,
        context,
        log: run.log.clone(),
        replay: None,
        parts: Vec::new(),
    }
}

/// The outcome of `test`'s checks on a console that ended with `end`, and
/// on failure the lines that explain it. With `trust`, its checks see only
/// lines with valid tokens (see [`crate::check`]), and a command that ended
/// without its closing token fails it.
pub fn verdict(
    test: &Test,
    text: &str,
    end: &End,
    timeout: Duration,
    symbols: &dyn Symbolize,
    trust: Option<&Trust>,
) -> (Outcome, Vec<String>) {
    let console = Console::with_trust(text, trust);
    let mut verdicts = evaluate_all(&test.checks, test.untrusted, &console, symbols);
    verdicts.extend(crate::check::closing(trust));
    let passed = verdicts.iter().all(|v| v.passed);
    let failures = verdicts
        .into_iter()
        .filter(|v| !v.passed)
        .flat_map(|v| v.context);
    if *end == End::Finished {
        return if passed {
            (Outcome::Pass, Vec::new())
        } else {
            (Outcome::Fail, console.merge(failures))
        };
    }
    // Before the shell no command ran: nothing a test needs appeared.
    if matches!(end, End::BootTimeout { .. }) {
        let (outcome, mut context) = ended_early(end, &console, timeout);
        context.extend(console.tail());
        return (outcome, console.merge(context));
    }
    // Cut short: what had appeared still counts, an absence proves nothing.
    if passed && test.checks.iter().all(Check::holds_on_partial_output) {
        return (Outcome::Pass, Vec::new());
    }
    let (outcome, mut context) = ended_early(end, &console, timeout);
    let before = context.len();
    context.extend(failures);
    if context.len() == before && matches!(end, End::Timeout { .. }) {
        context.extend(console.tail());
    }
    (outcome, console.merge(context))
}

/// How a run that did not finish ended, in a few lines.
fn ended_early(end: &End, console: &Console, timeout: Duration) -> (Outcome, Vec<String>) {
    match end {
        End::Finished => (Outcome::Pass, Vec::new()),
        End::Timeout { waiting_for } => (
            Outcome::Timeout,
            vec![format!(
                "timed out after {:.1}s waiting for {waiting_for}",
                timeout.as_secs_f64()
            )],
        ),
        End::BootTimeout { after } => (
            Outcome::Timeout,
            vec![format!(
                "no shell prompt within {:.0}s of boot: the kernel hangs or is stuck before \
                 its shell (its other runs are not waited for)",
                after.as_secs_f64()
            )],
        ),
        End::Panic { line } => {
            let mut context = vec![format!("the kernel panicked: {line}")];
            let lines = console.lines();
            if let Some(at) = lines.iter().position(|l| l.starts_with("panic: ")) {
                // The panic line and the backtrace after it.
                let shown: Vec<usize> = (at..lines.len().min(at + 8)).collect();
                context.extend(console.excerpt(&shown));
            }
            (Outcome::Panic, context)
        }
        End::Exited { status, stderr } => {
            let mut context = vec![format!("QEMU exited ({status}) before the run finished")];
            context.extend(stderr.lines().take(3).map(|l| format!("qemu: {l}")));
            (Outcome::Fail, context)
        }
        End::OutputLimit { printed } => {
            let mut context = vec![format!(
                "the console passed {} MiB ({printed} bytes printed): the run was stopped; \
                 its log keeps the first and last {} KiB",
                qemu::OUTPUT_LIMIT >> 20,
                qemu::KEEP_TAIL >> 10
            )];
            context.extend(console.tail());
            (Outcome::OutputLimit, context)
        }
    }
}

/// The progress line on stderr: which runs go on, for how long, and how
/// many tests they reported OK so far.
struct Progress {
    enabled: bool,
    /// Started, unfinished jobs: when they started and their OK lines.
    running: BTreeMap<usize, (Instant, usize)>,
    done: usize,
    total: usize,
    drawn: bool,
}

impl Progress {
    fn draw(&mut self, jobs: &[Job]) {
        if !self.enabled || self.running.is_empty() {
            return;
        }
        let mut line = format!("[{}/{} runs]", self.done, self.total);
        for (&j, &(since, ok)) in &self.running {
            let job = &jobs[j];
            line.push_str(&format!(
                " {}/{} {}s",
                job.spec.name,
                job.spec.runs[job.run].id,
                since.elapsed().as_secs()
            ));
            if ok > 0 {
                line.push_str(&format!(" ({ok} OK)"));
            }
        }
        let line: String = line.chars().take(110).collect();
        eprint!("\r\x1b[K{line}");
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_start_short_first_alone_and_long_first_with_others() {
        let secs = |v: &[u64]| {
            v.iter()
                .map(|&s| Duration::from_secs(s))
                .collect::<Vec<_>>()
        };
        let t = secs(&[600, 60, 180, 1, 30]);
        assert_eq!(run_order(&t, 1), [3, 4, 1, 2, 0]);
        // Two workers: usertests starts at once, the other takes the rest
        // shortest first.
        assert_eq!(run_order(&t, 2), [0, 3, 4, 1, 2]);
        assert_eq!(run_order(&t, 3), [0, 2, 3, 4, 1]);
        // More workers than runs: all start, longest first.
        assert_eq!(run_order(&t, 9), [0, 2, 1, 4, 3]);
        assert_eq!(run_order(&[], 4), Vec::<usize>::new());
    }
}
