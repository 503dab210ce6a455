//! The command line of `cargo xtask`: one clap definition of every
//! command. Each command's options are a typed struct its module takes;
//! help comes from these definitions, with the registry's facts (lab
//! names) and the grader's (harts) filled in when the command is built.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use grader::args::{DEFAULT_CPUS, GradeArgs};

use crate::labs::LabSet;

/// The program's name in help and messages.
pub const NAME: &str = "cargo xtask";

#[derive(Parser, Debug)]
#[command(
    name = NAME,
    bin_name = NAME,
    subcommand_required = true,
    args_override_self = true,
    about = "Sets the machine up, builds xv6 (kernel, user programs, fs.img), boots \
             it in QEMU or gdb, grades labs and classes, runs the CI checks, and \
             writes student trees.",
    after_help = LABS_NOTE,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const LABS_NOTE: &str = "\
L (--lab) is a lab ({kernel-labs}, or lab-{lab} …), a group of labs, a
comma-separated list of those, or all; without --lab, the base kernel.
Outputs go to target/xv6/<config>/: kernel, kernel.asm, kernel.sym, fs.img.";

#[derive(Subcommand, Debug, PartialEq)]
pub enum Command {
    /// Install what is missing: rustup target, QEMU, RISC-V gcc
    Setup,
    /// Build the kernel, user programs and fs.img, in target/xv6/<config>/
    #[command(after_help = LABS_NOTE)]
    Build(BuildArgs),
    /// Build, then boot xv6 in QEMU (Ctrl-A X quits)
    ///
    /// The disk (target/xv6/<config>/disk.img) keeps what you do in xv6;
    /// --fresh-disk starts it over.
    #[command(after_help = LABS_NOTE)]
    Qemu(BootArgs),
    /// Like qemu, but QEMU waits for gdb to attach
    #[command(after_help = LABS_NOTE)]
    Gdb(BootArgs),
    /// Build and grade a lab, e.g. `cargo xtask grade lab-{lab}`; or a
    /// class (--submissions)
    Grade(Box<GradeCmd>),
    /// Combine the parts of a class graded in shards (`grade --shard K/N`)
    /// into its summary, as one run would have written it
    ///
    /// Refuses parts graded with other specs, starters or options, and a
    /// missing or doubled part.
    Merge(crate::batch::MergeArgs),
    /// Check an xv6 image (default: disk.img, else fs.img)
    ///
    /// A committed log is replayed first, unless --no-replay.
    #[command(after_help = LABS_NOTE)]
    Fsck(FsckArgs),
    /// The checks CI runs: rustfmt, clippy, all tests
    Ci(CiArgs),
    /// Time boots, the edit-rebuild-grade loop, in-guest figures,
    /// usertests, grading and batch grading
    ///
    /// `bench --compare NEW.json --baseline OLD.json` compares two saved
    /// runs without measuring.
    Bench(crate::bench::Options),
    /// Write a student tree: the labs' solutions cut to starters
    ///
    /// Writes a student tree to DIR: the files git tracks here, without
    /// history, with the labs' solutions replaced by their starters, then
    /// checks that no line of a solution is left anywhere in it. A student
    /// tree carries no reference solution: every lab is a starter, the ones
    /// named and the others alike (the LABs name what the tree is for, in
    /// its commit message). DIR becomes a git repository with one commit
    /// unless --no-git. DIR must be new or empty, or a tree handout wrote
    /// before, which is then updated.
    #[command(
        override_usage = "cargo xtask handout (LAB... | --all) --out DIR [--solved LABS] [--no-git]",
        after_help = "LAB: {labs} (the last are MIT's labs that are several of ours), or \
                      lab-<name>."
    )]
    Handout(crate::handout::Args),
    /// The reference scores full marks, the starter builds cleanly, passes
    /// the base tests and scores 0 on its lab
    ///
    /// For each lab (default: all): its reference solution scores full
    /// marks (a test this machine cannot judge, NEEDS CORES, is named, not
    /// failed); its starter, cut into target/starters/tree and built there,
    /// has no warning (clippy -D warnings, rustfmt), boots, passes the base
    /// kernel's tests that run no usertests, and scores 0 on every point of
    /// the lab's spec (its usertests parts require the lab's own tests, so
    /// their runs are not booted). So does its neutral stub
    /// (target/starters/neutral): the starter with each hook and system
    /// call returning its neutral value instead of panicking, and the
    /// programs students write doing nothing. Report:
    /// target/grade/check-starters/report.txt.
    CheckStarters(crate::check_starters::Args),
    /// Check the tree is committed, pack lab-LAB-handin.zip
    ///
    /// Checks that everything in the tree is committed, that the lab's
    /// files are there, that time.txt holds the hours you spent (one
    /// integer) and, for the labs with written questions ({answers}), that
    /// the answers file holds your answers; then packs the committed files
    /// into FILE (default: target/lab-LAB-handin.zip) for you to upload.
    #[command(after_help = "LAB: {labs} (or lab-<name>).")]
    Handin(crate::handin::Args),
    /// A Gradescope autograder bundle (no solution in it)
    ///
    /// Writes a Gradescope autograder bundle for LAB (lab-{lab}, a group,
    /// …): a student tree with no solution in it, setup.sh and
    /// run_autograder. Upload it as the assignment's autograder, on
    /// Gradescope's Ubuntu 24.04 base image (QEMU 8.2; 22.04's QEMU 6.2 is
    /// too old).
    Gradescope(crate::gradescope::Args),
    /// A student tree's test files (specs, test programs, grader, xtask …)
    /// are the starter's, as handout recorded them
    ///
    /// Checks that the files a grade depends on (specs, test programs, user
    /// library, kernel, grader, xtask, tests, Cargo files, the workflow) are
    /// the starter's: each has the SHA-256 that `cargo xtask handout`
    /// recorded in .github/trusted-files.sha256, and none was added or
    /// removed. The students' lab files are not checked. Exit status: 0
    /// unchanged, 1 test files modified, 2 no record.
    VerifyStarter(crate::verify::Args),
    /// A user program's disassembly with source lines, and its ELF with
    /// symbols for gdb
    ///
    /// Builds the programs again with their symbols (the disk's are
    /// stripped; the code is the same), writes target/xv6/user/<P>.asm and
    /// prints where the ELF is, for gdb's add-symbol-file.
    Asm(crate::asm::Args),
}

/// `--lab L`, which several commands take.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct LabArgs {
    /// The labs to build in (see below); may be given more than once
    #[arg(short, long = "lab", value_name = "L", value_parser = LabSet::parse)]
    lab: Vec<LabSet>,
}

impl LabArgs {
    /// Every `--lab` together; none is the base kernel.
    pub fn labs(&self) -> LabSet {
        self.lab.iter().cloned().fold(LabSet::BASE, LabSet::union)
    }
}

#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct BuildArgs {
    #[command(flatten)]
    pub labs: LabArgs,
    /// Also build the host program P (a spec's host runs start them)
    #[arg(long = "host", value_name = "P")]
    pub host: Vec<String>,
    /// Also write xv6-names.o, xv6's names of the kernel's functions for
    /// gdb (`cargo xtask gdb` and a spec's `stop_at` write it themselves)
    #[arg(long)]
    pub gdb_names: bool,
}

#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct BootArgs {
    #[command(flatten)]
    pub labs: LabArgs,
    /// Harts ({cpus})
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CPUS,
          value_parser = grader::args::parse_cpus, allow_negative_numbers = true)]
    pub cpus: u32,
    /// Start the disk over from the built fs.img
    #[arg(long)]
    pub fresh_disk: bool,
}

/// `cargo xtask grade`: the grader's options, and the batch's.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct GradeCmd {
    #[command(flatten)]
    pub grader: GradeArgs,
    #[command(flatten)]
    pub batch: crate::batch::BatchArgs,
}

/// The end of `cargo xtask grade --help`: what `cargo xtask` adds to the
/// grader (building, and grading a class).
const GRADE_NOTES: &str = "

Building: `cargo xtask grade` builds each lab's kernel configuration first
(as `cargo xtask build --lab L`).

Grading a class: cargo xtask grade <LAB> --submissions DIR [OPTIONS] [TEST]...
each submission (a student's tree, or a .patch) is built and run in a
bubblewrap sandbox, in parallel; exit status 1 if any submission was
refused or did not build. With --submissions, -j is submissions at once,
--json the class's scores with every submission's report, and --gradescope
Gradescope's results.json (a DIR of one submission). Seeds, test filters,
--features, --cpus and --timeout-scale go to each submission's grader.
Reports and logs: target/batch/<LAB>/results/<NAME>/.";

#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct FsckArgs {
    #[command(flatten)]
    pub labs: LabArgs,
    /// Do not replay a committed log first
    #[arg(long)]
    pub no_replay: bool,
    /// Unlinked open files of a stopped machine are notes, not problems
    #[arg(long)]
    pub crashed: bool,
    /// The image to check [default: the configuration's disk.img, else
    /// its fs.img]
    #[arg(value_name = "IMG")]
    pub image: Option<PathBuf>,
}

impl FsckArgs {
    pub fn options(&self) -> mkfs::check::Options {
        mkfs::check::Options {
            no_replay: self.no_replay,
            crashed: self.crashed,
        }
    }
}

#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct CiArgs {
    /// The few-minute tier (no usertests runs)
    #[arg(long)]
    pub quick: bool,
}

/// The whole command, help texts filled in with the registry's and the
/// grader's facts.
pub fn command() -> clap::Command {
    let cmd = Cli::command().mut_subcommand("grade", |c| {
        grader::args::describe(c, &format!("{NAME} grade"), GRADE_NOTES)
    });
    grader::args::fill_help(cmd, &|t| crate::labs::fill(&grader::args::fill(t)))
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let m = command().try_get_matches_from(std::iter::once(OsString::from(NAME)).chain(args))?;
    Cli::from_arg_matches(&m).map(|cli| cli.command)
}

/// A usage error as `xtask: <what went wrong>` and which `--help` to read
/// (the command's, found among `args`); `None` for a help request.
pub fn usage_error(args: &[OsString], e: &clap::Error) -> Option<String> {
    let cmd = command();
    let sub = args
        .iter()
        .find_map(|a| cmd.find_subcommand(a).map(|s| s.get_name().to_owned()));
    let line = match sub {
        Some(sub) if sub != "help" => format!("{NAME} {sub}"),
        _ => NAME.to_owned(),
    };
    grader::args::usage_error("xtask", &line, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command, or the message a person sees (`HELP` for help).
    fn parse_str(line: &str) -> Result<Command, String> {
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        parse(args.clone()).map_err(|e| usage_error(&args, &e).unwrap_or_else(|| "HELP".into()))
    }

    fn boot(labs: &str, cpus: u32, fresh_disk: bool) -> BootArgs {
        BootArgs {
            labs: LabArgs {
                lab: match labs {
                    "" => vec![],
                    l => vec![LabSet::parse(l).unwrap()],
                },
            },
            cpus,
            fresh_disk,
        }
    }

    #[test]
    fn commands_and_defaults() {
        assert_eq!(parse_str("setup"), Ok(Command::Setup));
        assert_eq!(parse_str("ci"), Ok(Command::Ci(CiArgs { quick: false })));
        assert_eq!(
            parse_str("ci --quick"),
            Ok(Command::Ci(CiArgs { quick: true }))
        );
        assert_eq!(parse_str("build"), Ok(Command::Build(BuildArgs::default())));
        assert_eq!(parse_str("qemu"), Ok(Command::Qemu(boot("", 3, false))));
        assert_eq!(
            parse_str("build --host a --host b"),
            Ok(Command::Build(BuildArgs {
                labs: LabArgs::default(),
                host: vec!["a".into(), "b".into()],
                gdb_names: false,
            }))
        );
    }

    #[test]
    fn lab_and_cpus_options() {
        let Ok(Command::Build(b)) = parse_str("build --lab cow,trace") else {
            panic!("build with labs")
        };
        assert_eq!(b.labs.labs().config_name(), "trace-cow");
        let Ok(Command::Build(b)) = parse_str("build --lab=lab-cow -l sysinfo") else {
            panic!("build with two --lab")
        };
        assert_eq!(b.labs.labs().config_name(), "sysinfo-cow");
        let Ok(Command::Gdb(g)) = parse_str("gdb --cpus 1 --lab all") else {
            panic!("gdb")
        };
        assert_eq!((g.labs.labs(), g.cpus), (LabSet::all(), 1));
        assert_eq!(
            parse_str("qemu --cpus=8"),
            Ok(Command::Qemu(boot("", 8, false)))
        );
        assert_eq!(
            parse_str("qemu --fresh-disk --lab cow"),
            Ok(Command::Qemu(boot("cow", 3, true)))
        );
    }

    #[test]
    fn every_command_takes_help() {
        for line in [
            "help",
            "--help",
            "help grade",
            "build --help",
            "qemu -h",
            "gdb --lab cow --help",
            "fsck --help",
            "setup --help",
            "ci --help",
            "grade --help",
            "bench --help",
            "handout --help",
            "check-starters -h",
            "handin --help",
            "gradescope --help",
            "verify-starter --help",
        ] {
            assert_eq!(parse_str(line), Err("HELP".into()), "{line}");
        }
    }

    #[test]
    fn help_texts_carry_the_registrys_facts() {
        let mut cmd = command();
        cmd.build();
        let top = cmd.render_long_help().to_string();
        let kernel: Vec<&str> = crate::labs::registry()
            .kernel_labs()
            .map(|l| l.name.as_str())
            .collect();
        assert!(top.contains(&kernel.join(" ")), "{top}");
        for sub in ["build", "qemu", "grade", "handout", "handin", "gradescope"] {
            let help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            assert!(!help.contains('{'), "{sub}: {help}");
            assert!(
                help.contains(&format!("Usage: cargo xtask {sub}")),
                "{help}"
            );
        }
        let qemu = cmd
            .find_subcommand_mut("qemu")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            qemu.contains("Harts (1 to 8)") && qemu.contains("[default: 3]"),
            "{qemu}"
        );
    }

    #[test]
    fn usage_errors_are_a_line_and_where_help_is() {
        for (line, want, help) in [
            ("", "no command given", "cargo xtask"),
            (
                "frobnicate",
                "unrecognized subcommand 'frobnicate'",
                "cargo xtask",
            ),
            (
                "build --lab nosuch",
                "unknown lab `nosuch`",
                "cargo xtask build",
            ),
            (
                "build --lab",
                "a value is required for '--lab <L>'",
                "cargo xtask build",
            ),
            (
                "qemu --cpus 0",
                "harts are a number from 1 to 8",
                "cargo xtask qemu",
            ),
            ("qemu --cpus 9", "invalid value '9'", "cargo xtask qemu"),
            ("gdb --cpus many", "invalid value 'many'", "cargo xtask gdb"),
            (
                "build --cpus 2",
                "unexpected argument '--cpus'",
                "cargo xtask build",
            ),
            (
                "build extra",
                "unexpected argument 'extra'",
                "cargo xtask build",
            ),
            (
                "setup --lab cow",
                "unexpected argument '--lab'",
                "cargo xtask setup",
            ),
            ("build --fresh-disk", "'--fresh-disk'", "cargo xtask build"),
            ("ci --slow", "'--slow'", "cargo xtask ci"),
            (
                "fsck a.img b.img",
                "unexpected argument 'b.img'",
                "cargo xtask fsck",
            ),
            (
                "bench --runs 0",
                "invalid value '0' for '--runs <N>'",
                "cargo xtask bench",
            ),
            ("bench --compare x", "--baseline", "cargo xtask bench"),
            (
                "grade --csv x lab-cow",
                "--submissions",
                "cargo xtask grade",
            ),
            (
                "grade --submissions d --list",
                "cannot be used with",
                "cargo xtask grade",
            ),
            (
                "check-starters -j 0",
                "a number of jobs, at least 1",
                "cargo xtask check-starters",
            ),
        ] {
            let err = parse_str(line).unwrap_err();
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 2, "{line:?} gave {err:?}");
            assert!(lines[0].starts_with("xtask: "), "{line:?} gave {err:?}");
            assert!(lines[0].contains(want), "{line:?} gave {err:?}");
            assert_eq!(
                lines[1],
                format!("`{help} --help` shows how to call it"),
                "{line:?}"
            );
        }
    }

    #[test]
    fn fsck_takes_an_image_and_options() {
        assert_eq!(parse_str("fsck"), Ok(Command::Fsck(FsckArgs::default())));
        let Ok(Command::Fsck(f)) = parse_str("fsck --crashed x.img --lab cow --no-replay") else {
            panic!("fsck with options")
        };
        assert_eq!(f.labs.labs().config_name(), "cow");
        assert_eq!(f.image, Some("x.img".into()));
        assert!(f.options().crashed && f.options().no_replay);
    }

    #[test]
    fn grade_parses_the_graders_options_once() {
        let Ok(Command::Grade(g)) = parse_str("grade --features cow lab-cow -j 2 --seed 5 simple")
        else {
            panic!("grade")
        };
        assert_eq!(g.grader.words, ["lab-cow", "simple"]);
        assert_eq!(g.grader.feature_list(), Some(vec!["cow".to_owned()]));
        assert_eq!((g.grader.jobs, g.grader.seed), (Some(2), Some(5)));
        assert_eq!(g.batch.submissions, None);
        let Ok(Command::Grade(g)) = parse_str("grade") else {
            panic!("grade alone")
        };
        assert_eq!(g.grader, GradeArgs::default());
        assert_eq!(g.batch.submissions, None);
    }

    #[test]
    fn starter_commands_take_typed_options() {
        let Ok(Command::Handout(h)) = parse_str("handout --all --out x --solved cow") else {
            panic!("handout")
        };
        assert!(h.all && h.out == Some("x".into()));
        let Ok(Command::CheckStarters(c)) = parse_str("check-starters --quick cow -j 2") else {
            panic!("check-starters")
        };
        assert!(c.quick && c.jobs == Some(2));
        let Ok(Command::Handin(h)) = parse_str("handin cow") else {
            panic!("handin")
        };
        assert_eq!(h.lab.as_deref(), Some("cow"));
        assert!(parse_str("handout nosuch --out x").is_err());
    }
}
