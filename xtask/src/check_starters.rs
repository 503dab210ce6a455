//! `cargo xtask check-starters`: for each lab, the reference solution
//! scores full marks on the lab's own tests (its usertests too with
//! `--reference-usertests`; `grade --all` grades them anyway, and they are
//! the slow part), and its starter builds without a warning, boots,
//! passes the base kernel's quick tests and scores 0 on every test of the
//! lab's spec, usertests parts included (those `requires` the lab's own
//! tests, so a starter that passes usertests as the base kernel does still
//! scores nothing there). A spec that cannot tell a starter from a solution
//! fails here.
//!
//! One starter tree holds every lab's starter (each lab is a feature, so
//! each configuration compiles only its own lab's file). It lives in
//! `<target>/starters/tree` with its own target directory and is updated in
//! place, so a second run rebuilds only what changed. Every build comes
//! first; then all grades go to one pool of QEMU runs.

use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use grader::report::{LabReport, Outcome, TestReport};
use grader::spec::Run;

use crate::build;
use crate::handout::{self, Starters};
use crate::labs::LabSet;
use crate::run::{Ctx, Env, KERNEL_PACKAGE, USER_PACKAGE};
use crate::setup;

/// The labs `--quick` checks (`quick` in the registry): those whose
/// reference grade runs no usertests, so the whole check takes about a
/// minute once built.
pub fn quick_labs() -> Vec<&'static str> {
    let r = crate::labs::registry();
    r.labs
        .iter()
        .filter(|l| l.quick)
        .map(|l| l.name.as_str())
        .collect()
}

/// `cargo xtask check-starters`' options (its help is in `crate::args`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The labs to check [default: all]
    #[arg(value_name = "LAB", value_parser = Starters::parse)]
    pub labs: Vec<Starters>,
    /// Only {quick}, whose grades run no usertests
    #[arg(long)]
    pub quick: bool,
    /// Grade the references' usertests too (as `grade --all` does); by
    /// default a reference is graded on its lab's own tests only
    #[arg(long)]
    pub reference_usertests: bool,
    /// QEMU runs at once [default: the number of cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = grader::args::parse_jobs)]
    pub jobs: Option<usize>,
    /// Multiply every timeout by F [default: the factor measured for this
    /// machine, as `grade` uses]
    #[arg(long, value_name = "F", value_parser = grader::args::parse_factor)]
    pub timeout_scale: Option<f64>,
}

/// `cargo xtask check-starters …`.
pub fn command(ctx: &Ctx, args: &Args) -> Result<ExitCode, String> {
    let mut labs = args
        .labs
        .iter()
        .cloned()
        .fold(Starters::NONE, Starters::union);
    let quick = args.quick;
    let jobs = args.jobs.unwrap_or_else(grader::args::default_jobs);
    let scale = args.timeout_scale;
    if quick {
        labs = quick_labs()
            .iter()
            .fold(labs, |s, l| s.union(Starters::parse(l).expect("a lab")));
    } else if labs.is_empty() {
        labs = Starters::all();
    }
    check(ctx, labs, jobs, scale, args.reference_usertests)
}

/// What went wrong, per lab (`None`: the tree as a whole).
type Problems = Vec<(Option<&'static str>, String)>;

fn check(
    ctx: &Ctx,
    labs: Starters,
    jobs: usize,
    scale: Option<f64>,
    reference_usertests: bool,
) -> Result<ExitCode, String> {
    let base_dir = ctx.target_dir.join("starters");
    std::fs::create_dir_all(&base_dir)
        .map_err(|e| format!("cannot create {}: {e}", base_dir.display()))?;
    let _lock = lock(&base_dir.join(".lock"))?;
    let tree = base_dir.join("tree");
    let report = handout::write_student_tree(&ctx.root, &Starters::all(), &tree)?;
    eprintln!(
        "check-starters: starters of every lab in {} ({} files rewritten; {} solution lines checked absent)",
        ctx.show(&tree),
        report.written,
        report.lines_checked
    );
    let mut sctx = Ctx::new()?;
    sctx.root = tree.clone();
    sctx.target_dir = tree.join("target");

    let selected: Vec<&'static str> = labs.names().collect();
    let mut problems: Problems = Vec::new();
    lint(&sctx, &selected, &mut problems);

    // The neutral stubs, in a tree of their own: only the labs whose stub
    // differs from the starter (where the starter panics) are built there.
    let neutral_tree = base_dir.join("neutral");
    handout::write_tree(
        &ctx.root,
        &Starters::all(),
        &neutral_tree,
        handout::Cut::Neutral,
    )?;
    let mut nctx = Ctx::new()?;
    nctx.root = neutral_tree.clone();
    nctx.target_dir = neutral_tree.join("target");
    let differs = |lab: &str| {
        handout::lab_files(lab)
            .iter()
            .any(|f| std::fs::read(tree.join(f)).ok() != std::fs::read(neutral_tree.join(f)).ok())
    };

    // Build: the reference here, the starter and the neutral stub in their trees.
    let mut built = Vec::new();
    for &lab in &selected {
        let config = handout::lab_config(lab);
        // The programs of its host runs, built in each tree with the kernel.
        let spec = grader::spec::load(&ctx.root, &format!("lab-{lab}"), 0);
        let programs = spec.as_ref().map(|s| s.host_programs()).unwrap_or_default();
        // A run that stops at a breakpoint by an xv6 name (`piperead`)
        // needs the names beside the kernel, as `grade` writes them.
        let stops = spec
            .as_ref()
            .is_ok_and(|s| s.runs.iter().any(|r| r.stop_at.is_some()));
        let both = |c: &Ctx| {
            let mut b = built_kernel(build::build(c, &config)?);
            if !programs.is_empty() {
                b.host = Some(build::build_host(c, &programs)?);
            }
            if stops {
                crate::gdbnames::ensure(&c.root, &b.kernel)?;
            }
            Ok::<_, String>(b)
        };
        let reference = both(ctx);
        let starter = both(&sctx);
        let neutral = differs(lab).then(|| both(&nctx));
        match (reference, starter, neutral) {
            (Err(e), _, _) => {
                problems.push((Some(lab), format!("the reference does not build: {e}")))
            }
            (_, Err(e), _) => {
                problems.push((Some(lab), format!("the starter does not build: {e}")))
            }
            (_, _, Some(Err(e))) => {
                problems.push((Some(lab), format!("the neutral stub does not build: {e}")))
            }
            (Ok(r), Ok(s), n) => built.push((lab, r, s, n.map(|n| n.expect("checked above")))),
        }
    }

    let logs = ctx.target_dir.join("grade").join("check-starters");
    let mut graded_labs = Vec::new();
    if !built.is_empty() {
        setup::require_qemu()?;
        let scale = match scale {
            Some(f) => f,
            None => grader::cli::machine_scale()?,
        };
        if let Err(e) = grader::qemu::install_interrupt_handler() {
            eprintln!("check-starters: {e}");
        }
        let seed = u64::from(std::process::id());
        let load =
            |name: &str| grader::spec::load(&ctx.root, name, seed).map_err(|e| e.to_string());
        let mut to_grade = Vec::new();
        for (lab, reference, starter, neutral) in &built {
            let spec_name = format!("lab-{lab}");
            let [full, own, base, stub] = specs_for(&load, lab, reference_usertests)?;
            let mut graded = vec![(full, reference), (own, starter), (base, starter)];
            if let Some(neutral) = neutral {
                graded.push((stub, neutral));
            }
            for (spec, kernel) in graded {
                to_grade.push(grader::grade::Lab {
                    arg: spec_name.clone(),
                    spec,
                    seed,
                    built: Ok(kernel.clone()),
                });
            }
        }
        let settings = grader::grade::Settings {
            qemu: grader::qemu::qemu_binary(),
            jobs,
            timeout_scale: scale,
            boot_timeout: grader::grade::BOOT_TIMEOUT.mul_f64(scale),
            cpus: None,
            logs: logs.clone(),
            latest: None,
            replay: "cargo xtask grade".to_owned(),
            replay_options: String::new(),
            root: ctx.root.clone(),
            progress: std::io::stderr().is_terminal(),
            early: false,
        };
        eprintln!(
            "check-starters: grading {} kernels ({} QEMU runs at once)",
            to_grade.len(),
            jobs
        );
        let mut text = Vec::new();
        let graded = grader::grade::grade(&to_grade, &settings, &mut text)
            .map_err(|e| format!("cannot write the report: {e}"))?;
        if let Some(e) = graded.qemu_error {
            return Err(e);
        }
        let report_path = logs.join("report.txt");
        crate::fsutil::AtomicFile::new(&report_path)?.write(&strip_ansi(&text))?;
        graded_labs = graded.labs;
    }

    // Judge and summarise.
    let find = |name: String| graded_labs.iter().find(|l| l.lab == name);
    eprintln!(
        "check-starters: {:<10} {:>10} {:>18} {:>18} {:>13}",
        "lab", "reference", "starter: its spec", "starter: base", "neutral stub"
    );
    for (lab, _, _, neutral) in &built {
        let (Some(r), Some(s), Some(b)) = (
            find(format!("lab-{lab}.reference")),
            find(format!("lab-{lab}.starter")),
            find(format!("base.starter-{lab}")),
        ) else {
            problems.push((Some(lab), "the grader reported nothing".into()));
            continue;
        };
        let score = |l: &LabReport| format!("{}/{}", l.score, l.max_score);
        let n = neutral
            .is_some()
            .then(|| find(format!("lab-{lab}.neutral")));
        eprintln!(
            "check-starters: {:<10} {:>10} {:>18} {:>18} {:>13}",
            lab,
            score(r),
            score(s),
            score(b),
            match n {
                Some(Some(n)) => score(n),
                Some(None) => "?".into(),
                None => "as starter".into(),
            }
        );
        let unsure: Vec<&str> = leaves(r)
            .filter(|t| t.outcome == Outcome::NeedsCores)
            .map(|t| t.name.as_str())
            .collect();
        if !unsure.is_empty() {
            eprintln!(
                "check-starters: lab {lab}: the reference's {} not checked here (NEEDS CORES: \
                 too few or too busy host cores); check it on an idle machine",
                unsure.join(", ")
            );
        }
        problems.extend(judge(r, s, b).into_iter().map(|p| (Some(*lab), p)));
        match n {
            Some(Some(n)) if n.score > 0 => problems.push((
                Some(*lab),
                format!(
                    "its neutral stub (every hook and system call doing nothing, without panicking) \
                     scores {}/{} (passing: {}): those tests pass for no work",
                    n.score,
                    n.max_score,
                    leaves(n)
                        .filter(|t| t.points > 0)
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(None) => {
                problems.push((Some(*lab), "the grader reported nothing for the neutral stub".into()))
            }
            _ => {}
        }
    }
    let report_note = format!(
        "report and console logs: {}",
        ctx.show(&logs.join("report.txt"))
    );
    if problems.is_empty() {
        eprintln!(
            "check-starters: every starter is in order ({}); {report_note}",
            selected.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (lab, p) in &problems {
        match lab {
            Some(lab) => eprintln!("check-starters: lab {lab}: {p}"),
            None => eprintln!("check-starters: {p}"),
        }
    }
    let mut failed: Vec<&str> = problems.iter().filter_map(|(l, _)| *l).collect();
    failed.dedup();
    eprintln!(
        "check-starters: FAILED for {}; {report_note}",
        if failed.is_empty() {
            "the starter tree".to_string()
        } else {
            failed.join(", ")
        }
    );
    Ok(ExitCode::FAILURE)
}

fn built_kernel(out: build::Outputs) -> grader::cli::Built {
    grader::cli::Built {
        kernel: out.kernel,
        fs_img: out.fs_img,
        host: None,
    }
}

/// rustfmt over the tree, clippy over the selected labs' kernels (all of
/// them together too when every lab is selected) and the user programs,
/// warnings denied: what CI asks of the reference, the starter must meet.
fn lint(sctx: &Ctx, labs: &[&'static str], problems: &mut Problems) {
    if sctx
        .run(&mut sctx.cargo(Env::Host, ["fmt", "--all", "--", "--check"]))
        .is_err()
    {
        problems.push((
            None,
            "the starter tree is not formatted (rustfmt's diff is above): fix the STARTER lines"
                .into(),
        ));
    }
    let clippy = |labs: LabSet| {
        let mut args: Vec<String> = ["clippy"]
            .iter()
            .chain(&KERNEL_PACKAGE)
            .map(|a| a.to_string())
            .collect();
        if let Some(f) = labs.features() {
            args.extend(["--features".to_string(), f]);
        }
        args.extend(["--", "-D", "warnings"].map(String::from));
        sctx.run(&mut sctx.cargo(Env::Target, args)).is_ok()
    };
    for &lab in labs {
        if !clippy(handout::lab_config(lab)) {
            problems.push((
                Some(lab),
                "the starter's kernel has warnings or errors (clippy's output is above)".into(),
            ));
        }
    }
    let every_kernel_lab = crate::labs::registry()
        .kernel_labs()
        .all(|l| labs.contains(&l.name.as_str()));
    if every_kernel_lab && !clippy(LabSet::all()) {
        problems.push((
            None,
            "the kernel with every lab's starter has warnings or errors (clippy's output is above)"
                .into(),
        ));
    }
    // The host programs students finish (the thread lab's).
    let host = [
        "clippy",
        "-p",
        "host",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ];
    if sctx.run(&mut sctx.cargo(Env::Host, host)).is_err() {
        problems.push((
            labs.iter()
                .copied()
                .find(|l| crate::labs::lab(l).is_some_and(|l| !l.host.is_empty())),
            "the starter's host programs have warnings or errors (clippy's output is above)".into(),
        ));
    }
    let user = ["clippy"]
        .iter()
        .chain(&USER_PACKAGE)
        .chain(&["--", "-D", "warnings"]);
    if sctx.run(&mut sctx.cargo(Env::Target, user)).is_err() {
        problems.push((
            labs.iter()
                .copied()
                .find(|l| crate::labs::lab(l).is_some_and(|l| !l.user.is_empty())),
            "the starter's user programs have warnings or errors (clippy's output is above)".into(),
        ));
    }
}

/// Whether a run is usertests: its tests are not the lab's own.
/// The specs `lab`'s kernels are graded on: its whole spec for the starter
/// and the neutral stub (usertests parts included: they require the lab's
/// own tests, so an untouched starter must score 0 on them too), base's
/// tests but usertests for the starter, and for the reference its whole
/// spec, or without usertests unless `reference_usertests` (a minute of
/// QEMU each that `grade --all` spends too).
fn specs_for(
    load: &dyn Fn(&str) -> Result<grader::spec::Spec, String>,
    lab: &str,
    reference_usertests: bool,
) -> Result<[grader::spec::Spec; 4], String> {
    let spec_name = format!("lab-{lab}");
    let named = |spec: &str, name: String| {
        load(spec).map(|mut s| {
            s.name = name;
            s
        })
    };
    let mut base = named("base", format!("base.starter-{lab}"))?;
    base.tests.retain(|t| !runs_usertests(&base.runs[t.run]));
    let mut reference = named(&spec_name, format!("{spec_name}.reference"))?;
    if !reference_usertests {
        reference
            .tests
            .retain(|t| !runs_usertests(&reference.runs[t.run]));
    }
    Ok([
        reference,
        named(&spec_name, format!("{spec_name}.starter"))?,
        base,
        named(&spec_name, format!("{spec_name}.neutral"))?,
    ])
}

fn runs_usertests(run: &Run) -> bool {
    run.commands
        .iter()
        .any(|c| c.split_whitespace().next() == Some("usertests"))
}

/// The scored tests: a test itself, or its parts.
fn leaves(lab: &LabReport) -> impl Iterator<Item = &TestReport> {
    lab.tests.iter().flat_map(|t| {
        if t.parts.is_empty() {
            std::slice::from_ref(t).iter()
        } else {
            t.parts.iter()
        }
    })
}

/// What is wrong with one lab, given the reference's full grade, the
/// starter's grade on the whole lab spec and on the base kernel's.
fn judge(reference: &LabReport, starter: &LabReport, base: &LabReport) -> Vec<String> {
    let names = |lab: &LabReport, pick: &dyn Fn(&TestReport) -> bool| -> String {
        let names: Vec<&str> = leaves(lab)
            .filter(|t| pick(t))
            .map(|t| t.name.as_str())
            .collect();
        names.join(", ")
    };
    let mut problems = Vec::new();
    // A test this machine could not judge (NEEDS CORES) is no failure of
    // the reference: the caller says it was not checked.
    let failing = names(reference, &|t| {
        t.points < t.max_points && t.outcome != Outcome::NeedsCores
    });
    if reference.max_score == 0 || !failing.is_empty() {
        problems.push(format!(
            "the reference solution scores {}/{} (failing: {failing})",
            reference.score, reference.max_score,
        ));
    }
    if starter.max_score == 0 {
        problems.push(
            "the lab has no tests of its own (outside usertests) to tell a starter from a solution"
                .into(),
        );
    } else if starter.score > 0 {
        problems.push(format!(
            "the starter scores {}/{} on the lab's spec (passing: {}): \
             the spec cannot tell the starter from the solution",
            starter.score,
            starter.max_score,
            names(starter, &|t| t.points > 0)
        ));
    }
    if base.max_score == 0 || base.score < base.max_score {
        problems.push(format!(
            "the starter fails the base kernel's tests ({}/{}, failing: {})",
            base.score,
            base.max_score,
            names(base, &|t| t.points < t.max_points)
        ));
    }
    problems
}

/// Holds `path` locked until dropped: two checks would write one tree.
fn lock(path: &Path) -> Result<File, String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    if file.try_lock().is_err() {
        eprintln!("check-starters: waiting for another check-starters to finish");
        file.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    }
    Ok(file)
}

/// The report without colour escapes, for a file.
fn strip_ansi(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == 0x1b && text.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < text.len() && !text[i].is_ascii_alphabetic() {
                i += 1;
            }
            i += 1;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use grader::spec::Visibility;

    fn test(name: &str, points: u32, max: u32) -> TestReport {
        TestReport {
            name: name.into(),
            points,
            max_points: max,
            outcome: if points == max {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            seconds: None,
            visibility: Visibility::Visible,
            context: Vec::new(),
            log: None,
            replay: None,
            parts: Vec::new(),
        }
    }

    fn lab(name: &str, tests: Vec<TestReport>) -> LabReport {
        let mut l = LabReport::new(name.into(), 1, Default::default(), String::new());
        for t in tests {
            l.push(t);
        }
        l
    }

    #[test]
    fn a_good_lab_has_no_problems() {
        let r = lab("r", vec![test("simple", 30, 30), test("usertests", 5, 5)]);
        let s = lab("s", vec![test("simple", 0, 30)]);
        let b = lab("b", vec![test("boot", 5, 5)]);
        assert!(judge(&r, &s, &b).is_empty());
    }

    #[test]
    fn a_spec_that_passes_the_starter_is_caught() {
        let r = lab("r", vec![test("simple", 30, 30), test("file", 20, 20)]);
        let mut parent = test("running", 10, 20);
        parent.parts = vec![
            test("running: test0", 10, 10),
            test("running: test1", 0, 10),
        ];
        let s = lab(
            "s",
            vec![test("simple", 0, 30), test("file", 20, 20), parent],
        );
        let b = lab("b", vec![test("boot", 5, 5)]);
        let p = judge(&r, &s, &b);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("scores 30/70") && p[0].contains("passing: file, running: test0"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn a_failing_reference_a_testless_lab_and_a_broken_base_are_caught() {
        let r = lab("r", vec![test("simple", 0, 30)]);
        let s = lab("s", vec![]);
        let b = lab("b", vec![test("boot", 0, 5), test("ls", 5, 5)]);
        let p = judge(&r, &s, &b);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("reference solution scores 0/30 (failing: simple)"));
        assert!(p[1].contains("no tests of its own"));
        assert!(p[2].contains("failing: boot"));
    }

    #[test]
    fn a_reference_the_machine_could_not_judge_is_no_failure() {
        let mut unsure = test("ph_fast", 0, 10);
        unsure.outcome = Outcome::NeedsCores;
        let r = lab("r", vec![test("ph_safe", 10, 10), unsure]);
        let s = lab("s", vec![test("ph_safe", 0, 10), test("ph_fast", 0, 10)]);
        let b = lab("b", vec![test("boot", 5, 5)]);
        assert!(judge(&r, &s, &b).is_empty());
        // But a failure beside it still counts, and only it is named.
        let mut unsure = test("ph_fast", 0, 10);
        unsure.outcome = Outcome::NeedsCores;
        let r = lab("r", vec![test("ph_safe", 0, 10), unsure]);
        let p = judge(&r, &s, &b);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].ends_with("scores 0/20 (failing: ph_safe)"), "{}", p[0]);
    }

    #[test]
    fn usertests_runs_are_told_apart() {
        let run = |c: &str| Run {
            id: "r".into(),
            commands: vec![c.into()],
            timeout: None,
            until: None,
            host: false,
            cores: 1,
            stop_at: None,
        };
        assert!(runs_usertests(&run("usertests -q")));
        assert!(!runs_usertests(&run("trace 2 usertests forkforkfork")));
        assert!(!runs_usertests(&run("cowtest")));
    }

    /// Issue 22: the starter was graded without the usertests parts, which
    /// an unchanged kernel passes, so they escaped the zero check.
    #[test]
    fn starters_are_graded_on_every_part_usertests_included() {
        let root = grader::registry::source_root();
        let load = |name: &str| grader::spec::load(&root, name, 1).map_err(|e| e.to_string());
        for lab in ["pgtbl", "alarm", "lazy", "cow"] {
            let [full, own, base, stub] = specs_for(&load, lab, true).unwrap();
            let has_usertests =
                |s: &grader::spec::Spec| s.tests.iter().any(|t| runs_usertests(&s.runs[t.run]));
            assert!(has_usertests(&full), "{lab}'s spec runs no usertests");
            assert!(has_usertests(&own), "{lab}'s starter skips usertests");
            assert!(has_usertests(&stub), "{lab}'s neutral stub skips usertests");
            assert_eq!(own.tests.len(), full.tests.len(), "{lab}");
            assert!(!has_usertests(&base), "{lab}");
            // By default the reference's usertests are left to `grade --all`.
            let [reference, own, _, _] = specs_for(&load, lab, false).unwrap();
            assert!(!has_usertests(&reference), "{lab}");
            assert!(has_usertests(&own), "{lab}'s starter skips usertests");
            assert!(reference.tests.len() < own.tests.len(), "{lab}");
        }
    }

    #[test]
    fn strips_colour() {
        assert_eq!(strip_ansi(b"\x1b[1mScore\x1b[0m: 1/2"), b"Score: 1/2");
    }

    #[test]
    fn quick_labs_run_no_usertests() {
        let root = grader::registry::source_root();
        assert!(!quick_labs().is_empty());
        for l in quick_labs() {
            let spec = grader::spec::load(&root, &format!("lab-{l}"), 1).unwrap();
            assert!(!spec.runs.iter().any(runs_usertests), "{l}");
        }
    }
}
