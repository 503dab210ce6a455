//! Grading: the runs of every lab go to a pool of workers (longest first),
//! each test is judged as soon as its run is over, and results are printed
//! in spec order while the other runs go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use abi::console;

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
    /// Where the host programs its host runs start are, when it has any.
    pub host: Option<PathBuf>,
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
    /// Index into the labs graded.
    lab: usize,
    run: usize,
    /// The kernel it boots: once one run of it did not boot, the others
    /// are not run.
    kernel: &'a Path,
    args: Vec<OsString>,
    timeout: Duration,
    spec: &'a Spec,
    /// For a host run, the directory of its programs.
    host: Option<&'a Path>,
    /// The kernel has an e1000, and the run gets a UDP peer and a DNS
    /// server of its own (the registry's `network`).
    network: bool,
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
    /// What the host's UDP peer received (a network lab's run), for
    /// `peer` checks.
    peer: Vec<String>,
}

enum Event {
    Started(usize),
    Progress(usize, usize),
    /// A run's transcript, and its peer's record (network labs).
    Finished(usize, io::Result<Transcript>, Vec<String>),
    /// Not run: its kernel did not boot in an earlier run.
    Skipped(usize),
    /// Not run: a test each of its tests requires failed.
    Unmet(usize),
}

/// Whether a job may start, by what its tests require (see
/// [`Test::requires`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Some test of it can score: its requirements passed, or it has none.
    Open,
    /// Not known yet: started only when no open job is left, and stopped
    /// if it turns out closed.
    Waiting,
    /// None of its tests can score.
    Closed,
}

/// What the workers take jobs from.
struct Queue {
    /// Jobs in the order they should start ([`run_order`]).
    order: Vec<usize>,
    taken: Vec<bool>,
    /// Set by the worker when a job is over (before the grader judged it).
    finished: Vec<bool>,
    gates: Vec<Gate>,
    /// The jobs whose results decide each job's gate.
    deps: Vec<Vec<usize>>,
    /// Jobs that need the machine to themselves (host runs needing more
    /// than one core): one starts only when nothing else runs, and nothing
    /// starts beside it.
    alone: Vec<bool>,
}

/// What a worker does next.
enum Next {
    /// Run job `j`.
    Run(usize),
    /// Report job `j` unmet without running it.
    Unmet(usize),
    /// Wait for the grader to judge a finished job.
    Wait,
    Done,
}

impl Queue {
    /// Closed jobs first (they cost nothing), then open ones in order; a
    /// waiting one only while a job its gate depends on is still going:
    /// otherwise the verdict that decides it is moments away.
    fn take(&mut self) -> Next {
        let untaken = |g: Gate| {
            self.order
                .iter()
                .copied()
                .find(|&j| !self.taken[j] && self.gates[j] == g)
        };
        let next = if let Some(j) = untaken(Gate::Closed) {
            Next::Unmet(j)
        } else if let Some(j) = untaken(Gate::Open) {
            Next::Run(j)
        } else {
            let waiting = self
                .order
                .iter()
                .copied()
                .filter(|&j| !self.taken[j] && self.gates[j] == Gate::Waiting);
            let mut any = false;
            let mut next = None;
            for j in waiting {
                any = true;
                if self.deps[j].iter().any(|&d| !self.finished[d]) {
                    next = Some(j);
                    break;
                }
            }
            match next {
                Some(j) => Next::Run(j),
                None if any => return Next::Wait,
                None => return Next::Done,
            }
        };
        if let Next::Run(j) = next {
            let running = |k: usize| self.taken[k] && !self.finished[k];
            let busy = (0..self.taken.len()).filter(|&k| running(k));
            let (mut others, mut alone) = (false, false);
            for k in busy {
                others = true;
                alone |= self.alone[k];
            }
            if alone || (self.alone[j] && others) {
                return Next::Wait;
            }
        }
        if let Next::Run(j) | Next::Unmet(j) = next {
            self.taken[j] = true;
        }
        next
    }
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
    // Which labs' kernels have a network card: the registry says.
    let registry = crate::registry::Registry::load(&settings.root).ok();
    for (l, lab) in labs.iter().enumerate() {
        let spec = &lab.spec;
        let network = registry
            .as_ref()
            .is_some_and(|r| r.networked(&spec.features));
        let mut of_run = vec![None; spec.runs.len()];
        if let Ok(built) = &lab.built {
            for (run, job) in of_run.iter_mut().enumerate() {
                if !spec.tests.iter().any(|t| t.run == run) {
                    continue;
                }
                *job = Some(jobs.len());
                let cpus = settings.cpus.unwrap_or(spec.cpus);
                jobs.push(Job {
                    lab: l,
                    run,
                    kernel: &built.kernel,
                    args: qemu::graded_args(&built.kernel, &built.fs_img, cpus),
                    timeout: run_timeout(spec, run, settings.timeout_scale),
                    spec,
                    host: built.host.as_deref().filter(|_| spec.runs[run].host),
                    network,
                });
            }
        }
        job_of.push(of_run);
    }
    let timeouts: Vec<Duration> = jobs.iter().map(|j| j.timeout).collect();
    let order = run_order(&timeouts, settings.jobs);
    let cancel: Vec<AtomicBool> = jobs.iter().map(|_| AtomicBool::new(false)).collect();

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
        passed: HashMap::new(),
        progress: Progress {
            enabled: settings.progress,
            running: BTreeMap::new(),
            done: 0,
            total: jobs.len(),
            bar: None,
        },
    };
    let mut results: Vec<Option<RunResult>> = (0..jobs.len()).map(|_| None).collect();
    let mut qemu_error = None;
    let queue = Mutex::new(Queue {
        taken: vec![false; jobs.len()],
        finished: vec![false; jobs.len()],
        deps: jobs
            .iter()
            .map(|job| gate_deps(job, &job_of[job.lab]))
            .collect(),
        gates: (0..labs.len()).fold(vec![Gate::Open; jobs.len()], |mut g, l| {
            printer.gates(l, &results, &mut g);
            g
        }),
        alone: jobs
            .iter()
            .map(|j| j.host.is_some() && j.spec.runs[j.run].cores > 1)
            .collect(),
        order,
    });
    let stopped = AtomicBool::new(false);
    // Signalled when gates change.
    let judged = Condvar::new();
    // Kernels that showed no prompt within the boot timeout.
    let unbootable: Mutex<Vec<&Path>> = Mutex::new(Vec::new());
    thread::scope(|scope| -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        for _ in 0..settings.jobs.min(jobs.len()) {
            let tx = tx.clone();
            let (queue, stopped, jobs, unbootable, cancel, judged) =
                (&queue, &stopped, &jobs, &unbootable, &cancel, &judged);
            scope.spawn(move || {
                let lock_queue = || queue.lock().unwrap_or_else(PoisonError::into_inner);
                let done = |j: usize| lock_queue().finished[j] = true;
                loop {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut q = lock_queue();
                    let j = match q.take() {
                        Next::Done => break,
                        Next::Wait => {
                            let _ = judged.wait_timeout(q, Duration::from_millis(200));
                            continue;
                        }
                        Next::Unmet(j) => {
                            q.finished[j] = true;
                            drop(q);
                            let _ = tx.send(Event::Unmet(j));
                            continue;
                        }
                        Next::Run(j) => j,
                    };
                    drop(q);
                    let job = &jobs[j];
                    let run = &job.spec.runs[job.run];
                    let lock = || unbootable.lock().unwrap_or_else(PoisonError::into_inner);
                    if lock().contains(&job.kernel) {
                        done(j);
                        let _ = tx.send(Event::Skipped(j));
                        continue;
                    }
                    let _ = tx.send(Event::Started(j));
                    if let Some(dir) = job.host {
                        let have = crate::host::cores();
                        let transcript = if run.cores > have {
                            Ok(Transcript {
                                output: Vec::new(),
                                end: End::NeedsCores {
                                    needed: run.cores,
                                    have,
                                },
                                elapsed: Duration::ZERO,
                                trust: None,
                            })
                        } else {
                            crate::host::run(dir, &run.commands, job.timeout, &cancel[j])
                        };
                        done(j);
                        let _ = tx.send(Event::Finished(j, transcript, Vec::new()));
                        continue;
                    }
                    // A net lab kernel gets the e1000 and a UDP peer of
                    // its own for the run (dropped, and so ended, with it);
                    // its packets are saved beside the run's console log.
                    let peer = if job.network {
                        match crate::netpeer::Peer::start() {
                            Ok(p) => Some(p),
                            Err(e) => {
                                done(j);
                                let _ = tx.send(Event::Finished(j, Err(e), Vec::new()));
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    let mut args = job.args.clone();
                    let mut commands = run.commands.clone();
                    if let Some(p) = &peer {
                        args.extend(crate::netpeer::Peer::qemu_args());
                        let dir = settings.logs.join(&job.spec.name);
                        if std::fs::create_dir_all(&dir).is_ok() {
                            let pcap = dir.join(format!("{}.pcap", run.id));
                            args.extend(crate::netpeer::Peer::pcap_args(&pcap));
                        }
                        commands = p.commands(&run.commands);
                    }
                    let session = Session {
                        qemu: &settings.qemu,
                        args: &args,
                        commands: &commands,
                        until: run.until.as_ref(),
                        timeout: job.timeout,
                    };
                    let stop = run.stop_at.as_deref().map(|function| crate::gdb::StopAt {
                        function,
                        kernel: job.kernel,
                    });
                    let transcript = qemu::run_session_stopping(
                        &session,
                        stop.as_ref(),
                        settings.boot_timeout,
                        &cancel[j],
                        &mut |ok| {
                            let _ = tx.send(Event::Progress(j, ok));
                        },
                    );
                    if let Ok(t) = &transcript
                        && matches!(t.end, End::BootTimeout { .. })
                    {
                        lock().push(job.kernel);
                    }
                    done(j);
                    // What the peer received, beside the console log: what
                    // a `peer` check read.
                    let record = peer.as_ref().map(|p| p.record()).unwrap_or_default();
                    if peer.is_some() {
                        let path = settings
                            .logs
                            .join(&job.spec.name)
                            .join(format!("{}.peer", run.id));
                        let text: String = record.iter().map(|l| format!("{l}\n")).collect();
                        if let Err(e) = crate::atomic::write_atomically(&path, text.as_bytes()) {
                            eprintln!("grader: cannot save {}: {e}", path.display());
                        }
                    }
                    let _ = tx.send(Event::Finished(j, transcript, record));
                }
            });
        }
        drop(tx);
        let stop = |e: io::Error| {
            // Nobody reads the report: start no more runs, end the ones going.
            stopped.store(true, Ordering::Relaxed);
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
                Ok(event @ (Event::Finished(..) | Event::Skipped(_) | Event::Unmet(_))) => {
                    printer.progress.done += 1;
                    let (j, result) = match event {
                        Event::Finished(j, transcript, record) => {
                            printer.progress.running.remove(&j);
                            let mut result = finish(&jobs[j], transcript, settings);
                            result.peer = record;
                            if let Err(e) = &result.console {
                                qemu_error.get_or_insert_with(|| e.clone());
                            }
                            (j, result)
                        }
                        Event::Skipped(j) => (
                            j,
                            not_run(&jobs[j], End::Finished, Some(settings.boot_timeout)),
                        ),
                        Event::Unmet(j) => (j, not_run(&jobs[j], End::Cancelled, None)),
                        _ => unreachable!("matched above"),
                    };
                    results[j] = Some(result);
                    printer.advance(&results, out).map_err(stop)?;
                    printer.early(&results, j);
                    update_gates(&printer, jobs[j].lab, &results, &queue, &cancel);
                    judged.notify_all();
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

/// A job that was not run: its kernel did not boot before
/// (`not_booted`), or its tests cannot score (`End::Cancelled`).
fn not_run(job: &Job, end: End, not_booted: Option<Duration>) -> RunResult {
    RunResult {
        console: Ok((String::new(), end)),
        timeout: job.timeout,
        seconds: 0.0,
        log: None,
        not_booted,
        trust: None,
        peer: Vec::new(),
    }
}

/// Saves a finished run's console log and keeps what its tests need.
fn finish(job: &Job, transcript: io::Result<Transcript>, settings: &Settings) -> RunResult {
    let transcript = match transcript {
        Ok(t) => t,
        Err(e) => {
            let what = match job.host {
                Some(_) => "a host program".into(),
                None => settings.qemu.to_string_lossy(),
            };
            return RunResult {
                console: Err(format!("could not start {what}: {e}")),
                timeout: job.timeout,
                seconds: 0.0,
                log: None,
                not_booted: None,
                trust: None,
                peer: Vec::new(),
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
        peer: Vec::new(),
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
    /// Whether each printed test and part of the open lab passed, by id.
    passed: HashMap<usize, bool>,
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
                if printed || self.job_of[l][test.run] != Some(j) || has_requires(test) {
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

    /// Whether each test and part of lab `l` passed, by id, for those whose
    /// run is over and whose requirements are decided.
    fn statuses(&self, l: usize, results: &[Option<RunResult>]) -> HashMap<usize, bool> {
        let lab = &self.labs[l];
        let mut status = HashMap::new();
        for test in &lab.spec.tests {
            let mut report = match &lab.built {
                Err(e) => not_built(test, e),
                Ok(_) => {
                    let Some(Some(result)) = self.job_of[l][test.run].map(|j| &results[j]) else {
                        continue;
                    };
                    let symbols = self.symbols[l].as_ref().expect("a built lab has symbols");
                    judge(test, result, symbols)
                }
            };
            if apply_requires(&mut report, test, &lab.spec, &status) {
                record(&mut status, test, &report, &lab.spec);
            }
        }
        status
    }

    /// Sets the gate of each job of lab `l`.
    fn gates(&self, l: usize, results: &[Option<RunResult>], gates: &mut [Gate]) {
        let status = self.statuses(l, results);
        for (run, job) in self.job_of[l].iter().enumerate() {
            let Some(j) = *job else { continue };
            let units = self.labs[l]
                .spec
                .tests
                .iter()
                .filter(|t| t.run == run)
                .flat_map(|t| {
                    if t.parts.is_empty() {
                        std::slice::from_ref(t)
                    } else {
                        &t.parts[..]
                    }
                });
            let mut gate = Gate::Closed;
            for unit in units {
                match requirement(&unit.requires, &status) {
                    Requirement::Met => gate = Gate::Open,
                    Requirement::Unknown if gate == Gate::Closed => gate = Gate::Waiting,
                    _ => {}
                }
            }
            gates[j] = gate;
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
                self.passed.clear();
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
            // What it requires was printed before it.
            apply_requires(&mut report, test, &lab.spec, &self.passed);
            record(&mut self.passed, test, &report, &lab.spec);
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

/// The jobs whose results decide `job`'s gate: those of the tests its
/// tests require, and of what those require in turn.
fn gate_deps(job: &Job, job_of: &[Option<usize>]) -> Vec<usize> {
    let spec = job.spec;
    let mut ids: Vec<usize> = spec
        .tests
        .iter()
        .filter(|t| t.run == job.run)
        .flat_map(|t| std::iter::once(t).chain(&t.parts))
        .flat_map(|t| t.requires.iter().copied())
        .collect();
    let mut deps = Vec::new();
    let mut seen = HashSet::new();
    while let Some(id) = ids.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(t) = spec.test(id) else { continue };
        ids.extend(t.requires.iter().copied());
        // A part's run is its parent's.
        if let Some(j) = job_of[t.run]
            && !deps.contains(&j)
        {
            deps.push(j);
        }
    }
    deps
}

/// Recomputes the gates of lab `l`'s jobs after one of its runs ended, and
/// stops the runs going on that can no longer score.
fn update_gates(
    printer: &Printer,
    l: usize,
    results: &[Option<RunResult>],
    queue: &Mutex<Queue>,
    cancel: &[AtomicBool],
) {
    let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
    printer.gates(l, results, &mut queue.gates);
    for (j, flag) in cancel.iter().enumerate() {
        if queue.taken[j] && results[j].is_none() && queue.gates[j] == Gate::Closed {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

fn has_requires(test: &Test) -> bool {
    !test.requires.is_empty() || test.parts.iter().any(|p| !p.requires.is_empty())
}

enum Requirement {
    Met,
    /// These required tests did not pass.
    Unmet(Vec<usize>),
    /// Some are not judged yet.
    Unknown,
}

fn requirement(requires: &[usize], status: &HashMap<usize, bool>) -> Requirement {
    let failed: Vec<usize> = requires
        .iter()
        .copied()
        .filter(|r| status.get(r) == Some(&false))
        .collect();
    if !failed.is_empty() {
        Requirement::Unmet(failed)
    } else if requires.iter().all(|r| status.contains_key(r)) {
        Requirement::Met
    } else {
        Requirement::Unknown
    }
}

/// Takes away the points of `report` (a report of `test`) and its parts
/// whose required tests did not pass, by `status`. Returns whether every
/// requirement was decided.
fn apply_requires(
    report: &mut TestReport,
    test: &Test,
    spec: &Spec,
    status: &HashMap<usize, bool>,
) -> bool {
    let skip = |report: &mut TestReport, failed: &[usize]| {
        let names: Vec<String> = failed
            .iter()
            .filter_map(|&id| spec.test(id))
            .map(|t| format!("\"{}\"", t.name))
            .collect();
        let own = if report.outcome == Outcome::Pass {
            " (its own checks passed)"
        } else {
            ""
        };
        let line = format!(
            "not scored: it needs {} to pass first{own}; --no-requires scores it on its own",
            names.join(", ")
        );
        // A run stopped or never started has nothing else to say.
        if report.outcome == Outcome::Skipped {
            report.context = vec![line];
        } else {
            report.context.insert(0, line);
        }
        report.points = 0;
        report.outcome = Outcome::Skipped;
    };
    if test.parts.is_empty() {
        return match requirement(&test.requires, status) {
            Requirement::Met => true,
            Requirement::Unmet(failed) => {
                skip(report, &failed);
                true
            }
            Requirement::Unknown => false,
        };
    }
    let mut decided = true;
    for (part, r) in test.parts.iter().zip(&mut report.parts) {
        match requirement(&part.requires, status) {
            Requirement::Met => {}
            Requirement::Unmet(failed) => skip(r, &failed),
            Requirement::Unknown => decided = false,
        }
    }
    report.points = report.parts.iter().map(|p| p.points).sum();
    report.outcome = report
        .parts
        .iter()
        .map(|p| p.outcome)
        .find(|&o| o != Outcome::Pass)
        .unwrap_or(Outcome::Pass);
    decided
}

/// Notes whether `test` and its parts passed, by `report`.
/// Records whether `test` (and its parts) passed, for the tests that
/// require it. A `stop_at` test this machine cannot run (no gdb-multiarch)
/// counts as passed: what requires it is scored on its own checks, never a
/// false FAIL, and the skipped test's outcome says why it was not run.
fn record(status: &mut HashMap<usize, bool>, test: &Test, report: &TestReport, spec: &Spec) {
    let unjudged = report.outcome == Outcome::Skipped
        && test.requires.is_empty()
        && spec.runs[test.run].stop_at.is_some()
        && !crate::gdb::available();
    status.insert(test.id, report.outcome == Outcome::Pass || unjudged);
    for (part, r) in test.parts.iter().zip(&report.parts) {
        status.insert(part.id, r.outcome == Outcome::Pass);
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
        (Ok((text, end)), None) => verdict(
            test,
            text,
            end,
            run.timeout,
            symbols,
            run.trust.as_ref(),
            &run.peer,
        ),
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
/// without its closing token fails it. `peer` is what the run's host peer
/// received, for `peer` checks.
pub fn verdict(
    test: &Test,
    text: &str,
    end: &End,
    timeout: Duration,
    symbols: &dyn Symbolize,
    trust: Option<&Trust>,
    peer: &[String],
) -> (Outcome, Vec<String>) {
    let console = Console::with_trust(text, trust);
    let mut verdicts = evaluate_all(&test.checks, test.untrusted, &console, symbols);
    for (v, check) in verdicts.iter_mut().zip(&test.checks) {
        match check {
            Check::Stopped(function) => {
                let at = matches!(end, End::Stopped { function: f } if f == function);
                *v = crate::check::stopped(function, at, &console);
            }
            Check::Peer(regexes) => *v = crate::check::peer(regexes, peer),
            _ => {}
        }
    }
    verdicts.extend(crate::check::closing(trust));
    let passed = verdicts.iter().all(|v| v.passed);
    let unsure = !passed && verdicts.iter().all(|v| v.passed || v.inconclusive);
    let failures = verdicts
        .into_iter()
        .filter(|v| !v.passed)
        .flat_map(|v| v.context);
    // Nothing ran: what the checks would say of the empty console is noise.
    if let End::NoDebugger { reason } = end {
        return (Outcome::Skipped, vec![reason.clone()]);
    }
    // A run that stopped at its breakpoint ended as planned.
    if *end == End::Finished || matches!(end, End::Stopped { .. }) {
        return if passed {
            (Outcome::Pass, Vec::new())
        } else if unsure {
            (Outcome::NeedsCores, console.merge(failures))
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
            if let Some(at) = lines.iter().position(|l| l.starts_with(console::PANIC)) {
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
        End::Cancelled => (
            Outcome::Skipped,
            vec!["stopped: a test it requires failed".to_owned()],
        ),
        End::Stopped { function } => (
            Outcome::Pass,
            vec![format!("the kernel stopped at {function}")],
        ),
        End::NoDebugger { reason } => (Outcome::Skipped, vec![reason.clone()]),
        End::NeedsCores { needed, have } => (
            Outcome::NeedsCores,
            vec![format!(
                "not run: it needs {needed} host cores and this machine has {have}; \
                 grade it on one with {needed} or more"
            )],
        ),
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
    /// The line on stderr, while it is drawn.
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn draw(&mut self, jobs: &[Job]) {
        if !self.enabled || self.running.is_empty() {
            return;
        }
        let mut running = String::new();
        for (&j, &(since, ok)) in &self.running {
            let job = &jobs[j];
            running.push_str(&format!(
                " {}/{} {}s",
                job.spec.name,
                job.spec.runs[job.run].id,
                since.elapsed().as_secs()
            ));
            if ok > 0 {
                running.push_str(&format!(" ({ok} OK)"));
            }
        }
        let total = self.total as u64;
        let bar = self.bar.get_or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template("[{pos}/{len} runs]{wide_msg}")
                .expect("a valid template");
            indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_style(style)
        });
        bar.set_position(self.done as u64);
        bar.set_message(running);
    }

    /// Takes the line away, before the report prints below it.
    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
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

    /// `stopped` passes on gdb's word only: a run that finished (the
    /// program never made the call) fails, whatever the console says, and
    /// one gdb could not watch is SKIPPED, not FAIL.
    #[test]
    fn stopped_is_judged_from_how_the_run_ended() {
        let test = Test {
            id: 0,
            name: "sleep, makes syscall".into(),
            requires: Vec::new(),
            points: 10,
            run: 0,
            timeout: None,
            visibility: Default::default(),
            untrusted: false,
            checks: vec![Check::Stopped("sys_sleep".into())],
            parts: Vec::new(),
        };
        let judge = |end: End, console: &str| {
            verdict(
                &test,
                console,
                &end,
                Duration::from_secs(1),
                &NoSymbols,
                None,
                &[],
            )
        };
        let stopped = End::Stopped {
            function: "sys_sleep".into(),
        };
        assert_eq!(judge(stopped.clone(), "$ sleep 10\n").0, Outcome::Pass);
        let forged =
            "$ sleep 10\n*stopped,reason=\"breakpoint-hit\"\nBreakpoint 1, sys_sleep ()\n$ ";
        let (outcome, context) = judge(End::Finished, forged);
        assert_eq!(outcome, Outcome::Fail);
        assert!(
            context[0].contains("never stopped at sys_sleep"),
            "{context:?}"
        );
        let other = End::Stopped {
            function: "sys_kill".into(),
        };
        assert_eq!(judge(other, "").0, Outcome::Fail);
        let (outcome, context) = judge(
            End::NoDebugger {
                reason: crate::gdb::missing(),
            },
            "",
        );
        assert_eq!(outcome, Outcome::Skipped);
        assert_eq!(context, [crate::gdb::missing()]);
        assert!(context[0].contains("apt-get install gdb-multiarch"));
    }

    /// `peer` reads the host peer's record only: the same line on the
    /// console (the guest printing it) does not pass it.
    #[test]
    fn peer_is_judged_from_the_peers_record_not_the_console() {
        let test = Test {
            id: 0,
            name: "txone (2024)".into(),
            requires: Vec::new(),
            points: 20,
            run: 0,
            timeout: None,
            visibility: Default::default(),
            untrusted: true,
            checks: vec![Check::Peer(vec![
                regex::Regex::new("^datagram: txone$").unwrap(),
            ])],
            parts: Vec::new(),
        };
        let judge = |console: &str, peer: &[&str]| {
            let peer: Vec<String> = peer.iter().map(|s| s.to_string()).collect();
            verdict(
                &test,
                console,
                &End::Finished,
                Duration::from_secs(1),
                &NoSymbols,
                None,
                &peer,
            )
        };
        let received = ["datagram: ping", "datagram: txone"];
        assert_eq!(
            judge(
                "$ nettests grade
$ ",
                &received
            )
            .0,
            Outcome::Pass
        );
        let (outcome, context) = judge(
            "$ nettests grade
datagram: txone
$ ",
            &[],
        );
        assert_eq!(outcome, Outcome::Fail);
        assert!(
            context[0].contains("the host's peer received no datagram matching")
                && context[1].contains("received nothing"),
            "{context:?}"
        );
        let (outcome, context) = judge("", &["datagram: txon"]);
        assert_eq!(outcome, Outcome::Fail);
        assert!(context[1].contains("datagram: txon"), "{context:?}");
    }

    struct NoSymbols;
    impl Symbolize for NoSymbols {
        fn functions(&self, _: u64) -> Result<Vec<String>, String> {
            Ok(Vec::new())
        }
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    fn queue(alone: &[bool]) -> Queue {
        let n = alone.len();
        Queue {
            order: (0..n).collect(),
            taken: vec![false; n],
            finished: vec![false; n],
            gates: vec![Gate::Open; n],
            deps: vec![Vec::new(); n],
            alone: alone.to_vec(),
        }
    }

    fn run(next: Next) -> Option<usize> {
        match next {
            Next::Run(j) => Some(j),
            _ => None,
        }
    }

    #[test]
    fn a_run_that_needs_the_machine_runs_alone() {
        // Job 1 needs the machine: it waits for job 0, and job 2 for it.
        let mut q = queue(&[false, true, false]);
        assert_eq!(run(q.take()), Some(0));
        assert!(matches!(q.take(), Next::Wait));
        q.finished[0] = true;
        assert_eq!(run(q.take()), Some(1));
        assert!(matches!(q.take(), Next::Wait));
        q.finished[1] = true;
        assert_eq!(run(q.take()), Some(2));
        assert!(matches!(q.take(), Next::Done));
        // Without it, runs go side by side.
        let mut q = queue(&[false, false, false]);
        assert_eq!(run(q.take()), Some(0));
        assert_eq!(run(q.take()), Some(1));
    }
}
