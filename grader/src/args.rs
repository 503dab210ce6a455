//! The grader's options, defined once: the `grader` binary parses them
//! (with its own `--kernel`, `--fs` …) and `cargo xtask grade` flattens
//! them into its own command line (with the batch options). Defaults that
//! several commands share (harts, parallel jobs) live here too.

use std::path::PathBuf;

use clap::builder::StyledStr;

/// Harts QEMU gets unless a spec or `--cpus` says otherwise (as xv6's
/// Makefile).
pub const DEFAULT_CPUS: u32 = 3;

/// The most harts a kernel supports.
pub const MAX_CPUS: u32 = abi::param::NCPU as u32;

/// The harts a command line or a spec may ask for.
pub const CPUS: std::ops::RangeInclusive<u32> = 1..=MAX_CPUS;

/// How many things run at once unless `-j` says otherwise: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--cpus N`: a number of harts in [`CPUS`].
pub fn parse_cpus(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if CPUS.contains(&n) => Ok(n),
        _ => Err(format!("harts are a number from 1 to {MAX_CPUS}")),
    }
}

/// `-j N`: at least 1.
pub fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("a number of jobs, at least 1".into()),
    }
}

/// A factor such as `--timeout-scale 2.5`: positive and finite.
pub fn parse_factor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err("a positive number, such as 2.5".into()),
    }
}

/// The grader's options, as `grader` and `cargo xtask grade` take them.
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct GradeArgs {
    /// Labs to grade (lab-NAME, for labs/lab-NAME.toml, or a spec file
    /// such as x/lab-new.toml), then test filters: only tests whose name
    /// contains one of them (ignoring case) are graded
    #[arg(value_name = "LAB|TEST")]
    pub words: Vec<String>,

    /// Grade every lab
    #[arg(long)]
    pub all: bool,

    /// List the labs and their points (with LABs: their tests)
    #[arg(long)]
    pub list: bool,

    /// QEMU runs at once [default: the number of cores]
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,

    /// Multiply every timeout by F [default: measured: how much slower
    /// than the reference machine QEMU runs here, at least 1; cached per
    /// machine]
    #[arg(long, value_name = "F", value_parser = parse_factor, allow_negative_numbers = true)]
    pub timeout_scale: Option<f64>,

    /// Measure this machine's speed again, and say it
    #[arg(long)]
    pub calibrate: bool,

    /// Harts per QEMU ({cpus}), instead of each spec's (default
    /// {default-cpus})
    #[arg(long, value_name = "N", value_parser = parse_cpus, allow_negative_numbers = true)]
    pub cpus: Option<u32>,

    /// Build with these lab features (comma-separated, possibly empty)
    /// instead of each spec's: grade a kernel with several labs, or prove
    /// a lab's tests fail without its code
    #[arg(long, value_name = "LIST")]
    pub features: Option<String>,

    /// Score every test on its own, as MIT's graders do (by default a test
    /// with `requires`, such as each lab's usertests parts, scores only
    /// when the tests it names passed)
    #[arg(long)]
    pub no_requires: bool,

    /// Seed of the specs' random values [default: a new one; every report
    /// gives the seed and the command that repeats a failed test]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// JSON report to FILE (- or none: stdout, and the text report goes to
    /// stderr; a lab's name after --json is the lab, not a file)
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,

    /// JUnit XML report
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Gradescope results.json
    #[arg(long, value_name = "FILE")]
    pub gradescope: Option<PathBuf>,
}

impl GradeArgs {
    /// `--features` as a list (`Some(vec![])` for `--features ''`).
    pub fn feature_list(&self) -> Option<Vec<String>> {
        self.features.as_ref().map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// `-j`, or one job per core.
    pub fn jobs(&self) -> usize {
        self.jobs.unwrap_or_else(default_jobs)
    }

    /// Settles the word after a bare `--json`, which clap takes as its
    /// file: a lab (or spec file) stays a lab and the JSON goes to stdout.
    pub fn resolve_json(&mut self, is_lab: impl Fn(&str) -> bool) {
        let Some(word) = self.json.as_ref().and_then(|p| p.to_str()) else {
            return;
        };
        if word != "-" && (is_lab(word) || is_spec_path(word)) {
            self.words.insert(0, word.to_owned());
            self.json = Some(PathBuf::from("-"));
        }
    }

    /// The options that choose what is graded and how (seed, harts,
    /// features, timeouts, `--no-requires`), as a grader takes them again:
    /// for the command that repeats a grade, or for a grader run per
    /// submission. Words, `-j`, reports and `--all`/`--list` are left out.
    pub fn grading_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(seed) = self.seed {
            out.extend(["--seed".to_owned(), seed.to_string()]);
        }
        out.extend(self.kernel_options());
        if let Some(f) = self.timeout_scale {
            out.extend(["--timeout-scale".to_owned(), f.to_string()]);
        }
        out
    }

    /// The options that change the kernel or how it is graded, which a
    /// replay line must repeat: `--no-requires`, `--features`, `--cpus`.
    pub fn kernel_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.no_requires {
            out.push("--no-requires".to_owned());
        }
        if let Some(features) = self.feature_list() {
            out.extend(["--features".to_owned(), features.join(",")]);
        }
        if let Some(cpus) = self.cpus {
            out.extend(["--cpus".to_owned(), cpus.to_string()]);
        }
        out
    }
}

/// Whether a command-line word is a spec file rather than a lab's name or
/// a test filter.
pub fn is_spec_path(word: &str) -> bool {
    word.ends_with(".toml")
}

const ABOUT: &str = "\
Grades labs: boots the kernel in QEMU, types each spec's commands at the
shell, checks the console and prints a score (specs: labs/<lab>.toml).";

const AFTER: &str = "\
Runs start shortest first (one at a time) or longest first (several at
once); a result the report cannot show yet (a test before it waits for its
run) is shown on the terminal when it is known. A kernel that prints no
shell prompt within {boot} of boot (times the timeout scale) is TIMEOUT, and
its runs not yet started are not run.

Console logs: <target>/grade/<lab>/<run>.log (the latest grader's; each
grader's own are in <target>/grade/runs/), <target> being $CARGO_TARGET_DIR
or target/. A flooded console keeps its first and last 512 KiB. Exit status:
0 full marks, 1 below, 2 a usage or spec error or a missing tool.";

/// Gives a command carrying [`GradeArgs`] the grader's description, usage
/// lines and closing notes, for a program run as `name` (`grader`,
/// `cargo xtask grade`); `more` goes after the notes.
pub fn describe(cmd: clap::Command, name: &str, more: &str) -> clap::Command {
    let usage = format!(
        "{name} [OPTIONS] <LAB>... [TEST]...\n       \
         {name} [OPTIONS] --all [TEST]...\n       \
         {name} --list [LAB]..."
    );
    let after = format!("{AFTER}{more}");
    // A front end's own summary (its list of commands) stays.
    let cmd = match cmd.get_about() {
        Some(_) => cmd,
        None => cmd.about(ABOUT),
    };
    let cmd = cmd
        .long_about(ABOUT)
        .override_usage(usage)
        .after_help(after.clone())
        .after_long_help(after);
    fill_help(cmd, &fill)
}

/// `text` with the grader's facts put in: `{cpus}` the harts allowed,
/// `{default-cpus}` the default, `{boot}` the boot timeout.
pub fn fill(text: &str) -> String {
    text.replace("{cpus}", &format!("1 to {MAX_CPUS}"))
        .replace("{default-cpus}", &DEFAULT_CPUS.to_string())
        .replace(
            "{boot}",
            &format!("{}s", crate::grade::BOOT_TIMEOUT.as_secs()),
        )
}

/// Applies `f` to every help text of `cmd`, its arguments and its
/// subcommands: the facts help texts give (lab names, limits) come from
/// where they are defined, not from copies in doc comments.
pub fn fill_help(mut cmd: clap::Command, f: &dyn Fn(&str) -> String) -> clap::Command {
    let map = |s: Option<&StyledStr>| s.map(|s| f(&s.to_string()));
    if let Some(t) = map(cmd.get_about()) {
        cmd = cmd.about(t);
    }
    if let Some(t) = map(cmd.get_long_about()) {
        cmd = cmd.long_about(t);
    }
    if let Some(t) = map(cmd.get_after_help()) {
        cmd = cmd.after_help(t);
    }
    if let Some(t) = map(cmd.get_after_long_help()) {
        cmd = cmd.after_long_help(t);
    }
    let ids: Vec<clap::Id> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for id in ids {
        cmd = cmd.mut_arg(id, |a| {
            let (help, long) = (map(a.get_help()), map(a.get_long_help()));
            let a = match help {
                Some(h) => a.help(h),
                None => a,
            };
            match long {
                Some(h) => a.long_help(h),
                None => a,
            }
        });
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, |s| fill_help(s, f));
    }
    cmd
}

/// A clap error as a person should see it: what went wrong, in one line,
/// as `program: …`, then which `--help` shows how to call the command
/// (`command`, e.g. `cargo xtask build`). Help and version requests are
/// not errors: `None`, and clap prints them.
pub fn usage_error(program: &str, command: &str, e: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    let hint = format!("`{command} --help` shows how to call it");
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return None,
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            return Some(format!("{program}: no command given\n{hint}"));
        }
        _ => {}
    }
    // The first paragraph: the complaint, and the arguments it lists on
    // indented lines ("the following required arguments were not
    // provided:"); usage and tips follow a blank line.
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().take_while(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("bad arguments");
    let mut what = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    for more in lines {
        what.push(' ');
        what.push_str(more.trim());
    }
    Some(format!("{program}: {what}\n{hint}"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;

    #[derive(Parser, Debug)]
    #[command(name = "grader")]
    struct Cli {
        #[command(flatten)]
        grade: GradeArgs,
    }

    fn parsed(args: &[&str]) -> Result<GradeArgs, clap::Error> {
        let cmd = describe(Cli::command(), "grader", "");
        let m = cmd.try_get_matches_from(std::iter::once("grader").chain(args.iter().copied()))?;
        let mut g = Cli::from_arg_matches(&m)?.grade;
        g.resolve_json(|w| w == "lab-util" || w == "base");
        Ok(g)
    }

    #[test]
    fn json_takes_any_file_but_a_lab() {
        let o = parsed(&["--json", "lab-util"]).unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
        assert_eq!(o.words, vec!["lab-util"]);
        for file in ["out.json", "report", "results.txt"] {
            let o = parsed(&["--json", file, "base"]).unwrap();
            assert_eq!(o.json, Some(PathBuf::from(file)));
            assert_eq!(o.words, vec!["base"]);
        }
        let o = parsed(&["--json=x", "base"]).unwrap();
        assert_eq!(o.json, Some(PathBuf::from("x")));
        let o = parsed(&["base", "--json"]).unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
        let o = parsed(&["--json", "--seed", "3", "base"]).unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
        assert_eq!(o.seed, Some(3));
        let o = parsed(&["--json", "-", "base"]).unwrap();
        assert_eq!(o.json, Some(PathBuf::from("-")));
        assert_eq!(o.words, vec!["base"]);
        let o = parsed(&["--json", "x/new.toml"]).unwrap();
        assert_eq!(o.words, vec!["x/new.toml"]);
    }

    fn error(args: &[&str]) -> String {
        usage_error("grader", "grader", &parsed(args).unwrap_err()).unwrap()
    }

    #[test]
    fn bad_values_name_their_option_in_one_line_and_say_where_help_is() {
        for (args, want) in [
            (
                &["--timeout-scale", "abc"][..],
                "grader: invalid value 'abc' for '--timeout-scale <F>': a positive number, such as 2.5",
            ),
            (&["--timeout-scale", "-2"], "invalid value '-2'"),
            (&["--timeout-scale", "inf"], "invalid value 'inf'"),
            (
                &["--jobs", "x"],
                "'--jobs <N>': a number of jobs, at least 1",
            ),
            (&["-j", "0"], "invalid value '0' for '--jobs <N>'"),
            (&["--seed", "-1"], "invalid value '-1' for '--seed <N>'"),
            (&["--cpus"], "a value is required for '--cpus <N>'"),
            (&["--cpus", "0"], "harts are a number from 1 to 8"),
            (&["--cpus", "9"], "invalid value '9'"),
            (&["--frobnicate"], "unexpected argument '--frobnicate'"),
        ] {
            let e = error(args);
            let lines: Vec<&str> = e.lines().collect();
            assert_eq!(lines.len(), 2, "{args:?}: {e}");
            assert!(lines[0].starts_with("grader: "), "{args:?}: {e}");
            assert!(lines[0].contains(want), "{args:?}: {e}");
            assert_eq!(lines[1], "`grader --help` shows how to call it");
        }
        let help = parsed(&["-h"]).unwrap_err();
        assert!(usage_error("grader", "grader", &help).is_none());
    }

    #[test]
    fn cpus_limits_are_the_kernels() {
        assert_eq!(parse_cpus("1"), Ok(1));
        assert_eq!(parse_cpus(&MAX_CPUS.to_string()), Ok(MAX_CPUS));
        assert!(parse_cpus(&(MAX_CPUS + 1).to_string()).is_err());
        assert!(CPUS.contains(&DEFAULT_CPUS));
    }

    #[test]
    fn help_names_the_facts_not_placeholders() {
        let help = describe(Cli::command(), "grader", "")
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Usage: grader [OPTIONS] <LAB>... [TEST]..."),
            "{help}"
        );
        assert!(help.contains("1 to 8") && help.contains("30s"), "{help}");
        assert!(!help.contains('{'), "{help}");
    }

    #[test]
    fn options_render_back_as_a_grader_takes_them() {
        let o = parsed(&[
            "base",
            "--seed",
            "7",
            "--cpus",
            "2",
            "--features",
            "a, b",
            "--no-requires",
            "--timeout-scale",
            "1.5",
        ])
        .unwrap();
        assert_eq!(
            o.grading_options(),
            [
                "--seed",
                "7",
                "--no-requires",
                "--features",
                "a,b",
                "--cpus",
                "2",
                "--timeout-scale",
                "1.5"
            ]
        );
        let again = parsed(
            &o.grading_options()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(again.grading_options(), o.grading_options());
        assert_eq!(
            parsed(&["--features", ""]).unwrap().feature_list(),
            Some(vec![])
        );
    }
}
